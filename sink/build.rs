//! Linked against a prebuilt `libduckdb.so` (the `bundled` feature off and `DUCKDB_LIB_DIR` set,
//! as `scripts/lib/prereqs.sh` does for the tests' build), the package's executables record that
//! directory as their run path, so they start without `LD_LIBRARY_PATH`. A bundled build (the
//! default) links DuckDB in and needs nothing here.
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let bundled = std::env::var_os("CARGO_FEATURE_BUNDLED").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if let (false, true, Some(dir)) = (bundled, linux, std::env::var_os("DUCKDB_LIB_DIR")) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
