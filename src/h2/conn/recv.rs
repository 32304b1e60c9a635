//! The receive side of a connection: every frame from the peer goes through
//! [`Connection::handle`]'s one match (style.md §5), then to the handler of
//! its type.

use super::*;

impl Connection {
    pub(super) fn recv_frames(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let mut used = 0;
        if self.phase == Phase::AwaitingPreface {
            let n = input.len().min(PREFACE.len());
            // RFC 9113 §3.4: a wrong preface is a connection PROTOCOL_ERROR;
            // fail at the first wrong byte (an HTTP/1.1 request, a TLS hello).
            if input.get(..n) != PREFACE.get(..n) {
                return Err(Error::BadPreface);
            }
            if n < PREFACE.len() {
                return Ok(0);
            }
            self.phase = Phase::AwaitingSettings;
            used += n;
            input = input.get(n..).unwrap_or_default();
        }
        loop {
            // A batch's events hold enough header lists: the rest waits.
            if self.is_batch_full() {
                return Ok(used);
            }
            let decoded = match frame::decode(input, self.limits.max_frame_bytes) {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(used),
                Err(e) => match e.stream() {
                    Some(stream_id) => {
                        // Stream errors: skip the frame, reset the stream.
                        let len = frame_len(input);
                        self.reset_for_peer(stream_id, e.code())?;
                        used += len;
                        input = input.get(len..).unwrap_or_default();
                        continue;
                    }
                    None => return Err(Error::Frame(e)),
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
    pub(super) fn handle(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        // RFC 9113 §6.10: inside a header block only CONTINUATION frames of
        // the same stream may arrive; anything else is a PROTOCOL_ERROR.
        if let Some(partial) = &self.partial {
            return match frame {
                Frame::Continuation(c) if c.stream_id == partial.stream_id => {
                    self.on_continuation(c)
                }
                _ => Err(Error::ExpectedContinuation {
                    stream_id: partial.stream_id,
                }),
            };
        }
        match (self.phase, frame) {
            (Phase::AwaitingSettings, Frame::Settings(s)) if !s.ack => {
                self.phase = Phase::Open;
                self.on_settings(s)
            }
            // RFC 9113 §3.4: the first frame of each side is SETTINGS.
            (Phase::AwaitingSettings, _) => Err(Error::FirstFrameNotSettings),
            (Phase::Open, Frame::Settings(s)) => self.on_settings(s),
            (Phase::Open, Frame::Headers(h)) => self.on_headers(h),
            (Phase::Open, Frame::Continuation(_)) => Err(Error::ContinuationWithoutHeaders),
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
            (Phase::Open, Frame::PushPromise(_)) => Err(Error::PushPromise),
            // RFC 9113 §5.5: unknown frame types are ignored (they spend the
            // empty-frame budget like any frame that does no work).
            (Phase::Open, Frame::Unknown { .. }) => self.spend_empty(),
            (Phase::AwaitingPreface | Phase::Closed, _) => Ok(()),
        }
    }

    pub(super) fn spend_empty(&mut self) -> Result<(), Error> {
        self.empty_budget.spend().map_err(Error::Flood)
    }

    pub(super) fn on_settings(&mut self, s: Settings) -> Result<(), Error> {
        if s.ack {
            return Ok(());
        }
        self.settings_budget.spend().map_err(Error::Flood)?;
        // Only the last value of each parameter matters (hyperium/h2 keeps
        // one too): the stream windows are adjusted once per frame, not
        // once per parameter, so a frame of 2,730 INITIAL_WINDOW_SIZE
        // parameters costs one walk over the streams (issue 11 item 9).
        let mut initial_window = None;
        for (id, value) in s.params {
            match id {
                SettingId::HEADER_TABLE_SIZE => {
                    // The encoder keeps the smallest and the last value
                    // (RFC 7541 §4.2); O(1) each.
                    let size = usize::try_from(value).unwrap_or(usize::MAX);
                    self.encoder
                        .set_max_table_size(size.min(self.limits.encoder_table_bytes));
                }
                SettingId::INITIAL_WINDOW_SIZE => initial_window = Some(value),
                SettingId::MAX_FRAME_SIZE => self.peer_max_frame_bytes = value,
                SettingId::MAX_CONCURRENT_STREAMS => self.peer_max_concurrent = value,
                // ENABLE_PUSH: we never push. MAX_HEADER_LIST_SIZE: advisory
                // (our header lists are small). Unknown ids: RFC 9113 §6.5.2
                // says to ignore them.
                _ => {}
            }
        }
        if let Some(value) = initial_window {
            self.set_peer_initial_window(value)?;
        }
        Settings::ack().encode(&mut self.out);
        Ok(())
    }

    /// RFC 9113 §6.9.2: the change of SETTINGS_INITIAL_WINDOW_SIZE applies
    /// to every open stream; a window pushed past 2^31-1 is a
    /// FLOW_CONTROL_ERROR. Streams whose window opened are queued to send.
    fn set_peer_initial_window(&mut self, value: u32) -> Result<(), Error> {
        let delta = i64::from(value) - i64::from(self.peer_initial_window);
        if delta == 0 {
            return Ok(());
        }
        for stream in self.streams.values_mut() {
            stream
                .send_window
                .adjust(delta)
                .map_err(Error::InitialWindowSize)?;
        }
        self.peer_initial_window = value;
        let queued: std::collections::HashSet<StreamId> = self.ready.iter().copied().collect();
        for (id, stream) in &self.streams {
            if !stream.pending.is_empty() && !queued.contains(id) {
                self.ready.push_back(*id);
            }
        }
        Ok(())
    }

    pub(super) fn on_ping(&mut self, p: Ping) -> Result<(), Error> {
        if p.ack {
            self.events.push(Event::PingAck { payload: p.payload });
            return Ok(());
        }
        self.ping_budget.spend().map_err(Error::Flood)?;
        Ping {
            ack: true,
            payload: p.payload,
        }
        .encode(&mut self.out);
        Ok(())
    }

    pub(super) fn on_goaway(&mut self, g: GoAway<'_>) {
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
                let _ = self.refuse(stream_id);
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

    pub(super) fn on_window_update(&mut self, w: WindowUpdate) -> Result<(), Error> {
        if w.stream_id.is_zero() {
            // RFC 9113 §6.9.1: a connection window past 2^31-1 is a
            // connection FLOW_CONTROL_ERROR.
            return self
                .send_window
                .adjust(i64::from(w.increment))
                .map_err(Error::ConnectionWindow);
        }
        let idle = self.is_idle(w.stream_id);
        match self.streams.get_mut(&w.stream_id) {
            Some(stream) => {
                // RFC 9113 §6.9.1: a stream window past 2^31-1 is a stream
                // FLOW_CONTROL_ERROR.
                if stream.send_window.adjust(i64::from(w.increment)).is_err() {
                    self.reset_for_peer(w.stream_id, ErrorCode::FLOW_CONTROL_ERROR)?;
                } else if !stream.pending.is_empty() && !self.ready.contains(&w.stream_id) {
                    self.ready.push_back(w.stream_id);
                }
                Ok(())
            }
            None if idle => Err(Error::IdleStream {
                frame: "WINDOW_UPDATE",
                stream_id: w.stream_id,
            }),
            // RFC 9113 §6.9: WINDOW_UPDATE may arrive on closed streams; ignore.
            None => Ok(()),
        }
    }

    pub(super) fn on_rst_stream(&mut self, r: RstStream) -> Result<(), Error> {
        // Rapid reset (CVE-2023-44487): every reset spends the budget.
        self.reset_budget.spend().map_err(Error::Flood)?;
        let known = if r.code == ErrorCode::REFUSED_STREAM {
            // RFC 9113 §8.7: not processed; the caller may retry it.
            self.refuse(r.stream_id)
        } else {
            self.streams.remove(&r.stream_id).is_some()
        };
        if known {
            self.events.push(Event::Reset {
                stream_id: r.stream_id,
                code: r.code,
                initiator: Initiator::Peer,
            });
            return Ok(());
        }
        // RFC 9113 §6.4: RST_STREAM on an idle stream is a PROTOCOL_ERROR.
        if self.is_idle(r.stream_id) {
            return Err(Error::IdleStream {
                frame: "RST_STREAM",
                stream_id: r.stream_id,
            });
        }
        Ok(())
    }

    pub(super) fn on_data(&mut self, d: Data<'_>) -> Result<(), Error> {
        // RFC 9113 §6.9: DATA beyond the connection window is a connection
        // FLOW_CONTROL_ERROR; every DATA counts, whatever its stream.
        self.recv_window
            .receive(d.flow_len)
            .map_err(Error::ConnectionWindow)?;
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
                return Err(Error::IdleStream {
                    frame: "DATA",
                    stream_id: d.stream_id,
                });
            }
            // A stream we reset or finished: RFC 9113 §5.1 lets us ignore
            // frames in flight after our RST_STREAM.
            return Ok(());
        };
        if stream.recv_window.receive(d.flow_len).is_err() {
            return self.reset_for_peer(d.stream_id, ErrorCode::FLOW_CONTROL_ERROR);
        }
        match stream.state.transition(stream::Event::RecvData {
            end_stream: d.end_stream,
        }) {
            Ok(next) => stream.state = next,
            Err(e) if e.is_connection_error => return Err(Error::StreamState(e)),
            Err(e) => return self.reset_for_peer(d.stream_id, e.code),
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
        if stream.recv_buf.try_reserve(d.data.len()).is_err() {
            // Out of memory: this stream fails, the server does not.
            self.warn_alloc_failure(d.stream_id, d.data.len());
            self.reset_stream(d.stream_id, ErrorCode::ENHANCE_YOUR_CALM);
            return Ok(());
        }
        stream.recv_buf.extend_from_slice(d.data);
        let closed = stream.state == State::Closed && stream.pending.is_empty();
        // One Data event per stream per recv call: frames of a batch coalesce.
        match self.events.last_mut() {
            Some(Event::Data {
                stream_id,
                end_stream,
            }) if *stream_id == d.stream_id => *end_stream |= d.end_stream,
            _ => self.events.push(Event::Data {
                stream_id: d.stream_id,
                end_stream: d.end_stream,
            }),
        }
        if closed {
            if let Some(s) = self.streams.remove(&d.stream_id) {
                self.finished_data.insert(d.stream_id, s.recv_buf);
            }
            self.stream_completed();
        }
        Ok(())
    }

    pub(super) fn on_headers(&mut self, h: Headers<'_>) -> Result<(), Error> {
        if h.fragment.len() > self.limits.max_header_block_bytes {
            return Err(Error::HeaderBlockTooLarge {
                size_bytes: h.fragment.len(),
                limit_bytes: self.limits.max_header_block_bytes,
            });
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

    pub(super) fn on_continuation(&mut self, c: Continuation<'_>) -> Result<(), Error> {
        let Some(partial) = self.partial.as_mut() else {
            return Err(Error::ContinuationWithoutHeaders);
        };
        partial.continuations += 1;
        if partial.continuations > self.limits.max_continuations {
            return Err(Error::TooManyContinuations {
                limit: self.limits.max_continuations,
            });
        }
        let total = partial.block.len().saturating_add(c.fragment.len());
        if total > self.limits.max_header_block_bytes {
            return Err(Error::HeaderBlockTooLarge {
                size_bytes: total,
                limit_bytes: self.limits.max_header_block_bytes,
            });
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

    pub(super) fn on_header_block(
        &mut self,
        stream_id: StreamId,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), Error> {
        // The block is decoded in every case: HPACK state is per connection.
        let mut fields = HeaderList::new();
        let mut too_large = false;
        let decoded = self
            .decoder
            .decode(block, self.limits.max_header_list_bytes, |n, v| {
                fields.push(n, v)
            });
        if let Err(e) = decoded {
            if e.is_header_list_too_large() {
                too_large = true;
            } else {
                return Err(Error::Hpack(e));
            }
        }
        if block.is_empty() && !end_stream {
            self.spend_empty()?;
        }
        if self.role == Role::Server && !stream_id.is_client_initiated() {
            // RFC 9113 §5.1.1: clients open odd stream ids; HEADERS on an
            // even one is a connection PROTOCOL_ERROR.
            return Err(Error::EvenStreamId { stream_id });
        }
        let is_new_peer_stream = self.role == Role::Server
            && stream_id > self.last_peer_stream
            && !self.streams.contains_key(&stream_id);
        if is_new_peer_stream {
            self.last_peer_stream = stream_id;
            if self.goaway_sent {
                // RFC 9113 §6.8: streams above the GOAWAY's id are ignored;
                // REFUSED_STREAM tells the client it may retry elsewhere.
                self.write_reset(stream_id, ErrorCode::REFUSED_STREAM);
                return Ok(());
            }
            if too_large {
                // Header list over SETTINGS_MAX_HEADER_LIST_SIZE: this stream
                // only (gRPC clients read ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED).
                return self.refuse_for_peer(stream_id, ErrorCode::ENHANCE_YOUR_CALM);
            }
            let active = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
            // RFC 9113 §5.1.2: streams over our limit get REFUSED_STREAM.
            if active >= self.limits.max_concurrent_streams {
                return self.refuse_for_peer(stream_id, ErrorCode::REFUSED_STREAM);
            }
            if check_fields(&fields).is_err() {
                return self.refuse_for_peer(stream_id, ErrorCode::PROTOCOL_ERROR);
            }
            let initial = self.limits.initial_window_bytes;
            let state = State::Idle
                .transition(stream::Event::RecvHeaders { end_stream })
                .map_err(Error::StreamState)?;
            self.streams.insert(
                stream_id,
                Stream {
                    state,
                    send_window: Window::new(self.peer_initial_window),
                    recv_window: RecvWindow::new(initial, initial),
                    pending: VecDeque::new(),
                    end_queued: false,
                    recv_buf: Vec::new(),
                    sent: None,
                },
            );
            self.events_header_bytes = self.events_header_bytes.saturating_add(fields.held_bytes());
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
                // it did not open (no push).
                return Err(Error::IdleStream {
                    frame: "HEADERS",
                    stream_id,
                });
            }
            if self.role == Role::Server && !self.was_reset_by_us(stream_id) {
                // RFC 9113 §5.1.1: a new stream's id must be above every id
                // the client used; a lower one that is not a stream we reset
                // (whose trailers may be in flight) is a PROTOCOL_ERROR.
                return Err(Error::StreamIdNotIncreasing {
                    stream_id,
                    last_stream_id: self.last_peer_stream,
                });
            }
            // A closed stream (reset by us, frames in flight): ignore.
            return Ok(());
        };
        if too_large {
            return self.reset_for_peer(stream_id, ErrorCode::ENHANCE_YOUR_CALM);
        }
        // The response started: the request was processed, its kept body
        // parts go (a large one is kept for reuse).
        for part in stream.sent.take().into_iter().flatten() {
            self.limits.buffers.give(part);
        }
        match stream
            .state
            .transition(stream::Event::RecvHeaders { end_stream })
        {
            Ok(next) => stream.state = next,
            Err(e) if e.is_connection_error => return Err(Error::StreamState(e)),
            Err(e) => return self.reset_for_peer(stream_id, e.code),
        }
        let closed = stream.state == State::Closed && stream.pending.is_empty();
        self.events_header_bytes = self.events_header_bytes.saturating_add(fields.held_bytes());
        self.events.push(Event::Headers {
            stream_id,
            fields,
            end_stream,
        });
        if closed {
            // Body bytes of this batch not yet taken stay available.
            if let Some(s) = self.streams.remove(&stream_id) {
                if !s.recv_buf.is_empty() {
                    self.finished_data.insert(stream_id, s.recv_buf);
                }
            }
            self.stream_completed();
        }
        Ok(())
    }
}

/// RFC 9113 §8.2, §8.3: malformed field sections are a stream PROTOCOL_ERROR.
fn check_fields(fields: &HeaderList) -> Result<(), &'static str> {
    let mut regular_seen = false;
    for (name, _) in fields.iter() {
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
        if name == b"connection" || name == b"transfer-encoding" {
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
