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
//! Files: this one holds the state and the public API; `recv` takes the
//! peer's frames (one match over every frame), `send` queues and writes
//! ours under flow control.
//!
//! Stream errors reset one stream (RST_STREAM); connection errors queue a
//! GOAWAY and make `recv` return [`Error`]; the caller then flushes the
//! output and closes the socket.

use std::collections::{HashMap, TryReserveError, VecDeque};
use std::fmt;

use crate::buffers;

use super::flow::{RecvWindow, Window};
use super::frame::{
    self, encode_data, encode_header_block, Continuation, Data, ErrorCode, Frame, GoAway, Headers,
    Ping, RstStream, SettingId, Settings, StreamId, WindowUpdate, MIN_MAX_FRAME_SIZE,
};
use super::hpack;
use super::limits::{Budget, Limits};
use super::stream::{self, State};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// RFC 9113 §6.9.2: the initial window before SETTINGS say otherwise.
const DEFAULT_WINDOW: u32 = 65_535;

/// A body's buffer is sized for its declared total once 1/16 of it has
/// arrived ([`Connection::reserve_body`]): a peer declaring 6 MiB sends
/// 384 KiB first, and the buffer grows to 512 KiB by doubling before it
/// (below the 1 MiB of a body-sized buffer, tests/alloc.rs).
const RESERVE_AFTER: usize = 16;

/// How many of the streams we reset are remembered, so that the peer's
/// frames in flight on them are ignored: our concurrent stream limit (256),
/// since a peer has at most that many streams open when we reset them.
/// gRPC clients send no HEADERS after their request's END_STREAM, so only
/// trailers of a request we reset early could need it.
const RECENTLY_RESET_STREAMS: usize = 256;

pub use super::fields::{Field, HeaderList};
pub use error::Error;

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
        fields: HeaderList,
        end_stream: bool,
    },
    /// Body bytes arrived (or only END_STREAM): they wait in the stream's
    /// buffer until [`Connection::take_data`]. One event per stream per
    /// `recv` call at most.
    Data {
        stream_id: StreamId,
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
    /// Our output for the peer stayed over `Limits::max_pending_send_bytes`
    /// for `Limits::send_timeout`: the peer does not read; the stream was
    /// given up.
    PeerNotReading { pending_bytes: usize },
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
            SendError::PeerNotReading { pending_bytes } => write!(
                f,
                "the peer does not read: {pending_bytes} bytes of output wait for it"
            ),
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
        fields: HeaderList,
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
    /// Received body bytes not yet taken by the application: one copy from
    /// the read buffer, then moved, never copied again.
    recv_buf: Vec<u8>,
    /// Body parts we sent on a stream we opened, kept until the response
    /// starts: a stream the peer refuses was not processed (RFC 9113 §8.7)
    /// and its caller gets them back to retry ([`Connection::take_refused_request`]).
    /// `None` on streams the peer opened, and once the response started.
    sent: Option<Vec<Vec<u8>>>,
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
    /// DATA payload bytes written so far (progress, for stall detection).
    data_bytes_sent: u64,
    /// Body bytes of streams that ended before the application took them.
    finished_data: HashMap<StreamId, Vec<u8>>,
    /// Request bodies of our streams the peer refused, until taken.
    refused: HashMap<StreamId, Vec<Vec<u8>>>,
    /// Reused buffer for encoding our header blocks.
    block_scratch: Vec<u8>,
    events: Vec<Event>,
    /// Bytes of the header lists in `events`: past
    /// `Limits::max_header_bytes_per_batch`, `recv` stops decoding and
    /// keeps the rest of its input for the next call.
    events_header_bytes: usize,
    /// `recv` kept whole frames for the next call ([`has_input_held`](Self::has_input_held)).
    input_held: bool,
    /// A body allocation failed and was logged (once per connection).
    alloc_failure_logged: bool,
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
    /// The latest streams we reset, oldest first, at most
    /// [`RECENTLY_RESET_STREAMS`]: frames the peer had in flight on them
    /// are ignored (RFC 9113 §5.1 "closed"), where HEADERS on any other
    /// used stream id is a connection error (§5.1.1).
    recently_reset: VecDeque<StreamId>,
    reset_budget: Budget,
    settings_budget: Budget,
    ping_budget: Budget,
    empty_budget: Budget,
    /// The error that closed the connection (the first one).
    failure: Option<Error>,
    stream_error_budget: Budget,
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
            block_scratch: Vec::new(),
            finished_data: HashMap::new(),
            refused: HashMap::new(),
            data_bytes_sent: 0,
            events: Vec::new(),
            events_header_bytes: 0,
            input_held: false,
            alloc_failure_logged: false,
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
            recently_reset: VecDeque::new(),
            reset_budget: Budget::new(limits.reset_budget),
            settings_budget: Budget::new(limits.settings_budget),
            ping_budget: Budget::new(limits.ping_budget),
            empty_budget: Budget::new(limits.empty_frame_budget),
            failure: None,
            stream_error_budget: Budget::new(limits.stream_error_budget),
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
    /// queued, the connection is closed and the error returned. Stops
    /// early once the events hold `Limits::max_header_bytes_per_batch` of
    /// header lists, keeping the rest ([`has_input_held`](Self::has_input_held)).
    pub fn recv(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        if let Err(e) = self.check_server_preface(bytes) {
            self.fail(&e);
            return Err(e);
        }
        self.input_held = false;
        let mut buf = std::mem::take(&mut self.buf);
        let mut bytes = bytes;
        let mut result = Ok(0);
        if !buf.is_empty() && self.phase != Phase::AwaitingPreface {
            // Complete the one buffered frame with just the bytes it lacks,
            // so the rest of this read is decoded in place: appending the
            // whole read would copy every body byte once more.
            let (taken, complete) = self.complete_frame(&mut buf, bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            if complete {
                result = self.recv_frames(&buf).inspect(|&used| {
                    buf.drain(..used.min(buf.len()));
                });
            }
        }
        if result.is_ok() && self.phase != Phase::Closed {
            result = if buf.is_empty() {
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
        }
        self.input_held = self.is_batch_full() && !buf.is_empty();
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

    /// Whether this batch's events hold enough header lists: decoding stops.
    fn is_batch_full(&self) -> bool {
        self.events_header_bytes >= self.limits.max_header_bytes_per_batch
    }

    /// Appends to `buf` (the start of one frame) the bytes of `bytes` it
    /// lacks to be whole. Returns how many were taken and whether `buf` now
    /// holds a whole frame, or a header that declares more than the frame
    /// limit (decoding it fails at once, as from the header alone).
    fn complete_frame(&self, buf: &mut Vec<u8>, bytes: &[u8]) -> (usize, bool) {
        let header_len = frame::HEADER_LEN;
        let mut taken = 0;
        if buf.len() < header_len {
            taken = (header_len - buf.len()).min(bytes.len());
            buf.extend_from_slice(bytes.get(..taken).unwrap_or_default());
            if buf.len() < header_len {
                return (taken, false);
            }
        }
        let Some((head, _)) = buf.split_first_chunk::<{ frame::HEADER_LEN }>() else {
            return (taken, false);
        };
        let length = frame::Header::decode(head).length;
        if length > self.limits.max_frame_bytes {
            return (taken, true);
        }
        let want = header_len + usize::try_from(length).unwrap_or(0);
        let more = want
            .saturating_sub(buf.len())
            .min(bytes.len().saturating_sub(taken));
        buf.extend_from_slice(bytes.get(taken..taken + more).unwrap_or_default());
        taken += more;
        (taken, buf.len() >= want)
    }

    /// Takes the request body of a stream we opened and the peer refused
    /// (REFUSED_STREAM, or above its GOAWAY's last stream id) before its
    /// response started: every part, sent or not, in order.
    pub(crate) fn take_refused_request(&mut self, stream_id: StreamId) -> Option<Vec<Vec<u8>>> {
        self.refused.remove(&stream_id)
    }

    /// The peer refused `stream_id`: it goes, and its request body, when
    /// kept, waits for [`take_refused_request`](Self::take_refused_request).
    /// False when there was no such stream.
    fn refuse(&mut self, stream_id: StreamId) -> bool {
        let Some(stream) = self.streams.remove(&stream_id) else {
            return false;
        };
        if let Some(mut request) = stream.sent {
            request.extend(stream.pending.into_iter().filter_map(|p| match p {
                Pending::Data { bytes, .. } => Some(bytes),
                Pending::Trailers { .. } => None,
            }));
            self.refused.insert(stream_id, request);
        }
        true
    }

    /// Takes the body bytes received on `stream_id` so far.
    pub(crate) fn take_data(&mut self, stream_id: StreamId) -> Vec<u8> {
        match self.streams.get_mut(&stream_id) {
            Some(s) => std::mem::take(&mut s.recv_buf),
            None => self.finished_data.remove(&stream_id).unwrap_or_default(),
        }
    }

    /// The body bytes received on `stream_id` and not yet taken.
    pub(crate) fn buffered_data(&self, stream_id: StreamId) -> &[u8] {
        match self.streams.get(&stream_id) {
            Some(s) => &s.recv_buf,
            None => self
                .finished_data
                .get(&stream_id)
                .map_or(&[], Vec::as_slice),
        }
    }

    /// The capacity of the buffer of the body bytes received on `stream_id`
    /// and not yet taken: what they hold of memory.
    pub(crate) fn buffered_capacity(&self, stream_id: StreamId) -> usize {
        match self.streams.get(&stream_id) {
            Some(s) => s.recv_buf.capacity(),
            None => self.finished_data.get(&stream_id).map_or(0, Vec::capacity),
        }
    }

    /// Sizes the body buffer of `stream_id` for the `total_bytes` the
    /// body's own framing declares (the caller bounds it): one allocation
    /// instead of doubling copies of 6 MB, from the kept buffers if one
    /// fits. Only once [`RESERVE_AFTER`] of it has arrived: until then the
    /// buffer grows with the bytes received, so what a peer declares costs
    /// us at most 16 times what it sent (issue 11 item 7: a 14-byte request
    /// reserved 7 MiB). `Ok(false)`: not yet, ask again with more;
    /// `Ok(true)`: sized, or no such stream. An allocation failure is the
    /// caller's to answer (reset the stream), never an abort.
    pub(crate) fn reserve_body(
        &mut self,
        stream_id: StreamId,
        total_bytes: usize,
    ) -> Result<bool, TryReserveError> {
        let Some(s) = self.streams.get_mut(&stream_id) else {
            return Ok(true);
        };
        let received = s.recv_buf.len();
        if received.saturating_mul(RESERVE_AFTER) < total_bytes {
            return Ok(false);
        }
        if s.recv_buf.capacity() >= total_bytes {
            return Ok(true);
        }
        if total_bytes >= buffers::MIN_POOLED_BYTES {
            // A kept buffer if there is one (crate::buffers).
            let mut body = self.limits.buffers.try_take(total_bytes)?;
            body.extend_from_slice(&s.recv_buf);
            s.recv_buf = body;
        } else {
            s.recv_buf
                .try_reserve_exact(total_bytes.saturating_sub(received))?;
        }
        Ok(true)
    }

    /// Exchanges our pending output with `buf` (which must be empty): the
    /// writer gets the bytes without a copy and we keep its capacity.
    pub(crate) fn swap_output(&mut self, buf: &mut Vec<u8>) {
        debug_assert!(buf.is_empty());
        std::mem::swap(&mut self.out, buf);
    }

    /// Bytes to write to the peer, in order. Empty when there is nothing.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Bytes of output encoded and not taken yet.
    pub(crate) fn output_bytes(&self) -> usize {
        self.out.len()
    }

    /// Whether there are bytes to write.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// What happened since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.events_header_bytes = 0;
        std::mem::take(&mut self.events)
    }

    /// RFC 9113 §3.4: a server's first frame is SETTINGS. A client checks
    /// the first frame header before decoding it: a peer that does not
    /// speak HTTP/2 at all (an HTTP/1.1 server, TLS) is named as such,
    /// where decoding its bytes as a frame would report a FRAME_SIZE_ERROR
    /// (an HTTP/1.x status line reads as a 4.7 MB frame).
    fn check_server_preface(&self, bytes: &[u8]) -> Result<(), Error> {
        if self.role != Role::Client || self.phase != Phase::AwaitingSettings {
            return Ok(());
        }
        let mut first_bytes = [0u8; 9];
        let mut len = 0;
        for (slot, &byte) in first_bytes.iter_mut().zip(self.buf.iter().chain(bytes)) {
            *slot = byte;
            len += 1;
        }
        // A SETTINGS frame header: type 0x4 (byte 3) on stream 0 (bytes
        // 5-8; the reserved bit is ignored, RFC 9113 §4.1). Bytes not yet
        // read contradict nothing: a TLS alert is 7 bytes, then EOF.
        let contradicts = first_bytes
            .iter()
            .enumerate()
            .take(len)
            .any(|(i, &b)| match i {
                3 => b != 0x4,
                5 => b & 0x7f != 0,
                6..=8 => b != 0,
                _ => false,
            });
        if contradicts {
            return Err(Error::NotHttp2 { first_bytes, len });
        }
        Ok(())
    }

    /// The error that closed the connection, if one did.
    pub fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// Whether the last `recv` stopped before the end of its input (its
    /// events hold `Limits::max_header_bytes_per_batch` of header lists):
    /// call `recv(&[])` for the rest, after taking the events, before
    /// reading more.
    pub(crate) fn has_input_held(&self) -> bool {
        self.input_held
    }

    /// Whether the preface and the peer's first SETTINGS have arrived.
    pub(crate) fn is_established(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the connection is closed (error or both sides done).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Number of streams not yet finished.
    pub(crate) fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether a GOAWAY was sent or received (no new streams).
    pub(crate) fn is_going_away(&self) -> bool {
        self.goaway_sent || self.goaway_received.is_some() || self.phase == Phase::Closed
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

    /// A stream error: RST_STREAM, the stream is gone, the layer above is
    /// told (and logs it).
    fn reset_stream(&mut self, stream_id: StreamId, code: ErrorCode) {
        self.streams.remove(&stream_id);
        self.write_reset(stream_id, code);
        self.events.push(Event::Reset {
            stream_id,
            code,
            initiator: Initiator::Us,
        });
    }

    /// A stream error the peer caused: [`reset_stream`](Self::reset_stream)
    /// after spending the stream error budget (MadeYouReset, CVE-2025-8671:
    /// the peer spends nothing else on resets we make).
    fn reset_for_peer(&mut self, stream_id: StreamId, code: ErrorCode) -> Result<(), Error> {
        self.stream_error_budget.spend()?;
        self.reset_stream(stream_id, code);
        Ok(())
    }

    /// Refuses a new stream of the peer with RST_STREAM `code` because of
    /// what the peer did (never opened: no event), spending the stream
    /// error budget.
    fn refuse_for_peer(&mut self, stream_id: StreamId, code: ErrorCode) -> Result<(), Error> {
        self.stream_error_budget.spend()?;
        self.write_reset(stream_id, code);
        Ok(())
    }

    /// Writes RST_STREAM and remembers the stream as reset by us.
    fn write_reset(&mut self, stream_id: StreamId, code: ErrorCode) {
        RstStream { stream_id, code }.encode(&mut self.out);
        if self.recently_reset.len() >= RECENTLY_RESET_STREAMS {
            self.recently_reset.pop_front();
        }
        self.recently_reset.push_back(stream_id);
    }

    /// Whether we reset `stream_id` recently (its frames in flight are ignored).
    fn was_reset_by_us(&self, stream_id: StreamId) -> bool {
        self.recently_reset.contains(&stream_id)
    }

    /// Says that a body buffer could not grow (out of memory): once per
    /// connection, so that a memory-starved server does not flood its log.
    fn warn_alloc_failure(&mut self, stream_id: StreamId, more_bytes: usize) {
        if !self.alloc_failure_logged {
            self.alloc_failure_logged = true;
            crate::warn!(
                "HTTP/2 stream {stream_id}: cannot allocate {more_bytes} more body bytes (out of memory); resetting it (ENHANCE_YOUR_CALM), and any other on this connection that fails so"
            );
        }
    }

    /// DATA payload bytes written so far; a counter that stops moving while
    /// [`pending_send_bytes`](Self::pending_send_bytes) is not zero means the
    /// peer keeps its window closed.
    pub(crate) fn data_bytes_sent(&self) -> u64 {
        self.data_bytes_sent
    }

    /// Ends the connection from our side: GOAWAY for `e`, every stream
    /// reset.
    pub(crate) fn abort(&mut self, e: &Error) {
        self.fail(e);
    }

    fn fail(&mut self, e: &Error) {
        if self.failure.is_none() {
            self.failure = Some(e.clone());
        }
        self.finished_data.clear();
        self.refused.clear();
        let code = e.code();
        if self.phase != Phase::Closed {
            GoAway {
                last_stream_id: self.last_peer_stream,
                code,
                debug_data: e.to_string().as_bytes(),
            }
            .encode(&mut self.out);
            self.phase = Phase::Closed;
        }
        for (stream_id, _) in self.streams.drain() {
            self.events.push(Event::Reset {
                stream_id,
                code,
                initiator: Initiator::Us,
            });
        }
    }

    /// The connection is gone (socket closed): every stream ends.
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
        self.finished_data.clear();
        self.refused.clear();
        for (stream_id, _) in self.streams.drain() {
            self.events.push(Event::Reset {
                stream_id,
                code: ErrorCode::CANCEL,
                initiator: Initiator::Peer,
            });
        }
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

mod error;
mod recv;
mod send;

#[cfg(test)]
mod tests;
