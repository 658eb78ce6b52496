//! The login form key shared by all nodes: the first node to start draws it
//! and stores it in Redis, every other node reads that one, so a login form
//! served by one node can be posted to another.
//!
//! It owns the key `<prefix>login-form-key:v1`, which never expires:
//! changing it would void whatever was derived from it.
//!
//! The sign-in form of today checks its token against a cookie of the same
//! browser (a double-submit token), which works across nodes by itself and
//! does not read this key; the key is shared so that anything derived from
//! it holds on every node.

use super::{RedisFailure, RedisLink};
use crate::session::random::random_array;

/// Reads the shared login form key, storing a fresh random one first when
/// there is none (`SET NX`, so two nodes starting at once agree).
pub async fn shared_login_form_key(link: &RedisLink) -> Result<[u8; 32], RedisFailure> {
    let key = link.key("login-form-key", "v1");
    let fresh = random_array::<32>().to_vec();

    let set = redis::cmd("SET").arg(&key).arg(fresh).arg("NX").clone();
    let _: Option<String> = link.query(&set).await?;
    let stored: Option<Vec<u8>> = link.query(&redis::cmd("GET").arg(&key).clone()).await?;

    stored
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(RedisFailure::Unexpected {
            what: "the login form key",
        })
}
