//! Flow-control windows (RFC 9113 §5.2, §6.9): checked arithmetic, so an
//! overflow is a FLOW_CONTROL_ERROR and never a wrap.

use std::fmt;

use super::frame::MAX_WINDOW;

/// A send or receive window in bytes. May go negative after the peer
/// shrinks SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.9.2); never above
/// 2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window(i64);

/// A window would leave its legal range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// An increase past 2^31-1 (RFC 9113 §6.9.1).
    Overflow { window: i64, increment: i64 },
    /// The peer sent more than the window allowed (RFC 9113 §6.9).
    Exceeded { window: i64, received: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Overflow { window, increment } => {
                write!(f, "window {window} + {increment} exceeds 2^31-1")
            }
            Error::Exceeded { window, received } => {
                write!(f, "received {received} bytes with a window of {window}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl Window {
    /// A window of `size` bytes (at most 2^31-1 by construction of settings).
    pub fn new(size: u32) -> Window {
        Window(i64::from(size.min(MAX_WINDOW)))
    }

    /// The window's value; may be negative.
    #[cfg(test)]
    pub(crate) fn value(self) -> i64 {
        self.0
    }

    /// Bytes that may be sent now (0 when the window is negative).
    pub(crate) fn available(self) -> usize {
        usize::try_from(self.0.max(0)).unwrap_or(usize::MAX)
    }

    /// Adds a WINDOW_UPDATE increment or a SETTINGS delta (negative allowed).
    pub(crate) fn adjust(&mut self, delta: i64) -> Result<(), Error> {
        let next = self.0.checked_add(delta).ok_or(Error::Overflow {
            window: self.0,
            increment: delta,
        })?;
        if next > i64::from(MAX_WINDOW) {
            return Err(Error::Overflow {
                window: self.0,
                increment: delta,
            });
        }
        self.0 = next;
        Ok(())
    }

    /// Spends `n` bytes we send; the caller checked [`available`](Self::available).
    pub fn spend(&mut self, n: usize) {
        debug_assert!(n <= self.available());
        self.0 -= i64::try_from(n).unwrap_or(i64::MAX);
    }

    /// Counts `n` received bytes against the window.
    pub fn receive(&mut self, n: u32) -> Result<(), Error> {
        if i64::from(n) > self.0 {
            return Err(Error::Exceeded {
                window: self.0,
                received: n,
            });
        }
        self.0 -= i64::from(n);
        Ok(())
    }
}

/// A receive window plus the bytes taken but not yet credited back with a
/// WINDOW_UPDATE. We credit once a quarter of the target is used, so a peer
/// streaming a large message never waits a round trip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecvWindow {
    window: Window,
    target: u32,
    unacked: u32,
}

impl RecvWindow {
    /// A window that the peer currently sees as `current` and that we keep
    /// topped up to `target`.
    pub fn new(current: u32, target: u32) -> RecvWindow {
        RecvWindow {
            window: Window::new(current),
            target,
            unacked: target.saturating_sub(current),
        }
    }

    /// Counts received bytes; `Err` when the peer overran the window.
    pub fn receive(&mut self, n: u32) -> Result<(), Error> {
        self.window.receive(n)?;
        self.unacked = self.unacked.saturating_add(n);
        Ok(())
    }

    /// The increment to send now, if enough is owed (at least a quarter of
    /// the target), and takes it as sent.
    pub(crate) fn take_update(&mut self) -> Option<u32> {
        if self.unacked == 0 || self.unacked < self.target / 4 {
            return None;
        }
        let inc = self.unacked.min(MAX_WINDOW);
        // Cannot overflow: window + unacked == target <= 2^31-1.
        if self.window.adjust(i64::from(inc)).is_err() {
            return None;
        }
        self.unacked -= inc;
        Some(inc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_to_max_then_overflow() {
        let mut w = Window::new(65_535);
        assert!(w.adjust(i64::from(MAX_WINDOW) - 65_535).is_ok());
        assert_eq!(w.value(), i64::from(MAX_WINDOW));
        assert!(matches!(w.adjust(1), Err(Error::Overflow { .. })));
    }

    #[test]
    fn negative_after_settings_shrink() {
        let mut w = Window::new(100);
        w.spend(80);
        w.adjust(-50).expect("shrink");
        assert_eq!(w.value(), -30);
        assert_eq!(w.available(), 0);
    }

    #[test]
    fn receive_at_n_and_n_plus_1() {
        let mut w = Window::new(10);
        assert!(w.receive(10).is_ok());
        let mut w = Window::new(10);
        assert!(w.receive(11).is_err());
    }

    #[test]
    fn recv_window_credits_after_a_quarter() {
        let mut r = RecvWindow::new(100, 100);
        r.receive(24).expect("fits");
        assert_eq!(r.take_update(), None);
        r.receive(1).expect("fits");
        assert_eq!(r.take_update(), Some(25));
        // Growing from the default to a larger target credits the difference.
        let mut g = RecvWindow::new(65_535, 1 << 24);
        assert_eq!(g.take_update(), Some((1 << 24) - 65_535));
    }
}
