//! The pod runtime (compat §4-§6, docs/pod.md): functions that no
//! `--config` entry lists run in function pods.

pub mod cache;
pub mod cache_config;
pub mod image;
pub mod pull_secret;
pub mod start;
pub mod template;
pub mod upkeep;
