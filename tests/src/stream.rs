//! Synthetic streams for the broker tests: schema-v1 JSON records made by the real parser from
//! generated access-log lines, with event times that advance steadily (so windows close).

use accesslake_transform::{parse_line, write_record};

/// Epoch seconds of 2024-03-01T00:00:00Z, the first event time of a stream.
pub const START: i64 = 1_709_251_200;

/// Line `i` of a generated combined-format log: `per_sec` lines per second of event time.
pub fn log_line(i: u64, per_sec: u64) -> String {
    // Seconds after START; the stream stays within March 2024 (< 30 days).
    let s = i / per_sec.max(1);
    let (day, hour, min, sec) = (1 + s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let status = [200, 200, 200, 304, 404, 500][(i % 6) as usize];
    format!(
        "{ip} - - [{day:02}/Mar/2024:{hour:02}:{min:02}:{sec:02} +0000] \"GET /item/{i}?q={} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (test {})\"",
        i % 97,
        100 + i % 5000,
        i % 13
    )
}

/// The JSON record of [`log_line`] `i`, as the transform would write it.
pub fn json_record(i: u64, per_sec: u64) -> Vec<u8> {
    let line = log_line(i, per_sec);
    let rec = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
    let mut out = Vec::with_capacity(400);
    write_record(&rec, &mut out);
    out
}
