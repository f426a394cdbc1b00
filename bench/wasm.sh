#!/usr/bin/env bash
# Benchmark of the transform .wasm in the Redpanda-ABI host (issue 2): builds the .wasm (wasm
# profile, +simd128) and the `bench-wasm` binary, makes the 1 M-line log with the shared
# generator if absent, then prints records/s through the .wasm and natively, and the longest
# line the guest handles at Redpanda's 2 MiB default memory limit.
# Usage: bench/wasm.sh [LOG_FILE]   (default /tmp/bench-1m.log)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/accesslake/target}
# Figures come from the release profile; scripts/test.sh sets its own to run these on its build.
PROFILE=${ACCESSLAKE_PROFILE:-release}
log=${1:-/tmp/bench-1m.log}
[ -s "$log" ] || python3 ../shared/bench/mklog.py 1000000 "$log"
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
RUSTFLAGS=-Ctarget-feature=+simd128 cargo build --profile wasm --target wasm32-wasip1 \
  -p accesslake-transform --bin accesslake-transform
. scripts/lib/prereqs.sh
build_workspace "$PROFILE"
target=$CARGO_TARGET_DIR
"$target/$PROFILE/bench-wasm" --wasm "$target/wasm32-wasip1/wasm/accesslake-transform.wasm" --rounds 5 --max-line "$log"
