//! A KRM function with no dependencies, built static by the image smoke
//! test (tests/image/smoke.rs) with `rustc -C target-feature=+crt-static`,
//! so that it runs in an empty root: it echoes the ResourceList and logs
//! its size on stderr.
use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("static-function: reading stdin: {e}");
        std::process::exit(1);
    }
    eprintln!("static-function: {} bytes", input.len());
    if let Err(e) = std::io::stdout().write_all(&input) {
        eprintln!("static-function: writing stdout: {e}");
        std::process::exit(1);
    }
}
