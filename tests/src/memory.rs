//! Guest linear memory access for host functions, bounds-checked like Redpanda's
//! `ffi::memory::translate_raw`: a pointer/length pair outside the guest's memory traps the
//! guest ("Out of bounds memory access in FFI"), it is never clamped or ignored.

use crate::host::HostState;
use wasmtime::{Caller, Memory, Result};

/// The guest's exported `memory` (cached in the state once the instance exists).
pub(crate) fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory> {
    if let Some(memory) = caller.data().memory {
        return Ok(memory);
    }
    match caller.get_export("memory").and_then(|e| e.into_memory()) {
        Some(memory) => Ok(memory),
        None => Err(wasmtime::Error::msg("wasm module missing memory export")),
    }
}

/// Checks that `ptr..ptr + len` lies in a memory of `size` bytes and returns it as a range.
pub(crate) fn range(size: usize, ptr: i32, len: u32) -> Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start + len as usize;
    if end > size {
        return Err(wasmtime::Error::msg(format!(
            "Out of bounds memory access in FFI: {start} + {len} >= {size}"
        )));
    }
    Ok(start..end)
}

/// Checks a whole set of (pointer, size) parameters, as Redpanda translates every pointer
/// parameter before the host function body runs.
pub(crate) fn check_all(size: usize, params: &[(i32, u32)]) -> Result<()> {
    params
        .iter()
        .try_for_each(|&(ptr, len)| range(size, ptr, len).map(drop))
}

/// Writes `bytes` at `ptr` (already checked or checked here).
pub(crate) fn write(data: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<()> {
    let r = range(data.len(), ptr, bytes.len() as u32)?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

/// Reads a little-endian `u32` at `ptr`.
pub(crate) fn read_u32(data: &[u8], ptr: i32) -> Result<u32> {
    let r = range(data.len(), ptr, 4)?;
    Ok(u32::from_le_bytes(data[r].try_into().expect("4 bytes")))
}
