//! The gRPC server's metrics (issue 16): calls by method and status code,
//! call duration, calls in flight, message bytes each way.
//!
//! The method label is one of the runner's own methods or `other` (an
//! unknown `:path` is request text: it never becomes a label); the code is
//! one of the 17 named gRPC codes or `other`. Both are slot indexes, so a
//! call costs a few relaxed atomic adds, and nothing when metrics are off.

use std::time::Instant;

use super::health::{CHECK_PATH, LIST_PATH, WATCH_PATH};
use super::message::PREFIX_LEN;
use super::status::Code;
use crate::h2::io::Request;
use crate::metrics::{self, Counter, Encoder, Gauge, Histogram, Kind, Label};
use crate::proto::EVALUATE_PATH;

crate::label!(
    /// The methods a runner serves, by `:path`.
    pub(crate) enum Method: "method" {
        Evaluate = "/evaluator.FunctionEvaluator/EvaluateFunction",
        HealthCheck = "/grpc.health.v1.Health/Check",
        HealthList = "/grpc.health.v1.Health/List",
        HealthWatch = "/grpc.health.v1.Health/Watch",
        /// Any other path (answered UNIMPLEMENTED, or a test-only method).
        Other = "other",
    }
);

impl Method {
    /// The method of `path`; `Other` for a path the runner does not serve.
    fn of(path: &[u8]) -> Method {
        [
            (EVALUATE_PATH, Method::Evaluate),
            (CHECK_PATH, Method::HealthCheck),
            (LIST_PATH, Method::HealthList),
            (WATCH_PATH, Method::HealthWatch),
        ]
        .into_iter()
        .find_map(|(p, m)| (p.as_bytes() == path).then_some(m))
        .unwrap_or(Method::Other)
    }
}

/// Slots of the code label: the 17 named codes, then `other`.
const CODE_SLOTS: usize = 18;

fn code_slot(code: Code) -> usize {
    usize::try_from(code.0)
        .ok()
        .filter(|i| *i < CODE_SLOTS - 1)
        .unwrap_or(CODE_SLOTS - 1)
}

fn code_name(slot: usize) -> &'static str {
    u32::try_from(slot)
        .ok()
        .and_then(|c| Code(c).name())
        .unwrap_or(metrics::OTHER)
}

/// The server's families, by method.
struct ServerMetrics {
    calls: [[Counter; CODE_SLOTS]; Method::COUNT],
    duration: [Histogram<17>; Method::COUNT],
    in_flight: [Gauge; Method::COUNT],
    received_bytes: [Counter; Method::COUNT],
    sent_bytes: [Counter; Method::COUNT],
}

impl ServerMetrics {
    const fn new() -> Self {
        ServerMetrics {
            calls: [const { [const { Counter::new() }; CODE_SLOTS] }; Method::COUNT],
            duration: [const { Histogram::new(&metrics::CALL_BOUNDS) }; Method::COUNT],
            in_flight: [const { Gauge::new() }; Method::COUNT],
            received_bytes: [const { Counter::new() }; Method::COUNT],
            sent_bytes: [const { Counter::new() }; Method::COUNT],
        }
    }

    fn render(&self, enc: &mut Encoder) {
        const CALLS: &str = "fn_runner_grpc_server_calls_total";
        enc.family(
            CALLS,
            "gRPC calls served, by method and status code.",
            Kind::Counter,
        );
        for m in Method::ALL {
            for (slot, counter) in self.calls[m.index()].iter().enumerate() {
                let labels = [(Method::NAME, m.as_str()), ("code", code_name(slot))];
                enc.sample(CALLS, &labels, counter.get());
            }
        }
        const DURATION: &str = "fn_runner_grpc_server_call_duration_seconds";
        enc.family(
            DURATION,
            "Time from a call's request to its answer, by method.",
            Kind::Histogram,
        );
        enc.histograms_by(DURATION, |m: Method| &self.duration[m.index()]);
        per_method(
            enc,
            "fn_runner_grpc_server_calls_in_flight",
            "gRPC calls being served, by method.",
            Kind::Gauge,
            |i| self.in_flight[i].get().into(),
        );
        per_method(
            enc,
            "fn_runner_grpc_server_received_message_bytes_total",
            "Bytes of request messages received, by method.",
            Kind::Counter,
            |i| self.received_bytes[i].get().into(),
        );
        per_method(
            enc,
            "fn_runner_grpc_server_sent_message_bytes_total",
            "Bytes of response messages sent, by method.",
            Kind::Counter,
            |i| self.sent_bytes[i].get().into(),
        );
    }
}

/// One family with a sample per method, `value(slot)`.
fn per_method(
    enc: &mut Encoder,
    name: &str,
    help: &str,
    kind: Kind,
    value: impl Fn(usize) -> i128,
) {
    enc.family(name, help, kind);
    enc.samples_by(name, &[], |m: Method| Some(value(m.index())));
}

static SERVER: ServerMetrics = ServerMetrics::new();

/// Writes the gRPC server's families.
pub fn render(enc: &mut Encoder) {
    SERVER.render(enc);
}

/// How a call was answered: its status code and the response message
/// bytes sent (0 for a trailers-only answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    pub code: Code,
    pub sent_bytes: usize,
}

/// One call being served, as the server records it: in flight from
/// [`Call::start`] until it is finished or dropped (a request that is no
/// gRPC call is dropped unrecorded). Empty when metrics are off.
pub struct Call(Option<Started>);

struct Started {
    server: &'static ServerMetrics,
    method: Method,
    at: Instant,
}

impl Call {
    /// A call of `request` starts: counted in flight, its message bytes
    /// received.
    pub fn start(request: &Request) -> Call {
        Call::start_in(&SERVER, request)
    }

    fn start_in(server: &'static ServerMetrics, request: &Request) -> Call {
        if !metrics::is_enabled() {
            return Call(None);
        }
        let method = Method::of(request.fields.get(b":path").unwrap_or_default());
        let i = method.index();
        server.in_flight[i].inc();
        if let Ok(body) = &request.body {
            let message = body.len().saturating_sub(PREFIX_LEN);
            server.received_bytes[i].add(message as u64);
        }
        Call(Some(Started {
            server,
            method,
            at: Instant::now(),
        }))
    }

    /// The call was answered as `answered`.
    pub fn finish(mut self, answered: Answered) {
        if let Some(started) = self.0.take() {
            let (server, i) = (started.server, started.method.index());
            server.calls[i][code_slot(answered.code)].inc();
            server.duration[i].observe(started.at.elapsed());
            server.sent_bytes[i].add(answered.sent_bytes as u64);
            server.in_flight[i].dec();
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(started) = self.0.take() {
            started.server.in_flight[started.method.index()].dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::fields::HeaderList;

    fn request(path: &str, body: &[u8]) -> Request {
        Request {
            fields: HeaderList::from_fields(&[(b":method", b"POST"), (b":path", path.as_bytes())]),
            body: Ok(body.to_vec()),
        }
    }

    #[test]
    fn method_labels_are_the_served_paths() {
        assert_eq!(Method::Evaluate.as_str(), EVALUATE_PATH);
        assert_eq!(Method::HealthCheck.as_str(), CHECK_PATH);
        assert_eq!(Method::HealthList.as_str(), LIST_PATH);
        assert_eq!(Method::HealthWatch.as_str(), WATCH_PATH);
        assert_eq!(
            Method::of(b"/evaluator.FunctionEvaluator/EvaluateFunction"),
            Method::Evaluate
        );
        assert_eq!(Method::of(b"/x.Y/Z"), Method::Other);
    }

    #[test]
    fn codes_beyond_the_named_ones_are_other() {
        assert_eq!(code_name(code_slot(Code::OK)), "OK");
        assert_eq!(
            code_name(code_slot(Code::UNAUTHENTICATED)),
            "UNAUTHENTICATED"
        );
        assert_eq!(code_name(code_slot(Code(17))), "other");
        assert_eq!(code_name(code_slot(Code(u32::MAX))), "other");
    }

    #[test]
    fn a_call_is_counted_by_method_and_code_with_its_bytes() {
        static SERVER: ServerMetrics = ServerMetrics::new();
        let server = &SERVER;
        metrics::enable();
        let call = Call::start_in(server, &request(EVALUATE_PATH, &[0, 0, 0, 0, 3, 1, 2, 3]));
        assert_eq!(server.in_flight[Method::Evaluate.index()].get(), 1);
        call.finish(Answered {
            code: Code::NOT_FOUND,
            sent_bytes: 10,
        });
        let i = Method::Evaluate.index();
        assert_eq!(server.in_flight[i].get(), 0);
        assert_eq!(server.calls[i][code_slot(Code::NOT_FOUND)].get(), 1);
        assert_eq!(server.received_bytes[i].get(), 3);
        assert_eq!(server.sent_bytes[i].get(), 10);
        assert_eq!(server.duration[i].snapshot().count, 1);
        // An unknown path is `other`, never its text.
        let call = Call::start_in(server, &request("/evil\"path", b""));
        drop(Call::start_in(server, &request(CHECK_PATH, b"")));
        assert_eq!(
            server.in_flight[Method::HealthCheck.index()].get(),
            0,
            "a dropped call leaves"
        );
        call.finish(Answered {
            code: Code::UNIMPLEMENTED,
            sent_bytes: 0,
        });
        let mut enc = Encoder::new();
        server.render(&mut enc);
        let text = enc.finish();
        assert!(text.contains(
            "fn_runner_grpc_server_calls_total{method=\"other\",code=\"UNIMPLEMENTED\"} 1\n"
        ));
        assert!(!text.contains("evil"));
        assert!(text.contains(
            "fn_runner_grpc_server_call_duration_seconds_count{method=\"/evaluator.FunctionEvaluator/EvaluateFunction\"} 1\n"
        ));
    }
}
