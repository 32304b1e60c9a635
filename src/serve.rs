//! `fn-runner serve`: the function runner (compat §1-2). Work in progress.

use crate::flags::ServeSettings;

/// Runs the server until SIGTERM/SIGINT; returns after a graceful shutdown.
pub fn run(_settings: &ServeSettings) -> std::io::Result<()> {
    Err(std::io::Error::other("serve is not implemented yet"))
}
