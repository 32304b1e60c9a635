//! The Kubernetes API misbehaving under the pod runtime: server errors
//! and throttling on create, a dropped pod watch, 410 on the re-watch, the
//! token rotated mid-run, a create's answer lost after it took effect. No
//! evaluation may fail for any of them.

use serde_json::json;

use super::runtime::eval_ok;
use crate::support::fakekube::{Fault, RequestMark};
use crate::support::pods::{PodEnv, PODS_PATH, RUNNER_NAMESPACE, SECRETS_PATH, WAIT};

/// Whether the pod watch listed the pods again after `mark` (a GET of the
/// collection that is no watch).
fn relisted(env: &PodEnv, mark: RequestMark) -> bool {
    env.kube
        .requests_since(mark)
        .iter()
        .any(|r| r.method == "GET" && r.path == PODS_PATH && !r.is_watch() && r.code == 200)
}

// 500 twice on the pod create, 429 with Retry-After on the pull Secret's
// GET and on a later create: the runtime looks in the watch for a pod the
// failed POST made, finds none, creates again; the calls succeed on one
// pod each.
#[test]
fn server_errors_and_throttling_fail_no_evaluation() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    env.kube
        .inject(Fault::too_many_requests("GET", SECRETS_PATH, 1));
    env.kube
        .inject(Fault::status("POST", PODS_PATH, 500).times(2));
    assert!(eval_ok(&runner, &env.images.set_namespace).contains("namespace: production"));
    assert_eq!(
        env.kube.count("POST", PODS_PATH),
        3,
        "two 500s, then the pod"
    );
    assert_eq!(env.pods().len(), 1);
    runner.wait_for_log("trying again (attempt 3)", WAIT);
    let secret_gets: Vec<u16> = env
        .kube
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with(SECRETS_PATH))
        .map(|r| r.code)
        .collect();
    assert_eq!(secret_gets[0], 429, "{secret_gets:?}");

    env.kube
        .inject(Fault::too_many_requests("POST", PODS_PATH, 1));
    eval_ok(&runner, &env.images.cat);
    assert_eq!(env.kube.count("POST", PODS_PATH), 5, "a 429, then the pod");
    assert_eq!(env.pods().len(), 2);
}

// A create that made its pod but whose answer was lost (500 after the
// write): the runtime finds the pod in its watch and waits for it instead
// of creating a second one.
#[test]
fn a_create_whose_answer_was_lost_makes_no_second_pod() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    env.kube.inject(Fault::lost_answer("POST", PODS_PATH, 500));
    assert!(eval_ok(&runner, &env.images.set_namespace).contains("namespace: production"));
    assert_eq!(env.kube.count("POST", PODS_PATH), 1, "no second create");
    assert_eq!(env.pods().len(), 1);
    runner.wait_for_log("trying again (attempt 2)", WAIT);
}

// The pod watch cut, then cut again with its history compacted (the
// re-watch gets an ERROR 410 event), then once more answered 410 outright:
// the watch lists again each time, and cold and warm calls all succeed.
#[test]
fn a_dropped_watch_and_410_on_the_re_watch_fail_no_evaluation() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    let warm = &env.images.set_namespace;
    eval_ok(&runner, warm);

    env.kube.drop_watches();
    eval_ok(&runner, &env.images.cat);
    eval_ok(&runner, warm);

    // Something the pod watch does not see moves the resourceVersion past
    // the watch's, and the history goes: its re-watch is too old.
    let mark = env.kube.mark();
    env.kube.create_and_compact(
        "configmaps",
        RUNNER_NAMESPACE,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"}}),
    );
    env.kube.drop_watches();
    eval_ok(&runner, &env.images.cmd_only);
    eval_ok(&runner, warm);
    assert!(relisted(&env, mark), "{:#?}", env.kube.requests_since(mark));

    let mark = env.kube.mark();
    env.kube
        .inject(Fault::status("GET", PODS_PATH, 410).only_watch(true));
    env.kube.drop_watches();
    eval_ok(&runner, &env.images.multi_platform);
    eval_ok(&runner, warm);
    assert!(relisted(&env, mark), "{:#?}", env.kube.requests_since(mark));
    assert_eq!(env.pods().len(), 4);
    assert_eq!(env.kube.count("POST", PODS_PATH), 4);
}

// The service-account token rotated mid-run (the file rewritten, the old
// token refused from then on), and the watch cut so that it reconnects
// with the new one: cold and warm calls succeed.
#[test]
fn token_rotation_fails_no_evaluation() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    let warm = &env.images.set_namespace;
    eval_ok(&runner, warm);
    let mark = env.kube.mark();
    env.kube.rotate_token();
    env.kube.drop_watches();
    eval_ok(&runner, &env.images.cat);
    eval_ok(&runner, warm);
    assert!(
        env.kube
            .requests_since(mark)
            .iter()
            .any(|r| r.method == "POST" && r.path == PODS_PATH && r.code == 201),
        "the cold call's pod was created with the new token"
    );

    assert_eq!(env.pods().len(), 2);
}
