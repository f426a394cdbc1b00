//! The WASI preview1 subset a transform sees, as Redpanda implements it (`src/v/wasm/wasi.cc`):
//! args = the transform name; environ = the user's env plus `REDPANDA_INPUT_TOPIC` and
//! `REDPANDA_OUTPUT_TOPIC_0..N` (a user key of the same name wins, as with `emplace`); stdout and
//! stderr captured (Redpanda logs them); the realtime clock is the current record's timestamp,
//! the monotonic clock advances 1 ms per read; `random_get` fills with 9s; `proc_exit` stops the
//! VM; `poll_oneoff` only "sleeps"; every other preview1 function returns `ENOSYS`.
//!
//! Redpanda's `ERRNO_INVAL` is 16 (WASI's `deadlk`; WASI's `inval` is 28): mirrored as is.

use crate::host::HostState;
use crate::memory::{check_all, memory, range, read_u32, write};
use std::collections::BTreeMap;
use wasmtime::{Linker, Module, Result, Val};

pub(crate) const MODULE: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_INVAL: i32 = 16;
const ERRNO_NOSYS: i32 = 52;
const CLOCK_EVENT_TYPE: u8 = 0;
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;

/// The guest asked to exit (`proc_exit`); carried through the trap to the host.
#[derive(Debug, thiserror::Error)]
#[error("exited with code: {0}")]
pub struct GuestExit(pub i32);

/// Per-VM WASI state.
#[derive(Debug, Default)]
pub(crate) struct Wasi {
    args: Vec<Vec<u8>>,
    environ: Vec<Vec<u8>>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) wall_time_ms: i64,
    monotonic_ms: i64,
}

impl Wasi {
    /// `user_env` first, then the `REDPANDA_*` topic variables unless the user set them.
    pub(crate) fn new(
        name: &str,
        user_env: &[(String, String)],
        input: &str,
        outputs: &[String],
    ) -> Self {
        let mut env: BTreeMap<String, String> = user_env.iter().cloned().collect();
        env.entry("REDPANDA_INPUT_TOPIC".into())
            .or_insert_with(|| input.into());
        for (i, topic) in outputs.iter().enumerate() {
            env.entry(format!("REDPANDA_OUTPUT_TOPIC_{i}"))
                .or_insert_with(|| topic.clone());
        }
        Self {
            args: vec![name.as_bytes().to_vec()],
            environ: env
                .into_iter()
                .map(|(k, v)| format!("{k}={v}").into_bytes())
                .collect(),
            ..Self::default()
        }
    }
}

fn sizes(list: &[Vec<u8>]) -> (u32, u32) {
    (
        list.len() as u32,
        list.iter().map(|s| s.len() as u32 + 1).sum(),
    )
}

/// Writes a NUL-separated string list and its pointer array (Redpanda's `serialize_args`).
fn serialize(data: &mut [u8], list: &[Vec<u8>], ptrs: i32, buf: i32) -> Result<()> {
    let (count, size) = sizes(list);
    check_all(data.len(), &[(ptrs, count * 4), (buf, size)])?;
    let mut pos = buf as u32;
    for (i, s) in list.iter().enumerate() {
        write(data, ptrs + 4 * i as i32, &pos.to_le_bytes())?;
        write(data, pos as i32, s)?;
        write(data, pos as i32 + s.len() as i32, &[0])?;
        pos += s.len() as u32 + 1;
    }
    Ok(())
}

macro_rules! with_memory {
    ($caller:ident, |$data:ident, $state:ident| $body:expr) => {{
        let mem = memory(&mut $caller)?;
        let ($data, $state) = mem.data_and_store_mut(&mut $caller);
        $body
    }};
}

/// Registers `{prefix}_sizes_get` and `{prefix}_get` over the string list `list` picks (the
/// arguments or the environment): both are the same pair of calls over a different list.
fn add_string_list(
    linker: &mut Linker<HostState>,
    prefix: &str,
    list: fn(&HostState) -> &[Vec<u8>],
) -> Result<()> {
    linker.func_wrap(
        MODULE,
        &format!("{prefix}_sizes_get"),
        move |mut c: wasmtime::Caller<'_, HostState>, count: i32, size: i32| -> Result<i32> {
            with_memory!(c, |data, state| {
                check_all(data.len(), &[(count, 4), (size, 4)])?;
                let (n, s) = sizes(list(state));
                write(data, count, &n.to_le_bytes())?;
                write(data, size, &s.to_le_bytes())?;
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        &format!("{prefix}_get"),
        move |mut c: wasmtime::Caller<'_, HostState>, ptrs: i32, buf: i32| -> Result<i32> {
            with_memory!(c, |data, state| Ok(
                match serialize(data, list(state), ptrs, buf) {
                    Ok(()) => ERRNO_SUCCESS,
                    Err(_) => ERRNO_INVAL,
                }
            ))
        },
    )?;
    Ok(())
}

/// Registers the implemented preview1 functions.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    add_string_list(linker, "args", |s| &s.wasi.args)?;
    add_string_list(linker, "environ", |s| &s.wasi.environ)?;
    linker.func_wrap(
        MODULE,
        "clock_res_get",
        |mut c: wasmtime::Caller<'_, HostState>, id: i32, out: i32| -> Result<i32> {
            with_memory!(c, |data, _state| {
                range(data.len(), out, 8)?;
                if !(0..=3).contains(&id) {
                    return Ok(ERRNO_INVAL);
                }
                write(data, out, &1_000_000u64.to_le_bytes())?;
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: wasmtime::Caller<'_, HostState>,
         id: i32,
         _precision: i64,
         out: i32|
         -> Result<i32> {
            with_memory!(c, |data, state| {
                range(data.len(), out, 8)?;
                let ms = match id {
                    0 => state.wasi.wall_time_ms,
                    1..=3 => {
                        state.wasi.monotonic_ms += 1;
                        state.wasi.monotonic_ms - 1
                    }
                    _ => return Ok(ERRNO_INVAL),
                };
                write(
                    data,
                    out,
                    &(ms as u64).wrapping_mul(1_000_000).to_le_bytes(),
                )?;
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut c: wasmtime::Caller<'_, HostState>,
         fd: i32,
         iovs: i32,
         iovs_len: i32,
         written: i32|
         -> Result<i32> {
            with_memory!(c, |data, state| {
                check_all(data.len(), &[(iovs, iovs_len as u32 * 8), (written, 4)])?;
                if fd != 1 && fd != 2 {
                    return Ok(ERRNO_NOSYS);
                }
                let sink = if fd == 1 {
                    &mut state.wasi.stdout
                } else {
                    &mut state.wasi.stderr
                };
                let mut amount = 0u32;
                for i in 0..iovs_len {
                    let ptr = read_u32(data, iovs + 8 * i)?;
                    let len = read_u32(data, iovs + 8 * i + 4)?;
                    sink.extend_from_slice(&data[range(data.len(), ptr as i32, len)?]);
                    amount += len;
                }
                write(data, written, &amount.to_le_bytes())?;
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_get",
        |mut c: wasmtime::Caller<'_, HostState>, fd: i32, buf: i32| -> Result<i32> {
            with_memory!(c, |data, _state| {
                range(data.len(), buf, 8)?;
                Ok(if (0..=2).contains(&fd) {
                    ERRNO_NOSYS
                } else {
                    ERRNO_BADF
                })
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "random_get",
        |mut c: wasmtime::Caller<'_, HostState>, buf: i32, len: i32| -> Result<i32> {
            with_memory!(c, |data, _state| {
                let dst = range(data.len(), buf, len as u32)?;
                data[dst].fill(9);
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "poll_oneoff",
        |mut c: wasmtime::Caller<'_, HostState>,
         subs: i32,
         events: i32,
         n: i32,
         ret: i32|
         -> Result<i32> {
            with_memory!(c, |data, _state| {
                let n = n as u32;
                check_all(
                    data.len(),
                    &[
                        (subs, n * SUBSCRIPTION_SIZE),
                        (events, n * EVENT_SIZE),
                        (ret, 4),
                    ],
                )?;
                for i in 0..n {
                    let sub = (subs as u32 + i * SUBSCRIPTION_SIZE) as usize;
                    let event = (events as u32 + i * EVENT_SIZE) as usize;
                    let userdata: [u8; 8] = data[sub..sub + 8].try_into().expect("8 bytes");
                    let tag = data[sub + 8];
                    data[event..event + 8].copy_from_slice(&userdata);
                    data[event + 10] = tag;
                    let error: i32 = match tag {
                        CLOCK_EVENT_TYPE => ERRNO_SUCCESS,
                        1 | 2 => ERRNO_NOSYS,
                        _ => return Ok(ERRNO_NOSYS),
                    };
                    data[event + 8..event + 10].copy_from_slice(&(error as u16).to_le_bytes());
                }
                write(data, ret, &n.to_le_bytes())?;
                Ok(ERRNO_SUCCESS)
            })
        },
    )?;
    linker.func_wrap(MODULE, "sched_yield", || ERRNO_SUCCESS)?;
    linker.func_wrap(MODULE, "proc_exit", |code: i32| -> Result<()> {
        Err(GuestExit(code).into())
    })?;
    Ok(())
}

/// Defines every preview1 function the module imports as returning `ENOSYS`, as Redpanda does
/// for what it does not implement; [`add_to_linker`] then shadows the implemented ones.
pub(crate) fn add_unsupported(linker: &mut Linker<HostState>, module: &Module) -> Result<()> {
    for import in module.imports().filter(|i| i.module() == MODULE) {
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        linker.func_new(MODULE, import.name(), ty, |_, _, results| {
            results.iter_mut().for_each(|r| *r = Val::I32(ERRNO_NOSYS));
            Ok(())
        })?;
    }
    Ok(())
}
