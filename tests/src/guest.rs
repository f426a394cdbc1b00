//! The compiled transform: the `.wasm` compiled once under Redpanda's engine settings (64 KiB
//! guest stack, fuel, no memory reservation or guard pages, no copy-on-write images), linked
//! against the host's `redpanda_transform` and WASI modules and ready to instantiate, plus the
//! command that builds the `.wasm` from this workspace.

use crate::host::HostState;
use crate::{abi, wasi};
use std::path::{Path, PathBuf};
use std::process::Command;
use wasmtime::{Config, Engine, InstancePre, Linker, Module, OptLevel};

/// Redpanda's `max_vm_guest_stack_usage`: the wasm stack a guest may use.
pub const MAX_WASM_STACK: usize = 64 * 1024;
/// Redpanda's default `data_transforms_per_function_memory_limit`.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 * 1024 * 1024;
/// Redpanda's default per-record fuel: `data_transforms_runtime_limit_ms` (3 s) × 2 M per ms.
pub const DEFAULT_FUEL_PER_RECORD: u64 = 3_000 * 2_000_000;

/// Failure to load or build a guest.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("invalid transform module: {0}")]
    Invalid(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the .wasm failed ({0})")]
    Build(String),
}

/// A compiled, linked transform module; cheap to instantiate many times.
#[derive(Clone)]
pub struct Guest {
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<HostState>,
}

fn invalid(e: impl std::fmt::Display) -> GuestError {
    GuestError::Invalid(format!("{e:#}"))
}

impl Guest {
    /// Compiles and links `wasm` (the bytes of the `.wasm` file).
    pub fn new(wasm: &[u8]) -> Result<Self, GuestError> {
        let mut config = Config::new();
        config
            .cranelift_opt_level(OptLevel::Speed)
            .consume_fuel(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .memory_reservation(0)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0)
            .memory_init_cow(false);
        let engine = Engine::new(&config).map_err(invalid)?;
        let module = Module::new(&engine, wasm).map_err(invalid)?;
        let memory = module.exports().find(|e| e.ty().memory().is_some());
        match memory {
            None => return Err(invalid("wasm module missing memory export")),
            Some(e) if e.name() != "memory" => {
                return Err(invalid(format!(
                    "invalid memory export name: {:?}",
                    e.name()
                )))
            }
            Some(e) if e.ty().memory().is_some_and(|m| m.is_64()) => {
                return Err(invalid("invalid 64bit memory"))
            }
            Some(_) => {}
        }
        let mut linker = Linker::new(&engine);
        linker.allow_shadowing(true);
        wasi::add_unsupported(&mut linker, &module).map_err(invalid)?;
        wasi::add_to_linker(&mut linker).map_err(invalid)?;
        abi::add_to_linker(&mut linker).map_err(invalid)?;
        let pre = linker.instantiate_pre(&module).map_err(invalid)?;
        Ok(Self { engine, pre })
    }

    /// Reads and compiles the `.wasm` at `path`.
    pub fn from_file(path: &Path) -> Result<Self, GuestError> {
        let bytes = std::fs::read(path).map_err(|source| GuestError::Read {
            path: path.into(),
            source,
        })?;
        Self::new(&bytes)
    }

    /// The initial size, in bytes, of the module's linear memory (what it needs before running).
    pub fn initial_memory_bytes(&self) -> u64 {
        self.pre
            .module()
            .exports()
            .find_map(|e| e.ty().memory().map(|m| m.minimum() * 65536))
            .unwrap_or(0)
    }
}

/// The cargo target directory holding the running executable (the first ancestor with cargo's
/// `CACHEDIR.TAG`), so tests and benches find the `.wasm` built beside them.
pub fn target_dir_of_current_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Where `cargo build --profile wasm --target wasm32-wasip1` puts the transform under `target_dir`.
pub fn wasm_path(target_dir: &Path) -> PathBuf {
    target_dir.join("wasm32-wasip1/wasm/accesslake-transform.wasm")
}

/// Builds the transform's `.wasm` from the workspace at `workspace` into `target_dir` (with
/// `+simd128`, as the README's build does) and returns its path.
pub fn build_wasm(workspace: &Path, target_dir: &Path) -> Result<PathBuf, GuestError> {
    // The cargo that compiled this crate (set by cargo at compile time).
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", "-Ctarget-feature=+simd128")
        .args(["build", "--profile", "wasm", "--target", "wasm32-wasip1"])
        .args([
            "-p",
            "accesslake-transform",
            "--bin",
            "accesslake-transform",
        ])
        .status()
        .map_err(|e| GuestError::Build(e.to_string()))?;
    if !status.success() {
        return Err(GuestError::Build(status.to_string()));
    }
    Ok(wasm_path(target_dir))
}

/// The largest length in `[ok, bad)` for which `good` holds, to within 1 KiB, by bisection
/// (`good(ok)` is taken to hold and `good(bad)` not): how the tests and `bench-wasm` find the
/// longest line the guest handles.
pub fn bisect<E>(
    mut ok: usize,
    mut bad: usize,
    mut good: impl FnMut(usize) -> Result<bool, E>,
) -> Result<usize, E> {
    while bad - ok > 1024 {
        let mid = ok + (bad - ok) / 2;
        if good(mid)? {
            ok = mid
        } else {
            bad = mid
        }
    }
    Ok(ok)
}
