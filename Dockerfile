# The botmox server image: `docker build -t botmox .` (a release build, about 15 minutes on
# 2 cores the first time; later builds reuse the toolchain layer and BuildKit's cargo caches).
# Its stages, from the one Debian base:
#   toolchain  Debian + gcc + Rust from rustup (pinned)
#   build      the release binary of `botmox`
#   s3         a single-node S3-compatible store (s3s-fs) for deploy/compose.yaml
#   botmox     the runtime image (the default target): the binary, CA certificates and
#              time zones, run as the unprivileged user `botmox` (uid 10001)
# Needs BuildKit (DOCKER_BUILDKIT=1, the default of Docker 23 and later) for the cache mounts.

ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS toolchain
ARG RUST_VERSION=1.95.0
# PEM certificates the build stages trust besides Debian's, for a network whose proxy
# inspects TLS: --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)".
# The runtime image does not get them.
ARG EXTRA_CA_CERTS=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/extra.crt \
      && update-ca-certificates; \
    fi
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
# rustup-init from rustup's own distribution server, checked against its published SHA-256.
RUN set -eu; \
    url="https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init"; \
    curl --proto '=https' --tlsv1.2 -sSf -o /tmp/rustup-init "$url"; \
    echo "$(curl --proto '=https' --tlsv1.2 -sSf "$url.sha256" | cut -d' ' -f1)  /tmp/rustup-init" | sha256sum -c -; \
    chmod +x /tmp/rustup-init; \
    /tmp/rustup-init -y --no-modify-path --profile minimal --default-toolchain "$RUST_VERSION"; \
    rm /tmp/rustup-init; \
    cargo --version

FROM toolchain AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p botmox-server --bin botmox \
 && install -m 0755 target/release/botmox /usr/local/bin/botmox

FROM toolchain AS s3-build
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/tmp/s3s-fs-target \
    CARGO_TARGET_DIR=/tmp/s3s-fs-target \
    cargo install s3s-fs@0.14.1 --features binary --locked --root /opt/s3s-fs

FROM ${DEBIAN_IMAGE} AS s3
COPY --from=s3-build /opt/s3s-fs/bin/s3s-fs /usr/local/bin/s3s-fs
# The bucket deploy/compose.yaml names (s3s-fs keeps a bucket as a folder).
RUN useradd --system --uid 10002 --home-dir /var/lib/s3 --create-home --shell /usr/sbin/nologin s3 \
 && install -d -o s3 -g s3 -m 0700 /var/lib/s3/botmox
USER s3
VOLUME /var/lib/s3
EXPOSE 9000
ENTRYPOINT ["s3s-fs", "--host", "0.0.0.0", "--port", "9000"]
CMD ["/var/lib/s3"]

FROM ${DEBIAN_IMAGE} AS botmox
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/botmox --create-home --shell /usr/sbin/nologin botmox
COPY --from=build /usr/local/bin/botmox /usr/local/bin/botmox
USER botmox
WORKDIR /var/lib/botmox
ENV BOTMOX_LISTEN=0.0.0.0:8080 BOTMOX_DATA_DIR=/var/lib/botmox/data BOTMOX_LOG_FORMAT=json
VOLUME /var/lib/botmox
EXPOSE 8080
ENTRYPOINT ["botmox"]
CMD ["serve"]
