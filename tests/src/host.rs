//! The transform host: one running instance of a [`Guest`] under Redpanda's limits (linear
//! memory capped by a store limiter, one instance/table/memory, 16 Ki table elements), driven
//! one batch at a time.
//!
//! The guest runs `_start` on its own thread and blocks inside `read_batch_header`, as in
//! Redpanda; [`Host::process`] hands it a batch over a channel and waits until the guest asks
//! for the next one, which returns that batch's outputs. Closing the input (dropping the host or
//! [`Host::close`]) ends the guest cleanly; a trap, a panic, an exit or fuel exhaustion ends the
//! thread and is reported as a [`HostError`], so a call never hangs on a dead guest.

use crate::abi::{Abi, Batch, GuestEvent, InputClosed};
use crate::guest::{Guest, GuestError, DEFAULT_FUEL_PER_RECORD, DEFAULT_MEMORY_LIMIT};
use crate::record::{InputRecord, OutputRecord};
use crate::wasi::{GuestExit, Wasi};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use wasmtime::{Memory, Store, StoreLimits, StoreLimitsBuilder};

/// Redpanda caps table storage at 128 KiB of pointers.
const MAX_TABLE_ELEMENTS: usize = 128 * 1024 / 8;

/// How the transform is deployed: what `rpk transform deploy` and the broker config give it.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The transform's name (its `argv[0]`).
    pub name: String,
    pub input_topic: String,
    /// Output topics; the first is the default output.
    pub output_topics: Vec<String>,
    /// User environment (`--var KEY=VALUE`).
    pub env: Vec<(String, String)>,
    /// Maximum linear memory in bytes.
    pub memory_limit: usize,
    /// Fuel granted for each record (Redpanda's per-record runtime limit).
    pub fuel_per_record: u64,
    /// Output topics (by index) whose every write the host refuses with `-3`, as Redpanda does
    /// for a topic that is not an output: fault injection for the guest's fallbacks.
    pub refused_outputs: Vec<usize>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            name: "accesslake-transform".into(),
            input_topic: "requests".into(),
            output_topics: vec!["requests.parsed".into(), "requests.dlq".into()],
            env: Vec::new(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            fuel_per_record: DEFAULT_FUEL_PER_RECORD,
            refused_outputs: Vec::new(),
        }
    }
}

/// The transform failed or could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error("the transform trapped: {message}\nguest stderr: {stderr}")]
    Trap { message: String, stderr: String },
    #[error("the transform exited with code {code}\nguest stderr: {stderr}")]
    Exited { code: i32, stderr: String },
    #[error("the transform is not running (it ended earlier)")]
    Stopped,
    #[error("the guest thread failed: {0}")]
    Thread(String),
}

/// The store data of a running guest.
#[derive(Default)]
pub(crate) struct HostState {
    pub(crate) wasi: Wasi,
    pub(crate) abi: Abi,
    pub(crate) limits: StoreLimits,
    pub(crate) memory: Option<Memory>,
}

/// How the guest thread ended.
struct GuestEnd {
    result: wasmtime::Result<()>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A running transform.
pub struct Host {
    batches: Option<SyncSender<Batch>>,
    events: Receiver<GuestEvent>,
    thread: Option<JoinHandle<GuestEnd>>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    memory_bytes: usize,
}

impl Host {
    /// Instantiates `guest`, runs it until it waits for its first batch.
    pub fn new(guest: &Guest, config: HostConfig) -> Result<Self, HostError> {
        let (batch_tx, batch_rx) = sync_channel(1);
        let (event_tx, event_rx) = sync_channel(1);
        let guest = guest.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-guest".into())
            .spawn(move || run(guest, config, batch_rx, event_tx))
            .map_err(|e| HostError::Thread(e.to_string()))?;
        let mut host = Self {
            batches: Some(batch_tx),
            events: event_rx,
            thread: Some(thread),
            stdout: Vec::new(),
            stderr: Vec::new(),
            memory_bytes: 0,
        };
        match host.events.recv() {
            Ok(GuestEvent::Ready) => Ok(host),
            Ok(GuestEvent::Done { .. }) => {
                Err(HostError::Thread("outputs before any input".into()))
            }
            Err(_) => Err(host.finish().err().unwrap_or(HostError::Stopped)),
        }
    }

    /// Runs one batch through the transform and returns what it wrote, in order.
    pub fn process(&mut self, records: &[InputRecord]) -> Result<Vec<OutputRecord>, HostError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let Some(batches) = &self.batches else {
            return Err(HostError::Stopped);
        };
        if batches.send(Batch::new(records)).is_err() {
            return Err(self.finish().err().unwrap_or(HostError::Stopped));
        }
        match self.events.recv() {
            Ok(GuestEvent::Done {
                outputs,
                stdout,
                stderr,
                memory_bytes,
            }) => {
                self.stdout.extend_from_slice(&stdout);
                self.stderr.extend_from_slice(&stderr);
                self.memory_bytes = memory_bytes;
                Ok(outputs)
            }
            Ok(GuestEvent::Ready) => Err(HostError::Thread("guest restarted".into())),
            Err(_) => Err(self.finish().err().unwrap_or(HostError::Stopped)),
        }
    }

    /// Everything the guest wrote to stdout so far.
    pub fn stdout(&self) -> &[u8] {
        &self.stdout
    }

    /// Everything the guest wrote to stderr so far.
    pub fn stderr(&self) -> &[u8] {
        &self.stderr
    }

    /// The guest's linear memory size after the last batch.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Closes the input and waits for the guest to end; `Ok` if it ended cleanly.
    pub fn close(mut self) -> Result<(), HostError> {
        self.finish()
    }

    /// Drops the input side and joins the guest thread.
    fn finish(&mut self) -> Result<(), HostError> {
        self.batches = None;
        let Some(thread) = self.thread.take() else {
            return Err(HostError::Stopped);
        };
        let end = thread
            .join()
            .map_err(|_| HostError::Thread("the guest thread panicked".into()))?;
        self.stdout.extend_from_slice(&end.stdout);
        self.stderr.extend_from_slice(&end.stderr);
        let stderr = String::from_utf8_lossy(&self.stderr).into_owned();
        match end.result {
            Ok(()) => Err(HostError::Exited { code: 0, stderr }),
            Err(e) if e.is::<InputClosed>() => Ok(()),
            Err(e) => match e.downcast_ref::<GuestExit>() {
                Some(GuestExit(code)) => Err(HostError::Exited {
                    code: *code,
                    stderr,
                }),
                None => Err(HostError::Trap {
                    message: format!("{e:?}"),
                    stderr,
                }),
            },
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The guest thread: instantiate under the limits, run `_start` until it ends.
fn run(
    guest: Guest,
    config: HostConfig,
    batches: Receiver<Batch>,
    events: SyncSender<GuestEvent>,
) -> GuestEnd {
    let limits = StoreLimitsBuilder::new()
        .memory_size(config.memory_limit)
        .table_elements(MAX_TABLE_ELEMENTS)
        .instances(1)
        .tables(1)
        .memories(1)
        .build();
    let state = HostState {
        wasi: Wasi::new(
            &config.name,
            &config.env,
            &config.input_topic,
            &config.output_topics,
        ),
        abi: Abi::new(
            config.output_topics.clone(),
            batches,
            events,
            config.fuel_per_record,
            config.refused_outputs.clone(),
        ),
        limits,
        memory: None,
    };
    let mut store = Store::new(&guest.engine, state);
    store.limiter(|s| &mut s.limits);
    let result = (|| {
        store.set_fuel(config.fuel_per_record)?;
        let instance = guest.pre.instantiate(&mut store)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::Error::msg("wasm module missing memory export"))?;
        store.data_mut().memory = Some(memory);
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call(&mut store, ())
    })();
    let state = store.into_data();
    GuestEnd {
        result,
        stdout: state.wasi.stdout,
        stderr: state.wasi.stderr,
    }
}
