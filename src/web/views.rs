//! The parts of a page shared by every signed-in page: who is signed in,
//! the folder list beside the content, and the sign-out form.

use crate::mail::Folder;
use crate::web::paths;

/// What `base.html` shows around a page's content.
pub struct Layout {
    pub title: String,
    pub user: String,
    pub csrf: String,
    pub folders: Vec<FolderLink>,
}

/// One entry of the folder list.
pub struct FolderLink {
    pub url: String,
    pub label: String,
    pub full_label: String,
    /// CSS class for the indentation level, `depth-0` .. `depth-6`.
    pub depth_class: String,
    pub selectable: bool,
    pub current: bool,
    pub unseen: u32,
    pub total: Option<u32>,
}

impl Layout {
    pub fn new(
        title: String,
        user: &str,
        csrf: String,
        folders: &[Folder],
        current: Option<&str>,
    ) -> Layout {
        let folders = folders
            .iter()
            .map(|folder| FolderLink {
                url: paths::mailbox(&folder.raw_name),
                label: folder.label.clone(),
                full_label: folder.full_label.clone(),
                depth_class: format!("depth-{}", folder.depth.min(6)),
                selectable: folder.selectable,
                current: folder.selectable && Some(folder.raw_name.as_str()) == current,
                unseen: folder.unseen.unwrap_or(0),
                total: folder.total,
            })
            .collect();
        Layout {
            title,
            user: user.to_owned(),
            csrf,
            folders,
        }
    }
}
