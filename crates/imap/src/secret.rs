//! A wrapper for credentials that must never reach a log or an error page.
//!
//! [`Secret`] owns a value such as a password and prints `[redacted]` from
//! both `Debug` and `Display`, in every build profile. It must not offer any
//! conversion that formats the inner value; the only way in is
//! [`Secret::expose`], so each use of the plain value is visible in review.

use std::fmt;

/// A value that formats as `[redacted]`; read it with [`Secret::expose`].
///
/// The inner value is not wiped from memory on drop: the wrapper only keeps
/// it out of logs and formatted output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Returns the plain value; use it only where the protocol needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new(String::from("hunter2"));

        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }
}
