//! The access-log line parser: one pass over the bytes of a line, borrowed slices, no regex and
//! no allocation per field (only unescaping or invalid UTF-8 copies). It reads NCSA common and
//! combined, Apache `vhost_combined`, nginx combined with extra trailing quoted fields, and a
//! trailing unquoted field (a request duration, say); see the README's "Parser" section.
//!
//! Layout: `[vhost] client ident user [time] "request" status bytes ["referrer" "agent" ["x" …]] [tail]`,
//! fields separated by one or more spaces. The request's closing quote is found by the structure
//! that follows it (spaces, a status, spaces, a size), so a raw `"` inside a URL is kept.

pub use crate::format::{Format, ParseOptions};
use crate::json::{scan_line, Escape};
use crate::request::{is_protocol, split_request};
use crate::schema::Record;
use crate::text::{cut, unescape_quoted, utf8_or_hex};
use crate::timestamp::{parse_clf_time, TimestampError, CLF_TIME_LEN};
use memchr::{memchr, memchr2_iter};
use std::borrow::Cow;
use std::fmt;

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("empty line")]
    Empty,
    #[error("expected client, ident and user (or vhost first) before the [timestamp], found {found} fields")]
    FieldCount { found: usize },
    #[error("no [timestamp] after client, ident and user")]
    MissingTimestamp,
    #[error("unterminated [timestamp]")]
    UnterminatedTimestamp,
    #[error("{0}")]
    Timestamp(TimestampError),
    #[error("expected a quoted \"request\" after the timestamp")]
    MissingRequest,
    #[error("unterminated \"request\"")]
    UnterminatedRequest,
    #[error("expected status and size after the quoted request")]
    StatusAndSize,
    #[error("size does not fit in 64 bits")]
    Size,
    #[error("line does not match the configured {0} format")]
    FormatMismatch(Format),
}

/// A rejected line: what is wrong and at which byte (of the line as UTF-8 text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub at: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.kind, self.at)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(kind: ErrorKind, at: usize) -> Result<T, ParseError> {
    Err(ParseError { kind, at })
}

/// Parses one line with the default options (every layout).
pub fn parse_line(line: &[u8]) -> Result<Record<'_>, ParseError> {
    parse_line_with(line, &ParseOptions::default())
}

/// Parses one line; a trailing `\n` / `\r\n` is ignored. Invalid UTF-8 bytes are rendered as
/// `\xHH` text (the record then owns its strings, and `at` counts in that text).
pub fn parse_line_with<'a>(line: &'a [u8], opts: &ParseOptions) -> Result<Record<'a>, ParseError> {
    parse(line, opts, None)
}

/// Parses one line as [`parse_line_with`] does, and says how its JSON must treat strings: when
/// the line has no control byte, no backslash and no `"` but the delimiters the parser used,
/// no value needs escaping ([`Escape::Verbatim`]); the check is one pass over the line.
pub fn parse_for_json<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
) -> Result<(Record<'a>, Escape), ParseError> {
    let mut escape = Escape::Check;
    parse(line, opts, Some(&mut escape)).map(|record| (record, escape))
}

/// The parser behind both entry points. The record is returned as it is built (it is large: no
/// wrapping tuple to copy it into); when `escape` is given it is set for the record's JSON.
#[inline]
pub(crate) fn parse<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    escape: Option<&mut Escape>,
) -> Result<Record<'a>, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // A byte-order mark (a file's first line, from some Windows tools) is not part of the address.
    let line = match line {
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest,
        _ => line,
    };
    match escape {
        // For JSON the line is scanned anyway: when that pass finds only ASCII, it is UTF-8.
        Some(escape) => {
            let scan = scan_line(line);
            if scan.ascii {
                // SAFETY: every byte is below 0x80, and ASCII is UTF-8.
                let s = unsafe { std::str::from_utf8_unchecked(line) };
                return parse_str(s, opts, Some((escape, scan.plain_quotes)));
            }
            if let Ok(s) = simdutf8::basic::from_utf8(line) {
                return parse_str(s, opts, Some((escape, scan.plain_quotes)));
            }
        }
        None => {
            if let Ok(s) = simdutf8::basic::from_utf8(line) {
                return parse_str(s, opts, None);
            }
        }
    }
    // Hex-rendered bytes carry backslashes: their JSON is always checked.
    match utf8_or_hex(line) {
        Cow::Borrowed(s) => parse_str(s, opts, None),
        Cow::Owned(fixed) => parse_str(&fixed, opts, None).map(Record::into_owned),
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ') = b.get(i) {
        i += 1;
    }
    i
}

/// The end of the token at `i` (the next space). Tokens outside quotes are short (an address,
/// `-`, a status): a plain loop beats a SIMD search's set-up cost there.
fn token_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b' ')
        .map_or(b.len(), |j| i + j)
}

/// The fields after the fourth before the `[timestamp]` (a user name with spaces): the
/// timestamp's position, how many fields, and where the last ends.
#[cold]
#[inline(never)]
fn more_heads(b: &[u8], mut pos: usize) -> Result<(usize, (usize, usize)), ParseError> {
    let (mut more, mut last_end) = (0, pos);
    while b[pos] != b'[' || bracketed_address(b, pos) {
        last_end = token_end(b, pos);
        more += 1;
        pos = skip_spaces(b, last_end);
        if pos == b.len() {
            return err(ErrorKind::MissingTimestamp, pos);
        }
    }
    Ok((pos, (more, last_end)))
}

/// Whether the `[` at `i` opens an address in brackets (`[2001:db8::1]`, `[::1]:443`,
/// `[192.0.2.1]`) rather than the timestamp: letters, digits, `:`, `.`, `%`, `-` and `_` up to a
/// `]` (with at least one `:`, or four dot-separated groups of digits), then the field's end or a
/// `:port`. A timestamp has a `/` two or three bytes in; epoch seconds have at most one dot.
#[inline(always)]
fn bracketed_address(b: &[u8], i: usize) -> bool {
    !(b.get(i + 3) == Some(&b'/') || b.get(i + 2) == Some(&b'/')) && bracketed_address_slow(b, i)
}

#[cold]
#[inline(never)]
fn bracketed_address_slow(b: &[u8], i: usize) -> bool {
    let t = &b[i + 1..token_end(b, i)];
    let Some(close) = memchr(b']', t) else {
        return false;
    };
    let (addr, after) = (&t[..close], &t[close + 1..]);
    let addr_byte = |c: &u8| c.is_ascii_alphanumeric() || b":.%-_".contains(c);
    let mut groups = addr.split(|&c| c == b'.');
    let dotted_quad = groups
        .by_ref()
        .take(4)
        .filter(|g| !g.is_empty() && g.iter().all(u8::is_ascii_digit))
        .count()
        == 4
        && groups.next().is_none();
    (addr.contains(&b':') || dotted_quad)
        && addr.iter().all(addr_byte)
        && match after {
            [] => true,
            [b':', port @ ..] => !port.is_empty() && port.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// Scans a quoted field's body from `start` for its closing quote: the first quote not escaped
/// by a backslash for which `accept` says yes. One pass finds quotes and backslashes together, so
/// it also tells whether the body has any backslash at all (if not, there is nothing to unescape).
/// Returns (the closing quote, the first unescaped quote, backslash seen before the close).
fn find_close(
    b: &[u8],
    start: usize,
    mut accept: impl FnMut(usize) -> bool,
) -> (Option<usize>, Option<usize>, bool) {
    let (mut first, mut backslash) = (None, false);
    // Bytes before `free` were taken by an escape (`\"`, `\\`).
    let mut free = start;
    for j in memchr2_iter(b'"', b'\\', &b[start..]) {
        let p = start + j;
        if p < free {
            continue;
        }
        if b[p] == b'\\' {
            backslash = true;
            free = p + 2;
            continue;
        }
        first.get_or_insert(p);
        if accept(p) {
            return (Some(p), first, backslash);
        }
    }
    (None, first, backslash)
}

fn dash_or(s: &str) -> Option<Cow<'_, str>> {
    (s != "-").then_some(Cow::Borrowed(s))
}

/// A quoted field's value: `None` for empty or `-`; unescaped only if it has a backslash.
fn quoted_value(s: &str, backslash: bool) -> Option<Cow<'_, str>> {
    match s {
        "" | "-" => None,
        _ if backslash => Some(unescape_quoted(s)),
        _ => Some(Cow::Borrowed(s)),
    }
}

/// A status or size token.
enum Number {
    /// `-`.
    Dash,
    Value(i64),
    /// Digits beyond 64 bits.
    TooBig,
}

/// Reads a number token while checking its digits; `None` when it is neither `-` nor digits.
fn number(token: &[u8]) -> Option<Number> {
    if token == b"-" {
        return Some(Number::Dash);
    }
    if token.is_empty() {
        return None;
    }
    // Eighteen digits always fit: only longer tokens pay for overflow checks (a 64-bit
    // `checked_mul` is a 128-bit multiplication on wasm32).
    let (head, tail) = token.split_at(token.len().min(18));
    let mut n = 0i64;
    for &c in head {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + i64::from(digit);
    }
    let mut fits = true;
    for &c in tail {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(digit)))
        {
            Some(m) if fits => n = m,
            _ => fits = false,
        }
    }
    Some(if fits {
        Number::Value(n)
    } else {
        Number::TooBig
    })
}

/// `status` and `size` after a candidate closing quote at `q`, and where the line goes on.
struct Tail {
    status: Option<u16>,
    /// The size, or `Err(at)` when its digits do not fit in 64 bits.
    size: Result<Option<i64>, usize>,
    next: usize,
}

// Inlined into the request's closing-quote search, its hot caller, though the cold retry calls it
// too (as a call: +38 instructions per line).
#[inline(always)]
fn status_and_size(b: &[u8], q: usize) -> Option<Tail> {
    let s0 = q + 1;
    if b.get(s0) != Some(&b' ') {
        return None;
    }
    let s0 = skip_spaces(b, s0);
    let s1 = token_end(b, s0);
    if s1 - s0 > 3 || s1 >= b.len() {
        return None;
    }
    let status = match number(&b[s0..s1])? {
        Number::Dash => None,
        // At most three digits.
        Number::Value(n) => Some(n as u16),
        Number::TooBig => return None,
    };
    let z0 = skip_spaces(b, s1);
    let z1 = token_end(b, z0);
    let size = match number(&b[z0..z1])? {
        Number::Dash => Ok(None),
        Number::Value(n) => Ok(Some(n)),
        Number::TooBig => Err(z0),
    };
    Some(Tail {
        status,
        size,
        next: z1,
    })
}

/// Finds the request's closing quote: an unescaped `"` followed by a status and a size. Also
/// says whether the request has a backslash. Where a logger leaves `"` in a URL unescaped, more
/// than one quote can be followed by a status and a size; the first after which the request ends
/// in a protocol (` HTTP/1.1`) is taken, else the first of them. Unless the layout is `common`
/// (no quoted field after the size), a later quote is taken only when it leaves the line as whole
/// as the first does: a quoted field after its size when the first has one. Otherwise a request
/// without a protocol (a probe, `"GET /"`) and an agent that ends in ` HTTP/1.1` before trailing
/// numbers (Apache's `combinedio`: `… "%{User-Agent}i" %I %O`) would make the agent's closing
/// quote the request's, and `%I %O` the status and size. Detected per line, the two cannot be
/// told apart from a common-format line whose URL holds raw quotes (`/x" 200 0 "a" "b HTTP/1.1`)
/// and the reading of an escaping logger (Apache's and nginx's default) is taken; `--format
/// common` reads such a line the other way. (A request made to look like that, `/x HTTP/1.1" 200
/// 0 "…`, is still read the way it was written: the layout cannot tell.)
fn request_end(b: &[u8], start: usize, format: Format) -> Result<(usize, Tail, bool), ParseError> {
    let mut tail = None;
    let mut without_protocol: Option<(usize, Tail)> = None;
    let quoted_after = |t: &Tail| b.get(skip_spaces(b, t.next)) == Some(&b'"');
    let as_whole = |t: &Tail, first: &Tail| {
        format == Format::Common || quoted_after(t) || !quoted_after(first)
    };
    let (close, first, backslash) = find_close(b, start, |q| match status_and_size(b, q) {
        Some(t)
            if ends_with_protocol(&b[start..q])
                && without_protocol
                    .as_ref()
                    .is_none_or(|(_, first)| as_whole(&t, first)) =>
        {
            tail = Some(t);
            true
        }
        Some(t) => {
            without_protocol.get_or_insert((q, t));
            false
        }
        None => false,
    });
    match (close, tail, without_protocol) {
        (Some(q), Some(tail), _) => Ok((q, tail, backslash)),
        (_, _, Some((q, tail))) => Ok((q, tail, memchr(b'\\', &b[start..q]).is_some())),
        _ => no_request_end(b, start, first),
    }
}

/// [`request_end`] when no quote followed by a status and a size was found (`first` is the first
/// unescaped quote): the request is read again with backslashes as text
/// ([`literal_request_end`], which finds nothing new when it has none); failing that, the error.
#[cold]
#[inline(never)]
fn no_request_end(
    b: &[u8],
    start: usize,
    first: Option<usize>,
) -> Result<(usize, Tail, bool), ParseError> {
    match (literal_request_end(b, start), first) {
        (Some(found), _) => Ok(found),
        (None, None) => err(ErrorKind::UnterminatedRequest, start - 1),
        (None, Some(q)) => err(ErrorKind::StatusAndSize, q + 1),
    }
}

/// A request with backslashes whose end cannot be found when they escape: a logger that does not
/// escape (nginx's `escape=none`) can end a request in a raw backslash (`"GET /a\" 200 5`). Read
/// again with backslashes as text: the first quote followed by a status and a size, kept as
/// written (nothing unescaped).
#[cold]
fn literal_request_end(b: &[u8], start: usize) -> Option<(usize, Tail, bool)> {
    let mut from = start;
    while let Some(j) = memchr(b'"', &b[from..]) {
        let q = from + j;
        if let Some(tail) = status_and_size(b, q) {
            return Some((q, tail, false));
        }
        from = q + 1;
    }
    None
}

/// Whether a request's text ends in a space and a protocol (`HTTP/1.1`, `HTTP/2`).
fn ends_with_protocol(r: &[u8]) -> bool {
    let last =
        |n: usize| r.len() > n && r[r.len() - n - 1] == b' ' && is_protocol(&r[r.len() - n..]);
    last(8) || last(6)
}

/// Finds the end of a quoted field opened at `start - 1`: an unescaped `"` followed by a space
/// or the end of the line. A field left open (a truncated line) runs to the end of the line.
/// Also says whether the field has a backslash.
fn quoted_end(b: &[u8], start: usize) -> (usize, bool) {
    let (close, _, backslash) = find_close(b, start, |q| q + 1 == b.len() || b[q + 1] == b' ');
    (close.unwrap_or(b.len()), backslash)
}

/// Parses a line. With `escape` (and the line's [`LineScan::plain_quotes`]), also decides how
/// its JSON treats strings: verbatim when the line's only `"` are the delimiters of its quoted
/// fields and it has no backslash or control byte.
///
/// [`LineScan::plain_quotes`]: crate::json::LineScan::plain_quotes
fn parse_str<'a>(
    s: &'a str,
    opts: &ParseOptions,
    escape: Option<(&mut Escape, Option<usize>)>,
) -> Result<Record<'a>, ParseError> {
    let b = s.as_bytes();
    let mut pos = skip_spaces(b, 0);
    if pos == b.len() {
        return err(ErrorKind::Empty, 0);
    }

    // The space-separated fields before the `[timestamp]`: the first four kept, any more counted
    // (`extra`, with the end of the last).
    let mut heads = [(0usize, 0usize); 4];
    let mut n = 0;
    let mut extra = (0, 0);
    while b[pos] != b'[' || bracketed_address(b, pos) {
        if n == heads.len() {
            (pos, extra) = more_heads(b, pos)?;
            break;
        }
        let end = token_end(b, pos);
        heads[n] = (pos, end);
        n += 1;
        pos = skip_spaces(b, end);
        if pos == b.len() {
            return err(ErrorKind::MissingTimestamp, pos);
        }
    }
    if n < 3 {
        return err(ErrorKind::FieldCount { found: n }, pos);
    }
    let field = |(a, z): (usize, usize)| cut(s, a, z);
    // A vhost comes first when the format says so or, in `Auto`, when a fourth field follows
    // and the second is not an ident's `-` (it is then the client's address).
    let vhost_first = n == 4
        && match opts.format {
            Format::Auto => field(heads[1]) != "-",
            Format::VhostCombined => true,
            Format::Common | Format::Combined => false,
        };
    let h = usize::from(vhost_first);
    // Apache's `%u` and nginx's `$remote_user` are logged unescaped, so a user name may hold
    // spaces: the fields after an ident `-` up to the timestamp are the user. Extra fields after
    // any other ident make the line unreadable.
    let (more, more_end) = extra;
    let user_end = if n + more == h + 3 {
        heads[h + 2].1
    } else if field(heads[h + 1]) == "-" {
        if more > 0 {
            more_end
        } else {
            heads[n - 1].1
        }
    } else if opts.format == Format::Auto {
        return err(ErrorKind::FieldCount { found: n + more }, pos);
    } else {
        return err(ErrorKind::FormatMismatch(opts.format), 0);
    };
    let vhost = vhost_first.then(|| Cow::Borrowed(field(heads[0])));

    // The usual `[dd/Mon/yyyy:HH:MM:SS ±hhmm]` is closed at a fixed place: looked at first. A
    // text that parses there has no `]` inside, so this is the `]` a search would find.
    let fixed = pos + 1 + CLF_TIME_LEN;
    let usual = match b.get(fixed) {
        Some(b']') => parse_clf_time(&b[pos + 1..fixed]).ok().map(|t| (fixed, t)),
        _ => None,
    };
    let (close, (time, utc_offset)) = match usual {
        Some(found) => found,
        None => {
            let close = match memchr(b']', &b[pos..]) {
                Some(j) => pos + j,
                None => return err(ErrorKind::UnterminatedTimestamp, pos),
            };
            let time = parse_clf_time(&b[pos + 1..close]).map_err(|e| ParseError {
                kind: ErrorKind::Timestamp(e),
                at: pos + 1,
            })?;
            (close, time)
        }
    };

    pos = skip_spaces(b, close + 1);
    if b.get(pos) != Some(&b'"') {
        return err(ErrorKind::MissingRequest, pos);
    }
    let (req_close, tail, backslash) = request_end(b, pos + 1, opts.format)?;
    let request = quoted_value(cut(s, pos + 1, req_close), backslash);
    let status = tail.status;
    let bytes = tail.size.or_else(|at| err(ErrorKind::Size, at))?;

    // Quoted fields (referrer, agent, forwarded_for, further ones ignored) and unquoted tails.
    let mut quoted: [Option<Cow<'a, str>>; 3] = [None, None, None];
    let mut n_quoted = 0;
    // The request's two quotes, then two per closed field and one per field left open.
    let mut delimiters = 2;
    pos = tail.next;
    loop {
        pos = skip_spaces(b, pos);
        if pos >= b.len() {
            break;
        }
        if b[pos] == b'"' {
            // `"-"` (no referrer: four lines in ten) is closed where it starts: no search.
            let dash = b.get(pos + 1..pos + 3) == Some(b"-\"")
                && matches!(b.get(pos + 3), None | Some(b' '));
            let (end, backslash) = if dash {
                (pos + 2, false)
            } else {
                quoted_end(b, pos + 1)
            };
            if let Some(slot) = quoted.get_mut(n_quoted) {
                *slot = quoted_value(cut(s, pos + 1, end), backslash);
            }
            n_quoted += 1;
            delimiters += if end < b.len() { 2 } else { 1 };
            pos = end + 1;
        } else {
            pos = token_end(b, pos);
        }
    }

    let fits = match opts.format {
        Format::Auto => true,
        Format::Common => n_quoted == 0,
        Format::Combined => n_quoted >= 2,
        Format::VhostCombined => vhost.is_some() && n_quoted >= 2,
    };
    if !fits {
        return err(ErrorKind::FormatMismatch(opts.format), 0);
    }

    if let Some((escape, plain_quotes)) = escape {
        if plain_quotes == Some(delimiters) {
            *escape = Escape::Verbatim;
        }
    }
    let parts = request.as_ref().map(split_request).unwrap_or_default();
    let [referrer, user_agent, forwarded_for] = quoted;
    Ok(Record {
        time,
        utc_offset,
        client_ip: Cow::Borrowed(field(heads[h])),
        vhost,
        ident: dash_or(field(heads[h + 1])),
        user: dash_or(cut(s, heads[h + 2].0, user_end)),
        request,
        method: parts.method,
        path: parts.path,
        query: parts.query,
        protocol: parts.protocol,
        status,
        bytes,
        referrer,
        user_agent,
        forwarded_for,
    })
}
