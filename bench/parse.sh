#!/usr/bin/env bash
# Parser throughput (issue 2): parse-only and parse + JSON, one thread, on a 1 M-line file from
# ../shared/bench/mklog.py. Usage: bench/parse.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/accesslake/target}
n=${1:-1000000}
f=${BENCH_DIR:-/tmp}/accesslake-bench-$n.log
[ -s "$f" ] || python3 ../shared/bench/mklog.py "$n" "$f"
cargo build -q --release --workspace --all-targets --locked  # the tests' feature set: no second DuckDB build
"$CARGO_TARGET_DIR/release/examples/bench_parse" "$f" 5
