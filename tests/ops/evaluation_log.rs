//! The evaluation log (issue 14): one klog line per evaluation at the
//! default verbosity, naming the image, the runtime that answered, the
//! time and the outcome; failures as warnings; a failed function's stderr
//! only at a higher verbosity; never the ResourceList. The wrapper server
//! writes the same line.

use std::time::Duration;

use super::serve;
use crate::support::loglines::LogLines;
use crate::support::pods::evaluate::{connect, evaluate};

const WAIT: Duration = Duration::from_secs(30);
/// In every ResourceList sent: must never reach the log.
const MARKER: &str = "resourcelist-content-never-logged";

fn input() -> Vec<u8> {
    format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n# {MARKER}\n")
        .into_bytes()
}

/// The line of call `n`'s end, waited for.
fn end_line(log: &LogLines, n: u64) -> String {
    let prefix = format!("] call {n}: evaluated ");
    log.wait_for(WAIT, |l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("no end line for call {n}:\n{}", log.text()))
        .text
}

#[test]
fn one_line_per_evaluation_at_the_default_verbosity() {
    let server = serve(&[]);
    let client = connect(&server.addr);
    evaluate(&client, "example.com/fn/cat:v1", &input(), Some(WAIT)).expect("cat");
    evaluate(&client, "example.com/fn/fail:v1", &input(), Some(WAIT)).expect_err("fail");
    evaluate(&client, "example.com/fn/none:v1", &input(), Some(WAIT)).expect_err("unknown");
    evaluate(
        &client,
        "example.com/fn/sleep:v1",
        &input(),
        Some(Duration::from_millis(200)),
    )
    .expect_err("deadline");

    let log = server.log_lines();
    let ok = end_line(log, 1);
    assert!(ok.starts_with('I'), "{ok}");
    let bytes = input().len();
    assert!(
        ok.contains("call 1: evaluated \"example.com/fn/cat:v1\" with exec in ")
            && ok.ends_with(&format!(": ok, {bytes} bytes out")),
        "{ok}"
    );
    let failed = end_line(log, 2);
    assert!(failed.starts_with('W'), "a failure is a warning: {failed}");
    assert!(
        failed.contains("call 2: evaluated \"example.com/fn/fail:v1\" with exec in ")
            && failed.ends_with(": function failed: exit status 1"),
        "{failed}"
    );
    let unknown = end_line(log, 3);
    assert!(
        unknown.starts_with('W')
            && unknown.contains("call 3: evaluated \"example.com/fn/none:v1\" in ")
            && unknown.ends_with(": no runtime knows the image"),
        "{unknown}"
    );
    let late = end_line(log, 4);
    // The server's deadline and the client's cancel at that deadline come
    // together: whichever reaches the call first is its outcome.
    assert!(
        late.starts_with('W')
            && late.contains("call 4: evaluated \"example.com/fn/sleep:v1\" with exec in ")
            && (late.ends_with(": deadline exceeded") || late.ends_with(": call cancelled")),
        "{late}"
    );

    let text = server.log();
    assert!(
        !text.contains("evaluating"),
        "no start line at -v 2:\n{text}"
    );
    assert!(!text.contains("set-nothing"), "no stderr at -v 2:\n{text}");
    assert!(!text.contains(MARKER), "never the ResourceList:\n{text}");
}

#[test]
fn a_failed_functions_stderr_at_a_higher_verbosity() {
    let server = serve(&["--log-level", "3"]);
    let client = connect(&server.addr);
    evaluate(&client, "example.com/fn/fail:v1", &input(), Some(WAIT)).expect_err("fail");
    let stderr = server
        .log_lines()
        .wait_for(WAIT, |l| l.contains("call 1: stderr of "))
        .unwrap_or_else(|| panic!("no stderr line:\n{}", server.log()))
        .text;
    assert!(
        stderr.ends_with(
            "call 1: stderr of \"example.com/fn/fail:v1\" (44 bytes): \
             \"set-nothing: the function failed on purpose\\n\""
        ),
        "{stderr}"
    );
    let text = server.log();
    assert!(
        text.contains("call 1: evaluating \"example.com/fn/fail:v1\""),
        "{text}"
    );
    assert!(!text.contains(MARKER), "never the ResourceList:\n{text}");
}

#[test]
fn the_wrapper_server_writes_the_same_line() {
    let server = super::wrapper_server("results");
    let client = connect(&server.addr);
    let image = "example.com/fn/results:v1";
    evaluate(&client, image, b"ok\n", Some(WAIT)).expect("ok");
    evaluate(&client, image, b"fail\n", Some(WAIT)).expect_err("fail");
    let log = server.log_lines();
    let ok = end_line(log, 1);
    assert!(
        ok.starts_with('I')
            && ok.contains("call 1: evaluated \"example.com/fn/results:v1\" with wrapper in "),
        "{ok}"
    );
    let failed = end_line(log, 2);
    assert!(
        failed.starts_with('W') && failed.ends_with(": function failed: exit status 1"),
        "{failed}"
    );
    assert!(server
        .log()
        .contains("call 2: evaluating \"example.com/fn/results:v1\", 5 bytes in"));
}
