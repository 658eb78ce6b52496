//! mailfront: a webmail front for IMAP servers.
//!
//! A request flows `web` → `session` (load and lock) → `mail` (what the page
//! needs) → `pool` (a logged-in connection of the user) → the IMAP client in
//! the `mailfront-imap` crate. Messages are turned into pages by the
//! `mailfront-mime` crate. `cache` keeps what IMAP servers said, validated
//! before every use. `server` assembles the parts; `config` reads the
//! settings; `metrics` counts; `outgoing` sends what a user wrote over
//! SMTP.

pub mod cache;
pub mod config;
pub mod mail;
pub mod metrics;
pub mod outgoing;
pub mod pool;
pub mod server;
pub mod session;
pub mod web;
