//! End to end against a real broker (tansu): raw log lines → `accesslake produce` → the compiled
//! transform `.wasm` under the Redpanda-ABI host (`wasm-bridge`) → `requests.parsed` /
//! `requests.dlq` → `accesslake run` (GeoIP with MaxMind's test databases) → the lake → DuckDB.
//!
//! Expected counts are derived independently of the sink: the native parser decides which lines
//! are valid (the host tests prove the `.wasm` agrees line by line), and the DLQ topic's
//! watermarks must hold the rest. Known GeoIP values come from MaxMind's test-data JSON sources:
//! 81.2.69.142 → London, England, GB; 216.160.83.56 → Milton, Washington, US;
//! 1.128.0.0/11 → AS1221 Telstra Pty Ltd.

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{scan, wait_for_rows};
use accesslake_tests::sink_process::{accesslake_bin, profile_dir, SinkProcess};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PARTITIONS: i32 = 2;

fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../shared")
}

/// The input: real Apache lines, lines with the test databases' known addresses, bad lines.
fn input_lines() -> Vec<String> {
    let real = std::fs::read_to_string(shared().join("data/elastic_apache_logs.log"))
        .expect("../shared/data/elastic_apache_logs.log");
    let mut lines: Vec<String> = real.lines().take(2000).map(str::to_string).collect();
    let known = [("81.2.69.142", 3), ("216.160.83.56", 2), ("1.128.0.1", 4)];
    for (ip, n) in known {
        for i in 0..n {
            lines.push(format!(
                "{ip} - - [01/Mar/2024:10:0{i}:00 +0100] \"GET /geo/{ip}/{i} HTTP/1.1\" 200 {} \"-\" \"curl/8.0\"",
                100 + i
            ));
        }
    }
    lines.push("this is not an access log line".into());
    lines.push("10.0.0.1 - - [32/Foo/2024:99:00:00 +0000] \"GET / HTTP/1.1\" 200 1".into());
    lines.push(String::new());
    lines
}

/// A record's value and headers (as text).
type Record = (Vec<u8>, Vec<(String, String)>);

/// The first `want` records of `requests.dlq`, from the beginning of every partition.
fn dead_letters(broker: &Broker, want: usize) -> Vec<Record> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "e2e-dead-letters")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        partitions
            .add_partition_offset("requests.dlq", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let (mut got, deadline) = (
        Vec::new(),
        std::time::Instant::now() + Duration::from_secs(60),
    );
    while got.len() < want && std::time::Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.unwrap();
        let headers = m.headers().map_or(Vec::new(), |h| {
            h.iter()
                .map(|h| {
                    let v = String::from_utf8_lossy(h.value.unwrap_or_default());
                    (h.key.to_string(), v.into_owned())
                })
                .collect()
        });
        got.push((m.payload().unwrap_or_default().to_vec(), headers));
    }
    got
}

fn duck(lake: &Path, sql: &str, n: usize) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let sql = sql.replace("{lake}", &scan(lake));
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    let v: duckdb::types::Value = r.get(i)?;
                    Ok(match v {
                        duckdb::types::Value::Null => "NULL".to_string(),
                        duckdb::types::Value::Text(s) => s,
                        other => format!("{other:?}"),
                    })
                })
                .collect::<duckdb::Result<Vec<String>>>()
        })
        .unwrap();
    rows.collect::<duckdb::Result<Vec<Vec<String>>>>().unwrap()
}

#[test]
fn raw_lines_through_produce_wasm_and_sink_to_duckdb() {
    let lines = input_lines();
    let valid = lines
        .iter()
        .filter(|l| accesslake_transform::parse_line(l.as_bytes()).is_ok())
        .count() as i64;
    let invalid = lines.len() as i64 - valid;
    assert!(
        invalid >= 3 && valid > 2000,
        "valid {valid}, invalid {invalid}"
    );

    let workspace = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("..");
    let target = profile_dir().parent().unwrap().to_path_buf();
    let wasm = accesslake_tests::build_wasm(&workspace, &target).expect("build the .wasm");
    accesslake_bin();

    let broker = Broker::start().expect("start tansu");
    for t in ["requests", "requests.parsed", "requests.dlq"] {
        broker.create_topic(t, PARTITIONS).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Compressed, as a rotated log is: `produce` reads it as its text.
    let input = dir.path().join("access.log.1.gz");
    // Two lines too large for one record: one over `--max-line-bytes` (1 MiB), never read whole,
    // and one under it but over the producer's message.max.bytes (1,000,000). `produce` sends
    // the head of each to the dead-letter topic and goes on.
    let over_limit = format!("{} \"{}\"", lines[0], "x".repeat(1_500_000));
    let over_message = format!("{} \"{}\"", lines[1], "y".repeat(1_020_000));
    let huge = [over_limit.clone(), over_message.clone()];
    let (head, tail) = lines.split_at(1000);
    let text = [head, &huge[..1], tail, &huge[1..]].concat().join("\n") + "\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    std::fs::write(&input, gz.finish().unwrap()).unwrap();
    let bootstrap = broker.bootstrap();

    // 1. produce the raw lines.
    let out = Command::new(accesslake_bin())
        .args(["produce", "--brokers", &bootstrap, "--topic", "requests"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("produced {} records", lines.len()))
            && stdout.contains("; 2 line(s) too large for one record went to requests.dlq"),
        "{stdout}"
    );
    let mut dead = dead_letters(&broker, 2);
    assert_eq!(dead.len(), 2);
    // x before y: the line over the limit first.
    dead.sort_by_key(|(value, _)| value.last().copied());
    let want = [
        (&over_limit, 1001, "over --max-line-bytes"),
        (
            &over_message,
            lines.len() + 2,
            "over the producer's message.max.bytes",
        ),
    ];
    for ((value, headers), (line, number, why)) in dead.iter().zip(want) {
        assert_eq!(value.as_slice(), &line.as_bytes()[..64 * 1024]);
        let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        assert_eq!(header("accesslake-truncated"), Some(line.len().to_string()));
        let reason = header("accesslake-error").unwrap();
        let want = format!(
            "line {number} of {} is {} bytes, too large for one record ({why})",
            input.display(),
            line.len()
        );
        assert!(reason.starts_with(&want), "{reason}");
    }
    assert_eq!(
        broker
            .high_watermarks("requests")
            .unwrap()
            .iter()
            .sum::<i64>(),
        lines.len() as i64
    );

    // 2. the transform, 3. the sink.
    let bridge_log = std::fs::File::create(dir.path().join("bridge.log")).unwrap();
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_wasm-bridge"))
        .arg("--wasm")
        .arg(&wasm)
        .args(["--brokers", &bootstrap, "-X", "fetch.wait.max.ms=50"])
        .stderr(bridge_log)
        .spawn()
        .unwrap();
    let geoip = shared().join("geoip");
    let args: Vec<String> = vec![
        "run".into(),
        "--brokers".into(),
        bootstrap.clone(),
        "--lake".into(),
        lake.display().to_string(),
        "--geoip-city".into(),
        geoip.join("GeoIP2-City-Test.mmdb").display().to_string(),
        "--geoip-asn".into(),
        geoip.join("GeoLite2-ASN-Test.mmdb").display().to_string(),
        "--idle-flush-secs".into(),
        "0.5".into(),
    ];
    let log = dir.path().join("sink.log");
    let mut sink = SinkProcess::spawn(&args, &[], &log, "sink").unwrap();

    let c = wait_for_rows(&lake, valid, Duration::from_secs(120)).unwrap();
    let _ = bridge.kill();
    let _ = bridge.wait();
    let status = sink.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "sink exit {status}");
    assert_eq!(
        (c.rows, c.distinct),
        (valid, valid),
        "sink log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(
        broker
            .high_watermarks("requests.dlq")
            .unwrap()
            .iter()
            .sum::<i64>(),
        invalid + 2,
        "the DLQ holds the invalid lines (from the transform) and the huge ones (from produce)"
    );

    let geo = duck(
        &lake,
        "SELECT client_ip, count(*)::VARCHAR, any_value(city), any_value(region),
                any_value(country_code), any_value(country), any_value(asn)::VARCHAR,
                any_value(as_org), bool_or(is_bot)::VARCHAR
         FROM {lake} WHERE client_ip IN ('81.2.69.142', '216.160.83.56', '1.128.0.1')
         GROUP BY 1 ORDER BY 1",
        9,
    );
    let want: Vec<Vec<&str>> = vec![
        vec![
            "1.128.0.1",
            "4",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "1221",
            "Telstra Pty Ltd",
            "true",
        ],
        vec![
            "216.160.83.56",
            "2",
            "Milton",
            "Washington",
            "US",
            "United States",
            "209",
            "NULL",
            "true",
        ],
        vec![
            "81.2.69.142",
            "3",
            "London",
            "England",
            "GB",
            "United Kingdom",
            "NULL",
            "NULL",
            "true",
        ],
    ];
    assert_eq!(geo, want);
    // The real lines' times land in their own UTC hour partitions (May 2015).
    let hours = duck(
        &lake,
        "SELECT count(DISTINCT (year, month, day, hour))::VARCHAR FROM {lake} WHERE year = 2015",
        1,
    );
    assert_ne!(hours[0][0], "0");
}
