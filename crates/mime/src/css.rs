//! A value filter for CSS from messages: `style` attributes and `<style>`
//! blocks.
//!
//! It owns the decision which declarations and rules survive. ammonia keeps
//! any allowed style property as it is, including `url(...)`, so remote
//! images and script-like CSS must be removed here. The filter is an
//! allow-nothing-suspicious pass, not a CSS parser: a declaration whose
//! value contains an escape, `url(`, `image-set`, `expression`, `behavior`,
//! `-moz-binding`, a script scheme or `<` is dropped whole, as are
//! `z-index` and `position: fixed | absolute | sticky`. Remote `url()`s
//! survive only when remote content is allowed. The output never contains
//! `<`, so it can be put inside a `<style>` element.
//!
//! The filter finds rules and declarations by a plain scan, so it only emits
//! pieces (selectors, conditions, declarations) that are self-contained:
//! quotes closed on their line, brackets balanced, no comment marker. A
//! browser then reads the output with the same boundaries the filter saw;
//! an open quote could otherwise make it read the next rule's selector as
//! declarations that were never checked.

/// Filtered CSS and whether a remote reference was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FilteredCss {
    pub css: String,
    pub removed_remote: bool,
}

const FORBIDDEN: [&str; 12] = [
    "\\",
    "expression",
    "javascript:",
    "vbscript:",
    "behavior",
    "-moz-binding",
    "@import",
    "image-set",
    "cross-fade",
    "element(",
    "image(",
    "<",
];

/// Filter the declarations of a `style` attribute.
pub(crate) fn filter_declarations(style: &str, allow_remote: bool) -> FilteredCss {
    let style = strip_css_comments(style);
    let mut out = FilteredCss::default();
    let mut kept = Vec::new();

    for declaration in split_top_level(&style, ';') {
        let Some((property, value)) = declaration.split_once(':') else {
            continue;
        };
        let property = property.trim().to_ascii_lowercase();
        let value = value.trim();
        if property.is_empty()
            || !property
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            continue;
        }
        match check_value(&property, value, allow_remote) {
            Verdict::Keep => kept.push(format!("{property}: {value}")),
            Verdict::DropRemote => out.removed_remote = true,
            Verdict::Drop => {}
        }
    }
    out.css = kept.join("; ").replace('<', "");
    out
}

enum Verdict {
    Keep,
    Drop,
    /// Dropped, and it would have loaded something remote.
    DropRemote,
}

fn check_value(property: &str, value: &str, allow_remote: bool) -> Verdict {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    // A brace in a value would be a nested rule to a browser with CSS
    // nesting (`a: hover { position: fixed }` reads as `a:hover {...}`).
    if matches!(property, "behavior" | "-moz-binding" | "z-index")
        || value.contains(['{', '}'])
        || !is_self_contained(value)
    {
        return Verdict::Drop;
    }
    if property == "position"
        && ["fixed", "absolute", "sticky"]
            .iter()
            .any(|v| compact.contains(v))
    {
        return Verdict::Drop;
    }
    if FORBIDDEN.iter().any(|f| compact.contains(f)) {
        return Verdict::Drop;
    }
    if !compact.contains("url(") {
        return Verdict::Keep;
    }

    let targets = url_targets(&compact);
    let remote = targets.iter().any(|t| is_remote(t));
    let all_web = targets
        .iter()
        .all(|t| t.starts_with("https://") || t.starts_with("http://"));
    match (remote, allow_remote && all_web) {
        (_, true) => Verdict::Keep,
        (true, false) => Verdict::DropRemote,
        (false, false) => Verdict::Drop,
    }
}

/// The arguments of every `url(...)` in a compacted, lowercased value.
fn url_targets(compact: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = compact;
    while let Some(start) = rest.find("url(") {
        let after = &rest[start + 4..];
        let end = after.find(')').unwrap_or(after.len());
        targets.push(
            after[..end]
                .trim_matches(|c| c == '"' || c == '\'')
                .to_string(),
        );
        rest = &after[end..];
    }
    targets
}

/// Does a URL (lowercased) load something from another host?
pub(crate) fn is_remote(url: &str) -> bool {
    ["http:", "https:", "ftp:", "//"]
        .iter()
        .any(|p| url.starts_with(p))
}

/// Filter a style sheet: plain rules and `@media`/`@supports` blocks are
/// kept with filtered declarations; every other at-rule (`@import`,
/// `@font-face`, `@keyframes`, ...) is dropped.
pub(crate) fn filter_stylesheet(css: &str, allow_remote: bool) -> FilteredCss {
    let css = strip_css_comments(css)
        .replace("<!--", "")
        .replace("-->", "");
    let mut out = FilteredCss::default();
    filter_rules(&css, allow_remote, &mut out, 0);
    out.css = out.css.replace('<', "");
    out
}

fn filter_rules(css: &str, allow_remote: bool, out: &mut FilteredCss, depth: usize) {
    let mut rest = css.trim_start();
    while !rest.is_empty() {
        let brace = rest.find('{');
        let semicolon = rest.find(';');

        if rest.starts_with('@') && semicolon.is_some_and(|s| brace.is_none_or(|b| s < b)) {
            let statement = &rest[..semicolon.unwrap_or(rest.len())].to_ascii_lowercase();
            out.removed_remote |= statement.contains("http") || statement.contains("//");
            rest = rest[semicolon.map_or(rest.len(), |s| s + 1)..].trim_start();
            continue;
        }
        let Some(open) = brace else {
            break;
        };
        let close = matching_brace(rest, open);
        let prelude = rest[..open].trim();
        let block = &rest[open + 1..close.min(rest.len())];
        rest = rest.get(close + 1..).unwrap_or("").trim_start();

        let lower = prelude.to_ascii_lowercase();
        if lower.starts_with("@media") || lower.starts_with("@supports") {
            if depth < 4
                && !FORBIDDEN.iter().any(|f| lower.contains(f))
                && !lower.contains("url(")
                && is_self_contained(prelude)
            {
                let mut inner = FilteredCss::default();
                filter_rules(block, allow_remote, &mut inner, depth + 1);
                out.removed_remote |= inner.removed_remote;
                if !inner.css.is_empty() {
                    out.css
                        .push_str(&format!("{prelude} {{\n{}}}\n", inner.css));
                }
            }
        } else if lower.starts_with('@') {
            out.removed_remote |= block.to_ascii_lowercase().contains("url(");
        } else if !prelude.is_empty() && !prelude.contains([';', '@']) && is_self_contained(prelude)
        {
            let declarations = filter_declarations(block, allow_remote);
            out.removed_remote |= declarations.removed_remote;
            if !declarations.css.is_empty() {
                out.css
                    .push_str(&format!("{prelude} {{ {} }}\n", declarations.css));
            }
        }
    }
}

/// True when `piece` leaves a CSS tokenizer where it found it: every quote
/// closed before the line ends, `()`, `[]` and `{}` balanced and in order,
/// and no `<`, escape or comment marker (stripping comments can join a `/`
/// and a `*` into a new one).
fn is_self_contained(piece: &str) -> bool {
    if piece.contains(['<', '\\']) || piece.contains("/*") || piece.contains("*/") {
        return false;
    }

    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    for c in piece.chars() {
        match (quote, c) {
            (Some(_), '\n' | '\r' | '\u{c}') => return false,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => open.push(')'),
            (None, '[') => open.push(']'),
            (None, '{') => open.push('}'),
            (None, ')' | ']' | '}') if open.last() == Some(&c) => {
                open.pop();
            }
            (None, ')' | ']' | '}') => return false,
            _ => {}
        }
    }
    quote.is_none() && open.is_empty()
}

/// Index of the `}` that closes the `{` at `open`, or the end of the text.
fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn strip_css_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find("*/") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Split on `sep` outside quotes and parentheses.
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, c) if c == sep && depth <= 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    // The quote opened in the first rule's value ends at the line break in a
    // browser, so a browser reads the second rule's selector, which holds a
    // `;` and a remote background, as declarations of the first rule.
    #[test]
    fn an_open_quote_cannot_turn_the_next_selector_into_declarations() {
        let css = "p { a: \"}\"\n\"\n; background: url(//t.example/x.png); } q { color: red }";
        let out = filter_stylesheet(css, false);
        assert!(!out.css.contains("url("), "{}", out.css);
        assert!(!out.css.contains('"'), "{}", out.css);
    }

    #[test]
    fn a_value_holding_a_block_cannot_nest_a_rule_with_fixed_position() {
        let out = filter_stylesheet("p { color: red; a: hover { position: fixed } }", false);
        assert_eq!(out.css, "p { color: red }\n");
    }

    #[test]
    fn comment_markers_joined_by_stripping_are_dropped() {
        let out = filter_stylesheet("p//**/*x { color: red }\nq { color: blue }", false);
        assert_eq!(out.css, "q { color: blue }\n");
    }

    // Browsers read `0@import ...;` as the start of the selector of `.box`,
    // but one that ends a broken statement at `;` would see an `@import`.
    #[test]
    fn a_selector_holding_an_at_rule_is_dropped() {
        let css = "0@import url(https://t.example/x.css);\n.box { color: red }\nq { color: blue }";
        let out = filter_stylesheet(css, false);
        assert_eq!(out.css, "q { color: blue }\n");
    }

    #[test]
    fn balanced_quotes_and_brackets_are_kept() {
        let css = "a[title=\"x\"] { font-family: \"Helvetica Neue\", sans-serif }";
        let out = filter_stylesheet(css, false);
        assert_eq!(
            out.css,
            "a[title=\"x\"] { font-family: \"Helvetica Neue\", sans-serif }\n"
        );
    }

    #[test]
    fn harmless_declarations_survive() {
        let out = filter_declarations("color: red; font-weight:bold", false);
        assert_eq!(out.css, "color: red; font-weight: bold");
        assert!(!out.removed_remote);
    }

    #[test]
    fn remote_background_is_removed_and_reported() {
        let out = filter_declarations(
            "background: url(https://t.example/p.gif); color: red",
            false,
        );
        assert_eq!(out.css, "color: red");
        assert!(out.removed_remote);
    }

    #[test]
    fn remote_background_survives_when_allowed() {
        let out = filter_declarations("background:url('https://t.example/p.gif')", true);
        assert_eq!(out.css, "background: url('https://t.example/p.gif')");
    }

    #[test]
    fn script_like_css_is_dropped() {
        for style in [
            "width: expression(alert(1))",
            "behavior: url(x.htc)",
            "-moz-binding: url(x.xml#y)",
            "background: u\\72 l(https://t.example/)",
            "background-image: image-set('https://t.example/a.png' 1x)",
            "background: url(javascript:alert(1))",
            "position: fixed",
            "position:AbSoLuTe",
            "z-index: 9999",
        ] {
            assert_eq!(filter_declarations(style, true).css, "", "{style}");
        }
    }

    #[test]
    fn comments_cannot_hide_url() {
        let out = filter_declarations("background: ur/**/l(https://t.example/)", false);
        assert_eq!(out.css, "");
        assert!(out.removed_remote);
    }

    #[test]
    fn stylesheet_keeps_rules_and_media_and_drops_imports() {
        let css = "@import url(https://t.example/a.css);\n<!-- p.x { color: red } -->\n\
                   @media (max-width: 600px) { td { width: 100% } }\n\
                   @font-face { src: url(https://t.example/f.woff) }\n\
                   div { background: url(http://t.example/b.png); margin: 0 }";
        let out = filter_stylesheet(css, false);
        assert!(out.removed_remote);
        assert_eq!(
            out.css,
            "p.x { color: red }\n@media (max-width: 600px) {\ntd { width: 100% }\n}\n\
             div { margin: 0 }\n"
        );
    }

    #[test]
    fn stylesheet_cannot_close_its_style_element() {
        let out = filter_stylesheet("p { color: red }</style><script>alert(1)</script>", false);
        assert!(!out.css.contains('<'));
    }
}
