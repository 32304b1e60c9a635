//! The only place with `unsafe`: libc calls (signals, process groups, kill). Work in progress.
#![allow(unsafe_code, reason = "this module wraps the libc calls that need it")]
