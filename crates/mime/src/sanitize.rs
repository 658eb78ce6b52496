//! The HTML sanitiser for message bodies.
//!
//! It owns what markup of an HTML part may reach the reader: an ammonia
//! allow-list (no script, event handlers, forms, frames, objects, base,
//! meta, SVG or MathML), a CSS value filter on `style` attributes and
//! `<style>` blocks, the blocking of remote content, and the rewriting of
//! `cid:` references to the web app's part URLs. It does not parse MIME and
//! does not know which message it is in beyond a map of Content-IDs.
//!
//! Invariants of the output: no element or attribute can run script; no URL
//! has a scheme other than http, https, mailto, ftp, tel and (in `img src`
//! only) `data:image/(png|gif|jpeg|webp)`; with remote content not allowed,
//! nothing in it loads from another host except by a click on a link;
//! unknown elements are unwrapped so their text stays, while the text of
//! `script`, `style`, `title`, `template` and frame-like elements is
//! dropped. Every link carries rel="noopener noreferrer",
//! target="_blank" and its real target as its title; a link whose text
//! names another host is followed by a marker naming the real one
//! (`link_targets`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::css::{filter_declarations, filter_stylesheet, is_remote};
use crate::html_text::{html_to_text, nests_deeper_than, MAX_HTML_DEPTH};
use crate::link_targets::show_link_targets;
use crate::text::text_to_html;
use crate::RenderOptions;

/// The output of [`sanitize_html`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizedHtml {
    /// A fragment to put inside `<body>`.
    pub html: String,
    /// Something remote (an image, a style sheet, a background) was removed.
    pub had_remote_content: bool,
}

/// Content-ID (without angle brackets) to IMAP part number.
pub(crate) type CidMap = HashMap<String, String>;

const EXTRA_TAGS: [&str; 8] = [
    "font", "big", "tfoot", "section", "article", "main", "address", "u",
];

const DROPPED_WITH_CONTENT: [&str; 13] = [
    "script", "style", "title", "template", "iframe", "frame", "frameset", "object", "embed",
    "applet", "noembed", "noframes", "param",
];

const GENERIC_ATTRIBUTES: [&str; 10] = [
    "lang", "title", "dir", "align", "valign", "style", "class", "bgcolor", "width", "height",
];

/// The HTML sanitiser itself. `cid:` references cannot be resolved without
/// the message around the HTML, so this form drops them; rendering a message
/// rewrites them to part URLs.
///
/// HTML nested more than a few hundred elements deep is not parsed (the
/// parser's cost grows with depth times size): its text is returned as an
/// escaped plain-text fragment instead.
pub fn sanitize_html(html: &str, options: &RenderOptions) -> SanitizedHtml {
    match sanitize_with_cids(html, options, &CidMap::new()) {
        Sanitized::Html(sanitized) => sanitized,
        Sanitized::TooDeep { text_html } => SanitizedHtml {
            html: text_html,
            had_remote_content: false,
        },
    }
}

/// What became of an HTML part.
pub(crate) enum Sanitized {
    Html(SanitizedHtml),
    /// Nested too deeply to parse; its text as a plain-text fragment.
    TooDeep {
        text_html: String,
    },
}

/// Sanitise with a map from Content-ID to part number for `cid:` URLs.
pub(crate) fn sanitize_with_cids(html: &str, options: &RenderOptions, cids: &CidMap) -> Sanitized {
    if nests_deeper_than(html, MAX_HTML_DEPTH) {
        let text_html = text_to_html(&html_to_text(html));
        return Sanitized::TooDeep { text_html };
    }

    let removed_remote = Arc::new(AtomicBool::new(false));
    let stylesheet = filter_stylesheet(&collect_style_blocks(html), options.allow_remote);
    removed_remote.fetch_or(stylesheet.removed_remote, Ordering::Relaxed);

    let filter = UrlFilter {
        allow_remote: options.allow_remote,
        part_url_prefix: options.part_url_prefix.clone(),
        cids: cids.clone(),
        removed_remote: Arc::clone(&removed_remote),
    };
    let body = show_link_targets(&builder(filter).clean(html).to_string());

    let mut out = String::with_capacity(body.len() + stylesheet.css.len() + 16);
    if !stylesheet.css.is_empty() {
        out.push_str("<style>");
        out.push_str(&stylesheet.css);
        out.push_str("</style>");
    }
    out.push_str(&body);
    Sanitized::Html(SanitizedHtml {
        html: out,
        had_remote_content: removed_remote.load(Ordering::Relaxed),
    })
}

fn builder(filter: UrlFilter) -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(EXTRA_TAGS)
        .add_clean_content_tags(DROPPED_WITH_CONTENT)
        .generic_attributes(GENERIC_ATTRIBUTES.into_iter().collect())
        .add_generic_attributes(["background"])
        .add_tag_attributes("a", ["href", "hreflang"])
        .add_tag_attributes(
            "img",
            ["src", "alt", "border", "hspace", "vspace", "srcset"],
        )
        .add_tag_attributes("table", ["cellpadding", "cellspacing", "border", "summary"])
        .add_tag_attributes("td", ["colspan", "rowspan", "nowrap", "headers"])
        .add_tag_attributes("th", ["colspan", "rowspan", "nowrap", "headers", "scope"])
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tag_attributes("ol", ["start", "type"])
        .add_tag_attributes("ul", ["type"])
        .add_tag_attributes("li", ["value"])
        .add_tag_attributes("hr", ["size", "noshade"])
        .add_tag_attributes("col", ["span"])
        .add_tag_attributes("colgroup", ["span"])
        .url_schemes(
            ["http", "https", "mailto", "ftp", "tel", "cid", "data"]
                .into_iter()
                .collect(),
        )
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| {
            filter.filter(element, attribute, value)
        });
    builder.rm_tag_attributes("blockquote", ["cite"]);
    builder.rm_tag_attributes("q", ["cite"]);
    builder.rm_tag_attributes("del", ["cite"]);
    builder.rm_tag_attributes("ins", ["cite"]);
    builder
}

/// The per-attribute decisions ammonia's allow-list cannot make.
struct UrlFilter {
    allow_remote: bool,
    part_url_prefix: String,
    cids: CidMap,
    removed_remote: Arc<AtomicBool>,
}

impl UrlFilter {
    fn filter<'u>(&self, element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
        match (element, attribute) {
            (_, "style") => {
                let css = filter_declarations(value, self.allow_remote);
                self.note_remote(css.removed_remote);
                (!css.css.is_empty()).then_some(Cow::Owned(css.css))
            }
            ("img", "src") => self.image_url(value, true),
            (_, "background") => self.image_url(value, false),
            ("img", "srcset") => self.srcset(value),
            ("a", "href") => self.link(value),
            // A title of the mail's own could pose as the real target,
            // which link_targets puts there instead.
            ("a", "title") => None,
            (_, "src" | "href") => None,
            _ => Some(Cow::Borrowed(value)),
        }
    }

    fn note_remote(&self, removed: bool) {
        if removed {
            self.removed_remote.store(true, Ordering::Relaxed);
        }
    }

    /// A URL that loads as soon as the message is shown.
    fn image_url<'u>(&self, value: &'u str, allow_data: bool) -> Option<Cow<'u, str>> {
        let normal = normalise_url(value);
        if normal.starts_with("cid:") {
            return self.cid_url(value.trim());
        }
        if allow_data && is_safe_data_image(&normal) {
            return Some(Cow::Borrowed(value));
        }
        if is_remote(&normal) {
            let web = normal.starts_with("http://") || normal.starts_with("https://");
            if self.allow_remote && web {
                return Some(Cow::Borrowed(value));
            }
            self.note_remote(true);
        }
        None
    }

    /// `srcset` survives only when remote content is allowed and every
    /// candidate is a web URL.
    fn srcset<'u>(&self, value: &'u str) -> Option<Cow<'u, str>> {
        let candidates: Vec<String> = value
            .split(',')
            .filter_map(|c| c.split_whitespace().next())
            .map(normalise_url)
            .collect();
        let all_web = candidates
            .iter()
            .all(|c| c.starts_with("http://") || c.starts_with("https://"));
        if self.allow_remote && all_web {
            return Some(Cow::Borrowed(value));
        }
        self.note_remote(candidates.iter().any(|c| is_remote(c)));
        None
    }

    /// Links stay (showing their target) except `data:`, unresolvable
    /// `cid:` and relative ones (which would point into the web app);
    /// ammonia has already removed other schemes. In-page `#` links stay.
    fn link<'u>(&self, value: &'u str) -> Option<Cow<'u, str>> {
        let normal = normalise_url(value);
        if normal.starts_with("cid:") {
            return self.cid_url(value.trim());
        }
        let scheme_end = normal.find(':');
        let path_start = normal.find(['/', '?', '#']);
        let has_scheme = scheme_end.is_some_and(|s| path_start.is_none_or(|p| s < p));
        if normal.starts_with("data:") || (!has_scheme && !normal.starts_with('#')) {
            return None;
        }
        Some(Cow::Borrowed(value))
    }

    fn cid_url<'u>(&self, original: &str) -> Option<Cow<'u, str>> {
        let cid = original.get(4..).unwrap_or("").trim();
        let cid = percent_encoding::percent_decode_str(cid).decode_utf8_lossy();
        let cid = cid.trim_start_matches('<').trim_end_matches('>');
        let part = self.cids.get(cid).or_else(|| {
            self.cids
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(cid))
                .map(|(_, v)| v)
        })?;
        Some(Cow::Owned(format!("{}{}", self.part_url_prefix, part)))
    }
}

/// What a browser would see: ASCII tabs and line breaks removed, outer
/// whitespace trimmed, lowercased.
fn normalise_url(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    cleaned
        .trim_matches(|c: char| c.is_ascii_whitespace() || c.is_control())
        .to_ascii_lowercase()
}

fn is_safe_data_image(normal: &str) -> bool {
    ["png", "gif", "jpeg", "webp"].iter().any(|kind| {
        let prefix = format!("data:image/{kind}");
        normal
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.starts_with([';', ',']))
    })
}

/// The text of every `<style>` element, in order. A plain scan suffices:
/// whatever it finds is filtered as CSS and cannot carry markup out.
fn collect_style_blocks(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut css = String::new();
    let mut pos = 0;

    while let Some(start) = lower[pos..].find("<style").map(|i| pos + i) {
        let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let close = lower[open_end..]
            .find("</style")
            .map_or(html.len(), |i| open_end + i);
        css.push_str(&html[open_end..close]);
        css.push('\n');
        pos = close;
    }
    css
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> SanitizedHtml {
        sanitize_html(html, &RenderOptions::default())
    }

    #[test]
    fn script_and_event_handlers_are_removed() {
        let out = clean("<p onclick=\"x()\">hi</p><script>alert(1)</script>");
        assert_eq!(out.html, "<p>hi</p>");
    }

    #[test]
    fn links_open_in_a_new_context_without_referrer() {
        let out = clean("<a href=\"https://example.org/\">x</a>");
        assert!(
            out.html.contains("rel=\"noopener noreferrer\""),
            "{}",
            out.html
        );
        assert!(out.html.contains("target=\"_blank\""), "{}", out.html);
        assert!(
            out.html.contains("href=\"https://example.org/\""),
            "{}",
            out.html
        );
    }

    #[test]
    fn remote_images_are_removed_unless_allowed() {
        let html = "<img src=\"https://t.example/p.gif\" alt=\"logo\">";
        let blocked = clean(html);
        assert!(!blocked.html.contains("t.example"));
        assert!(blocked.had_remote_content);

        let options = RenderOptions {
            allow_remote: true,
            ..RenderOptions::default()
        };
        let allowed = sanitize_html(html, &options);
        assert!(allowed.html.contains("https://t.example/p.gif"));
        assert!(!allowed.had_remote_content);
    }

    #[test]
    fn protocol_relative_image_counts_as_remote() {
        let out = clean("<img src=\"//t.example/p.gif\">");
        assert!(!out.html.contains("t.example"));
        assert!(out.had_remote_content);
    }

    #[test]
    fn cid_images_point_at_the_part_url() {
        let options = RenderOptions {
            part_url_prefix: "/m/INBOX/1/2/part/".into(),
            allow_remote: false,
        };
        let cids: CidMap = [("logo@x".to_string(), "2".to_string())]
            .into_iter()
            .collect();
        let Sanitized::Html(out) = sanitize_with_cids("<img src=\"cid:logo@x\">", &options, &cids)
        else {
            panic!("shallow markup is sanitised as HTML")
        };
        assert_eq!(out.html, "<img src=\"/m/INBOX/1/2/part/2\">");
    }

    #[test]
    fn relative_links_are_dropped_and_fragments_kept() {
        assert!(!clean("<a href=\"/logout\">x</a>").html.contains("href"));
        assert!(!clean("<a href=\"//evil.example/\">x</a>")
            .html
            .contains("href"));
        assert!(clean("<a href=\"#top\">x</a>")
            .html
            .contains("href=\"#top\""));
    }

    #[test]
    fn unknown_cid_is_dropped() {
        assert_eq!(clean("<img src=\"cid:nope\">").html, "<img>");
    }

    #[test]
    fn small_data_images_stay_and_other_data_urls_go() {
        let png = "<img src=\"data:image/png;base64,iVBORw0KGgo=\">";
        assert!(clean(png).html.contains("data:image/png"));
        assert!(!clean("<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">")
            .html
            .contains("data:"));
        assert!(!clean("<a href=\"data:text/html,hi\">x</a>")
            .html
            .contains("data:"));
    }

    #[test]
    fn unknown_tags_are_unwrapped_keeping_text() {
        let out = clean("<signature><p>KEEP</p></signature><x-box>KEEP2</x-box><o:p>KEEP3</o:p>");
        assert_eq!(out.html, "<p>KEEP</p>KEEP2KEEP3");
    }

    #[test]
    fn style_blocks_are_filtered_and_kept() {
        let out =
            clean("<style>p { color: red; background: url(http://t.example/x) }</style><p>x</p>");
        assert_eq!(out.html, "<style>p { color: red }\n</style><p>x</p>");
        assert!(out.had_remote_content);
    }

    #[test]
    fn style_attributes_are_filtered() {
        let out = clean("<p style=\"color: red; position: fixed; z-index: 9\">x</p>");
        assert_eq!(out.html, "<p style=\"color: red\">x</p>");
    }
}
