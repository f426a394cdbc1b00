//! accesslake-tests: the test-side machinery of accesslake. Its core is a Redpanda-ABI host for
//! the transform's `.wasm` (modules [`guest`], [`host`], [`abi`], [`wasi`], [`record`]): it runs
//! the compiled transform under Redpanda's exact ABI (`redpanda_transform` v2 and the WASI
//! subset of `src/v/wasm/`) and default limits (2 MiB linear memory, 64 KiB wasm stack,
//! per-record fuel), for the host tests, the `bench-wasm` benchmark and the `wasm-bridge` that
//! stands in for Redpanda's transform runtime against a Kafka-API broker.

pub mod abi;
pub mod broker;
pub mod guest;
pub mod host;
pub mod lakecheck;
mod memory;
pub mod record;
pub mod sink_process;
pub mod stream;
pub mod wasi;

pub use guest::{build_wasm, wasm_path, Guest, GuestError};
pub use host::{Host, HostConfig, HostError};
pub use record::{Header, InputRecord, OutputRecord, Payload, PayloadError};

/// Any failure of this crate's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
}
