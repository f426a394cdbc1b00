#!/usr/bin/env bash
# Parser throughput (issue 2): parse-only and parse + JSON, one thread, on a 1 M-line file from
# ../shared/bench/mklog.py. Usage: bench/parse.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
f=${BENCH_DIR:-/tmp}/accesslake-bench-$n.log
[ -s "$f" ] || python3 ../shared/bench/mklog.py "$n" "$f"
cargo run -q --release -p accesslake-transform --example bench_parse -- "$f" 5
