//! The help page, `/help`: the keyboard shortcuts and how to use the site
//! without a mouse. It needs no session and no script, so it can be read
//! from the sign-in page and with scripts turned off.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::html;

/// One keyboard shortcut as the help page lists it. The bindings
/// themselves live in `static/shortcuts.js`; the two lists are kept equal
/// by a test that reads both.
pub struct Shortcut {
    /// The keys, as a person types them.
    pub keys: &'static [&'static str],
    pub does: &'static str,
    /// Where the key acts: the message list, a message, or every page.
    pub where_: &'static str,
}

/// Every shortcut, in the order the page lists them.
pub const SHORTCUTS: &[Shortcut] = &[
    Shortcut {
        keys: &["j"],
        does: "Move to the next message (in a message: open the next one)",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["k"],
        does: "Move to the previous message (in a message: open the previous one)",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["o", "Enter"],
        does: "Open the current message",
        where_: "Message list",
    },
    Shortcut {
        keys: &["u"],
        does: "Back to the message list",
        where_: "Message",
    },
    Shortcut {
        keys: &["s"],
        does: "Flag or unflag",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["m"],
        does: "Mark read or unread",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["#"],
        does: "Delete (move to the Trash; in the Trash, asks first)",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["e"],
        does: "Archive, when there is an Archive folder",
        where_: "Message list, message",
    },
    Shortcut {
        keys: &["c"],
        does: "Write a new message",
        where_: "Every page",
    },
    Shortcut {
        keys: &["r"],
        does: "Reply to the sender",
        where_: "Message",
    },
    Shortcut {
        keys: &["a"],
        does: "Reply to everyone",
        where_: "Message",
    },
    Shortcut {
        keys: &["f"],
        does: "Forward",
        where_: "Message",
    },
    Shortcut {
        keys: &["/"],
        does: "Go to the search box, when the page has one",
        where_: "Every page",
    },
    Shortcut {
        keys: &["?"],
        does: "Show this help",
        where_: "Every page",
    },
];

#[derive(Template)]
#[template(path = "help.html")]
struct HelpView {
    shortcuts: &'static [Shortcut],
}

/// `GET /help`.
pub async fn show_help() -> Response {
    let view = HelpView {
        shortcuts: SHORTCUTS,
    };
    html(StatusCode::OK, view.render())
}

#[cfg(test)]
mod tests {
    use super::SHORTCUTS;

    #[test]
    fn every_listed_key_is_bound_in_the_script() {
        let script = include_str!("../../static/shortcuts.js");
        for key in SHORTCUTS.iter().flat_map(|s| s.keys) {
            let bound = format!("case \"{key}\":");
            assert!(script.contains(&bound), "{key} is listed but not bound");
        }
    }
}
