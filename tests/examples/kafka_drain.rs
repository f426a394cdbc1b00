//! `kafka_drain`: the broker's fetch limit, for `bench/kafka.sh`. Reads a topic from the
//! beginning with librdkafka (the same client and fetch settings as the sink) and does nothing
//! with the records but count them; prints `records seconds records_per_sec` once it has read
//! the given number of records. Usage: `kafka_drain BROKERS TOPIC RECORDS`.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, want] = &args[..] else {
        anyhow::bail!("usage: kafka_drain BROKERS TOPIC RECORDS");
    };
    let want: u64 = want.parse()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("drain-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    consumer.subscribe(&[topic.as_str()])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut start = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < want && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            start.get_or_insert_with(Instant::now);
            n += 1;
            bytes += m.payload_len() as u64;
        }
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!("{n} {secs:.3} {:.0} {bytes}", n as f64 / secs.max(1e-9));
    Ok(())
}
