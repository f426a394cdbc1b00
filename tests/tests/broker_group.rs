//! Exactly-once across a rebalance, against a real broker (tansu): two sink processes in one
//! consumer group share a 3-partition topic; one is stopped (SIGTERM) mid-stream, so its
//! partitions move to the other, which must pick them up at the lake's resume offsets. The lake
//! ends with exactly 100 k rows and no duplicate (`src_partition`, `src_offset`) (DuckDB).

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{assert_every_offset_once, counts, wait_for_rows};
use accesslake_tests::sink_process::{group_args, SinkProcess};
use accesslake_tests::stream::json_record;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const TOPIC: &str = "requests.parsed";
const RECORDS: u64 = 100_000;
const PARTITIONS: i32 = 3;

#[test]
fn two_members_one_stopped_mid_stream() {
    let broker = Broker::with_topic(TOPIC, PARTITIONS).expect("start tansu with a topic");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let args = group_args(&broker, TOPIC, &lake, "group-test");
    accesslake_tests::sink_process::accesslake_bin();

    let b = &broker;
    let produced = AtomicU64::new(0);
    let produced = &produced;
    let (at_stop, mut b_sink) = std::thread::scope(|s| {
        // 50 chunks, 200 ms apart: the stream lasts ~10 s, so A is stopped while it still flows.
        let producer = s.spawn(move || {
            let chunk = 2_000u64;
            for c in 0..RECORDS / chunk {
                let values = (c * chunk..(c + 1) * chunk).map(|i| json_record(i, 10));
                b.produce(TOPIC, None, values).expect("produce");
                produced.store((c + 1) * chunk, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let mut a_sink =
            SinkProcess::spawn(&args, &[], &dir.path().join("a.log"), "sink A").expect("spawn A");
        let b_sink =
            SinkProcess::spawn(&args, &[], &dir.path().join("b.log"), "sink B").expect("spawn B");
        // Let both join and write, then stop A mid-stream.
        let mid = wait_for_rows(&lake, 20_000, Duration::from_secs(60)).unwrap();
        let at_stop = produced.load(Ordering::SeqCst);
        eprintln!("stopping A with the lake at {mid:?}, {at_stop} records produced");
        let status = a_sink.terminate(Duration::from_secs(30)).expect("stop A");
        assert!(status.success(), "A's exit status {status}");
        producer.join().expect("producer");
        (at_stop, b_sink)
    });
    assert!(
        at_stop < RECORDS,
        "A was stopped after the producer finished ({at_stop} records)"
    );

    let c = wait_for_rows(&lake, RECORDS as i64, Duration::from_secs(180)).unwrap();
    eprintln!("B finished: {c:?}");
    let status = b_sink.terminate(Duration::from_secs(30)).expect("stop B");
    assert!(status.success(), "B's exit status {status}");

    let a_log = std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default();
    let b_log = std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
    assert!(a_log.contains("assigned"), "A owned partitions:\n{a_log}");
    assert!(b_log.contains("assigned"), "B owned partitions:\n{b_log}");

    let c = counts(&lake).unwrap();
    assert_eq!(c.rows, RECORDS as i64, "rows in the lake");
    assert_eq!(
        c.distinct, RECORDS as i64,
        "duplicate (src_partition, src_offset)"
    );
    assert_every_offset_once(&lake, &broker.high_watermarks(TOPIC).unwrap());
}
