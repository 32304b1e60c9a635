//! What requests not yet handed to the service hold (issue 11 items 5, 6):
//! their decoded header lists and the body bytes received so far, counted
//! per connection and for all connections of a server, against
//! `Limits::request_bytes_per_connection` and `request_bytes_per_server`.
//! A request gives its bytes back when it is handed to the service, reset,
//! or cut at `Limits::read_timeout`.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::h2::limits::RequestBytes;

/// Which part of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Headers,
    Body,
}

/// The bytes all connections of a server hold for their requests.
#[derive(Debug)]
pub(crate) struct ServerHeld {
    header_bytes: AtomicUsize,
    body_bytes: AtomicUsize,
    limits: RequestBytes,
}

/// The bytes one connection holds for its requests.
#[derive(Debug, Default)]
pub(crate) struct Held {
    header_bytes: usize,
    body_bytes: usize,
}

/// Holding more would go past a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Over {
    pub(crate) part: Part,
    /// The server's bound (else the connection's).
    pub(crate) server_wide: bool,
    pub(crate) limit_bytes: usize,
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = match self.part {
            Part::Headers => "header lists",
            Part::Body => "bodies",
        };
        let whose = if self.server_wide {
            "the server's"
        } else {
            "this connection's"
        };
        write!(
            f,
            "request {part} would pass {whose} bound of {} bytes",
            self.limit_bytes
        )
    }
}

/// `limits` with room for at least one body of `min_body_bytes` (one
/// request of the largest size the service takes).
pub(crate) fn at_least_one_body(limits: RequestBytes, min_body_bytes: usize) -> RequestBytes {
    RequestBytes {
        header_bytes: limits.header_bytes,
        body_bytes: limits.body_bytes.max(min_body_bytes),
    }
}

impl ServerHeld {
    /// Nothing held yet, within `limits`.
    pub(crate) fn new(limits: RequestBytes) -> ServerHeld {
        ServerHeld {
            header_bytes: AtomicUsize::new(0),
            body_bytes: AtomicUsize::new(0),
            limits,
        }
    }

    fn counter(&self, part: Part) -> (&AtomicUsize, usize) {
        match part {
            Part::Headers => (&self.header_bytes, self.limits.header_bytes),
            Part::Body => (&self.body_bytes, self.limits.body_bytes),
        }
    }

    fn try_add(&self, part: Part, n: usize) -> Result<(), Over> {
        let (counter, limit_bytes) = self.counter(part);
        counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(n).filter(|total| *total <= limit_bytes)
            })
            .map(drop)
            .map_err(|_| Over {
                part,
                server_wide: true,
                limit_bytes,
            })
    }

    fn sub(&self, part: Part, n: usize) {
        let (counter, _) = self.counter(part);
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            Some(held.saturating_sub(n))
        });
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn held(&self, part: Part) -> usize {
        self.counter(part).0.load(Ordering::Relaxed)
    }
}

impl Held {
    fn counter(&mut self, part: Part) -> &mut usize {
        match part {
            Part::Headers => &mut self.header_bytes,
            Part::Body => &mut self.body_bytes,
        }
    }

    /// Holds `n` more bytes of `part`, here (within `limits`) and in
    /// `server`, or neither.
    pub(crate) fn try_add(
        &mut self,
        server: &ServerHeld,
        limits: &RequestBytes,
        part: Part,
        n: usize,
    ) -> Result<(), Over> {
        let limit_bytes = match part {
            Part::Headers => limits.header_bytes,
            Part::Body => limits.body_bytes,
        };
        let held = self.counter(part);
        let total = held
            .checked_add(n)
            .filter(|total| *total <= limit_bytes)
            .ok_or(Over {
                part,
                server_wide: false,
                limit_bytes,
            })?;
        server.try_add(part, n)?;
        *held = total;
        Ok(())
    }

    /// Gives back `n` bytes of `part`, here and in `server`.
    pub(crate) fn sub(&mut self, server: &ServerHeld, part: Part, n: usize) {
        let held = self.counter(part);
        let n = n.min(*held);
        *held -= n;
        server.sub(part, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection's bounds.
    const LIMITS: RequestBytes = RequestBytes {
        header_bytes: 100,
        body_bytes: 700,
    };
    /// The server's.
    const SERVER: RequestBytes = RequestBytes {
        header_bytes: 150,
        body_bytes: 1000,
    };

    #[test]
    fn holds_up_to_the_connection_bound_then_refuses() {
        let server = ServerHeld::new(SERVER);
        let mut conn = Held::default();
        conn.try_add(&server, &LIMITS, Part::Headers, 100)
            .expect("at the bound");
        let over = conn
            .try_add(&server, &LIMITS, Part::Headers, 1)
            .expect_err("over it");
        assert_eq!(
            over.to_string(),
            "request header lists would pass this connection's bound of 100 bytes"
        );
        assert_eq!(server.held(Part::Headers), 100);
        conn.sub(&server, Part::Headers, 60);
        assert_eq!(server.held(Part::Headers), 40);
        conn.try_add(&server, &LIMITS, Part::Headers, 60)
            .expect("room again");
    }

    #[test]
    fn the_server_bound_covers_every_connection() {
        let server = ServerHeld::new(SERVER);
        let mut a = Held::default();
        let mut b = Held::default();
        a.try_add(&server, &LIMITS, Part::Body, 600).expect("a");
        let over = b
            .try_add(&server, &LIMITS, Part::Body, 600)
            .expect_err("server bound");
        assert!(over.server_wide);
        // Refused: neither count moved.
        assert_eq!(server.held(Part::Body), 600);
        b.try_add(&server, &LIMITS, Part::Body, 400)
            .expect("exactly the server's bound");
        // Giving back more than held (a dropped count) never underflows.
        b.sub(&server, Part::Body, 10_000);
        assert_eq!(server.held(Part::Body), 600);
    }

    #[test]
    fn bodies_may_hold_one_request_of_the_largest_size() {
        let limits = at_least_one_body(LIMITS, 5000);
        let server = ServerHeld::new(at_least_one_body(SERVER, 5000));
        let mut conn = Held::default();
        conn.try_add(&server, &limits, Part::Body, 5000)
            .expect("one large request");
    }
}
