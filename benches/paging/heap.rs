//! The bench process's live heap, counted by a global allocator that wraps
//! the system's.
//!
//! Nodes run inside the bench's process, so the growth of the live heap
//! around a step, with nothing else running, is what the node kept from it:
//! the real bytes beside the cache's own weighing, which is an estimate.
//! Capacity left unused in a vector counts here and not there.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

/// Bytes allocated and not yet freed, in the whole process.
static LIVE: AtomicI64 = AtomicI64::new(0);

/// The system allocator, counting.
pub struct Counting;

// SAFETY: every call is passed unchanged to the system allocator; the
// counter only adds up the sizes it was asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        moved
    }
}

/// Live heap bytes of the process now.
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed)
}
