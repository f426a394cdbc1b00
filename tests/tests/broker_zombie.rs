//! A paused member (a "zombie"), against a real broker (tansu): two sink processes in one
//! consumer group share a 3-partition topic; one is frozen (SIGSTOP) mid-stream for longer than
//! its session, and a third joins, so the broker gives the frozen one's partitions to the others
//! while it still holds them, perhaps halfway through a commit. They must wait for the lake's
//! partition locks (one says so in its log) instead of writing beside the zombie; when the zombie
//! is thawed (SIGCONT) it learns its assignment was lost, drops its buffers and lets go, and the
//! others carry on from the lake's offsets. The lake ends with exactly 100 k rows and no duplicate
//! (`src_partition`, `src_offset`) (DuckDB). And a sink waiting for a partition another writer
//! holds says so on `/readyz` and stops at once, cleanly, on SIGTERM, instead of waiting out
//! `--lock-wait-secs`.

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{assert_every_offset_once, counts, wait_for_rows};
use accesslake_tests::sink_process::{free_port, group_args, http_get, wait_for_log, SinkProcess};
use accesslake_tests::stream::json_record;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const TOPIC: &str = "requests.parsed";

/// The partitions a sink's log says it holds now (and so their locks): assigned, and not since
/// revoked or lost.
fn held(log: &std::path::Path) -> BTreeSet<i32> {
    let mut held = BTreeSet::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        if line.contains("assignment lost") {
            held.clear();
        }
        let Some((_, rest)) = line.split_once(" partition=") else {
            continue;
        };
        let Some(p) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if line.contains(": assigned ") {
            held.insert(p);
        } else if line.contains(": revoked after commit ") {
            held.remove(&p);
        }
    }
    held
}

/// Waits until `a` and `b` both hold partitions, the topic's all between them, and have for 2 s.
fn settled(a: &std::path::Path, b: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut since = (Instant::now(), (held(a), held(b)));
    loop {
        let now = (held(a), held(b));
        if now != since.1 {
            since = (Instant::now(), now.clone());
        }
        let (ha, hb) = &now;
        let all = ha.len() + hb.len() == PARTITIONS as usize && ha.is_disjoint(hb);
        if all && !ha.is_empty() && !hb.is_empty() && since.0.elapsed() >= Duration::from_secs(2) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "A and B never settled: A {ha:?}, B {hb:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const RECORDS: u64 = 100_000;
const PARTITIONS: i32 = 3;

#[test]
fn a_frozen_member_is_waited_for_not_written_beside() {
    let broker = Broker::with_topic(TOPIC, PARTITIONS).expect("start tansu with a topic");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let args = group_args(&broker, TOPIC, &lake, "zombie-test");
    accesslake_tests::sink_process::accesslake_bin();
    let [a_log, b_log, c_log] = ["a", "b", "c"].map(|m| dir.path().join(format!("{m}.log")));

    // Half the records first, so both members own partitions with data when A freezes.
    let produce = |from: u64, to: u64| {
        let chunk = 2_000u64;
        for c in (from..to).step_by(chunk as usize) {
            let values = (c..(c + chunk).min(to)).map(|i| json_record(i, 10));
            broker.produce(TOPIC, None, values).expect("produce");
        }
    };
    produce(0, RECORDS / 2);
    let mut a_sink = SinkProcess::spawn(&args, &[], &a_log, "sink A").expect("spawn A");
    wait_for_log(&[&a_log], "assigned", Duration::from_secs(60)).unwrap();
    let mut b_sink = SinkProcess::spawn(&args, &[], &b_log, "sink B").expect("spawn B");
    wait_for_log(&[&b_log], "assigned", Duration::from_secs(60)).unwrap();
    let mid = wait_for_rows(&lake, 20_000, Duration::from_secs(60)).unwrap();
    // Frozen between a revocation and the next assignment, A would hold no lock, and nobody
    // would have to wait for it: freeze it once A and B hold the three partitions between them,
    // unchanged for 2 s.
    settled(&a_log, &b_log, Duration::from_secs(60));
    eprintln!("freezing A with the lake at {mid:?}");
    a_sink.signal("STOP").expect("SIGSTOP A");
    produce(RECORDS / 2, RECORDS);
    // Past A's session, a member joins (tansu 0.6 only expires a silent member when the group
    // changes: it never tells the others to rebalance on a mere timeout). The group drops A and
    // gives its partitions to B and C, which must wait for A's locks.
    std::thread::sleep(Duration::from_secs(8));
    let mut c_sink = SinkProcess::spawn(&args, &[], &c_log, "sink C").expect("spawn C");
    let waited = wait_for_log(
        &[&b_log, &c_log],
        "waiting for it to let go",
        Duration::from_secs(60),
    );
    let frozen = counts(&lake).unwrap();
    eprintln!("A frozen, another member waiting: lake at {frozen:?}");
    a_sink.signal("CONT").expect("SIGCONT A");
    let waiter = waited.unwrap();
    // The waiter gets the lock once A lets go: A, thawed, learns its assignment was lost (tansu
    // expelled it) and drops its buffers, or is told to rebalance and revokes after a commit.
    wait_for_log(&[waiter], "partition lock taken", Duration::from_secs(150)).unwrap();

    let c = wait_for_rows(&lake, RECORDS as i64, Duration::from_secs(180)).unwrap();
    eprintln!("done: {c:?}");
    for (name, sink) in [("A", &mut a_sink), ("B", &mut b_sink), ("C", &mut c_sink)] {
        let status = sink.terminate(Duration::from_secs(30)).expect("stop");
        assert!(status.success(), "{name}'s exit status {status}");
    }
    // The story, for a failure's report: who owned what, who waited, who lost.
    for (name, log) in [("A", &a_log), ("B", &b_log), ("C", &c_log)] {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| {
            ["assigned", "revoked", "lost", "let go", "lock taken"]
                .iter()
                .any(|k| l.contains(k))
        }) {
            eprintln!("{name}: {line}");
        }
    }
    let c = counts(&lake).unwrap();
    assert_eq!(c.rows, RECORDS as i64, "rows in the lake");
    assert_eq!(
        c.distinct, RECORDS as i64,
        "duplicate (src_partition, src_offset)"
    );
    assert_every_offset_once(&lake, &broker.high_watermarks(TOPIC).unwrap());
}

#[test]
fn a_sink_waiting_for_a_held_partition_stops_at_once_on_sigterm() {
    let broker = Broker::with_topic(TOPIC, 1).expect("start tansu with a topic");
    broker
        .produce(TOPIC, None, (0..10).map(|i| json_record(i, 10)))
        .expect("produce");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = accesslake_tests::sink_process::run_args(
        &broker,
        TOPIC,
        &lake,
        &["--idle-flush-secs", "0.5", "--metrics-addr", &metrics],
    );
    // Another writer (this test) holds the partition, as a second consumer group would.
    let held = accesslake::lake::Lake::open(&lake)
        .unwrap()
        .lock_partition(TOPIC, 0, Duration::ZERO)
        .unwrap();
    let log = dir.path().join("sink.log");
    let mut sink = SinkProcess::spawn(&args, &[], &log, "sink").expect("spawn");
    wait_for_log(&[&log], "waiting for it to let go", Duration::from_secs(60)).unwrap();
    // Not ready meanwhile, and `/readyz` says why.
    let ready = http_get(&metrics, "/readyz");
    assert!(
        ready.contains(" 503 ") && ready.contains("waiting for a partition lock"),
        "{ready}"
    );
    let t = Instant::now();
    let status = sink.terminate(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "exit status {status}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    wait_for_log(&[&log], "stopping: partition not taken", Duration::ZERO).unwrap();
    assert_eq!(counts(&lake).map(|c| c.rows).unwrap_or(0), 0);
    // Once let go, the next sink takes the partition and writes it, once.
    drop(held);
    let mut sink = SinkProcess::spawn(&args, &[], &log, "sink").expect("spawn");
    let c = wait_for_rows(&lake, 10, Duration::from_secs(60)).unwrap();
    let status = sink.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success(), "exit status {status}");
    assert_eq!((c.rows, c.distinct), (10, 10));
}
