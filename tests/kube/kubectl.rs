//! The fake's fidelity, proven with the real `kubectl`: create -f, get -o
//! json, apply --server-side, patch --type merge, delete, get -w.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::fakekube::FakeKube;
use crate::support::kubectl::Kubectl;

const NS: &str = "kubectl-test";

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: kubectl-test
  labels:
    app: web
spec:
  containers:
  - name: function
    image: example.com/fn:v1
"#;

#[test]
fn kubectl_create_get_apply_patch_delete_watch() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);

    let out = kubectl.ok(
        &["create", "--validate=false", "-f", "-", "-o", "name"],
        Some(POD),
    );
    assert_eq!(out.trim(), "pod/web");

    let got: Value =
        serde_json::from_str(&kubectl.ok(&["get", "-n", NS, "pod", "web", "-o", "json"], None))
            .expect("get -o json");
    assert_eq!(got["metadata"]["labels"]["app"], "web");
    assert!(got["metadata"]["uid"].is_string());

    let list: Value = serde_json::from_str(&kubectl.ok(
        &["get", "-n", NS, "pods", "-l", "app=web", "-o", "json"],
        None,
    ))
    .expect("list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let applied = POD.replace("app: web", "app: web\n    tier: fn");
    kubectl.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=kubectl-test",
            "--validate=false",
            "-f",
            "-",
        ],
        Some(&applied),
    );
    let live = fake.object("pods", NS, "web").expect("pod");
    assert_eq!(live["metadata"]["labels"]["tier"], "fn");

    kubectl.ok(
        &[
            "patch",
            "-n",
            NS,
            "pod",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"annotations":{"a":"b"}}}"#,
        ],
        None,
    );
    let live = fake.object("pods", NS, "web").expect("pod");
    assert_eq!(live["metadata"]["annotations"]["a"], "b");

    // Plain `get` asks for a Table; kubectl falls back to the plain list.
    let table = kubectl.ok(&["get", "-n", NS, "pods"], None);
    assert!(table.lines().any(|l| l.starts_with("web ")), "{table}");
    // get -w: stream events, then stop it.
    let mut watch = kubectl
        .command(&["get", "-n", NS, "pods", "-w", "-o", "name"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initial list line");
    assert_eq!(first, "pod/web");
    // Wait until kubectl's watch request is open before changing things.
    fake.wait_for(Duration::from_secs(20), |_| {
        fake.requests().iter().any(|r| r.is_watch()).then_some(())
    })
    .expect("kubectl opened a watch");
    fake.create(
        "pods",
        NS,
        serde_json::json!({"metadata": {"name": "second"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .expect("second pod");
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "pod/second") {
        seen.push(
            rx.recv_timeout(Duration::from_secs(20))
                .expect("watch event line"),
        );
    }
    let _ = watch.kill();
    let _ = watch.wait();

    let out = kubectl.ok(
        &[
            "delete",
            "-n",
            NS,
            "pod",
            "web",
            "--wait=true",
            "--timeout=20s",
        ],
        None,
    );
    assert!(out.contains("deleted"), "{out}");
    assert!(fake.object("pods", NS, "web").is_none());
}

// A verb the fake's Role denies is a 403 that kubectl shows as the real
// API server words it. (`kubectl auth can-i` is not used: it sends its
// SelfSubjectAccessReview as protobuf, which the fake does not speak.)
#[test]
fn kubectl_create_is_forbidden_once_the_role_denies_it() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    fake.deny("create", "pods");
    let out = kubectl.run(&["create", "-f", "-", "--validate=false"], Some(POD));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pods is forbidden: User") && err.contains("cannot create resource \"pods\""),
        "{err}"
    );
    kubectl.ok(&["get", "pods", "-n", NS], None);
}
