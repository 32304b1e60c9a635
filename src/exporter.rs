//! The Prometheus exporter of `serve` and `wrapper-server` (issue 16),
//! configured as Porch configures its Go runner: the standard OpenTelemetry
//! variables, or our `-metrics-address` flag.
//!
//! ```text
//!   -metrics-address HOST:PORT ................................ on, there
//!   OTEL_METRICS_EXPORTER=prometheus
//!       OTEL_EXPORTER_PROMETHEUS_HOST (0.0.0.0), _PORT (9464) .. on, there
//!   OTEL_METRICS_EXPORTER=otlp, none, ... ...................... one warning: only
//!                                                                `prometheus` is supported
//!   neither ..................................................... off (nothing recorded)
//! ```
//!
//! The flag wins over the variables. A malformed host or port in the
//! variables is a warning and leaves metrics off (variables are set for a
//! whole Deployment; a metrics typo must not stop the runner); a flag that
//! does not parse is a usage error, and an address that cannot be bound
//! fails the start, like the gRPC port.
//!
//! What a scrape returns is assembled here, the one place that knows
//! every layer's metrics ([`render`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use crate::metrics::{self, Encoder, Endpoint, EndpointConfig, Kind};

/// Which exporters to run (OpenTelemetry SDK configuration: a comma list).
pub(crate) const EXPORTER_ENV: &str = "OTEL_METRICS_EXPORTER";
/// The Prometheus exporter's listen host.
pub(crate) const HOST_ENV: &str = "OTEL_EXPORTER_PROMETHEUS_HOST";
/// The Prometheus exporter's listen port.
pub(crate) const PORT_ENV: &str = "OTEL_EXPORTER_PROMETHEUS_PORT";
/// Default host when [`HOST_ENV`] is unset: all IPv4 interfaces (what
/// Porch's Deployment sets; the OpenTelemetry default, `localhost`, would
/// not be scrapable from another pod).
pub(crate) const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Default port when [`PORT_ENV`] is unset (OpenTelemetry's).
pub(crate) const DEFAULT_PORT: u16 = 9464;

/// Where the endpoint listens, if anywhere, and what to warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub address: Option<SocketAddr>,
    /// Log lines for the operator (at most one per cause).
    pub warnings: Vec<String>,
}

/// Decides from the `-metrics-address` value `flag` and the variables
/// `env` gives (`None`: unset).
pub(crate) fn plan(flag: Option<SocketAddr>, env: impl Fn(&str) -> Option<String>) -> Plan {
    let mut warnings = Vec::new();
    let exporters = env(EXPORTER_ENV).unwrap_or_default();
    let mut prometheus = false;
    let mut others = Vec::new();
    for name in exporters
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if name.eq_ignore_ascii_case("prometheus") {
            prometheus = true;
        } else {
            others.push(name);
        }
    }
    if !others.is_empty() {
        warnings.push(format!(
            "{EXPORTER_ENV}={exporters:?}: only the prometheus exporter is supported; ignoring {}",
            others.join(", ")
        ));
    }
    if flag.is_some() {
        return Plan {
            address: flag,
            warnings,
        };
    }
    if !prometheus {
        return Plan {
            address: None,
            warnings,
        };
    }
    let host = env(HOST_ENV).unwrap_or_default();
    let port = env(PORT_ENV).unwrap_or_default();
    let ip = match host.as_str() {
        "" => Some(DEFAULT_HOST),
        given => parse_host(given),
    };
    let port_number = match port.as_str() {
        "" => Some(DEFAULT_PORT),
        given => given.parse::<u16>().ok(),
    };
    let address = match (ip, port_number) {
        (Some(ip), Some(port)) => Some(SocketAddr::from((ip, port))),
        _ => {
            warnings.push(format!(
                "{HOST_ENV}={host:?}, {PORT_ENV}={port:?}: not an IP address and a port (such \
                 as 0.0.0.0 and 9464); metrics are off"
            ));
            None
        }
    };
    Plan { address, warnings }
}

/// An IP literal (IPv6 with or without brackets), or `localhost` for the
/// loopback address: no name lookup, as for `--bind-address`.
fn parse_host(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Starts the endpoint `flag` and the process environment ask for (see
/// the module doc), with the warnings and the line saying where it
/// listens; `None` when metrics are off. Call it before the runtimes
/// start (their metrics are recorded from then on) and after the
/// shutdown signals are blocked (it starts a thread).
pub fn start(flag: Option<SocketAddr>) -> io::Result<Option<Endpoint>> {
    let plan = plan(flag, |name| std::env::var(name).ok());
    for warning in &plan.warnings {
        crate::warn!("{warning}");
    }
    let Some(address) = plan.address else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("metrics endpoint: listen on {address}: {e}"),
        )
    })?;
    metrics::enable();
    let endpoint = Endpoint::start(listener, EndpointConfig::default(), Arc::new(render))?;
    crate::info!(
        "serving Prometheus metrics on http://{}/metrics",
        endpoint.local_addr()
    );
    Ok(Some(endpoint))
}

/// One scrape: every layer's families, the process's, the endpoint's own.
pub fn render() -> String {
    let mut enc = Encoder::new();
    const BUILD: &str = "fn_runner_build_info";
    enc.family(
        BUILD,
        "Always 1; the version of the running binary as a label.",
        Kind::Gauge,
    );
    enc.sample(BUILD, &[("version", env!("CARGO_PKG_VERSION"))], 1u64);
    crate::grpc::metrics::render(&mut enc);
    crate::evaluator::metrics::render(&mut enc);
    crate::kube::metrics::render(&mut enc);
    crate::registry::metrics::render(&mut enc);
    metrics::render_endpoint(&mut enc);
    metrics::procfs::render(&mut enc);
    enc.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn plan_with(flag: Option<&str>, vars: &[(&str, &str)]) -> Plan {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        plan(flag.map(|f| f.parse().expect("address")), |k| {
            vars.get(k).cloned()
        })
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("address"))
    }

    #[test]
    fn off_without_flag_or_prometheus() {
        assert_eq!(
            plan_with(None, &[]),
            Plan {
                address: None,
                warnings: vec![]
            }
        );
    }

    #[test]
    fn porchs_deployment_variables_turn_it_on() {
        let p = plan_with(
            None,
            &[
                (EXPORTER_ENV, "prometheus"),
                (HOST_ENV, "0.0.0.0"),
                (PORT_ENV, "9464"),
            ],
        );
        assert_eq!(p.address, addr("0.0.0.0:9464"));
        assert!(p.warnings.is_empty());
        // Host and port default to 0.0.0.0:9464.
        assert_eq!(
            plan_with(None, &[(EXPORTER_ENV, "prometheus")]).address,
            addr("0.0.0.0:9464")
        );
        let p = plan_with(
            None,
            &[
                (EXPORTER_ENV, "prometheus"),
                (HOST_ENV, "[::1]"),
                (PORT_ENV, "0"),
            ],
        );
        assert_eq!(p.address, addr("[::1]:0"));
        let p = plan_with(
            None,
            &[(EXPORTER_ENV, "prometheus"), (HOST_ENV, "localhost")],
        );
        assert_eq!(p.address, addr("127.0.0.1:9464"));
    }

    #[test]
    fn other_exporters_are_one_warning_and_the_runner_goes_on() {
        for value in ["otlp", "none", "console,otlp"] {
            let p = plan_with(None, &[(EXPORTER_ENV, value)]);
            assert_eq!(p.address, None, "{value}");
            assert_eq!(p.warnings.len(), 1, "{value}: {:?}", p.warnings);
            assert!(
                p.warnings[0].contains("only the prometheus exporter is supported"),
                "{:?}",
                p.warnings
            );
        }
        let p = plan_with(None, &[(EXPORTER_ENV, "prometheus,otlp")]);
        assert_eq!(p.address, addr("0.0.0.0:9464"));
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].ends_with("ignoring otlp"), "{:?}", p.warnings);
    }

    #[test]
    fn the_flag_wins_over_the_variables() {
        let p = plan_with(
            Some("127.0.0.1:9999"),
            &[(EXPORTER_ENV, "prometheus"), (PORT_ENV, "1")],
        );
        assert_eq!(p.address, addr("127.0.0.1:9999"));
        let p = plan_with(Some("127.0.0.1:9999"), &[(EXPORTER_ENV, "otlp")]);
        assert_eq!(p.address, addr("127.0.0.1:9999"));
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn bad_variables_are_a_warning_and_metrics_stay_off() {
        for (host, port) in [
            ("metrics.example", "9464"),
            ("0.0.0.0", "99999"),
            ("0.0.0.0", "x"),
        ] {
            let p = plan_with(
                None,
                &[
                    (EXPORTER_ENV, "prometheus"),
                    (HOST_ENV, host),
                    (PORT_ENV, port),
                ],
            );
            assert_eq!(p.address, None, "{host} {port}");
            assert_eq!(p.warnings.len(), 1);
            assert!(
                p.warnings[0].contains("metrics are off"),
                "{:?}",
                p.warnings
            );
        }
    }

    #[test]
    fn a_scrape_has_every_layer() {
        let text = render();
        for family in [
            "fn_runner_build_info",
            "fn_runner_grpc_server_calls_total",
            "fn_runner_evaluations_total",
            "fn_runner_pods_deleted_total",
            "fn_runner_kube_watch_restarts_total",
            "fn_runner_registry_resolutions_total",
            "fn_runner_metrics_requests_total",
            "process_resident_memory_bytes",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
