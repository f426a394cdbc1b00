//! Exactly-once under crashes, against a real broker (tansu): a 100 k-record stream on a
//! 2-partition topic, the sink killed with SIGKILL at random moments several times and restarted
//! each time; the lake must end with exactly 100 k rows, no duplicate (`src_partition`,
//! `src_offset`) and every offset of every partition present (checked with DuckDB). All the
//! while, `accesslake compact` merges the finished hours' files in a loop beside the sink.
//!
//! Needs tansu (scripts/install-tansu.sh); the `accesslake` binary is built by the test.

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{assert_every_offset_once, counts, per_partition};
use accesslake_tests::sink_process::SinkProcess;
use accesslake_tests::stream::json_record;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TOPIC: &str = "requests.parsed";
const RECORDS: u64 = 100_000;
const PARTITIONS: i32 = 2;
const KILLS: usize = 5;

/// The sink's arguments. Each run joins its own consumer group: the lake alone says where to
/// resume, and a group whose last member was killed waits out its session on the broker (tansu
/// has been seen not to rebalance such a group at all).
fn sink_args(broker: &Broker, lake: &std::path::Path, group: &str) -> Vec<String> {
    accesslake_tests::sink_process::run_args(
        broker,
        TOPIC,
        lake,
        &[
            "--group",
            group,
            "--window-secs",
            "300",
            "--lateness-secs",
            "10",
            "--max-rows",
            "3000",
            "--idle-flush-secs",
            "0.5",
            "-X",
            "fetch.wait.max.ms=50",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ],
    )
}

/// `accesslake compact --lake LAKE` (its default `--before`: the stream's hours are long over).
fn compact(lake: &std::path::Path) -> std::process::Output {
    std::process::Command::new(accesslake_tests::sink_process::accesslake_bin())
        .args(["compact", "--lake"])
        .arg(lake)
        .output()
        .expect("run accesslake compact")
}

/// Runs `accesslake compact` on `lake` over and over until `done`; returns how many runs merged
/// something, and the errors of those that failed (a lake not created yet is none).
fn compact_in_a_loop(lake: &std::path::Path, done: &AtomicBool) -> (usize, Vec<String>) {
    let (mut merged, mut errors) = (0, Vec::new());
    while !done.load(Ordering::Relaxed) {
        let out = compact(lake);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if out.status.success() {
            merged += usize::from(!stdout.contains(" 0 data file(s) into 0 ("));
        } else if !stderr.contains("no lake at") {
            errors.push(stderr.into_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (merged, errors)
}

/// How many partition assignments the sink log records so far.
fn assignments(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(" assigned")
        .count()
}

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let broker = Broker::with_topic(TOPIC, PARTITIONS).expect("start tansu with a topic");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("sink.log");
    accesslake_tests::sink_process::accesslake_bin();

    // The stream: produced in chunks while the sink runs and dies, and compacted meanwhile.
    let bootstrap_broker = &broker;
    let done = AtomicBool::new(false);
    let (merged, errors) = std::thread::scope(|s| {
        let compactor = s.spawn(|| compact_in_a_loop(&lake, &done));
        let producer = s.spawn(move || {
            let chunk = 5_000u64;
            for c in 0..RECORDS / chunk {
                let values = (c * chunk..(c + 1) * chunk).map(|i| json_record(i, 10));
                bootstrap_broker
                    .produce(TOPIC, None, values)
                    .expect("produce");
                std::thread::sleep(Duration::from_millis(150));
            }
        });

        let mut rng = rand::rng();
        for k in 0..KILLS {
            let joined = assignments(&log);
            let args = sink_args(&broker, &lake, &format!("crash-test-{k}"));
            let mut sink = SinkProcess::spawn(&args, &[], &log, "sink").expect("spawn sink");
            // Kill at a random moment after it owns partitions (joining takes a session timeout
            // when the previous member died without leaving).
            let deadline = Instant::now() + Duration::from_secs(30);
            while assignments(&log) == joined && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let wait = Duration::from_millis(rng.random_range(200..2500));
            std::thread::sleep(wait);
            let before = counts(&lake).unwrap_or_default();
            sink.kill9();
            eprintln!("kill {k}: {wait:?} after assignment, lake had {before:?}");
        }
        producer.join().expect("producer thread");
        assert_eq!(
            broker.high_watermarks(TOPIC).unwrap().iter().sum::<i64>(),
            RECORDS as i64,
            "the broker holds the whole stream"
        );

        let started = Instant::now();
        let args = sink_args(&broker, &lake, "crash-test-final");
        let mut sink = SinkProcess::spawn(&args, &[], &log, "sink").expect("spawn sink");
        // Distinct rows: during a merge's rename and deletions some are read twice (and a query
        // that opens a file just deleted fails: asked again). The final checks come after the
        // last merge.
        let deadline = Instant::now() + Duration::from_secs(180);
        let c = loop {
            match counts(&lake) {
                Ok(c) if c.distinct >= RECORDS as i64 || Instant::now() > deadline => break c,
                _ => std::thread::sleep(Duration::from_millis(300)),
            }
        };
        eprintln!("final run reached {c:?} in {:?}", started.elapsed());
        let status = sink.terminate(Duration::from_secs(30)).expect("SIGTERM");
        assert!(status.success(), "sink exit status {status}");
        done.store(true, Ordering::Relaxed);
        compactor.join().expect("compactor thread")
    });
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "compact beside the sink failed"
    );
    assert!(merged > 0, "compact merged nothing beside the sink");
    let last = compact(&lake);
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    eprintln!(
        "compact: {merged} runs merged files; last: {}",
        String::from_utf8_lossy(&last.stdout)
    );

    let c = counts(&lake).unwrap();
    let tail = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = tail.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    assert_eq!(
        c.rows, RECORDS as i64,
        "rows in the lake; sink log (reversed):\n{tail}"
    );
    assert_eq!(
        c.distinct, RECORDS as i64,
        "duplicate (src_partition, src_offset)"
    );
    // Every offset of every partition is there: count = distinct = max - min + 1 = watermark.
    assert_eq!(per_partition(&lake).unwrap().len(), PARTITIONS as usize);
    assert_every_offset_once(&lake, &broker.high_watermarks(TOPIC).unwrap());
    // `compact` never merged a file a restarted sink's recovery looked for.
    let sink_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !sink_log.contains("committed file is missing from the lake"),
        "a recovery missed a file of its last commit"
    );
}
