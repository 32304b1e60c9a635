//! Stream states (RFC 9113 §5.1). We never push (SETTINGS_ENABLE_PUSH is 0
//! on our clients and our servers never send PUSH_PROMISE), so the
//! reserved states do not exist here.
//!
//! ```text
//!                          +--------+
//!                  send H  |        |  recv H
//!                ,---------|  idle  |---------.
//!               /          |        |          \
//!              v           +--------+           v
//!       +----------+            |            +----------+
//!       |  half-   | <-send ES- | -recv ES-> |  half-   |
//!       |  closed  |       +--------+        |  closed  |
//!       | (local)  |       |  open  |        | (remote) |
//!       +----------+       +--------+        +----------+
//!            | recv ES / R      |     send ES / R |
//!            |                  | send R/         |
//!            |                  | recv R          |
//!            v              +--------+            v
//!            `------------->| closed |<-----------'
//!                           +--------+
//!   H: HEADERS, ES: END_STREAM flag, R: RST_STREAM
//! ```

use std::fmt;

use super::frame::ErrorCode;

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Open,
    /// We sent END_STREAM; waiting for the peer's.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    Closed,
}

/// Something that happens to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    SendHeaders { end_stream: bool },
    RecvHeaders { end_stream: bool },
    SendData { end_stream: bool },
    RecvData { end_stream: bool },
    SendReset,
    RecvReset,
}

/// A frame that the stream's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub state: State,
    pub event: Event,
    /// The code to reset the stream (or, for idle streams, the connection) with.
    pub code: ErrorCode,
    /// RFC 9113 §5.1: DATA on an idle stream is a connection error.
    pub is_connection_error: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} not allowed in stream state {:?} ({})",
            self.event, self.state, self.code
        )
    }
}

impl std::error::Error for Error {}

impl State {
    /// The state after `event`, or the error RFC 9113 §5.1 prescribes.
    pub(crate) fn transition(self, event: Event) -> Result<State, Error> {
        use Event::*;
        use State::*;
        let closing = |end: bool, open: State, half: State| if end { half } else { open };
        match (self, event) {
            (Idle, RecvHeaders { end_stream }) => Ok(closing(end_stream, Open, HalfClosedRemote)),
            (Idle, SendHeaders { end_stream }) => Ok(closing(end_stream, Open, HalfClosedLocal)),
            (Open, RecvHeaders { end_stream } | RecvData { end_stream }) => {
                Ok(closing(end_stream, Open, HalfClosedRemote))
            }
            (Open, SendHeaders { end_stream } | SendData { end_stream }) => {
                Ok(closing(end_stream, Open, HalfClosedLocal))
            }
            (HalfClosedLocal, RecvHeaders { end_stream } | RecvData { end_stream }) => {
                Ok(closing(end_stream, HalfClosedLocal, Closed))
            }
            (HalfClosedRemote, SendHeaders { end_stream } | SendData { end_stream }) => {
                Ok(closing(end_stream, HalfClosedRemote, Closed))
            }
            (Open | HalfClosedLocal | HalfClosedRemote, RecvReset | SendReset) => Ok(Closed),
            // RFC 9113 §5.1 closed: RST_STREAM may arrive or be sent after close.
            (Closed, RecvReset | SendReset) => Ok(Closed),
            // RFC 9113 §5.1 idle: anything but HEADERS (or PRIORITY) is a
            // connection PROTOCOL_ERROR.
            (Idle, _) => Err(Error {
                state: self,
                event,
                code: ErrorCode::PROTOCOL_ERROR,
                is_connection_error: true,
            }),
            // RFC 9113 §5.1 half-closed (remote) and closed: frames after the
            // peer's END_STREAM are a stream error STREAM_CLOSED.
            (HalfClosedRemote | Closed, RecvHeaders { .. } | RecvData { .. }) => Err(Error {
                state: self,
                event,
                code: ErrorCode::STREAM_CLOSED,
                is_connection_error: false,
            }),
            // Sending after our own END_STREAM is a bug of the caller; the
            // stream is reset so the peer is not left waiting.
            (HalfClosedLocal | Closed, SendHeaders { .. } | SendData { .. }) => Err(Error {
                state: self,
                event,
                code: ErrorCode::INTERNAL_ERROR,
                is_connection_error: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Event::*;
    use super::State::*;
    use super::*;

    #[test]
    fn every_arrow() {
        let ok = [
            (Idle, RecvHeaders { end_stream: false }, Open),
            (Idle, RecvHeaders { end_stream: true }, HalfClosedRemote),
            (Idle, SendHeaders { end_stream: false }, Open),
            (Idle, SendHeaders { end_stream: true }, HalfClosedLocal),
            (Open, RecvData { end_stream: true }, HalfClosedRemote),
            (Open, SendData { end_stream: true }, HalfClosedLocal),
            (Open, RecvData { end_stream: false }, Open),
            (Open, RecvReset, Closed),
            (Open, SendReset, Closed),
            (HalfClosedLocal, RecvHeaders { end_stream: true }, Closed),
            (
                HalfClosedLocal,
                RecvData { end_stream: false },
                HalfClosedLocal,
            ),
            (HalfClosedRemote, SendHeaders { end_stream: true }, Closed),
            (
                HalfClosedRemote,
                SendData { end_stream: false },
                HalfClosedRemote,
            ),
            (HalfClosedRemote, RecvReset, Closed),
            (Closed, RecvReset, Closed),
        ];
        for (from, event, to) in ok {
            assert_eq!(from.transition(event), Ok(to), "{from:?} {event:?}");
        }
    }

    #[test]
    fn data_on_idle_is_a_connection_error() {
        let e = Idle
            .transition(RecvData { end_stream: false })
            .expect_err("idle");
        assert!(e.is_connection_error);
        assert_eq!(e.code, ErrorCode::PROTOCOL_ERROR);
    }

    #[test]
    fn data_after_end_stream_is_stream_closed() {
        let e = HalfClosedRemote
            .transition(RecvData { end_stream: false })
            .expect_err("half closed");
        assert_eq!(
            (e.code, e.is_connection_error),
            (ErrorCode::STREAM_CLOSED, false)
        );
    }
}
