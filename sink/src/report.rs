//! `accesslake report`: the standing questions answered from the lake, as a structured
//! [`Report`] (one field per section, so tests compare numbers, not text), printed for a terminal
//! ([`crate::report_text`]) or, with `--html FILE`, written as one self-contained HTML page
//! ([`crate::report_html`]).
//!
//! Sections: requests by country (and city for the top countries); requests by status code and
//! by status class per UTC hour; non-200 responses by client IP with the IP's ASN, AS
//! organisation and country; top paths; top referrers; bots vs humans (requests and bytes);
//! bandwidth per hour; busiest hours of the day; and the lines the lake refused, its dead
//! letters counted by reason ([`crate::dead_letter::tally`]: the whole lake, since a dead letter
//! has no time of its own, read from the files, not through DuckDB). Hourly buckets are the UTC
//! hour of each record's `time`. Every number of the other sections is a sum over per-file
//! summaries ([`crate::summary`]), read from each file's summary where it has one.
//! `--from`/`--to` select a half-open UTC range:
//! files of hours outside it are not opened at all, and in the (at most two) hours the range
//! cuts, rows are filtered on `time` and aggregated. Null keys (unknown country, no referrer,
//! unparsed path) are kept as `None` rows, so every ranking adds up to its total.

use crate::config::{LakeRange, ReportConfig};
use crate::query::{LakeDb, QueryError, Summaries, TimeRange};
pub use crate::report_model::*;
use crate::summary::{combine, CLAMPED_SUM_OF_BYTES};
use accesslake_transform::Timestamp;
use duckdb::types::FromSql;
use duckdb::Row;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::PathBuf;

/// Errors of the report command.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{0}")]
    DuckDb(#[from] duckdb::Error),
    #[error("invalid time {0:?}: use RFC 3339 (2019-01-22T10:00:00Z, any offset), `YYYY-MM-DD HH:MM[:SS]` (UTC) or `YYYY-MM-DD`")]
    Time(String),
    #[error("empty time range: --from {0} is not before --to {1}")]
    Range(String, String),
    #[error("cannot write {}: {}", .0.display(), .1)]
    Write(PathBuf, #[source] io::Error),
    #[error("{0}\nA file's summary could not be read: delete it (the report then aggregates that file's rows), or run with --no-summaries.")]
    DamagedSummary(String),
    #[error("--print with --html - would write the text report and the page both to standard output: write the page to a file, or leave out --print")]
    BothOnStdout,
}

/// Parses a `--from`/`--to` value into µs since the epoch (UTC). A time finer than a
/// microsecond is rounded up to the next one, so `--from` still leaves out and `--to` still
/// takes in a row at the microsecond before it (the lake's `time` is in µs).
pub fn parse_time(s: &str) -> Result<i64, ReportError> {
    let cut = parse_time_cut(s.trim())?;
    let finer = s.split_once('.').is_some_and(|(_, f)| {
        f.bytes()
            .take_while(u8::is_ascii_digit)
            .skip(6)
            .any(|d| d != b'0')
    });
    Ok(if finer { cut.saturating_add(1) } else { cut })
}

/// [`parse_time`], with any fraction past the microsecond cut off.
fn parse_time_cut(s: &str) -> Result<i64, ReportError> {
    use chrono::{NaiveDate, NaiveDateTime};
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t.0);
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            // chrono takes second 60 as a leap second; the RFC 3339 form above refuses it, and
            // so does this one, rather than reading it as the next minute.
            if chrono::Timelike::nanosecond(&t) >= 1_000_000_000 {
                return Err(ReportError::Time(s.to_string()));
            }
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or_else(|| ReportError::Time(s.to_string()))
}

/// Formats µs since the epoch as RFC 3339 UTC.
pub fn rfc3339(micros: i64) -> String {
    Timestamp(micros).to_rfc3339()
}

fn get<T: FromSql>(row: &Row<'_>, i: usize) -> duckdb::Result<T> {
    row.get(i)
}

fn count(row: &Row<'_>, i: usize) -> duckdb::Result<u64> {
    Ok(get::<Option<i64>>(row, i)?.unwrap_or(0).max(0) as u64)
}

/// Adds a byte count to a total, saturating at `i64::MAX` as the summaries' sums do
/// ([`CLAMPED_SUM_OF_BYTES`]), so every byte figure of the report is the true sum or `i64::MAX`.
fn add_bytes(total: &mut u64, bytes: u64) {
    *total = total.saturating_add(bytes).min(i64::MAX as u64);
}

/// Builds the report by querying an open lake session with the relation `summary`
/// ([`LakeDb::open_with`]): every section sums [`crate::summary`] rows, read from each file's
/// summary or computed from the rows of files without one (and of hours cut by the range); for
/// many small summaries, combined once into a table first.
///
/// Five queries, one per summary section: (1) hour × status × `is_bot` (→ totals, first and
/// last instant, status codes, hourly classes and bandwidth, bots vs humans, hours of the day),
/// (2) country × region × city (→ countries and their top cities), (3) paths, (4) referrers,
/// (5) non-200 responses by client address.
pub fn build(db: &LakeDb, range: TimeRange, limits: Limits) -> Result<Report, ReportError> {
    let conn = db.connection();
    let mut report = Report {
        range,
        files: db.file_count(),
        ..Report::default()
    };

    // (1) Hour × status × is_bot.
    let mut hours: BTreeMap<i64, HourRow> = BTreeMap::new();
    let mut statuses: BTreeMap<(bool, Option<i32>), u64> = BTreeMap::new();
    let mut traffic: BTreeMap<u8, TrafficRow> = BTreeMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT epoch_us(hour), status, is_bot, sum(requests)::BIGINT, {CLAMPED_SUM_OF_BYTES},
             epoch_us(min(first)), epoch_us(max(last))
         FROM summary WHERE kind = 'traffic' GROUP BY 1, 2, 3",
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let hour_start: i64 = get(r, 0)?;
        let status: Option<i32> = get(r, 1)?;
        let is_bot: Option<bool> = get(r, 2)?;
        let (n, bytes) = (count(r, 3)?, count(r, 4)?);
        let (first, last): (Option<i64>, Option<i64>) = (get(r, 5)?, get(r, 6)?);
        let t = &mut report.totals;
        t.first = combine(t.first, first, i64::min);
        t.last = combine(t.last, last, i64::max);
        let h = hours.entry(hour_start).or_insert_with(|| HourRow {
            hour_start,
            requests: 0,
            bytes: 0,
            classes: [0; 6],
        });
        h.requests += n;
        add_bytes(&mut h.bytes, bytes);
        h.classes[class_of(status)] += n;
        *statuses.entry((status.is_none(), status)).or_default() += n;
        let t = traffic.entry(match is_bot {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        });
        let t = t.or_insert(TrafficRow {
            is_bot,
            requests: 0,
            bytes: 0,
        });
        t.requests += n;
        add_bytes(&mut t.bytes, bytes);
    }
    report.hourly = hours.into_values().collect();
    report.status_codes = statuses
        .into_iter()
        .map(|((_, status), requests)| StatusRow { status, requests })
        .collect();
    report.traffic = traffic.into_values().collect();
    report.totals.requests = report.hourly.iter().map(|h| h.requests).sum();
    for h in &report.hourly {
        add_bytes(&mut report.totals.bytes, h.bytes);
    }
    report.non_200_requests = report
        .status_codes
        .iter()
        .filter(|s| s.status != Some(200))
        .map(|s| s.requests)
        .sum();
    report.busiest_hours = (0..24)
        .map(|hour| HourOfDayRow {
            hour,
            ..HourOfDayRow::default()
        })
        .collect();
    for h in &report.hourly {
        let hour = h.hour_start.div_euclid(3_600_000_000).rem_euclid(24) as usize;
        report.busiest_hours[hour].requests += h.requests;
        add_bytes(&mut report.busiest_hours[hour].bytes, h.bytes);
    }

    // (2) Country × region × city. One row per country code: a code may come with several
    // names (databases differ, and rename countries), and the name shown is the one most of its
    // requests came with (a name over none). A row without a code keeps its name apart.
    type Names = HashMap<Option<String>, u64>;
    let mut countries: HashMap<(Option<String>, Option<String>), (CountryRow, Names)> =
        HashMap::new();
    let mut places: Vec<CityRow> = Vec::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT country_code, country, region, city, sum(requests)::BIGINT, {CLAMPED_SUM_OF_BYTES}
         FROM summary WHERE kind = 'geo' GROUP BY ALL",
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (code, name): (Option<String>, Option<String>) = (get(r, 0)?, get(r, 1)?);
        let (n, bytes) = (count(r, 4)?, count(r, 5)?);
        let key = match &code {
            Some(_) => (code.clone(), None),
            None => (None, name.clone()),
        };
        let (c, names) = countries.entry(key).or_insert_with(|| {
            let row = CountryRow {
                country_code: code.clone(),
                country: None,
                requests: 0,
                bytes: 0,
            };
            (row, Names::new())
        });
        c.requests += n;
        add_bytes(&mut c.bytes, bytes);
        *names.entry(name).or_default() += n;
        places.push(CityRow {
            country_code: code,
            region: get(r, 2)?,
            city: get(r, 3)?,
            requests: n,
        });
    }
    let countries = countries.into_values().map(|(mut c, names)| {
        c.country = names
            .into_iter()
            .max_by_key(|(name, n)| (name.is_some(), *n, std::cmp::Reverse(name.clone())))
            .and_then(|(name, _)| name);
        c
    });
    let mut countries: Vec<CountryRow> = countries.collect();
    countries.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.requests),
            a.country_code.is_none(),
            &a.country_code,
            &a.country,
        )
            .cmp(&(
                std::cmp::Reverse(b.requests),
                b.country_code.is_none(),
                &b.country_code,
                &b.country,
            ))
    });
    report.countries = countries;
    let top_codes: Vec<&String> = report
        .countries
        .iter()
        .filter_map(|c| c.country_code.as_ref())
        .take(limits.cities)
        .collect();
    let mut merged: BTreeMap<(usize, Option<String>, Option<String>), u64> = BTreeMap::new();
    for p in places {
        if let Some(rank) = top_codes
            .iter()
            .position(|c| Some(*c) == p.country_code.as_ref())
        {
            *merged.entry((rank, p.region, p.city)).or_default() += p.requests;
        }
    }
    let mut cities: Vec<(usize, CityRow)> = merged
        .into_iter()
        .map(|((rank, region, city), requests)| {
            let country_code = Some(top_codes[rank].clone());
            (
                rank,
                CityRow {
                    country_code,
                    region,
                    city,
                    requests,
                },
            )
        })
        .collect();
    cities.sort_by(|a, b| {
        (
            a.0,
            std::cmp::Reverse(a.1.requests),
            a.1.city.is_none(),
            &a.1.city,
            &a.1.region,
        )
            .cmp(&(
                b.0,
                std::cmp::Reverse(b.1.requests),
                b.1.city.is_none(),
                &b.1.city,
                &b.1.region,
            ))
    });
    let mut per_country = vec![0; top_codes.len()];
    for (rank, city) in cities {
        if per_country[rank] < limits.cities {
            per_country[rank] += 1;
            report.cities.push(city);
        }
    }

    // (3), (4) Top paths and referrers; the null referrer's count comes along (from the first
    // row: with `--top 0`, one row is read for it and not shown).
    let ranking = |column: &str, nulls_ranked: bool| -> Result<(Vec<KeyRow>, u64), ReportError> {
        let order = if nulls_ranked { "" } else { "k IS NULL, " };
        let mut stmt = conn.prepare(&format!(
            "SELECT k, n, b, coalesce(sum(n) FILTER (WHERE k IS NULL) OVER (), 0)::BIGINT FROM (
                 SELECT {column} AS k, sum(requests)::BIGINT AS n, {CLAMPED_SUM_OF_BYTES} AS b
                 FROM summary WHERE kind = '{column}' GROUP BY 1)
             ORDER BY {order}n DESC, k NULLS LAST LIMIT {}",
            limits.top.max(1)
        ))?;
        let mut rows = stmt.query([])?;
        let (mut out, mut nulls) = (Vec::new(), 0);
        while let Some(r) = rows.next()? {
            nulls = count(r, 3)?;
            let key: Option<String> = get(r, 0)?;
            if (nulls_ranked || key.is_some()) && out.len() < limits.top {
                out.push(KeyRow {
                    key,
                    requests: count(r, 1)?,
                    bytes: count(r, 2)?,
                });
            }
        }
        Ok((out, nulls))
    };
    report.top_paths = ranking("path", true)?.0;
    (report.top_referrers, report.no_referrer) = ranking("referrer", false)?;

    // (5) Non-200 responses by client address, and how many addresses got one.
    // The top addresses first; their details and statuses only then, from their own rows (with
    // `--top 0`, one is read for the count of addresses and not shown).
    let mut stmt = conn.prepare(&format!(
        "WITH top AS (
             SELECT client_ip, sum(requests)::BIGINT AS n, count(*) OVER () AS total
             FROM summary WHERE kind = 'client' GROUP BY client_ip
             ORDER BY n DESC, client_ip LIMIT {})
         SELECT t.client_ip, t.n, min(s.asn), min(s.as_org), min(s.country_code),
             min(s.country), list(DISTINCT s.status ORDER BY s.status NULLS LAST)::VARCHAR, t.total
         FROM top t JOIN summary s ON s.kind = 'client' AND s.client_ip IS NOT DISTINCT FROM t.client_ip
         GROUP BY t.client_ip, t.n, t.total
         ORDER BY t.n DESC, t.client_ip",
        limits.top.max(1)
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        report.non_200_clients_total = count(r, 7)?;
        if report.non_200_clients.len() == limits.top {
            continue;
        }
        let statuses: String = get(r, 6)?;
        report.non_200_clients.push(ClientRow {
            client_ip: get(r, 0)?,
            requests: count(r, 1)?,
            asn: get(r, 2)?,
            as_org: get(r, 3)?,
            country_code: get(r, 4)?,
            country: get(r, 5)?,
            statuses: statuses
                .trim_matches(['[', ']'])
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().ok())
                .collect(),
        });
    }

    Ok(report)
}

/// The range of `--from` and `--to` (see [`parse_time`]); an error when it is empty.
pub fn range(args: &LakeRange) -> Result<TimeRange, ReportError> {
    let range = TimeRange {
        from: args.from.as_deref().map(parse_time).transpose()?,
        to: args.to.as_deref().map(parse_time).transpose()?,
    };
    if let (Some(f), Some(t)) = (range.from, range.to) {
        if f >= t {
            return Err(ReportError::Range(rfc3339(f), rfc3339(t)));
        }
    }
    Ok(range)
}

/// The `report` command.
pub fn run(cfg: &ReportConfig) -> Result<(), ReportError> {
    if cfg.print && cfg.html.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        return Err(ReportError::BothOnStdout);
    }
    let range = range(&cfg.range)?;
    let summaries = match cfg.no_summaries {
        true => Summaries::Recompute,
        false => Summaries::Use,
    };
    // DuckDB names a file it cannot read; a summary's gets a way out.
    let damaged = |e: ReportError| match e {
        ReportError::DuckDb(_) | ReportError::Query(QueryError::DuckDb(_))
            if !cfg.no_summaries
                && [".summary'", ".summary\""]
                    .iter()
                    .any(|q| e.to_string().contains(q)) =>
        {
            ReportError::DamagedSummary(e.to_string())
        }
        ReportError::Query(QueryError::NotASummary { .. }) => {
            ReportError::DamagedSummary(e.to_string())
        }
        e => e,
    };
    let db = LakeDb::open_with(&cfg.range.lake, range, summaries, &cfg.duckdb)
        .map_err(|e| damaged(e.into()))?;
    let limits = Limits {
        top: cfg.top,
        cities: cfg.top_cities,
    };
    let mut report = build(&db, range, limits)
        .map_err(|e| match e {
            ReportError::DuckDb(e) => ReportError::Query(db.explain(e)),
            e => e,
        })
        .map_err(damaged)?;
    let dead_letters = crate::lake_files::dead_letter_files(&cfg.range.lake)?;
    report.rejected = crate::dead_letter::tally(&dead_letters, limits.top);
    if let Some(path) = &cfg.html {
        let html = crate::report_html::render(&report, limits);
        // `-` is standard output, as for `parse`.
        if path.as_os_str() == "-" {
            to_stdout(html.as_bytes())?;
        } else {
            std::fs::write(path, html).map_err(|e| ReportError::Write(path.clone(), e))?;
        }
    }
    if cfg.html.is_none() || cfg.print {
        to_stdout(crate::report_text::render(&report, limits).as_bytes())?;
    }
    Ok(())
}

/// Writes `bytes` to standard output. A closed pipe downstream (`| head`) is a normal way to
/// stop, as for `query` and `parse`.
fn to_stdout(bytes: &[u8]) -> Result<(), ReportError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(ReportError::Write("<stdout>".into(), e))
        }
        _ => Ok(()),
    }
}
