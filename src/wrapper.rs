//! `fn-runner wrapper-server`: the gRPC front of a function pod (compat §6). Work in progress.

use crate::flags::WrapperSettings;

/// Serves until SIGTERM/SIGINT.
pub fn run(_settings: &WrapperSettings) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "wrapper-server is not implemented yet",
    ))
}
