//! The server's routing state of one connection's streams: the requests
//! being collected, with what they hold (issue 11 items 5, 6: header lists
//! and body bytes, counted in `io/held.rs`) and when they must be whole
//! (`Limits::read_timeout`), and the calls handed to the service, which
//! tell how long the connection has been idle (its [`Occupancy`] at the
//! connection limit).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::held::{Held, Over, Part, ServerHeld};
use crate::call::CancelToken;
use crate::h2::conn::HeaderList;
use crate::h2::frame::StreamId;
use crate::h2::limits::RequestBytes;

/// One stream of the connection: a request being collected, or a call in
/// progress (handed to the service, until its responder finishes).
pub(crate) struct ServerStream {
    /// The request's header list, until it is handed over.
    pub(crate) fields: HeaderList,
    pub(crate) cancel: CancelToken,
    /// Handed to the service; later DATA is ignored.
    pub(crate) dispatched: bool,
    /// The body's size as its first bytes declared it (the service's size
    /// hint), once known and within the limit.
    pub(crate) declared: Option<usize>,
    /// Its buffer was sized for it.
    pub(crate) sized: bool,
    /// Bytes this request holds of the bounds: its header list, and the
    /// capacity of its body buffer (zero once handed over).
    held_header_bytes: usize,
    held_body_bytes: usize,
    /// When the request must be whole (`Limits::read_timeout`).
    deadline: Instant,
}

/// A connection's streams, what their requests hold, its calls.
pub(crate) struct ServerStreams {
    map: HashMap<StreamId, ServerStream>,
    /// Requests handed to the service and not answered yet.
    calls: usize,
    /// When the connection last became idle: its start, or when its last
    /// call in progress ended (read while `calls` is 0).
    idle_from: Instant,
    /// The earliest read deadline of a request being collected, or
    /// earlier (a stale value costs one scan).
    next_deadline: Option<Instant>,
    /// What this connection's requests hold, and its bounds.
    held: Held,
    request_bytes: RequestBytes,
    /// What the server's connections hold together.
    server: Arc<ServerHeld>,
    read_timeout: Duration,
}

/// What a connection is to a server making room at its connection limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occupancy {
    /// Closing already: it does not count.
    Closing,
    /// A call in progress: it stays.
    Busy,
    /// No call since then: the longest-idle one is closed.
    IdleSince(Instant),
}

impl ServerStreams {
    /// No stream yet. `request_bytes` is this connection's bound;
    /// `server`, the count of all connections together.
    pub(crate) fn new(
        request_bytes: RequestBytes,
        server: Arc<ServerHeld>,
        read_timeout: Duration,
    ) -> ServerStreams {
        ServerStreams {
            map: HashMap::new(),
            calls: 0,
            idle_from: Instant::now(),
            next_deadline: None,
            held: Held::default(),
            request_bytes,
            server,
            read_timeout,
        }
    }

    pub(crate) fn get_mut(&mut self, stream_id: StreamId) -> Option<&mut ServerStream> {
        self.map.get_mut(&stream_id)
    }

    /// A new request, arrived at `now`: its header list is held, if the
    /// bounds allow.
    pub(crate) fn open(
        &mut self,
        stream_id: StreamId,
        fields: HeaderList,
        now: Instant,
    ) -> Result<(), Over> {
        let header_bytes = fields.held_bytes();
        self.held.try_add(
            &self.server,
            &self.request_bytes,
            Part::Headers,
            header_bytes,
        )?;
        let deadline = now + self.read_timeout;
        self.next_deadline = Some(self.next_deadline.map_or(deadline, |d| d.min(deadline)));
        self.map.insert(
            stream_id,
            ServerStream {
                fields,
                cancel: CancelToken::new(),
                dispatched: false,
                declared: None,
                sized: false,
                held_header_bytes: header_bytes,
                held_body_bytes: 0,
                deadline,
            },
        );
        Ok(())
    }

    /// The body buffer of a request being collected now has
    /// `capacity_bytes`: held, if the bounds allow.
    pub(crate) fn hold_body(
        &mut self,
        stream_id: StreamId,
        capacity_bytes: usize,
    ) -> Result<(), Over> {
        let Some(s) = self.map.get_mut(&stream_id) else {
            return Ok(());
        };
        if capacity_bytes > s.held_body_bytes {
            let more = capacity_bytes - s.held_body_bytes;
            self.held
                .try_add(&self.server, &self.request_bytes, Part::Body, more)?;
        } else {
            let less = s.held_body_bytes - capacity_bytes;
            self.held.sub(&self.server, Part::Body, less);
        }
        s.held_body_bytes = capacity_bytes;
        Ok(())
    }

    /// The request on `stream_id` is handed to the service: it holds
    /// nothing any more (its bytes move to the call), and a call starts.
    /// Returns its header list and cancel token.
    pub(crate) fn dispatch(&mut self, stream_id: StreamId) -> Option<(HeaderList, CancelToken)> {
        let s = self.map.get_mut(&stream_id).filter(|s| !s.dispatched)?;
        s.dispatched = true;
        let taken = (std::mem::take(&mut s.fields), s.cancel.clone());
        let (headers, body) = (s.held_header_bytes, s.held_body_bytes);
        s.held_header_bytes = 0;
        s.held_body_bytes = 0;
        self.held.sub(&self.server, Part::Headers, headers);
        self.held.sub(&self.server, Part::Body, body);
        self.calls = self.calls.saturating_add(1);
        Some(taken)
    }

    /// The stream is gone (reset, or cut): what it held is given back.
    pub(crate) fn remove(&mut self, stream_id: StreamId) -> Option<ServerStream> {
        let s = self.map.remove(&stream_id)?;
        self.held
            .sub(&self.server, Part::Headers, s.held_header_bytes);
        self.held.sub(&self.server, Part::Body, s.held_body_bytes);
        Some(s)
    }

    /// A call's responder finished (or dropped): its stream goes.
    pub(crate) fn call_ended(&mut self, stream_id: StreamId) {
        self.remove(stream_id);
        self.calls = self.calls.saturating_sub(1);
        if self.calls == 0 {
            // The clock is read only then: a busy connection's calls cost
            // no clock reads for this.
            self.idle_from = Instant::now();
        }
    }

    /// The requests still being collected at `now` past their read
    /// deadline (removed, their bytes given back), and the next deadline.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
    ) -> (Vec<(StreamId, CancelToken)>, Option<Instant>) {
        if self.next_deadline.is_none_or(|d| now < d) {
            return (Vec::new(), self.next_deadline);
        }
        let expired: Vec<StreamId> = self
            .map
            .iter()
            .filter(|(_, s)| !s.dispatched && s.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let cut = expired
            .into_iter()
            .filter_map(|id| self.remove(id).map(|s| (id, s.cancel)))
            .collect();
        self.next_deadline = self
            .map
            .values()
            .filter(|s| !s.dispatched)
            .map(|s| s.deadline)
            .min();
        (cut, self.next_deadline)
    }

    /// Since when the connection is idle, `None` while a call is in
    /// progress: requests still arriving are no work done for the peer.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        (self.calls == 0).then_some(self.idle_from)
    }

    /// Every stream, taken (the connection is gone).
    pub(crate) fn drain(&mut self) -> Vec<ServerStream> {
        let ids: Vec<StreamId> = self.map.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }
}

impl Drop for ServerStreams {
    /// What the requests still hold goes back to the server's count.
    fn drop(&mut self) {
        self.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::limits::Limits;

    fn streams(read_timeout: Duration) -> (ServerStreams, Arc<ServerHeld>) {
        let limits = Limits::default();
        let server = Arc::new(ServerHeld::new(limits.request_bytes_per_server));
        let streams = ServerStreams::new(
            limits.request_bytes_per_connection,
            Arc::clone(&server),
            read_timeout,
        );
        (streams, server)
    }

    fn fields() -> HeaderList {
        HeaderList::from_fields(&[(b":path", b"/x")])
    }

    #[test]
    fn unfinished_requests_are_cut_at_their_deadline_and_give_back_what_they_held() {
        let (mut streams, server) = streams(Duration::from_secs(60));
        let (one, three) = (StreamId::new(1), StreamId::new(3));
        let now = Instant::now();
        streams.open(one, fields(), now).expect("room");
        streams.open(three, fields(), now).expect("room");
        streams.hold_body(one, 1000).expect("room");
        assert!(server.held(Part::Body) >= 1000);
        // A call in progress is no unfinished request.
        streams.dispatch(three).expect("handed over");
        let (cut, next) = streams.expire(now);
        assert!(cut.is_empty());
        let deadline = next.expect("stream 1's deadline");
        let (cut, next) = streams.expire(deadline);
        assert_eq!(cut.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [one]);
        assert_eq!(next, None);
        assert_eq!(server.held(Part::Body), 0);
        assert_eq!(server.held(Part::Headers), 0);
        assert_eq!(streams.idle_since(), None, "stream 3's call is in progress");
        streams.call_ended(three);
        assert!(streams.idle_since().is_some());
    }

    #[test]
    fn a_dropped_connection_gives_back_what_its_requests_held() {
        let (mut streams, server) = streams(Duration::from_secs(60));
        streams
            .open(StreamId::new(1), fields(), Instant::now())
            .expect("room");
        streams.hold_body(StreamId::new(1), 5000).expect("room");
        drop(streams);
        assert_eq!(server.held(Part::Body), 0);
        assert_eq!(server.held(Part::Headers), 0);
    }
}
