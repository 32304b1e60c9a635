//! Loopback IPs for simulated pods (all of 127.0.0.0/8 is local on Linux),
//! unique even between test processes running at the same time on one
//! machine (engineers run the suite in several worktrees at once).
//!
//! A candidate IP is taken only when
//! 1. this process can bind UDP `IP:9446` and keeps that socket as a lease
//!    for the life of the pod: the kernel gives a UDP address to one
//!    socket only, so two processes of this harness never hold the same
//!    IP (nothing else uses UDP 9446);
//! 2. TCP `IP:9446` is free at that moment: catches any other listener
//!    there (an older harness, a stray server).
//!
//! Candidates start at a random place in 127.1.0.1 - 127.254.255.254 (so
//! 127.0.0.x stays for humans) and go up from there; this process never
//! hands out the same IP twice.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The port every function pod serves (compat §4.2 `--port 9446`).
pub const POD_PORT: u16 = 9446;

/// How many candidates one allocation tries before giving up (our choice:
/// a machine would need thousands of live pods to exhaust it).
const MAX_TRIES: u32 = 10_000;

/// Hosts per second octet: third octet 0-255, fourth 1-254.
const PER_SECOND_OCTET: u32 = 256 * 254;
/// Candidates in 127.1.0.1 - 127.254.255.254.
const CANDIDATES: u32 = 254 * PER_SECOND_OCTET;

/// A pod IP leased to this process until dropped.
#[derive(Debug)]
pub struct PodIp {
    ip: Ipv4Addr,
    /// Held, never read: the lease (see the module doc).
    _lease: UdpSocket,
}

impl PodIp {
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// A free pod IP, leased until the value is dropped.
    pub fn allocate() -> PodIp {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static BASE: OnceLock<u32> = OnceLock::new();
        let base = *BASE.get_or_init(random_u32);
        let candidates = std::iter::repeat_with(|| {
            candidate(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
        });
        match first_free(candidates.take(MAX_TRIES as usize)) {
            Some(ip) => ip,
            None => panic!("no free loopback IP for a pod after {MAX_TRIES} tries"),
        }
    }
}

/// The `n`th candidate (modulo their number).
fn candidate(n: u32) -> Ipv4Addr {
    let n = n % CANDIDATES;
    let second = 1 + n / PER_SECOND_OCTET;
    let third = (n % PER_SECOND_OCTET) / 254;
    let fourth = 1 + n % 254;
    Ipv4Addr::new(
        127,
        u8::try_from(second).expect("1..=254"),
        u8::try_from(third).expect("0..=255"),
        u8::try_from(fourth).expect("1..=254"),
    )
}

/// The first candidate that can be leased and whose TCP port is free.
fn first_free(candidates: impl Iterator<Item = Ipv4Addr>) -> Option<PodIp> {
    for ip in candidates {
        let Ok(lease) = UdpSocket::bind((ip, POD_PORT)) else {
            continue;
        };
        if TcpListener::bind((ip, POD_PORT)).is_ok() {
            return Some(PodIp { ip, _lease: lease });
        }
    }
    None
}

fn random_u32() -> u32 {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 4];
    ring::rand::SystemRandom::new().fill(&mut b).expect("rng");
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_stay_in_range() {
        assert_eq!(candidate(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(candidate(253), Ipv4Addr::new(127, 1, 0, 254));
        assert_eq!(candidate(254), Ipv4Addr::new(127, 1, 1, 1));
        assert_eq!(candidate(CANDIDATES - 1), Ipv4Addr::new(127, 254, 255, 254));
        assert_eq!(candidate(CANDIDATES), candidate(0));
        assert_eq!(candidate(u32::MAX), candidate(u32::MAX % CANDIDATES));
    }

    #[test]
    fn skips_ips_leased_or_listened_on() {
        let leased = PodIp::allocate();
        // Another program's server on a candidate.
        let busy = PodIp::allocate();
        let busy_ip = busy.ip();
        drop(busy);
        let _server = TcpListener::bind((busy_ip, POD_PORT)).expect("listen");
        let free = PodIp::allocate();
        let free_ip = free.ip();
        drop(free);
        assert_ne!(leased.ip(), busy_ip);
        let got = first_free([leased.ip(), busy_ip, free_ip].into_iter()).expect("one is free");
        assert_eq!(got.ip(), free_ip);
    }
}
