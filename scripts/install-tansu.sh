#!/usr/bin/env bash
# Installs the Kafka-API test broker (tansu 0.6.0, SQLite storage) that the broker tests start.
#
# Idempotent: skips the build when "$ACCESSLAKE_CACHE/tools/bin/tansu" already reports 0.6.0.
# A cold build takes 15-50 minutes on 2 cores, as fast as the VM is; CI caches "$ACCESSLAKE_CACHE"
# between runs.
# Prints the binary's path on stdout (last line), so callers can `TANSU=$(scripts/install-tansu.sh)`.
set -euo pipefail

version=0.6.0
cache="${ACCESSLAKE_CACHE:-$HOME/.cache/accesslake}"
root="$cache/tools"
bin="$root/bin/tansu"

if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "$version"; then
    echo "tansu $version already installed at $bin" >&2
else
    echo "installing tansu $version into $root (cold: 15–40 min on 2 cores)" >&2
    # A target dir of its own, removed afterwards: the workspace's (CARGO_TARGET_DIR, which
    # scripts/test.sh exports) is locked by the workspace build running meanwhile, and would
    # keep tansu's ~1 GB of intermediate files for ever.
    # At opt-level 1: 8 CPU-minutes less to build than the default 3 (36 against 44), for
    # broker tests about 10 % slower (doc/PERFORMANCE.md, "Build time"). It is a test broker.
    build="$root/build"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_TARGET_DIR="$build" \
        cargo install tansu --version "$version" --locked --features libsql --root "$root" >&2
    rm -rf "$build"
fi
echo "$bin"
