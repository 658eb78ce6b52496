//! mailfront nodes for the bench: started in this process on 127.0.0.1:0,
//! in front of the bench's private Dovecot, one per measured configuration.
//!
//! It owns the settings that differ between the runs (the pool mode) and
//! leaves every other setting at its default, so that the figures describe
//! the configuration a deployment gets out of the box.

use crate::app::{scratch_dir, settings_for, Node};
use crate::support::Dovecot;

/// The pool modes compared side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: logged-in connections are kept between requests.
    Pooled,
    /// `pool_mode = "login-per-request"`: a LOGIN for every borrow.
    LoginPerRequest,
}

impl Mode {
    pub const BOTH: [Mode; 2] = [Mode::Pooled, Mode::LoginPerRequest];

    /// The value of the `pool-mode` setting.
    pub fn setting(self) -> &'static str {
        match self {
            Mode::Pooled => "pooled",
            Mode::LoginPerRequest => "login-per-request",
        }
    }
}

/// Starts a node in `mode` with a fresh data folder named after `name`.
pub async fn start(dovecot: &Dovecot, name: &str, mode: Mode) -> Node {
    let data = scratch_dir(&format!("bench-{name}"));
    let mut layer = settings_for(dovecot, &data);
    layer.pool_mode = Some(mode.setting().to_owned());
    Node::start(layer).await
}
