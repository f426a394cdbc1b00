//! Build script of the transform: on wasm32 it shrinks the guest's shadow stack.
//!
//! Rust links wasm binaries with a 1 MiB shadow stack at the bottom of linear memory, half of
//! Redpanda's 2 MiB default per-transform memory limit. The parser is iterative and uses little
//! stack, so 64 KiB (Redpanda's own guest stack budget) is plenty. A link argument emitted here
//! applies to the binary only and survives any `RUSTFLAGS` the builder sets.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bins=-zstack-size=65536");
    }
}
