//! The shared cases (/work/shared/cases) read as they are, each beside a
//! fixture of this crate's own that shows the same kind of fault in another
//! shape.

mod common;

use common::{body_html, body_text, case, fixture, html_message, visible_text};
use mailfront_mime::{
    content_disposition, decode_header, extract_part, parse_date, render_embedded_message,
    render_message, sanitize_html, BodyBlock, Disposition, MessageView, RenderOptions,
};

fn render(raw: &[u8]) -> MessageView {
    render_message(raw, &RenderOptions::default())
}

fn raw_header(raw: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut inside = false;
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if inside && line.starts_with([' ', '\t']) {
            out.push_str("\r\n");
            out.push_str(line);
            continue;
        }
        inside = line
            .to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()));
        if inside {
            out.push_str(line[name.len() + 1..].trim_start());
        }
    }
    out.into_bytes()
}

fn assert_clean_text(text: &str) {
    assert!(
        !text.contains('\u{FFFD}'),
        "replacement character in {text:?}"
    );
    assert!(!text.contains("=?"), "undecoded encoded word in {text:?}");
}

#[test]
fn case_001_split_utf8_encoded_words_decode_whole() {
    let Some(raw) = case("001-encoded-word-split-utf8.eml") else {
        return;
    };
    let view = render(&raw);

    assert_eq!(
        view.subject.as_deref(),
        Some("Einladung: Prüfungsplan für nächste Woche")
    );
    assert_eq!(view.from[0].name.as_deref(), Some("Jürgen Müller"));
    assert_eq!(view.from[0].email.as_deref(), Some("jm@example.net"));
    assert_eq!(
        decode_header(&raw_header(&raw, "Subject")),
        "Einladung: Prüfungsplan für nächste Woche"
    );
    assert_eq!(
        decode_header(&raw_header(&raw, "From")),
        "Jürgen Müller <jm@example.net>"
    );
    assert_clean_text(view.subject.as_deref().unwrap_or(""));
    assert!(body_text(&view).contains("Hallo Alice"));
}

#[test]
fn fixture_001_split_shift_jis_and_gbk_words_decode_whole() {
    let raw = fixture("001-split-word-shift-jis-and-gbk.eml");
    let view = render(&raw);

    assert_eq!(view.subject.as_deref(), Some("日本語の件"));
    assert_eq!(view.from[0].name.as_deref(), Some("王小明"));
    assert!(body_text(&view).contains("本文です。"));
    assert!(view.problems.is_empty(), "{:?}", view.problems);
}

#[test]
fn case_002_rfc2231_continuations_give_the_full_names() {
    let Some(raw) = case("002-rfc2231-filename-continuation.eml") else {
        return;
    };
    let view = render(&raw);
    let names: Vec<&str> = view
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();

    assert_eq!(
        names,
        [
            "Quartalsbericht Übersicht € Ausgaben.pdf",
            "100% sicher (v2).txt"
        ]
    );
    let header = content_disposition(Disposition::Attachment, names[0]);
    assert!(header
        .ends_with("filename*=UTF-8''Quartalsbericht%20%C3%9Cbersicht%20%E2%82%AC%20Ausgaben.pdf"));
    assert!(!header.contains('\r') && !header.contains('\n'));
    let header = content_disposition(Disposition::Attachment, names[1]);
    assert!(header.contains("filename=\"100% sicher (v2).txt\""));

    let pdf = extract_part(&raw, &view.attachments[0].part_id).unwrap();
    assert!(pdf.data.starts_with(b"%PDF"));
    assert_eq!(pdf.filename, names[0]);
    let txt = extract_part(&raw, &view.attachments[1].part_id).unwrap();
    assert_eq!(txt.data, b"Inhalt der Datei: 100 % sicher.\n");
    assert!(body_text(&view).contains("Two files attached."));
}

#[test]
fn fixture_002_rfc2231_on_the_name_parameter_and_plain_sections() {
    let raw = fixture("002-rfc2231-name-latin1-and-plain-sections.eml");
    let view = render(&raw);
    let names: Vec<&str> = view
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();

    assert_eq!(names, ["Résumé 2024 (final).xls", "a b.txt"]);
    assert_eq!(view.attachments[0].size, 4);
    assert_eq!(view.attachments[0].content_type, "application/vnd.ms-excel");
}

#[test]
fn case_003_missing_close_boundary_keeps_text_and_attachment() {
    let Some(raw) = case("003-multipart-missing-close-boundary.eml") else {
        return;
    };
    let view = render(&raw);

    assert!(body_text(&view).contains("Hi Alice, the action items are in the attached text file."));
    assert_eq!(view.attachments.len(), 1);
    assert_eq!(view.attachments[0].filename, "notes.txt");
    let notes = extract_part(&raw, &view.attachments[0].part_id).unwrap();
    let text = String::from_utf8(notes.data).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["1. Book the room", "2. Send the agenda", "3. Order coffee"]
    );
    assert!(
        view.problems
            .iter()
            .any(|p| p.contains("last MIME boundary")),
        "{:?}",
        view.problems
    );
}

#[test]
fn fixture_003_truncated_alternative_and_qp_soft_break_keep_text() {
    let raw = fixture("003-truncated-alternative-qp-soft-break.eml");
    let view = render(&raw);
    let text = body_text(&view);

    assert!(text.contains("right before the boundary, café"), "{text}");
    assert!(
        text.contains("HTML version: the second paragraph was cut in the mid"),
        "{text}"
    );
    assert!(
        !text.contains("Plain version"),
        "the HTML alternative is preferred: {text}"
    );
    assert_eq!(view.problems.len(), 2, "{:?}", view.problems);
}

#[test]
fn fixture_003_broken_base64_shows_what_decodes() {
    let raw = fixture("003-broken-base64-text.eml");
    let view = render(&raw);
    let text = body_text(&view);

    assert!(text.contains("Broken base64 still shows"), "{text}");
    assert!(text.contains("alles"), "{text}");
    assert!(
        view.problems.iter().any(|p| p.contains("damaged base64")),
        "{:?}",
        view.problems
    );
}

#[test]
fn case_004_missing_date_is_none_not_an_invented_date() {
    let Some(raw) = case("004-no-date-header.eml") else {
        return;
    };
    let view = render(&raw);

    assert_eq!(view.date, None);
    assert!(body_text(&view).contains("This generator never writes a Date header."));
    assert_eq!(
        view.subject.as_deref(),
        Some("Nightly build finished (this message has no Date header)")
    );
}

#[test]
fn fixture_004_unreadable_date_is_none() {
    let view = render(&fixture("004-unreadable-date.eml"));

    assert_eq!(view.date, None);
    assert!(body_text(&view).contains("cannot be read"));
}

#[test]
fn case_005_date_with_comment_and_double_space_reads_right() {
    let Some(raw) = case("005-date-comment-timezone.eml") else {
        return;
    };
    let view = render(&raw);
    let date = view.date.expect("the date is readable");

    assert_eq!(date.to_utc().to_rfc3339(), "2024-06-06T10:27:13+00:00");
    assert_eq!(date.offset().local_minus_utc(), 2 * 3600);
}

#[test]
fn fixture_005_old_mailer_date_reads_right() {
    let view = render(&fixture(
        "005-date-no-space-single-digit-hour-obsolete-zone.eml",
    ));
    let date = view.date.expect("the date is readable");

    assert_eq!(date.to_utc().to_rfc3339(), "2024-06-07T12:05:09+00:00");
    assert_eq!(parse_date("Fri,7 Jun 2024 8:05:09 EDT"), Some(date));
}

#[test]
fn case_015_both_forwarded_messages_are_listed_and_shown() {
    let Some(raw) = case("015-forwarded-rfc822-no-filename.eml") else {
        return;
    };
    let view = render(&raw);
    let names: Vec<(&str, &str)> = view
        .attachments
        .iter()
        .map(|a| (a.part_id.as_str(), a.filename.as_str()))
        .collect();

    assert_eq!(
        names,
        [
            ("2", "Budget question.eml"),
            ("3", "Re: Budget question.eml")
        ]
    );
    assert!(body_text(&view).contains("My own text must stay visible."));
    let inline: Vec<&MessageView> = view
        .body
        .iter()
        .filter_map(|b| match b {
            BodyBlock::Message(m) => Some(m.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(
        inline.len(),
        1,
        "the part without a disposition shows inline"
    );
    assert_eq!(inline[0].subject.as_deref(), Some("Re: Budget question"));
    assert!(body_text(inline[0]).contains("Numbers look fine to me."));

    let first = render_embedded_message(&raw, "2", &RenderOptions::default()).unwrap();
    assert_eq!(first.subject.as_deref(), Some("Budget question"));
    assert!(body_text(&first).contains("can you check the numbers"));
    assert_eq!(first.attachments.len(), 1);
    assert_eq!(first.attachments[0].filename, "budget.csv");
    let csv = extract_part(&raw, &first.attachments[0].part_id).unwrap();
    assert_eq!(first.attachments[0].part_id, "2.2");
    assert_eq!(csv.data, b"item,amount\r\nchairs,120\r\ndesks,480");
    assert_eq!(csv.content_type, "text/csv");

    let eml = extract_part(&raw, "2").unwrap();
    assert!(eml.data.starts_with(b"From: Erin <erin@example.net>"));
    assert_eq!(eml.filename, "Budget question.eml");
}

#[test]
fn fixture_015_base64_forward_without_subject_nests_and_extracts() {
    let raw = fixture("015-forward-base64-no-subject-nested.eml");
    let view = render(&raw);

    assert_eq!(view.attachments.len(), 1);
    assert_eq!(view.attachments[0].filename, "forwarded message.eml");
    let BodyBlock::Message(inner) = &view.body[1] else {
        panic!("forward shows inline")
    };
    assert!(body_text(inner).contains("Inner body from a base64 forward."));
    assert_eq!(inner.attachments[0].part_id, "2.2");
    assert_eq!(inner.attachments[0].filename, "Deep one.eml");
    assert!(body_text(&view).contains("Deepest text."));
    let deepest = extract_part(&raw, "2.2.1").unwrap();
    assert_eq!(deepest.data, b"Deepest text.");
}

/// The markup of a fragment without its text: every `<...>`.
fn tags_only(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn assert_no_script_targets(html: &str) {
    let lower = tags_only(html).to_ascii_lowercase();
    for needle in [
        "<script",
        "javascript",
        "vbscript",
        "data:",
        "<svg",
        "<math",
        "onerror",
        "onload",
    ] {
        assert!(!lower.contains(needle), "{needle} survived in {html}");
    }
    for needle in [
        "<set",
        "<animate",
        "<use",
        "<iframe",
        "<foreignobject",
        "xlink:href",
    ] {
        assert!(!lower.contains(needle), "{needle} survived in {html}");
    }
}

fn check_html_case(html: &[u8], keep: &[&str], hide: &[&str]) {
    let sanitized = sanitize_html(&String::from_utf8_lossy(html), &RenderOptions::default());
    let view = render(&html_message(html, "utf-8"));
    for output in [sanitized.html.clone(), body_html(&view)] {
        assert_no_script_targets(&output);
        let text = visible_text(&output);
        for sentence in keep {
            assert!(text.contains(sentence), "{sentence:?} lost from {output}");
        }
        for sentence in hide {
            assert!(!text.contains(sentence), "{sentence:?} shown in {output}");
        }
    }
}

#[test]
fn case_011_svg_use_with_data_and_remote_href_is_neutralised() {
    let Some(html) = case("011-svg-use-data-uri.html") else {
        return;
    };
    let keep = [
        "Quarterly chart below",
        "Vector 2: same idea",
        "Vector 3: external sprite",
        "End of message.",
    ];
    check_html_case(&html, &keep, &[]);

    let sanitized = sanitize_html(&String::from_utf8_lossy(&html), &RenderOptions::default());
    assert!(!sanitized.html.contains("tracker.example.com"));
}

#[test]
fn fixture_011_other_svg_and_mathml_vectors_are_neutralised() {
    let html = fixture("011-svg-math-vectors.html");
    check_html_case(
        &html,
        &["Paragraph A stays.", "Last line stays."],
        &["alert"],
    );
}

#[test]
fn case_012_animate_and_set_cannot_make_script_links() {
    let Some(html) = case("012-svg-animate-set-href.html") else {
        return;
    };
    check_html_case(&html, &["Your documents:", "Unsubscribe"], &[]);
}

#[test]
fn fixture_012_from_to_animation_and_hidden_schemes_are_neutralised() {
    let html = fixture("012-animate-from-to-and-entity-links.html");
    let keep = [
        "Entity link",
        "Spaced link",
        "VB link",
        "Data link",
        "Newline link",
        "Good link",
    ];
    check_html_case(&html, &keep, &[]);

    let sanitized = sanitize_html(&String::from_utf8_lossy(&html), &RenderOptions::default());
    assert_eq!(
        sanitized.html.matches("href=").count(),
        1,
        "{}",
        sanitized.html
    );
    assert!(sanitized.html.contains("href=\"https://example.org/ok\""));
}

#[test]
fn case_017_unknown_tags_keep_their_text() {
    let Some(html) = case("017-unknown-tags-keep-text.html") else {
        return;
    };
    let keep = [
        "KEEP 1: reply text wrapped in a non-standard signature element.",
        "KEEP 2: Outlook paragraph",
        "KEEP 3: text inside a custom element.",
        "KEEP 4: legacy center/font markup.",
        "KEEP 5: quoted earlier message.",
    ];
    check_html_case(&html, &keep, &["HIDE: title text", "HIDE: script output"]);
}

#[test]
fn fixture_017_more_unknown_tags_keep_their_text() {
    let html = fixture("017-more-unknown-tags.html");
    let keep = [
        "KEEP A: text in a Word structured-document tag.",
        "KEEP B: blinking text.",
        "KEEP C: scrolling text.",
        "KEEP D: unbroken text.",
        "KEEP E: custom element text.",
        "KEEP F: button label.",
    ];
    check_html_case(&html, &keep, &["HIDE"]);
}
