//! The `redpanda_transform` host module (ABI v2), as Redpanda's `src/v/wasm/transform_module.cc`
//! implements it:
//! - `read_batch_header` hands the previous batch's outputs back to the host, blocks until the
//!   next batch, fills the ten header fields and returns the largest record payload size;
//! - `read_next_record` returns `-1` (no active transform) when the batch is exhausted, `-2`
//!   when the buffer is smaller than the payload (the record stays queued), else copies the
//!   payload and returns its size; the realtime clock becomes the record's timestamp and the
//!   record gets a fresh fuel budget (Redpanda's per-record timeout);
//! - `write_record` / `write_record_with_options` return the payload size on success, `-1`
//!   outside a batch, `-2` for an invalid payload or options (options: empty, or `0x01` then a
//!   zigzag-varint-sized topic name, nothing after), `-3` for a topic that is not an output.
//!
//! Every pointer parameter is bounds-checked before the body runs; out of bounds traps.

use crate::host::HostState;
use crate::memory::{check_all, memory, range, write};
use crate::record::{
    decode_payload, encode_payload, read_varint, Header, InputRecord, OutputRecord, Payload,
};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use wasmtime::{Caller, Linker, Result};

pub(crate) const MODULE: &str = "redpanda_transform";
const NO_ACTIVE_TRANSFORM: i32 = -1;
const INVALID_BUFFER: i32 = -2;
const INVALID_WRITE: i32 = -3;
const OUTPUT_TOPIC_KEY: u8 = 0x01;

/// The input stream ended: the host closed it. Carried through a trap to end the guest cleanly
/// (Redpanda stops a VM the same way, by breaking the condition variable it waits on).
#[derive(Debug, thiserror::Error)]
#[error("the host closed the input")]
pub struct InputClosed;

/// One record queued in a batch: its metadata and where its payload lies in `Batch::data`.
#[derive(Debug)]
struct Queued {
    timestamp: i64,
    offset: i64,
    start: usize,
    len: usize,
}

/// A record batch as the broker hands it to the VM (uncompressed, create-time timestamps).
#[derive(Debug)]
pub(crate) struct Batch {
    base_offset: i64,
    record_count: i32,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    max_payload: usize,
    records: VecDeque<Queued>,
    data: Vec<u8>,
}

impl Batch {
    /// Encodes `records` (at least one) into a batch.
    pub(crate) fn new(records: &[InputRecord]) -> Self {
        let size: usize = records.iter().map(InputRecord::payload_len).sum();
        let mut data = Vec::with_capacity(size);
        let mut queue = VecDeque::with_capacity(records.len());
        for r in records {
            let start = data.len();
            encode_payload(&mut data, r.key.as_deref(), r.value.as_deref(), &r.headers);
            queue.push_back(Queued {
                timestamp: r.timestamp_ms,
                offset: r.offset,
                start,
                len: data.len() - start,
            });
        }
        let base_offset = records.first().map_or(0, |r| r.offset);
        Self {
            base_offset,
            record_count: records.len() as i32,
            last_offset_delta: records
                .last()
                .map_or(0, |r| (r.offset - base_offset) as i32),
            base_timestamp: records.first().map_or(0, |r| r.timestamp_ms),
            max_timestamp: records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0),
            max_payload: queue.iter().map(|q| q.len).max().unwrap_or(0),
            records: queue,
            data,
        }
    }
}

/// What the guest side tells the host.
#[derive(Debug)]
pub(crate) enum GuestEvent {
    /// The guest entered `read_batch_header` for the first time.
    Ready,
    /// The guest finished a batch: its outputs and the memory size at that point.
    Done {
        outputs: Vec<OutputRecord>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        memory_bytes: usize,
    },
}

/// Per-VM state of the transform module.
#[derive(Debug, Default)]
pub(crate) struct Abi {
    /// Output topic names, shared by every record written to them (no copy per record).
    outputs: Vec<Arc<str>>,
    inbox: Option<Receiver<Batch>>,
    events: Option<SyncSender<GuestEvent>>,
    fuel_per_record: u64,
    current: Option<Batch>,
    /// The records written in the current batch; their values are ranges of `values`.
    emitted: Vec<Emitted>,
    /// The current batch's output values, back to back.
    values: Vec<u8>,
    /// Output topics (by index) whose writes are refused with `-3` (fault injection).
    refused: Vec<usize>,
}

/// A record written in the current batch, its value not yet shared ([`Abi::take_outputs`]).
#[derive(Debug)]
struct Emitted {
    topic_index: usize,
    key: Option<Vec<u8>>,
    value: Option<(usize, usize)>,
    headers: Vec<Header>,
}

impl Abi {
    pub(crate) fn new(
        outputs: Vec<String>,
        inbox: Receiver<Batch>,
        events: SyncSender<GuestEvent>,
        fuel_per_record: u64,
        refused: Vec<usize>,
    ) -> Self {
        Self {
            outputs: outputs.into_iter().map(Arc::from).collect(),
            inbox: Some(inbox),
            events: Some(events),
            fuel_per_record,
            refused,
            ..Self::default()
        }
    }

    /// The current batch's outputs, their values sharing one buffer. The next batch's lists
    /// start at this one's sizes: no growth by doubling.
    fn take_outputs(&mut self) -> Vec<OutputRecord> {
        let values = Vec::with_capacity(self.values.len());
        let values = Arc::new(std::mem::replace(&mut self.values, values));
        let emitted = Vec::with_capacity(self.emitted.len());
        std::mem::replace(&mut self.emitted, emitted)
            .into_iter()
            .map(|e| OutputRecord {
                topic_index: e.topic_index,
                topic: Arc::clone(&self.outputs[e.topic_index]),
                key: e.key,
                value: e.value.map(|(a, z)| Payload::in_buffer(&values, a, z)),
                headers: e.headers,
            })
            .collect()
    }
}

fn emit(state: &mut HostState, payload: &[u8], topic: Option<&[u8]>) -> i32 {
    let Ok((key, value, headers)) = decode_payload(payload) else {
        return INVALID_BUFFER;
    };
    let abi = &mut state.abi;
    let topic_index = match topic {
        None => 0,
        Some(name) => match abi.outputs.iter().position(|t| t.as_bytes() == name) {
            Some(i) => i,
            None => return INVALID_WRITE,
        },
    };
    if abi.refused.contains(&topic_index) {
        return INVALID_WRITE;
    }
    let value = value.map(|v| {
        let start = abi.values.len();
        abi.values.extend_from_slice(v);
        (start, abi.values.len())
    });
    abi.emitted.push(Emitted {
        topic_index,
        key: key.map(<[u8]>::to_vec),
        value,
        headers,
    });
    payload.len() as i32
}

/// Parses write options like Redpanda's `write_options::parse`: `Ok(None)` = invalid (-2);
/// a truncated sized string is an exception there (a trap), an `Err` here.
fn parse_options(opts: &[u8]) -> Result<Option<Option<&[u8]>>> {
    if opts.is_empty() {
        return Ok(Some(None));
    }
    if opts[0] != OUTPUT_TOPIC_KEY {
        return Ok(None);
    }
    let rest = &opts[1..];
    let (len, n) =
        read_varint(rest).map_err(|e| wasmtime::Error::msg(format!("write options: {e}")))?;
    let rest = &rest[n..];
    if len < 0 || len as u64 > rest.len() as u64 {
        return Err(wasmtime::Error::msg(format!(
            "ffi::array buffer too small {} > {}, total: {}",
            len as u64,
            rest.len(),
            opts.len()
        )));
    }
    if rest.len() > len as usize {
        return Ok(None);
    }
    Ok(Some(Some(rest)))
}

/// Registers the module's functions.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(MODULE, "check_abi_version_2", || {})?;
    linker.func_wrap(
        MODULE,
        "read_batch_header",
        |mut c: Caller<'_, HostState>,
         base_offset: i32,
         record_count: i32,
         leader_epoch: i32,
         attributes: i32,
         last_offset_delta: i32,
         base_timestamp: i32,
         max_timestamp: i32,
         producer_id: i32,
         producer_epoch: i32,
         base_sequence: i32|
         -> Result<i32> {
            let mem = memory(&mut c)?;
            let ptrs = [
                (base_offset, 8),
                (record_count, 4),
                (leader_epoch, 4),
                (attributes, 2),
                (last_offset_delta, 4),
                (base_timestamp, 8),
                (max_timestamp, 8),
                (producer_id, 8),
                (producer_epoch, 2),
                (base_sequence, 4),
            ];
            check_all(mem.data_size(&c), &ptrs)?;
            let memory_bytes = mem.data_size(&c);
            let state = c.data_mut();
            let event = match state.abi.current.take() {
                Some(_) => GuestEvent::Done {
                    outputs: state.abi.take_outputs(),
                    stdout: std::mem::take(&mut state.wasi.stdout),
                    stderr: std::mem::take(&mut state.wasi.stderr),
                    memory_bytes,
                },
                None => GuestEvent::Ready,
            };
            let events = state.abi.events.as_ref().ok_or(InputClosed)?;
            events.send(event).map_err(|_| InputClosed)?;
            let inbox = state.abi.inbox.as_ref().ok_or(InputClosed)?;
            let batch = inbox.recv().map_err(|_| InputClosed)?;
            state.wasi.wall_time_ms = batch.base_timestamp;
            let max_payload = batch.max_payload as i32;
            let fields: [(i32, Vec<u8>); 10] = [
                (base_offset, batch.base_offset.to_le_bytes().to_vec()),
                (record_count, batch.record_count.to_le_bytes().to_vec()),
                (leader_epoch, 0i32.to_le_bytes().to_vec()),
                (attributes, 0i16.to_le_bytes().to_vec()),
                (
                    last_offset_delta,
                    batch.last_offset_delta.to_le_bytes().to_vec(),
                ),
                (base_timestamp, batch.base_timestamp.to_le_bytes().to_vec()),
                (max_timestamp, batch.max_timestamp.to_le_bytes().to_vec()),
                (producer_id, (-1i64).to_le_bytes().to_vec()),
                (producer_epoch, (-1i16).to_le_bytes().to_vec()),
                (base_sequence, (-1i32).to_le_bytes().to_vec()),
            ];
            state.abi.current = Some(batch);
            let data = mem.data_mut(&mut c);
            for (ptr, bytes) in fields {
                write(data, ptr, &bytes)?;
            }
            Ok(max_payload)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "read_next_record",
        |mut c: Caller<'_, HostState>,
         attrs: i32,
         timestamp: i32,
         offset: i32,
         buf: i32,
         len: i32|
         -> Result<i32> {
            let mem = memory(&mut c)?;
            check_all(
                mem.data_size(&c),
                &[(attrs, 1), (timestamp, 8), (offset, 8), (buf, len as u32)],
            )?;
            let fuel = c.data().abi.fuel_per_record;
            let (data, state) = mem.data_and_store_mut(&mut c);
            let Some(batch) = state.abi.current.as_mut() else {
                return Ok(NO_ACTIVE_TRANSFORM);
            };
            let Some(next) = batch.records.front() else {
                return Ok(NO_ACTIVE_TRANSFORM);
            };
            if (len as u32 as usize) < next.len {
                return Ok(INVALID_BUFFER);
            }
            let next = batch.records.pop_front().expect("front exists");
            state.wasi.wall_time_ms = next.timestamp;
            write(data, attrs, &[0])?;
            write(data, timestamp, &next.timestamp.to_le_bytes())?;
            write(data, offset, &next.offset.to_le_bytes())?;
            let payload = &batch.data[next.start..next.start + next.len];
            let dst = range(data.len(), buf, next.len as u32)?;
            data[dst].copy_from_slice(payload);
            c.set_fuel(fuel)?;
            Ok(next.len as i32)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "write_record",
        |mut c: Caller<'_, HostState>, buf: i32, len: i32| -> Result<i32> {
            let mem = memory(&mut c)?;
            let (data, state) = mem.data_and_store_mut(&mut c);
            let payload = &data[range(data.len(), buf, len as u32)?];
            if state.abi.current.is_none() {
                return Ok(NO_ACTIVE_TRANSFORM);
            }
            Ok(emit(state, payload, None))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "write_record_with_options",
        |mut c: Caller<'_, HostState>,
         buf: i32,
         len: i32,
         opts: i32,
         opts_len: i32|
         -> Result<i32> {
            let mem = memory(&mut c)?;
            let (data, state) = mem.data_and_store_mut(&mut c);
            let payload = &data[range(data.len(), buf, len as u32)?];
            let opts = &data[range(data.len(), opts, opts_len as u32)?];
            if state.abi.current.is_none() {
                return Ok(NO_ACTIVE_TRANSFORM);
            }
            if decode_payload(payload).is_err() {
                return Ok(INVALID_BUFFER);
            }
            match parse_options(opts)? {
                None => Ok(INVALID_BUFFER),
                Some(topic) => Ok(emit(state, payload, topic)),
            }
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_options;

    #[test]
    fn options_parse_like_redpanda() {
        assert_eq!(parse_options(&[]).unwrap(), Some(None));
        assert_eq!(
            parse_options(&[1, 4, b'a', b'b']).unwrap(),
            Some(Some(&b"ab"[..]))
        );
        assert_eq!(parse_options(&[2, 4, b'a', b'b']).unwrap(), None);
        assert_eq!(parse_options(&[1, 2, b'a', b'b']).unwrap(), None);
        assert!(parse_options(&[1, 6, b'a', b'b']).is_err());
        assert!(parse_options(&[1, 1]).is_err());
    }
}
