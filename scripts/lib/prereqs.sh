# shellcheck shell=bash
# Helpers that install what the project's scripts need, only when it is missing. Sourced, after a
# `cd` to the repository root, by scripts/test.sh, scripts/demo.sh, scripts/lint-deploy.sh,
# bench/ingest.sh and bench/report.sh.

ACCESSLAKE_CACHE="${ACCESSLAKE_CACHE:-$HOME/.cache/accesslake}"

# apt_install PACKAGE...: installs the Debian packages that are not installed yet (apt-get update
# first; through sudo when not root).
apt_install() {
    local need=() pkg sudo=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}"
}

# The Debian packages that building the workspace needs (the Dockerfile's build stage installs the
# same): `apt_install "${BUILD_PACKAGES[@]}"`.
# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD_PACKAGES=(pkg-config libssl-dev cmake)

# use_venv: puts the bin/ of the venv $ACCESSLAKE_CACHE/venv (made with `python3 -m venv` if
# missing) first on PATH, exported, so that `python3`, `pip` and the venv's console scripts are the
# venv's for the rest of the script and in its child processes (the Rust tests run `python3`).
# Debian's system Python refuses `pip install` outside a venv (externally managed).
use_venv() {
    local venv="$ACCESSLAKE_CACHE/venv"
    if [ ! -x "$venv/bin/pip" ]; then
        if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
            apt_install python3-venv
            python3 -m venv --clear "$venv"
        fi
    fi
    case ":$PATH:" in
        *":$venv/bin:"*) ;;
        *) export PATH="$venv/bin:$PATH" ;;
    esac
    hash -r
}

# pip_install PACKAGE...: pip-installs into the venv (use_venv).
pip_install() {
    use_venv
    python3 -m pip install --quiet --disable-pip-version-check "$@"
}

# python_modules MODULE...: makes `python3` import every MODULE (each a PyPI package of the same
# name). Does nothing when it already does; otherwise switches to the venv (use_venv) and
# pip-installs them there unless the venv has them already.
python_modules() {
    local imports
    imports=$(IFS=,; printf '%s' "$*")
    python3 -c "import $imports" 2>/dev/null && return 0
    use_venv
    python3 -c "import $imports" 2>/dev/null || pip_install "$@"
}

# The DuckDB the scripts' builds link, chosen by $ACCESSLAKE_DUCKDB (README, "Tests"):
# - `prebuilt` (their default on x86_64 Linux with glibc): DuckDB's own release build,
#   `libduckdb.so` from the npm package @duckdb/node-bindings-linux-x64 (the library DuckDB's
#   Node.js client loads; the npm registry is one this project's machines reach), checked
#   against the package's published SHA-512 and kept in $ACCESSLAKE_CACHE. The workspace then
#   builds without default features; the `accesslake` binary records where the library is
#   (sink/build.rs), and the other executables find it on LD_LIBRARY_PATH, exported here.
# - `bundled` (their default elsewhere, and a plain `cargo build`'s, as in the Dockerfile): the
#   `bundled` feature compiles DuckDB's C++ from libduckdb-sys's sources, 25-60 minutes on 2
#   cores, and links it in.
# Both are DuckDB 1.5.6; the prebuilt one has the ICU extension built in, the bundled one not.
DUCKDB_NPM_PACKAGE=node-bindings-linux-x64
DUCKDB_NPM_VERSION=1.5.6-r.1
DUCKDB_NPM_SHA512=21772b64913a904a8cd19e30c1d5671811d7fdface4b7dd53cd0300d743f43e16cf386f4e7c41ef78721ac208870d2651bc6375072145387817824315b998dd5

# duckdb_setup: sets CARGO_DUCKDB, the cargo flags of every build that links DuckDB (empty for
# `bundled`); for `prebuilt`, fetches the library once and exports DUCKDB_LIB_DIR (which
# libduckdb-sys's build script links from) and LD_LIBRARY_PATH.
duckdb_setup() {
    CARGO_DUCKDB=()
    local fits=false libc
    # Read whole, not piped into `grep -q`: under pipefail, ldd killed by SIGPIPE when grep quits
    # early would fail the check at random.
    libc=$(ldd --version 2>&1 || true)
    case "$(uname -sm) ${libc,,}" in
        "Linux x86_64 "*glibc* | "Linux x86_64 "*"gnu libc"*) fits=true ;;
    esac
    if [ -z "${ACCESSLAKE_DUCKDB:-}" ]; then
        ACCESSLAKE_DUCKDB=prebuilt
        if [ $fits = false ]; then
            echo "note: the prebuilt DuckDB is for x86_64 Linux with glibc: compiling the bundled one" >&2
            ACCESSLAKE_DUCKDB=bundled
        fi
    fi
    export ACCESSLAKE_DUCKDB
    case "$ACCESSLAKE_DUCKDB" in
        bundled) return 0 ;;
        prebuilt) ;;
        *)
            echo "error: ACCESSLAKE_DUCKDB is '$ACCESSLAKE_DUCKDB'; it is bundled or prebuilt" >&2
            return 1
            ;;
    esac
    if [ $fits = false ]; then
        echo "error: the prebuilt DuckDB is for x86_64 Linux with glibc; use ACCESSLAKE_DUCKDB=bundled" >&2
        return 1
    fi
    local dir="$ACCESSLAKE_CACHE/duckdb/$DUCKDB_NPM_VERSION"
    if [ ! -f "$dir/libduckdb.so" ]; then
        local url tmp sum
        url="https://registry.npmjs.org/@duckdb/$DUCKDB_NPM_PACKAGE/-/$DUCKDB_NPM_PACKAGE-$DUCKDB_NPM_VERSION.tgz"
        mkdir -p "$ACCESSLAKE_CACHE/duckdb"
        command -v curl >/dev/null || apt_install curl ca-certificates
        tmp=$(mktemp -d "$ACCESSLAKE_CACHE/duckdb/.fetch.XXXXXX")  # same filesystem: mv is a rename
        if ! curl -fsSL --retry 3 -o "$tmp/package.tgz" "$url"; then
            rm -rf "$tmp"
            echo "error: could not download $url (ACCESSLAKE_DUCKDB=bundled builds DuckDB instead)" >&2
            return 1
        fi
        sum=$(sha512sum "$tmp/package.tgz" | cut -d ' ' -f 1)
        if [ "$sum" != "$DUCKDB_NPM_SHA512" ]; then
            rm -rf "$tmp"
            echo "error: $url has SHA-512 $sum, not the published $DUCKDB_NPM_SHA512" >&2
            return 1
        fi
        tar -xzf "$tmp/package.tgz" -C "$tmp" package/libduckdb.so package/LICENSE
        mkdir -p "$dir"
        mv "$tmp/package/LICENSE" "$dir/LICENSE"
        mv "$tmp/package/libduckdb.so" "$dir/libduckdb.so"  # last: its presence means complete
        rm -rf "$tmp"
    fi
    export DUCKDB_LIB_DIR="$dir"
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$dir:"*) ;;
        *) export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
    CARGO_DUCKDB=(--no-default-features)
}

# build_workspace PROFILE: builds every crate and target of the workspace, quietly, in PROFILE and
# against the DuckDB duckdb_setup chooses: the build scripts/test.sh makes, so a script that
# calls this after the tests rebuilds nothing (and never DuckDB a second time).
build_workspace() {
    duckdb_setup
    cargo build -q --profile "$1" "${CARGO_DUCKDB[@]}" --workspace --all-targets --locked
}
