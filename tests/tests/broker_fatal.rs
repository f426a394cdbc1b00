//! A fatal Kafka client error stops `run` with exit status 1 and a line that says so, instead of
//! a warning per poll, and the lake stays whole: what was committed is there exactly once, and
//! a restart resumes from it. librdkafka raises such an error when the group fences a static
//! member (`group.instance.id`). The test broker (tansu) never fences, so the broker here is
//! librdkafka's own mock cluster, run in this test process on loopback, told to answer the
//! sink's heartbeats with `FENCED_INSTANCE_ID`.

use accesslake_tests::lakecheck::{counts, wait_for_rows};
use accesslake_tests::sink_process::{wait_for_log, SinkProcess};
use accesslake_tests::stream::json_record;
use anyhow::Result;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use std::time::Duration;

const TOPIC: &str = "requests.parsed";
const RECORDS: u64 = 200;

#[test]
fn a_fenced_static_member_stops_with_exit_1_and_the_lake_whole() -> Result<()> {
    let mock = MockCluster::new(1)?;
    mock.create_topic(TOPIC, 1, 1)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .create()?;
    for i in 0..RECORDS {
        let value = json_record(i, 10);
        producer
            .send(BaseRecord::<(), _>::to(TOPIC).payload(&value))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(10))?;

    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let log = dir.path().join("sink.log");
    let lake_arg = lake.display().to_string();
    let bootstrap = mock.bootstrap_servers();
    let args: Vec<String> = [
        "run",
        "--brokers",
        &bootstrap,
        "--topic",
        TOPIC,
        "--group",
        "fenced",
        "--lake",
        &lake_arg,
        "--idle-flush-secs",
        "0.5",
        "-X",
        "group.instance.id=sink-1",
        "-X",
        "heartbeat.interval.ms=300",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sink = SinkProcess::spawn(&args, &[], &log, "sink")?;
    // A member of the group that has committed the whole stream to the lake.
    let c = wait_for_rows(&lake, RECORDS as i64, Duration::from_secs(60))?;
    assert_eq!((c.rows, c.distinct), (RECORDS as i64, RECORDS as i64));

    // Every heartbeat from now on is answered: fenced by another instance of the same id.
    mock.request_errors(
        RDKafkaApiKey::Heartbeat,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID; 50],
    );
    let status = sink.wait(Duration::from_secs(60))?;
    let text = std::fs::read_to_string(&log)?;
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("the Kafka client stopped on a fatal error"),
        "{text}"
    );
    assert_eq!(
        text.matches("accesslake: error:").count(),
        1,
        "one error line:\n{text}"
    );
    let c = counts(&lake)?;
    assert_eq!((c.rows, c.distinct), (RECORDS as i64, RECORDS as i64));

    // Once the fence is lifted, a restart resumes from the lake: nothing written twice.
    mock.clear_request_errors(RDKafkaApiKey::Heartbeat);
    let log2 = dir.path().join("sink2.log");
    let mut again = SinkProcess::spawn(&args, &[], &log2, "sink2")?;
    wait_for_log(&[&log2], "sink running", Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(3));
    let status = again.terminate(Duration::from_secs(30))?;
    let text = std::fs::read_to_string(&log2)?;
    assert!(status.success(), "{status}:\n{text}");
    let c = counts(&lake)?;
    assert_eq!((c.rows, c.distinct), (RECORDS as i64, RECORDS as i64));
    Ok(())
}
