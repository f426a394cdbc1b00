//! The access-log clock: `dd/Mon/yyyy:HH:MM:SS ±hhmm` (Apache `%t`, nginx `$time_local`) to a UTC
//! [`Timestamp`] plus the original [`UtcOffset`], and the RFC 3339 rendering used by the JSON
//! encoder. Fixed-width, byte-at-a-time, no allocation; calendar validity is checked by `chrono`.

use crate::schema::{Timestamp, UtcOffset};
use std::cell::Cell;
use std::convert::Infallible;
use std::thread::LocalKey;

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp is not in the form dd/Mon/yyyy:HH:MM:SS[.ffffff] +hhmm")]
    Layout,
    #[error("timestamp has an unknown month name")]
    Month,
    #[error("timestamp names a date that does not exist")]
    Date,
    #[error("timestamp has a time of day out of range")]
    Time,
    #[error("timestamp has a UTC offset out of range")]
    Offset,
    #[error("timestamp falls outside the years 0001 to 9999 in UTC")]
    Year,
}

/// The first and last second of the years 0001 to 9999, UTC: the instants RFC 3339 can write,
/// less year 0000, which Python's `datetime` (so pandas and polars) cannot hold and DuckDB's
/// `year()` calls 1 (1 BC). A local time on the first or last day of that range can fall outside
/// it once its offset is taken away.
pub(crate) const UTC_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
/// The last second of a day, from its midnight, in microseconds.
const LAST_SECOND: i64 = 86_399 * 1_000_000;
/// [`UTC_SECONDS`] in microseconds.
const UTC_MICROS: std::ops::RangeInclusive<i64> =
    *UTC_SECONDS.start() * 1_000_000..=*UTC_SECONDS.end() * 1_000_000;

#[cfg(test)]
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn is_leap(y: u32) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
/// 32-bit arithmetic is enough for every year of a log line (0–9999) and keeps each division by a
/// constant a multiplication on wasm32, where the 64-bit one is a library call.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = ((m + 9) % 12) as i32;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Two ASCII digits as a number.
fn two(a: u8, b: u8) -> Option<u32> {
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    (a < 10 && b < 10).then(|| u32::from(a) * 10 + u32::from(b))
}

/// A month's number from its English abbreviation, in any case.
fn month(name: [u8; 3]) -> Option<u32> {
    // `| 0x20` lowercases ASCII letters and maps no other byte onto one.
    Some(match name.map(|c| c | 0x20) {
        [b'j', b'a', b'n'] => 1,
        [b'f', b'e', b'b'] => 2,
        [b'm', b'a', b'r'] => 3,
        [b'a', b'p', b'r'] => 4,
        [b'm', b'a', b'y'] => 5,
        [b'j', b'u', b'n'] => 6,
        [b'j', b'u', b'l'] => 7,
        [b'a', b'u', b'g'] => 8,
        [b's', b'e', b'p'] => 9,
        [b'o', b'c', b't'] => 10,
        [b'n', b'o', b'v'] => 11,
        [b'd', b'e', b'c'] => 12,
        _ => return None,
    })
}

/// The longest timestamp text: `dd/Mon/yyyy:HH:MM:SS +hhmm`.
pub(crate) const CLF_TIME_LEN: usize = 26;

/// A memo of one key and its value ([`remembered`]).
type Last<K, V> = Cell<Option<(K, V)>>;

std::thread_local! {
    /// The day and offset of the last timestamp text this thread parsed (its text without the
    /// clock), and that day's local midnight as a UTC instant with the offset.
    static LAST_DAY: Last<DayKey, (Timestamp, UtcOffset)> = const { Cell::new(None) };
    /// The last timestamp text this thread parsed, and its result.
    static LAST_TIME: Last<[u8; CLF_TIME_LEN], (Timestamp, UtcOffset)> = const { Cell::new(None) };
    /// The last instant this thread formatted, its text and the text's length.
    static LAST_RFC3339: Last<Timestamp, ([u8; RFC3339_MAX], usize)> = const { Cell::new(None) };
}

/// A timestamp text without its clock: `dd/Mon/yyyy:` and ` ±hhmm`.
type DayKey = ([u8; 12], [u8; 6]);

/// The per-thread memo behind both directions: answers from `last` when `key` is the key it
/// holds, else computes, remembers and answers (an error is not remembered). A log is in time
/// order, so most lines share the previous one's day and offset (all but the first of a day), and
/// many its second.
fn remembered<K: Copy + PartialEq, V: Copy, E>(
    last: &'static LocalKey<Last<K, V>>,
    key: K,
    compute: impl FnOnce() -> Result<V, E>,
) -> Result<V, E> {
    last.with(|cell| match cell.get() {
        Some((k, v)) if k == key => Ok(v),
        _ => {
            let v = compute()?;
            cell.set(Some((key, v)));
            Ok(v)
        }
    })
}

/// Parses the text between `[` and `]`, e.g. `22/Jan/2019:03:56:14 +0330`: fixed positions,
/// read once each, no loop. A text equal to the previous one on this thread is not read again;
/// when only its clock (`HH:MM:SS`) differs, only the clock is read.
pub fn parse_clf_time(s: &[u8]) -> Result<(Timestamp, UtcOffset), TimestampError> {
    let Ok(text) = <&[u8; CLF_TIME_LEN]>::try_from(s) else {
        return read_clf_time(s);
    };
    remembered(&LAST_TIME, *text, || {
        same_day(text).map_or_else(|| read_clf_time(s), Ok)
    })
}

/// The usual 26-byte text through the day memo: the clock is read here, the day and offset
/// (with every check of theirs) by [`read_clf_time`] at midnight once per day. `None` when
/// anything is wrong: the caller reads the whole text again for the exact error.
fn same_day(text: &[u8; CLF_TIME_LEN]) -> Option<(Timestamp, UtcOffset)> {
    let [b':', h0, h1, b':', i0, i1, b':', s0, s1] = text[11..20] else {
        return None;
    };
    let (h, m, sec) = (two(h0, h1)?, two(i0, i1)?, two(s0, s1)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut day: DayKey = ([0; 12], [0; 6]);
    day.0.copy_from_slice(&text[..12]);
    day.1.copy_from_slice(&text[20..]);
    let (midnight, offset) = remembered(&LAST_DAY, day, || {
        let mut at_midnight = *text;
        at_midnight[12..20].copy_from_slice(b"00:00:00");
        // A day that can cross the years' range is not remembered: each of its texts is read
        // whole, with the range check.
        read_clf_time(&at_midnight).and_then(|(t, o)| match t.0 {
            t0 if t0 < *UTC_MICROS.start() || t0 + LAST_SECOND > *UTC_MICROS.end() => {
                Err(TimestampError::Year)
            }
            _ => Ok((t, o)),
        })
    })
    .ok()?;
    let clock = i64::from(h * 3600 + m * 60 + sec);
    Some((Timestamp(midnight.0 + clock * 1_000_000), offset))
}

fn read_clf_time(s: &[u8]) -> Result<(Timestamp, UtcOffset), TimestampError> {
    use TimestampError::*;
    // Allow a one-digit day (`2/Jan/2019`) as some servers write it.
    let (day, rest) = match *s {
        [d0, d1, b'/', ref rest @ ..] => (two(d0, d1).ok_or(Layout)?, rest),
        [d0, b'/', ref rest @ ..] => (two(b'0', d0).ok_or(Layout)?, rest),
        _ => return Err(Layout),
    };
    // A fraction of a second (`13:55:36.123`, as Apache's `%{msec_frac}t` writes it): up to six
    // digits are kept (microseconds), further ones cut; the rest is read without it.
    let mut plain = [0u8; 23];
    let (rest, micros) = match rest.get(17) {
        Some(b'.') if rest.len() >= 25 => {
            let digits = &rest[18..rest.len() - 6];
            if digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(Layout);
            }
            let padded = digits.iter().chain(std::iter::repeat(&b'0')).take(6);
            let micros = padded.fold(0, |a, &d| a * 10 + u32::from(d - b'0'));
            plain[..17].copy_from_slice(&rest[..17]);
            plain[17..].copy_from_slice(&rest[rest.len() - 6..]);
            (&plain[..], micros)
        }
        _ => (rest, 0),
    };
    // rest: Mon/yyyy:HH:MM:SS +hhmm  (23 bytes)
    let [m0, m1, m2, b'/', y0, y1, y2, y3, b':', h0, h1, b':', i0, i1, b':', s0, s1, b' ', sign, oh0, oh1, om0, om1] =
        *rest
    else {
        return Err(Layout);
    };
    let month = month([m0, m1, m2]).ok_or(Month)?;
    let year = two(y0, y1).ok_or(Layout)? * 100 + two(y2, y3).ok_or(Layout)?;
    let (h, m, sec) = (
        two(h0, h1).ok_or(Layout)?,
        two(i0, i1).ok_or(Layout)?,
        two(s0, s1).ok_or(Layout)?,
    );
    let east = match sign {
        b'+' => true,
        b'-' => false,
        _ => return Err(Layout),
    };
    let (oh, om) = (two(oh0, oh1).ok_or(Layout)?, two(om0, om1).ok_or(Layout)?);
    if day == 0 || day > days_in_month(year, month) {
        return Err(Date);
    }
    if h > 23 || m > 59 || sec > 59 {
        return Err(Time);
    }
    if oh > 23 || om > 59 {
        return Err(Offset);
    }
    let offset_min = (oh * 60 + om) as i32;
    let offset_min = if east { offset_min } else { -offset_min };
    let days = days_from_civil(year as i32, month, day);
    let local = i64::from(days) * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    let utc = local - i64::from(offset_min) * 60;
    if !UTC_SECONDS.contains(&utc) {
        return Err(Year);
    }
    // The offset's text is the log's own digits (`-0000` is written `+00:00`).
    let sign = if offset_min < 0 { b'-' } else { b'+' };
    Ok((
        Timestamp(utc * 1_000_000 + i64::from(micros)),
        UtcOffset::from_text([sign, oh0, oh1, b':', om0, om1]),
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`),
/// in 32-bit arithmetic: every [`Timestamp`] is within ±2^27 days of 1970.
fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i32::from(m <= 2), m, d)
}

/// `00` to `99`, two ASCII digits each: a two-digit field is one lookup.
static PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `v % 100` as two digits at `at`.
fn put2(buf: &mut [u8], at: usize, v: u32) {
    let pair = (v as usize % 100) * 2;
    buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
}

/// The longest RFC 3339 text [`format_rfc3339`] writes (`+294247-01-10T04:00:54.775807Z` is 30).
pub const RFC3339_MAX: usize = 32;

/// Writes `t` as RFC 3339 UTC (`2019-01-22T00:26:14Z`; a fraction only when non-zero, as many
/// digits as needed up to microseconds; a year outside 0–9999 with its sign and six digits) into
/// `buf`, and returns its length.
pub fn format_rfc3339(t: Timestamp, buf: &mut [u8; RFC3339_MAX]) -> usize {
    let secs = t.0.div_euclid(1_000_000);
    // The remainder without a second division; exact modulo 2^64 even where the product wraps.
    let micros = t.0.wrapping_sub(secs.wrapping_mul(1_000_000)) as u32;
    // Seconds from 1970 to 2106 fit in 32 bits: the common case stays in 32-bit arithmetic.
    let (days, sod) = match u32::try_from(secs) {
        Ok(s) => ((s / 86_400) as i32, s % 86_400),
        Err(_) => (
            secs.div_euclid(86_400) as i32,
            secs.rem_euclid(86_400) as u32,
        ),
    };
    let (y, m, d) = civil_from_days(days);
    let mut n = if (0..=9999).contains(&y) {
        put2(buf, 0, y as u32 / 100);
        put2(buf, 2, y as u32);
        4
    } else {
        // Every timestamp's year is within ±292,278: six digits.
        let a = y.unsigned_abs();
        buf[0] = if y < 0 { b'-' } else { b'+' };
        put2(buf, 1, a / 10_000);
        put2(buf, 3, a / 100);
        put2(buf, 5, a);
        7
    };
    buf[n..n + 15].copy_from_slice(b"-00-00T00:00:00");
    put2(buf, n + 1, m);
    put2(buf, n + 4, d);
    put2(buf, n + 7, sod / 3600);
    put2(buf, n + 10, sod / 60 % 60);
    put2(buf, n + 13, sod % 60);
    n += 15;
    if micros != 0 {
        let mut digits = [0u8; 6];
        put2(&mut digits, 0, micros / 10_000);
        put2(&mut digits, 2, micros / 100);
        put2(&mut digits, 4, micros);
        let mut width = 6;
        while digits[width - 1] == b'0' {
            width -= 1;
        }
        buf[n] = b'.';
        buf[n + 1..n + 1 + width].copy_from_slice(&digits[..width]);
        n += 1 + width;
    }
    buf[n] = b'Z';
    n + 1
}

/// Appends `t` as RFC 3339 UTC ([`format_rfc3339`]); the same instant as the previous call on
/// this thread is copied, not formatted again.
pub fn write_rfc3339(t: Timestamp, out: &mut Vec<u8>) {
    let Ok((buf, n)) = remembered(&LAST_RFC3339, t, || {
        let mut buf = [0u8; RFC3339_MAX];
        let n = format_rfc3339(t, &mut buf);
        Ok::<_, Infallible>((buf, n))
    });
    out.extend_from_slice(&buf[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc3339_memo_answers_only_for_the_same_instant() {
        // A fresh thread: the memo is empty, and instant 0 must still be formatted.
        std::thread::spawn(|| {
            let fresh = |t: Timestamp| {
                let mut buf = [0u8; RFC3339_MAX];
                let n = format_rfc3339(t, &mut buf);
                buf[..n].to_vec()
            };
            let (a, b) = (Timestamp(0), Timestamp(1_548_129_374_000_000));
            let close = Timestamp(b.0 + 1);
            for t in [a, a, b, b, close, b, a, Timestamp(-1), a] {
                let mut out = Vec::new();
                write_rfc3339(t, &mut out);
                assert_eq!(out, fresh(t), "{t:?}");
            }
        })
        .join()
        .unwrap();
    }

    fn utc(s: &str) -> String {
        let (t, o) = parse_clf_time(s.as_bytes()).unwrap();
        let mut v = Vec::new();
        write_rfc3339(t, &mut v);
        format!("{} {}", String::from_utf8(v).unwrap(), o.as_str())
    }

    #[test]
    fn converts_any_offset_to_utc() {
        assert_eq!(
            utc("22/Jan/2019:03:56:14 +0330"),
            "2019-01-22T00:26:14Z +03:30"
        );
        assert_eq!(
            utc("17/May/2015:10:05:03 +0000"),
            "2015-05-17T10:05:03Z +00:00"
        );
        assert_eq!(
            utc("31/Dec/2020:23:30:00 -0800"),
            "2021-01-01T07:30:00Z -08:00"
        );
        assert_eq!(
            utc("01/Mar/2020:01:00:00 +1400"),
            "2020-02-29T11:00:00Z +14:00"
        );
        assert_eq!(
            utc("1/Jan/1970:00:00:00 +0000"),
            "1970-01-01T00:00:00Z +00:00"
        );
        assert_eq!(
            utc("17/May/2015:10:05:03 -0000"),
            "2015-05-17T10:05:03Z +00:00"
        );
        assert_eq!(
            utc("10/oct/2000:13:55:36 -0700"),
            "2000-10-10T20:55:36Z -07:00"
        );
    }

    #[test]
    fn matches_chrono_on_a_sweep() {
        for (i, off) in [(0u32, "+0000"), (7, "-0930"), (13, "+0545")] {
            for day in [1u32, 15, 28] {
                for (month, name) in MONTHS.iter().enumerate() {
                    let name = std::str::from_utf8(&name[..]).unwrap();
                    let s = format!(
                        "{day:02}/{name}/{}:{i:02}:0{}:59 {off}",
                        1999 + month,
                        i % 10
                    );
                    let (t, _) = parse_clf_time(s.as_bytes()).unwrap();
                    let want =
                        chrono::DateTime::parse_from_str(&s, "%d/%b/%Y:%H:%M:%S %z").unwrap();
                    assert_eq!(t.0, want.timestamp_micros(), "{s}");
                }
            }
        }
    }

    #[test]
    fn calendar_matches_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for y in [1600u32, 1900, 1969, 1970, 2000, 2019, 2024, 2100, 9999] {
            for m in 1..=12 {
                let last = days_in_month(y, m);
                assert!(chrono::NaiveDate::from_ymd_opt(y as i32, m, last).is_some());
                assert!(chrono::NaiveDate::from_ymd_opt(y as i32, m, last + 1).is_none());
                let date = chrono::NaiveDate::from_ymd_opt(y as i32, m, last).unwrap();
                let days = days_from_civil(y as i32, m, last);
                assert_eq!(i64::from(days), (date - epoch).num_days());
                assert_eq!(civil_from_days(days), (y as i32, m, last));
            }
        }
    }

    #[test]
    fn the_memo_answers_only_for_the_same_text() {
        let a = b"22/Jan/2019:03:56:14 +0330";
        let b = b"22/Jan/2019:03:56:15 +0330";
        let first = parse_clf_time(a).unwrap();
        assert_eq!(parse_clf_time(a).unwrap(), first);
        assert_eq!(parse_clf_time(b).unwrap().0 .0, first.0 .0 + 1_000_000);
        assert_eq!(
            parse_clf_time(b"31/Feb/2019:03:56:15 +0330"),
            Err(TimestampError::Date)
        );
        // An error is not remembered, and the last good text still answers.
        assert_eq!(
            parse_clf_time(b"31/Feb/2019:03:56:15 +0330"),
            Err(TimestampError::Date)
        );
        assert_eq!(parse_clf_time(b).unwrap().0 .0, first.0 .0 + 1_000_000);
        assert_eq!(parse_clf_time(a).unwrap(), first);
        // A one-digit day is never looked up (its text is shorter) and still parses.
        assert_eq!(
            parse_clf_time(b"2/Jan/2019:03:56:14 +0330").unwrap().0 .0,
            first.0 .0 - 20 * 86_400 * 1_000_000
        );
    }

    #[test]
    fn the_day_memo_reads_only_the_clock_and_keeps_every_check() {
        std::thread::spawn(|| {
            let at = |s: &str| parse_clf_time(s.as_bytes());
            let fresh = |s: &str| read_clf_time(s.as_bytes());
            // Same day and offset, other clocks: each must equal a full read.
            let same_day = [
                "22/Jan/2019:03:56:14 +0330",
                "22/Jan/2019:00:00:00 +0330",
                "22/Jan/2019:23:59:59 +0330",
                "22/Jan/2019:12:34:56 +0330",
            ];
            for s in same_day {
                assert_eq!(at(s), fresh(s), "{s}");
            }
            // The day or the offset changes: the memo must not answer for the old one.
            for s in [
                "23/Jan/2019:12:34:56 +0330",
                "23/Jan/2019:12:34:56 -0330",
                "23/Feb/2019:12:34:56 -0330",
                "23/Feb/2020:12:34:56 -0330",
            ] {
                assert_eq!(at(s), fresh(s), "{s}");
            }
            // A bad clock on the remembered day gives the full read's error, and is not kept.
            for (s, e) in [
                ("23/Feb/2020:24:00:00 -0330", TimestampError::Time),
                ("23/Feb/2020:12:60:00 -0330", TimestampError::Time),
                ("23/Feb/2020:12:00:60 -0330", TimestampError::Time),
                ("23/Feb/2020:1a:00:00 -0330", TimestampError::Layout),
                ("23/Feb/2020 12:00:00 -0330", TimestampError::Layout),
                ("23/Feb/2020:12-00:00 -0330", TimestampError::Layout),
                ("30/Feb/2020:12:00:00 -0330", TimestampError::Date),
                ("23/Feb/2020:12:00:00 -2400", TimestampError::Offset),
            ] {
                assert_eq!(at(s), Err(e), "{s}");
                assert_eq!(fresh(s), Err(e), "{s}");
            }
            assert_eq!(
                at("23/Feb/2020:12:34:57 -0330"),
                fresh("23/Feb/2020:12:34:57 -0330")
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn month_names_in_any_case_and_nothing_else() {
        for (i, name) in MONTHS.iter().enumerate() {
            let want = Some(i as u32 + 1);
            assert_eq!(month(**name), want);
            assert_eq!(month(name.map(|c| c.to_ascii_uppercase())), want);
            assert_eq!(month(name.map(|c| c.to_ascii_lowercase())), want);
        }
        let mut hits = 0;
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                hits += [b'n', b'N', b'@', 0x0e, 0xce]
                    .iter()
                    .filter(|&&c| month([a, b, c]).is_some())
                    .count();
            }
        }
        assert_eq!(
            hits,
            2 * 2 * 2 * 2,
            "jan and jun: 4 cases of their first two letters, with n or N"
        );
    }

    #[test]
    fn rejects_bad_clocks() {
        use TimestampError::*;
        let e = |s: &str| parse_clf_time(s.as_bytes()).unwrap_err();
        assert_eq!(e("31/Feb/2019:00:00:00 +0000"), Date);
        assert_eq!(e("29/Feb/2019:00:00:00 +0000"), Date);
        assert_eq!(e("00/Jan/2019:00:00:00 +0000"), Date);
        assert_eq!(e("10/Foo/2019:00:00:00 +0000"), Month);
        assert_eq!(e("10/Jan/2019:24:00:00 +0000"), Time);
        assert_eq!(e("10/Jan/2019:23:60:00 +0000"), Time);
        assert_eq!(e("10/Jan/2019:23:00:00 +2400"), Offset);
        assert_eq!(e("10/Jan/2019:23:00:00 0000"), Layout);
        assert_eq!(e("10/Jan/2019 23:00:00 +0000"), Layout);
        assert_eq!(e("2019-01-10T23:00:00Z"), Layout);
        assert_eq!(e(""), Layout);
        assert_eq!(e("10/Jan/2019:23:00:00 +00000"), Layout);
    }

    #[test]
    fn renders_like_chrono() {
        for secs in [
            -86_401i64,
            -1,
            0,
            951_782_400,
            1_548_118_574,
            4_102_444_799,
            253_402_300_799,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            -62_135_596_800,
            -5_000_000_000,
        ] {
            let mut v = Vec::new();
            write_rfc3339(Timestamp(secs * 1_000_000), &mut v);
            let want = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            assert_eq!(
                String::from_utf8(v).unwrap(),
                want.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
    }

    #[test]
    fn renders_the_extremes() {
        for (t, want) in [
            (i64::MAX, "+294247-01-10T04:00:54.775807Z"),
            (i64::MIN, "-290308-12-21T19:59:05.224192Z"),
        ] {
            let mut v = Vec::new();
            write_rfc3339(Timestamp(t), &mut v);
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }

    #[test]
    fn renders_fractions_minimally() {
        let mut v = Vec::new();
        write_rfc3339(Timestamp(1_500_000), &mut v);
        assert_eq!(v, b"1970-01-01T00:00:01.5Z");
        v.clear();
        write_rfc3339(Timestamp(-1), &mut v);
        assert_eq!(v, b"1969-12-31T23:59:59.999999Z");
    }
}
