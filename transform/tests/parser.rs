//! The parser against every layout and oddity the issue lists, and against every line of the
//! two real logs in `../shared/data` (each must parse, and its JSON must decode back to the same
//! record).

use accesslake_transform::{
    parse_for_json, parse_line, parse_line_with, transform_value, write_record, ErrorKind, Escape,
    Format, ParseOptions, Record,
};
use std::io::BufRead;

fn ok(line: &str) -> Record<'_> {
    parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"))
}
fn owned(line: String) -> Record<'static> {
    ok(&line).into_owned()
}
fn s<'a>(v: &'a Option<std::borrow::Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref()
}
fn err(line: &[u8]) -> ErrorKind {
    parse_line(line).expect_err("should be rejected").kind
}

#[test]
fn ncsa_common() {
    let r = ok(
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
    );
    assert_eq!(r.client_ip, "127.0.0.1");
    assert_eq!((s(&r.ident), s(&r.user)), (None, Some("frank")));
    assert_eq!(r.time.to_rfc3339(), "2000-10-10T20:55:36Z");
    assert_eq!(r.utc_offset.as_str(), "-07:00");
    assert_eq!(
        (s(&r.method), s(&r.path), s(&r.protocol)),
        (Some("GET"), Some("/apache_pb.gif"), Some("HTTP/1.0"))
    );
    assert_eq!((r.status, r.bytes), (Some(200), Some(2326)));
    assert_eq!(
        (s(&r.referrer), s(&r.user_agent), s(&r.vhost)),
        (None, None, None)
    );
}

#[test]
fn ncsa_combined_with_query() {
    let r = ok(
        r#"10.1.2.3 - - [17/May/2015:10:05:03 +0000] "GET /a/b.php?x=1&y=%20 HTTP/1.1" 404 - "http://ref/" "Mozilla/5.0 (X11)""#,
    );
    assert_eq!(
        (s(&r.path), s(&r.query)),
        (Some("/a/b.php"), Some("x=1&y=%20"))
    );
    assert_eq!((r.status, r.bytes), (Some(404), None));
    assert_eq!(
        (s(&r.referrer), s(&r.user_agent)),
        (Some("http://ref/"), Some("Mozilla/5.0 (X11)"))
    );
    assert_eq!(s(&r.forwarded_for), None);
}

#[test]
fn apache_vhost_combined() {
    let r = ok(
        r#"www.example.com:443 192.0.2.9 - - [01/Feb/2021:00:00:01 +0100] "POST /login HTTP/2.0" 302 0 "-" "curl/7.68.0""#,
    );
    assert_eq!(s(&r.vhost), Some("www.example.com:443"));
    assert_eq!(r.client_ip, "192.0.2.9");
    assert_eq!(
        (s(&r.method), s(&r.protocol)),
        (Some("POST"), Some("HTTP/2.0"))
    );
    assert_eq!(r.time.to_rfc3339(), "2021-01-31T23:00:01Z");
    let common = ParseOptions {
        format: Format::Combined,
    };
    assert_eq!(
        parse_line_with(
            br#"h:80 1.2.3.4 - - [01/Feb/2021:00:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "a""#,
            &common
        )
        .unwrap_err()
        .kind,
        ErrorKind::FormatMismatch(Format::Combined)
    );
}

#[test]
fn nginx_extra_fields_and_trailing_duration() {
    let r = ok(
        r#"203.0.113.5 - - [22/Jan/2019:03:56:14 +0330] "GET /x HTTP/1.1" 200 5667 "https://r/" "UA" "198.51.100.7, 10.0.0.1" 0.042"#,
    );
    assert_eq!(s(&r.forwarded_for), Some("198.51.100.7, 10.0.0.1"));
    assert_eq!(s(&r.user_agent), Some("UA"));
    let r = ok(
        r#"203.0.113.5 - - [22/Jan/2019:03:56:14 +0330] "GET /x HTTP/1.1" 200 5667 "-" "UA" "-""#,
    );
    assert_eq!(s(&r.forwarded_for), None);
    let r = ok(r#"203.0.113.5 - - [22/Jan/2019:03:56:14 +0330] "GET /x HTTP/1.1" 200 5667 0.5"#);
    assert_eq!((r.bytes, s(&r.referrer)), (Some(5667), None));
}

#[test]
fn any_number_of_spaces() {
    let r = ok(
        r#"  1.2.3.4   -  -   [22/Jan/2019:03:56:14 +0330]   "GET /x HTTP/1.1"   200   10   "-"   "UA"  "#,
    );
    assert_eq!(
        (r.client_ip.as_ref(), r.status, r.bytes, s(&r.user_agent)),
        ("1.2.3.4", Some(200), Some(10), Some("UA"))
    );
}

#[test]
fn ipv6_clients() {
    for ip in ["::1", "2001:db8::ff00:42:8329", "fe80::1%eth0"] {
        let line = format!(r#"{ip} - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 1"#);
        assert_eq!(parse_line(line.as_bytes()).unwrap().client_ip, ip);
    }
}

#[test]
fn dashes_are_null() {
    let r = ok(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "-" - - "-" "-""#);
    assert_eq!(
        (s(&r.request), s(&r.method), r.status, r.bytes),
        (None, None, None, None)
    );
    assert_eq!(
        (s(&r.ident), s(&r.user), s(&r.referrer), s(&r.user_agent)),
        (None, None, None, None)
    );
}

#[test]
fn empty_garbage_and_binary_requests_keep_the_line() {
    let r = ok(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "" 400 0 "-" "-""#);
    assert_eq!((s(&r.request), r.status), (None, Some(400)));
    let r = ok(
        r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 226 "-" "-""#,
    );
    assert_eq!(
        s(&r.request),
        Some(r"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
    );
    assert_eq!((s(&r.method), s(&r.path)), (None, None));
    let r = ok(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "hello" 400 0"#);
    assert_eq!((s(&r.request), s(&r.method)), (Some("hello"), None));
    let r = ok(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /" 200 3"#);
    assert_eq!(
        (s(&r.method), s(&r.path), s(&r.protocol)),
        (Some("GET"), Some("/"), None)
    );
    let r = ok(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /my file.html HTTP/1.1" 200 3"#);
    assert_eq!(
        (s(&r.path), s(&r.protocol)),
        (Some("/my file.html"), Some("HTTP/1.1"))
    );
}

#[test]
fn escapes_inside_quoted_fields() {
    let r = ok(
        r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /q?s=\"x\" HTTP/1.1" 200 3 "a\\b" "UA \"quoted\" \x41""#,
    );
    assert_eq!(s(&r.request), Some(r#"GET /q?s="x" HTTP/1.1"#));
    assert_eq!(s(&r.query), Some(r#"s="x""#));
    assert_eq!(s(&r.referrer), Some(r"a\b"));
    assert_eq!(s(&r.user_agent), Some(r#"UA "quoted" \x41"#));
}

#[test]
fn raw_quote_inside_the_url_is_kept() {
    let r = ok(
        r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] "GET /f?filter="{op:1}"&x="a" HTTP/1.1" 200 1600 "https://r/" "UA""#,
    );
    assert_eq!(
        s(&r.request),
        Some(r#"GET /f?filter="{op:1}"&x="a" HTTP/1.1"#)
    );
    assert_eq!((r.status, s(&r.referrer)), (Some(200), Some("https://r/")));
}

#[test]
fn raw_quotes_that_look_like_a_status_do_not_cut_the_request_short() {
    // A logger that leaves `"` unescaped: the first quote followed by a status and a size ends a
    // request without a protocol; the one after which the request ends in `HTTP/1.1` wins.
    let r = ok(
        r#"6.6.6.6 - - [10/Oct/2000:13:55:36 -0700] "GET /x" 200 0 "http://evil" "FakeBot HTTP/1.1" 404 123 "-" "Mozilla/5.0""#,
    );
    assert_eq!(
        s(&r.request),
        Some(r#"GET /x" 200 0 "http://evil" "FakeBot HTTP/1.1"#)
    );
    assert_eq!((r.status, r.bytes), (Some(404), Some(123)));
    assert_eq!(
        (s(&r.referrer), s(&r.user_agent)),
        (None, Some("Mozilla/5.0"))
    );
    // Nor does an agent that ends in a protocol, before trailing numbers (Apache's `combinedio`,
    // `%I %O`): the later quote would leave the line without its referrer and agent.
    for (request, want) in [(r#"GET /"#, Some("GET /")), (r#"\x16\x03\x01"#, None)] {
        let r = owned(format!(
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "{request}" 400 226 "-" "Mozilla/5.0 HTTP/1.1" 312 550"#
        ));
        assert_eq!(s(&r.method), want.map(|_| "GET"));
        assert_eq!(s(&r.request), Some(request));
        assert_eq!((r.status, r.bytes), (Some(400), Some(226)));
        assert_eq!(
            (s(&r.referrer), s(&r.user_agent)),
            (None, Some("Mozilla/5.0 HTTP/1.1"))
        );
    }
    // The same shape in a common-format log whose logger leaves quotes raw: detected per line,
    // read as an escaping logger's (above); with `--format common`, the URL holds the quotes.
    let line = r#"6.6.6.6 - - [10/Oct/2000:13:55:36 -0700] "GET /x" 200 0 "http://evil" "FakeBot HTTP/1.1" 404 5"#;
    let auto = ok(line);
    assert_eq!((auto.status, auto.bytes), (Some(200), Some(0)));
    let common = ParseOptions {
        format: Format::Common,
    };
    let r = parse_line_with(line.as_bytes(), &common).unwrap();
    assert_eq!(
        s(&r.request),
        Some(r#"GET /x" 200 0 "http://evil" "FakeBot HTTP/1.1"#)
    );
    assert_eq!(
        (r.status, r.bytes, s(&r.user_agent)),
        (Some(404), Some(5), None)
    );
    // Without any request that ends in a protocol, the first candidate still ends it.
    let r = ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /" 200 5 "-" "a b""#);
    assert_eq!(
        (s(&r.request), r.status, s(&r.user_agent)),
        (Some("GET /"), Some(200), Some("a b"))
    );
    let r = ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "x" 500 1"#);
    assert_eq!(
        (s(&r.request), r.status, r.bytes),
        (None, Some(400), Some(0))
    );
    // A raw backslash at the end of the request (a logger that does not escape): read as text.
    let r = ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\" 200 5 "-" "ua""#);
    assert_eq!(s(&r.request), Some(r"GET /a\"));
    assert_eq!(
        (r.status, r.bytes, s(&r.user_agent)),
        (Some(200), Some(5), Some("ua"))
    );
    // A backslash before the chosen close is still unescaped.
    let r = ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /\"a" 200 5"#);
    assert_eq!(s(&r.request), Some(r#"GET /"a"#));
}

#[test]
fn a_user_name_with_spaces_is_not_taken_for_a_vhost() {
    // Apache's %u and nginx's $remote_user are not escaped.
    let t = r#"[10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua""#;
    let r = owned(format!("1.2.3.4 - John Doe {t}"));
    assert_eq!((r.client_ip.as_ref(), s(&r.vhost)), ("1.2.3.4", None));
    assert_eq!((s(&r.ident), s(&r.user)), (None, Some("John Doe")));
    let r = owned(format!("1.2.3.4 - John  Q Doe {t}"));
    assert_eq!(s(&r.user), Some("John  Q Doe"));
    let r = owned(format!("1.2.3.4 - - - {t}"));
    assert_eq!((r.client_ip.as_ref(), s(&r.user)), ("1.2.3.4", Some("- -")));
    // With a vhost first, the same.
    let r = owned(format!("www.example.com:443 1.2.3.4 - John Doe {t}"));
    assert_eq!(
        (s(&r.vhost), r.client_ip.as_ref(), s(&r.user)),
        (Some("www.example.com:443"), "1.2.3.4", Some("John Doe"))
    );
    // Explicit formats agree; extra fields after an ident other than `-` are refused.
    let combined = ParseOptions {
        format: Format::Combined,
    };
    let line = format!("1.2.3.4 - John Doe {t}");
    let r = parse_line_with(line.as_bytes(), &combined).unwrap();
    assert_eq!(s(&r.user), Some("John Doe"));
    let vhost = ParseOptions {
        format: Format::VhostCombined,
    };
    let r = parse_line_with(line.as_bytes(), &vhost).unwrap();
    assert_eq!(
        (s(&r.vhost), r.client_ip.as_ref(), s(&r.user)),
        (Some("1.2.3.4"), "-", Some("Doe"))
    );
    assert_eq!(
        err(format!("a b c d e {t}").as_bytes()),
        ErrorKind::FieldCount { found: 5 }
    );
    let three = format!("1.2.3.4 - - {t}");
    assert_eq!(
        parse_line_with(three.as_bytes(), &vhost).unwrap_err().kind,
        ErrorKind::FormatMismatch(Format::VhostCombined)
    );
}

#[test]
fn bracketed_ipv6_addresses_are_fields_not_the_timestamp() {
    let t = r#"[10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#;
    let r = owned(format!("[::1] - - {t}"));
    assert_eq!((r.client_ip.as_ref(), s(&r.vhost)), ("[::1]", None));
    let r = owned(format!("[2001:db8::1]:443 1.2.3.4 - - {t}"));
    assert_eq!(
        (s(&r.vhost), r.client_ip.as_ref()),
        (Some("[2001:db8::1]:443"), "1.2.3.4")
    );
    let r = owned(format!("[fe80::1%eth0] - - {t}"));
    assert_eq!(r.client_ip, "[fe80::1%eth0]");
    // IPv4 in brackets, with and without a port; epoch seconds in brackets stay a timestamp.
    let r = owned(format!("[192.0.2.1] - - {t}"));
    assert_eq!((r.client_ip.as_ref(), s(&r.vhost)), ("[192.0.2.1]", None));
    let r = owned(format!("[192.0.2.1]:80 - - {t}"));
    assert_eq!(r.client_ip, "[192.0.2.1]:80");
    assert!(matches!(
        err(br#"1.2.3.4 - - [1548000000.123] "GET / HTTP/1.1" 200 5"#),
        ErrorKind::Timestamp(_)
    ));
    // Four groups, but not of digits: not an address, so the line has no fields before it.
    assert!(parse_line(format!("[www.example.co.uk] - - {t}").as_bytes()).is_err());
    // A one-digit day is still a timestamp, and a bracket that is not an address is one too.
    let r = ok(r#"1.2.3.4 - - [2/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 5"#);
    assert_eq!(r.time.to_rfc3339(), "2019-01-02T03:56:14Z");
    assert!(matches!(
        err(br#"1.2.3.4 - - [hello] "GET / HTTP/1.1" 200 5"#),
        ErrorKind::Timestamp(_)
    ));
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_address() {
    let r = parse_line(
        b"\xEF\xBB\xBF1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5",
    )
    .unwrap();
    assert_eq!(r.client_ip, "1.2.3.4");
}

#[test]
fn fractions_of_a_second_are_kept_to_the_microsecond() {
    let line = |ts: &str| format!(r#"1.2.3.4 - - [{ts}] "GET / HTTP/1.1" 200 5"#);
    for (ts, want) in [
        ("10/Oct/2000:13:55:36.123 -0700", "2000-10-10T20:55:36.123Z"),
        ("10/Oct/2000:13:55:36.5 +0000", "2000-10-10T13:55:36.5Z"),
        (
            "10/Oct/2000:13:55:36.123456789 +0000",
            "2000-10-10T13:55:36.123456Z",
        ),
        ("10/Oct/2000:13:55:36.000 +0000", "2000-10-10T13:55:36Z"),
    ] {
        let r = owned(line(ts));
        assert_eq!(r.time.to_rfc3339(), want, "{ts}");
        let mut json = Vec::new();
        write_record(&r, &mut json);
        assert_eq!(
            Record::from_json(&json).unwrap(),
            r,
            "{ts}: the JSON reads back"
        );
        assert_eq!(
            r.utc_offset.as_str(),
            &format!(
                "{}:{}",
                &ts[ts.len() - 5..ts.len() - 2],
                &ts[ts.len() - 2..]
            )
        );
    }
    for ts in [
        "10/Oct/2000:13:55:36. -0700",
        "10/Oct/2000:13:55:36.12a -0700",
        "10/Oct/2000:13:55:36.1234567890 -0700",
        "10/Oct/2000:13:55:36.5-0700",
    ] {
        assert!(
            matches!(err(line(ts).as_bytes()), ErrorKind::Timestamp(_)),
            "{ts}"
        );
    }
}

#[test]
fn instants_outside_the_years_0000_to_9999_are_refused() {
    let line = |ts: &str| format!(r#"1.2.3.4 - - [{ts}] "GET / HTTP/1.1" 200 5"#);
    for ts in [
        "31/Dec/9999:23:59:59 -1400",
        "01/Jan/0001:00:00:00 +0000",
        "01/Jan/0001:00:00:00 +1400",
        "31/Dec/0000:23:59:59 +0000",
    ] {
        let l = line(ts);
        match parse_line(l.as_bytes()) {
            Ok(r) => assert!(
                ts.starts_with("01/Jan/0001:00:00:00 +0000"),
                "{ts} gave {}",
                r.time.to_rfc3339()
            ),
            Err(e) => assert_eq!(
                e.to_string(),
                "timestamp falls outside the years 0001 to 9999 in UTC (at byte 13)",
                "{ts}"
            ),
        }
    }
    assert_eq!(
        ok(&line("01/Jan/0001:00:00:00 +0000")).time.to_rfc3339(),
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(
        ok(&line("31/Dec/9999:23:59:59 +0000")).time.to_rfc3339(),
        "9999-12-31T23:59:59Z"
    );
    assert_eq!(
        ok(&line("01/Jan/0001:14:00:00 +1400")).time.to_rfc3339(),
        "0001-01-01T00:00:00Z"
    );
    // The day memo: earlier seconds of the last day are fine, the last ones are not.
    assert_eq!(
        ok(&line("31/Dec/9999:09:59:59 -1400")).time.to_rfc3339(),
        "9999-12-31T23:59:59Z"
    );
    assert!(matches!(
        err(line("31/Dec/9999:10:00:00 -1400").as_bytes()),
        ErrorKind::Timestamp(_)
    ));
}

#[test]
fn only_http_and_a_version_is_a_protocol() {
    for (req, protocol) in [
        ("GET /x HTTP/1.1x", None),
        ("GET /x HTTP/1.", None),
        ("GET /a b HTTP/2", Some("HTTP/2")),
        ("GET /a b HTTP/1.1", Some("HTTP/1.1")),
    ] {
        let l = format!(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "{req}" 200 5"#);
        assert_eq!(s(&ok(&l).protocol), protocol, "{req}");
    }
}

#[test]
fn truncated_last_field_runs_to_the_end() {
    let r = ok(
        r#"1.2.3.4 - - [20/May/2015:12:05:17 +0000] "GET / HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1"#,
    );
    assert_eq!(
        s(&r.user_agent),
        Some("Mozilla/5.0 (compatible; Googlebot/2.1")
    );
}

#[test]
fn invalid_utf8_becomes_hex_text_and_valid_json() {
    let line = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] \"GET /\xff\xfe HTTP/1.1\" 200 3 \"-\" \"caf\xc3\xa9 \xc3\"";
    let r = parse_line(line).unwrap();
    assert_eq!(s(&r.path), Some(r"/\xFF\xFE"));
    assert_eq!(s(&r.user_agent), Some(r"café \xC3"));
    let mut out = Vec::new();
    transform_value(line, &ParseOptions::default(), &mut out).unwrap();
    assert!(std::str::from_utf8(&out).is_ok());
    assert_eq!(Record::from_json(&out).unwrap(), r);
}

#[test]
fn timestamps_with_offsets_and_bad_dates() {
    let r = ok(r#"1.2.3.4 - - [01/Jan/2020:02:00:00 +0530] "GET / HTTP/1.1" 200 3"#);
    assert_eq!(
        (r.time.to_rfc3339().as_str(), r.utc_offset.as_str()),
        ("2019-12-31T20:30:00Z", "+05:30")
    );
    let e = parse_line(br#"1.2.3.4 - - [30/Feb/2020:02:00:00 +0530] "GET / HTTP/1.1" 200 3"#)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "timestamp names a date that does not exist (at byte 13)"
    );
}

#[test]
fn rejects_lines_with_clear_reasons() {
    assert_eq!(err(b""), ErrorKind::Empty);
    assert_eq!(err(b"   \r\n"), ErrorKind::Empty);
    assert_eq!(err(b"hello world"), ErrorKind::MissingTimestamp);
    assert_eq!(
        err(br#"1.2.3.4 - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 3"#),
        ErrorKind::FieldCount { found: 2 }
    );
    assert_eq!(
        err(br#"a b c d e [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 3"#),
        ErrorKind::FieldCount { found: 5 }
    );
    assert_eq!(
        err(br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000 "GET / HTTP/1.1" 200 3"#),
        ErrorKind::UnterminatedTimestamp
    );
    assert_eq!(
        err(br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] GET / 200 3"#),
        ErrorKind::MissingRequest
    );
    assert_eq!(
        err(br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1 200 3"#),
        ErrorKind::UnterminatedRequest
    );
    assert_eq!(
        err(br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" OK 3"#),
        ErrorKind::StatusAndSize
    );
    assert_eq!(err(br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 99999999999999999999"#), ErrorKind::Size);
    assert_eq!(
        err(
            br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 9223372036854775808"#
        ),
        ErrorKind::Size
    );
    for size in [
        "999999999999999999",
        "9223372036854775807",
        "0000000000000000000000042",
    ] {
        let line =
            format!(r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 {size}"#);
        assert_eq!(ok(&line).bytes, Some(size.parse().unwrap()), "{size}");
    }
    assert_eq!(err(br#""""""""""""""""""#), ErrorKind::MissingTimestamp);
    assert_eq!(err(&[0u8; 64]), ErrorKind::MissingTimestamp);
}

#[test]
fn hostile_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let base =
        br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /a\"b HTTP/1.1" 200 3 "r" "u""#.to_vec();
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut line = base.clone();
        let n = (seed % 6) as usize + 1;
        for k in 0..n {
            let i = ((seed >> (8 * k)) as usize) % line.len();
            line[i] = (seed >> (3 * k)) as u8;
        }
        line.truncate(((seed >> 40) as usize) % (line.len() + 1));
        let mut out = Vec::new();
        if transform_value(&line, &ParseOptions::default(), &mut out).is_ok() {
            let record = parse_line(&line).unwrap();
            assert_eq!(Record::from_json(&out).expect("valid JSON"), record);
            assert_eq!(out, checked_json(&record), "{line:?}");
        }
    }
    let long = format!(
        r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /{} HTTP/1.1" 200 3"#,
        "a".repeat(128 * 1024)
    );
    assert!(parse_line(long.as_bytes()).is_ok());
}

/// The JSON of `record` with every string checked for bytes to escape.
fn checked_json(record: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_record(record, &mut out);
    out
}

#[test]
fn strings_are_copied_verbatim_only_when_no_value_needs_escaping() {
    let head = "1.2.3.4 - - [22/Jan/2019:03:56:14 +0000]";
    for (tail, verbatim) in [
        (r#""GET /a HTTP/1.1" 200 3 "-" "UA""#, true),
        (r#""GET /a HTTP/1.1" 200 3 "-" "Mozilla (truncated"#, true),
        (r#""GET /a HTTP/1.1" 200 3 "r" "u" "x" "y" 0.003"#, true),
        (r#""GET /a"b HTTP/1.1" 200 3 "-" "UA""#, false),
        (r#""GET /a\"b HTTP/1.1" 200 3 "-" "UA""#, false),
        (r#""GET /a HTTP/1.1" 200 3 "-" "U\\A""#, false),
        ("\"GET /a HTTP/1.1\" 200 3 \"-\" \"U\tA\"", false),
        (r#""GET /a HTTP/1.1" 200 3 "-" "UA" t"ail"#, false),
        (r#""GET /a HTTP/1.1" 200 3 "-" "U"A""#, false),
    ] {
        let line = format!("{head} {tail}");
        let (record, escape) = parse_for_json(line.as_bytes(), &ParseOptions::default()).unwrap();
        let want = if verbatim {
            Escape::Verbatim
        } else {
            Escape::Check
        };
        assert_eq!(escape, want, "{line}");
        let mut out = Vec::new();
        transform_value(line.as_bytes(), &ParseOptions::default(), &mut out).unwrap();
        assert_eq!(out, checked_json(&record), "{line}");
        assert_eq!(Record::from_json(&out).unwrap(), record, "{line}");
    }
    // A client field with a quote: still escaped.
    let line = r#"1.2.3"4 - - [22/Jan/2019:03:56:14 +0000] "GET /a HTTP/1.1" 200 3"#;
    let (record, escape) = parse_for_json(line.as_bytes(), &ParseOptions::default()).unwrap();
    assert_eq!(
        (escape, record.client_ip.as_ref()),
        (Escape::Check, "1.2.3\"4")
    );
}

fn shared(name: &str) -> std::path::PathBuf {
    std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../../shared/data")
    .join(name)
}

/// Every line of a real log parses, and its JSON decodes back to the same record.
fn every_line_round_trips(name: &str) -> usize {
    let file = std::fs::File::open(shared(name)).expect("../shared/data beside the repo");
    let mut out = Vec::new();
    let mut n = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.unwrap();
        let record =
            parse_line(&line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&line)));
        out.clear();
        write_record(&record, &mut out);
        let mut fast = Vec::new();
        transform_value(&line, &ParseOptions::default(), &mut fast).unwrap();
        assert_eq!(fast, out, "the transform's JSON is the checked JSON");
        let back = Record::from_json(&out).unwrap();
        assert_eq!(back, record);
        let via_serde: serde_json::Value = serde_json::to_value(&record).unwrap();
        assert_eq!(
            via_serde,
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        );
        n += 1;
    }
    n
}

#[test]
fn zanbil_log_parses_completely() {
    assert_eq!(every_line_round_trips("zanbil_first1000.log"), 1001);
}

#[test]
fn elastic_log_parses_completely() {
    assert_eq!(every_line_round_trips("elastic_apache_logs.log"), 10_000);
}
