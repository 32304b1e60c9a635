//! End-to-end tests of the pod runtime (issues 12, 13) on
//! `support::pods::PodEnv`: the real registry, the fake API with its
//! kubelet simulator running our wrapper server per pod, `serve` as a
//! process.

// The harness itself, without the pod runtime: pods made by hand.
mod harness;

// The pod runtime through serve: pods made, found, reused, replaced; errors.
mod runtime;

// Issue 13: parallel pods, warm-up, garbage collection safe with replicas.
mod lifecycle;
