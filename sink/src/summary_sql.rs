//! The per-file summaries' aggregation in SQL ([`crate::summary`] has the rows' Rust side): of
//! lake rows ([`sql`], for files without a summary and hours cut by a range) and of summary rows
//! ([`combine_sql`], many files' summaries combined into one before `report` reads them). Both
//! are derived from each [`Section`]'s column expressions, listed once here.

use crate::summary::{Section, COLUMNS};

impl Section {
    /// The SQL of each column this section fills, from a relation of lake rows; every other
    /// column is NULL. Aggregates (`count`, `sum`, `min`, `max`) make the values; the rest are
    /// the group keys.
    fn exprs(self) -> &'static [(&'static str, &'static str)] {
        const REQUESTS: (&str, &str) = ("requests", "count(*)");
        const BYTES: (&str, &str) = ("bytes", CLAMPED_SUM_OF_BYTES);
        match self {
            Section::Traffic => &[
                // The hour's start, rounded down (before 1970 too: DuckDB's `//` and `%`
                // truncate toward zero, so the remainder is made non-negative first), as the
                // writer's `div_euclid`.
                (
                    "hour",
                    "to_timestamp((epoch_us(time) - (epoch_us(time) % 3600000000 + 3600000000) \
                     % 3600000000) // 1000000)",
                ),
                ("status", "status"),
                ("is_bot", "is_bot"),
                REQUESTS,
                BYTES,
                ("first", "min(time)"),
                ("last", "max(time)"),
            ],
            Section::Geo => &[
                ("country_code", "country_code"),
                ("country", "country"),
                ("region", "region"),
                ("city", "city"),
                REQUESTS,
                BYTES,
            ],
            Section::Path => &[("path", "path"), REQUESTS, BYTES],
            Section::Referrer => &[("referrer", "referrer"), REQUESTS, BYTES],
            Section::Client => &[
                ("status", "status"),
                ("country_code", "min(country_code)"),
                ("country", "min(country)"),
                ("client_ip", "client_ip"),
                ("asn", "min(asn)"),
                ("as_org", "min(as_org)"),
                REQUESTS,
            ],
        }
    }

    /// Which rows the section aggregates (SQL), if not all.
    fn filter(self) -> Option<&'static str> {
        match self {
            Section::Client => Some("status <> 200 OR status IS NULL"),
            _ => None,
        }
    }
}

/// `sum(bytes)` (0 when there are none) held to the `BIGINT` range: DuckDB sums `BIGINT`s as
/// `HUGEINT`, and a plain cast back fails past `i64::MAX`. The writer ([`clamp`]) gives the same
/// value, and `report` adds up summary rows with it, so byte totals saturate at `i64::MAX`
/// instead of wrapping or failing.
pub const CLAMPED_SUM_OF_BYTES: &str = "least(greatest(coalesce(sum(bytes), 0), \
     -9223372036854775808), 9223372036854775807)::BIGINT";

/// The summary of the lake rows that the SQL relation `rows` yields (e.g. `read_parquet(…)` or
/// a parenthesised `SELECT`), as one SQL query with [`COLUMNS`] in order. `rows` is repeated
/// in each section's branch, so no common table expression is materialised.
pub fn sql(rows: &str) -> String {
    Section::ALL
        .iter()
        .map(|s| {
            let exprs = s.exprs();
            let cols: Vec<String> = COLUMNS
                .iter()
                .map(|(name, t)| match *name {
                    "kind" => format!("'{}' AS kind", s.name()),
                    _ => match exprs.iter().find(|(c, _)| c == name) {
                        Some((_, e)) => format!("{e} AS \"{name}\""),
                        None => format!("NULL::{} AS \"{name}\"", t.sql()),
                    },
                })
                .collect();
            let filter = s
                .filter()
                .map(|f| format!(" WHERE {f}"))
                .unwrap_or_default();
            format!(
                "SELECT {} FROM {rows}{filter} GROUP BY ALL",
                cols.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL ")
}

/// What a section's aggregate becomes when summary rows, rather than lake rows, are aggregated:
/// counts and sums are summed (unclamped, as `HUGEINT`: a reader clamps the total, so combining
/// first gives the same value), smallest and largest stay so; `None` for a key.
fn reaggregate(expr: &str, column: &str) -> Option<String> {
    match expr {
        "count(*)" => Some(format!("sum(\"{column}\")")),
        CLAMPED_SUM_OF_BYTES => Some(format!("sum(\"{column}\")")),
        e if e.starts_with("min(") => Some(format!("min(\"{column}\")")),
        e if e.starts_with("max(") => Some(format!("max(\"{column}\")")),
        _ => None,
    }
}

/// The summary rows that the SQL relation `summaries` yields, combined into one row per group
/// of each section, as one query with [`COLUMNS`] in order: what adding up those summaries
/// gives, so a reader aggregating the result gets what it gets from the rows themselves, from
/// one scan. A column that is a key of some sections is grouped for those only; where another
/// section aggregates it (`country_code`, `country`: the smallest seen with a client address),
/// its value is that aggregate, which over one group of a section keyed by it is the key.
pub fn combine_sql(summaries: &str) -> String {
    let (mut groups, mut columns) = (vec!["kind".to_string()], vec!["kind".to_string()]);
    for (name, _) in &COLUMNS[1..] {
        let uses: Vec<(Section, &str)> = Section::ALL
            .iter()
            .filter_map(|s| Some((*s, s.exprs().iter().find(|(c, _)| c == name)?.1)))
            .collect();
        let keyed: Vec<String> = uses
            .iter()
            .filter(|(_, e)| reaggregate(e, name).is_none())
            .map(|(s, _)| format!("'{}'", s.name()))
            .collect();
        match uses.iter().find_map(|(_, e)| reaggregate(e, name)) {
            // A key wherever it is filled (or NULL throughout).
            None => {
                groups.push(format!("\"{name}\""));
                columns.push(format!("\"{name}\""));
            }
            Some(aggregate) => {
                if !keyed.is_empty() {
                    groups.push(format!(
                        "CASE WHEN kind IN ({}) THEN \"{name}\" END",
                        keyed.join(", ")
                    ));
                }
                columns.push(format!("{aggregate} AS \"{name}\""));
            }
        }
    }
    format!(
        "SELECT {} FROM {summaries} GROUP BY {}",
        columns.join(", "),
        groups.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_is_combined_one_way_and_every_key_is_grouped() {
        let sql = combine_sql("s");
        for (name, _) in &COLUMNS[1..] {
            let aggregates: Vec<String> = Section::ALL
                .iter()
                .filter_map(|s| s.exprs().iter().find(|(c, _)| c == name))
                .filter_map(|(_, e)| reaggregate(e, name))
                .collect();
            assert!(
                aggregates.windows(2).all(|w| w[0] == w[1]),
                "{name} is aggregated in two ways: {aggregates:?}"
            );
            let quoted = format!("\"{name}\"");
            assert!(sql.contains(&quoted), "{name} missing from {sql}");
        }
        // Every expression is a known aggregate or a key (a column, or the traffic section's
        // hour): an aggregate added later that `reaggregate` does not know would otherwise be
        // grouped by as a key.
        for s in Section::ALL {
            for (name, e) in s.exprs() {
                assert!(
                    reaggregate(e, name).is_some() || e == name || e.starts_with("to_timestamp("),
                    "{}: {name} = {e} is neither a known aggregate nor a key",
                    s.name()
                );
            }
        }
        // The client section's smallest country is not a key of its groups; the geo one's is.
        assert!(sql.contains("CASE WHEN kind IN ('geo') THEN \"country_code\" END"));
        assert!(sql.contains("min(\"country_code\") AS \"country_code\""));
        assert!(sql.contains("sum(\"requests\") AS \"requests\""));
    }
}
