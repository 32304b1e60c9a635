//! End-to-end tests of the pod runtime (issues 12, 13) on
//! `support::pods::PodEnv`: the real registry, the fake API with its
//! kubelet simulator running our wrapper server per pod, `serve` as a
//! process.

// The harness itself, without the pod runtime: pods made by hand.
mod harness;

// The pod runtime through serve: pods made, found, reused, replaced; errors.
mod runtime;

// --function-pod-template: pods from the ConfigMap, replaced when it changes.
mod template;

// Pulls that fail, deadlines, pods deleted behind our back, failing functions.
mod failures;

// API faults (500, 429, dropped watch, 410) and token rotation: no failed evaluation.
mod faults;

// The pod runtime in serve's chain: exec first, disabled, no kubeconfig, no wrapper image, public images.
mod serve;

// Issue 13: parallel pods, warm-up, garbage collection safe with replicas.
mod lifecycle;

// Issue 16: the pod runtime's metrics, scraped by a real Prometheus.
mod metrics;
