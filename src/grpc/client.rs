//! The gRPC client: one HTTP/2 connection shared by every call (thread
//! safe, calls multiplexed), reconnecting when the peer closed it or sent
//! GOAWAY; deadlines (`grpc-timeout` plus a local timer), cancellation and
//! message limits both ways.

use std::sync::Mutex;
use std::time::Duration;

use super::message;
use super::percent;
use super::status::{Code, Status};
use super::timeout;
use crate::call::CallContext;
use crate::h2::conn::{Field, HeaderList, SendError};
use crate::h2::frame::ErrorCode;
use crate::h2::io::{ClientConnection, ClientStream, ConnectError, RecvError, StreamEvent};
use crate::h2::limits::Limits;

/// Our `user-agent`.
const USER_AGENT: &str = concat!("fn-runner/", env!("CARGO_PKG_VERSION"));

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest message sent or received (compat §1 `--max-request-body-size`).
    pub max_message_bytes: usize,
    /// Bound on establishing the TCP connection.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_message_bytes: crate::flags::DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A gRPC client for one address. Cheap to share (`Arc`) across threads.
pub struct Client {
    addr: String,
    config: ClientConfig,
    conn: Mutex<Option<ClientConnection>>,
}

impl Client {
    /// Connects to `addr` (HOST:PORT). Fails UNAVAILABLE when the connection
    /// cannot be made within the connect timeout.
    pub fn connect(addr: &str, config: ClientConfig) -> Result<Client, Status> {
        let client = Client {
            addr: addr.to_owned(),
            config,
            conn: Mutex::new(None),
        };
        client.connection()?;
        Ok(client)
    }

    /// The address this client calls.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one unary call to `path` (`/package.Service/Method`) with the
    /// request message bytes; returns the response message bytes.
    pub fn call(&self, path: &str, request: &[u8], ctx: &CallContext) -> Result<Vec<u8>, Status> {
        if request.len() > self.config.max_message_bytes {
            return Err(message::too_large(
                "sent",
                request.len(),
                self.config.max_message_bytes,
            ));
        }
        if let Some(interrupt) = ctx.interrupted() {
            return Err(interrupted(interrupt));
        }
        let grpc_timeout = ctx.remaining().map(timeout::encode);
        let fields = self.request_fields(path, grpc_timeout.as_deref());
        let body = message::encode(request);
        // A stream the server refused (REFUSED_STREAM, or above a GOAWAY's
        // last stream id) was never processed: RFC 9113 §8.7 lets us retry
        // it, once, on a fresh connection when the old one is going away.
        let mut retried = false;
        loop {
            let mut stream = self.start(&fields, &body, ctx)?;
            let mut reader = ResponseReader::new(self.config.max_message_bytes);
            let result = self.read_response(&mut stream, &mut reader, ctx);
            match result {
                Err(_) if reader.refused && !retried => retried = true,
                Err(e) => {
                    stream.cancel();
                    return Err(e);
                }
                Ok(msg) => return Ok(msg),
            }
        }
    }

    /// Sends a server-streaming call and hands each response message to
    /// `on_message` until the stream ends or `on_message` returns false.
    pub fn call_streaming(
        &self,
        path: &str,
        request: &[u8],
        ctx: &CallContext,
        mut on_message: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), Status> {
        let grpc_timeout = ctx.remaining().map(timeout::encode);
        let fields = self.request_fields(path, grpc_timeout.as_deref());
        let mut stream = self.start(&fields, &message::encode(request), ctx)?;
        let mut reader = ResponseReader::new(self.config.max_message_bytes);
        loop {
            let event = next_event(&mut stream, ctx)?;
            if let Some(done) = reader.push(event)? {
                done?;
                return Ok(());
            }
            while let Some(msg) = reader.next_message()? {
                if !on_message(&msg) {
                    stream.cancel();
                    return Ok(());
                }
            }
        }
    }

    fn read_response(
        &self,
        stream: &mut ClientStream,
        reader: &mut ResponseReader,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, Status> {
        loop {
            let event = next_event(stream, ctx)?;
            if let Some(done) = reader.push(event)? {
                done?;
                let body = std::mem::take(&mut reader.body);
                return message::decode_unary(&body, self.config.max_message_bytes)
                    .map(<[u8]>::to_vec)
                    .map_err(|s| Status::new(s.code, format!("response: {}", s.message)));
            }
        }
    }

    fn request_fields<'a>(
        &'a self,
        path: &'a str,
        grpc_timeout: Option<&'a str>,
    ) -> Vec<Field<'a>> {
        let mut fields: Vec<Field<'a>> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", self.addr.as_bytes()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", USER_AGENT.as_bytes()),
        ];
        if let Some(t) = grpc_timeout {
            fields.push((b"grpc-timeout", t.as_bytes()));
        }
        fields
    }

    /// Opens a stream, reconnecting once when the connection is gone.
    fn start(
        &self,
        fields: &[Field<'_>],
        body: &[u8],
        ctx: &CallContext,
    ) -> Result<ClientStream, Status> {
        let conn = self.connection()?;
        match conn.start(fields, body.to_vec(), ctx) {
            Ok(s) => Ok(s),
            Err(SendError::GoingAway | SendError::StreamIdsExhausted) => {
                self.drop_connection(&conn);
                let conn = self.connection()?;
                conn.start(fields, body.to_vec(), ctx).map_err(send_error)
            }
            Err(e) => Err(send_error(e)),
        }
    }

    fn connection(&self) -> Result<ClientConnection, Status> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = slot.as_ref() {
            if conn.is_usable() {
                return Ok(conn.clone());
            }
        }
        if let Some(old) = slot.take() {
            old.close_when_idle();
        }
        let limits = Limits {
            // A response may carry a whole message in its window.
            ..Limits::default()
        };
        let conn = ClientConnection::connect(&self.addr, self.config.connect_timeout, limits)
            .map_err(connect_error)?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    fn drop_connection(&self, conn: &ClientConnection) {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|c| c.same_as(conn)) {
            if let Some(old) = slot.take() {
                old.close_when_idle();
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let slot = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = slot.take() {
            conn.close();
        }
    }
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

/// Collects a response: headers, DATA (bounded), trailers.
struct ResponseReader {
    max_message_bytes: usize,
    /// The server refused the stream: it was not processed.
    refused: bool,
    headers_seen: bool,
    body: Vec<u8>,
}

impl ResponseReader {
    fn new(max_message_bytes: usize) -> ResponseReader {
        ResponseReader {
            max_message_bytes,
            refused: false,
            headers_seen: false,
            body: Vec::new(),
        }
    }

    /// Takes one event; `Some(result)` when the call is over.
    fn push(&mut self, event: StreamEvent) -> Result<Option<Result<(), Status>>, Status> {
        match event {
            StreamEvent::Headers { fields, end_stream } => {
                if !self.headers_seen {
                    self.headers_seen = true;
                    check_response_headers(&fields)?;
                    if !end_stream {
                        return Ok(None);
                    }
                }
                // Trailers (or trailers-only).
                Ok(Some(status_from_trailers(&fields)))
            }
            StreamEvent::Data { data, end_stream } => {
                let limit = self.max_message_bytes.saturating_add(message::PREFIX_LEN);
                if self.body.len().saturating_add(data.len()) > limit {
                    return Err(message::too_large(
                        "received",
                        self.body.len() + data.len(),
                        self.max_message_bytes,
                    ));
                }
                if self.body.is_empty() {
                    self.body = data;
                } else {
                    self.body.extend_from_slice(&data);
                }
                if end_stream {
                    return Err(Status::new(
                        Code::INTERNAL,
                        "server closed the stream without sending trailers",
                    ));
                }
                Ok(None)
            }
            StreamEvent::Reset { code, .. } => {
                self.refused = code == ErrorCode::REFUSED_STREAM;
                Err(reset_status(code))
            }
            StreamEvent::ConnectionLost => Err(Status::new(Code::UNAVAILABLE, "connection closed")),
        }
    }

    /// The next whole message of a streaming response.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, Status> {
        match message::decode(&self.body, self.max_message_bytes)? {
            message::Decoded::Message { message, rest } => {
                let msg = message.to_vec();
                self.body = rest.to_vec();
                Ok(Some(msg))
            }
            message::Decoded::Incomplete => Ok(None),
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

/// grpc/doc/PROTOCOL-HTTP2.md "Errors": RST_STREAM codes to gRPC codes.
fn reset_status(code: ErrorCode) -> Status {
    let grpc = match code {
        ErrorCode::REFUSED_STREAM => Code::UNAVAILABLE,
        ErrorCode::CANCEL => Code::CANCELLED,
        ErrorCode::ENHANCE_YOUR_CALM => Code::RESOURCE_EXHAUSTED,
        ErrorCode::INADEQUATE_SECURITY => Code::PERMISSION_DENIED,
        _ => Code::INTERNAL,
    };
    Status::new(grpc, format!("stream reset by peer: {code}"))
}

fn interrupted(interrupt: crate::call::Interrupt) -> Status {
    match interrupt {
        crate::call::Interrupt::DeadlineExceeded => {
            Status::new(Code::DEADLINE_EXCEEDED, "context deadline exceeded")
        }
        crate::call::Interrupt::Cancelled => Status::new(Code::CANCELLED, "context canceled"),
    }
}

fn send_error(e: SendError) -> Status {
    match e {
        SendError::StreamLimit { .. } => Status::new(Code::RESOURCE_EXHAUSTED, e.to_string()),
        _ => Status::new(Code::UNAVAILABLE, e.to_string()),
    }
}

fn connect_error(e: ConnectError) -> Status {
    let cause = std::error::Error::source(&e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Status::new(Code::UNAVAILABLE, format!("{e}{cause}"))
}
