//! The report as one self-contained HTML page: inline CSS and inline SVG charts
//! ([`crate::chart`]), no scripts, and a Content-Security-Policy that forbids every network
//! fetch. Each section has its chart and, beside it, a table of the numbers. Every string that
//! comes from the logs is escaped.

use crate::chart::{escape, hbar, lines, shorten, vbar};
use crate::report::{country_label, rfc3339, Limits, Report, CLASSES};
use crate::report_text::{hour_label, human_bytes};
use std::fmt::Write as _;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.wrap{max-width:420px;overflow-wrap:anywhere}
svg text{font:12px system-ui,sans-serif;fill:#222}svg text.small{font-size:10px}svg text.muted{fill:#888}
svg line.grid{stroke:#e5e5e5}.totals span{margin-right:24px}
.scroll{max-height:440px;overflow:auto;border:1px solid #eee}";

/// One `<section>`: heading, chart, table.
fn section(out: &mut String, id: &str, title: &str, chart: &str, table: &str) {
    let _ = writeln!(
        out,
        "<section id=\"{id}\"><h2>{}</h2><div class=\"row\"><div>{chart}</div><div>{table}</div></div></section>",
        escape(title)
    );
}

/// A table: header cells (`#` prefix = numeric) and rows of already-escaped cells.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(s, "<th class=\"n\">{}</th>", escape(h));
            }
            None => {
                let _ = write!(s, "<th>{}</th>", escape(h));
            }
        }
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if head.get(i).is_some_and(|h| h.starts_with('#')) {
                "n"
            } else {
                "wrap"
            };
            let _ = write!(s, "<td class=\"{class}\">{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    if rows.len() > 20 {
        s = format!("<div class=\"scroll\">{s}</div>");
    }
    s
}

fn opt(s: Option<&str>, none: &str) -> String {
    escape(s.unwrap_or(none))
}

/// Every hour from the first to the last with traffic (gaps as zeros), when that is ≤ 2 years.
fn hour_axis(r: &Report) -> (Vec<i64>, Vec<usize>) {
    const HOUR: i64 = 3_600_000_000;
    let (Some(first), Some(last)) = (r.hourly.first(), r.hourly.last()) else {
        return (Vec::new(), Vec::new());
    };
    let n = ((last.hour_start - first.hour_start) / HOUR + 1) as usize;
    if n > 2 * 366 * 24 {
        return (
            r.hourly.iter().map(|h| h.hour_start).collect(),
            (0..r.hourly.len()).collect(),
        );
    }
    let hours: Vec<i64> = (0..n as i64).map(|i| first.hour_start + i * HOUR).collect();
    let index = r
        .hourly
        .iter()
        .map(|h| ((h.hour_start - first.hour_start) / HOUR) as usize)
        .collect();
    (hours, index)
}

/// Renders the whole page.
pub fn render(r: &Report, limits: Limits) -> String {
    let t = &r.totals;
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    let _ = write!(out, "<title>accesslake report</title><style>{STYLE}</style></head><body>\n<h1>accesslake report</h1>");
    let span = match (t.first, t.last) {
        (Some(a), Some(b)) => format!("{} … {}", rfc3339(a), rfc3339(b)),
        _ => "no rows".into(),
    };
    let _ = writeln!(
        out,
        "<p class=\"totals\"><span><b>{}</b> requests</span><span><b>{}</b> ({} bytes)</span><span>{} {}</span><span>{}</span></p>",
        t.requests,
        escape(&human_bytes(t.bytes)),
        t.bytes,
        r.files,
        if r.files == 1 { "file" } else { "files" },
        escape(&span)
    );

    // 1. Countries (and cities).
    let bars: Vec<(String, u64)> = r
        .countries
        .iter()
        .take(limits.top)
        .map(|c| {
            (
                country_label(c.country_code.as_deref(), c.country.as_deref()),
                c.requests,
            )
        })
        .collect();
    let mut rows = Vec::new();
    for c in r.countries.iter().take(limits.top) {
        rows.push(vec![
            escape(&country_label(
                c.country_code.as_deref(),
                c.country.as_deref(),
            )),
            c.requests.to_string(),
            escape(&human_bytes(c.bytes)),
        ]);
        for city in r.cities_of(c) {
            let place = city.place();
            rows.push(vec![
                format!("&nbsp;&nbsp;↳ {}", escape(&place)),
                city.requests.to_string(),
                String::new(),
            ]);
        }
    }
    if let Some((requests, bytes, more)) = crate::report::other_countries(&r.countries, limits.top)
    {
        rows.push(vec![
            format!("<i>(others: {})</i>", escape(&more)),
            requests.to_string(),
            escape(&human_bytes(bytes)),
        ]);
    }
    section(
        &mut out,
        "countries",
        "Requests by country",
        &hbar("Requests by country", &bars, |v| v.to_string()),
        &table(&["country / city", "#requests", "#bytes"], &rows),
    );

    // 2. Status codes, then status classes per hour.
    let bars: Vec<(String, u64)> = r
        .status_codes
        .iter()
        .map(|s| (s.status.map_or("-".into(), |v| v.to_string()), s.requests))
        .collect();
    let rows: Vec<Vec<String>> = bars
        .iter()
        .map(|(k, v)| vec![escape(k), v.to_string()])
        .collect();
    section(
        &mut out,
        "status",
        "Requests by status code",
        &hbar("Requests by status code", &bars, |v| v.to_string()),
        &table(&["status", "#requests"], &rows),
    );

    let (hours, index) = hour_axis(r);
    let labels: Vec<String> = hours.iter().map(|h| hour_label(*h)).collect();
    let mut class_series: Vec<(&str, Vec<u64>)> =
        CLASSES.iter().map(|c| (*c, vec![0; hours.len()])).collect();
    let mut bytes_series = vec![0; hours.len()];
    for (h, &i) in r.hourly.iter().zip(&index) {
        for (k, v) in h.classes.iter().enumerate() {
            class_series[k].1[i] = *v;
        }
        bytes_series[i] = h.bytes;
    }
    class_series.retain(|(_, v)| v.iter().any(|x| *x > 0));
    let rows: Vec<Vec<String>> = r
        .hourly
        .iter()
        .map(|h| {
            let mut row = vec![escape(&hour_label(h.hour_start)), h.requests.to_string()];
            row.extend(h.classes.iter().map(u64::to_string));
            row
        })
        .collect();
    let head = [
        "hour (UTC)",
        "#requests",
        "#1xx",
        "#2xx",
        "#3xx",
        "#4xx",
        "#5xx",
        "#other",
    ];
    section(
        &mut out,
        "status-hourly",
        "Status classes per hour (UTC)",
        &lines("Status classes per hour", &labels, &class_series, |v| {
            v.to_string()
        }),
        &table(&head, &rows),
    );

    // 3. Non-200 responses by client address.
    let bars: Vec<(String, u64)> = r
        .non_200_clients
        .iter()
        .map(|c| (c.client_ip.clone(), c.requests))
        .collect();
    let rows: Vec<Vec<String>> = r
        .non_200_clients
        .iter()
        .map(|c| {
            let statuses: Vec<String> = c
                .statuses
                .iter()
                .map(|v| v.map_or("-".into(), |v| v.to_string()))
                .collect();
            vec![
                escape(&c.client_ip),
                c.requests.to_string(),
                c.asn.map_or("-".into(), |a| format!("AS{a}")),
                opt(c.as_org.as_deref(), "-"),
                escape(&country_label(
                    c.country_code.as_deref(),
                    c.country.as_deref(),
                )),
                escape(&statuses.join(", ")),
            ]
        })
        .collect();
    let title = format!(
        "Non-200 responses by client address ({} responses to {} addresses)",
        r.non_200_requests, r.non_200_clients_total
    );
    section(
        &mut out,
        "non-200",
        &title,
        &hbar("Non-200 responses by client", &bars, |v| v.to_string()),
        &table(
            &[
                "client",
                "#requests",
                "ASN",
                "AS organisation",
                "country",
                "statuses",
            ],
            &rows,
        ),
    );

    // Top paths and referrers.
    for (id, title, ranking, none) in [
        ("paths", "Top paths", &r.top_paths, "(no path)"),
        ("referrers", "Top referrers", &r.top_referrers, "-"),
    ] {
        let bars: Vec<(String, u64)> = ranking
            .iter()
            .map(|k| (k.key.clone().unwrap_or_else(|| none.into()), k.requests))
            .collect();
        let mut rows: Vec<Vec<String>> = ranking
            .iter()
            .map(|k| {
                vec![
                    escape(&shorten(k.key.as_deref().unwrap_or(none), 200)),
                    k.requests.to_string(),
                    escape(&human_bytes(k.bytes)),
                ]
            })
            .collect();
        if id == "referrers" {
            rows.push(vec![
                "<i>(no referrer)</i>".into(),
                r.no_referrer.to_string(),
                String::new(),
            ]);
        }
        section(
            &mut out,
            id,
            title,
            &hbar(title, &bars, |v| v.to_string()),
            &table(
                &[
                    if id == "paths" { "path" } else { "referrer" },
                    "#requests",
                    "#bytes",
                ],
                &rows,
            ),
        );
    }

    // Bots vs humans.
    let who = |b: Option<bool>| match b {
        Some(true) => "bots",
        Some(false) => "humans",
        None => "unknown",
    };
    let mut bars = Vec::new();
    for x in &r.traffic {
        bars.push((format!("{} — requests", who(x.is_bot)), x.requests));
    }
    let byte_bars: Vec<(String, u64)> = r
        .traffic
        .iter()
        .map(|x| (format!("{} — bytes", who(x.is_bot)), x.bytes))
        .collect();
    let rows: Vec<Vec<String>> = r
        .traffic
        .iter()
        .map(|x| {
            vec![
                who(x.is_bot).into(),
                x.requests.to_string(),
                x.bytes.to_string(),
                escape(&human_bytes(x.bytes)),
            ]
        })
        .collect();
    let charts = format!(
        "{}<br>{}",
        hbar("Bots vs humans: requests", &bars, |v| v.to_string()),
        hbar("Bots vs humans: bytes", &byte_bars, human_bytes)
    );
    section(
        &mut out,
        "bots",
        "Bots vs humans",
        &charts,
        &table(&["", "#requests", "#bytes", "#size"], &rows),
    );

    // Bandwidth per hour.
    let rows: Vec<Vec<String>> = r
        .hourly
        .iter()
        .map(|h| {
            vec![
                escape(&hour_label(h.hour_start)),
                h.bytes.to_string(),
                escape(&human_bytes(h.bytes)),
            ]
        })
        .collect();
    section(
        &mut out,
        "bandwidth",
        "Bandwidth per hour (UTC)",
        &lines(
            "Bandwidth per hour",
            &labels,
            &[("bytes", bytes_series)],
            human_bytes,
        ),
        &table(&["hour (UTC)", "#bytes", "#size"], &rows),
    );

    // Busiest hours of the day.
    let labels: Vec<String> = r
        .busiest_hours
        .iter()
        .map(|h| format!("{:02}", h.hour))
        .collect();
    let values: Vec<u64> = r.busiest_hours.iter().map(|h| h.requests).collect();
    let rows: Vec<Vec<String>> = r
        .busiest_hours
        .iter()
        .map(|h| {
            vec![
                format!("{:02}:00", h.hour),
                h.requests.to_string(),
                escape(&human_bytes(h.bytes)),
            ]
        })
        .collect();
    section(
        &mut out,
        "busiest-hours",
        "Busiest hours of the day (UTC)",
        &vbar("Busiest hours of the day", &labels, &values, |v| {
            v.to_string()
        }),
        &table(&["hour", "#requests", "#bytes"], &rows),
    );

    // Rejected lines: the lake's dead letters by reason.
    let d = &r.rejected;
    let title = "Rejected lines (dead letters, the whole lake: they have no time of their own)";
    let mut rows: Vec<Vec<String>> = d
        .reasons
        .iter()
        .map(|(reason, n)| vec![escape(&shorten(reason, 200)), n.to_string()])
        .collect();
    for (what, n) in [
        ("(other reasons)", d.other()),
        ("(lines that are not a dead letter's JSON)", d.unreadable),
    ] {
        if n > 0 {
            rows.push(vec![format!("<i>{}</i>", escape(what)), n.to_string()]);
        }
    }
    let mut summary = match d.lines {
        0 => "<p>none</p>".to_string(),
        n => format!(
            "<p>{n} in {} file(s) under <code>_accesslake/rejected/</code></p>{}",
            d.files,
            table(&["reason", "#lines"], &rows)
        ),
    };
    if d.unreadable_files > 0 {
        let _ = write!(
            summary,
            "<p>{} dead-letter file(s) could not be read (named in the log)</p>",
            d.unreadable_files
        );
    }
    let chart = match d.reasons.is_empty() {
        true => String::new(),
        false => hbar("Rejected lines by reason", &d.reasons, |v| v.to_string()),
    };
    section(&mut out, "rejected", title, &chart, &summary);

    out.push_str("</body></html>\n");
    out
}
