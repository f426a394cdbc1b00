//! `accesslake query` against a lake written by `accesslake ingest`: the `logs` view's columns,
//! exact CSV and JSON (parsed back and compared with values read independently by pyarrow and
//! by a separate DuckDB connection), the aligned table, read-only enforcement, DuckDB's errors,
//! missing/empty lakes, and pruning: of partitions, shown by EXPLAIN ANALYZE, and of row groups,
//! by their `time` statistics.

mod common;
mod query_support;

use query_support::{accesslake, build_lake, python, snapshot, TestLake};
use std::sync::OnceLock;

fn lake() -> &'static TestLake {
    static LAKE: OnceLock<TestLake> = OnceLock::new();
    LAKE.get_or_init(build_lake)
}

fn query(format: &str, sql: &str) -> (bool, String, String) {
    let out = accesslake(&[
        "query",
        "--lake",
        lake().lake_str(),
        "--format",
        format,
        sql,
    ]);
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

const LAKE_COLUMNS: [&str; 31] = [
    "time",
    "utc_offset",
    "client_ip",
    "vhost",
    "ident",
    "user",
    "request",
    "method",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "referrer",
    "user_agent",
    "forwarded_for",
    "country_code",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "asn",
    "as_org",
    "is_bot",
    "src_partition",
    "src_offset",
    "year",
    "month",
    "day",
    "hour",
];

#[test]
fn view_has_every_column_once_and_typed_partitions() {
    let (ok, out, err) = query(
        "json",
        "SELECT column_name, column_type FROM (DESCRIBE logs)",
    );
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["column_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, LAKE_COLUMNS, "columns of logs");
    for r in &rows {
        let (name, ty) = (
            r["column_name"].as_str().unwrap(),
            r["column_type"].as_str().unwrap(),
        );
        match name {
            "year" | "month" | "day" | "hour" | "status" => assert_eq!(ty, "INTEGER", "{name}"),
            "time" => assert_eq!(ty, "TIMESTAMP WITH TIME ZONE"),
            "bytes" | "src_offset" => assert_eq!(ty, "BIGINT", "{name}"),
            _ => {}
        }
    }
    // The partition columns agree with each row's UTC time.
    let (ok, out, err) = query(
        "csv",
        "SELECT count(*) FROM logs WHERE year <> year(time::TIMESTAMP) OR month <> month(time::TIMESTAMP)
            OR day <> day(time::TIMESTAMP) OR hour <> hour(time::TIMESTAMP)",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "count_star()\r\n0\r\n");
}

/// Row count, by pyarrow (independent reader) and by counting source lines.
#[test]
fn count_matches_pyarrow_and_source_lines() {
    let (ok, out, err) = query("csv", "SELECT count(*) AS n FROM logs");
    assert!(ok, "{err}");
    let n: u64 = out.lines().nth(1).expect("value").parse().expect("number");
    let py = python(
        "import sys, pyarrow.dataset as ds\nprint(ds.dataset(sys.argv[1], format='parquet').count_rows())",
        &[lake().lake_str()],
    );
    assert_eq!(n, py.trim().parse::<u64>().unwrap(), "pyarrow row count");
    let lines: usize = lake()
        .logs
        .iter()
        .map(|p| {
            std::fs::read(p)
                .unwrap()
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        })
        .sum();
    assert_eq!(n as usize, lines, "one lake row per source line");
}

/// Minimal RFC 4180 reader that keeps NULL (empty, unquoted) apart from `""`.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut chars = text.chars().peekable();
    let mut field = String::new();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() && !quoted => {
                quoted = true;
                loop {
                    match chars.next().expect("unterminated quote") {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        '"' => break,
                        c => field.push(c),
                    }
                }
            }
            ',' | '\r' => {
                if c == '\r' {
                    assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                }
                row.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                quoted = false;
                if c == '\r' {
                    rows.push(std::mem::take(&mut row));
                }
            }
            c => field.push(c),
        }
    }
    assert!(row.is_empty() && field.is_empty(), "CSV ends with CRLF");
    rows
}

const SAMPLE: &str =
    "SELECT time, utc_offset, client_ip, request, path, query, status, bytes, referrer, user_agent,
    country_code, city, latitude, longitude, asn, as_org, is_bot, src_partition, src_offset, hour
    FROM logs ORDER BY src_partition, src_offset";

/// CSV parsed back equals what a separate DuckDB connection reads from the same files.
#[test]
fn csv_round_trips_exactly() {
    let (ok, out, err) = query("csv", SAMPLE);
    assert!(ok, "{err}");
    let rows = parse_csv(&out);
    let header: Vec<String> = rows[0].iter().map(|c| c.clone().unwrap()).collect();
    assert_eq!(header[0], "time");
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let glob = format!(
        "{}/year=*/month=*/day=*/hour=*/*.parquet",
        lake().lake_str()
    );
    let sql = format!(
        "SELECT strftime(time::TIMESTAMP, '%Y-%m-%dT%H:%M:%S') || 'Z', utc_offset, client_ip, request, path,
            query, status::VARCHAR, bytes::VARCHAR, referrer, user_agent, country_code, city,
            latitude, longitude, asn::VARCHAR, as_org, is_bot::VARCHAR, src_partition::VARCHAR,
            src_offset::VARCHAR, hour::INTEGER::VARCHAR
         FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY src_partition, src_offset"
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let expected: Vec<Vec<Option<String>>> = stmt
        .query_map([], |r| {
            (0..20)
                .map(|i| match i {
                    12 | 13 => Ok(r.get::<_, Option<f64>>(i)?.map(|f| f.to_string())),
                    _ => r.get::<_, Option<String>>(i),
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len() - 1, expected.len(), "row count");
    for (i, (got, want)) in rows[1..].iter().zip(&expected).enumerate() {
        for c in 0..20 {
            let same = match (c, &got[c], &want[c]) {
                // Floats: the same f64 after parsing (text forms may differ, values may not).
                (12 | 13, Some(g), Some(w)) => {
                    g.parse::<f64>().unwrap() == w.parse::<f64>().unwrap()
                }
                (_, g, w) => g == w,
            };
            assert!(
                same,
                "row {i} column {}: csv {:?} != duckdb {:?}",
                header[c], got[c], want[c]
            );
        }
    }
    // The generated log's hostile strings came through intact.
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (path, referrer, agent) = (col("path"), col("referrer"), col("user_agent"));
    assert!(rows
        .iter()
        .any(|r| r[path].as_deref() == Some(query_support::HOSTILE_PATH)));
    assert!(rows
        .iter()
        .any(|r| r[referrer].as_deref()
            == Some("http://evil.example/\"><img src=x onerror=alert(1)>")));
    assert!(rows
        .iter()
        .any(|r| r[agent].as_deref() == Some(query_support::HOSTILE_AGENT)));
}

/// JSON parsed back equals pyarrow's values for the same rows (types included).
#[test]
fn json_round_trips_exactly() {
    let (ok, out, err) = query("json", SAMPLE);
    assert!(ok, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let script = r#"
import sys, json, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table().sort_by([('src_partition','ascending'),('src_offset','ascending')])
cols = ['time','utc_offset','client_ip','request','path','query','status','bytes','referrer','user_agent',
        'country_code','city','latitude','longitude','asn','as_org','is_bot','src_partition','src_offset','hour']
rows = []
for r in t.select(cols).to_pylist():
    r['time'] = r['time'].strftime('%Y-%m-%dT%H:%M:%S') + ('.%06d' % r['time'].microsecond if r['time'].microsecond else '') + 'Z'
    r['hour'] = int(r['hour'])
    rows.append(r)
print(json.dumps(rows))
"#;
    let want: serde_json::Value =
        serde_json::from_str(&python(script, &[lake().lake_str()])).unwrap();
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "row {i}:\n{g}\n{w}");
    }
}

/// Doubles stay doubles in JSON: a whole one has `.0` (or an exponent), a negative zero keeps its
/// sign; Python's `json` reads each back as the same float.
#[test]
fn json_doubles_read_back_as_floats() {
    let sql = "SELECT -0.0::DOUBLE AS a, 1e300::DOUBLE AS b, 2.0::DOUBLE AS c, 0.1::DOUBLE AS d, \
               1e-7::DOUBLE AS e, 123456789012345680000.0::DOUBLE AS f";
    let (ok, out, err) = query("json", sql);
    assert!(ok, "{err}");
    assert!(
        out.contains(r#""a":-0.0,"b":1e300,"c":2.0,"d":0.1,"e":1e-7,"f":1.2345678901234568e20"#),
        "{out}"
    );
    let script = r#"
import sys, json, math
r = json.loads(sys.argv[1])[0]
assert all(type(v) is float for v in r.values()), r
assert math.copysign(1, r['a']) == -1 and r['b'] == 1e300 and r['f'] == 123456789012345680000.0, r
print('ok')
"#;
    assert_eq!(python(script, &[&out]).trim(), "ok");
}

/// JSON equality, floats within 2 ULP: two correct shortest forms of one double can differ in
/// the last digit (`…562` vs `…563` for an exact tie), and serde_json's default float parser is
/// not correctly rounded, so the same double may come back one ULP apart.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 2.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn table_is_aligned_and_terminal_safe() {
    let (ok, out, err) = query(
        "table",
        "SELECT status, count(*) AS requests, min(user_agent) AS agent FROM logs GROUP BY status ORDER BY status NULLS LAST",
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let footer = lines.last().unwrap();
    assert!(
        footer.starts_with('(') && footer.ends_with("rows)"),
        "{footer}"
    );
    // Every row's column separators line up with the header's.
    let seps = |l: &str| {
        l.chars()
            .enumerate()
            .filter(|(_, c)| *c == '│' || *c == '┼')
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let header = seps(lines[0]);
    assert_eq!(header.len(), 2);
    for l in &lines[1..lines.len() - 1] {
        assert_eq!(seps(l), header, "misaligned: {l:?}");
    }
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reach the terminal"
    );
}

#[test]
fn writes_are_refused_and_the_lake_is_unchanged() {
    let lake_dir = lake().lake.clone();
    let before = snapshot(&lake_dir);
    let target = lake_dir.join("x.parquet");
    let existing = before
        .iter()
        .find(|(p, ..)| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap()
        .0
        .clone();
    let attempts = [
        format!("COPY logs TO '{}' (FORMAT parquet)", target.display()),
        format!(
            "COPY (SELECT 1 AS x) TO '{}' (FORMAT parquet)",
            existing.display()
        ),
        "CREATE TABLE t AS SELECT * FROM logs".to_string(),
        format!("ATTACH '{}' AS db", lake_dir.join("x.duckdb").display()),
        format!("EXPORT DATABASE '{}'", lake_dir.join("export").display()),
        "SET enable_external_access = true".to_string(),
        "INSTALL httpfs".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{}' (FORMAT parquet)",
            existing.display()
        ),
        format!(
            "/* c */ explain -- c\n analyze COPY logs TO '{}'",
            target.display()
        ),
        format!("SELECT * FROM read_csv('{}')", lake().logs[0].display()),
    ];
    for sql in &attempts {
        let (ok, out, err) = query("table", sql);
        assert!(!ok, "accepted: {sql}");
        assert!(out.is_empty(), "printed a result for {sql}: {out}");
        assert!(!err.trim().is_empty(), "no message for {sql}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{sql}: {err}"
        );
    }
    assert_eq!(snapshot(&lake_dir), before, "the lake changed");
    // Comments that make the guard's cut of an EXPLAIN differ from DuckDB's (a nested comment;
    // a `)` inside one): refused, or what runs is the checked cut, never the COPY.
    let copy = format!(
        "COPY (SELECT 42 AS x) TO '{}' (FORMAT parquet, USE_TMP_FILE false)",
        existing.display()
    );
    let (ok, _, err) = query("table", &copy);
    assert!(!ok && err.contains("got COPY"), "{err}");
    let (ok, _, err) = query(
        "table",
        &format!("EXPLAIN ANALYZE /* /* */ SELECT 1 --*/ {copy}"),
    );
    assert!(!ok && err.contains("got COPY"), "{err}");
    let (ok, _, err) = query(
        "table",
        &format!("EXPLAIN (ANALYZE /* ) SELECT 1 -- */) {copy}"),
    );
    assert!(!ok && err.contains("EXPLAIN options"), "{err}");
    assert_eq!(snapshot(&lake_dir), before, "the lake changed");
    // A parenthesised statement is explained, not read as options.
    for sql in [
        "EXPLAIN /* a /* nested */ comment */ SELECT count(*) FROM logs",
        "EXPLAIN ANALYZE (SELECT count(*) FROM logs)",
        "EXPLAIN (SELECT 1) UNION ALL (SELECT 2)",
        "EXPLAIN (FORMAT json) SELECT count(*) FROM logs",
    ] {
        let (ok, out, err) = query("table", sql);
        assert!(ok && !out.is_empty(), "{sql}: {err}");
    }
}

#[test]
fn bad_sql_prints_duckdbs_error_only() {
    let (ok, out, err) = query("table", "SELEC country FROM logs");
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.starts_with("accesslake: error: Parser Error: syntax error at or near \"SELEC\""),
        "{err}"
    );
    let (ok, out, err) = query("csv", "SELECT no_such_column FROM logs");
    assert!(!ok && out.is_empty());
    assert!(
        err.starts_with(
            "accesslake: error: Binder Error: Referenced column \"no_such_column\" not found"
        ),
        "{err}"
    );
    assert!(!err.contains("hint:"), "{err}");
    // An error raised while running ends with DuckDB's message, not a meaningless code after it.
    let (ok, _, err) = query("csv", "SELECT 'a'::int");
    assert!(!ok);
    assert!(
        err.contains("Conversion Error: Could not convert string 'a'"),
        "{err}"
    );
    assert!(!err.contains("Error code"), "{err}");
    // Two statements are refused; a PIVOT that DuckDB makes two of says how to write it as one.
    let (ok, _, err) = query("csv", "SELECT 1; SELECT 2");
    assert!(
        !ok && err.contains("exactly one SQL statement (2 given)"),
        "{err}"
    );
    assert!(!err.contains("PIVOT"), "{err}");
    let (ok, _, err) = query(
        "csv",
        "PIVOT (SELECT method FROM logs) ON method USING count(*)",
    );
    assert!(!ok && err.contains("a PIVOT without `IN (…)`"), "{err}");
    let (ok, out, err) = query(
        "csv",
        "PIVOT (SELECT method FROM logs) ON method IN ('GET') USING count(*)",
    );
    assert!(ok && out.starts_with("GET"), "{err}");
    let (ok, _, err) = query("csv", "SELECT count(*) FROM requests");
    assert!(!ok);
    assert!(err.contains("hint: the lake is the view `logs`"), "{err}");
    assert!(
        !err.contains("backtrace") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn date_functions_on_time_get_a_hint_that_works() {
    let (ok, out, err) = query("csv", "SELECT hour(time) AS h FROM logs LIMIT 1");
    if cfg!(feature = "bundled") {
        // The bundled DuckDB has no ICU: `hour(time)` on a TIMESTAMPTZ fails, and says what to do.
        assert!(!ok && out.is_empty());
        assert!(err.contains("'icu") && err.contains("hint:"), "{err}");
        assert!(err.contains("hour(time::TIMESTAMP)"), "{err}");
    } else {
        // DuckDB's own build has ICU built in: the query works (in UTC: see below).
        assert!(ok, "{err}");
    }
    // The hint's form works, and agrees with the hour partition (`time` is UTC).
    let (ok, out, err) = query(
        "csv",
        "SELECT count(*) FILTER (WHERE hour(time::TIMESTAMP) <> hour) AS off, \
                date_trunc('day', time::TIMESTAMP) IS NOT NULL AS d FROM logs GROUP BY 2",
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().nth(1), Some("0,true"), "{out}");
}

#[test]
#[cfg(not(feature = "bundled"))]
fn with_icu_time_is_shown_and_computed_in_utc_whatever_the_machines_zone() {
    // ICU works in the session's time zone, which DuckDB takes from the machine's unless set.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accesslake"))
        .env("TZ", "America/St_Johns") // UTC-03:30 or -02:30: no hour of it is a UTC hour
        .args(["query", "--lake", lake().lake_str(), "--format", "csv"])
        .arg(
            "SELECT count(*) FILTER (WHERE hour(time) <> hour OR day(time) <> day) AS off, \
                    count(*) FILTER (WHERE date_trunc('day', time)::DATE \
                        <> make_date(year, month, day)) AS trunc, \
                    min(time)::VARCHAR AS first FROM logs",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("0,0,") && row.ends_with("+00"), "{text}");
}

#[test]
fn missing_and_empty_lakes_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = accesslake(&["query", "--lake", missing.to_str().unwrap(), "SELECT 1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no lake at") && err.contains("does not exist"),
        "{err}"
    );
    // An empty lake, and one holding only bookkeeping and an uncommitted temp file.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("_accesslake")).unwrap();
    std::fs::create_dir_all(empty.join("year=2020/month=01/day=01/hour=00")).unwrap();
    std::fs::write(
        empty.join("year=2020/month=01/day=01/hour=00/.a.parquet.tmp"),
        b"partial",
    )
    .unwrap();
    let out = accesslake(&[
        "query",
        "--lake",
        empty.to_str().unwrap(),
        "SELECT count(*) FROM logs",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is empty") && err.contains("no committed Parquet files"),
        "{err}"
    );
}

fn explain_analyze(sql: &str) -> String {
    let (ok, out, err) = query("json", &format!("EXPLAIN ANALYZE {sql}"));
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.iter()
        .map(|r| r["explain_value"].as_str().unwrap_or("").to_string())
        .collect()
}

fn numbers_after(plan: &str, label: &str) -> (u64, u64) {
    let at = plan
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in plan:\n{plan}"));
    let rest = &plan[at + label.len()..];
    let nums: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn partition_and_time_filters_prune() {
    let (ok, out, err) = query(
        "csv",
        "SELECT year, month, day, hour FROM logs GROUP BY ALL ORDER BY ALL LIMIT 1",
    );
    assert!(ok, "{err}");
    let first: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
    let (y, m, d, h) = (first[0], first[1], first[2], first[3]);

    let plan = explain_analyze(&format!(
        "SELECT sum(bytes) FROM logs WHERE year = {y} AND month = {m} AND day = {d} AND hour = {h}"
    ));
    let (scanned, total) = numbers_after(&plan, "Scanning Files:");
    assert!(
        scanned >= 1 && scanned < total,
        "partition filter read {scanned}/{total} files:\n{plan}"
    );

    // A filter on `time` skips row groups by their statistics (DuckDB 1.5's EXPLAIN ANALYZE does
    // not count them, 2.0's does): every row group records its `time` range, and an hour's
    // filter leaves some, not all, of them to read.
    let at =
        chrono::NaiveDate::from_ymd_opt(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap())
            .unwrap()
            .and_hms_opt(h.parse().unwrap(), 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
    let next = at + 3_600_000_000;
    let (mut groups, mut all_groups) = (0, 0);
    for path in common::parquet_files(std::path::Path::new(lake().lake_str())) {
        let file = std::fs::File::open(&path).unwrap();
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .unwrap();
        for rg in meta.row_groups() {
            let chunk = rg
                .columns()
                .iter()
                .find(|c| c.column_path().string() == "time");
            let stats = chunk.and_then(|c| c.statistics());
            let Some(parquet::file::statistics::Statistics::Int64(v)) = stats else {
                panic!(
                    "{}: no INT64 statistics for `time`: {stats:?}",
                    path.display()
                );
            };
            let (min, max) = (*v.min_opt().unwrap(), *v.max_opt().unwrap());
            all_groups += 1;
            groups += usize::from(min < next && max >= at);
        }
    }
    assert!(
        groups >= 1 && groups < all_groups,
        "an hour's filter on `time` overlaps {groups}/{all_groups} row groups"
    );
}
