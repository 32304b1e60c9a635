//! `cargo bench --bench metrics`: what recording costs on the serving
//! paths (issue 16), in nanoseconds per event on one thread, metrics off
//! and on, and what one scrape costs. Compare with the CPU of a call
//! (README "Performance": about 8 us per health Check, an exec evaluation
//! about a millisecond).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use fn_runner::evaluator::metrics::{evaluated, pod, Runtime};
use fn_runner::grpc::metrics::{Answered, Call};
use fn_runner::grpc::Code;
use fn_runner::h2::fields::HeaderList;
use fn_runner::h2::io::Request;
use fn_runner::proto::{EvaluateFunctionResponse, EVALUATE_PATH};

const EVENTS: u32 = 2_000_000;

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("metrics: skipped (run `cargo bench --bench metrics`)");
        return;
    }
    let request = Arc::new(Request {
        fields: HeaderList::from_fields(&[
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", EVALUATE_PATH.as_bytes()),
        ]),
        body: Ok(vec![0; 1029]),
    });
    let answered = Answered {
        code: Code::OK,
        sent_bytes: 1024,
    };
    let grpc_call = {
        let request = Arc::clone(&request);
        move || Call::start(&request).finish(answered)
    };
    let result: Result<EvaluateFunctionResponse, _> = Ok(EvaluateFunctionResponse::default());
    let started = Instant::now();
    let evaluation = move || evaluated(Runtime::Exec, &result, started);

    println!("| event | metrics off (ns) | metrics on (ns) |");
    println!("|---|---|---|");
    let off_call = per_event(&grpc_call);
    let off_eval = per_event(&evaluation);
    fn_runner::metrics::enable();
    let image = pod::pod_image("example.com/fn/bench:v1");
    let warm = move || image.call_served(pod::Start::Warm);
    row("gRPC call recorded (start + finish)", off_call, &grpc_call);
    row("exec evaluation recorded", off_eval, &evaluation);
    row("pod call served (warm)", 0.0, &warm);
    let clock = || {
        black_box(Instant::now());
    };
    row("for scale: Instant::now()", 0.0, &clock);

    let scrapes = 200;
    let begun = Instant::now();
    let mut bytes = 0;
    for _ in 0..scrapes {
        bytes = black_box(fn_runner::exporter::render()).len();
    }
    println!(
        "\na scrape (render, {bytes} bytes): {:.0} us",
        begun.elapsed().as_secs_f64() * 1e6 / f64::from(scrapes)
    );
}

fn row(what: &str, off: f64, event: &impl Fn()) {
    let on = per_event(event);
    let off = if off > 0.0 {
        format!("{off:.1}")
    } else {
        "-".to_owned()
    };
    println!("| {what} | {off} | {on:.1} |");
}

/// Nanoseconds per call of `event`.
fn per_event(event: &impl Fn()) -> f64 {
    let begun = Instant::now();
    for _ in 0..EVENTS {
        event();
    }
    begun.elapsed().as_secs_f64() * 1e9 / f64::from(EVENTS)
}
