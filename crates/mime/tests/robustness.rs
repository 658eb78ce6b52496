//! Mutated messages: this crate's own fixtures and golden messages, damaged
//! at random in ways real mail gets damaged (cut short, bytes replaced,
//! boundary and encoded-word tokens inserted). Nothing may panic, and every
//! attachment a view lists must be extractable with the size it claims.
//! The random generator is seeded, so a failure repeats.

use std::path::PathBuf;

use mailfront_mime::{
    decode_header, extract_part, parse_address_list, parse_date, render_embedded_message,
    render_message, sanitize_html, MessageView, RenderOptions,
};

const ROUNDS_PER_SEED: usize = 120;

const NASTY_BYTES: &[u8] = b"-=?\r\n\";<>()\\: \t+/*'%&#\x00\xff\xc3\xa4";

const TOKENS: &[&str] = &[
    "--",
    "=?utf-8?q?",
    "=?utf-8?b?",
    "?=",
    "\r\n\r\n",
    "\r\n ",
    "Content-Type: multipart/mixed; boundary=x\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "--x\r\n",
    "--x--\r\n",
    "; charset=utf-7",
    "; filename*0*=utf-8''%E2%82",
    "<style>",
    "</style>",
    "<svg><set attributeName=href to=javascript:alert(1)>",
    "url(",
    "(",
    "\"",
];

/// A small xorshift generator: enough randomness, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(4) {
            0 => data.truncate(at),
            1 if at < data.len() => data[at] = NASTY_BYTES[rng.below(NASTY_BYTES.len())],
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            _ => {
                let len = rng.below(64).min(data.len() - at.min(data.len()));
                let copy = data[at..at + len].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, copy);
            }
        }
    }
    data
}

fn seeds() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut paths = Vec::new();
    for dir in ["fixtures", "golden/rfc", "golden/malformed"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            if entry
                .path()
                .extension()
                .is_some_and(|e| e == "eml" || e == "html")
            {
                paths.push(entry.path());
            }
        }
    }
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Every listed attachment, here and in nested views, can be extracted
/// with the size the view claims.
fn check_attachments(raw: &[u8], view: &MessageView, options: &RenderOptions) {
    for attachment in &view.attachments {
        let part = extract_part(raw, &attachment.part_id);
        let part =
            part.unwrap_or_else(|| panic!("part {} is listed but missing", attachment.part_id));
        assert_eq!(
            part.data.len(),
            attachment.size,
            "size of part {}",
            attachment.part_id
        );
        if attachment.content_type == "message/rfc822" {
            let nested = render_embedded_message(raw, &attachment.part_id, options);
            let nested = nested.expect("a listed forwarded message renders");
            check_attachments(raw, &nested, options);
        }
    }
}

#[test]
fn mutated_messages_never_panic_and_list_only_real_parts() {
    let options = RenderOptions::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rendered = 0;

    for seed in seeds() {
        for _ in 0..ROUNDS_PER_SEED {
            let raw = mutate(&seed, &mut rng);
            let view = render_message(&raw, &options);
            check_attachments(&raw, &view, &options);

            let head = &raw[..raw.len().min(300)];
            decode_header(head);
            parse_address_list(head);
            parse_date(&String::from_utf8_lossy(head));
            sanitize_html(&String::from_utf8_lossy(&raw), &options);
            rendered += 1;
        }
    }
    assert!(
        rendered > 1_000,
        "only {rendered} mutated messages were tried"
    );
}

#[test]
fn random_bytes_never_panic() {
    let options = RenderOptions::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..500 {
        let len = rng.below(400);
        let raw: Vec<u8> = (0..len)
            .map(|_| NASTY_BYTES[rng.below(NASTY_BYTES.len())])
            .collect();
        let view = render_message(&raw, &options);
        check_attachments(&raw, &view, &options);
        decode_header(&raw);
        parse_address_list(&raw);
        parse_date(&String::from_utf8_lossy(&raw));
    }
}
