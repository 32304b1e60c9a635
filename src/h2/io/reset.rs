//! What a stream reset means to the caller (RFC 9113 §7 error codes,
//! §8.7 which requests may be retried), so that layers above `h2` never
//! name a frame type: gRPC maps [`ResetKind`] to its status codes
//! (grpc/doc/PROTOCOL-HTTP2.md "Errors").

use std::fmt;

use crate::h2::conn::Initiator;
use crate::h2::frame::ErrorCode;

/// A stream ended by RST_STREAM (ours or the peer's), or refused by the
/// peer's GOAWAY.
#[derive(Debug)]
pub struct StreamReset {
    /// What it means for the call.
    pub kind: ResetKind,
    /// Who reset the stream.
    pub initiator: Initiator,
    /// The wire code, for messages and logs.
    code: ErrorCode,
}

/// The classes of reset a caller acts on differently.
#[derive(Debug)]
pub enum ResetKind {
    /// REFUSED_STREAM, or a stream above the last stream id of the peer's
    /// GOAWAY: the peer did no processing (RFC 9113 §8.7), so the request
    /// may be retried on another connection. `request`: its body parts,
    /// given back; `None` when the response had already started.
    Refused { request: Option<Vec<Vec<u8>>> },
    /// CANCEL: the stream is no longer wanted.
    Cancelled,
    /// ENHANCE_YOUR_CALM: the load was judged excessive (a flood limit, a
    /// header list over the limit).
    EnhanceYourCalm,
    /// INADEQUATE_SECURITY: the transport is not secure enough.
    InadequateSecurity,
    /// Any other code: a protocol or internal error on the stream (or the
    /// connection failed: every open stream is reset with its code).
    Error,
    /// The connection failed on the peer's first bytes: it does not speak
    /// HTTP/2 at all (an HTTP/1.1 server, a TLS port). `why` says what it
    /// answered (`h2::conn::Error::NotHttp2`).
    PeerNotHttp2 { why: String },
}

impl StreamReset {
    /// Classifies a reset with `code` by `initiator`; `refused_request` is
    /// the body a refused stream gives back.
    pub(crate) fn new(
        code: ErrorCode,
        initiator: Initiator,
        refused_request: Option<Vec<Vec<u8>>>,
    ) -> StreamReset {
        let kind = match code {
            ErrorCode::REFUSED_STREAM => ResetKind::Refused {
                request: refused_request,
            },
            ErrorCode::CANCEL => ResetKind::Cancelled,
            ErrorCode::ENHANCE_YOUR_CALM => ResetKind::EnhanceYourCalm,
            ErrorCode::INADEQUATE_SECURITY => ResetKind::InadequateSecurity,
            _ => ResetKind::Error,
        };
        StreamReset {
            kind,
            initiator,
            code,
        }
    }

    /// A stream of a connection whose peer turned out not to speak HTTP/2
    /// (`why`: what it answered instead).
    pub(crate) fn peer_not_http2(why: String) -> StreamReset {
        StreamReset {
            kind: ResetKind::PeerNotHttp2 { why },
            initiator: Initiator::Us,
            code: ErrorCode::PROTOCOL_ERROR,
        }
    }

    /// Whether the request was not processed and can be sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ResetKind::Refused { request: Some(_) })
    }

    /// Takes the request body a refused stream gave back.
    pub(crate) fn take_request(&mut self) -> Option<Vec<Vec<u8>>> {
        match &mut self.kind {
            ResetKind::Refused { request } => request.take(),
            _ => None,
        }
    }
}

impl fmt::Display for StreamReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ResetKind::PeerNotHttp2 { why } = &self.kind {
            return f.write_str(why);
        }
        let by = match self.initiator {
            Initiator::Peer => "by peer",
            Initiator::Us => "by us",
        };
        write!(f, "stream reset {by}: {}", self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_code() {
        let kind = |code| StreamReset::new(code, Initiator::Peer, None).kind;
        assert!(matches!(
            kind(ErrorCode::REFUSED_STREAM),
            ResetKind::Refused { request: None }
        ));
        assert!(matches!(kind(ErrorCode::CANCEL), ResetKind::Cancelled));
        assert!(matches!(
            kind(ErrorCode::ENHANCE_YOUR_CALM),
            ResetKind::EnhanceYourCalm
        ));
        assert!(matches!(
            kind(ErrorCode::INADEQUATE_SECURITY),
            ResetKind::InadequateSecurity
        ));
        for code in [
            ErrorCode::NO_ERROR,
            ErrorCode::PROTOCOL_ERROR,
            ErrorCode::INTERNAL_ERROR,
            ErrorCode::FLOW_CONTROL_ERROR,
            ErrorCode::STREAM_CLOSED,
            ErrorCode(0x99),
        ] {
            assert!(matches!(kind(code), ResetKind::Error), "{code}");
        }
    }

    #[test]
    fn a_refused_stream_gives_its_request_back_once() {
        let request = vec![b"head".to_vec(), b"body".to_vec()];
        let mut reset = StreamReset::new(
            ErrorCode::REFUSED_STREAM,
            Initiator::Peer,
            Some(request.clone()),
        );
        assert!(reset.is_retryable());
        assert_eq!(reset.take_request(), Some(request));
        assert!(!reset.is_retryable());
        assert_eq!(reset.take_request(), None);
        let cancelled = StreamReset::new(ErrorCode::CANCEL, Initiator::Peer, None);
        assert!(!cancelled.is_retryable());
        assert_eq!(cancelled.to_string(), "stream reset by peer: CANCEL");
    }
}
