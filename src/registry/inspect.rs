//! `fn-runner inspect IMAGE`: resolves digest and entrypoint. Work in progress.

use crate::flags::InspectSettings;

/// Resolves the image and prints one JSON object; returns the exit code.
pub fn run(_settings: &InspectSettings) -> u8 {
    1
}
