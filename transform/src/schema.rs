//! The record schema (v1): the one definition that names every field of a parsed access-log line.
//!
//! [`Record`] is declared once, through the `schema!` macro below; the macro derives from that one
//! declaration the JSON field names (serde uses the field idents), the ordered column list
//! [`Record::FIELDS`] with each column's [`Kind`], and [`Record::values`], which the JSON encoder
//! and the sink's Parquet writer both walk. Adding a field here adds it everywhere.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The schema version written by this crate.
pub const SCHEMA_VERSION: u32 = 1;

/// A column's logical type, shared by JSON and Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An instant, UTC, microsecond precision (RFC 3339 `Z` string in JSON).
    Timestamp,
    /// UTF-8 text.
    Str,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
}

/// One column: its name (the JSON key and the Parquet column name), type and nullability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

/// A borrowed view of one field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'r> {
    Timestamp(i64),
    Str(Option<&'r str>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

/// Maps a Rust field type to its column kind and value view.
pub trait Column {
    const KIND: Kind;
    const NULLABLE: bool;
    fn value(&self) -> Value<'_>;
}

impl Column for Option<Cow<'_, str>> {
    const KIND: Kind = Kind::Str;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Str(self.as_deref())
    }
}
impl Column for Cow<'_, str> {
    const KIND: Kind = Kind::Str;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Str(Some(self))
    }
}
impl Column for Option<String> {
    const KIND: Kind = Kind::Str;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Str(self.as_deref())
    }
}
impl Column for Option<u16> {
    const KIND: Kind = Kind::Int32;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Int(self.map(i64::from))
    }
}
impl Column for Option<i32> {
    const KIND: Kind = Kind::Int32;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Int(self.map(i64::from))
    }
}
impl Column for Option<u32> {
    const KIND: Kind = Kind::Int64;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Int(self.map(i64::from))
    }
}
impl Column for Option<i64> {
    const KIND: Kind = Kind::Int64;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}
impl Column for i32 {
    const KIND: Kind = Kind::Int32;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Int(Some(i64::from(*self)))
    }
}
impl Column for i64 {
    const KIND: Kind = Kind::Int64;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Int(Some(*self))
    }
}
impl Column for Option<f64> {
    const KIND: Kind = Kind::Float64;
    const NULLABLE: bool = true;
    fn value(&self) -> Value<'_> {
        Value::Float(*self)
    }
}
impl Column for bool {
    const KIND: Kind = Kind::Bool;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Bool(Some(*self))
    }
}

/// Declares a struct whose fields are columns, and derives `FIELDS` and `values()` from it.
/// Used for [`Record`] here and for the sink's enrichment columns, so each column list exists once.
#[macro_export]
macro_rules! schema {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$smeta])*
        pub struct $name $(<$lt>)? { $( $(#[$fmeta])* pub $field: $ty ),* }

        impl $(<$lt>)? $name $(<$lt>)? {
            /// The columns, in order: names, kinds, nullability.
            pub const FIELDS: &'static [$crate::schema::Field] = &[
                $( $crate::schema::Field {
                    name: stringify!($field),
                    kind: <$ty as $crate::schema::Column>::KIND,
                    nullable: <$ty as $crate::schema::Column>::NULLABLE,
                } ),*
            ];

            /// Every field's value, in [`Self::FIELDS`] order.
            pub fn values(&self) -> [$crate::schema::Value<'_>; [$(stringify!($field)),*].len()] {
                [ $( $crate::schema::Column::value(&self.$field) ),* ]
            }

            /// Appends this value as one JSON object, keys in [`Self::FIELDS`] order. Unrolled
            /// per field: each key is a constant and each value's kind is known here.
            pub fn write_json<S: $crate::json::Sink>(&self, escape: $crate::json::Escape, out: &mut S) {
                $crate::__json_fields!(self, escape, out; $($field),*);
                out.push(b'}');
            }
        }
    };
}

/// The fields of a `schema!` struct written one by one, the first opening the object.
#[doc(hidden)]
#[macro_export]
macro_rules! __json_fields {
    ($self:ident, $escape:ident, $out:ident; $first:ident $(, $rest:ident)*) => {
        $crate::json::write_field($out, &$crate::__json_key!("{", $first),
            $crate::schema::Column::value(&$self.$first), $escape);
        $( $crate::json::write_field($out, &$crate::__json_key!(",", $rest),
            $crate::schema::Column::value(&$self.$rest), $escape); )*
    };
}

/// The constant texts before a field's value ([`crate::json::Key`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __json_key {
    ($sep:literal, $field:ident) => {
        $crate::json::Key {
            bare: concat!($sep, "\"", stringify!($field), "\":"),
            quoted: concat!($sep, "\"", stringify!($field), "\":\""),
            null: concat!($sep, "\"", stringify!($field), "\":null"),
        }
    };
}

/// An instant in UTC, as microseconds since the Unix epoch. JSON: RFC 3339 with `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds since the epoch (floor).
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// Formats as RFC 3339 UTC, e.g. `2019-01-22T00:26:14Z` (fraction only when non-zero).
    pub fn to_rfc3339(self) -> String {
        let mut s = String::with_capacity(27);
        self.write_rfc3339(&mut s);
        s
    }
    /// Appends the RFC 3339 form to `out`.
    pub fn write_rfc3339(self, out: &mut String) {
        let mut buf = Vec::with_capacity(27);
        crate::timestamp::write_rfc3339(self, &mut buf);
        out.push_str(&String::from_utf8_lossy(&buf));
    }
    /// Parses RFC 3339 (any offset) into UTC; `None` also for an instant outside the years
    /// 0001 to 9999 in UTC (`9999-12-31T23:30:00-01:00`), as the log parser refuses them.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
        // chrono reads a leap second (`23:59:60`) as the second before, with a fraction of 1 s
        // or more; the log parser refuses second 60, so a record holding it was not written by it.
        if chrono::Timelike::nanosecond(&t) >= 1_000_000_000 {
            return None;
        }
        crate::timestamp::UTC_SECONDS
            .contains(&t.timestamp())
            .then(|| Timestamp(t.timestamp_micros()))
    }
}

impl Column for Timestamp {
    const KIND: Kind = Kind::Timestamp;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Timestamp(self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Cow<'de, str> = Deserialize::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {s:?}")))
    }
}

/// A UTC offset as written in the log (`+0330`), kept as `+03:30`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    text: [u8; 6],
}

impl UtcOffset {
    /// `+00:00`.
    pub const UTC: UtcOffset = UtcOffset { text: *b"+00:00" };

    /// From a signed number of minutes east of UTC (|minutes| < 100 hours).
    pub fn from_minutes(minutes: i32) -> UtcOffset {
        let sign = if minutes < 0 { b'-' } else { b'+' };
        let m = minutes.unsigned_abs();
        let (h, mm) = ((m / 60).min(99), m % 60);
        UtcOffset {
            text: [
                sign,
                b'0' + (h / 10) as u8,
                b'0' + (h % 10) as u8,
                b':',
                b'0' + (mm / 10) as u8,
                b'0' + (mm % 10) as u8,
            ],
        }
    }
    /// From text already checked to be `±hh:mm` with hours below 100 and minutes below 60
    /// (as the timestamp parser has done).
    pub(crate) fn from_text(text: [u8; 6]) -> UtcOffset {
        UtcOffset { text }
    }
    /// Minutes east of UTC.
    pub fn minutes(&self) -> i32 {
        let d = |i: usize| i32::from(self.text[i] - b'0');
        let m = (d(1) * 10 + d(2)) * 60 + d(4) * 10 + d(5);
        if self.text[0] == b'-' {
            -m
        } else {
            m
        }
    }
    pub fn as_str(&self) -> &str {
        // Built only from ASCII digits and signs.
        std::str::from_utf8(&self.text).unwrap_or("+00:00")
    }
    /// Parses `+03:30` or `+0330`, within the range the log parser accepts (hours to 23,
    /// minutes to 59).
    pub fn parse(s: &str) -> Option<UtcOffset> {
        let (sign, hh, mm) = match s.as_bytes() {
            [sign, h1, h2, b':', m1, m2] | [sign, h1, h2, m1, m2] => {
                (*sign, [*h1, *h2], [*m1, *m2])
            }
            _ => return None,
        };
        let sign = match sign {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let two = |d: [u8; 2]| {
            d.iter()
                .all(u8::is_ascii_digit)
                .then(|| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
        };
        let (h, m) = (two(hh)?, two(mm)?);
        (h <= 23 && m <= 59).then(|| UtcOffset::from_minutes(sign * (h * 60 + m)))
    }
}

impl fmt::Debug for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Column for UtcOffset {
    const KIND: Kind = Kind::Str;
    const NULLABLE: bool = false;
    fn value(&self) -> Value<'_> {
        Value::Str(Some(self.as_str()))
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Cow<'de, str> = Deserialize::deserialize(d)?;
        UtcOffset::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid UTC offset {s:?}")))
    }
}

crate::schema! {
    /// One parsed access-log line (schema v1). Absent values and `-` are `None` (JSON `null`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Record<'a> {
        /// When the request was logged, UTC.
        pub time: Timestamp,
        /// The offset the log line was written with, e.g. `+03:30`.
        pub utc_offset: UtcOffset,
        /// The client address as logged (IPv4, IPv6 or a host name).
        #[serde(borrow)]
        pub client_ip: Cow<'a, str>,
        /// The virtual host (`vhost_combined`), with its port if logged.
        #[serde(borrow, default)]
        pub vhost: Option<Cow<'a, str>>,
        /// RFC 1413 identity (almost always `-`).
        #[serde(borrow, default)]
        pub ident: Option<Cow<'a, str>>,
        /// The authenticated user.
        #[serde(borrow, default)]
        pub user: Option<Cow<'a, str>>,
        /// The request line exactly as logged (unescaped); `None` for `"-"`.
        #[serde(borrow, default)]
        pub request: Option<Cow<'a, str>>,
        /// The request method, when the request line is well formed.
        #[serde(borrow, default)]
        pub method: Option<Cow<'a, str>>,
        /// The path, without the query string (and without the scheme and host of an
        /// absolute-form target such as `http://host/a`).
        #[serde(borrow, default)]
        pub path: Option<Cow<'a, str>>,
        /// The query string, without `?`.
        #[serde(borrow, default)]
        pub query: Option<Cow<'a, str>>,
        /// The protocol, e.g. `HTTP/1.1`.
        #[serde(borrow, default)]
        pub protocol: Option<Cow<'a, str>>,
        /// The HTTP status.
        #[serde(default)]
        pub status: Option<u16>,
        /// Response size in bytes.
        #[serde(default)]
        pub bytes: Option<i64>,
        /// The Referer header.
        #[serde(borrow, default)]
        pub referrer: Option<Cow<'a, str>>,
        /// The User-Agent header.
        #[serde(borrow, default)]
        pub user_agent: Option<Cow<'a, str>>,
        /// The first extra quoted field after the user agent (nginx `$http_x_forwarded_for`).
        #[serde(borrow, default)]
        pub forwarded_for: Option<Cow<'a, str>>,
    }
}

impl<'a> Record<'a> {
    /// Decodes one JSON record (as written by [`crate::json::write_record`]), borrowing from `json`.
    /// A value the parser never writes is a schema error too: an empty client, a negative size,
    /// a status over three digits.
    pub fn from_json(json: &'a [u8]) -> Result<Record<'a>, serde_json::Error> {
        use serde::de::Error;
        let r: Record = serde_json::from_slice(json)?;
        if r.client_ip.is_empty() {
            return Err(serde_json::Error::custom("client_ip is empty"));
        }
        // Spaces end the field in a log line: the parser never writes one in it.
        if r.client_ip.contains(' ') {
            return Err(serde_json::Error::custom("client_ip holds a space"));
        }
        if let Some(b) = r.bytes.filter(|&b| b < 0) {
            return Err(serde_json::Error::custom(format!(
                "bytes is negative ({b})"
            )));
        }
        if let Some(s) = r.status.filter(|&s| s > 999) {
            return Err(serde_json::Error::custom(format!(
                "status has over three digits ({s})"
            )));
        }
        Ok(r)
    }

    /// Copies every borrowed field so the record outlives its input.
    pub fn into_owned(self) -> Record<'static> {
        fn own(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(|c| Cow::Owned(c.into_owned()))
        }
        Record {
            time: self.time,
            utc_offset: self.utc_offset,
            client_ip: Cow::Owned(self.client_ip.into_owned()),
            vhost: own(self.vhost),
            ident: own(self.ident),
            user: own(self.user),
            request: own(self.request),
            method: own(self.method),
            path: own(self.path),
            query: own(self.query),
            protocol: own(self.protocol),
            status: self.status,
            bytes: self.bytes,
            referrer: own(self.referrer),
            user_agent: own(self.user_agent),
            forwarded_for: own(self.forwarded_for),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_parser_never_writes_are_schema_errors() {
        let line = b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5";
        let mut json = Vec::new();
        crate::transform_value(line, &crate::ParseOptions::default(), &mut json).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(Record::from_json(text.as_bytes()).is_ok());
        for (from, to, why) in [
            (
                "\"client_ip\":\"1.2.3.4\"",
                "\"client_ip\":\"\"",
                "client_ip is empty",
            ),
            (
                "\"client_ip\":\"1.2.3.4\"",
                "\"client_ip\":\" \"",
                "client_ip holds a space",
            ),
            ("\"bytes\":5", "\"bytes\":-5", "bytes is negative (-5)"),
            (
                "\"status\":200",
                "\"status\":1000",
                "status has over three digits (1000)",
            ),
        ] {
            assert!(text.contains(from), "{text}");
            let bad = text.replace(from, to);
            let e = Record::from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(e.classify(), serde_json::error::Category::Data);
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn fields_follow_the_declaration() {
        let names: Vec<&str> = Record::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names[0], "time");
        assert_eq!(names[2], "client_ip");
        assert_eq!(names.last(), Some(&"forwarded_for"));
        assert_eq!(names.len(), 16);
        assert_eq!(Record::FIELDS[11].kind, Kind::Int32);
        assert_eq!(Record::FIELDS[12].kind, Kind::Int64);
    }

    #[test]
    fn offsets_round_trip() {
        for (m, s) in [
            (210, "+03:30"),
            (-480, "-08:00"),
            (0, "+00:00"),
            (-30, "-00:30"),
        ] {
            let o = UtcOffset::from_minutes(m);
            assert_eq!(o.as_str(), s);
            assert_eq!(o.minutes(), m);
            assert_eq!(UtcOffset::parse(s), Some(o));
            assert_eq!(UtcOffset::parse(&s.replace(':', "")), Some(o));
        }
        assert_eq!(UtcOffset::parse("0330"), None);
        assert_eq!(UtcOffset::parse("+03:75"), None);
        for bad in [
            "+99:59",
            "+24:00",
            "+:0:3:3:0:",
            "+03:3:0",
            "+3:30",
            "+03:30:",
            "±03:30",
        ] {
            assert_eq!(UtcOffset::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_format_as_utc() {
        let t = Timestamp(1_548_118_574_000_000);
        assert_eq!(t.to_rfc3339(), "2019-01-22T00:56:14Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2019-01-22T04:26:14+03:30"),
            Some(t)
        );
        assert_eq!(Timestamp(1_500_000).to_rfc3339(), "1970-01-01T00:00:01.5Z");
        // Instants outside the years 0001-9999 in UTC are refused, as the log parser does.
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:30:00-01:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("0001-01-01T00:30:00+01:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("0000-06-01T00:00:00Z"), None);
        // Second 60, which the log parser refuses, and which would carry 9999 into year 10000.
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:60Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("2019-01-22T00:10:60.5Z"), None);
        assert!(Timestamp::parse_rfc3339("2019-01-22T00:10:59.999999Z").is_some());
        assert!(Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").is_some());
        assert!(Timestamp::parse_rfc3339("0001-01-01T00:00:00Z").is_some());
    }
}
