//! `fn-runner inspect` end to end (filled in once the flag parser lands).
