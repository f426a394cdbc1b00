//! Poison records on the parsed topic, against a real broker (tansu): a value that is not JSON,
//! a JSON object that is not a schema-v1 record, and an empty value each go to the lake's
//! dead-letter file with their reason and raw value; the valid records around them reach the
//! lake, and records produced afterwards still do (the stream goes on). The `/metrics`
//! endpoint counts them and times each lake commit, and `/readyz` says the sink is connected to
//! the broker.

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{counts, dead_letters, per_partition, wait_for_rows};
use accesslake_tests::sink_process::{free_port, http_get, run_args, SinkProcess};
use accesslake_tests::stream::json_record;
use std::time::{Duration, Instant};

const TOPIC: &str = "requests.parsed";

/// Polls `path` on the metrics address until its answer contains `want`, for up to 30 s.
fn wait_for_answer(metrics: &str, path: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = http_get(metrics, path);
        if body.contains(want) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Starts `accesslake run` on `broker`'s topic into `lake`, serving metrics on a free port:
/// the process, the metrics address and the sink's log file.
fn start_sink(
    broker: &Broker,
    dir: &std::path::Path,
    lake: &std::path::Path,
) -> (SinkProcess, String, std::path::PathBuf) {
    start_sink_with(broker, dir, lake, &["--idle-flush-secs", "0.3"])
}

/// [`start_sink`] with these flags.
fn start_sink_with(
    broker: &Broker,
    dir: &std::path::Path,
    lake: &std::path::Path,
    flags: &[&str],
) -> (SinkProcess, String, std::path::PathBuf) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut flags = flags.to_vec();
    flags.extend(["--metrics-addr", &metrics]);
    let args = run_args(broker, TOPIC, lake, &flags);
    let log = dir.join("sink.log");
    let sink = SinkProcess::spawn(&args, &[], &log, "sink").unwrap();
    (sink, metrics, log)
}

/// A broker with the one-partition topic holding `records`, a work directory and its lake path.
fn broker_with(records: Vec<Vec<u8>>) -> (Broker, tempfile::TempDir, std::path::PathBuf) {
    let broker = Broker::with_topic(TOPIC, 1).expect("start tansu with a topic");
    broker.produce(TOPIC, Some(0), records).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    (broker, dir, lake)
}

#[test]
fn poison_records_go_to_dead_letters_and_the_stream_goes_on() {
    let (broker, dir, lake) = broker_with(vec![
        json_record(0, 1),
        b"this is { not json".to_vec(),
        json_record(1, 1),
        br#"{"hello":"world","status":200}"#.to_vec(),
        Vec::new(),
        json_record(2, 1),
    ]);

    let (mut sink, metrics, log) = start_sink(&broker, dir.path(), &lake);

    let c = wait_for_rows(&lake, 3, Duration::from_secs(60)).unwrap();
    assert_eq!(
        c.rows,
        3,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The stream goes on after the poison.
    broker
        .produce(TOPIC, Some(0), (3..10).map(|i| json_record(i, 1)))
        .unwrap();
    let c = wait_for_rows(&lake, 10, Duration::from_secs(60)).unwrap();
    assert_eq!((c.rows, c.distinct), (10, 10));

    // Dead letters are committed with the data: wait for the file (idle flush).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dead = dead_letters(&lake).unwrap();
    while dead.len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        dead = dead_letters(&lake).unwrap();
    }
    assert_eq!(dead.len(), 3, "{dead:?}");
    let by_offset = |o: i64| {
        dead.iter()
            .find(|d| d["offset"] == o)
            .unwrap_or_else(|| panic!("no dead letter for offset {o}: {dead:?}"))
    };
    let d = by_offset(1);
    assert_eq!(d["raw"], "this is { not json");
    assert_eq!(d["partition"], 0);
    assert_eq!(d["topic"], TOPIC);
    assert!(d["error"].as_str().unwrap().contains("not JSON"), "{d}");
    let d = by_offset(3);
    assert_eq!(d["raw"], r#"{"hello":"world","status":200}"#);
    assert!(d["error"].as_str().unwrap().contains("schema"), "{d}");
    let d = by_offset(4);
    assert_eq!(d["raw"], "");
    assert!(d["error"].as_str().unwrap().contains("empty"), "{d}");

    // The lake holds exactly the valid offsets.
    let parts = per_partition(&lake).unwrap();
    assert_eq!(parts, vec![(0, 10, 10, 0, 12)]);

    let body = http_get(&metrics, "/metrics");
    assert!(
        body.contains("accesslake_records_consumed_total 13"),
        "{body}"
    );
    assert!(
        body.contains("accesslake_records_written_total 10"),
        "{body}"
    );
    assert!(
        body.contains(r#"accesslake_records_rejected_total{reason="json"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"accesslake_records_rejected_total{reason="schema"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"accesslake_records_rejected_total{reason="empty"} 1"#),
        "{body}"
    );
    // One commit-duration observation per lake commit: as many as the partition's state counts.
    let state = lake.join("_accesslake/state").join(TOPIC).join("0.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let commits = state["commits"].as_u64().unwrap();
    assert!(
        commits >= 2,
        "the poison's commit and the stream's after it: {state}"
    );
    assert!(
        body.contains(&format!(
            "accesslake_commit_duration_seconds_count {commits}"
        )),
        "{commits} commits: {body}"
    );
    assert!(http_get(&metrics, "/healthz").contains("200 OK"));
    // Ready: connected to the broker (librdkafka's statistics come every 5 s).
    let ready = wait_for_answer(&metrics, "/readyz", "200 OK");
    assert!(ready.contains("200 OK"), "{ready}");
    let body = http_get(&metrics, "/metrics");
    assert!(body.contains("accesslake_brokers_up 1"), "one broker");
    assert!(body.contains("accesslake_assigned_partitions 1"), "{body}");

    let status = sink.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(counts(&lake).unwrap().rows, 10);
    // The broker's committed offset (asynchronous, a hint for lag tools) reached it before the
    // consumer closed: the next offset after the 13 records.
    assert_eq!(
        broker.committed("accesslake-sink", TOPIC, 1).unwrap(),
        vec![Some(13)]
    );
}

/// The broker dies under the sink: `/readyz` turns 503 while `/healthz` stays 200, and SIGTERM
/// still ends the sink with exit 0 and every record in the lake, without waiting out librdkafka's
/// close (about a session timeout, 45 s, past a container's grace period).
#[test]
fn with_the_broker_gone_the_sink_is_not_ready_and_still_stops_cleanly() {
    let (broker, dir, lake) = broker_with((0..100).map(|i| json_record(i, 1)).collect());
    let (mut sink, metrics, log) = start_sink(&broker, dir.path(), &lake);
    let c = wait_for_rows(&lake, 100, Duration::from_secs(60)).unwrap();
    assert_eq!(c.rows, 100);
    let ready = wait_for_answer(&metrics, "/readyz", "200 OK");
    assert!(ready.contains("200 OK"), "{ready}");

    drop(broker); // SIGKILL
    let ready = wait_for_answer(&metrics, "/readyz", " 503 ");
    assert!(ready.contains("not connected to any broker"), "{ready}");
    assert!(http_get(&metrics, "/healthz").contains("200 OK"));

    let status = sink
        .terminate(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    assert!(status.success(), "exit status {status}");
    let c = counts(&lake).unwrap();
    assert_eq!((c.rows, c.distinct), (100, 100));
}

/// The lag is known from the assignment (the partition's end, asked for then), not only once
/// librdkafka's first statistics arrive: here they never do within the test.
#[test]
fn the_lag_is_known_from_the_assignment() {
    let (broker, dir, lake) = broker_with((0..6).map(|i| json_record(i, 1)).collect());
    // No statistics for ten minutes, and no flush before the end: the lag stays what the
    // assignment found, all six records.
    let flags = [
        "--idle-flush-secs",
        "600",
        "-X",
        "statistics.interval.ms=600000",
    ];
    let (mut sink, metrics, _log) = start_sink_with(&broker, dir.path(), &lake, &flags);
    let want = format!(r#"accesslake_consumer_lag{{partition="0",topic="{TOPIC}"}} 6"#);
    let body = wait_for_answer(&metrics, "/metrics", &want);
    assert!(body.contains(&want), "{body}");
    assert!(body.contains("accesslake_assigned_partitions 1"), "{body}");
    let status = sink.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(counts(&lake).unwrap().rows, 6, "flushed on SIGTERM");
}
