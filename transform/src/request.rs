//! The request line (`GET /a?b=c HTTP/1.1`) split into method, path, query and protocol. A
//! well-formed line is parsed by `httparse`; a line httparse refuses but that still has the shape
//! `METHOD target [HTTP/x.y]` (spaces inside the path, no protocol, HTTP/2.0) is split on its first
//! and last space; anything else (TLS handshakes, `hello`) keeps only the whole `request`.

use crate::text::cut;
use std::borrow::Cow;

/// The parts of a request line, each borrowed from the request text where possible.
#[derive(Debug, Default, PartialEq)]
pub struct RequestParts<'a> {
    pub method: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub protocol: Option<Cow<'a, str>>,
}

/// A method token: 1–20 ASCII uppercase letters (also `-`/`_`, as in `M-SEARCH`).
fn is_method(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 20
        && m.bytes()
            .all(|c| c.is_ascii_uppercase() || c == b'-' || c == b'_')
}

/// `HTTP/` and a version: a digit, or a digit, `.` and a digit (`HTTP/1.1`, `HTTP/2`).
pub(crate) fn is_protocol(p: &[u8]) -> bool {
    match *p {
        [b'H', b'T', b'T', b'P', b'/', d] => d.is_ascii_digit(),
        [b'H', b'T', b'T', b'P', b'/', d, b'.', e] => d.is_ascii_digit() && e.is_ascii_digit(),
        _ => false,
    }
}

/// Sub-slices `req` by byte range, keeping the borrow when `req` is borrowed.
fn sub<'a>(req: &Cow<'a, str>, start: usize, end: usize) -> Cow<'a, str> {
    match req {
        Cow::Borrowed(s) => Cow::Borrowed(cut(s, start, end)),
        Cow::Owned(s) => Cow::Owned(s[start..end].to_owned()),
    }
}

type Ranges = ((usize, usize), (usize, usize), &'static str);

/// `(method, target, protocol)` byte ranges from httparse, when it accepts the line. httparse
/// reads the request line of a head that is not terminated (no `\r\n\r\n`) as far as it goes
/// and reports `Partial`, with method, path and version filled in: the line is complete when the
/// version was read and ends the text. No copy of the line is made.
fn httparse_ranges(req: &str) -> Option<Ranges> {
    let mut parsed = httparse::Request::new(&mut []);
    match parsed.parse(req.as_bytes()) {
        Ok(httparse::Status::Partial) => {}
        Ok(httparse::Status::Complete(_)) | Err(_) => return None,
    }
    let protocol = match parsed.version? {
        0 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    if !req.ends_with(protocol) {
        return None;
    }
    let base = req.as_ptr() as usize;
    let range = |s: &str| {
        let start = s.as_ptr() as usize - base;
        (start, start + s.len())
    };
    Some((range(parsed.method?), range(parsed.path?), protocol))
}

/// Splits a request line. `request` is the unescaped text of the quoted field.
pub fn split_request<'a>(request: &Cow<'a, str>) -> RequestParts<'a> {
    let req: &str = request;
    let (method, target, protocol) = match httparse_ranges(req) {
        Some((m, t, p)) => (sub(request, m.0, m.1), (t.0, t.1), Some(Cow::Borrowed(p))),
        None => {
            let Some(sp) = memchr::memchr(b' ', req.as_bytes()) else {
                return RequestParts::default();
            };
            if !is_method(&req[..sp]) {
                return RequestParts::default();
            }
            let rest_start = sp + req[sp..].bytes().take_while(|&c| c == b' ').count();
            let rest = req[rest_start..].trim_end_matches(' ');
            let mut end = rest_start + rest.len();
            let mut protocol = None;
            let last_sp = memchr::memrchr(b' ', rest.as_bytes());
            let tail_start = last_sp.map_or(0, |i| i + 1);
            if is_protocol(&rest.as_bytes()[tail_start..]) {
                protocol = Some(sub(request, rest_start + tail_start, end));
                end = rest_start + rest[..last_sp.unwrap_or(0)].trim_end_matches(' ').len();
            }
            if end <= rest_start {
                return RequestParts {
                    method: Some(sub(request, 0, sp)),
                    protocol,
                    ..Default::default()
                };
            }
            (sub(request, 0, sp), (rest_start, end), protocol)
        }
    };
    // An absolute-form target (`http://host/a?b`, sent to proxies and by scanners) has its
    // path after the scheme and authority, as Apache's `%U` and nginx's `$uri` read it; the
    // host stays in `request`. An empty path there is `/` (RFC 9112, section 3.2.2).
    let (start, absolute) = match path_start(&req[target.0..target.1]) {
        Some(p) => (target.0 + p, true),
        None => (target.0, false),
    };
    let (mut path, query) = match memchr::memchr(b'?', &req.as_bytes()[start..target.1]) {
        Some(q) => (
            sub(request, start, start + q),
            Some(sub(request, start + q + 1, target.1)),
        ),
        None => (sub(request, start, target.1), None),
    };
    // No path before a fragment (`http://h#x`, which clients do not send): `/`, no query.
    let query = match absolute && path.starts_with('#') {
        true => {
            path = Cow::Borrowed("");
            None
        }
        false => query,
    };
    if absolute && path.is_empty() {
        path = Cow::Borrowed("/");
    }
    RequestParts {
        method: Some(method),
        // A target that starts with `?` has no path: null, as every absent value is (an empty
        // query after a `?` is kept: the `?` was sent).
        path: (!path.is_empty()).then_some(path),
        query,
        protocol,
    }
}

/// Where the path of an absolute-form target begins: after `scheme://` (a letter, then letters,
/// digits, `+`, `-` or `.`) and the authority, which ends at the first `/`, `?` or `#`. `None`
/// when `target` is not absolute (`/a`, `host:443`, `*`).
fn path_start(target: &str) -> Option<usize> {
    let colon = memchr::memchr(b':', target.as_bytes())?;
    let (scheme, rest) = (&target.as_bytes()[..colon], &target.as_bytes()[colon..]);
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok || !rest.starts_with(b"://") {
        return None;
    }
    let authority = colon + 3;
    let end = target.as_bytes()[authority..]
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .map_or(target.len(), |i| authority + i);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> [Option<String>; 4] {
        let r = split_request(&Cow::Borrowed(s));
        [r.method, r.path, r.query, r.protocol].map(|x| x.map(|c| c.into_owned()))
    }
    fn some(v: [&str; 4]) -> [Option<String>; 4] {
        v.map(|s| (!s.is_empty()).then(|| s.to_owned()))
    }

    #[test]
    fn well_formed_lines_go_through_httparse() {
        assert_eq!(
            parts("GET /a/b?x=1&y=2 HTTP/1.1"),
            some(["GET", "/a/b", "x=1&y=2", "HTTP/1.1"])
        );
        assert_eq!(
            parts("POST /login HTTP/1.0"),
            some(["POST", "/login", "", "HTTP/1.0"])
        );
        assert_eq!(
            parts("GET /? HTTP/1.1"),
            [
                Some("GET".into()),
                Some("/".into()),
                Some("".into()),
                Some("HTTP/1.1".into())
            ]
        );
        assert_eq!(
            parts("CONNECT example.com:443 HTTP/1.1"),
            some(["CONNECT", "example.com:443", "", "HTTP/1.1"])
        );
    }

    #[test]
    fn odd_but_shaped_lines_are_split_structurally() {
        assert_eq!(parts("GET /"), some(["GET", "/", "", ""]));
        assert_eq!(
            parts("GET /a b c.html HTTP/1.1"),
            some(["GET", "/a b c.html", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET /x?q=a b HTTP/2.0"),
            some(["GET", "/x", "q=a b", "HTTP/2.0"])
        );
        assert_eq!(
            parts("GET  /double-space  HTTP/1.1"),
            some(["GET", "/double-space", "", "HTTP/1.1"])
        );
        assert_eq!(parts("GET HTTP/1.1"), some(["GET", "", "", "HTTP/1.1"]));
        assert_eq!(
            parts("GET ?only HTTP/1.1"),
            some(["GET", "", "only", "HTTP/1.1"])
        );
        assert_eq!(parts("GET ?a b"), some(["GET", "", "a b", ""]));
    }

    #[test]
    fn absolute_form_targets_keep_the_path_only() {
        assert_eq!(
            parts("GET http://example.com/a/b?x=1 HTTP/1.1"),
            some(["GET", "/a/b", "x=1", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET HTTPS://user@example.com:8443/ HTTP/1.1"),
            some(["GET", "/", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET http://example.com HTTP/1.1"),
            some(["GET", "/", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET http://example.com?q=1 HTTP/1.0"),
            some(["GET", "/", "q=1", "HTTP/1.0"])
        );
        assert_eq!(
            parts("GET http://h#x HTTP/1.1"),
            some(["GET", "/", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET http://h/a#x HTTP/1.1"),
            some(["GET", "/a#x", "", "HTTP/1.1"])
        );
        // Split structurally (no protocol), and a scheme httparse would not take.
        assert_eq!(parts("GET http://h/a b"), some(["GET", "/a b", "", ""]));
        // Not absolute: authority-form, a path holding `://` later, a bad scheme, no `//`.
        assert_eq!(
            parts("CONNECT example.com:443 HTTP/1.1"),
            some(["CONNECT", "example.com:443", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET /r?u=http://x/ HTTP/1.1"),
            some(["GET", "/r", "u=http://x/", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET /go/http://x/y HTTP/1.1"),
            some(["GET", "/go/http://x/y", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET 1http://x/y HTTP/1.1"),
            some(["GET", "1http://x/y", "", "HTTP/1.1"])
        );
        assert_eq!(
            parts("GET mailto:a@b HTTP/1.1"),
            some(["GET", "mailto:a@b", "", "HTTP/1.1"])
        );
    }

    #[test]
    fn garbage_keeps_only_the_request() {
        assert_eq!(parts("hello"), some(["", "", "", ""]));
        assert_eq!(parts(r"\x16\x03\x01\x00\xa5\x01"), some(["", "", "", ""]));
        assert_eq!(parts("hello world"), some(["", "", "", ""]));
        assert_eq!(parts(""), some(["", "", "", ""]));
    }
}
