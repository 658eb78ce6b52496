//! Showing where links really go, in HTML the sanitiser has already made
//! safe.
//!
//! Every link with a target gets a `title` holding that target (the mail's
//! own `title` on links is removed by the sanitiser), so hovering or
//! focusing it shows the real address. A link whose text names a host, the
//! classic "www.bank.example" pointing elsewhere, and whose target is on
//! another host, is followed by a small marker naming the real host.
//!
//! This module reads only the sanitiser's serialised output, where text
//! never holds a raw `<` and attribute values are always double-quoted, so
//! a scan of tags and quotes is exact there; it must not be given raw mail.
//!
//! Known shortcoming: the marker is styled inline with `!important` so a
//! message's style sheet cannot hide it by its class, but a message can
//! still make a whole paragraph invisible, marker included.

/// Inline style of the marker: wins over any rule of the message's own
/// style sheet.
const MARKER_STYLE: &str = "display:inline !important;visibility:visible !important;\
    font:12px/1.4 system-ui,sans-serif !important;color:#6b3b00 !important;\
    background:#fff3cd !important;padding:0 3px !important;margin-left:3px !important";

/// Adds the `title` and, where the text names another host, the marker to
/// every link of `html` (sanitised output).
pub(crate) fn show_link_targets(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut open_link: Option<OpenLink> = None;
    let mut rest = html;

    while let Some(start) = rest.find('<') {
        let (text, from_tag) = rest.split_at(start);
        out.push_str(text);
        if let Some(link) = open_link.as_mut() {
            link.text.push_str(text);
        }
        let Some(length) = tag_length(from_tag) else {
            out.push_str(from_tag);
            return out;
        };
        let (tag, after) = from_tag.split_at(length);
        rest = after;

        match tag_name(tag) {
            "a" => {
                let href = attribute(tag, "href");
                match href {
                    Some(raw) => {
                        out.push_str("<a title=\"");
                        out.push_str(raw);
                        out.push('"');
                        out.push_str(&tag[2..]);
                    }
                    None => out.push_str(tag),
                }
                open_link = Some(OpenLink {
                    href: href.map(unescape),
                    text: String::new(),
                });
            }
            "/a" => {
                out.push_str(tag);
                if let Some(link) = open_link.take() {
                    out.push_str(&link.marker());
                }
            }
            _ => out.push_str(tag),
        }
    }
    out.push_str(rest);
    out
}

/// A link whose end tag has not been seen yet.
struct OpenLink {
    href: Option<String>,
    /// Its text so far, still escaped, without tags.
    text: String,
}

impl OpenLink {
    /// The marker to put after the link, or nothing.
    fn marker(&self) -> String {
        let (Some(href), Some(named)) = (&self.href, named_host(&unescape(&self.text))) else {
            return String::new();
        };
        let real = match target_host(href) {
            Some(real) if same_site(&named, &real) => return String::new(),
            Some(real) => real,
            None if href.starts_with('#') => return String::new(),
            None => href.chars().take(60).collect(),
        };
        format!(
            "<span class=\"link-target\" style=\"{MARKER_STYLE}\" \
             title=\"This link goes elsewhere than its text says\">\u{2192} {}</span>",
            escape(&real)
        )
    }
}

/// Bytes from `<` to its `>`, quotes respected; `None` when unterminated.
fn tag_length(from_tag: &str) -> Option<usize> {
    let mut quoted = false;
    for (index, byte) in from_tag.bytes().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// `a` for `<a ...>`, `/a` for `</a>`, and so on.
fn tag_name(tag: &str) -> &str {
    let inner = &tag[1..];
    let end = inner
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || (c == '/' && !inner.starts_with(c)))
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The raw (still escaped) value of attribute `name` in a start tag.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let mut rest = &tag[1 + tag_name(tag).len()..];
    loop {
        rest = rest.trim_start();
        let name_end = rest.find(|c: char| c == '=' || c == '>' || c.is_ascii_whitespace())?;
        let (found, after) = rest.split_at(name_end);
        if found.is_empty() {
            return None;
        }
        let Some(value) = after.strip_prefix("=\"") else {
            rest = after;
            continue;
        };
        let value_end = value.find('"')?;
        if found.eq_ignore_ascii_case(name) {
            return Some(&value[..value_end]);
        }
        rest = &value[value_end + 1..];
    }
}

/// The host a link's text names, when the whole text is a URL or a domain.
fn named_host(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let without_scheme = ["https://", "http://", "ftp://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .unwrap_or(&text);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();

    let labels: Vec<&str> = host.split('.').collect();
    let top = labels.last()?;
    let looks_like_host = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && top.len() >= 2
        && top.chars().all(char::is_alphabetic);
    looks_like_host.then(|| host.to_owned())
}

/// The host a web or FTP link really goes to (after any user-info).
fn target_host(href: &str) -> Option<String> {
    let lower = href.trim().to_ascii_lowercase();
    let rest = ["https://", "http://", "ftp://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_owned())
}

/// Whether the link goes where its text says: the same host, ignoring a
/// leading `www.`, or a host under the one named.
fn same_site(named: &str, real: &str) -> bool {
    let named = named.strip_prefix("www.").unwrap_or(named);
    let real = real.strip_prefix("www.").unwrap_or(real);
    real == named || real.ends_with(&format!(".{named}"))
}

/// Undoes the serialiser's escapes in text and attribute values.
fn unescape(escaped: &str) -> String {
    escaped
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_gets_its_target_as_title() {
        let out = show_link_targets(r#"<a href="https://a.example/x?y=1&amp;z=2">here</a>"#);
        assert_eq!(
            out,
            r#"<a title="https://a.example/x?y=1&amp;z=2" href="https://a.example/x?y=1&amp;z=2">here</a>"#
        );
    }

    #[test]
    fn text_naming_another_host_gets_a_marker() {
        let out = show_link_targets(
            r#"<p><a href="https://evil.example/login">www.bank.example</a> now</p>"#,
        );
        assert!(out.contains("</a><span class=\"link-target\""), "{out}");
        assert!(
            out.contains("\u{2192} evil.example</span> now</p>"),
            "{out}"
        );
    }

    #[test]
    fn user_info_does_not_hide_the_real_host() {
        let out = show_link_targets(
            r#"<a href="http://bank.example@evil.example/">https://bank.example/</a>"#,
        );
        assert!(out.contains("\u{2192} evil.example"), "{out}");
    }

    #[test]
    fn text_inside_markup_is_read_too() {
        let out =
            show_link_targets(r#"<a href="https://evil.example/"><b>bank</b><i>.example</i></a>"#);
        assert!(out.contains("\u{2192} evil.example"), "{out}");
    }

    #[test]
    fn honest_links_and_plain_words_get_no_marker() {
        for html in [
            r#"<a href="https://www.shop.example/a">shop.example</a>"#,
            r#"<a href="https://mail.shop.example/">shop.example</a>"#,
            r#"<a href="https://x.example/">Click here</a>"#,
            r#"<a href="https://x.example/">version 1.2</a>"#,
            r##"<a href="#top">top.example</a>"##,
            r#"<a name="anchor">bank.example</a>"#,
        ] {
            let out = show_link_targets(html);
            assert!(!out.contains("link-target"), "{html} -> {out}");
        }
    }

    #[test]
    fn quoted_brackets_in_attributes_do_not_end_a_tag() {
        let html = r#"<span class="x>y <a href=&quot;z&quot;">t</span><a href="https://evil.example/">bank.example</a>"#;
        let out = show_link_targets(html);
        assert!(
            out.starts_with(r#"<span class="x>y <a href=&quot;z&quot;">t</span>"#),
            "{out}"
        );
        assert!(out.contains("\u{2192} evil.example"), "{out}");
    }

    #[test]
    fn the_marker_escapes_what_it_shows() {
        let out = show_link_targets(r#"<a href="mailto:a@b.example?x=&quot;<">bank.example</a>"#);
        assert!(
            out.contains("\u{2192} mailto:a@b.example?x=&quot;&lt;</span>"),
            "{out}"
        );
    }

    #[test]
    fn unterminated_input_is_kept_as_it_is() {
        assert_eq!(show_link_targets("a <b"), "a <b");
    }
}
