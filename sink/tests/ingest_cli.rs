//! `accesslake ingest` end to end: both shared logs (and a file of known GeoIP addresses) into a
//! lake; rows = accepted lines, rejected lines in the dead letters, a rerun and an append add no
//! duplicates; stock readers (python duckdb, pyarrow.dataset, the duckdb crate) read the lake
//! with hive partitioning and agree on counts, types and values.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (accepted, rejected) lines of a file, as `accesslake parse` reports them, and the sum of
/// `bytes` over the accepted records' JSON.
fn parse_counts(path: &Path) -> (usize, usize, i64) {
    let out = accesslake(&["parse", path.to_str().unwrap()]);
    assert!(out.status.success());
    let mut bytes = 0;
    let mut acc = 0;
    for l in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        bytes += v["bytes"].as_i64().unwrap_or(0);
        acc += 1;
    }
    let rej = out
        .stderr
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    (acc, rej, bytes)
}

fn known_ips_log(dir: &Path) -> PathBuf {
    let p = dir.join("known.log");
    std::fs::write(
        &p,
        concat!(
            "81.2.69.142 - - [22/Jan/2019:03:56:14 +0330] \"GET /a HTTP/1.1\" 200 100 \"-\" \"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\"\n",
            "216.160.83.56 - - [22/Jan/2019:03:57:14 +0330] \"GET /b HTTP/1.1\" 404 200 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"\n",
            "garbage that is not a log line\n",
            "89.160.20.112 - - [22/Jan/2019:03:58:14 +0330] \"GET /c HTTP/1.1\" 200 300 \"-\" \"curl/8.0\"\n",
            "1.128.0.1 - - [22/Jan/2019:03:59:14 +0330] \"GET /d HTTP/1.1\" 500 400 \"-\" \"-\"\n",
        ),
    )
    .unwrap();
    p
}

fn ingest(lake: &Path, files: &[&Path]) -> String {
    let mut args = vec![
        "ingest".to_string(),
        "--lake".into(),
        lake.to_str().unwrap().into(),
        "--geoip-city".into(),
        geoip("GeoIP2-City-Test.mmdb").to_str().unwrap().into(),
        "--geoip-asn".into(),
        geoip("GeoLite2-ASN-Test.mmdb").to_str().unwrap().into(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stdout_of(accesslake(&args))
}

fn assert_unique(prov: &[(i32, i64)]) {
    let mut sorted = prov.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        prov.len(),
        "duplicate (src_partition, src_offset)"
    );
}

#[test]
fn ingest_shared_logs_exactly_once_and_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let known = known_ips_log(tmp.path());
    let files = [
        shared_log("zanbil_first1000.log"),
        shared_log("elastic_apache_logs.log"),
        known.clone(),
    ];
    let counts: Vec<(usize, usize, i64)> = files.iter().map(|f| parse_counts(f)).collect();
    for (f, c) in files.iter().zip(&counts) {
        assert_eq!(c.0 + c.1, count_lines(f));
    }
    let accepted: usize = counts.iter().map(|c| c.0).sum();
    let rejected: usize = counts.iter().map(|c| c.1).sum();
    let bytes: i64 = counts.iter().map(|c| c.2).sum();
    assert_eq!(counts[2], (4, 1, 1000));

    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let summary = ingest(&lake, &refs);
    assert!(
        summary.contains(&format!("{accepted} rows written")),
        "{summary}"
    );
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), accepted);
    assert_unique(&prov);
    let dead = dead_letters(&lake);
    assert_eq!(dead.len(), rejected);
    assert!(dead
        .iter()
        .any(|d| d["raw"] == "garbage that is not a log line" && d["line"] == 3));

    // A second run adds nothing.
    let summary = ingest(&lake, &refs);
    assert!(summary.contains(" 0 rows written"), "{summary}");
    assert_eq!(lake_provenance(&lake).len(), accepted);
    assert_eq!(dead_letters(&lake).len(), rejected);

    readers_agree(&lake, accepted, bytes);
    duckdb_crate_reads(&lake, accepted);
}

#[test]
fn appended_file_adds_only_new_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let log = tmp.path().join("grow.log");
    let zanbil = std::fs::read(shared_log("zanbil_first1000.log")).unwrap();
    let mut first = zanbil.clone();
    if !first.ends_with(b"\n") {
        first.push(b'\n');
    }
    std::fs::write(&log, &first).unwrap();
    ingest(&lake, &[&log]);
    let (a1, _, _) = parse_counts(&log);
    assert_eq!(lake_provenance(&lake).len(), a1);
    let elastic = std::fs::read(shared_log("elastic_apache_logs.log")).unwrap();
    std::fs::write(&log, [first, elastic].concat()).unwrap();
    ingest(&lake, &[&log]);
    let (a2, _, _) = parse_counts(&log);
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), a2);
    assert_unique(&prov);
    assert_eq!(
        prov.iter()
            .map(|p| p.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        1
    );
}

#[test]
fn a_gzip_log_reads_as_its_text_and_is_the_same_partition() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let plain = shared_log("zanbil_first1000.log");
    let text = std::fs::read(&plain).unwrap();
    // As logrotate leaves it: compressed, in two gzip members (`cat a.gz b.gz`), another name.
    let gz = tmp.path().join("access.log.2.gz");
    let (a, b) = text.split_at(text.len() / 2);
    let member = |part: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(part).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(&gz, [member(a), member(b)].concat()).unwrap();

    // `parse` reads the compressed file as its text.
    let out = |f: &Path| accesslake(&["parse", f.to_str().unwrap()]);
    let (from_gz, from_plain) = (out(&gz), out(&plain));
    assert!(from_gz.status.success());
    assert_eq!(from_gz.stdout, from_plain.stdout);
    assert_eq!(from_gz.stderr, from_plain.stderr);

    // `ingest` too, and the plain log after it is the same partition: nothing added twice.
    let (accepted, _, _) = parse_counts(&plain);
    let summary = ingest(&lake, &[&gz]);
    assert!(
        summary.contains(&format!("{accepted} rows written")),
        "{summary}"
    );
    let summary = ingest(&lake, &[&plain]);
    assert!(summary.contains(" 0 rows written"), "{summary}");
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), accepted);
    assert_unique(&prov);
}

#[test]
fn a_pipe_is_refused_with_one_line_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let fifo = tmp.path().join("pipe.log");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Refused before it is opened: no writer is needed, nothing blocks.
    let out = accesslake(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        fifo.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("accesslake: error: ") && err.contains("not a regular file"),
        "{err}"
    );
    // `-` names standard input for most tools; here it is refused as such, not as a missing file.
    let out = accesslake(&["ingest", "--lake", lake.to_str().unwrap(), "-"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(
        err.contains("-: standard input is not a regular file") && err.contains("`produce`"),
        "{err}"
    );
    assert!(!lake.exists(), "refused before the lake is created");
}

#[test]
fn a_line_over_the_limit_is_a_dead_letter_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let log = tmp.path().join("long.log");
    let known = std::fs::read(known_ips_log(tmp.path())).unwrap();
    // A parseable line of 5 MiB (its path is long) between two copies of the known lines: over
    // the default limit of 1 MiB, it must be refused with its length, not parsed or dropped.
    let path = "a".repeat(5 << 20);
    let long = format!(
        "81.2.69.142 - - [22/Jan/2019:04:00:00 +0330] \"GET /{path} HTTP/1.1\" 200 1 \"-\" \"-\""
    );
    let text = [&known[..], long.as_bytes(), b"\n", &known[..]].concat();
    std::fs::write(&log, &text).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 8 rows written, 3 rejected"), "{summary}");
    let dead = dead_letters(&lake);
    let refused: Vec<_> = dead.iter().filter(|d| d["line"] == 6).collect();
    assert_eq!(refused.len(), 1, "{dead:?}");
    let error = refused[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("line is {} bytes", long.len())) && error.contains("1048576"),
        "{error}"
    );
    let raw = refused[0]["raw"].as_str().unwrap();
    assert_eq!(raw.len(), 1 << 20);
    assert!(long.starts_with(raw));
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), 8);
    assert_unique(&prov);
    assert!(!prov.iter().any(|&(_, line)| line == 6));

    // A higher limit parses it; the lake is new, so nothing is skipped as already there.
    let lake2 = tmp.path().join("lake2");
    let out = accesslake(&[
        "ingest",
        "--lake",
        lake2.to_str().unwrap(),
        "--max-line-bytes",
        "8388608",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains(" 9 rows written, 2 rejected"), "{summary}");

    // A rerun of the first lake adds nothing, the refused line included.
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 0 rows written, 0 rejected"), "{summary}");
    assert_eq!(dead_letters(&lake).len(), dead.len());
}

const PY: &str = r#"
import json, sys, duckdb, pyarrow.dataset as ds
lake = sys.argv[1]
con = duckdb.connect()
con.execute("SET threads TO 2")
q = lambda s: con.execute(s.replace("LAKE", f"read_parquet('{lake}/**/*.parquet', hive_partitioning = true)")).fetchall()
out = {}
out["duck_count"], out["duck_distinct"], out["duck_bytes"] = q("SELECT count(*), count(DISTINCT (src_partition, src_offset)), sum(bytes) FROM LAKE")[0]
out["types"] = dict(q("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM LAKE)"))
out["london"] = [list(map(str, r)) for r in q("SELECT city, region, country_code, country, is_bot, year, month, day, hour, strftime(time, '%Y-%m-%dT%H:%M:%S') FROM LAKE WHERE client_ip = '81.2.69.142'")]
out["milton"] = [list(map(str, r)) for r in q("SELECT city, region, status, is_bot FROM LAKE WHERE client_ip = '216.160.83.56'")]
out["telstra"] = [list(map(str, r)) for r in q("SELECT asn, as_org, is_bot FROM LAKE WHERE client_ip = '1.128.0.1'")]
d = ds.dataset(lake, format="parquet", partitioning="hive", exclude_invalid_files=False,
               ignore_prefixes=["_", "."])
t = d.to_table()
out["arrow_count"] = t.num_rows
out["arrow_bytes"] = sum(x for x in t.column("bytes").to_pylist() if x is not None)
out["arrow_types"] = {f.name: str(f.type) for f in t.schema}
print(json.dumps(out))
"#;

fn readers_agree(lake: &Path, accepted: usize, bytes: i64) {
    if !python_readers() {
        panic!("python3 with duckdb and pyarrow is required (pip install duckdb pyarrow)");
    }
    let out = Command::new("python3")
        .args(["-c", PY, lake.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["duck_count"], accepted);
    assert_eq!(v["duck_distinct"], accepted);
    assert_eq!(v["arrow_count"], accepted);
    assert_eq!(v["duck_bytes"].as_f64().unwrap() as i64, bytes);
    assert_eq!(v["arrow_bytes"], bytes);
    let t = &v["types"];
    assert_eq!(t["time"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(t["status"], "INTEGER");
    assert_eq!(t["bytes"], "BIGINT");
    assert_eq!(t["latitude"], "DOUBLE");
    assert_eq!(t["is_bot"], "BOOLEAN");
    assert_eq!(t["src_partition"], "INTEGER");
    assert_eq!(t["src_offset"], "BIGINT");
    for hive in ["year", "month", "day", "hour"] {
        assert!(t.get(hive).is_some(), "hive column {hive} missing: {t}");
    }
    let a = &v["arrow_types"];
    assert_eq!(a["time"], "timestamp[us, tz=UTC]");
    assert_eq!(a["bytes"], "int64");
    assert_eq!(a["status"], "int32");
    // 03:56:14 +0330 is 00:26:14 UTC on the same day.
    assert_eq!(
        v["london"],
        serde_json::json!([[
            "London",
            "England",
            "GB",
            "United Kingdom",
            "True",
            // Zero-padded partition values (month=01, hour=00): DuckDB reads them as text.
            "2019",
            "01",
            "22",
            "00",
            "2019-01-22T00:26:14"
        ]])
    );
    assert_eq!(
        v["milton"],
        serde_json::json!([["Milton", "Washington", "404", "False"]])
    );
    assert_eq!(
        v["telstra"],
        serde_json::json!([["1221", "Telstra Pty Ltd", "False"]])
    );
}

fn duckdb_crate_reads(lake: &Path, accepted: usize) {
    let con = duckdb::Connection::open_in_memory().unwrap();
    let sql = format!(
        "SELECT count(*), count(DISTINCT hour) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true)",
        lake.display()
    );
    let (n, hours): (i64, i64) = con
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(n as usize, accepted);
    assert!(hours > 1);
}

#[test]
fn a_live_files_unfinished_last_line_waits_for_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("live.log");
    let line = |n: u32| {
        format!(
            "81.2.69.142 - - [22/Jan/2019:03:{n:02}:14 +0330] \"GET /{n} HTTP/1.1\" 200 {n} \"http://r/\" \"agent {n}\"\n"
        )
    };
    let full: String = (0..5).map(line).collect();
    // Four lines, and the fifth cut after its size: it would parse as a common-format line.
    let cut = full.len() - line(4).len() + line(4).find(" \"http").unwrap();
    std::fs::write(&log, &full[..cut]).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 4 rows written"), "{summary}");
    assert!(
        summary.contains("1 unfinished last line(s) held back"),
        "{summary}"
    );
    // The writer finishes the line and adds one more.
    std::fs::write(&log, format!("{full}{}", line(5))).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 2 rows written"), "{summary}");
    assert!(!summary.contains("held back"), "{summary}");
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), 6);
    assert_unique(&prov);
    let out = accesslake(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT count(*) FROM logs WHERE referrer = 'http://r/' AND user_agent LIKE 'agent %'",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        Some("6")
    );

    // A file left alone for a while is complete: its last line is taken without a newline, and
    // a file whose only line is unfinished is left for later, with no state written.
    let quiet = dir.path().join("quiet.log");
    std::fs::write(&quiet, line(7).trim_end()).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&quiet)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let summary = ingest(&lake, &[&quiet]);
    assert!(summary.contains(" 1 rows written"), "{summary}");
    let fresh = dir.path().join("fresh.log");
    std::fs::write(&fresh, line(8).trim_end()).unwrap();
    let summary = ingest(&lake, &[&fresh]);
    assert!(
        summary.contains(" 0 rows written") && summary.contains("held back"),
        "{summary}"
    );
    assert_eq!(lake_provenance(&lake).len(), 7);
}

#[test]
fn files_that_start_with_blank_lines_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let known = std::fs::read_to_string(known_ips_log(dir.path())).unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, format!("\n{known}")).unwrap();
    let mut lines: Vec<&str> = known.lines().collect();
    lines.reverse();
    std::fs::write(&b, format!("\n{}\n", lines.join("\n"))).unwrap();
    ingest(&lake, &[&a]);
    let summary = ingest(&lake, &[&b]);
    assert!(!summary.contains(" 0 rows written"), "{summary}");
    let prov = lake_provenance(&lake);
    assert_unique(&prov);
    let files: std::collections::BTreeSet<i32> = prov.iter().map(|p| p.0).collect();
    assert_eq!(files.len(), 2, "two files, two partitions");
}

#[test]
fn a_file_held_by_another_ingest_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = known_ips_log(dir.path());
    let lake = dir.path().join("lake");
    ingest(&lake, &[&log]);
    let mut before = lake_provenance(&lake);
    before.sort();
    let states: Vec<_> = std::fs::read_dir(lake.join("_accesslake/state/ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    let [id] = &states[..] else {
        panic!("one state file expected: {states:?}")
    };
    // Another writer (this test) holds the file's partition while lines are appended.
    let held = accesslake::lake::Lake::open(&lake)
        .unwrap()
        .lock_partition("ingest", id.parse().unwrap(), std::time::Duration::ZERO)
        .unwrap();
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(
        b"81.2.69.160 - - [22/Jan/2019:04:00:14 +0330] \"GET /e HTTP/1.1\" 200 5 \"-\" \"-\"\n",
    );
    std::fs::write(&log, &text).unwrap();
    let args = ["ingest", "--no-progress", "--lake", lake.to_str().unwrap()];
    let out = accesslake(&[&args[..], &[log.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("another writer holds this partition"), "{err}");
    let file_named = format!("{}: another process is ingesting this file", log.display());
    assert!(err.contains(&file_named), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    let mut now = lake_provenance(&lake);
    now.sort();
    assert_eq!(now, before, "nothing written while the partition was held");
    // Let go: the next run adds the new line, once.
    drop(held);
    ingest(&lake, &[&log]);
    let after = lake_provenance(&lake);
    assert_eq!(after.len(), before.len() + 1);
    assert_unique(&after);
}

#[test]
fn a_line_dated_far_ahead_of_the_clock_does_not_make_the_rest_late() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skewed.log");
    let mut text = String::new();
    for i in 0..200 {
        // Four hours of 2019, one line a minute and a bit, and at line 50 a mistyped year.
        let year = if i == 50 { 2099 } else { 2019 };
        let (h, m) = (i * 72 / 3600, i * 72 / 60 % 60);
        text.push_str(&format!(
            "81.2.69.142 - - [22/Jan/{year}:{h:02}:{m:02}:00 +0000] \"GET /p{i} HTTP/1.1\" 200 1 \"-\" \"-\"\n"
        ));
    }
    std::fs::write(&log, text).unwrap();
    let lake = dir.path().join("lake");
    let out = accesslake(&[
        "ingest",
        "--no-progress",
        "--lake",
        lake.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("200 rows written"), "{stdout}");
    assert!(stdout.contains(", 0 late, 1 early"), "{stdout}");
    let rows = lake_provenance(&lake);
    assert_eq!(rows.len(), 200);
    let years: std::collections::BTreeSet<String> = parquet_files(&lake)
        .iter()
        .filter_map(|p| {
            let s = p.to_string_lossy();
            let i = s.find("year=")?;
            Some(s[i..i + 9].to_string())
        })
        .collect();
    assert_eq!(
        years.into_iter().collect::<Vec<_>>(),
        ["year=2019", "year=2099"]
    );
}

/// Lines out of time order (a log merged from several servers, or shuffled): every line is in
/// the lake once, in its own hour, and each file's rows keep the file's order. Rows that switch
/// window from one line to the next are gathered into one batch per window and chunk (a slice per
/// row took about 12 KB each).
#[test]
fn a_shuffled_log_is_ingested_whole_and_in_order_within_each_file() {
    use arrow::array::AsArray;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("shuffled.log");
    // 3,000 lines over 50 hours, in a scrambled order (a fixed permutation: 7 is coprime to 3000).
    let text: String = (0..3000u32)
        .map(|i| (i * 7 + 11) % 3000)
        .map(|k| {
            format!(
                "10.0.{}.{} - - [{:02}/Jan/2019:{:02}:{:02}:00 +0000] \"GET /p{k} HTTP/1.1\" 200 {k} \"-\" \"-\"\n",
                k / 250,
                k % 250,
                1 + k / 60 / 24,
                k / 60 % 24,
                k % 60
            )
        })
        .collect();
    std::fs::write(&log, text).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains("3000 rows written"), "{summary}");
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), 3000);
    assert_unique(&prov);
    for f in parquet_files(&lake) {
        let offsets: Vec<i64> = read_parquet(&f)
            .iter()
            .flat_map(|b| {
                let o = b
                    .column_by_name("src_offset")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Int64Type>();
                o.values().to_vec()
            })
            .collect();
        assert!(
            offsets.is_sorted(),
            "{}: rows out of the file's order",
            f.display()
        );
        // The file's hour is its rows' hour: line k is at minute k of the log.
        let hour = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for o in offsets {
            let k = ((o as u32 - 1) * 7 + 11) % 3000;
            assert_eq!(hour, format!("hour={:02}", k / 60 % 24), "{}", f.display());
        }
    }
}

#[test]
fn a_commit_of_many_windows_stays_within_few_file_descriptors() {
    // 600 lines in 600 hours, shuffled: most are late, and one commit flushes hundreds of
    // windows, two files each. Under a limit of 128 open files it ran out of descriptors.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("shuffled.log");
    let base = 1_546_300_800i64; // 2019-01-01T00:00:00Z
    let mut text = String::new();
    for i in 0..600i64 {
        let t = chrono::DateTime::from_timestamp(base + (i * 7919 % 600) * 3600, 0).unwrap();
        text += &format!(
            "1.2.3.4 - - [{}] \"GET /{i} HTTP/1.1\" 200 5\n",
            t.format("%d/%b/%Y:%H:%M:%S +0000")
        );
    }
    std::fs::write(&log, text).unwrap();
    let lake = dir.path().join("lake");
    let out = Command::new("prlimit")
        .arg("--nofile=128")
        .arg(env!("CARGO_BIN_EXE_accesslake"))
        .args(["ingest", "--no-progress", "--lake"])
        .args([&lake, &log])
        .output()
        .expect("prlimit (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prov = lake_provenance(&lake);
    assert_eq!(prov.len(), 600);
    assert_unique(&prov);
    assert_eq!(parquet_files(&lake).len(), 600);
}

/// A stdout or stderr that refuses writes (a pipe closed by Ctrl-C on `ingest … | tee log`, a
/// full disk) does not panic `ingest` (exit 101, the summary lost): what it committed stands,
/// and the exit status says how it ended.
#[test]
fn a_closed_or_full_stdout_or_stderr_does_not_panic_ingest() {
    use std::process::Stdio;
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = shared_log("zanbil_first1000.log");
    let rows = |lake: &Path| lake_provenance(lake).len();

    let lake = dir.path().join("closed");
    let mut child = ingest_command(&lake, &[&log], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    let written = rows(&lake);
    assert!(written > 900, "{written}");

    let lake = dir.path().join("full");
    let out = ingest_command(&lake, &[&log], &[])
        .stdout(full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("cannot print the summary on stdout"), "{err}");
    assert_eq!(rows(&lake), written);

    let lake = dir.path().join("both");
    let status = ingest_command(&lake, &[&log], &[])
        .stdout(full())
        .stderr(full())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(rows(&lake), written);

    // An error with nowhere to say it: the exit status still tells.
    let status = ingest_command(&lake, &[&dir.path().join("missing.log")], &[])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}
