//! What a caller gets when the pod cannot serve: pulls that fail (the
//! kubelet's reason, at once), a deadline shorter than the start, a pod
//! deleted behind the runner's back or dead while the API says Ready, a
//! function that fails in its pod.

use std::time::Duration;

use fn_runner::grpc::Code;

use super::runtime::eval_ok;
use crate::support::pods::{
    results_failure_prefix, sample_resource_list, Behaviour, PodEnv, PODS_PATH, POD_NAMESPACE, WAIT,
};
use crate::support::process::signal;

// An image that cannot be pulled fails the call with the kubelet's reason
// and message, long before --pod-ready-timeout (60 s here; the call's own
// deadline, WAIT, is the watchdog); an x509 pull error carries the hint
// that the node must trust the registry's CA.
#[test]
fn a_pull_failure_fails_the_call_at_once_with_its_reason() {
    let env = PodEnv::start();
    let runner = env.serve(&["--pod-ready-timeout=60s"]);
    let (pull, back_off, x509) = (&env.images.slow, &env.images.cat, &env.images.cmd_only);
    let not_found = "rpc error: code = NotFound desc = failed to pull and unpack image: not found";
    env.behave(pull, Behaviour::err_image_pull(not_found));
    env.behave(back_off, Behaviour::image_pull_back_off(back_off));
    env.behave(
        x509,
        Behaviour::x509_unknown_authority(x509, &env.registry.host()),
    );
    let fail = |image: &str| {
        let err = runner
            .eval(image, &sample_resource_list(), Some(WAIT))
            .expect_err("the pod cannot start");
        assert_eq!(err.code, Code::INTERNAL, "{err:?}");
        let prefix = format!("unable to evaluate {image} with pod evaluator: pod ");
        assert!(err.message.starts_with(&prefix), "{}", err.message);
        err.message
    };
    let message = fail(pull);
    assert!(
        message.ends_with(&format!("cannot start: ErrImagePull: {not_found}")),
        "{message}"
    );
    let message = fail(back_off);
    assert!(
        message.contains(&format!(
            "cannot start: ImagePullBackOff: Back-off pulling image \"{back_off}\""
        )),
        "{message}"
    );
    let message = fail(x509);
    assert!(
        message.contains("cannot start: ErrImagePull: ")
            && message.contains("x509: certificate signed by unknown authority"),
        "{message}"
    );
    assert!(
        message.contains("(hint: the node's container runtime must trust the registry's CA"),
        "{message}"
    );
    assert_eq!(env.kube.count("POST", PODS_PATH), 3);
}

// A caller whose deadline passes while the pod starts gets
// DEADLINE_EXCEEDED (the pod is held in ContainerCreating until after the
// answer came); the pod keeps starting, and the next call uses it.
#[test]
fn a_deadline_shorter_than_the_start_leaves_the_pod_for_the_next_call() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    env.behave(image, Behaviour::Held);
    let runner = env.serve(&[]);
    let err = runner
        .eval(
            image,
            &sample_resource_list(),
            Some(Duration::from_millis(500)),
        )
        .expect_err("the pod is held");
    assert_eq!(err.code, Code::DEADLINE_EXCEEDED, "{err:?}");
    let pods = env.wait_for_pods("created", |pods| pods.len() == 1);
    assert!(!pods[0].ready, "{pods:?}");
    env.release(image);
    assert!(eval_ok(&runner, image).contains("namespace: production"));
    assert_eq!(env.kube.count("POST", PODS_PATH), 1, "the same pod");
    assert_eq!(env.wrapper_calls(&pods[0].name).len(), 1);
}

// A pod deleted behind the runner's back: the next call succeeds on a new
// pod.
#[test]
fn a_pod_deleted_behind_the_runners_back_is_replaced() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let runner = env.serve(&[]);
    eval_ok(&runner, image);
    let old = env.pods().remove(0);
    env.kube
        .delete("pods", POD_NAMESPACE, &old.name)
        .expect("delete the pod");
    env.wait_for_pods("rid of the deleted pod", |pods| pods.is_empty());
    assert!(eval_ok(&runner, image).contains("namespace: production"));
    let pods = env.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_ne!(pods[0].name, old.name);
    assert_eq!(env.kube.count("POST", PODS_PATH), 2);
}

// A function that fails in its pod: INTERNAL, with the wrapper server's
// message whole (structured results included) after the Go original's
// words.
#[test]
fn a_function_failure_keeps_the_wrappers_message_whole() {
    let env = PodEnv::start();
    let image = &env.images.results;
    let runner = env.serve(&[]);
    let err = runner
        .eval(image, b"fail\n", Some(WAIT))
        .expect_err("the function fails");
    assert_eq!(err.code, Code::INTERNAL, "{err:?}");
    let pod = env.pods().remove(0);
    let direct = env
        .eval_pod(&pod, image, b"fail\n", Some(WAIT))
        .expect_err("the function fails");
    assert_eq!(direct.code, Code::INTERNAL);
    assert!(
        direct.message.starts_with(&results_failure_prefix(image)),
        "{}",
        direct.message
    );
    assert_eq!(
        err.message,
        format!(
            "unable to evaluate {image} with pod evaluator: rpc error: code = Internal desc = {}",
            direct.message
        )
    );
}

// A pod whose wrapper server is gone while the API still shows it Ready
// (a lost node, not noticed yet), found by a restarted runner: the call,
// which had sent nothing (the connect is refused), is tried once more on
// a new pod, not on the same one, and succeeds. (A new runner, so that no
// connection to the pod is open: a call already on a connection the pod
// closed cannot tell whether the pod got it, and fails UNAVAILABLE.)
#[test]
fn a_pod_that_refuses_connections_is_replaced_within_the_call() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let first = env.serve(&[]);
    eval_ok(&first, image);
    drop(first);
    let dead = env.pods().remove(0);
    let pid = env.wrapper_pid(&dead.name).expect("the wrapper runs");
    signal(pid, "KILL");
    assert!(
        env.wrapper_log(&dead.name).wait_closed(WAIT),
        "the wrapper never exited"
    );
    let runner = env.serve(&[]);
    assert!(eval_ok(&runner, image).contains("namespace: production"));
    runner.wait_for_log(
        &format!("function pod {} for {image} cannot be reached", dead.name),
        WAIT,
    );
    assert_eq!(env.kube.count("POST", PODS_PATH), 2);
    let pods = env.pods();
    let new = pods
        .iter()
        .find(|p| p.name != dead.name)
        .unwrap_or_else(|| panic!("no new pod: {pods:?}"));
    assert_eq!(env.wrapper_calls(&new.name).len(), 1);
}
