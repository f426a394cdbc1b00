#!/usr/bin/env bash
# One-shot setup of the accesslake topics and data transform on a Redpanda cluster.
#
# compose.yaml runs it in the Redpanda image (for rpk) once the broker is healthy; it also runs
# anywhere rpk can reach the cluster. Idempotent: existing topics are kept, and deploying the
# transform again replaces the running version (it resumes from its committed input offsets).
#
# Environment (defaults in brackets):
#   RPK_BROKERS        Kafka API address(es), read by rpk itself                  [redpanda:9092]
#   RPK_ADMIN_HOSTS    Admin API address(es), used by `rpk transform deploy`      [redpanda:9644]
#   TRANSFORM_WASM     the built transform          [/transform/accesslake-transform.wasm]
#   TRANSFORM_NAME     the transform's name in the cluster                  [accesslake-transform]
#   INPUT_TOPIC        raw log lines                                                  [requests]
#   OUTPUT_TOPIC       parsed JSON records, the sink's input                  [requests.parsed]
#   DLQ_TOPIC          lines the parser rejected, with the reason in a header    [requests.dlq]
#   PARTITIONS         partitions of each of the three topics: the most sink replicas
#                      that can share the work                                              [3]
#   REPLICAS           replication factor (1 for a single broker)                          [1]
#   TRANSFORM_VARS     extra transform environment, space-separated KEY=VALUE pairs         []
set -euo pipefail

export RPK_BROKERS="${RPK_BROKERS:-redpanda:9092}"
export RPK_ADMIN_HOSTS="${RPK_ADMIN_HOSTS:-redpanda:9644}"
wasm="${TRANSFORM_WASM:-/transform/accesslake-transform.wasm}"
name="${TRANSFORM_NAME:-accesslake-transform}"
input="${INPUT_TOPIC:-requests}"
output="${OUTPUT_TOPIC:-requests.parsed}"
dlq="${DLQ_TOPIC:-requests.dlq}"
partitions="${PARTITIONS:-3}"
replicas="${REPLICAS:-1}"

log() { printf 'init: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -f "$wasm" ]] || die "no transform at $wasm: build it first (doc/DEPLOY.md, step 2):
  RUSTFLAGS=-Ctarget-feature=+simd128 cargo build --profile wasm --target wasm32-wasip1 -p accesslake-transform --bin accesslake-transform"

# The compose health check already waited for the broker; outside compose, wait here too.
# (Output is captured before matching: `rpk ... | grep -q` can die of SIGPIPE under pipefail.)
healthy() {
    local out
    out=$(rpk cluster health 2>&1) || return 1
    grep -qE 'Healthy:[[:space:]]+true' <<<"$out"
}
for _ in $(seq 1 60); do
    healthy && break
    sleep 2
done
healthy || die "cluster not healthy at $RPK_ADMIN_HOSTS: $(rpk cluster health 2>&1 || true)"

enabled="$(rpk cluster config get data_transforms_enabled 2>/dev/null || true)"
[[ "$enabled" == "true" ]] || die "data transforms are disabled on this cluster (data_transforms_enabled=$enabled).
  Enable them and restart the broker: rpk cluster config set data_transforms_enabled true"

existing="$(rpk topic list | awk 'NR > 1 { print $1 }')"
for topic in "$input" "$output" "$dlq"; do
    if grep -qxF -- "$topic" <<<"$existing"; then
        log "topic $topic exists; kept"
    else
        log "creating topic $topic ($partitions partitions, replication $replicas)"
        rpk topic create "$topic" --partitions "$partitions" --replicas "$replicas"
    fi
done

# The first --output-topic is where parsed records go; the second receives rejected lines.
args=(--file "$wasm" --name "$name" --input-topic "$input"
      --output-topic "$output" --output-topic "$dlq")
for kv in ${TRANSFORM_VARS:-}; do
    args+=(--var "$kv")
done
log "deploying $wasm as $name: $input -> $output, rejects -> $dlq"
rpk transform deploy "${args[@]}"
rpk transform list
log "done"
