//! Randomness for session secrets, drawn from the operating system.
//!
//! Every id, key, nonce and token of this module tree comes from here, so
//! there is one place that says where secrets come from. It never seeds a
//! userspace generator and never falls back to a weaker source.

/// Returns `N` bytes from the operating system's random number generator.
///
/// # Panics
///
/// Panics when the operating system cannot provide randomness. Sessions
/// cannot be issued safely without it, and on the systems mailfront runs on
/// (Linux `getrandom(2)`) the call only fails when the kernel is broken.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}
