//! Stream identifiers (RFC 9113 §5.1.1): 31 bits, the reserved high bit
//! masked on decode; odd ids are opened by clients, even ids by servers.

use std::fmt;

/// A stream identifier. The reserved bit is always clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: the connection itself.
    pub const ZERO: StreamId = StreamId(0);
    /// The largest stream identifier (2^31-1).
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// The id from a wire value; the reserved bit is ignored (RFC 9113 §4.1).
    pub fn new(value: u32) -> Self {
        StreamId(value & 0x7fff_ffff)
    }

    /// The id as an integer.
    pub fn value(self) -> u32 {
        self.0
    }

    /// Stream 0, the connection.
    pub(crate) fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opened this stream (odd ids, RFC 9113 §5.1.1).
    pub(crate) fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// The next id of the same parity, or `None` past [`StreamId::MAX`].
    pub fn next(self) -> Option<StreamId> {
        let next = self.0.checked_add(2)?;
        (next <= Self::MAX.0).then_some(StreamId(next))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_reserved_bit() {
        assert_eq!(StreamId::new(0x8000_0003).value(), 3);
    }

    #[test]
    fn next_stops_at_max() {
        assert_eq!(StreamId::new(1).next(), Some(StreamId::new(3)));
        assert_eq!(StreamId::MAX.next(), None);
    }
}
