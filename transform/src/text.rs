//! Field text: how raw log bytes become UTF-8 strings. Invalid UTF-8 bytes are rendered as the
//! four characters `\xHH` (the convention Apache and nginx already use for bytes they escape), so
//! every value is valid UTF-8 and no byte is silently lost; quoted fields have `\"` and `\\`
//! unescaped, every other backslash sequence (e.g. `\x16`) is kept as written.

use std::borrow::Cow;

/// Renders `bytes` as UTF-8, replacing each byte of an invalid sequence by `\xHH`.
/// Borrows when the input is already valid.
pub fn utf8_or_hex(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 16);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
            Cow::Owned(out)
        }
    }
}

/// `&s[a..z]` for cut points the parser found at delimiters: each of `a` and `z` is 0, `s.len()`,
/// the position of an ASCII byte of `s` or the position just after one. In UTF-8 a continuation
/// byte never is, nor follows, an ASCII byte, so such a point is always a char boundary and the
/// two boundary checks `&s[a..z]` makes are skipped (the bounds are still checked). Debug builds
/// assert the boundaries on every cut (CI runs the parser's tests, sample logs and damaged
/// lines included, in one).
#[inline]
pub(crate) fn cut(s: &str, a: usize, z: usize) -> &str {
    if cfg!(debug_assertions) {
        assert!(
            s.is_char_boundary(a) && s.is_char_boundary(z),
            "cut {a}..{z} of {s:?}"
        );
    }
    let bytes = &s.as_bytes()[a..z];
    // SAFETY: `s` is UTF-8 and `a`, `z` are char boundaries (see above), so `bytes` is UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Unescapes `\"` and `\\` inside a quoted field; borrows when there is nothing to unescape.
pub fn unescape_quoted(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = memchr::memchr(b'\\', b) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut rest = &s[first..];
    while let Some(i) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        match rest.as_bytes().get(i + 1) {
            Some(c @ (b'"' | b'\\')) => {
                out.push(*c as char);
                rest = &rest[i + 2..];
            }
            _ => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_is_borrowed() {
        assert!(matches!(
            utf8_or_hex("déjà vu".as_bytes()),
            Cow::Borrowed("déjà vu")
        ));
    }

    #[test]
    fn invalid_bytes_become_hex_text() {
        assert_eq!(utf8_or_hex(b"a\xffb\xc3"), "a\\xFFb\\xC3");
        assert_eq!(utf8_or_hex(b"\xe2\x82"), "\\xE2\\x82");
        assert_eq!(utf8_or_hex(b"ok \xc3\xa9 \x80"), "ok é \\x80");
    }

    #[test]
    fn cut_is_a_slice() {
        assert_eq!(cut("a é b", 0, 1), "a");
        assert_eq!(cut("a é b", 2, 4), "é");
        assert_eq!(cut("a é b", 5, 6), "b");
        assert_eq!(cut("", 0, 0), "");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "cut 3..4")]
    fn cut_checks_char_boundaries_in_debug_builds() {
        cut("a é b", 3, 4);
    }

    #[test]
    #[should_panic]
    fn cut_checks_bounds() {
        cut("abc", 1, 4);
    }

    #[test]
    fn unescapes_only_quote_and_backslash() {
        assert!(matches!(unescape_quoted("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape_quoted(r#"say \"hi\""#), r#"say "hi""#);
        assert_eq!(unescape_quoted(r"a\\b"), r"a\b");
        assert_eq!(unescape_quoted(r"\x16\x03\x01"), r"\x16\x03\x01");
        assert_eq!(unescape_quoted("end\\"), "end\\");
        assert_eq!(unescape_quoted(r#"\\\"x"#), r#"\"x"#);
    }
}
