//! The wrapper server's evaluator called directly.

use std::ffi::OsString;
use std::time::Duration;

use fn_runner::call::{CallContext, Interrupt};
use fn_runner::evaluator::{self, Evaluator};
use fn_runner::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use fn_runner::wrapper::WrapperEvaluator;

use crate::support::exec::function;

const IMAGE: &str = "example.com/fn/results:v1";

fn run(
    entrypoint: Vec<OsString>,
    input: &[u8],
) -> Result<EvaluateFunctionResponse, evaluator::Error> {
    run_with(entrypoint, input, &CallContext::background())
}

fn run_with(
    entrypoint: Vec<OsString>,
    input: &[u8],
    ctx: &CallContext,
) -> Result<EvaluateFunctionResponse, evaluator::Error> {
    let wrapper = WrapperEvaluator::new(entrypoint, 1 << 20).expect("an entrypoint");
    wrapper.evaluate(
        &mut EvaluateFunctionRequest {
            resource_list: input.to_vec(),
            image: IMAGE.to_owned(),
        },
        ctx,
    )
}

fn results_fn() -> Vec<OsString> {
    vec![function("results").into()]
}

fn failure(result: Result<EvaluateFunctionResponse, evaluator::Error>) -> String {
    match result {
        Err(evaluator::Error::FunctionFailed { message, .. }) => message,
        other => panic!("expected FunctionFailed, got {other:?}"),
    }
}

#[test]
fn success_with_structured_results() {
    let out = run(results_fn(), b"ok\n").expect("exit 0");
    let text = String::from_utf8(out.resource_list).expect("utf-8");
    assert!(
        text.contains("message: replicas must be positive"),
        "{text}"
    );
    assert_eq!(out.log, b"results: mode ok\n");
}

#[test]
fn non_zero_exit_with_results_has_the_exact_message() {
    let message = failure(run(results_fn(), b"fail\n"));
    assert_eq!(
        message,
        "failed to evaluate function \"example.com/fn/results:v1\" with structured results: \
         [error] apps/v1/Deployment/prod/app spec.replicas: replicas must be positive\n\n\
         [info]: checked 1 object and stderr: results: mode fail\n"
    );
}

#[test]
fn garbage_stdout_is_a_parse_error() {
    let message = failure(run(results_fn(), b"garbage\n"));
    let prefix = "failed to parse the output of function \"example.com/fn/results:v1\" \
                  with stderr 'it went wrong\n': failed to parse input bytes: ";
    assert!(message.starts_with(prefix), "{message}");
}

#[test]
fn exit_zero_with_severity_error_is_ok() {
    let out = run(results_fn(), b"ok-error\n").expect("still OK");
    assert!(String::from_utf8_lossy(&out.resource_list).contains("severity: error"));
}

#[test]
fn exit_zero_with_output_that_is_not_a_resource_list_fails() {
    let entrypoint = vec!["/bin/sh".into(), "-c".into(), "echo hello".into()];
    let message = failure(run(entrypoint, b""));
    assert!(
        message.starts_with(
            "failed to parse the output of function \"example.com/fn/results:v1\" with stderr '': "
        ),
        "{message}"
    );
}

#[test]
fn entrypoint_arguments_are_passed() {
    let entrypoint = vec!["/bin/sh".into(), "-c".into(), "cat; echo \"$0\" >&2".into()];
    let input = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n";
    let out = run(entrypoint, input).expect("runs");
    assert_eq!(out.resource_list, input);
    assert_eq!(out.log, b"/bin/sh\n");
}

#[test]
fn deadline_kills_the_function() {
    let ctx = CallContext::with_timeout(Duration::from_millis(500));
    let err = run_with(vec![function("sleep").into()], b"", &ctx).expect_err("deadline");
    assert!(matches!(
        err,
        evaluator::Error::Interrupted(Interrupt::DeadlineExceeded)
    ));
}

#[test]
fn empty_entrypoint_is_refused() {
    assert!(WrapperEvaluator::new(Vec::new(), 1000).is_none());
}
