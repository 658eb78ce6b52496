//! An independent check of HTML the renderer calls safe: the fragment is
//! parsed the way a browser parses the inside of `<body>`, and every element
//! and attribute is held against the promises of the sanitiser.
//!
//! It shares no code with the sanitiser, so a bug there is not repeated
//! here: HTML is read by html5ever (through scraper) and CSS by cssparser,
//! the parsers of Servo, token by token as a browser reads them. It checks
//! what could run script, load from elsewhere, or lay the message over the
//! page (fixed position, z-index); not layout, nor that harmless markup was
//! kept.

use cssparser::{ParseError, Parser, ParserInput, Token};
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
pub fn assert_safe_html(html: &str, allow_remote: bool) {
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
                    check_stylesheet(&css, allow_remote)?;
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
        check_style_attribute(value, allow_remote)?;
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

/// A `<style>` element's text, read as a browser reads a style sheet.
fn check_stylesheet(css: &str, allow_remote: bool) -> Result<(), String> {
    let mut input = ParserInput::new(css);
    let mut faults = Vec::new();
    walk_rules(&mut Parser::new(&mut input), allow_remote, &mut faults);
    report(css, faults)
}

/// A `style` attribute, read as a browser reads a declaration list.
fn check_style_attribute(css: &str, allow_remote: bool) -> Result<(), String> {
    let mut input = ParserInput::new(css);
    let mut faults = Vec::new();
    walk_declarations(&mut Parser::new(&mut input), allow_remote, &mut faults);
    report(css, faults)
}

fn report(css: &str, faults: Vec<String>) -> Result<(), String> {
    match faults.first() {
        None => Ok(()),
        Some(fault) => Err(format!("{fault} in CSS: {css:?}")),
    }
}

/// A list of rules: each is a prelude and a `{}` block. The blocks of
/// `@media` and `@supports` hold rules, all others declarations.
fn walk_rules(parser: &mut Parser<'_, '_>, allow_remote: bool, faults: &mut Vec<String>) {
    // An at-keyword starts an at-rule only as the first token of a rule;
    // elsewhere it is part of a selector, which a `;` does not end.
    let mut at_start = true;
    let mut at_rule: Option<String> = None;
    while let Ok(token) = parser.next() {
        match token.clone() {
            Token::AtKeyword(name) if at_start => {
                if name.eq_ignore_ascii_case("import") && !allow_remote {
                    faults.push("@import".into());
                }
                at_rule = Some(name.to_ascii_lowercase());
                at_start = false;
            }
            Token::Semicolon if at_rule.is_some() => {
                at_rule = None;
                at_start = true;
            }
            Token::CurlyBracketBlock => {
                let holds_rules = matches!(at_rule.as_deref(), Some("media" | "supports"));
                let _ = parser.parse_nested_block(|inner| {
                    if holds_rules {
                        walk_rules(inner, allow_remote, faults);
                    } else {
                        walk_declarations(inner, allow_remote, faults);
                    }
                    Ok::<(), ParseError<'_, ()>>(())
                });
                at_rule = None;
                at_start = true;
            }
            _ => at_start = false,
        }
    }
}

/// Declarations separated by `;`. A `{}` block among them is a nested rule
/// to a browser with CSS nesting, so its contents are declarations too.
fn walk_declarations(parser: &mut Parser<'_, '_>, allow_remote: bool, faults: &mut Vec<String>) {
    let mut property: Option<String> = None;
    let mut in_value = false;
    loop {
        let Ok(token) = parser.next() else {
            return;
        };
        match token.clone() {
            Token::Semicolon => {
                property = None;
                in_value = false;
            }
            Token::Ident(name) if !in_value && property.is_none() => {
                let name = name.to_ascii_lowercase();
                if matches!(name.as_str(), "behavior" | "-moz-binding" | "z-index") {
                    faults.push(format!("property {name}"));
                }
                property = Some(name);
            }
            Token::Colon if !in_value => in_value = true,
            Token::CurlyBracketBlock => {
                let _ = parser.parse_nested_block(|inner| {
                    walk_declarations(inner, allow_remote, faults);
                    Ok::<(), ParseError<'_, ()>>(())
                });
                property = None;
                in_value = false;
            }
            Token::Ident(value) if in_value => {
                let fixed = ["fixed", "absolute", "sticky"]
                    .iter()
                    .any(|v| value.eq_ignore_ascii_case(v));
                if property.as_deref() == Some("position") && fixed {
                    faults.push(format!("position: {value}"));
                }
            }
            other if in_value => check_value_token(parser, &other, false, allow_remote, faults),
            _ => {}
        }
    }
}

/// One token of a value, descending into functions. Inside `url()` and
/// `image-set()` a quoted string is a URL.
fn check_value_token(
    parser: &mut Parser<'_, '_>,
    token: &Token<'_>,
    strings_are_urls: bool,
    allow_remote: bool,
    faults: &mut Vec<String>,
) {
    match token {
        Token::UnquotedUrl(url) => check_css_url(url, allow_remote, faults),
        Token::QuotedString(url) if strings_are_urls => check_css_url(url, allow_remote, faults),
        Token::Function(name) => {
            let name = name.to_ascii_lowercase();
            if name == "expression" {
                faults.push("expression()".into());
            }
            let urls = matches!(name.as_str(), "url" | "image-set" | "-webkit-image-set");
            let _ = parser.parse_nested_block(|inner| {
                while let Ok(token) = inner.next() {
                    let token = token.clone();
                    check_value_token(inner, &token, urls, allow_remote, faults);
                }
                Ok::<(), ParseError<'_, ()>>(())
            });
        }
        Token::ParenthesisBlock | Token::SquareBracketBlock => {
            let _ = parser.parse_nested_block(|inner| {
                while let Ok(token) = inner.next() {
                    let token = token.clone();
                    check_value_token(inner, &token, strings_are_urls, allow_remote, faults);
                }
                Ok::<(), ParseError<'_, ()>>(())
            });
        }
        _ => {}
    }
}

fn check_css_url(url: &str, allow_remote: bool, faults: &mut Vec<String>) {
    let lower = clean_url(url).to_ascii_lowercase();
    if matches!(scheme_of(&lower), Some("javascript" | "vbscript")) {
        faults.push(format!("script URL {url:?}"));
    }
    if !allow_remote && is_remote(&lower) {
        faults.push(format!("remote URL {url:?}"));
    }
}
