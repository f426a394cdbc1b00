#!/usr/bin/env bash
# Deletes what the current workspace no longer uses from the persistent target dir's profile
# directory ($CARGO_TARGET_DIR/$ACCESSLAKE_PROFILE, default `ci`, the tests'): test and bench
# executables, libraries and build-script dirs left behind by earlier commits, dependency bumps
# or feature changes. Each commit's test binaries are ~200 MB (DuckDB is linked into each), so a
# CI cache that only grows fills its disk.
#
# What is kept: every artifact cargo names (fresh or rebuilt) for that profile's builds and the
# clippy run that scripts/test.sh does, and anything modified in the last $PRUNE_MIN_AGE minutes (default 120),
# so a build running beside this one keeps its outputs. A wrongly deleted file would only be
# rebuilt. Usage: scripts/prune-target.sh [--dry-run | --list]  (--list: also print the paths)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR}"
profile=${ACCESSLAKE_PROFILE:-ci}
outdir="$CARGO_TARGET_DIR/$profile"
[ -d "$outdir/deps" ] || exit 0
mode=${1:-}
. scripts/lib/prereqs.sh
duckdb_setup  # the same features as the builds it keeps

keep=$(mktemp)
trap 'rm -f "$keep"' EXIT
# `--all-targets` names the test executables too (the ones `cargo test` runs); clippy
# names its metadata-only (check) outputs of every dependency.
{
    cargo build --all-targets --profile "$profile" "${CARGO_DUCKDB[@]}" --workspace --locked --message-format=json 2>/dev/null
    cargo clippy --all-targets --profile "$profile" "${CARGO_DUCKDB[@]}" --workspace --locked --message-format=json -- -D warnings 2>/dev/null
} | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    paths = m.get("filenames") or []
    if m.get("executable"):
        paths.append(m["executable"])
    if m.get("out_dir"):
        paths.append(m["out_dir"])
    for p in paths:
        print(os.path.realpath(p))
' >"$keep"

if [ ! -s "$keep" ]; then
    echo "prune: cargo named no artifacts; nothing deleted" >&2
    exit 0
fi

# deps/, examples/: files cargo did not name. build/: <package>-<hash> dirs holding nothing it named.
stale=$(python3 - "$outdir" "$keep" "${PRUNE_MIN_AGE:-120}" <<'PY'
import os, sys, time
release, keep_file, min_age = sys.argv[1], sys.argv[2], float(sys.argv[3])
keep = set(open(keep_file).read().split())
# Binaries are named by their uplifted copy (<profile>/NAME), a hard link to deps/NAME-HASH.
inodes = {(s.st_dev, s.st_ino) for s in (os.stat(p) for p in keep if os.path.isfile(p))}
young = time.time() - min_age * 60
kept_dirs = {os.path.relpath(p, os.path.join(release, "build")).split(os.sep)[0]
             for p in keep if p.startswith(os.path.join(release, "build") + os.sep)}
for d in ("deps", "examples"):
    for name in os.listdir(os.path.join(release, d)):
        p = os.path.join(release, d, name)
        base = p[:-2] if p.endswith(".d") else p
        # A library's dep-info file is `name-hash.d` beside `libname-hash.rlib`.
        lib = os.path.join(os.path.dirname(base), "lib" + os.path.basename(base))
        if p in keep or any(b + ext in keep for b in (base, lib) for ext in ("", ".rlib", ".rmeta", ".so")):
            continue
        if os.path.isfile(base) and (os.stat(base).st_dev, os.stat(base).st_ino) in inodes:
            continue
        if os.path.getmtime(p) < young:
            print(p)
for name in os.listdir(os.path.join(release, "build")):
    p = os.path.join(release, "build", name)
    if name not in kept_dirs and os.path.getmtime(p) < young:
        print(p)
PY
)
if [ -z "$stale" ]; then
    echo "prune: nothing stale"
    exit 0
fi
bytes=$(echo "$stale" | xargs -d '\n' du -scb | tail -n 1 | cut -f1)
echo "prune: $(echo "$stale" | wc -l) stale outputs, $((bytes / 1024 / 1024)) MiB"
case "$mode" in
    --list) echo "$stale" ;;
    --dry-run) ;;
    *) echo "$stale" | xargs -d '\n' rm -rf ;;
esac
