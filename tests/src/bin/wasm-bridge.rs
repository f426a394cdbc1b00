//! `wasm-bridge`: runs the transform's `.wasm` against a Kafka-API broker in place of
//! Redpanda's transform runtime (for brokers without data transforms, e.g. the tansu test
//! broker). It consumes the input topic in a consumer group, feeds each partition's records to
//! the guest as a batch, produces the outputs to the output topics (same partition number as
//! the input, like Redpanda) with an idempotent producer, waits for every delivery, and only
//! then commits the input offsets: at-least-once, nothing lost. SIGINT/SIGTERM finish the
//! current round, commit, and exit 0.

use accesslake_tests::{Guest, Header, Host, HostConfig, InputRecord, OutputRecord};
use anyhow::{bail, Context, Result};
use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Run the accesslake transform .wasm between Kafka topics (a stand-in for Redpanda's transform runtime)"
)]
struct Args {
    /// The transform module.
    #[arg(long, env = "ACCESSLAKE_WASM")]
    wasm: PathBuf,
    /// Bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Input topic (raw log lines).
    #[arg(long, default_value = "requests")]
    input: String,
    /// Output topics, comma-separated; the first is the default output, the second the DLQ.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "requests.parsed,requests.dlq"
    )]
    outputs: Vec<String>,
    /// Consumer group for the input offsets.
    #[arg(long, default_value = "accesslake-transform")]
    group: String,
    /// Transform environment, KEY=VALUE (like `rpk transform deploy --var`).
    #[arg(long = "var", value_parser = parse_kv)]
    vars: Vec<(String, String)>,
    /// Most records per batch handed to the guest.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Guest linear memory limit in bytes (Redpanda's default: 2 MiB).
    #[arg(long, default_value_t = accesslake_tests::guest::DEFAULT_MEMORY_LIMIT)]
    memory_limit: usize,
    /// Exit 0 after this many milliseconds without input (default: run until signalled).
    #[arg(long)]
    idle_exit_ms: Option<u64>,
    /// Extra librdkafka settings for both clients, key=value (repeatable).
    #[arg(short = 'X', value_parser = parse_kv)]
    rdkafka: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Counts failed deliveries; the bridge refuses to commit past one.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            tracing::error!(%error, topic = message.topic(), "delivery failed");
        }
    }
}

fn client_config(args: &Args) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &args.brokers);
    for (k, v) in &args.rdkafka {
        config.set(k, v);
    }
    config
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if args.outputs.is_empty() || args.batch_size == 0 {
        bail!("need at least one output topic and a positive batch size");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }

    let guest = Guest::from_file(&args.wasm)?;
    let config = HostConfig {
        input_topic: args.input.clone(),
        output_topics: args.outputs.clone(),
        env: args.vars.clone(),
        memory_limit: args.memory_limit,
        ..HostConfig::default()
    };
    let mut host = Host::new(&guest, config)?;

    let consumer: BaseConsumer = client_config(&args)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()
        .context("creating the consumer")?;
    consumer.subscribe(&[&args.input]).context("subscribing")?;
    let producer: ThreadedProducer<Deliveries> = client_config(&args)
        .set("enable.idempotence", "true")
        .set("compression.type", "none")
        .set("linger.ms", "5")
        .create_with_context(Deliveries::default())
        .context("creating the producer")?;

    let (mut consumed, mut written) = (0u64, [0u64; 2]);
    let mut last_input = Instant::now();
    let mut stderr_seen = 0;
    while !stop.load(Ordering::Relaxed) {
        // One round: up to batch_size records, grouped by partition, order kept.
        let mut round: BTreeMap<i32, Vec<InputRecord>> = BTreeMap::new();
        let mut n = 0;
        let mut timeout = Duration::from_millis(100);
        while n < args.batch_size {
            let Some(message) = consumer.poll(timeout) else {
                break;
            };
            let message = message.context("consuming")?;
            timeout = Duration::ZERO;
            round
                .entry(message.partition())
                .or_default()
                .push(InputRecord {
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers: message
                        .headers()
                        .map(|hs| hs.iter().map(|h| Header::new(h.key, h.value)).collect())
                        .unwrap_or_default(),
                    offset: message.offset(),
                    timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
                });
            n += 1;
        }
        if n == 0 {
            if args
                .idle_exit_ms
                .is_some_and(|ms| last_input.elapsed() >= Duration::from_millis(ms))
            {
                break;
            }
            continue;
        }
        last_input = Instant::now();
        consumed += n as u64;
        let mut commit = TopicPartitionList::new();
        for (partition, records) in &round {
            let outputs = host.process(records).context("the transform failed")?;
            for out in &outputs {
                send(&producer, out, *partition)?;
                written[out.topic_index.min(1)] += 1;
            }
            let next = records.last().map_or(0, |r| r.offset + 1);
            commit.add_partition_offset(&args.input, *partition, Offset::Offset(next))?;
        }
        let guest_stderr = &host.stderr()[stderr_seen..];
        if !guest_stderr.is_empty() {
            tracing::warn!(guest = %String::from_utf8_lossy(guest_stderr).trim_end(), "transform stderr");
            stderr_seen = host.stderr().len();
        }
        producer
            .flush(Duration::from_secs(60))
            .context("flushing outputs")?;
        if producer.context().failed.load(Ordering::SeqCst) > 0 {
            bail!("some outputs were not delivered; input offsets not committed");
        }
        consumer
            .commit(&commit, CommitMode::Sync)
            .context("committing input offsets")?;
    }
    tracing::info!(
        consumed,
        parsed = written[0],
        rejected = written[1],
        "stopping"
    );
    host.close()?;
    Ok(())
}

/// Queues one output record, waiting while the producer queue is full.
fn send(producer: &ThreadedProducer<Deliveries>, out: &OutputRecord, partition: i32) -> Result<()> {
    let mut headers = OwnedHeaders::new_with_capacity(out.headers.len());
    let keys: Vec<String> = out
        .headers
        .iter()
        .map(|h| String::from_utf8_lossy(&h.key).into_owned())
        .collect();
    for (h, key) in out.headers.iter().zip(&keys) {
        headers = headers.insert(rdkafka::message::Header {
            key,
            value: h.value.as_deref(),
        });
    }
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&out.topic)
        .partition(partition)
        .headers(headers);
    if let Some(key) = &out.key {
        record = record.key(key.as_slice());
    }
    if let Some(value) = &out.value {
        record = record.payload(&value[..]);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(error).context("producing an output record"),
        }
    }
}
