//! The report as text for a terminal: one block per section, aligned columns, bar glyphs,
//! and every string from the logs made terminal-safe (control characters and bidirectional
//! overrides escaped, long values cut).

use crate::query::TimeRange;
use crate::query_format::{fit, pad, terminal_safe};
use crate::report::{rfc3339, Limits, Report};
use std::fmt::Write as _;

/// `1234567` → `1.2 MB` style sizes.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    if saturated(b) {
        return "≥ 9223.4 PB".into();
    }
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    match u {
        0 => format!("{b} B"),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

/// An hour label, `2019-01-22 03:00`.
pub fn hour_label(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:00").to_string())
        .unwrap_or_default()
}

/// Text safe for a terminal (control characters escaped), cut to `max` terminal columns.
fn cell(s: Option<&str>, none: &str, max: usize) -> String {
    let Some(s) = s else { return none.to_string() };
    fit(&terminal_safe(s), max)
}

/// [`cell`], padded to exactly `width` terminal columns (`format!`'s `{:<N}` counts characters,
/// and a CJK character takes two columns).
fn column(s: Option<&str>, none: &str, width: usize) -> String {
    pad(&cell(s, none, width), width, false)
}

fn bar(v: u64, max: u64, width: usize) -> String {
    let n = if max == 0 {
        0
    } else {
        ((v as f64 / max as f64) * width as f64).round() as usize
    };
    "█".repeat(n.max(usize::from(v > 0)))
}

/// Whether a byte figure is the saturated `i64::MAX`: the true sum is that or more.
pub fn saturated(bytes: u64) -> bool {
    bytes >= i64::MAX as u64
}

/// A share of the byte total, `  n/a` when the total saturated (the true one is unknown).
fn byte_pct(v: u64, total: u64) -> String {
    match saturated(total) {
        true => "  n/a".into(),
        false => format!("{:>5.1}%", pct(v, total)),
    }
}

fn pct(v: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * v as f64 / total as f64
    }
}

/// Renders the report for a terminal.
pub fn render(r: &Report, limits: Limits) -> String {
    let mut s = String::new();
    let t = &r.totals;
    let span = match (t.first, t.last) {
        (Some(a), Some(b)) => format!("{} … {}", rfc3339(a), rfc3339(b)),
        _ => "no rows".into(),
    };
    let files = if r.files == 1 { "file" } else { "files" };
    let _ = writeln!(s, "accesslake report — {} {files}, {span}", r.files);
    if r.range != TimeRange::default() {
        let end = |v: Option<i64>| v.map(rfc3339).unwrap_or_else(|| "…".into());
        let _ = writeln!(s, "range: [{}, {})", end(r.range.from), end(r.range.to));
    }
    let _ = writeln!(
        s,
        "{} requests, {} ({} bytes)\n",
        t.requests,
        human_bytes(t.bytes),
        t.bytes
    );

    let _ = writeln!(s, "== Requests by country ==");
    let max = r.countries.first().map_or(0, |c| c.requests);
    for c in r.countries.iter().take(limits.top) {
        let name = crate::report::country_label(c.country_code.as_deref(), c.country.as_deref());
        let _ = writeln!(
            s,
            "  {} {:>10} {:>5.1}%  {}",
            column(Some(&name), "", 28),
            c.requests,
            pct(c.requests, t.requests),
            bar(c.requests, max, 30)
        );
        for city in r.cities_of(c) {
            let place = city.place();
            let _ = writeln!(
                s,
                "      {} {:>10}",
                column(Some(&place), "", 24),
                city.requests
            );
        }
    }
    if let Some((requests, _, more)) = crate::report::other_countries(&r.countries, limits.top) {
        let _ = writeln!(s, "  {:<28} {:>10}  ({more})", "(others)", requests);
    }

    let _ = writeln!(s, "\n== Requests by status code ==");
    let max = r.status_codes.iter().map(|c| c.requests).max().unwrap_or(0);
    for c in &r.status_codes {
        let code = c.status.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            s,
            "  {code:>5} {:>10} {:>5.1}%  {}",
            c.requests,
            pct(c.requests, t.requests),
            bar(c.requests, max, 40)
        );
    }

    let _ = writeln!(s, "\n== Status classes and bandwidth per hour (UTC) ==");
    let _ = writeln!(
        s,
        "  {:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10}",
        "hour", "requests", "1xx", "2xx", "3xx", "4xx", "5xx", "other", "bytes"
    );
    for h in &r.hourly {
        let c = h.classes;
        let _ = writeln!(
            s,
            "  {:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10}",
            hour_label(h.hour_start),
            h.requests,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            human_bytes(h.bytes)
        );
    }

    let _ = writeln!(
        s,
        "\n== Non-200 responses by client address ({} responses to {} addresses) ==",
        r.non_200_requests, r.non_200_clients_total
    );
    let _ = writeln!(
        s,
        "  {:<39} {:>8}  {:<10} {:<28} {:<20} statuses",
        "client", "requests", "ASN", "AS organisation", "country"
    );
    for c in &r.non_200_clients {
        let asn = c.asn.map_or("-".into(), |a| format!("AS{a}"));
        let country = match (&c.country_code, &c.country) {
            (Some(code), Some(n)) => format!("{code} {n}"),
            (Some(code), None) => code.clone(),
            _ => "-".into(),
        };
        let statuses: Vec<String> = c
            .statuses
            .iter()
            .map(|v| v.map_or("-".into(), |v| v.to_string()))
            .collect();
        let _ = writeln!(
            s,
            "  {} {:>8}  {:<10} {} {} {}",
            column(Some(&c.client_ip), "", 39),
            c.requests,
            asn,
            column(c.as_org.as_deref(), "-", 28),
            column(Some(&country), "-", 20),
            statuses.join(",")
        );
    }

    for (title, rows, none) in [
        ("Top paths", &r.top_paths, "(no path)"),
        ("Top referrers", &r.top_referrers, "-"),
    ] {
        let _ = writeln!(s, "\n== {title} ==");
        for k in rows {
            let _ = writeln!(
                s,
                "  {:>10} {:>10}  {}",
                k.requests,
                human_bytes(k.bytes),
                cell(k.key.as_deref(), none, 100)
            );
        }
    }
    let _ = writeln!(s, "  {:>10} requests without a referrer", r.no_referrer);

    let _ = writeln!(s, "\n== Bots vs humans ==");
    for x in &r.traffic {
        let who = match x.is_bot {
            Some(true) => "bots",
            Some(false) => "humans",
            None => "unknown",
        };
        let _ = writeln!(
            s,
            "  {who:<8} {:>10} requests ({:>5.1}%)  {:>10} ({})",
            x.requests,
            pct(x.requests, t.requests),
            human_bytes(x.bytes),
            byte_pct(x.bytes, t.bytes)
        );
    }

    let _ = writeln!(s, "\n== Busiest hours of the day (UTC) ==");
    let max = r
        .busiest_hours
        .iter()
        .map(|h| h.requests)
        .max()
        .unwrap_or(0);
    for h in &r.busiest_hours {
        let _ = writeln!(
            s,
            "  {:02}:00 {:>10} {:>10}  {}",
            h.hour,
            h.requests,
            human_bytes(h.bytes),
            bar(h.requests, max, 40)
        );
    }

    let d = &r.rejected;
    let _ = writeln!(
        s,
        "\n== Rejected lines (dead letters, the whole lake: they have no time of their own) =="
    );
    if d.lines == 0 && d.unreadable_files == 0 {
        let _ = writeln!(s, "  none");
    }
    if d.lines > 0 {
        let _ = writeln!(
            s,
            "  {} in {} file(s) under _accesslake/rejected/, by reason:",
            d.lines, d.files
        );
    }
    for (reason, n) in &d.reasons {
        let _ = writeln!(s, "  {n:>10}  {}", cell(Some(reason), "", 100));
    }
    let other = d.other();
    if other > 0 {
        let _ = writeln!(s, "  {other:>10}  (other reasons)");
    }
    if d.unreadable > 0 {
        let _ = writeln!(
            s,
            "  {:>10}  (lines that are not a dead letter's JSON)",
            d.unreadable
        );
    }
    if d.unreadable_files > 0 {
        let _ = writeln!(
            s,
            "  {} dead-letter file(s) could not be read (named in the log)",
            d.unreadable_files
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_byte_total_is_a_lower_bound_without_shares() {
        let max = i64::MAX as u64;
        assert_eq!(human_bytes(max), "≥ 9223.4 PB");
        assert_eq!(human_bytes(max - 1), "9223.4 PB");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(byte_pct(max, max), "  n/a");
        assert_eq!(byte_pct(5, 20), " 25.0%");
    }
}
