//! Reading a response from a client stream: the response headers, the
//! body (one message for unary calls, a sequence for streaming ones) and
//! the trailers' status (grpc/doc/PROTOCOL-HTTP2.md "Responses").

use crate::call::{CallContext, Interrupt};
use crate::grpc::message::{self, OwnedMessage};
use crate::grpc::percent;
use crate::grpc::status::{Code, Status};
use crate::h2::conn::HeaderList;
use crate::h2::io::{ClientStream, RecvError, ResetKind, StreamEvent, StreamReset};

/// Why a call got no response.
pub(super) enum Failure {
    /// The server refused the stream before processing it: the request
    /// (framed, in parts) may be sent again.
    Refused(Vec<Vec<u8>>),
    /// The call failed with this status.
    Status(Status),
}

impl From<Status> for Failure {
    fn from(status: Status) -> Failure {
        Failure::Status(status)
    }
}

/// Reads a unary response: its one message, in the buffer it arrived in.
pub(super) fn read_unary(
    stream: &mut ClientStream,
    ctx: &CallContext,
    max_message_bytes: usize,
) -> Result<OwnedMessage, Failure> {
    let mut headers_seen = false;
    loop {
        match next_event(stream, ctx)? {
            StreamEvent::Headers(fields) => {
                headers_seen = true;
                check_response_headers(&fields)?;
            }
            // Not sent for a whole-body stream.
            StreamEvent::Data => {}
            StreamEvent::End { trailers, body } => {
                finish(headers_seen, trailers.as_ref())?;
                message::decode_unary(&body, max_message_bytes)
                    .map_err(|s| Status::new(s.code, format!("response: {}", s.message)))?;
                return Ok(OwnedMessage::new(body));
            }
            other => return Err(failure(other, max_message_bytes)),
        }
    }
}

/// Reads a streaming response, handing each message to `on_message` until
/// the stream ends or `on_message` returns false (then the stream is
/// cancelled).
pub(super) fn read_streaming(
    stream: &mut ClientStream,
    ctx: &CallContext,
    max_message_bytes: usize,
    on_message: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), Status> {
    let mut headers_seen = false;
    let mut buf = Vec::new();
    loop {
        let (more, end) = match next_event(stream, ctx)? {
            StreamEvent::Headers(fields) => {
                headers_seen = true;
                check_response_headers(&fields)?;
                continue;
            }
            StreamEvent::Data => (stream.take_data(), None),
            StreamEvent::End { trailers, body } => (body, Some(trailers)),
            other => {
                return Err(match failure(other, max_message_bytes) {
                    Failure::Status(s) => s,
                    Failure::Refused(_) => Status::new(Code::UNAVAILABLE, "stream refused"),
                })
            }
        };
        if buf.is_empty() {
            buf = more;
        } else {
            buf.extend_from_slice(&more);
        }
        let mut used = 0;
        while let message::Decoded::Message { message, .. } =
            message::decode(buf.get(used..).unwrap_or_default(), max_message_bytes)?
        {
            used += message::PREFIX_LEN + message.len();
            if !on_message(message) {
                stream.cancel();
                return Ok(());
            }
        }
        buf.drain(..used.min(buf.len()));
        if let Some(trailers) = end {
            return finish(headers_seen, trailers.as_ref());
        }
    }
}

/// The status a call ends with, from its trailers: a trailers-only
/// response is checked as response headers too.
fn finish(headers_seen: bool, trailers: Option<&HeaderList>) -> Result<(), Status> {
    let Some(trailers) = trailers else {
        return Err(Status::new(
            Code::INTERNAL,
            "server closed the stream without sending trailers",
        ));
    };
    if !headers_seen {
        check_response_headers(trailers)?;
    }
    status_from_trailers(trailers)
}

/// Waits for the next stream event; the call's deadline or cancel token
/// ends the wait.
fn next_event(stream: &mut ClientStream, ctx: &CallContext) -> Result<StreamEvent, Status> {
    match stream.recv(ctx) {
        Ok(event) => Ok(event),
        Err(RecvError::Interrupted(interrupt)) => Err(interrupted(interrupt)),
        Err(RecvError::Finished) => Err(Status::new(Code::INTERNAL, "stream ended without status")),
    }
}

/// What an event that ends a call without a response means.
fn failure(event: StreamEvent, max_message_bytes: usize) -> Failure {
    match event {
        StreamEvent::Reset(mut reset) => match reset.take_request() {
            Some(request) => Failure::Refused(request),
            None => Failure::Status(reset_status(&reset)),
        },
        StreamEvent::BodyTooLarge { len_bytes, .. } => Failure::Status(message::too_large(
            "received",
            len_bytes.saturating_sub(message::PREFIX_LEN),
            max_message_bytes,
        )),
        StreamEvent::ConnectionLost => {
            Failure::Status(Status::new(Code::UNAVAILABLE, "connection closed"))
        }
        StreamEvent::Headers(_) | StreamEvent::Data | StreamEvent::End { .. } => {
            Failure::Status(Status::new(Code::INTERNAL, "unexpected stream event"))
        }
    }
}

fn check_response_headers(fields: &HeaderList) -> Result<(), Status> {
    let mut status = None;
    let mut content_type = None;
    for (name, value) in fields.iter() {
        match name {
            b":status" => status = Some(value),
            b"content-type" => content_type = Some(value),
            // Other response metadata is the application's, not ours.
            _ => {}
        }
    }
    if status != Some(b"200") {
        let http = String::from_utf8_lossy(status.unwrap_or(b"?")).into_owned();
        // grpc/doc/http-grpc-status-mapping.md
        let code = match http.as_str() {
            "400" => Code::INTERNAL,
            "401" => Code::UNAUTHENTICATED,
            "403" => Code::PERMISSION_DENIED,
            "404" => Code::UNIMPLEMENTED,
            "429" | "502" | "503" | "504" => Code::UNAVAILABLE,
            _ => Code::UNKNOWN,
        };
        return Err(Status::new(
            code,
            format!("unexpected HTTP status code {http}"),
        ));
    }
    if !content_type.is_some_and(|ct| ct.starts_with(b"application/grpc")) {
        return Err(Status::new(
            Code::UNKNOWN,
            "response content-type is not application/grpc",
        ));
    }
    Ok(())
}

fn status_from_trailers(fields: &HeaderList) -> Result<(), Status> {
    let mut code = None;
    let mut message = String::new();
    for (name, value) in fields.iter() {
        match name {
            b"grpc-status" => code = Code::parse(value),
            b"grpc-message" => message = percent::decode(value),
            // Other trailers (grpc-status-details-bin, custom) are ignored.
            _ => {}
        }
    }
    match code {
        Some(Code::OK) => Ok(()),
        Some(code) => Err(Status::new(code, message)),
        None => Err(Status::new(
            Code::INTERNAL,
            "missing grpc-status in trailers",
        )),
    }
}

/// grpc/doc/PROTOCOL-HTTP2.md "Errors": what each kind of stream reset
/// becomes (REFUSED_STREAM UNAVAILABLE, CANCEL CANCELLED, ENHANCE_YOUR_CALM
/// RESOURCE_EXHAUSTED, INADEQUATE_SECURITY PERMISSION_DENIED, the rest
/// INTERNAL). A peer that does not speak HTTP/2 is a connection failure:
/// UNAVAILABLE, as grpc-go says for a bad server preface.
fn reset_status(reset: &StreamReset) -> Status {
    let code = match reset.kind {
        ResetKind::Refused { .. } | ResetKind::PeerNotHttp2 { .. } => Code::UNAVAILABLE,
        ResetKind::Cancelled => Code::CANCELLED,
        ResetKind::EnhanceYourCalm => Code::RESOURCE_EXHAUSTED,
        ResetKind::InadequateSecurity => Code::PERMISSION_DENIED,
        ResetKind::Error => Code::INTERNAL,
    };
    Status::new(code, reset.to_string())
}

/// The status of a call its caller cancelled or let expire.
pub(super) fn interrupted(interrupt: Interrupt) -> Status {
    match interrupt {
        Interrupt::DeadlineExceeded => {
            Status::new(Code::DEADLINE_EXCEEDED, "context deadline exceeded")
        }
        Interrupt::Cancelled => Status::new(Code::CANCELLED, "context canceled"),
    }
}
