//! The process's own metrics under the standard names (Prometheus'
//! client_golang process collector, which dashboards and alerts expect):
//! `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, plus `process_threads`. Read from /proc
//! at each scrape (proc(5)); a file that cannot be read leaves its metrics
//! out of that scrape rather than failing it.

use std::fs;

use super::text::{Encoder, Kind};

/// Writes the process families for this process.
pub fn render(enc: &mut Encoder) {
    let ticks = crate::sys::clock_ticks_per_second() as f64;
    let stat = fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| Stat::parse(&t));
    if let Some(stat) = &stat {
        let cpu = (stat.utime_ticks.saturating_add(stat.stime_ticks)) as f64 / ticks;
        family_f64(
            enc,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            Kind::Counter,
            cpu,
        );
    }
    let status = fs::read_to_string("/proc/self/status").ok();
    if let Some(rss) = status.as_deref().and_then(|s| status_kib(s, "VmRSS")) {
        family(
            enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss.saturating_mul(1024),
        );
    }
    if let Some(stat) = &stat {
        family(
            enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            stat.vsize_bytes,
        );
        family(
            enc,
            "process_threads",
            "Number of OS threads in the process.",
            stat.threads,
        );
    }
    if let Ok(fds) = fs::read_dir("/proc/self/fd") {
        // The directory's own descriptor, open while it is read, is not counted.
        let open = fds.count().saturating_sub(1);
        family(
            enc,
            "process_open_fds",
            "Number of open file descriptors.",
            open as u64,
        );
    }
    let limits = fs::read_to_string("/proc/self/limits").ok();
    if let Some(max) = limits.as_deref().and_then(max_open_files) {
        family(
            enc,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    let boot = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| boot_time_seconds(&t));
    if let (Some(stat), Some(boot)) = (&stat, boot) {
        let start = boot as f64 + stat.start_ticks as f64 / ticks;
        family_f64(
            enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Kind::Gauge,
            start,
        );
    }
}

fn family(enc: &mut Encoder, name: &str, help: &str, value: u64) {
    enc.family(name, help, Kind::Gauge);
    enc.sample(name, &[], value);
}

fn family_f64(enc: &mut Encoder, name: &str, help: &str, kind: Kind, value: f64) {
    enc.family(name, help, kind);
    enc.sample_f64(name, &[], value);
}

/// The fields of /proc/self/stat we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    threads: u64,
    /// Since boot.
    start_ticks: u64,
    vsize_bytes: u64,
}

impl Stat {
    /// proc(5): `pid (comm) state ppid ...`; `comm` may hold spaces and
    /// parentheses, so fields are counted from the last `)`. Fields 14, 15
    /// (utime, stime), 20 (num_threads), 22 (starttime), 23 (vsize).
    fn parse(text: &str) -> Option<Stat> {
        let (_, rest) = text.rsplit_once(')')?;
        // rest starts at field 3 (state).
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Option<u64> { fields.get(n.checked_sub(3)?)?.parse().ok() };
        Some(Stat {
            utime_ticks: field(14)?,
            stime_ticks: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize_bytes: field(23)?,
        })
    }
}

/// A `Key:   N kB` line of /proc/self/status.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The soft limit of `Max open files` in /proc/self/limits.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `btime` of /proc/stat: boot time, seconds since the epoch.
fn boot_time_seconds(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let text = "4242 (fn (runner) x) S 1 4242 4242 0 -1 4194560 600 0 0 0 \
                    17 5 0 0 20 0 9 0 123456 10485760 812 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            Stat::parse(text),
            Some(Stat {
                utime_ticks: 17,
                stime_ticks: 5,
                threads: 9,
                start_ticks: 123456,
                vsize_bytes: 10485760,
            })
        );
        assert_eq!(Stat::parse("4242 (x) S 1"), None);
        assert_eq!(Stat::parse("no parenthesis"), None);
    }

    #[test]
    fn parses_status_limits_and_boot_time() {
        assert_eq!(
            status_kib("Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t3\n", "VmRSS"),
            Some(2048)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(max_open_files(limits), Some(20000));
        assert_eq!(
            boot_time_seconds("cpu  1 2 3\nbtime 1764990000\nprocesses 5\n"),
            Some(1764990000)
        );
    }

    #[test]
    fn renders_this_process() {
        let mut enc = Encoder::new();
        render(&mut enc);
        let text = enc.finish();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_threads",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{name} ")), "{name} in:\n{text}");
        }
    }
}
