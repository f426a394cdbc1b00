#!/usr/bin/env bash
# Parser throughput (issue 2): parse-only and parse + JSON, one thread, on a 1 M-line file from
# ../shared/bench/mklog.py. Usage: bench/parse.sh [LINES]
# With LTO=1, the same benchmark is also built with fat LTO (as the .wasm is), in a target
# directory of its own that holds only the parser crate and its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/accesslake/target}
# Figures come from the release profile; scripts/test.sh sets its own to run these on its build.
PROFILE=${ACCESSLAKE_PROFILE:-release}
n=${1:-1000000}
f=${BENCH_DIR:-/tmp}/accesslake-bench-$n.log
[ -s "$f" ] || python3 ../shared/bench/mklog.py "$n" "$f"
. scripts/lib/prereqs.sh
build_workspace "$PROFILE"
echo "$PROFILE profile:"
"$CARGO_TARGET_DIR/$PROFILE/examples/bench_parse" "$f" 5
if [ "${LTO:-}" = 1 ]; then
    lto_target="$CARGO_TARGET_DIR-lto"
    CARGO_PROFILE_RELEASE_LTO=fat CARGO_TARGET_DIR="$lto_target" \
        cargo build -q --release --locked -p accesslake-transform --example bench_parse
    echo "release profile with fat LTO:"
    "$lto_target/release/examples/bench_parse" "$f" 5
fi
