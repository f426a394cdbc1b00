#!/usr/bin/env bash
# The project's test command (README "Tests"; .ci/run calls exactly this).
#
# Installs what the tests need when it is missing (Debian packages, Python readers, the wasm32
# target, the tansu test broker), builds the workspace and the transform's .wasm, then runs every
# test: parser units, the .wasm under the Redpanda-ABI host, the lake, exactly-once against a real
# broker, query/report (with headless Chromium), and the deployment lint.
#
# Caches live outside the clone in $ACCESSLAKE_CACHE (default ~/.cache/accesslake): the cargo
# target dir, installed tools and DuckDB's library, so a warm run is fast. The workspace links
# DuckDB's own release build, libduckdb.so from the npm registry ($ACCESSLAKE_DUCKDB=prebuilt,
# scripts/lib/prereqs.sh), instead of compiling DuckDB's C++ (25-60 min on 2 cores, as fast as
# the VM is); ACCESSLAKE_DUCKDB=bundled compiles it. Everything that links DuckDB builds in one
# profile, $ACCESSLAKE_PROFILE: `ci` by default (Cargo.toml: release, and DuckDB's C++ at -O0
# when it is compiled), as scripts/demo.sh does; the benchmarks build `release`. Cold-run
# times: README, "Tests".
set -euo pipefail
cd "$(dirname "$0")/.."

export ACCESSLAKE_CACHE="${ACCESSLAKE_CACHE:-$HOME/.cache/accesslake}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ACCESSLAKE_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export ACCESSLAKE_PROFILE="${ACCESSLAKE_PROFILE:-ci}"  # the bench commands below build it too
mkdir -p "$ACCESSLAKE_CACHE"
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
. scripts/lib/prereqs.sh

if [ ! -d ../shared/data ]; then
    echo "error: ../shared (logs, GeoIP databases) must sit beside the clone" >&2
    exit 1
fi

step "system packages"
apt_install "${BUILD_PACKAGES[@]}" chromium python3-venv

step "python readers (independent cross-checks; a venv in the cache when python3 lacks them)"
python_modules duckdb pyarrow

step "wasm32-wasip1 target"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

step "DuckDB to link (\$ACCESSLAKE_DUCKDB, scripts/lib/prereqs.sh)"
duckdb_setup
echo "$ACCESSLAKE_DUCKDB${DUCKDB_LIB_DIR:+: $DUCKDB_LIB_DIR}"

step "test broker (tansu), in the background while the workspace builds"
tansu_log="$ACCESSLAKE_CACHE/install-tansu.log"
scripts/install-tansu.sh >"$tansu_log" 2>&1 &
tansu_pid=$!

step "build: workspace (profile $ACCESSLAKE_PROFILE) and the transform's .wasm"
cargo build --profile "$ACCESSLAKE_PROFILE" "${CARGO_DUCKDB[@]}" --workspace --all-targets --locked
RUSTFLAGS="-Ctarget-feature=+simd128" \
    cargo build --profile wasm --target wasm32-wasip1 -p accesslake-transform --bin accesslake-transform --locked
export ACCESSLAKE_WASM="$CARGO_TARGET_DIR/wasm32-wasip1/wasm/accesslake-transform.wasm"
ls -l "$ACCESSLAKE_WASM"

if ! wait "$tansu_pid"; then
    cat "$tansu_log" >&2
    echo "error: installing tansu failed" >&2
    exit 1
fi
TANSU=$(tail -n 1 "$tansu_log")
export TANSU
"$TANSU" --version

step "formatting"
cargo fmt --all -- --check

step "clippy, every crate and target, warnings as errors (reuses the build scripts of that profile: no DuckDB rebuild)"
cargo clippy --profile "$ACCESSLAKE_PROFILE" "${CARGO_DUCKDB[@]}" --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --profile "$ACCESSLAKE_PROFILE" "${CARGO_DUCKDB[@]}" --workspace --locked -- --test-threads 2

step "parser tests in a debug build (overflow checks, and the parser's debug assertions)"
cargo test --locked -p accesslake-transform -- --test-threads 2

step "quickstart (README): ingest the sample logs, then report"
demo_lake=$(mktemp -d)
scripts/demo.sh "$demo_lake/lake"
rm -rf "$demo_lake"

step "benchmark commands (README), on tiny inputs: they must run; their figures mean nothing here"
tiny=$(mktemp -d)
python3 ../shared/bench/mklog.py 20000 "$tiny/tiny.log"
BENCH_DIR="$tiny" bench/parse.sh 20000 | tail -n 2
bench/ingest.sh 20000 | tail -n 4
RUNS=1 WINDOW_SECS=60 COMPACT=1 bench/report.sh 20000 | grep -E '^(report|compact)'
bench/wasm.sh "$tiny/tiny.log" | tail -n 2
bench/kafka.sh 5000 | tail -n 2
rm -rf "$tiny"

step "deployment lint"
scripts/lint-deploy.sh

step "cache: prune build outputs this workspace no longer uses"
scripts/prune-target.sh
