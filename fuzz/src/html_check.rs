//! An independent check of HTML the renderer calls safe: the fragment is
//! parsed the way a browser parses the inside of `<body>`, and every element
//! and attribute is held against the promises of the sanitiser.
//!
//! It shares no code with the sanitiser, so a bug there is not repeated
//! here. It checks what can run script or load from elsewhere; it does not
//! check layout or that harmless markup was kept.

use scraper::node::Node;
use scraper::Html;

const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Elements that run script, load or embed documents, submit data, or
/// change how the rest of the page is read.
const FORBIDDEN_ELEMENTS: [&str; 26] = [
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "form",
    "input",
    "button",
    "select",
    "textarea",
    "base",
    "meta",
    "link",
    "template",
    "noscript",
    "video",
    "audio",
    "source",
    "track",
    "portal",
    "svg",
    "math",
    "xmp",
    "plaintext",
];

/// Attributes that hold a URL the browser follows or loads.
const URL_ATTRIBUTES: [&str; 9] = [
    "href",
    "src",
    "background",
    "cite",
    "poster",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "action",
];

/// Attributes whose URL loads without a click.
const LOADING_ATTRIBUTES: [&str; 6] = ["src", "background", "poster", "lowsrc", "dynsrc", "srcset"];

const ALLOWED_SCHEMES: [&str; 5] = ["http", "https", "mailto", "ftp", "tel"];

/// Panics with a description when `html` breaks a promise of the sanitiser.
pub(crate) fn assert_safe_html(html: &str, allow_remote: bool) {
    if let Err(fault) = check_safe_html(html, allow_remote) {
        let shown: String = html.chars().take(2000).collect();
        panic!("unsafe HTML: {fault}\n--- output ---\n{shown}");
    }
}

fn check_safe_html(html: &str, allow_remote: bool) -> Result<(), String> {
    let fragment = Html::parse_fragment(html);

    // Only the sanitiser's own style block may come, and only first.
    let mut seen_content = false;
    for node in fragment.tree.root().descendants() {
        match node.value() {
            Node::Element(element) => {
                let tag = element.name().to_ascii_lowercase();
                if &*element.name.ns != HTML_NAMESPACE {
                    return Err(format!("element <{tag}> outside the HTML namespace"));
                }
                if FORBIDDEN_ELEMENTS.contains(&tag.as_str()) {
                    return Err(format!("element <{tag}>"));
                }
                if tag == "style" {
                    if seen_content {
                        return Err("a <style> element after the start".into());
                    }
                    let css: String = node
                        .children()
                        .filter_map(|child| child.value().as_text().map(|t| t.to_string()))
                        .collect();
                    check_css(&css, allow_remote)?;
                } else if tag != "html" {
                    seen_content = true;
                }
                for (name, value) in element.attrs() {
                    check_attribute(&tag, name, value, allow_remote)?;
                }
            }
            Node::Text(_) => seen_content = true,
            _ => {}
        }
    }
    Ok(())
}

fn check_attribute(tag: &str, name: &str, value: &str, allow_remote: bool) -> Result<(), String> {
    let attr = name.to_ascii_lowercase();
    if attr.starts_with("on") || matches!(attr.as_str(), "srcdoc" | "formaction" | "http-equiv") {
        return Err(format!("attribute {attr} on <{tag}>"));
    }
    if attr == "style" {
        check_css(value, allow_remote)?;
    }

    let urls: Vec<&str> = if attr == "srcset" {
        value
            .split(',')
            .filter_map(|candidate| candidate.split_whitespace().next())
            .collect()
    } else if URL_ATTRIBUTES.contains(&attr.as_str()) {
        vec![value]
    } else {
        Vec::new()
    };
    for url in urls {
        check_url(tag, &attr, url, allow_remote)?;
    }
    Ok(())
}

fn check_url(tag: &str, attr: &str, url: &str, allow_remote: bool) -> Result<(), String> {
    let cleaned = clean_url(url);
    let lower = cleaned.to_ascii_lowercase();

    match scheme_of(&lower) {
        Some("data") => {
            let image = ["png", "gif", "jpeg", "webp"].iter().any(|kind| {
                let prefix = format!("data:image/{kind}");
                lower.starts_with(&prefix)
                    && matches!(lower.as_bytes().get(prefix.len()), Some(b';' | b','))
            });
            if !(tag == "img" && attr == "src" && image) {
                return Err(format!("data URL in {attr} of <{tag}>: {url:?}"));
            }
        }
        Some(scheme) if !ALLOWED_SCHEMES.contains(&scheme) => {
            return Err(format!("scheme {scheme:?} in {attr} of <{tag}>: {url:?}"));
        }
        _ => {}
    }

    if !allow_remote && LOADING_ATTRIBUTES.contains(&attr) && is_remote(&lower) {
        return Err(format!("remote URL in {attr} of <{tag}>: {url:?}"));
    }
    Ok(())
}

/// What a browser makes of an attribute value before reading its scheme:
/// leading and trailing controls and spaces go, tabs and newlines inside go.
fn clean_url(url: &str) -> String {
    url.trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

fn scheme_of(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_is_letter && rest_ok).then_some(scheme)
}

fn is_remote(lower_url: &str) -> bool {
    let bytes = lower_url.as_bytes();
    let protocol_relative =
        bytes.len() >= 2 && matches!(bytes[0], b'/' | b'\\') && matches!(bytes[1], b'/' | b'\\');
    protocol_relative || matches!(scheme_of(lower_url), Some("http" | "https" | "ftp"))
}

/// CSS from a `style` attribute or element: no script-like property or
/// value, no escape in a value that could hide either, and no remote load
/// unless remote content is allowed. Declarations are found by a rough
/// split on `;`, `{` and `}`; a selector read as a declaration is harmless
/// to check.
fn check_css(css: &str, allow_remote: bool) -> Result<(), String> {
    let compact: String = css
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();

    for declaration in compact.split([';', '{', '}']) {
        let Some((property, value)) = declaration.split_once(':') else {
            continue;
        };
        if matches!(property, "behavior" | "-moz-binding") {
            return Err(format!("property {property:?} in CSS: {css:?}"));
        }
        for word in ["expression(", "javascript:", "vbscript:", "\\"] {
            if value.contains(word) {
                return Err(format!("{word:?} in a CSS value: {css:?}"));
            }
        }
    }

    if !allow_remote {
        if compact.contains("@import") {
            return Err(format!("@import in CSS: {css:?}"));
        }
        // `url(` counts only as a whole name: `xurl(` is another function.
        let lower = css.to_ascii_lowercase();
        for (at, _) in lower.match_indices("url(") {
            let before = lower[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '_')) {
                continue;
            }
            let target = lower[at + 4..]
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\''));
            if is_remote(target) {
                return Err(format!("remote url() in CSS: {css:?}"));
            }
        }
    }
    Ok(())
}
