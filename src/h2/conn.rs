//! The HTTP/2 connection state machine (RFC 9113 §3.4 preface, §6.5
//! SETTINGS, §6.7 PING, §6.8 GOAWAY, §5 streams), shared by client and
//! server. It does no I/O: [`Connection::recv`] takes bytes from the peer,
//! the `send_*` methods take the application's intent, and both leave bytes
//! to write in [`Connection::take_output`] and events in
//! [`Connection::take_events`].
//!
//! ```text
//!  server: AwaitingPreface --24 bytes--> AwaitingSettings
//!  client:                  (preface sent) AwaitingSettings
//!  AwaitingSettings --SETTINGS--> Open --error: GOAWAY sent--> Closed
//!                                   \--GOAWAY sent or received: no new streams
//! ```
//!
//! Stream errors reset one stream (RST_STREAM); connection errors queue a
//! GOAWAY and make `recv` return [`Error`]; the caller then flushes the
//! output and closes the socket.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use super::flow::{RecvWindow, Window};
use super::frame::{
    self, encode_data, encode_header_block, Continuation, Data, ErrorCode, Frame, GoAway, Headers,
    Ping, RstStream, SettingId, Settings, StreamId, WindowUpdate, MIN_MAX_FRAME_SIZE,
};
use super::hpack;
use super::limits::{Budget, Flood, Limits};
use super::stream::{self, State};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// RFC 9113 §6.9.2: the initial window before SETTINGS say otherwise.
const DEFAULT_WINDOW: u32 = 65_535;

/// One header field: name and value bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Who decided a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We reset the stream (a stream error, or a local cancel).
    Us,
    /// The peer sent RST_STREAM (or GOAWAY refused the stream).
    Peer,
}

/// What the peer did, for the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete header block: request headers (server), response headers
    /// or trailers (client).
    Headers {
        stream_id: StreamId,
        fields: Vec<Field>,
        end_stream: bool,
    },
    /// Body bytes (possibly empty when only END_STREAM is signalled).
    Data {
        stream_id: StreamId,
        data: Vec<u8>,
        end_stream: bool,
    },
    /// The stream was reset and is gone.
    Reset {
        stream_id: StreamId,
        code: ErrorCode,
        initiator: Initiator,
    },
    /// The peer will accept no stream above `last_stream_id`.
    GoAway {
        last_stream_id: StreamId,
        code: ErrorCode,
        debug_data: Vec<u8>,
    },
    /// The peer acknowledged one of our PINGs.
    PingAck { payload: [u8; 8] },
}

/// A connection error: a GOAWAY with `code` has been queued for the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub reason: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/2 connection error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Error {}

/// Why the application could not send on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The stream was reset or finished.
    StreamClosed { stream_id: StreamId },
    /// The connection is closed or closing (GOAWAY).
    GoingAway,
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
    StreamLimit { max: u32 },
    /// No stream ids left on this connection (2^31).
    StreamIdsExhausted,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::StreamClosed { stream_id } => write!(f, "stream {stream_id} is closed"),
            SendError::GoingAway => f.write_str("connection is going away"),
            SendError::StreamLimit { max } => {
                write!(f, "peer allows at most {max} concurrent streams")
            }
            SendError::StreamIdsExhausted => f.write_str("stream ids exhausted on this connection"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingPreface,
    AwaitingSettings,
    Open,
    Closed,
}

/// What a stream still has to send once windows allow.
#[derive(Debug)]
enum Pending {
    Data {
        bytes: Vec<u8>,
        offset: usize,
        end_stream: bool,
    },
    Trailers {
        fields: Vec<Field>,
    },
}

#[derive(Debug)]
struct Stream {
    state: State,
    /// May go negative after the peer shrinks SETTINGS_INITIAL_WINDOW_SIZE.
    send_window: Window,
    recv_window: RecvWindow,
    pending: VecDeque<Pending>,
    /// END_STREAM has been queued by the application (sent or pending).
    end_queued: bool,
}

/// A header block split over HEADERS + CONTINUATION frames (RFC 9113 §4.3).
#[derive(Debug)]
struct PartialBlock {
    stream_id: StreamId,
    end_stream: bool,
    block: Vec<u8>,
    continuations: usize,
}

/// One HTTP/2 connection's state, either role.
pub struct Connection {
    role: Role,
    phase: Phase,
    limits: Limits,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// Received bytes not yet forming a whole frame (at most one frame).
    buf: Vec<u8>,
    out: Vec<u8>,
    events: Vec<Event>,
    streams: HashMap<StreamId, Stream>,
    /// Streams with pending output, in round-robin order.
    ready: VecDeque<StreamId>,
    send_window: Window,
    recv_window: RecvWindow,
    peer_initial_window: u32,
    peer_max_frame_bytes: u32,
    peer_max_concurrent: u32,
    partial: Option<PartialBlock>,
    /// Highest stream id the peer has opened (server) or we have accepted.
    last_peer_stream: StreamId,
    /// Next id we open (client: odd from 1).
    next_local_stream: Option<StreamId>,
    goaway_sent: bool,
    goaway_received: Option<StreamId>,
    reset_budget: Budget,
    settings_budget: Budget,
    ping_budget: Budget,
    empty_budget: Budget,
}

impl Connection {
    /// A new connection. Our preface (client) and SETTINGS plus the
    /// connection WINDOW_UPDATE are queued at once.
    pub fn new(role: Role, limits: Limits) -> Connection {
        let mut conn = Connection {
            role,
            phase: match role {
                Role::Server => Phase::AwaitingPreface,
                Role::Client => Phase::AwaitingSettings,
            },
            decoder: hpack::Decoder::new(limits.header_table_bytes),
            encoder: hpack::Encoder::new(),
            buf: Vec::new(),
            out: Vec::with_capacity(64 * 1024),
            events: Vec::new(),
            streams: HashMap::new(),
            ready: VecDeque::new(),
            send_window: Window::new(DEFAULT_WINDOW),
            recv_window: RecvWindow::new(DEFAULT_WINDOW, limits.connection_window_bytes),
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame_bytes: MIN_MAX_FRAME_SIZE,
            peer_max_concurrent: u32::MAX,
            partial: None,
            last_peer_stream: StreamId::ZERO,
            next_local_stream: match role {
                Role::Client => Some(StreamId::new(1)),
                Role::Server => None,
            },
            goaway_sent: false,
            goaway_received: None,
            reset_budget: Budget::new(limits.reset_budget),
            settings_budget: Budget::new(limits.settings_budget),
            ping_budget: Budget::new(limits.ping_budget),
            empty_budget: Budget::new(limits.empty_frame_budget),
            limits,
        };
        // Until the peer's SETTINGS arrive, encode without a dynamic table
        // larger than the RFC 7541 default.
        conn.encoder
            .set_max_table_size(conn.limits.encoder_table_bytes.min(4096));
        if role == Role::Client {
            conn.out.extend_from_slice(PREFACE);
        }
        Settings {
            ack: false,
            params: vec![
                (
                    SettingId::HEADER_TABLE_SIZE,
                    clamp_u32(conn.limits.header_table_bytes),
                ),
                (SettingId::ENABLE_PUSH, 0),
                (
                    SettingId::MAX_CONCURRENT_STREAMS,
                    conn.limits.max_concurrent_streams,
                ),
                (
                    SettingId::INITIAL_WINDOW_SIZE,
                    conn.limits.initial_window_bytes,
                ),
                (SettingId::MAX_FRAME_SIZE, conn.limits.max_frame_bytes),
                (
                    SettingId::MAX_HEADER_LIST_SIZE,
                    clamp_u32(conn.limits.max_header_list_bytes),
                ),
            ],
        }
        .encode(&mut conn.out);
        if let Some(inc) = conn.recv_window.take_update() {
            WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: inc,
            }
            .encode(&mut conn.out);
        }
        conn
    }

    /// Feeds bytes read from the peer. On a connection error a GOAWAY is
    /// queued, the connection is closed and the error returned.
    pub fn recv(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            return Err(Error {
                code: ErrorCode::NO_ERROR,
                reason: "connection already closed".to_owned(),
            });
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = if buf.is_empty() {
            let r = self.recv_frames(bytes);
            if let Ok(used) = r {
                buf.extend_from_slice(bytes.get(used..).unwrap_or_default());
            }
            r
        } else {
            buf.extend_from_slice(bytes);
            let r = self.recv_frames(&buf);
            if let Ok(used) = r {
                buf.drain(..used.min(buf.len()));
            }
            r
        };
        self.buf = buf;
        match result {
            Ok(_) => {
                self.flush_pending();
                Ok(())
            }
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// Bytes to write to the peer, in order. Empty when there is nothing.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether there are bytes to write.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Appends the bytes to write to `dst` (keeps our buffer's capacity).
    pub fn drain_output_into(&mut self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.out);
        self.out.clear();
    }

    /// What happened since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether the connection is closed (error or both sides done).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Number of streams not yet finished.
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether a GOAWAY was sent or received (no new streams).
    pub fn is_going_away(&self) -> bool {
        self.goaway_sent || self.goaway_received.is_some() || self.phase == Phase::Closed
    }

    /// Opens a stream with a request header block (client role).
    pub fn open_stream(
        &mut self,
        fields: &[Field],
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        if self.is_going_away() {
            return Err(SendError::GoingAway);
        }
        let active = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
        if active >= self.peer_max_concurrent {
            return Err(SendError::StreamLimit {
                max: self.peer_max_concurrent,
            });
        }
        let Some(id) = self.next_local_stream else {
            return Err(SendError::StreamIdsExhausted);
        };
        self.next_local_stream = id.next();
        let stream = Stream {
            state: State::Idle,
            send_window: Window::new(self.peer_initial_window),
            recv_window: RecvWindow::new(
                self.limits.initial_window_bytes,
                self.limits.initial_window_bytes,
            ),
            pending: VecDeque::new(),
            end_queued: false,
        };
        self.streams.insert(id, stream);
        self.send_headers(id, fields, end_stream)?;
        Ok(id)
    }

    /// Sends a header block (response headers, or trailers with
    /// `end_stream`). Trailers wait behind pending data.
    pub fn send_headers(
        &mut self,
        stream_id: StreamId,
        fields: &[Field],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let stream = self.sendable(stream_id)?;
        if end_stream {
            stream.end_queued = true;
        }
        if !stream.pending.is_empty() {
            stream.pending.push_back(Pending::Trailers {
                fields: fields.to_vec(),
            });
            return Ok(());
        }
        self.write_headers(stream_id, fields, end_stream);
        Ok(())
    }

    /// Queues body bytes; they go out as the peer's windows allow.
    pub fn send_data(
        &mut self,
        stream_id: StreamId,
        data: Vec<u8>,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let stream = self.sendable(stream_id)?;
        if end_stream {
            stream.end_queued = true;
        }
        let was_idle = stream.pending.is_empty();
        stream.pending.push_back(Pending::Data {
            bytes: data,
            offset: 0,
            end_stream,
        });
        if was_idle {
            self.ready.push_back(stream_id);
        }
        self.flush_pending();
        Ok(())
    }

    /// Resets a stream (a local cancel or a stream-level refusal).
    pub fn send_reset(&mut self, stream_id: StreamId, code: ErrorCode) {
        if self.streams.remove(&stream_id).is_some() {
            RstStream { stream_id, code }.encode(&mut self.out);
        }
    }

    /// Starts a graceful shutdown: GOAWAY naming the last stream we accept.
    pub fn go_away(&mut self, code: ErrorCode, debug_data: &[u8]) {
        if self.goaway_sent || self.phase == Phase::Closed {
            return;
        }
        self.goaway_sent = true;
        GoAway {
            last_stream_id: self.last_peer_stream,
            code,
            debug_data,
        }
        .encode(&mut self.out);
    }

    /// Sends a PING; the answer comes back as [`Event::PingAck`].
    pub fn ping(&mut self, payload: [u8; 8]) {
        Ping {
            ack: false,
            payload,
        }
        .encode(&mut self.out);
    }

    /// Bytes of output still waiting for flow-control windows.
    pub fn pending_send_bytes(&self) -> usize {
        self.streams
            .values()
            .flat_map(|s| s.pending.iter())
            .map(|p| match p {
                Pending::Data { bytes, offset, .. } => bytes.len().saturating_sub(*offset),
                Pending::Trailers { .. } => 0,
            })
            .sum()
    }

    fn sendable(&mut self, stream_id: StreamId) -> Result<&mut Stream, SendError> {
        if self.phase == Phase::Closed {
            return Err(SendError::GoingAway);
        }
        match self.streams.get_mut(&stream_id) {
            Some(s) if !s.end_queued => Ok(s),
            _ => Err(SendError::StreamClosed { stream_id }),
        }
    }

    fn write_headers(&mut self, stream_id: StreamId, fields: &[Field], end_stream: bool) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        match stream
            .state
            .transition(stream::Event::SendHeaders { end_stream })
        {
            Ok(next) => stream.state = next,
            Err(e) => {
                self.reset_stream(stream_id, e.code);
                return;
            }
        }
        let mut block = Vec::new();
        self.encoder.encode(
            fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
            &mut block,
        );
        let max = usize::try_from(self.peer_max_frame_bytes).unwrap_or(16_384);
        encode_header_block(stream_id, &block, end_stream, max, &mut self.out);
        self.after_send(stream_id);
    }

    /// After we sent END_STREAM: a server whose peer is still sending resets
    /// the stream with NO_ERROR (RFC 9113 §8.1); a closed stream is dropped.
    fn after_send(&mut self, stream_id: StreamId) {
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        match stream.state {
            State::Closed if stream.pending.is_empty() => {
                self.streams.remove(&stream_id);
                self.stream_completed();
            }
            State::HalfClosedLocal if self.role == Role::Server && stream.pending.is_empty() => {
                self.streams.remove(&stream_id);
                RstStream {
                    stream_id,
                    code: ErrorCode::NO_ERROR,
                }
                .encode(&mut self.out);
            }
            _ => {}
        }
    }

    /// Useful work refills the flood budgets.
    fn stream_completed(&mut self) {
        self.reset_budget.refund(1);
        self.ping_budget.refund(2);
        self.empty_budget.refund(4);
    }

    /// Writes pending data as the windows allow, round-robin over streams,
    /// one frame per stream per turn.
    fn flush_pending(&mut self) {
        let max_frame = usize::try_from(self.peer_max_frame_bytes).unwrap_or(16_384);
        let mut turns_without_progress = 0;
        while let Some(id) = self.ready.pop_front() {
            if turns_without_progress > self.ready.len() {
                self.ready.push_front(id);
                break;
            }
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            let mut progressed = false;
            match stream.pending.front_mut() {
                None => continue,
                Some(Pending::Data {
                    bytes,
                    offset,
                    end_stream,
                }) => {
                    let left = bytes.len().saturating_sub(*offset);
                    let n = left
                        .min(max_frame)
                        .min(self.send_window.available())
                        .min(stream.send_window.available());
                    let last = n == left;
                    if n > 0 || (left == 0) {
                        let end = last && *end_stream;
                        let chunk = bytes.get(*offset..*offset + n).unwrap_or_default();
                        encode_data(id, chunk, end, &mut self.out);
                        self.send_window.spend(n);
                        stream.send_window.spend(n);
                        *offset += n;
                        progressed = true;
                        if last {
                            stream.pending.pop_front();
                        }
                        if end || last {
                            match stream
                                .state
                                .transition(stream::Event::SendData { end_stream: end })
                            {
                                Ok(next) => stream.state = next,
                                Err(e) => {
                                    let code = e.code;
                                    self.reset_stream(id, code);
                                    continue;
                                }
                            }
                        }
                    }
                }
                Some(Pending::Trailers { .. }) => {
                    if let Some(Pending::Trailers { fields }) = stream.pending.pop_front() {
                        let still_pending = !stream.pending.is_empty();
                        self.write_headers(id, &fields, true);
                        if still_pending {
                            self.ready.push_back(id);
                        }
                        turns_without_progress = 0;
                        continue;
                    }
                }
            }
            let has_more = self.streams.get(&id).is_some_and(|s| !s.pending.is_empty());
            if has_more {
                self.ready.push_back(id);
            } else {
                self.after_send(id);
            }
            turns_without_progress = if progressed {
                0
            } else {
                turns_without_progress + 1
            };
        }
    }

    fn recv_frames(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let mut used = 0;
        if self.phase == Phase::AwaitingPreface {
            let n = input.len().min(PREFACE.len());
            // RFC 9113 §3.4: a wrong preface is a connection PROTOCOL_ERROR;
            // fail at the first wrong byte (an HTTP/1.1 request, a TLS hello).
            if input.get(..n) != PREFACE.get(..n) {
                return Err(conn_error(
                    ErrorCode::PROTOCOL_ERROR,
                    "invalid connection preface",
                ));
            }
            if n < PREFACE.len() {
                return Ok(0);
            }
            self.phase = Phase::AwaitingSettings;
            used += n;
            input = input.get(n..).unwrap_or_default();
        }
        loop {
            let decoded = match frame::decode(input, self.limits.max_frame_bytes) {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(used),
                Err(e) => match e.stream() {
                    Some(stream_id) => {
                        // Stream errors: skip the frame, reset the stream.
                        let len = frame_len(input);
                        self.reset_stream(stream_id, e.code());
                        used += len;
                        input = input.get(len..).unwrap_or_default();
                        continue;
                    }
                    None => return Err(conn_error(e.code(), &e.to_string())),
                },
            };
            let (frame, n) = decoded;
            self.handle(frame)?;
            used += n;
            input = input.get(n..).unwrap_or_default();
            if self.phase == Phase::Closed {
                return Ok(used);
            }
        }
    }

    /// Every received frame goes through this one match (style.md §5).
    fn handle(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        // RFC 9113 §6.10: inside a header block only CONTINUATION frames of
        // the same stream may arrive; anything else is a PROTOCOL_ERROR.
        if let Some(partial) = &self.partial {
            return match frame {
                Frame::Continuation(c) if c.stream_id == partial.stream_id => {
                    self.on_continuation(c)
                }
                _ => Err(conn_error(
                    ErrorCode::PROTOCOL_ERROR,
                    "expected CONTINUATION",
                )),
            };
        }
        match (self.phase, frame) {
            (Phase::AwaitingSettings, Frame::Settings(s)) if !s.ack => {
                self.phase = Phase::Open;
                self.on_settings(s)
            }
            // RFC 9113 §3.4: the first frame of each side is SETTINGS.
            (Phase::AwaitingSettings, _) => Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "first frame is not SETTINGS",
            )),
            (Phase::Open, Frame::Settings(s)) => self.on_settings(s),
            (Phase::Open, Frame::Headers(h)) => self.on_headers(h),
            (Phase::Open, Frame::Continuation(_)) => Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            )),
            (Phase::Open, Frame::Data(d)) => self.on_data(d),
            (Phase::Open, Frame::WindowUpdate(w)) => self.on_window_update(w),
            (Phase::Open, Frame::RstStream(r)) => self.on_rst_stream(r),
            (Phase::Open, Frame::Ping(p)) => self.on_ping(p),
            (Phase::Open, Frame::GoAway(g)) => {
                self.on_goaway(g);
                Ok(())
            }
            // RFC 9113 §5.3.2: priority signals are ignored, but they are cheap
            // to send, so they spend the empty-frame budget.
            (Phase::Open, Frame::Priority(_)) => self.spend_empty(),
            // RFC 9113 §8.4: we send SETTINGS_ENABLE_PUSH=0 as a client, and a
            // client must never push: PUSH_PROMISE is a PROTOCOL_ERROR.
            (Phase::Open, Frame::PushPromise(_)) => Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "PUSH_PROMISE not enabled",
            )),
            // RFC 9113 §5.5: unknown frame types are ignored (they spend the
            // empty-frame budget like any frame that does no work).
            (Phase::Open, Frame::Unknown { .. }) => self.spend_empty(),
            (Phase::AwaitingPreface | Phase::Closed, _) => Ok(()),
        }
    }

    fn spend_empty(&mut self) -> Result<(), Error> {
        self.empty_budget.spend().map_err(flood)
    }

    fn on_settings(&mut self, s: Settings) -> Result<(), Error> {
        if s.ack {
            return Ok(());
        }
        self.settings_budget.spend().map_err(flood)?;
        for (id, value) in s.params {
            match id {
                SettingId::HEADER_TABLE_SIZE => {
                    let size = usize::try_from(value).unwrap_or(usize::MAX);
                    self.encoder
                        .set_max_table_size(size.min(self.limits.encoder_table_bytes));
                }
                SettingId::INITIAL_WINDOW_SIZE => {
                    // RFC 9113 §6.9.2: the delta applies to every open stream;
                    // a window pushed past 2^31-1 is a FLOW_CONTROL_ERROR.
                    let delta = i64::from(value) - i64::from(self.peer_initial_window);
                    for stream in self.streams.values_mut() {
                        stream.send_window.adjust(delta).map_err(|e| {
                            conn_error(
                                ErrorCode::FLOW_CONTROL_ERROR,
                                &format!("SETTINGS_INITIAL_WINDOW_SIZE: {e}"),
                            )
                        })?;
                    }
                    self.peer_initial_window = value;
                    let ids: Vec<StreamId> = self.streams.keys().copied().collect();
                    for id in ids {
                        if !self.ready.contains(&id)
                            && self.streams.get(&id).is_some_and(|s| !s.pending.is_empty())
                        {
                            self.ready.push_back(id);
                        }
                    }
                }
                SettingId::MAX_FRAME_SIZE => self.peer_max_frame_bytes = value,
                SettingId::MAX_CONCURRENT_STREAMS => self.peer_max_concurrent = value,
                // ENABLE_PUSH: we never push. MAX_HEADER_LIST_SIZE: advisory
                // (our header lists are small). Unknown ids: RFC 9113 §6.5.2
                // says to ignore them.
                _ => {}
            }
        }
        Settings::ack().encode(&mut self.out);
        Ok(())
    }

    fn on_ping(&mut self, p: Ping) -> Result<(), Error> {
        if p.ack {
            self.events.push(Event::PingAck { payload: p.payload });
            return Ok(());
        }
        self.ping_budget.spend().map_err(flood)?;
        Ping {
            ack: true,
            payload: p.payload,
        }
        .encode(&mut self.out);
        Ok(())
    }

    fn on_goaway(&mut self, g: GoAway<'_>) {
        self.goaway_received = Some(g.last_stream_id);
        // RFC 9113 §6.8: streams we opened above last_stream_id were not
        // processed; the application may retry them elsewhere.
        if self.role == Role::Client {
            let refused: Vec<StreamId> = self
                .streams
                .keys()
                .copied()
                .filter(|id| *id > g.last_stream_id)
                .collect();
            for stream_id in refused {
                self.streams.remove(&stream_id);
                self.events.push(Event::Reset {
                    stream_id,
                    code: ErrorCode::REFUSED_STREAM,
                    initiator: Initiator::Peer,
                });
            }
        }
        self.events.push(Event::GoAway {
            last_stream_id: g.last_stream_id,
            code: g.code,
            debug_data: g.debug_data.to_vec(),
        });
    }

    fn on_window_update(&mut self, w: WindowUpdate) -> Result<(), Error> {
        if w.stream_id.is_zero() {
            // RFC 9113 §6.9.1: a connection window past 2^31-1 is a
            // connection FLOW_CONTROL_ERROR.
            return self
                .send_window
                .adjust(i64::from(w.increment))
                .map_err(|e| {
                    conn_error(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        &format!("connection window: {e}"),
                    )
                });
        }
        let idle = self.is_idle(w.stream_id);
        match self.streams.get_mut(&w.stream_id) {
            Some(stream) => {
                // RFC 9113 §6.9.1: a stream window past 2^31-1 is a stream
                // FLOW_CONTROL_ERROR.
                if stream.send_window.adjust(i64::from(w.increment)).is_err() {
                    self.reset_stream(w.stream_id, ErrorCode::FLOW_CONTROL_ERROR);
                } else if !stream.pending.is_empty() && !self.ready.contains(&w.stream_id) {
                    self.ready.push_back(w.stream_id);
                }
                Ok(())
            }
            None if idle => Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "WINDOW_UPDATE on an idle stream",
            )),
            // RFC 9113 §6.9: WINDOW_UPDATE may arrive on closed streams; ignore.
            None => Ok(()),
        }
    }

    fn on_rst_stream(&mut self, r: RstStream) -> Result<(), Error> {
        // Rapid reset (CVE-2023-44487): every reset spends the budget.
        self.reset_budget.spend().map_err(flood)?;
        if self.streams.remove(&r.stream_id).is_some() {
            self.events.push(Event::Reset {
                stream_id: r.stream_id,
                code: r.code,
                initiator: Initiator::Peer,
            });
            return Ok(());
        }
        // RFC 9113 §6.4: RST_STREAM on an idle stream is a PROTOCOL_ERROR.
        if self.is_idle(r.stream_id) {
            return Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "RST_STREAM on an idle stream",
            ));
        }
        Ok(())
    }

    fn on_data(&mut self, d: Data<'_>) -> Result<(), Error> {
        // RFC 9113 §6.9: DATA beyond the connection window is a connection
        // FLOW_CONTROL_ERROR; every DATA counts, whatever its stream.
        self.recv_window.receive(d.flow_len).map_err(|e| {
            conn_error(
                ErrorCode::FLOW_CONTROL_ERROR,
                &format!("connection window: {e}"),
            )
        })?;
        if d.data.is_empty() && !d.end_stream {
            self.spend_empty()?;
        }
        if let Some(inc) = self.recv_window.take_update() {
            WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: inc,
            }
            .encode(&mut self.out);
        }
        let Some(stream) = self.streams.get_mut(&d.stream_id) else {
            if self.is_idle(d.stream_id) {
                // RFC 9113 §5.1: DATA on an idle stream is a PROTOCOL_ERROR.
                return Err(conn_error(
                    ErrorCode::PROTOCOL_ERROR,
                    "DATA on an idle stream",
                ));
            }
            // A stream we reset or finished: RFC 9113 §5.1 lets us ignore
            // frames in flight after our RST_STREAM.
            return Ok(());
        };
        if stream.recv_window.receive(d.flow_len).is_err() {
            self.reset_stream(d.stream_id, ErrorCode::FLOW_CONTROL_ERROR);
            return Ok(());
        }
        match stream.state.transition(stream::Event::RecvData {
            end_stream: d.end_stream,
        }) {
            Ok(next) => stream.state = next,
            Err(e) if e.is_connection_error => return Err(conn_error(e.code, &e.to_string())),
            Err(e) => {
                self.reset_stream(d.stream_id, e.code);
                return Ok(());
            }
        }
        if !d.end_stream {
            if let Some(inc) = stream.recv_window.take_update() {
                WindowUpdate {
                    stream_id: d.stream_id,
                    increment: inc,
                }
                .encode(&mut self.out);
            }
        }
        let closed = stream.state == State::Closed && stream.pending.is_empty();
        self.events.push(Event::Data {
            stream_id: d.stream_id,
            data: d.data.to_vec(),
            end_stream: d.end_stream,
        });
        if closed {
            self.streams.remove(&d.stream_id);
            self.stream_completed();
        }
        Ok(())
    }

    fn on_headers(&mut self, h: Headers<'_>) -> Result<(), Error> {
        if h.fragment.len() > self.limits.max_header_block_bytes {
            return Err(block_too_large(
                h.fragment.len(),
                self.limits.max_header_block_bytes,
            ));
        }
        if h.end_headers {
            return self.on_header_block(h.stream_id, h.end_stream, h.fragment);
        }
        if h.fragment.is_empty() {
            self.spend_empty()?;
        }
        self.partial = Some(PartialBlock {
            stream_id: h.stream_id,
            end_stream: h.end_stream,
            block: h.fragment.to_vec(),
            continuations: 0,
        });
        Ok(())
    }

    fn on_continuation(&mut self, c: Continuation<'_>) -> Result<(), Error> {
        let Some(partial) = self.partial.as_mut() else {
            return Err(conn_error(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            ));
        };
        partial.continuations += 1;
        if partial.continuations > self.limits.max_continuations {
            return Err(conn_error(
                ErrorCode::ENHANCE_YOUR_CALM,
                &format!(
                    "more than {} CONTINUATION frames in one header block",
                    self.limits.max_continuations
                ),
            ));
        }
        let total = partial.block.len().saturating_add(c.fragment.len());
        if total > self.limits.max_header_block_bytes {
            return Err(block_too_large(total, self.limits.max_header_block_bytes));
        }
        partial.block.extend_from_slice(c.fragment);
        if !c.end_headers {
            if c.fragment.is_empty() {
                self.spend_empty()?;
            }
            return Ok(());
        }
        let Some(done) = self.partial.take() else {
            return Ok(());
        };
        self.on_header_block(done.stream_id, done.end_stream, &done.block)
    }

    fn on_header_block(
        &mut self,
        stream_id: StreamId,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), Error> {
        // The block is decoded in every case: HPACK state is per connection.
        let mut fields: Vec<Field> = Vec::new();
        let mut too_large = false;
        let decoded = self
            .decoder
            .decode(block, self.limits.max_header_list_bytes, |n, v| {
                fields.push((n.to_vec(), v.to_vec()))
            });
        if let Err(e) = decoded {
            if e.is_header_list_too_large() {
                too_large = true;
            } else {
                return Err(conn_error(ErrorCode::COMPRESSION_ERROR, &e.to_string()));
            }
        }
        if block.is_empty() && !end_stream {
            self.spend_empty()?;
        }
        let is_new_peer_stream = self.role == Role::Server
            && stream_id.is_client_initiated()
            && stream_id > self.last_peer_stream
            && !self.streams.contains_key(&stream_id);
        if is_new_peer_stream {
            self.last_peer_stream = stream_id;
            if self.goaway_sent {
                // RFC 9113 §6.8: streams above the GOAWAY's id are ignored;
                // REFUSED_STREAM tells the client it may retry elsewhere.
                RstStream {
                    stream_id,
                    code: ErrorCode::REFUSED_STREAM,
                }
                .encode(&mut self.out);
                return Ok(());
            }
            if too_large {
                // Header list over SETTINGS_MAX_HEADER_LIST_SIZE: this stream
                // only (gRPC clients read ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED).
                RstStream {
                    stream_id,
                    code: ErrorCode::ENHANCE_YOUR_CALM,
                }
                .encode(&mut self.out);
                return Ok(());
            }
            let active = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
            // RFC 9113 §5.1.2: streams over our limit get REFUSED_STREAM.
            if active >= self.limits.max_concurrent_streams {
                RstStream {
                    stream_id,
                    code: ErrorCode::REFUSED_STREAM,
                }
                .encode(&mut self.out);
                return Ok(());
            }
            if let Err(reason) = check_fields(&fields) {
                let _ = reason;
                RstStream {
                    stream_id,
                    code: ErrorCode::PROTOCOL_ERROR,
                }
                .encode(&mut self.out);
                return Ok(());
            }
            let initial = self.limits.initial_window_bytes;
            let state = State::Idle
                .transition(stream::Event::RecvHeaders { end_stream })
                .map_err(|e| conn_error(e.code, &e.to_string()))?;
            self.streams.insert(
                stream_id,
                Stream {
                    state,
                    send_window: Window::new(self.peer_initial_window),
                    recv_window: RecvWindow::new(initial, initial),
                    pending: VecDeque::new(),
                    end_queued: false,
                },
            );
            self.events.push(Event::Headers {
                stream_id,
                fields,
                end_stream,
            });
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            if self.is_idle(stream_id) {
                // RFC 9113 §5.1.1: a client never receives HEADERS on a stream
                // it did not open (no push); a server gets odd ids only.
                return Err(conn_error(
                    ErrorCode::PROTOCOL_ERROR,
                    "HEADERS on an idle stream",
                ));
            }
            // A closed stream (reset by us, frames in flight): ignore.
            return Ok(());
        };
        if too_large {
            self.reset_stream(stream_id, ErrorCode::ENHANCE_YOUR_CALM);
            return Ok(());
        }
        match stream
            .state
            .transition(stream::Event::RecvHeaders { end_stream })
        {
            Ok(next) => stream.state = next,
            Err(e) if e.is_connection_error => return Err(conn_error(e.code, &e.to_string())),
            Err(e) => {
                self.reset_stream(stream_id, e.code);
                return Ok(());
            }
        }
        let closed = stream.state == State::Closed && stream.pending.is_empty();
        self.events.push(Event::Headers {
            stream_id,
            fields,
            end_stream,
        });
        if closed {
            self.streams.remove(&stream_id);
            self.stream_completed();
        }
        Ok(())
    }

    /// Whether `id` is a stream that was never opened (RFC 9113 §5.1 idle).
    fn is_idle(&self, id: StreamId) -> bool {
        let peer_opens = match self.role {
            Role::Server => id.is_client_initiated(),
            Role::Client => !id.is_client_initiated(),
        };
        if peer_opens {
            id > self.last_peer_stream
        } else {
            match self.next_local_stream {
                Some(next) => id >= next,
                None => false,
            }
        }
    }

    /// A stream error: RST_STREAM, the stream is gone, the layer above is told.
    fn reset_stream(&mut self, stream_id: StreamId, code: ErrorCode) {
        self.streams.remove(&stream_id);
        RstStream { stream_id, code }.encode(&mut self.out);
        self.events.push(Event::Reset {
            stream_id,
            code,
            initiator: Initiator::Us,
        });
    }

    fn fail(&mut self, e: &Error) {
        if self.phase != Phase::Closed {
            GoAway {
                last_stream_id: self.last_peer_stream,
                code: e.code,
                debug_data: e.reason.as_bytes(),
            }
            .encode(&mut self.out);
            self.phase = Phase::Closed;
        }
        for (stream_id, _) in self.streams.drain() {
            self.events.push(Event::Reset {
                stream_id,
                code: e.code,
                initiator: Initiator::Us,
            });
        }
    }

    /// The connection is gone (socket closed): every stream ends.
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
        for (stream_id, _) in self.streams.drain() {
            self.events.push(Event::Reset {
                stream_id,
                code: ErrorCode::CANCEL,
                initiator: Initiator::Peer,
            });
        }
    }
}

/// RFC 9113 §8.2, §8.3: malformed field sections are a stream PROTOCOL_ERROR.
fn check_fields(fields: &[Field]) -> Result<(), &'static str> {
    let mut regular_seen = false;
    for (name, _) in fields {
        if name.starts_with(b":") {
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
        } else {
            regular_seen = true;
        }
        if name.iter().any(u8::is_ascii_uppercase) {
            return Err("uppercase field name");
        }
        if name.as_slice() == b"connection" || name.as_slice() == b"transfer-encoding" {
            return Err("connection-specific field");
        }
    }
    Ok(())
}

fn frame_len(input: &[u8]) -> usize {
    match input.split_first_chunk::<{ frame::HEADER_LEN }>() {
        Some((h, _)) => {
            frame::HEADER_LEN + usize::try_from(frame::Header::decode(h).length).unwrap_or(0)
        }
        None => input.len(),
    }
}

fn conn_error(code: ErrorCode, reason: &str) -> Error {
    Error {
        code,
        reason: reason.to_owned(),
    }
}

fn flood(f: Flood) -> Error {
    conn_error(ErrorCode::ENHANCE_YOUR_CALM, &f.to_string())
}

fn block_too_large(size: usize, limit: usize) -> Error {
    conn_error(
        ErrorCode::ENHANCE_YOUR_CALM,
        &format!("header block of {size} bytes > limit {limit}"),
    )
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
