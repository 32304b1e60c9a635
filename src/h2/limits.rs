//! Every bound of the HTTP/2 layer and the flood budgets, with where each
//! value comes from. design.md "Security rules" lists what must be bounded.
//! The buffer pool large bodies use is handed in here too: the connection
//! core holds no global.

use std::fmt;
use std::time::{Duration, Instant};

use crate::buffers;

/// The bounds one connection enforces on its peer and advertises in SETTINGS.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Our SETTINGS_MAX_FRAME_SIZE. 16 KiB is the RFC 9113 §6.5.2 default;
    /// larger frames buy little on loopback and 16 KiB bounds a read.
    pub max_frame_bytes: u32,
    /// Our SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113 §6.5.2 says
    /// (name + value + 32 per field). 64 KiB: gRPC metadata is small;
    /// grpc-go's own default is 16 MiB, far more than we want to hold.
    pub max_header_list_bytes: usize,
    /// Compressed header block bytes accepted before decoding (HEADERS plus
    /// CONTINUATIONs). Same as the list limit: HPACK never expands less.
    pub max_header_block_bytes: usize,
    /// CONTINUATION frames per header block. 32 x 16 KiB is the block limit
    /// with room to spare; more is the CONTINUATION flood (CVE-2024-27316).
    pub max_continuations: usize,
    /// Decoded header list bytes that one batch of the peer's frames (one
    /// read, 64 KiB) hands up at most; the rest of the read waits for the
    /// next batch. HPACK indexing decodes ~150 wire bytes into a 61 KB
    /// list, so a 64 KiB read could otherwise hold ~45 MB of lists at once
    /// before any is refused (issue 11 item 5). 1 MiB: 16 lists at the
    /// limit, ~3,000 gRPC requests of ~300 bytes.
    pub max_header_bytes_per_batch: usize,
    /// Our SETTINGS_MAX_CONCURRENT_STREAMS. 256: porch-server multiplexes its
    /// evaluations on one connection; each stream may buffer a message.
    pub max_concurrent_streams: u32,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the RFC 7541 default, 4 KiB.
    pub header_table_bytes: usize,
    /// The HPACK table we use when encoding, at most, whatever the peer allows.
    pub encoder_table_bytes: usize,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE and connection window: 16 MiB, so a
    /// 6 MB message flows without waiting for a WINDOW_UPDATE round trip.
    pub initial_window_bytes: u32,
    pub connection_window_bytes: u32,
    /// Time for a new connection to complete the preface and SETTINGS,
    /// however it trickles its bytes (`--handshake-timeout`); a peer that
    /// connects and stays silent would otherwise hold its two threads
    /// forever. 10 s: far above any real handshake (one round trip).
    pub handshake_timeout: Duration,
    /// The peer must take at least [`MIN_SEND_PROGRESS_BYTES`] of what we
    /// have for it (or all of it) every `send_timeout`, both at the socket
    /// (a peer that does not read) and at its flow-control windows (a
    /// peer that keeps them closed, or opens them a byte at a time): else
    /// the connection is closed. A responder also waits at most this long
    /// for room in [`max_pending_send_bytes`](Self::max_pending_send_bytes).
    /// 30 s (`--send-timeout`): a live peer reads far sooner; a slower one
    /// still passes at 2 KiB/s. A stalled peer would otherwise pin worker
    /// threads and memory (issue 11 items 1, 4).
    pub send_timeout: Duration,
    /// Our encoded output not yet written to the socket (the writer's batch
    /// included) above which the reader stops reading from the peer until
    /// the writer catches up: a peer that does not read what we owe it
    /// cannot make us queue more (issue 11 item 1: answers to a
    /// never-reading client grew to 4.2 GB). 1 MiB: four times what a busy
    /// connection holds (DATA is encoded 256 KiB at a time); a peer that
    /// reads never meets it. One read (64 KiB) can add up to ~8 times its
    /// size in answers before the reader stops.
    pub max_output_bytes: usize,
    /// Our DATA waiting for the peer's flow-control windows above which
    /// responders wait (at most [`send_timeout`](Self::send_timeout), then
    /// their stream is reset). 64 MiB: ten 6 MiB answers.
    pub max_pending_send_bytes: usize,
    /// A connection with no open stream for this long is closed (GOAWAY
    /// NO_ERROR, then both directions), so it holds no threads. `None`:
    /// never. Servers: 5 min (`--idle-timeout`), far above the gaps between
    /// porch-server's calls in a busy cluster; a closed connection costs it
    /// one reconnect (grpc-go servers' MaxConnectionIdle does the same).
    /// The gRPC client sets its own, `grpc::client::IDLE_TIMEOUT`.
    pub idle_timeout: Option<Duration>,
    /// A request (a stream the peer opened) whose headers and body have not
    /// all arrived this long after its HEADERS is reset (CANCEL), and what
    /// it held is freed (issue 11 items 5, 6: unfinished requests were
    /// kept forever). 60 s (`--read-timeout`): a 6 MB body at 100 KB/s.
    pub read_timeout: Duration,
    /// What the requests of one connection not yet handed to the service
    /// may hold: their decoded header lists and the body bytes received so
    /// far (buffer capacity). Over it, a new stream is refused
    /// (REFUSED_STREAM) and a growing body's stream reset
    /// (ENHANCE_YOUR_CALM). Header lists: 1 MiB, 16 lists at the 64 KiB
    /// limit, where porch-server's requests carry ~300 bytes each (HPACK
    /// indexing made a 61 KB list cost ~150 wire bytes: 8.3 MB sent
    /// pinned 3.26 GB). Bodies: 64 MiB, ten 6 MiB requests arriving at
    /// once (porch-server sends four); never less than one request of
    /// the largest size the service takes.
    pub request_bytes_per_connection: RequestBytes,
    /// The same for all connections of a server together: header lists
    /// 32 MiB, bodies 256 MiB (four connections at their bound; 1024
    /// connections could hold 64 GiB otherwise), never less than one
    /// request of the largest size.
    pub request_bytes_per_server: RequestBytes,
    /// Connections one server holds at most (each costs two threads):
    /// 1024 (`--max-connections`); porch-server uses one, probes one each.
    /// At the limit the longest-idle one is closed to make room.
    pub max_connections: usize,
    /// Peer RST_STREAM frames (rapid reset, CVE-2023-44487).
    pub reset_budget: BudgetConfig,
    /// SETTINGS frames from the peer.
    pub settings_budget: BudgetConfig,
    /// PING frames from the peer.
    pub ping_budget: BudgetConfig,
    /// Empty DATA/HEADERS/CONTINUATION frames, PRIORITY, unknown frames.
    pub empty_frame_budget: BudgetConfig,
    /// Streams we reset because the peer broke a rule of the stream (a
    /// WINDOW_UPDATE overflowing its window, a malformed header list, a
    /// stream over our limit, ...): the peer spends nothing else on them,
    /// and work we started for the stream may go on after the reset
    /// (MadeYouReset, CVE-2025-8671).
    pub stream_error_budget: BudgetConfig,
    /// Where a large received body's buffer comes from, and where a large
    /// sent body's buffer goes back (`crate::buffers`). Defaults to one
    /// that keeps nothing; a server hands in the pool its calls share.
    pub buffers: buffers::Pool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 16_384,
            max_header_list_bytes: 64 * 1024,
            max_header_block_bytes: 64 * 1024,
            max_continuations: 32,
            max_header_bytes_per_batch: 1 << 20,
            max_concurrent_streams: 256,
            header_table_bytes: 4096,
            encoder_table_bytes: 4096,
            initial_window_bytes: 16 << 20,
            connection_window_bytes: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            max_output_bytes: 1 << 20,
            max_pending_send_bytes: 64 << 20,
            idle_timeout: Some(Duration::from_secs(5 * 60)),
            read_timeout: Duration::from_secs(60),
            request_bytes_per_connection: RequestBytes {
                header_bytes: 1 << 20,
                body_bytes: 64 << 20,
            },
            request_bytes_per_server: RequestBytes {
                header_bytes: 32 << 20,
                body_bytes: 256 << 20,
            },
            max_connections: 1024,
            // Bursts a legitimate peer never reaches; refilled per second and
            // by completed streams (useful work). Values follow the spirit of
            // hyperium/h2's defaults (max_pending_accept_reset_streams 20,
            // local reset limit 1024 per 30 s).
            reset_budget: BudgetConfig {
                name: "RST_STREAM",
                burst: 500,
                per_second: 100,
            },
            settings_budget: BudgetConfig {
                name: "SETTINGS",
                burst: 100,
                per_second: 10,
            },
            ping_budget: BudgetConfig {
                name: "PING",
                burst: 500,
                per_second: 50,
            },
            empty_frame_budget: BudgetConfig {
                name: "empty frame",
                burst: 1000,
                per_second: 100,
            },
            // A well-behaved peer provokes none; hyperium/h2 allows 1024
            // per connection in all (max_local_error_reset_streams). Ours
            // refills, like the others.
            stream_error_budget: BudgetConfig {
                name: "stream error",
                burst: 100,
                per_second: 10,
            },
            buffers: buffers::Pool::unpooled(),
        }
    }
}

/// Bytes that requests not yet handed to the service may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBytes {
    /// Decoded header lists.
    pub header_bytes: usize,
    /// Body bytes received (the capacity of their buffers).
    pub body_bytes: usize,
}

/// What the peer must take of our output per `Limits::send_timeout`: the
/// RFC 9113 §6.9.2 default window, 64 KiB. A byte now and then (a 1-byte
/// WINDOW_UPDATE every 20 s) does not count as progress.
pub(crate) const MIN_SEND_PROGRESS_BYTES: usize = 64 * 1024;

/// Log lines about stream resets, per connection: a peer that resets (or
/// makes us reset) streams by the thousand must not flood the log (issue
/// 11: 228 MB in 5 s from one connection). 20 lines, then one a second.
pub(crate) const RESET_LOG_PER_CONNECTION: BudgetConfig = BudgetConfig {
    name: "reset log lines (connection)",
    burst: 20,
    per_second: 1,
};

/// Log lines about stream resets, for all connections of the process
/// together (many connections, each within its own budget): 200 lines,
/// then ten a second.
pub(crate) const RESET_LOG_PER_PROCESS: BudgetConfig = BudgetConfig {
    name: "reset log lines (process)",
    burst: 200,
    per_second: 10,
};

/// Log lines of a server's acceptor (a connection closed to make room at
/// the connection limit, or refused; one it could not start threads for)
/// and of a worker pool that cannot start a thread: events a flood of
/// connections or calls repeats. 20, then one a second, each budget.
pub(crate) const EVENT_LOG_LINES: BudgetConfig = BudgetConfig {
    name: "event log lines",
    burst: 20,
    per_second: 1,
};

/// The size of a flood budget.
#[derive(Debug, Clone, Copy)]
pub struct BudgetConfig {
    /// What the budget limits, for the GOAWAY debug data.
    pub name: &'static str,
    /// Tokens when full.
    pub burst: u32,
    /// Tokens added back per second.
    pub per_second: u32,
}

/// A token bucket for cheap peer actions. Spending past zero is a flood.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    config: BudgetConfig,
    tokens: f64,
    last: Instant,
}

/// A peer overspent a flood budget: GOAWAY ENHANCE_YOUR_CALM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    pub name: &'static str,
    pub burst: u32,
    pub per_second: u32,
}

impl fmt::Display for Flood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} flood: more than {} in a burst (refill {}/s)",
            self.name, self.burst, self.per_second
        )
    }
}

impl std::error::Error for Flood {}

impl Budget {
    /// A full budget.
    pub fn new(config: BudgetConfig) -> Budget {
        Budget {
            config,
            tokens: f64::from(config.burst),
            last: Instant::now(),
        }
    }

    /// Spends one token.
    pub fn spend(&mut self) -> Result<(), Flood> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.config.per_second))
            .min(f64::from(self.config.burst));
        if self.tokens < 1.0 {
            return Err(Flood {
                name: self.config.name,
                burst: self.config.burst,
                per_second: self.config.per_second,
            });
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// Gives back `n` tokens for useful work (a stream completed).
    pub(crate) fn refund(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(f64::from(self.config.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_at_n_and_n_plus_1() {
        let config = BudgetConfig {
            name: "PING",
            burst: 10,
            per_second: 0,
        };
        let mut b = Budget::new(config);
        for _ in 0..10 {
            b.spend().expect("within burst");
        }
        let flood = b.spend().expect_err("over burst");
        assert_eq!(
            flood.to_string(),
            "PING flood: more than 10 in a burst (refill 0/s)"
        );
        b.refund(1);
        assert!(b.spend().is_ok());
    }
}
