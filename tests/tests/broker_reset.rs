//! A topic recreated under the sink, against a real broker (tansu): a fresh broker with the same
//! topic, whose offsets start again at 0, stands in for a topic deleted and created again. The
//! lake's resume offset is beyond the new log, the broker resets the partition to its start, and
//! the sink must stop with an error naming the partition's state, not skip the new records as
//! written already.

use accesslake_tests::broker::Broker;
use accesslake_tests::lakecheck::{counts, wait_for_rows};
use accesslake_tests::sink_process::{self, SinkProcess};
use accesslake_tests::stream::json_record;
use std::time::Duration;

const TOPIC: &str = "requests.parsed";

fn run_args(broker: &Broker, lake: &std::path::Path) -> Vec<String> {
    sink_process::run_args(broker, TOPIC, lake, &["--idle-flush-secs", "0.3"])
}

#[test]
fn a_recreated_topic_stops_the_sink_instead_of_being_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");

    let first = Broker::with_topic(TOPIC, 1).expect("start tansu with a topic");
    first
        .produce(TOPIC, Some(0), (0..20).map(|i| json_record(i, 1)))
        .unwrap();
    let log = dir.path().join("sink-1.log");
    let mut sink = SinkProcess::spawn(&run_args(&first, &lake), &[], &log, "sink-1").unwrap();
    let c = wait_for_rows(&lake, 20, Duration::from_secs(60)).unwrap();
    assert_eq!(
        c.rows,
        20,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let status = sink.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "exit status {status}");
    drop(first);

    // The "recreated" topic: 5 new records at offsets 0..5, below the lake's resume offset 20.
    let second = Broker::with_topic(TOPIC, 1).expect("start tansu with a topic");
    second
        .produce(TOPIC, Some(0), (100..105).map(|i| json_record(i, 1)))
        .unwrap();
    let log = dir.path().join("sink-2.log");
    let mut sink = SinkProcess::spawn(&run_args(&second, &lake), &[], &log, "sink-2").unwrap();
    let status = sink.wait(Duration::from_secs(60));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(!status.success(), "the sink went on: {text}");
    assert!(text.contains("below the lake's resume offset 20"), "{text}");
    assert!(text.contains("state"), "{text}");
    assert_eq!(
        counts(&lake).unwrap().rows,
        20,
        "nothing written, nothing lost silently"
    );
}
