# One tiny static image that replaces both Porch images:
#   /server                            the function runner (porch-function-runner's /server)
#   /grpc-health-probe                 its readiness probe
#   /wrapper-server/wrapper-server     copied into every function pod by the init container
#   /wrapper-server/grpc-health-probe  the function pod's readiness probe
# All four are one binary that dispatches on the name it is called by.
#
#   docker build -t fn-runner .
#
# Use the same image as WRAPPER_SERVER_IMAGE: its init container runs
# `cp -a /wrapper-server/. /wrapper-server-tools`, so the image carries a
# static busybox for `cp` (and nothing else of it is used).

FROM rust:1-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin fn-runner \
 && mkdir -p /out/wrapper-server \
 && strip -o /out/wrapper-server/wrapper-server target/x86_64-unknown-linux-musl/release/fn-runner \
 # Inside /wrapper-server a relative link, so that `cp -a` into the pod keeps it working.
 && ln -s wrapper-server /out/wrapper-server/grpc-health-probe \
 && ln -s /wrapper-server/wrapper-server /out/server \
 && ln -s /wrapper-server/wrapper-server /out/grpc-health-probe \
 && ln -s /wrapper-server/wrapper-server /out/fn-runner

FROM busybox:stable-musl AS busybox

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=busybox /bin/busybox /bin/busybox
COPY --from=busybox /bin/cp /bin/cp
COPY --from=build /out/ /
USER 65532:65532
EXPOSE 9445
ENTRYPOINT ["/server"]
