//! The one integration-test binary (style.md §8): one `mod` per area.
//! Every test starts the peers it needs on loopback and stops them on drop.

mod support;

// Our binary's command line: flags, multi-call names, health-probe exit codes.
mod cli;

// Exec runtime: config, process handling, kill on deadline/cancel (library and gRPC level).
mod exec;

// Wrapper-server mode: structured results, messages, health (library and gRPC level).
mod wrapper;

// The image without Docker: Dockerfile paths, catalog functions, `cp`, the static smoke test.
mod image;

// deploy/: every manifest through kubectl and the fake API server; the Role against the code's calls.
mod deploy;

// Kubernetes client against the fake API server; kubectl fidelity of the fake.
mod kube;

// The registry client against the real distribution registry, and `fn-runner inspect`.
mod registry;

// Our HTTP/2 + gRPC stack against grpcio, h2load and raw frames; health; shutdown.
mod transport;

// Operating the server: PID 1 and subreaper duties, signals, IPv6, start-up checks, the evaluation log, leftovers.
mod ops;

// Hostile and broken peers against serve and wrapper-server as processes (issue 11).
mod hostile;

// Metrics: Prometheus scraping serve, the /metrics endpoint under bad clients, OTEL_* configuration.
mod metrics;

// The pod runtime end to end: registry, fake API + kubelet, serve as a process.
mod pod;

// `fn-runner preflight` against the pod env: checklist, RBAC reviews, fixes, --show-pod.
mod preflight;
