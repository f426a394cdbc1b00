//! The report's data: one struct per section of [`Report`], filled by [`crate::report::build`]
//! and rendered by [`crate::report_text`] and [`crate::report_html`], with the few rules they
//! share (status classes, how a country is named, the countries past the top).

use crate::query::TimeRange;

/// Overall figures for the selected rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    /// Sum of `bytes` (null sizes count as 0); like every byte figure here, it saturates at
    /// `i64::MAX`.
    pub bytes: u64,
    /// Earliest and latest `time` (µs), when there are rows.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// Requests from one country (`None`: address not in the GeoIP database).
#[derive(Debug, Clone, PartialEq)]
pub struct CountryRow {
    pub country_code: Option<String>,
    pub country: Option<String>,
    pub requests: u64,
    pub bytes: u64,
}

/// Requests from one city of one of the top countries.
#[derive(Debug, Clone, PartialEq)]
pub struct CityRow {
    pub country_code: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub requests: u64,
}

impl CityRow {
    /// How both renderers name the place: `city, region`, the city alone, `(region)`, or
    /// `(unknown city)`.
    pub fn place(&self) -> String {
        match (&self.city, &self.region) {
            (Some(ci), Some(re)) => format!("{ci}, {re}"),
            (Some(ci), None) => ci.clone(),
            (None, Some(re)) => format!("({re})"),
            (None, None) => "(unknown city)".into(),
        }
    }
}

/// Requests with one status code (`None`: the log had `-`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub status: Option<i32>,
    pub requests: u64,
}

/// Status classes, in [`HourRow::classes`] order.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// One UTC hour with traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct HourRow {
    /// Start of the hour, µs since the epoch.
    pub hour_start: i64,
    pub requests: u64,
    pub bytes: u64,
    /// Requests per status class: 1xx, 2xx, 3xx, 4xx, 5xx, other (no or out-of-range status).
    pub classes: [u64; 6],
}

/// Non-200 responses to one client address, with what the lake knows of the address.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRow {
    pub client_ip: String,
    pub requests: u64,
    pub asn: Option<i64>,
    pub as_org: Option<String>,
    pub country_code: Option<String>,
    pub country: Option<String>,
    /// The distinct non-200 statuses returned, ascending (`None` for `-`).
    pub statuses: Vec<Option<i32>>,
}

/// A ranked key (path, referrer) with its requests and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub key: Option<String>,
    pub requests: u64,
    pub bytes: u64,
}

/// Bots, humans (and rows whose `is_bot` is null, if any).
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficRow {
    pub is_bot: Option<bool>,
    pub requests: u64,
    pub bytes: u64,
}

/// Traffic in one hour of the day (UTC), summed over all days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourOfDayRow {
    pub hour: u32,
    pub requests: u64,
    pub bytes: u64,
}

/// The whole report: every section as plain values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub range: TimeRange,
    /// Lake files read.
    pub files: usize,
    pub totals: Totals,
    /// Every country, most requests first (ties by code, unknown last).
    pub countries: Vec<CountryRow>,
    /// Top cities of the top countries, in country order then most requests first.
    pub cities: Vec<CityRow>,
    /// Every status code, ascending (`-` last).
    pub status_codes: Vec<StatusRow>,
    /// Every hour with traffic, ascending: requests, bytes and status classes.
    pub hourly: Vec<HourRow>,
    /// All non-200 responses and the distinct addresses they went to.
    pub non_200_requests: u64,
    pub non_200_clients_total: u64,
    /// The addresses with the most non-200 responses.
    pub non_200_clients: Vec<ClientRow>,
    pub top_paths: Vec<KeyRow>,
    /// Top referrers (requests without a referrer are counted in `no_referrer`).
    pub top_referrers: Vec<KeyRow>,
    pub no_referrer: u64,
    /// Bots first, then humans (then unknown).
    pub traffic: Vec<TrafficRow>,
    /// Hours 0–23 of the day (UTC).
    pub busiest_hours: Vec<HourOfDayRow>,
    /// The lake's dead letters, whatever the range (they have no time of their own): set by
    /// [`run`] from the lake's files, not by [`build`], which reads only through DuckDB.
    pub rejected: crate::dead_letter::Tally,
}

impl Report {
    /// The cities listed under a country (none under the unknown country).
    pub fn cities_of<'a>(&'a self, country: &'a CountryRow) -> impl Iterator<Item = &'a CityRow> {
        self.cities
            .iter()
            .filter(|x| x.country_code.is_some() && x.country_code == country.country_code)
    }
}

/// How long each ranking is.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows in each ranking (paths, referrers, clients, countries shown).
    pub top: usize,
    /// Countries broken down by city, and cities per country.
    pub cities: usize,
}

/// The status class index of [`CLASSES`].
pub fn class_of(status: Option<i32>) -> usize {
    match status {
        Some(s @ 100..=599) => (s / 100 - 1) as usize,
        _ => 5,
    }
}

/// How a country is named in a report: code and name, whichever there is, or `(unknown)`.
pub fn country_label(code: Option<&str>, name: Option<&str>) -> String {
    match (code, name) {
        (Some(c), Some(n)) => format!("{c} {n}"),
        (Some(c), None) => c.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "(unknown)".into(),
    }
}

/// The countries past the first `top` of a ranking, as one row: their requests and bytes (which
/// saturate, as every byte figure), and what they are (`85 more countries and unknown`: the
/// unknown country is not one country more). `None` when the ranking has no more.
pub fn other_countries(countries: &[CountryRow], top: usize) -> Option<(u64, u64, String)> {
    let rest = countries.get(top..).filter(|r| !r.is_empty())?;
    let requests = rest.iter().map(|c| c.requests).sum();
    let bytes = rest
        .iter()
        .fold(0u64, |s, c| s.saturating_add(c.bytes))
        .min(i64::MAX as u64);
    let known = rest
        .iter()
        .filter(|c| c.country_code.is_some() || c.country.is_some())
        .count();
    let unknown = if known < rest.len() {
        " and unknown"
    } else {
        ""
    };
    let more = match known {
        0 => "unknown".to_string(),
        1 => format!("1 more country{unknown}"),
        n => format!("{n} more countries{unknown}"),
    };
    Some((requests, bytes, more))
}
