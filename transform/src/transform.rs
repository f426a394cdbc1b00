//! The transform step as plain functions over bytes: one raw log line in, one JSON record out,
//! or the reason the line was rejected. [`route`] is everything the WASM entry point (`main.rs`)
//! decides for one input record, including the memory budget that keeps the guest inside
//! Redpanda's per-transform limit; the host tests call it natively to predict the guest's output,
//! and the sink's `ingest`/`parse` call [`transform_value`] (no budget).

use crate::json::json_len;
use crate::json::Escape;
use crate::parse::{parse, ParseError, ParseOptions};

/// The header that carries the rejection reason on a dead-lettered record.
pub const ERROR_HEADER: &str = "accesslake-error";

/// The header set on a dead-lettered record whose value was cut to fit the budget: the value's
/// original length in bytes.
pub const TRUNCATED_HEADER: &str = "accesslake-truncated";

/// The default memory budget for one record, in bytes: Redpanda's default 2 MiB of linear
/// memory per transform, less 256 KiB for the module's data, its 64 KiB stack and allocator slack.
pub const DEFAULT_MEMORY_BUDGET: usize = 2048 * 1024 - 256 * 1024;

/// The largest input record set aside in every record's budget by default: 1 MiB, Redpanda's
/// default `kafka_batch_max_bytes`. The SDK reads each batch into one buffer sized to the batch's
/// largest record, before any of its records is handed over, and keeps that buffer's size for
/// the batches after it; it also keeps its output buffer at the largest payload written (about
/// twice that, from doubling). So while one record is processed, a record up to this size may
/// already be held beside it, or arrive next and need its buffer grown past what this record
/// leaves: a budget that counted only the current record trapped the guest on a 400 KB record
/// after a 190 KB parsed line, or a 600 KB one in the same batch as it.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What parsing a line can take of the guest's memory at its peak, in copies of the line, when
/// the line needs copies: invalid UTF-8 rendered as `\xHH` (four bytes per byte, in a string that
/// grows by doubling: 1 + 2 + 4 copies, the smaller ones freed but not reusable for the larger
/// allocations that follow) and then owned copies of the request and the path cut from it (4 + 4),
/// or backslash escapes (an unescaped copy, and the fields cut from it). With the line itself:
/// 16, which matches the trap seen in the test host (a 130,000-byte run of invalid bytes in a
/// URL trapped at the 2 MiB default: 16 × 130,000 is over it); 17 for a margin. The line itself
/// is one of them, counted in the input set aside ([`TransformOptions::max_record_bytes`]). A
/// clean line (UTF-8, no backslash) is parsed in place.
pub const PARSE_COPIES: usize = 17;

/// The capacity our JSON buffer keeps between records; a larger one is let go, so the memory a
/// big record took is not held while later ones run.
const KEPT_JSON_CAPACITY: usize = 64 * 1024;

/// Transform options: how to parse, and how much memory one record may take.
#[derive(Debug, Clone, Copy)]
pub struct TransformOptions {
    pub parse: ParseOptions,
    /// Bytes one record may use at its peak. Writing an output payload of `n` bytes holds the
    /// input value (`l` bytes), our JSON (exactly sized) and the SDK's copy of the payload, which
    /// grows by doubling (up to `3n` while it reallocates), so a record needs `l + 4n` bytes: a
    /// line is parsed when that fits, else dead-lettered, its value cut until it fits. `l` is
    /// at least [`TransformOptions::max_record_bytes`].
    pub memory_budget: usize,
    /// The largest input record the broker hands the transform (the input topic's
    /// `max.message.bytes`, or Redpanda's `kafka_batch_max_bytes`): the budget sets this much
    /// aside for the SDK's input buffer whatever the current record's size (see
    /// [`DEFAULT_MAX_RECORD_BYTES`]). It must be below the budget; less leaves more room for
    /// long lines.
    pub max_record_bytes: usize,
}

impl TransformOptions {
    /// The least room a record's output must have beside the input set aside: 16 KiB (four
    /// copies of it, 64 KiB, in the budget).
    pub const MIN_ROOM: usize = 64 * 1024;

    /// Checks that the budget leaves room beside the largest input record.
    pub fn check(&self) -> Result<(), String> {
        if self.memory_budget < self.max_record_bytes.saturating_add(Self::MIN_ROOM) {
            return Err(format!(
                "the memory budget ({} bytes, ACCESSLAKE_MEMORY_BUDGET) must exceed the largest \
                 input record ({} bytes, ACCESSLAKE_MAX_RECORD_BYTES) by at least {} bytes: \
                 raise the budget (and Redpanda's data_transforms_per_function_memory_limit) \
                 or lower the record size",
                self.memory_budget,
                self.max_record_bytes,
                Self::MIN_ROOM
            ));
        }
        Ok(())
    }
}

/// The transform's whole configuration, as `main.rs` reads it from the environment Redpanda
/// gives the module (`transform.yaml`'s `env`, and Redpanda's own `REDPANDA_OUTPUT_TOPIC_n`).
#[derive(Debug, Clone)]
pub struct TransformConfig {
    /// How to parse, and the memory budget.
    pub options: TransformOptions,
    /// Where rejected lines go: the second output topic (`REDPANDA_OUTPUT_TOPIC_1`).
    pub dead_letter_topic: String,
}

impl TransformConfig {
    /// Reads the configuration through `var` (an environment lookup; library code reads no
    /// environment itself): `REDPANDA_OUTPUT_TOPIC_1` (required), `ACCESSLAKE_LOG_FORMAT` (or
    /// its older name `ACCESSLAKE_FORMAT`), `ACCESSLAKE_MEMORY_BUDGET` and
    /// `ACCESSLAKE_MAX_RECORD_BYTES`. The error names the variable and what is wrong with it.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<TransformConfig, String> {
        let dead_letter_topic = var("REDPANDA_OUTPUT_TOPIC_1")
            .ok_or("needs a second output topic for rejected lines (REDPANDA_OUTPUT_TOPIC_1)")?;
        let mut options = TransformOptions::default();
        if let Some((name, format)) = ["ACCESSLAKE_LOG_FORMAT", "ACCESSLAKE_FORMAT"]
            .into_iter()
            .find_map(|name| Some((name, var(name)?)))
        {
            options.parse.format = format.parse().map_err(|e| format!("{name}: {e}"))?;
        }
        for (name, field) in [
            ("ACCESSLAKE_MEMORY_BUDGET", &mut options.memory_budget),
            ("ACCESSLAKE_MAX_RECORD_BYTES", &mut options.max_record_bytes),
        ] {
            if let Some(v) = var(name) {
                *field = v.trim().parse().map_err(|e| format!("{name}={v:?}: {e}"))?;
            }
        }
        options.check()?;
        Ok(TransformConfig {
            options,
            dead_letter_topic,
        })
    }
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            parse: ParseOptions::default(),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Where one input record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// To the first output topic; the JSON record is in the caller's buffer.
    Parsed,
    /// To the dead-letter topic, with `reason` in [`ERROR_HEADER`]. `value` is the input value,
    /// or its first bytes when it did not fit the budget (`truncated_from` is then its length).
    DeadLetter {
        reason: String,
        value: &'a [u8],
        truncated_from: Option<usize>,
    },
}

impl Route<'_> {
    /// The headers a dead letter gets after the input record's own: [`ERROR_HEADER`] with the
    /// reason, then [`TRUNCATED_HEADER`] with the original length when the value was cut.
    /// Empty for [`Route::Parsed`].
    pub fn dead_letter_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Route::Parsed => Vec::new(),
            Route::DeadLetter {
                reason,
                truncated_from,
                ..
            } => std::iter::once((ERROR_HEADER, reason.clone()))
                .chain(truncated_from.map(|n| (TRUNCATED_HEADER, n.to_string())))
                .collect(),
        }
    }
}

/// The bytes a record's key and headers take in its payload, with 16 bytes of framing (sizes) per
/// header: the `envelope` that [`route`] subtracts from the budget.
pub fn envelope_len<'h>(
    key: Option<&[u8]>,
    headers: impl IntoIterator<Item = (&'h [u8], Option<&'h [u8]>)>,
) -> usize {
    let headers = headers.into_iter();
    key.map_or(0, <[u8]>::len)
        + headers
            .map(|(k, v)| 16 + k.len() + v.map_or(0, <[u8]>::len))
            .sum::<usize>()
}

/// Parses one raw line (a trailing `\n` or `\r\n` is ignored) and writes its JSON record into
/// `out` (cleared first). On a parse error `out` is left empty and the error says why.
pub fn transform_value(
    line: &[u8],
    opts: &ParseOptions,
    out: &mut Vec<u8>,
) -> Result<(), ParseError> {
    out.clear();
    let mut escape = Escape::Check;
    let record = parse(line, opts, Some(&mut escape))?;
    record.write_json(escape, out);
    Ok(())
}

/// Decides what happens to one input record: `value` is its value, `envelope` the bytes its key
/// and headers take (they are carried over unchanged). A parsed record's JSON is left in `out`.
///
/// The JSON of a line is at most 12 bytes per input byte plus a constant (a control byte escaped
/// as `\u00XX` in both `request` and `path`), so only lines that could break the budget pay for
/// an exact count; those that fit get an exactly sized buffer, so it never grows by doubling.
pub fn route<'a>(
    value: &'a [u8],
    envelope: usize,
    opts: &TransformOptions,
    out: &mut Vec<u8>,
) -> Route<'a> {
    release_big(out);
    out.clear();
    let budget = opts.memory_budget;
    // The largest output value that fits beside the input, with four copies of the payload live.
    // The input the SDK may hold meanwhile: the largest record it can be handed, or this one.
    let held = value.len().max(opts.max_record_bytes);
    let room = (budget.saturating_sub(held) / 4).saturating_sub(envelope);
    // A long line that the parser would have to copy (see `PARSE_COPIES`) is not parsed when
    // those copies could break the budget: they come before the JSON's size is known.
    let parse_bound = value
        .len()
        .saturating_mul(PARSE_COPIES - 1)
        .saturating_add(held);
    if parse_bound > budget.saturating_sub(envelope) && needs_copies(value) {
        let reason = format!(
            "a {}-byte line with invalid UTF-8 or backslash escapes is too long to parse within \
             the transform's memory budget of {budget} bytes, {held} of them set aside for the \
             input (ACCESSLAKE_MEMORY_BUDGET, ACCESSLAKE_MAX_RECORD_BYTES)",
            value.len()
        );
        return dead_letter(value, reason, room);
    }
    let mut escape = Escape::Check;
    let reason = match parse(value, &opts.parse, Some(&mut escape)) {
        Ok(record) => {
            let bound = value.len().saturating_mul(12).saturating_add(1024);
            let len = if bound > room { json_len(&record) } else { 0 };
            if len <= room {
                if len > 0 {
                    out.shrink_to(len);
                    out.reserve_exact(len);
                }
                record.write_json(escape, out);
                return Route::Parsed;
            }
            format!(
                "the {len}-byte JSON record of a {}-byte line does not fit the transform's \
                 memory budget of {budget} bytes, {held} of them set aside for the input \
                 (ACCESSLAKE_MEMORY_BUDGET, ACCESSLAKE_MAX_RECORD_BYTES)",
                value.len()
            )
        }
        Err(e) => e.to_string(),
    };
    dead_letter(value, reason, room)
}

/// Lets go of a JSON buffer grown past what is kept between records. The entry point calls this
/// once the record is written, before the SDK reads the next batch (and perhaps grows its input
/// buffer): a big buffer freed only at the next [`route`] would still be held then.
pub fn release_big(out: &mut Vec<u8>) {
    if out.capacity() > KEPT_JSON_CAPACITY {
        *out = Vec::new();
    }
}

/// The log line for a record no output took (the callback must not fail, so the record is
/// dropped): what identifies it without printing its bytes, and the write error.
pub fn drop_notice(
    timestamp: std::time::SystemTime,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    error: &dyn std::fmt::Display,
) -> String {
    let ms = timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let size = |b: Option<&[u8]>| b.map_or(0, <[u8]>::len);
    format!(
        "accesslake-transform: dropping the record of timestamp {ms} ms ({} key bytes, {} value \
         bytes): write failed: {error}",
        size(key),
        size(value)
    )
}

/// Whether parsing `line` makes copies of it: invalid UTF-8 or a backslash.
fn needs_copies(line: &[u8]) -> bool {
    memchr::memchr(b'\\', line).is_some() || simdutf8::basic::from_utf8(line).is_err()
}

/// `value` to the dead-letter topic with `reason`, cut to what fits in `room` bytes of output.
fn dead_letter(value: &[u8], reason: String, room: usize) -> Route<'_> {
    // The reason header and a little framing come out of the room too.
    let room = room.saturating_sub(reason.len() + ERROR_HEADER.len() + TRUNCATED_HEADER.len() + 64);
    if value.len() <= room {
        Route::DeadLetter {
            reason,
            value,
            truncated_from: None,
        }
    } else {
        Route::DeadLetter {
            reason,
            value: &value[..room],
            truncated_from: Some(value.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dropped_record_is_named_by_timestamp_and_sizes() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let notice = super::drop_notice(at, Some(b"k1"), Some(b"a line"), &"no space");
        assert_eq!(
            notice,
            "accesslake-transform: dropping the record of timestamp 1700000000123 ms (2 key \
             bytes, 6 value bytes): write failed: no space"
        );
        let before_epoch = std::time::UNIX_EPOCH - std::time::Duration::from_secs(1);
        assert!(super::drop_notice(before_epoch, None, None, &"x")
            .contains("timestamp 0 ms (0 key bytes, 0 value bytes)"));
    }

    use super::*;
    use crate::parse::Format;

    const LINE: &[u8] =
        b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET /a?b=c HTTP/1.1\" 200 5 \"-\" \"curl\"";

    #[test]
    fn a_line_within_budget_is_parsed_like_transform_value() {
        let mut want = Vec::new();
        transform_value(LINE, &ParseOptions::default(), &mut want).unwrap();
        let mut got = Vec::new();
        let opts = TransformOptions::default();
        assert_eq!(route(LINE, 10, &opts, &mut got), Route::Parsed);
        assert_eq!(got, want);
        // A budget that only just fits still parses: the count is exact.
        let tight = TransformOptions {
            memory_budget: LINE.len() + 4 * (want.len() + 10),
            max_record_bytes: 0,
            ..opts
        };
        assert_eq!(route(LINE, 10, &tight, &mut got), Route::Parsed);
        assert_eq!(got, want);
        assert_eq!(got.capacity(), want.len(), "sized exactly, no doubling");
    }

    #[test]
    fn over_budget_goes_to_the_dead_letter_topic_with_the_reason() {
        let opts = TransformOptions {
            memory_budget: 900,
            max_record_bytes: 0,
            ..TransformOptions::default()
        };
        let mut out = Vec::new();
        match route(LINE, 0, &opts, &mut out) {
            Route::DeadLetter {
                reason,
                value,
                truncated_from,
            } => {
                assert!(reason.contains("memory budget of 900 bytes"), "{reason}");
                assert_eq!(truncated_from, Some(LINE.len()), "the value was cut to fit");
                assert!(value.len() < LINE.len() && LINE.starts_with(value));
            }
            r => panic!("{r:?}"),
        }
        assert!(out.is_empty());
    }

    #[test]
    fn the_configuration_is_read_from_the_environment() {
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            TransformConfig::from_env(|name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        let dlq = ("REDPANDA_OUTPUT_TOPIC_1", "requests.dlq");
        let c = from(&[dlq]).unwrap();
        assert_eq!(c.dead_letter_topic, "requests.dlq");
        assert_eq!(c.options.parse.format, Format::Auto);
        assert_eq!(c.options.memory_budget, DEFAULT_MEMORY_BUDGET);
        assert_eq!(c.options.max_record_bytes, DEFAULT_MAX_RECORD_BYTES);
        let c = from(&[
            dlq,
            ("ACCESSLAKE_FORMAT", "common"),
            ("ACCESSLAKE_LOG_FORMAT", "VHOST_COMBINED"),
            ("ACCESSLAKE_MEMORY_BUDGET", "4194304"),
            ("ACCESSLAKE_MAX_RECORD_BYTES", " 2097152 "),
        ])
        .unwrap();
        assert_eq!(
            c.options.parse.format,
            Format::VhostCombined,
            "the new name wins"
        );
        assert_eq!(
            (c.options.memory_budget, c.options.max_record_bytes),
            (4 << 20, 2 << 20)
        );
        let c = from(&[dlq, ("ACCESSLAKE_FORMAT", "clf")]).unwrap();
        assert_eq!(
            c.options.parse.format,
            Format::Common,
            "the old name is still read"
        );
        for (vars, said) in [
            (&[][..], "REDPANDA_OUTPUT_TOPIC_1"),
            (
                &[dlq, ("ACCESSLAKE_LOG_FORMAT", "json")][..],
                "ACCESSLAKE_LOG_FORMAT",
            ),
            (
                &[dlq, ("ACCESSLAKE_MEMORY_BUDGET", "2M")][..],
                "ACCESSLAKE_MEMORY_BUDGET=\"2M\"",
            ),
            (
                &[dlq, ("ACCESSLAKE_MAX_RECORD_BYTES", "-1")][..],
                "ACCESSLAKE_MAX_RECORD_BYTES",
            ),
            (
                &[dlq, ("ACCESSLAKE_MAX_RECORD_BYTES", "2000000")][..],
                "must exceed",
            ),
        ] {
            let e = from(vars).unwrap_err();
            assert!(e.contains(said), "{vars:?}: {e}");
        }
    }

    #[test]
    fn a_dead_letter_keeps_its_value_unless_it_cannot_fit() {
        let mut out = Vec::new();
        let opts = TransformOptions::default();
        let bad = b"not a log line";
        assert!(matches!(
            route(bad, 0, &opts, &mut out),
            Route::DeadLetter { value, truncated_from: None, .. } if value == bad
        ));
        let huge = vec![b'x'; 1024 * 1024];
        match route(&huge, 1000, &opts, &mut out) {
            Route::DeadLetter {
                value,
                truncated_from,
                ..
            } => {
                assert_eq!(truncated_from, Some(huge.len()));
                let used = huge.len() + 4 * (value.len() + 1000);
                assert!(used <= DEFAULT_MEMORY_BUDGET && used > DEFAULT_MEMORY_BUDGET - 4096);
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_long_line_the_parser_would_copy_is_dead_lettered_unparsed() {
        let opts = TransformOptions::default();
        let mut out = Vec::new();
        let reason = |r: Route| match r {
            Route::DeadLetter { reason, .. } => reason,
            Route::Parsed => "parsed".into(),
        };
        // Long runs of invalid UTF-8, or of escapes, in an otherwise valid line.
        let with = |fill: &[u8], n: usize| {
            let mut line = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET /".to_vec();
            line.extend(fill.iter().cycle().take(n));
            line.extend_from_slice(b" HTTP/1.1\" 200 5 \"-\" \"curl\"");
            line
        };
        // At the default budget, with 1 MiB set aside for the input, the bound is 49,152 bytes.
        for fill in [&b"\xff"[..], br"\\"] {
            let line = with(fill, 60_000);
            let r = reason(route(&line, 0, &opts, &mut out));
            assert!(r.contains("too long to parse"), "{r}");
            // Below the bound it is parsed as before (and dead-lettered only if its JSON is
            // too big).
            let line = with(fill, 40_000);
            let r = reason(route(&line, 0, &opts, &mut out));
            assert!(!r.contains("too long to parse"), "{r}");
        }
        // A clean line of the same length is parsed in place, with no such check.
        let line = with(b"a", 60_000);
        assert_eq!(route(&line, 0, &opts, &mut out), Route::Parsed);
        // A big JSON buffer is let go: by `release_big`, or at the next record.
        assert!(out.capacity() > KEPT_JSON_CAPACITY);
        release_big(&mut out);
        assert_eq!(out.capacity(), 0);
        assert_eq!(route(&line, 0, &opts, &mut out), Route::Parsed);
        assert_eq!(route(LINE, 0, &opts, &mut out), Route::Parsed);
        assert!(out.capacity() <= KEPT_JSON_CAPACITY);
    }

    #[test]
    fn the_largest_input_record_is_set_aside_in_every_budget() {
        let mut out = Vec::new();
        // A 150 KB path: its JSON (request and path) is about 300 KB, which does not fit beside
        // the 1 MiB set aside by default, but does beside a 256 KiB one.
        let mut line = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 150_000));
        line.extend_from_slice(b" HTTP/1.1\" 200 5 \"-\" \"curl\"");
        let opts = TransformOptions::default();
        match route(&line, 0, &opts, &mut out) {
            Route::DeadLetter {
                reason,
                value,
                truncated_from,
            } => {
                assert!(reason.contains("1048576 of them set aside"), "{reason}");
                assert_eq!((value, truncated_from), (&line[..], None), "kept whole");
            }
            r => panic!("{r:?}"),
        }
        let small = TransformOptions {
            max_record_bytes: 256 * 1024,
            ..opts
        };
        assert_eq!(route(&line, 0, &small, &mut out), Route::Parsed);
        // A record over the size set aside counts at its own size.
        let big = vec![b'x'; 1536 * 1024];
        match route(&big, 0, &opts, &mut out) {
            Route::DeadLetter { value, .. } => {
                assert!(big.len() + 4 * value.len() <= DEFAULT_MEMORY_BUDGET)
            }
            r => panic!("{r:?}"),
        }
        // Settings that leave no room are refused.
        assert!(opts.check().is_ok() && small.check().is_ok());
        let none = TransformOptions {
            max_record_bytes: DEFAULT_MEMORY_BUDGET,
            ..opts
        };
        assert!(none
            .check()
            .unwrap_err()
            .contains("ACCESSLAKE_MAX_RECORD_BYTES"));
    }
}
