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
