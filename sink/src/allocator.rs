//! The process's memory allocator settings: glibc's `malloc` told to keep freed memory for reuse
//! instead of handing it back to the kernel at once.
//!
//! By default glibc serves a request over 128 KiB (a threshold it raises, up to 32 MiB, as such
//! blocks are freed) with a fresh `mmap` and unmaps it on `free`, and it returns the free top of
//! a heap to the kernel once that exceeds twice the threshold. `ingest` allocates and frees such
//! blocks all the time: each chunk's column buffers, each window's batches, and the zstd
//! contexts the parquet crate makes for every column chunk it writes. Every reuse then costs
//! page faults and the kernel's zeroing of the pages: 77 k minor faults for the 1 M-line
//! benchmark. With blocks up to 32 MiB taken from the heaps and up to 64 MiB of a heap's free
//! top kept, it takes 21 k, with 6.6 % less CPU and 8 % less wall time (eight interleaved runs;
//! see `doc/PERFORMANCE.md`). Memory the process once used stays mapped for reuse, so its
//! resident size follows its peak use rather than its current one; the peak rose by 7 MB (151
//! to 158 MB).
//!
//! Other C libraries (musl) have no such settings, and [`tune`] does nothing there.

/// Blocks up to this size come from the heaps, not from their own `mmap`.
pub const MMAP_THRESHOLD: usize = 32 << 20;

/// A heap's free top is returned to the kernel only beyond this size.
pub const TRIM_THRESHOLD: usize = 64 << 20;

/// Applies [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`] (glibc only). Call it first in `main`,
/// before any thread starts. Returns whether the C library took both settings.
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |param, value: usize| {
            let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
            // SAFETY: `mallopt` only records the setting; any value is valid to pass, and glibc
            // refuses (returns 0) what it does not accept.
            unsafe { libc::mallopt(param, value) == 1 }
        };
        set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) & set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_both_settings() {
        // glibc refuses an mmap threshold above 32 MiB on 64-bit targets: this fails if the
        // constant is raised past what the C library accepts.
        assert!(tune());
    }
}
