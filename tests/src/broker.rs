//! The Kafka-API test broker: a real tansu 0.6.0 process with SQLite storage, one per test.
//!
//! [`Broker::start`] runs `tansu broker` in a fresh temp dir on a free loopback port, waits until it
//! answers metadata requests, and [`Broker::create_topic`] creates topics with rdkafka's admin
//! client (tansu does not auto-create them). Dropping the [`Broker`] kills the process by PID and
//! removes its directory. The binary is found at `$TANSU`, else
//! `${ACCESSLAKE_CACHE:-$HOME/.cache/accesslake}/tools/bin/tansu` (`scripts/install-tansu.sh`).
//!
//! Known tansu 0.6.0 limits the helpers respect: snappy fetches are broken (use lz4/zstd/none),
//! `memory://` storage loses records on group resume (we use `sqlite://`), and a low
//! `fetch.wait.max.ms` keeps consumers responsive.

use anyhow::{bail, Context as _, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A running tansu broker; killed on drop.
pub struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where the tansu binary is expected.
pub fn tansu_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TANSU") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("ACCESSLAKE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/accesslake")
        });
    cache.join("tools/bin/tansu")
}

impl Broker {
    /// Starts a broker on a free port and waits until it serves metadata (up to 30 s).
    pub fn start() -> Result<Broker> {
        let tansu = tansu_path();
        if !tansu.exists() {
            bail!(
                "tansu not found at {} (run scripts/install-tansu.sh, or set TANSU)",
                tansu.display()
            );
        }
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(&tansu) {
                Ok(b) => return Ok(b),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap())
    }

    fn try_start(tansu: &std::path::Path) -> Result<Broker> {
        let dir = tempfile::Builder::new().prefix("tansu-").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log"))?;
        let child = Command::new(tansu)
            .current_dir(dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", tansu.display()))?;
        let mut broker = Broker { child, port, dir };
        broker.wait_ready(Duration::from_secs(30))?;
        Ok(broker)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("tansu exited early ({status}): {}", self.log_tail());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let c: BaseConsumer = self.client_config().create()?;
                if c.fetch_metadata(None, Duration::from_secs(5)).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("tansu did not become ready: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the broker's log (for error messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client configuration pointing at this broker, with the settings tansu needs.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap())
            .set("fetch.wait.max.ms", "50")
            .set("broker.address.family", "v4");
        c
    }

    /// Starts a broker of its own with one topic of `partitions` partitions: what most broker
    /// tests begin with.
    pub fn with_topic(name: &str, partitions: i32) -> Result<Broker> {
        let broker = Self::start()?;
        broker.create_topic(name, partitions)?;
        Ok(broker)
    }

    /// Creates a topic and waits until its metadata shows every partition.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let opts =
            AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))));
        let results = block_on(admin.create_topics([&topic], &opts))?;
        for r in results {
            match r {
                // The client retries a request that timed out, and the broker may have done the
                // first (seen on a loaded machine); the broker is this test's own, so the topic
                // is this call's, and its partitions are checked below.
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, e)) => bail!("creating topic {t}: {e}"),
            }
        }
        let c: BaseConsumer = self.client_config().create()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let md = c.fetch_metadata(Some(name), Duration::from_secs(5))?;
            if md
                .topics()
                .iter()
                .any(|t| t.error().is_none() && t.partitions().len() == partitions as usize)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("topic {name} did not appear with {partitions} partitions");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Produces `values` to `partition` of `topic` (or spread when `None`), waits for all acks.
    pub fn produce<I, V>(&self, topic: &str, partition: Option<i32>, values: I) -> Result<u64>
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = self
            .client_config()
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "10")
            .create()?;
        let mut n = 0u64;
        for v in values {
            let mut rec: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(v.as_ref());
            if let Some(p) = partition {
                rec = rec.partition(p);
            }
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                        r,
                    )) => {
                        rec = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
            n += 1;
        }
        producer.flush(Duration::from_secs(60))?;
        if producer.in_flight_count() != 0 {
            bail!("{} records not acknowledged", producer.in_flight_count());
        }
        Ok(n)
    }

    /// The high watermark (next offset) of every partition of `topic`, in partition order.
    pub fn high_watermarks(&self, topic: &str) -> Result<Vec<i64>> {
        let c: BaseConsumer = self.client_config().create()?;
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .context("topic missing from metadata")?;
        let mut out = Vec::new();
        for p in 0..t.partitions().len() as i32 {
            let (_, high) = c.fetch_watermarks(topic, p, Duration::from_secs(5))?;
            out.push(high);
        }
        Ok(out)
    }

    /// The offsets consumer group `group` has committed for partitions `0..partitions` of
    /// `topic` (`None` where it has none).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Result<Vec<Option<i64>>> {
        let c: BaseConsumer = self.client_config().set("group.id", group).create()?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
        Ok(got
            .elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                _ => None,
            })
            .collect())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (rdkafka's admin calls are futures).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}
