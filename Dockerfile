# One static, distroless image that replaces both of Porch's images (the
# function runner and the wrapper server). One binary, called by the name
# Porch uses (src/image_layout.rs; tests/image checks these paths):
#
#   /server, /home/nonroot/server              the function runner
#   /grpc-health-probe, /home/nonroot/grpc-health-probe   its readiness probe
#   /wrapper-server/{wrapper-server,grpc-health-probe}    copied into every
#   /home/nonroot/wrapper-server/ (the same)              function pod
#   /bin/cp                                    the init container's `cp -a`
#   /config.yaml, /functions/ (and under /home/nonroot/)  cached catalog functions
#
# No shell, no busybox: `cp` is a name of the binary too.
#
#   docker build -t fn-runner .
#   docker build --build-arg FUNCTIONS=none -t fn-runner .          # no catalog functions
#   docker build --build-arg CATALOG_FUNCTIONS=set-namespace,starlark -t fn-runner .
#   docker buildx build --platform linux/arm64 --build-arg TARGET=aarch64-unknown-linux-musl -t fn-runner .
#
# Use the same image for WRAPPER_SERVER_IMAGE (README "Swap fn-runner into Porch").
# Needs BuildKit's built-in Dockerfile frontend (Docker 23 or later) for
# COPY --link; no `# syntax=` line, so an air-gapped builder pulls nothing
# for it.

# The Rust target: a static musl binary.
ARG TARGET=x86_64-unknown-linux-musl
# `catalog`: ship the catalog functions (pulled from their kpt-fn images);
# `none`: ship none (no kpt-fn image is pulled) with an empty, valid config.
ARG FUNCTIONS=catalog
# With FUNCTIONS=catalog: `all`, or a comma list of image/catalog.yaml's names.
ARG CATALOG_FUNCTIONS=all
# OCI labels: the release (Cargo.toml's version), the commit and the
# repository this image is built from (pass yours: --build-arg SOURCE=URL).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=

# ---- the binary -------------------------------------------------------------
FROM rust:1-bookworm AS build
ARG TARGET
RUN rustup target add "$TARGET" \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Cargo.toml names the test and bench targets: their files must exist.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
COPY image ./image
# Stripped by cargo (no binutils for the target needed).
RUN CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$TARGET" --bin fn-runner \
 && image/layout.sh "target/$TARGET/release/fn-runner" /out \
 # The distroless home is 0700 and 65532's: keep the owner, let any uid in.
 && chown 65532:65532 /out/home/nonroot

# ---- cached catalog functions (Porch's own image ships the same set) -------
FROM gcr.io/kpt-fn/apply-setters:v0.2.0         AS fn-apply-setters
FROM gcr.io/kpt-fn/apply-setters:v0.1.1         AS fn-apply-setters-v1
FROM gcr.io/kpt-fn/ensure-name-substring:v0.1.1 AS fn-ensure-name-substring
FROM gcr.io/kpt-fn/search-replace:v0.2.0        AS fn-search-replace
FROM gcr.io/kpt-fn/set-annotations:v0.1.4       AS fn-set-annotations
FROM gcr.io/kpt-fn/set-image:v0.1.0             AS fn-set-image
FROM gcr.io/kpt-fn/set-labels:v0.1.5            AS fn-set-labels
FROM gcr.io/kpt-fn/set-namespace:v0.2.0         AS fn-set-namespace
FROM gcr.io/kpt-fn/set-namespace:v0.3.4         AS fn-set-namespace-v3
FROM gcr.io/kpt-fn/set-project-id:v0.2.0        AS fn-set-project-id
FROM gcr.io/kpt-fn/starlark:v0.3.0              AS fn-starlark
FROM gcr.io/kpt-fn/upsert-resource:v0.2.0       AS fn-upsert-resource

FROM rust:1-bookworm AS functions-catalog
ARG CATALOG_FUNCTIONS
COPY --from=fn-apply-setters         /usr/local/bin/function /functions/apply-setters
COPY --from=fn-apply-setters-v1      /usr/local/bin/function /functions/apply-setters-v1
COPY --from=fn-ensure-name-substring /usr/local/bin/function /functions/ensure-name-substring
COPY --from=fn-search-replace        /usr/local/bin/function /functions/search-replace
COPY --from=fn-set-annotations       /usr/local/bin/function /functions/set-annotations
COPY --from=fn-set-image             /usr/local/bin/function /functions/set-image
COPY --from=fn-set-labels            /usr/local/bin/function /functions/set-labels
COPY --from=fn-set-namespace         /usr/local/bin/function /functions/set-namespace
COPY --from=fn-set-namespace-v3      /usr/local/bin/function /functions/set-namespace-v3
COPY --from=fn-set-project-id        /usr/local/bin/function /functions/set-project-id
COPY --from=fn-starlark              /usr/local/bin/star     /functions/starlark
COPY --from=fn-upsert-resource       /usr/local/bin/function /functions/upsert-resource
COPY image/catalog.yaml image/functions.sh /tmp/
RUN chmod 0555 /functions/* \
 && /tmp/functions.sh /tmp/catalog.yaml /functions "$CATALOG_FUNCTIONS" > /config.yaml \
 && chmod 0755 /functions && chmod 0444 /config.yaml

FROM rust:1-bookworm AS functions-none
COPY image/catalog.yaml image/functions.sh /tmp/
RUN mkdir -m 0755 /functions \
 && /tmp/functions.sh /tmp/catalog.yaml /functions none > /config.yaml \
 && chmod 0444 /config.yaml

FROM functions-${FUNCTIONS} AS functions

# ---- the image ----------------------------------------------------------------
# debian12 on purpose: its /bin is a directory, where layout.sh's /bin/cp
# lands (the init container finds `cp` there on PATH). distroless's debian13
# images make /bin a symlink to usr/bin (merged /usr; distroless #1393,
# #1850), which a copied /bin directory would shadow or fail on, by builder:
# moving to 13 means laying cp out at /usr/bin/cp (src/image_layout.rs CP,
# image/layout.sh).
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG REVISION
ARG SOURCE
LABEL org.opencontainers.image.title="fn-runner" \
      org.opencontainers.image.description="Drop-in replacement for Porch's function runner, wrapper server and grpc-health-probe: one static binary" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.licenses="Apache-2.0"
# --link: the layer carries /home/nonroot's own mode (0755), so that the
# uid 10001 of newer Porch Deployments can reach /home/nonroot/server.
COPY --link --from=build /out/ /
COPY --link --from=functions /functions/ /functions/
COPY --link --from=functions /config.yaml /config.yaml
# Any uid can start here (distroless's /home/nonroot is only 65532's).
WORKDIR /
USER 65532:65532
EXPOSE 9445
ENTRYPOINT ["/server", "--config=/config.yaml", "--functions=/functions"]
