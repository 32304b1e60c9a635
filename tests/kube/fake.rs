//! The fake's own rules: label selectors, RFC 7386 merge patch, apply,
//! watch 410 over HTTP, and the kubelet simulator.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fn_runner::kube::{PodWatch, WatchOptions};
use serde_json::json;

use super::client;
use crate::support::fakekube::kubelet::{Kubelet, Outcome};
use crate::support::fakekube::merge::merge_patch;
use crate::support::fakekube::selector::Selector;
use crate::support::fakekube::FakeKube;

const NS: &str = "porch-fn-system";
const WAIT: Duration = Duration::from_secs(30);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn label_selectors_match_like_the_api_server() {
    let l = labels(&[("app", "web"), ("tier", "fn")]);
    for (sel, want) in [
        ("", true),
        ("app", true),
        ("!app", false),
        ("!other", true),
        ("app=web", true),
        ("app==web", true),
        ("app!=web", false),
        ("app!=db", true),
        ("other!=x", true),
        ("app in (db, web)", true),
        ("app notin (db,web)", false),
        ("other notin (a)", true),
        ("other in (a)", false),
        ("app=web,tier=fn", true),
        ("app=web,tier in (x,y)", false),
        ("app in (web),!missing,tier", true),
    ] {
        let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(s.matches(&l), want, "{sel}");
    }
    for bad in ["app in (web", "a=b=c=d!", "=x", "app in web"] {
        assert!(Selector::parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn merge_patch_follows_rfc7386_appendix_a() {
    // RFC 7386 Appendix A, a selection.
    for (target, patch, result) in [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
    ] {
        let mut t = target.clone();
        merge_patch(&mut t, &patch);
        assert_eq!(t, result, "{target} + {patch}");
    }
}

#[test]
fn self_subject_access_review_follows_the_role() {
    let fake = FakeKube::start();
    let review = |verb: &str| {
        let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": NS, "verb": verb, "resource": "pods"}}});
        let (code, answer) = fake.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "application/json",
            &body.to_string(),
        );
        assert_eq!(code, 201, "{answer}");
        answer["status"]["allowed"].as_bool().expect("allowed")
    };
    assert!(review("create"));
    fake.deny("create", "pods");
    assert!(!review("create"));
    assert!(review("delete"));
    let (code, status) = fake.request(
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        r#"{"metadata": {"name": "p"}}"#,
    );
    assert_eq!(code, 403);
    assert_eq!(status["reason"], "Forbidden");
}

#[test]
fn apply_needs_a_field_manager_and_accepts_yaml() {
    let fake = FakeKube::start();
    let path = format!("/api/v1/namespaces/{NS}/configmaps/cm");
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n";
    let (code, status) = fake.request("PATCH", &path, "application/apply-patch+yaml", yaml);
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["kind"], "Status");
    assert!(status["message"]
        .as_str()
        .unwrap_or("")
        .contains("fieldManager is required"));
    let (code, cm) = fake.request(
        "PATCH",
        &format!("{path}?fieldManager=test"),
        "application/apply-patch+yaml",
        yaml,
    );
    assert_eq!(code, 201, "created when absent: {cm}");
    assert_eq!(cm["data"]["k"], "v");
    let (code, _) = fake.request(
        "PATCH",
        &format!("{path}?fieldManager=test"),
        "application/apply-patch+yaml",
        &yaml.replace("k: v", "k: w"),
    );
    assert_eq!(code, 200);
    assert_eq!(
        client(&fake).config_maps(NS).get("cm").expect("cm").data["k"],
        "w"
    );
    let (code, _) = fake.request(
        "PATCH",
        &path,
        "application/strategic-merge-patch+json",
        "{}",
    );
    assert_eq!(code, 415);
    let (code, _) = fake.request(
        "PATCH",
        &format!("{path}?fieldManager=test"),
        "application/apply-patch+yaml",
        "metadata: {name: cm}",
    );
    assert_eq!(code, 400, "apiVersion and kind are required");
}

#[test]
fn watch_from_a_compacted_version_is_an_error_event_410() {
    let fake = FakeKube::start();
    fake.create("pods", NS, json!({"metadata": {"name": "a"}}))
        .expect("a");
    let old = fake.resource_version();
    fake.create_and_compact("pods", NS, json!({"metadata": {"name": "b"}}));
    let (code, body) = fake.request(
        "GET",
        &format!(
            "/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={}&timeoutSeconds=5",
            old - 1
        ),
        "application/json",
        "",
    );
    assert_eq!(
        code, 200,
        "the real server answers 200 and streams the error"
    );
    assert_eq!(body["type"], "ERROR", "{body}");
    assert_eq!(body["object"]["code"], 410);
    assert_eq!(body["object"]["reason"], "Expired");
}

#[test]
fn a_stale_token_gets_a_401_status() {
    let fake = FakeKube::start();
    let (code, _) = fake.request("GET", "/api/v1/namespaces/x/pods", "application/json", "");
    assert_eq!(code, 200);
    fake.rotate_token();
    // request() reads the new token; an old one is refused:
    let c = fn_runner::kube::Client::new(
        fn_runner::kube::Config::from_kubeconfig(&fake.kubeconfig_with_token()).expect("config"),
    )
    .expect("client");
    fake.rotate_token();
    let e = c.pods("x").list("").expect_err("old token");
    let s = e.status().expect("status");
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
}

#[test]
fn generate_name_suffix_uses_the_real_alphabet() {
    let fake = FakeKube::start();
    for _ in 0..20 {
        let p = fake
            .create("pods", NS, json!({"metadata": {"generateName": "fn-"}}))
            .expect("create");
        let name = p["metadata"]["name"].as_str().expect("name");
        let suffix = name.strip_prefix("fn-").expect("prefix");
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{name}"
        );
    }
    assert_eq!(fake.objects("pods", NS).len(), 20);
}

#[test]
fn kubelet_runs_pods_and_kills_them_on_delete() {
    let fake = FakeKube::start();
    let python = crate::support::process::python();
    let kubelet = Kubelet::start(&fake, Duration::from_millis(10), move |pod| {
        if pod.image.contains("missing") {
            return Outcome::Waiting {
                reason: "ErrImagePull".to_owned(),
                message: format!("failed to pull image {:?}: not found", pod.image),
            };
        }
        let mut cmd = Command::new(&python);
        cmd.arg("-c")
            .arg("import socket,sys,time\ns=socket.socket()\ns.bind((sys.argv[1],9446))\ns.listen()\ntime.sleep(300)")
            .arg(pod.ip.to_string());
        Outcome::Run {
            command: cmd,
            ready_port: Some(9446),
        }
    });
    let c = client(&fake);
    let w = PodWatch::start(Arc::clone(&c), NS, "", WatchOptions::default());
    let spec = |image: &str| json!({"containers": [{"name": "function", "image": image}]});
    c.pods(NS)
        .create(
            &serde_json::from_value(
                json!({"metadata": {"generateName": "ok-"}, "spec": spec("example.com/ok:v1")}),
            )
            .expect("pod"),
        )
        .expect("create ok");
    c.pods(NS)
        .create(
            &serde_json::from_value(
                json!({"metadata": {"name": "bad"}, "spec": spec("example.com/missing:v1")}),
            )
            .expect("pod"),
        )
        .expect("create bad");
    let ready = w
        .store()
        .wait_for(WAIT, |pods| pods.values().find(|p| p.is_ready()).cloned())
        .expect("a ready pod");
    let ip = ready.pod_ip().expect("pod IP").to_owned();
    assert!(ip.starts_with("127."), "{ip}");
    std::net::TcpStream::connect((ip.as_str(), 9446)).expect("the pod's process listens on its IP");
    assert_eq!(kubelet.running(), 1);

    let waiting = w
        .store()
        .wait_for(WAIT, |pods| {
            let st = pods.get("bad")?.status.clone()?;
            let cs = st.container_statuses.first()?.clone();
            cs.state?.waiting?.reason
        })
        .expect("waiting reason");
    assert_eq!(waiting, "ErrImagePull");

    let name = ready.metadata.name.clone().expect("name");
    c.pods(NS).delete(&name).expect("delete");
    w.store()
        .wait_for(WAIT, |pods| (!pods.contains_key(&name)).then_some(()))
        .expect("pod gone");
    assert_eq!(kubelet.running(), 0);
    assert!(
        std::net::TcpStream::connect((ip.as_str(), 9446)).is_err(),
        "process killed"
    );
}
