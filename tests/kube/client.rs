//! Every typed call, Status errors, token rotation, retries, keep-alive.

use std::time::{Duration, Instant};

use fn_runner::kube::{Error, ObjectMeta, Pod, Secret};
use serde_json::json;

use super::{client, fast_retry, token_file_kubeconfig};
use crate::support::fakekube::{FakeKube, Fault};
use fn_runner::kube::{Client, Config};

const NS: &str = "porch-fn-system";
const PODS: &str = "/api/v1/namespaces/porch-fn-system/pods";

fn pod(generate_name: Option<&str>, name: Option<&str>, image_label: &str) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: name.map(str::to_owned),
            generate_name: generate_name.map(str::to_owned),
            ..ObjectMeta::default()
        },
        spec: json!({"containers": [{"name": "function", "image": "example.com/fn:v1"}]}),
        ..Pod::default()
    };
    p.metadata
        .labels
        .insert("fn.kpt.dev/image".to_owned(), image_label.to_owned());
    p
}

#[test]
fn pods_create_get_list_apply_patch_delete() {
    let fake = FakeKube::start();
    let c = client(&fake);
    let pods = c.pods(NS);

    let created = pods
        .create(&pod(
            Some("set-namespace-0ec0fb23-"),
            None,
            "set-namespace-0ec0fb23",
        ))
        .expect("create");
    let name = created.metadata.name.clone().expect("generated name");
    let suffix = name
        .strip_prefix("set-namespace-0ec0fb23-")
        .expect("prefix");
    assert_eq!(suffix.len(), 5, "{name}");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );

    let got = pods.get(&name).expect("get");
    assert_eq!(got.metadata.uid, created.metadata.uid);

    pods.create(&pod(None, Some("other"), "other-image"))
        .expect("create other");
    let list = pods
        .list("fn.kpt.dev/image=set-namespace-0ec0fb23")
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some(name.as_str()));
    assert!(list.metadata.resource_version.is_some());
    assert_eq!(
        pods.list("fn.kpt.dev/image").expect("list key").items.len(),
        2
    );
    assert_eq!(
        pods.list("!fn.kpt.dev/image")
            .expect("list !key")
            .items
            .len(),
        0
    );

    // Server-side apply creates when absent, then updates.
    let mut warm = pod(None, None, "warm-abc12345");
    warm.kind = String::new();
    warm.metadata.annotations.insert(
        "fn.kpt.dev/template-version".to_owned(),
        "inline-v1".to_owned(),
    );
    let applied = pods.apply("warm-abc12345", &warm).expect("apply create");
    assert!(applied.metadata.uid.is_some());
    warm.metadata
        .annotations
        .insert("fn.kpt.dev/reclaim-after".to_owned(), "123".to_owned());
    let reapplied = pods.apply("warm-abc12345", &warm).expect("apply update");
    assert_eq!(reapplied.metadata.uid, applied.metadata.uid);
    assert_eq!(
        reapplied.metadata.annotations["fn.kpt.dev/reclaim-after"],
        "123"
    );
    let req = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("apply request");
    assert_eq!(req.content_type, "application/apply-patch+yaml");
    assert!(
        req.query.contains("fieldManager=krm-function-runner"),
        "{}",
        req.query
    );

    let patched = pods
        .patch_merge(
            &name,
            &json!({"metadata": {"annotations": {"fn.kpt.dev/reclaim-after": "999"}}}),
        )
        .expect("merge patch");
    assert_eq!(
        patched.metadata.annotations["fn.kpt.dev/reclaim-after"],
        "999"
    );
    assert_eq!(
        patched.metadata.labels["fn.kpt.dev/image"],
        "set-namespace-0ec0fb23"
    );

    pods.delete(&name).expect("delete");
    let terminating = fake.object("pods", NS, &name);
    // Graceful: either still there with a deletionTimestamp, or already gone.
    if let Some(p) = terminating {
        assert!(!p["metadata"]["deletionTimestamp"].is_null());
    }
    fake.wait_for(Duration::from_secs(10), |s| {
        s.get("pods", NS, &name).is_err().then_some(())
    })
    .expect("pod gone after its grace period");
    assert!(pods.get(&name).expect_err("gone").is_not_found());
    assert!(pods.delete(&name).expect_err("gone").is_not_found());
}

#[test]
fn status_errors_are_typed_with_the_server_message() {
    let fake = FakeKube::start();
    let c = client(&fake);
    let e = c.pods(NS).get("missing").expect_err("not found");
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(e.to_string().contains("pods \"missing\" not found"), "{e}");

    c.pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect("create");
    let e = c
        .pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect_err("exists");
    assert!(matches!(e, Error::AlreadyExists(_)), "{e:?}");

    fake.inject(Fault::status("GET", PODS, 403));
    let e = c.pods(NS).get("p").expect_err("forbidden");
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");

    fake.restrict_namespaces(&[NS]);
    let e = c
        .pods("absent")
        .create(&pod(None, Some("p"), "x"))
        .expect_err("no namespace");
    assert!(
        e.to_string().contains("namespaces \"absent\" not found"),
        "{e}"
    );

    let e = c.pods(NS).list("a in (b").expect_err("bad selector");
    assert!(matches!(e, Error::Rejected(_)), "{e:?}");
}

#[test]
fn secrets_get_create_update_with_conflicts() {
    let fake = FakeKube::start();
    let c = client(&fake);
    let secrets = c.secrets(NS);
    assert!(secrets
        .get("auth-secret")
        .expect_err("absent")
        .is_not_found());
    let mut s = Secret {
        metadata: ObjectMeta {
            name: Some("auth-secret".to_owned()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".to_owned()),
        ..Secret::default()
    };
    s.data
        .insert(".dockerconfigjson".to_owned(), br#"{"auths":{}}"#.to_vec());
    let created = secrets.create(&s).expect("create");
    assert!(matches!(
        secrets.create(&s).expect_err("twice"),
        Error::AlreadyExists(_)
    ));
    let got = secrets.get("auth-secret").expect("get");
    assert_eq!(got.data[".dockerconfigjson"], br#"{"auths":{}}"#);
    assert!(
        !format!("{got:?}").contains("auths"),
        "Debug must redact data"
    );

    // Someone else changes it: our stale copy conflicts.
    fake.patch(
        "secrets",
        NS,
        "auth-secret",
        json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .expect("other writer");
    let mut stale = created.clone();
    stale
        .data
        .insert(".dockerconfigjson".to_owned(), b"new".to_vec());
    let e = secrets.update(&stale).expect_err("stale");
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");

    let mut fresh = secrets.get("auth-secret").expect("reread");
    fresh
        .data
        .insert(".dockerconfigjson".to_owned(), b"new".to_vec());
    let updated = secrets.update(&fresh).expect("update");
    assert_eq!(updated.data[".dockerconfigjson"], b"new");
    // Unknown fields written by others survive our update.
    assert_eq!(updated.metadata.labels["x"], "y");
}

#[test]
fn config_maps_get() {
    let fake = FakeKube::start();
    fake.create(
        "configmaps",
        "porch-system",
        json!({"metadata": {"name": "fn-template"}, "data": {"template": "kind: Pod"}}),
    )
    .expect("seed");
    let c = client(&fake);
    let cm = c
        .config_maps("porch-system")
        .get("fn-template")
        .expect("get");
    assert_eq!(cm.data["template"], "kind: Pod");
    assert!(c
        .config_maps("porch-system")
        .get("nope")
        .expect_err("absent")
        .is_not_found());
}

#[test]
fn rotated_token_file_is_reread() {
    let fake = FakeKube::start();
    let c = client(&fake);
    c.pods(NS).list("").expect("first token");
    fake.rotate_token();
    c.pods(NS).list("").expect("rotated token");
    fake.rotate_token();
    c.pods(NS).list("").expect("rotated again");
    let unauthorized = fake.requests().iter().filter(|r| r.code == 401).count();
    assert!(
        unauthorized <= 2,
        "at most one 401 per rotation, got {unauthorized}"
    );
}

#[test]
fn token_file_changed_unnoticed_is_reread_after_a_401() {
    let fake = FakeKube::start();
    let c = client(&fake);
    c.pods(NS).list("").expect("first token");
    // Same length, same mtime: the client cannot see the change and sends
    // the old token; the 401 makes it re-read the file and retry once.
    let path = fake.token_path();
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let old = fake.token();
    let new = fake.rotate_token();
    assert_eq!(old.len(), new.len());
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("restore mtime");
    fake.clear_requests();
    c.pods(NS).list("").expect("re-read after 401");
    let codes: Vec<u16> = fake.requests().iter().map(|r| r.code).collect();
    assert_eq!(codes, [401, 200]);
}

#[test]
fn fixed_token_that_was_revoked_is_unauthorized() {
    let fake = FakeKube::start();
    let config =
        fn_runner::kube::Config::from_kubeconfig(&fake.kubeconfig_with_token()).expect("config");
    let c = fn_runner::kube::Client::with_options(config, super::fast_retry()).expect("client");
    c.pods(NS).list("").expect("valid token");
    fake.rotate_token();
    let e = c.pods(NS).list("").expect_err("revoked");
    assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    assert!(!e.to_string().contains("fake-token"), "token leaked: {e}");
}

#[test]
fn server_error_twice_then_success_is_retried() {
    let fake = FakeKube::start();
    let c = client(&fake);
    c.pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect("create");
    fake.clear_requests();
    fake.inject(Fault::status("GET", PODS, 500).times(2));
    c.pods(NS).get("p").expect("third attempt succeeds");
    assert_eq!(fake.count("GET", PODS), 3);
}

#[test]
fn create_is_not_retried_after_a_server_error() {
    let fake = FakeKube::start();
    let c = client(&fake);
    fake.inject(Fault::status("POST", PODS, 500));
    let e = c
        .pods(NS)
        .create(&pod(Some("p-"), None, "x"))
        .expect_err("500");
    assert!(matches!(e, Error::ServerError(_)), "{e:?}");
    assert_eq!(fake.count("POST", PODS), 1);
}

#[test]
fn too_many_requests_waits_retry_after_even_for_create() {
    let fake = FakeKube::start();
    let c = client(&fake);
    fake.inject(Fault::too_many_requests("POST", PODS, 1));
    let started = Instant::now();
    c.pods(NS)
        .create(&pod(Some("p-"), None, "x"))
        .expect("retried after 429");
    // A lower bound only: Retry-After: 1 must have been waited.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.count("POST", PODS), 2);
    assert_eq!(fake.objects("pods", NS).len(), 1, "exactly one pod");
}

#[test]
fn dropped_connection_is_retried_for_idempotent_calls_only() {
    let fake = FakeKube::start();
    let c = client(&fake);
    c.pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect("create");
    fake.inject(Fault::drop_connection("GET", PODS));
    c.pods(NS).get("p").expect("retried after the drop");
    fake.inject(Fault::drop_connection("PATCH", PODS));
    c.pods(NS)
        .patch_merge("p", &json!({"metadata": {"annotations": {"a": "b"}}}))
        .expect("patch retried");
    fake.inject(Fault::drop_connection("POST", PODS));
    let e = c
        .pods(NS)
        .create(&pod(Some("q-"), None, "x"))
        .expect_err("no retry");
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_eq!(fake.objects("pods", NS).len(), 1);
}

#[test]
fn delete_if_unchanged_refuses_a_changed_pod() {
    let fake = FakeKube::start();
    let c = client(&fake);
    let p = c
        .pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect("create");
    let rv = p.metadata.resource_version.clone().expect("rv");
    fake.patch(
        "pods",
        NS,
        "p",
        json!({"metadata": {"annotations": {"touched": "1"}}}),
    )
    .expect("other replica refreshes it");
    let e = c
        .pods(NS)
        .delete_if_unchanged("p", &rv)
        .expect_err("changed");
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    let fresh = c.pods(NS).get("p").expect("get");
    c.pods(NS)
        .delete_if_unchanged("p", fresh.metadata.resource_version.as_deref().expect("rv"))
        .expect("unchanged: deleted");
}

#[test]
fn connections_are_kept_alive() {
    let fake = FakeKube::start();
    let c = client(&fake);
    for _ in 0..10 {
        c.pods(NS).list("").expect("list");
    }
    assert_eq!(fake.connections(), 1);
}

#[test]
fn slow_answers_time_out_and_idempotent_calls_are_retried() {
    let fake = FakeKube::start();
    let mut options = fast_retry();
    options.request_timeout = Duration::from_millis(300);
    let config = Config::from_kubeconfig(&token_file_kubeconfig(&fake)).expect("config");
    let c = Client::with_options(config, options).expect("client");
    c.pods(NS)
        .create(&pod(None, Some("p"), "x"))
        .expect("create");
    fake.inject(Fault::latency("GET", PODS, Duration::from_secs(2)));
    c.pods(NS).get("p").expect("second attempt in time");
    fake.inject(Fault::latency("GET", PODS, Duration::from_secs(2)).times(4));
    let e = c.pods(NS).get("p").expect_err("every attempt too slow");
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
}
