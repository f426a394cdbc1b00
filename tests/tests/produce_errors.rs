//! `produce` when some records cannot be delivered: the error says to which topic, how many, and
//! that the others were delivered (a rerun sends them again); and an input it cannot read as a
//! log stops it before anything is sent.

use accesslake_tests::broker::Broker;
use accesslake_tests::sink_process::accesslake_bin;
use std::process::Command;

#[test]
fn a_missing_dead_letter_topic_is_named() {
    let broker = Broker::with_topic("requests", 1).expect("start tansu with a topic");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("access.log");
    let line = "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326 \"-\" \"x\"\n";
    let long = format!("{}\n", "x".repeat(300));
    std::fs::write(&input, format!("{line}{long}{line}")).unwrap();
    let out = Command::new(accesslake_bin())
        .args([
            "produce",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            "requests",
        ])
        .args(["--dlq-topic", "nosuch.dlq", "--max-line-bytes", "200"])
        .args(["-X", "message.timeout.ms=3000"])
        .arg(&input)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("1 of 3 records were not delivered (1 to nosuch.dlq)"),
        "{err}"
    );
    assert!(err.contains("first error: topic nosuch.dlq:"), "{err}");
    assert!(err.contains("The others were delivered"), "{err}");
}

#[test]
fn a_file_compressed_otherwise_than_gzip_stops_produce_before_anything_is_sent() {
    // No broker at all: the check comes first.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("access.log");
    std::fs::write(
        &good,
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1\n",
    )
    .unwrap();
    let zst = dir.path().join("access.log.zst");
    std::fs::write(&zst, b"\x28\xb5\x2f\xfd\x24\x05").unwrap();
    let out = Command::new(accesslake_bin())
        .args(["produce", "--brokers", "127.0.0.1:1", "--topic", "requests"])
        .arg(&good)
        .arg(&zst)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("access.log.zst") && err.contains("zstd-compressed"),
        "{err}"
    );
    assert!(!err.contains("librdkafka"), "it connected: {err}");
}
