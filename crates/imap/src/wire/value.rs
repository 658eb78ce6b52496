//! Tokens of IMAP response syntax (RFC 3501 section 4): atoms, numbers,
//! quoted strings, literals, NIL and parenthesised lists.
//!
//! The tokenizer reads one frame (see `frame`) and builds a small tree of
//! [`Value`]s that borrow from it. It knows nothing of what a response means.
//! It is tolerant where servers are sloppy (8-bit bytes in quoted strings,
//! unknown escapes, extra spaces) and strict where a mistake would desync
//! (a literal must be followed by exactly as many bytes as it announced). It
//! never panics, and nesting deeper than [`MAX_DEPTH`] is an error rather
//! than a stack overflow.

use std::borrow::Cow;
use std::fmt;

/// The deepest list nesting accepted; real body structures stay far below.
pub(crate) const MAX_DEPTH: usize = 100;

/// One token or list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// NIL.
    Nil,
    /// An atom or number, e.g. `\Seen`, `42`, `BODY[HEADER.FIELDS (TO)]`.
    Atom(&'a [u8]),
    /// A quoted string (unescaped) or a literal.
    Str(Cow<'a, [u8]>),
    /// A parenthesised list.
    List(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    /// The bytes of a string or atom; `None` for NIL and lists.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(a) => Some(a),
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A string or atom as owned bytes; NIL, lists and empty strings give
    /// `None`.
    pub fn nstring(&self) -> Option<Vec<u8>> {
        self.bytes().filter(|b| !b.is_empty()).map(<[u8]>::to_vec)
    }

    /// A string or atom as lossy text.
    pub fn text(&self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A string or atom parsed as an unsigned number.
    pub fn number<T: std::str::FromStr>(&self) -> Option<T> {
        std::str::from_utf8(self.bytes()?).ok()?.trim().parse().ok()
    }

    /// The items of a list; empty for NIL and for anything else.
    pub fn items(&self) -> &[Value<'a>] {
        match self {
            Value::List(items) => items,
            _ => &[],
        }
    }

    /// True for an atom equal to `name` in any case.
    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Value::Atom(a) if a.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Why a response could not be read; holds no response data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// What was expected.
    pub expected: &'static str,
    /// The byte offset in the frame.
    pub offset: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.offset)
    }
}

/// A position in a frame.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `buf`; a final CRLF is ignored.
    pub fn new(buf: &'a [u8]) -> Self {
        let buf = buf.strip_suffix(b"\r\n").unwrap_or(buf);
        Self { buf, pos: 0 }
    }

    fn error(&self, expected: &'static str) -> SyntaxError {
        SyntaxError {
            expected,
            offset: self.pos,
        }
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// True when nothing but spaces is left.
    pub fn at_end(&mut self) -> bool {
        self.skip_spaces();
        self.pos >= self.buf.len()
    }

    /// Skips spaces and tabs.
    pub fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` if it comes next.
    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes everything up to and including the next `byte`, or all.
    pub fn skip_past(&mut self, byte: u8) {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        self.pos += rest
            .iter()
            .position(|&b| b == byte)
            .map_or(rest.len(), |p| p + 1);
    }

    /// Everything not yet consumed, as it is.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        self.pos = self.buf.len();
        rest
    }

    /// Reads an atom. Inside `[...]` anything up to the matching `]` belongs
    /// to the atom (`BODY[HEADER.FIELDS (TO)]`); outside, `]` ends it.
    pub fn atom(&mut self) -> Result<&'a [u8], SyntaxError> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'[' => depth += 1,
                b']' if depth == 0 => break,
                b']' => depth -= 1,
                b' ' | b'\t' | b'(' | b')' | b'"' | b'\r' | b'\n' if depth == 0 => break,
                b'\r' | b'\n' => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start || depth > 0 {
            return Err(SyntaxError {
                expected: "an atom",
                offset: start,
            });
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Reads any value: NIL, atom, quoted string, literal or list.
    pub fn value(&mut self) -> Result<Value<'a>, SyntaxError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        self.skip_spaces();
        match self.peek() {
            None => Err(self.error("a value")),
            Some(b'(') => self.list_at(depth),
            Some(b'"') => self.quoted().map(Value::Str),
            Some(b'{') => self.literal().map(|l| Value::Str(Cow::Borrowed(l))),
            Some(_) => {
                let atom = self.atom()?;
                if atom.eq_ignore_ascii_case(b"NIL") {
                    Ok(Value::Nil)
                } else {
                    Ok(Value::Atom(atom))
                }
            }
        }
    }

    fn list_at(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("less deeply nested lists"));
        }
        if !self.eat(b'(') {
            return Err(self.error("a list"));
        }

        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                None => return Err(self.error("the end of a list")),
                Some(_) => items.push(self.value_at(depth + 1)?),
            }
        }
    }

    /// Reads values up to the end of the frame or a `]` at this level.
    pub fn values_until_end(&mut self) -> Result<Vec<Value<'a>>, SyntaxError> {
        let mut out = Vec::new();
        while !self.at_end() && self.peek() != Some(b']') {
            out.push(self.value()?);
        }
        Ok(out)
    }

    /// Reads a quoted string and removes its escapes; any byte but CR and LF
    /// is accepted inside, and an unknown escape keeps the escaped byte.
    pub fn quoted(&mut self) -> Result<Cow<'a, [u8]>, SyntaxError> {
        let start = self.pos;
        if !self.eat(b'"') {
            return Err(self.error("a quoted string"));
        }

        let body_start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n') => {
                    return Err(SyntaxError {
                        expected: "a closing quote",
                        offset: start,
                    });
                }
                Some(b'"') => {
                    let body = &self.buf[body_start..self.pos];
                    self.pos += 1;
                    return Ok(owned.map_or(Cow::Borrowed(body), Cow::Owned));
                }
                Some(b'\\') => {
                    let out = owned.get_or_insert_with(|| self.buf[body_start..self.pos].to_vec());
                    self.pos += 1;
                    match self.peek() {
                        None | Some(b'\r' | b'\n') => {
                            return Err(SyntaxError {
                                expected: "a closing quote",
                                offset: start,
                            });
                        }
                        Some(b) => out.push(b),
                    }
                    self.pos += 1;
                }
                Some(b) => {
                    if let Some(out) = owned.as_mut() {
                        out.push(b);
                    }
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads `{N}` or `{N+}`, CRLF and N bytes.
    pub fn literal(&mut self) -> Result<&'a [u8], SyntaxError> {
        let start = self.pos;
        if !self.eat(b'{') {
            return Err(self.error("a literal"));
        }

        let digits_start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let size: usize = std::str::from_utf8(&self.buf[digits_start..self.pos])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(SyntaxError {
                expected: "a literal size",
                offset: start,
            })?;
        self.eat(b'+');
        if !self.eat(b'}') || !self.eat(b'\r') || !self.eat(b'\n') {
            return Err(SyntaxError {
                expected: "a literal header",
                offset: start,
            });
        }

        let end = self
            .pos
            .checked_add(size)
            .filter(|&end| end <= self.buf.len());
        let end = end.ok_or(SyntaxError {
            expected: "the literal's bytes",
            offset: start,
        })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(input: &[u8]) -> Vec<Value<'_>> {
        Cursor::new(input).values_until_end().unwrap()
    }

    fn s(bytes: &[u8]) -> Value<'_> {
        Value::Str(Cow::Borrowed(bytes))
    }

    #[test]
    fn atoms_strings_literals_and_lists_are_read() {
        let got = values(b"NIL \\Seen 42 \"a \\\"b\\\\\" {3}\r\nx\"y (a (b) ())");

        assert_eq!(got[0], Value::Nil);
        assert_eq!(got[1], Value::Atom(b"\\Seen"));
        assert_eq!(got[2].number::<u32>(), Some(42));
        assert_eq!(got[3], s(b"a \"b\\"));
        assert_eq!(got[4], s(b"x\"y"));
        assert_eq!(got[5].items().len(), 3);
        assert_eq!(got[5].items()[2], Value::List(vec![]));
    }

    #[test]
    fn non_synchronizing_and_empty_literals_are_read() {
        let got = values(b"{3+}\r\nabc {0}\r\n x");

        assert_eq!(got, vec![s(b"abc"), s(b""), Value::Atom(b"x")]);
    }

    #[test]
    fn section_atoms_keep_their_brackets_and_spaces() {
        let got = values(b"BODY[HEADER.FIELDS (SUBJECT)] {2}\r\nhi BODY[]<0> x");

        assert_eq!(got[0], Value::Atom(b"BODY[HEADER.FIELDS (SUBJECT)]"));
        assert_eq!(got[1], s(b"hi"));
        assert_eq!(got[2], Value::Atom(b"BODY[]<0>"));
    }

    #[test]
    fn eight_bit_bytes_are_kept_in_quoted_strings() {
        let got = values(b"\"Gr\xfc\xdfe \xe2\x82\xac\"");

        assert_eq!(got[0], s(b"Gr\xfc\xdfe \xe2\x82\xac"));
    }

    #[test]
    fn a_closing_bracket_ends_values() {
        let mut cursor = Cursor::new(b"UIDVALIDITY 3] rest");
        let got = cursor.values_until_end().unwrap();

        assert_eq!(got, vec![Value::Atom(b"UIDVALIDITY"), Value::Atom(b"3")]);
        assert!(cursor.eat(b']'));
    }

    #[test]
    fn broken_input_is_an_error() {
        for input in [
            &b"\"open"[..],
            b"(a (b)",
            b"{5}\r\nabc",
            b"{5}abcde",
            b"{x}\r\n",
            b")",
        ] {
            assert!(Cursor::new(input).values_until_end().is_err(), "{input:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let input = vec![b'('; 100_000];

        assert!(Cursor::new(&input).value().is_err());
    }

    #[test]
    fn random_bytes_never_panic_the_tokenizer() {
        let alphabet = b"{}+0123\r\n ()\"\\[]<>NIL\xff";
        let mut state: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..(state % 64) {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                input.push(alphabet[((state >> 33) % alphabet.len() as u64) as usize]);
            }
            let _ = Cursor::new(&input).values_until_end();
        }
    }
}
