//! Links the release binary with its start-up code packed together.
//!
//! `src/link-order.txt` lists the functions that run from `main` to an idle,
//! serving `serve` (written by `benches/link-order.sh`). The kernel maps
//! text in 64 KiB windows around every page that is executed ("fault-
//! around"), so start-up code spread over the binary keeps most of it
//! resident: with the list, LLD places those functions first and an idle
//! server maps about a third of the text it otherwise would (docs/perf.md).
//!
//! Only LLD reads `--symbol-ordering-file`, so the flag is passed only when
//! rustc links with its own LLD (x86_64-unknown-linux-gnu, Rust 1.90 and
//! later, no linker configured); `FN_RUNNER_LINK_ORDER=0` turns it off. A
//! name the binary no longer has is ignored, so a stale list only costs
//! memory, never a build.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/link-order.txt");
    println!("cargo:rerun-if-env-changed=FN_RUNNER_LINK_ORDER");
    if env::var("PROFILE").as_deref() != Ok("release") || !links_with_rust_lld() {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let list = Path::new(&dir).join("src/link-order.txt");
    if list.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    // Relative relocations packed (DT_RELR): ~4 KB for the dynamic loader
    // to read at start-up instead of ~86 KB. glibc 2.36 and later load
    // them; the binary needs the build machine's glibc version anyway.
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc version (`getconf GNU_LIBC_VERSION`).
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Some(out) = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
    else {
        return false;
    };
    // "glibc 2.36"
    let mut version = out.trim().trim_start_matches("glibc ").split('.');
    let parse = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
    match (parse(version.next()), parse(version.next())) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Whether the binary is linked by the LLD that rustc ships (its default on
/// x86_64-unknown-linux-gnu since 1.90), which is the only linker we know
/// reads `--symbol-ordering-file`.
fn links_with_rust_lld() -> bool {
    if env::var("FN_RUNNER_LINK_ORDER").as_deref() == Ok("0") {
        return false;
    }
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    // A configured linker or linker flavour may not be LLD.
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if rustflags.contains("linker") || rustflags.contains("link-self-contained") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| {
            v.split(['.', ' '])
                .nth(2)
                .and_then(|m| m.parse::<u32>().ok())
        });
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok());
    let lld_shipped = sysroot.is_some_and(|root| {
        Path::new(root.trim())
            .join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld")
            .exists()
    });
    minor.is_some_and(|m| m >= 90) && lld_shipped
}
