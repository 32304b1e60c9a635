//! HTTP/2 frame decoding of arbitrary bytes, then the connection state
//! machine (server role) fed the same bytes after a valid preface.
#![no_main]
use fn_runner::h2::conn::{Connection, Role, PREFACE};
use fn_runner::h2::{frame, limits::Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame::decode(data, frame::MIN_MAX_FRAME_SIZE);
    let mut conn = Connection::new(Role::Server, Limits::default());
    let _ = conn.recv(PREFACE);
    let _ = conn.recv(data);
});
