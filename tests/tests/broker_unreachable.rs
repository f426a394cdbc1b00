//! `run` and `produce` with no broker listening: each connection failure is logged once, as
//! librdkafka's error event. librdkafka also logs it itself (facility `FAIL`), rdkafka returns a
//! consumer's error event from `poll` after handing it to the error callback, and calls a
//! producer's error callback twice: three or four lines for one failure, before.

use accesslake_tests::sink_process::{free_port, wait_for_log, SinkProcess};
use anyhow::Result;
use std::time::Duration;

/// The error and warning lines of `log`.
fn error_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect()
}

/// Checks each failure to connect appears once, and that there was one.
fn check_logged_once(log: &str) {
    let lines = error_lines(log);
    assert!(!lines.is_empty(), "no error logged:\n{log}");
    assert!(
        !log.contains("librdkafka: FAIL"),
        "the FAIL log repeats the error event's text:\n{log}"
    );
    assert!(
        !log.contains("consumer error"),
        "the poll error repeats the error event:\n{log}"
    );
    let refused = lines
        .iter()
        .filter(|l| l.contains("Connection refused"))
        .count();
    let transport = lines
        .iter()
        .filter(|l| l.contains("BrokerTransportFailure") && l.contains("Connection refused"))
        .count();
    assert!(refused >= 1, "{log}");
    assert_eq!(
        refused, transport,
        "each refusal once, as the error event:\n{log}"
    );
    // No two lines the same but for their time stamp (what the double callback gave, and the
    // poll's echo); within the test's seconds, no repeat is due (30 s apart).
    let bodies: Vec<&str> = lines
        .iter()
        .map(|l| l.split_once(' ').map_or(*l, |x| x.1))
        .collect();
    let distinct: std::collections::HashSet<&&str> = bodies.iter().collect();
    assert_eq!(distinct.len(), bodies.len(), "a line logged twice:\n{log}");
}

#[test]
fn run_logs_each_connection_failure_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("run.log");
    let lake = dir.path().join("lake");
    let args: Vec<String> = [
        "run",
        "--brokers",
        &format!("127.0.0.1:{}", free_port()),
        "--lake",
        &lake.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sink = SinkProcess::spawn(&args, &[], &log, "sink")?;
    wait_for_log(
        &[&log],
        "All broker connections are down",
        Duration::from_secs(20),
    )?;
    // Past librdkafka's first reconnection attempts (100 ms backoff, doubling).
    std::thread::sleep(Duration::from_millis(1500));
    let status = sink.terminate(Duration::from_secs(20))?;
    let text = std::fs::read_to_string(&log)?;
    assert!(status.success(), "{status}:\n{text}");
    check_logged_once(&text);
    Ok(())
}

#[test]
fn produce_logs_each_connection_failure_once_and_fails() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("produce.log");
    let input = dir.path().join("access.log");
    std::fs::write(
        &input,
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326 \"-\" \"x\"\n",
    )?;
    let args: Vec<String> = [
        "produce",
        "--brokers",
        &format!("127.0.0.1:{}", free_port()),
        "--topic",
        "requests",
        "-X",
        "message.timeout.ms=2000",
        &input.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut produce = SinkProcess::spawn(&args, &[], &log, "produce")?;
    let status = produce.wait(Duration::from_secs(60))?;
    let text = std::fs::read_to_string(&log)?;
    assert!(!status.success(), "nothing was delivered:\n{text}");
    check_logged_once(&text);
    Ok(())
}
