//! The send side of a connection: opening streams, queuing headers and
//! data, and writing them out as the peer's flow-control windows allow.

use super::*;

/// Output bytes above which no more DATA frames are encoded until the
/// writer has taken the output: bounds the copy of pending bodies.
pub(crate) const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Payload of the DATA frames we send, at most, whatever larger frames
/// the peer allows: a frame past [`OUTPUT_HIGH_WATER`] would grow the
/// output (and the writer's batch) beyond it, to 4 MiB with grpcio, which
/// allows 4 MiB frames: two body-sized allocations per large message.
/// grpc-go sends 16 KiB frames; 64 KiB keeps the per-frame work small.
const MAX_SENT_DATA_FRAME_BYTES: usize = 64 * 1024;

impl Connection {
    /// Opens a stream with a request header block (client role).
    pub(crate) fn open_stream(
        &mut self,
        fields: &[Field<'_>],
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
            recv_buf: Vec::new(),
            sent: Some(Vec::new()),
        };
        self.streams.insert(id, stream);
        self.send_headers(id, fields, end_stream)?;
        Ok(id)
    }

    /// Sends a header block (response headers, or trailers with
    /// `end_stream`). Trailers wait behind pending data.
    pub(crate) fn send_headers(
        &mut self,
        stream_id: StreamId,
        fields: &[Field<'_>],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let stream = self.sendable(stream_id)?;
        if end_stream {
            stream.end_queued = true;
        }
        if !stream.pending.is_empty() {
            stream.pending.push_back(Pending::Trailers {
                fields: HeaderList::from_fields(fields),
            });
            return Ok(());
        }
        self.write_headers(stream_id, fields, end_stream);
        Ok(())
    }

    /// Queues body bytes; they go out as the peer's windows allow.
    pub(crate) fn send_data(
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
    pub(crate) fn send_reset(&mut self, stream_id: StreamId, code: ErrorCode) {
        if self.streams.remove(&stream_id).is_some() {
            self.write_reset(stream_id, code);
        }
    }

    /// Starts a graceful shutdown: GOAWAY naming the last stream we accept.
    pub(crate) fn go_away(&mut self, code: ErrorCode, debug_data: &[u8]) {
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
    pub(crate) fn pending_send_bytes(&self) -> usize {
        self.streams
            .values()
            .flat_map(|s| s.pending.iter())
            .map(|p| match p {
                Pending::Data { bytes, offset, .. } => bytes.len().saturating_sub(*offset),
                Pending::Trailers { .. } => 0,
            })
            .sum()
    }

    pub(super) fn sendable(&mut self, stream_id: StreamId) -> Result<&mut Stream, SendError> {
        if self.phase == Phase::Closed {
            return Err(SendError::GoingAway);
        }
        match self.streams.get_mut(&stream_id) {
            Some(s) if !s.end_queued => Ok(s),
            _ => Err(SendError::StreamClosed { stream_id }),
        }
    }

    pub(super) fn write_headers(
        &mut self,
        stream_id: StreamId,
        fields: &[Field<'_>],
        end_stream: bool,
    ) {
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
        // The block buffer is kept across calls: no allocation per response.
        let mut block = std::mem::take(&mut self.block_scratch);
        block.clear();
        self.encoder.encode(fields.iter().copied(), &mut block);
        let max = usize::try_from(self.peer_max_frame_bytes).unwrap_or(16_384);
        encode_header_block(stream_id, &block, end_stream, max, &mut self.out);
        self.block_scratch = block;
        self.after_send(stream_id);
    }

    /// After we sent END_STREAM: a server whose peer is still sending resets
    /// the stream with NO_ERROR (RFC 9113 §8.1); a closed stream is dropped.
    pub(super) fn after_send(&mut self, stream_id: StreamId) {
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
                self.write_reset(stream_id, ErrorCode::NO_ERROR);
            }
            _ => {}
        }
    }

    /// Useful work refills the flood budgets.
    pub(super) fn stream_completed(&mut self) {
        self.reset_budget.refund(1);
        self.stream_error_budget.refund(1);
        self.ping_budget.refund(2);
        self.empty_budget.refund(4);
    }

    /// Moves more pending data into the output, as the windows allow (the
    /// output holds at most about [`OUTPUT_HIGH_WATER`] bytes of DATA).
    pub(crate) fn fill_output(&mut self) {
        if !self.ready.is_empty() && self.out.len() < OUTPUT_HIGH_WATER {
            self.flush_pending();
        }
    }

    /// Writes pending data as the windows allow, round-robin over streams,
    /// one frame per stream per turn.
    pub(super) fn flush_pending(&mut self) {
        let max_frame = usize::try_from(self.peer_max_frame_bytes)
            .unwrap_or(16_384)
            .min(MAX_SENT_DATA_FRAME_BYTES);
        let mut turns_without_progress = 0;
        while let Some(id) = self.ready.pop_front() {
            // Bounded output: the writer takes it, then calls
            // `fill_output` for more (a 6 MB body is not copied whole).
            if turns_without_progress > self.ready.len() || self.out.len() >= OUTPUT_HIGH_WATER {
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
                        self.data_bytes_sent = self.data_bytes_sent.wrapping_add(n as u64);
                        *offset += n;
                        progressed = true;
                        if last {
                            if let Some(Pending::Data { bytes, .. }) = stream.pending.pop_front() {
                                match stream.sent.as_mut() {
                                    // Kept until the response starts.
                                    Some(sent) => sent.push(bytes),
                                    // Sent: a large one is kept for reuse.
                                    None => self.limits.buffers.give(bytes),
                                }
                            }
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
                        self.write_headers(id, &fields.to_fields(), true);
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
}
