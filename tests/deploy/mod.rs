//! `deploy/` (issue 15): every manifest accepted by the API server (the
//! fake, with the real `kubectl`: a server-side dry run of each file, then
//! `kubectl apply -k deploy/`); the fake rejects what the real server
//! rejects, so that acceptance means something; the Deployment runs the
//! image as Porch's does and parses with our own flags; the Role grants
//! exactly the calls the runner makes. `guide`: the README's swap guide
//! followed line by line (its outputs checked against the README);
//! `troubleshooting`: the README's troubleshooting rows against the real
//! messages; `readme`: how both read the README.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::fakekube::FakeKube;
use crate::support::image::repo;
use crate::support::kubectl::Kubectl;

mod guide;
mod manifests;
mod rbac;
mod readme;
mod troubleshooting;

/// The manifests `deploy/kustomization.yaml` lists, in its order.
fn manifest_files() -> Vec<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Kustomization {
        resources: Vec<String>,
    }
    let text =
        std::fs::read_to_string(repo().join("deploy/kustomization.yaml")).expect("kustomization");
    let k: Kustomization = serde_saphyr::from_str(&text).expect("kustomization YAML");
    k.resources
        .iter()
        .map(|r| repo().join("deploy").join(r))
        .collect()
}

/// Every object in `deploy/`, parsed (multi-document files split).
fn objects() -> Vec<Value> {
    manifest_files()
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("manifest");
            text.split("\n---")
                .filter(|doc| {
                    doc.lines()
                        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                })
                .map(|doc| {
                    serde_saphyr::from_str::<Value>(doc)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The one object of `kind` named `name`.
fn object(kind: &str, name: &str) -> Value {
    let found: Vec<Value> = objects()
        .into_iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name} in deploy/");
    found.into_iter().next().expect("one")
}

#[test]
fn kustomization_lists_every_manifest_in_deploy() {
    let mut listed: Vec<PathBuf> = manifest_files();
    listed.sort();
    let mut present: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy"))
        .expect("deploy/")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    present.sort();
    assert_eq!(listed, present);
}

#[test]
fn every_manifest_passes_a_server_side_dry_run() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    for path in manifest_files() {
        let path = path.display().to_string();
        let out = kubectl.ok(
            &["apply", "--dry-run=server", "--validate=false", "-f", &path],
            None,
        );
        assert!(out.contains("(server dry run)"), "{path}: {out}");
        let out = kubectl.ok(
            &[
                "create",
                "--dry-run=server",
                "--validate=false",
                "-f",
                &path,
            ],
            None,
        );
        assert!(out.contains("(server dry run)"), "{path}: {out}");
    }
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "POST" && r.query.contains("dryRun=All")),
        "kubectl asked the server: {:#?}",
        fake.requests()
    );
    for (resource, ns) in [
        ("deployments", "porch-system"),
        ("roles", "porch-fn-system"),
    ] {
        assert!(
            fake.objects(resource, ns).is_empty(),
            "a dry run keeps nothing"
        );
    }
}

#[test]
fn kubectl_apply_k_creates_every_object() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    let dir = repo().join("deploy").display().to_string();
    let out = kubectl.ok(&["apply", "-k", &dir, "--validate=false"], None);
    let objects = objects();
    assert_eq!(
        out.lines().count(),
        objects.len(),
        "one line per object: {out}"
    );
    for want in objects {
        let resource = match want["kind"].as_str().expect("kind") {
            "Deployment" => "deployments",
            "Service" => "services",
            "ServiceAccount" => "serviceaccounts",
            "ConfigMap" => "configmaps",
            "Role" => "roles",
            "RoleBinding" => "rolebindings",
            other => panic!("unexpected kind {other}"),
        };
        let ns = want["metadata"]["namespace"].as_str().expect("namespace");
        let name = want["metadata"]["name"].as_str().expect("name");
        let live = fake
            .object(resource, ns, name)
            .unwrap_or_else(|| panic!("{resource}/{name} not created: {out}"));
        assert_eq!(live["apiVersion"], want["apiVersion"], "{resource}/{name}");
        for field in ["spec", "rules", "roleRef", "subjects", "data"] {
            assert_eq!(live[field], want[field], "{resource}/{name} {field}");
        }
    }
}

#[test]
fn the_fake_rejects_what_the_real_server_rejects() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    let deployment =
        std::fs::read_to_string(repo().join("deploy/function-runner.yaml")).expect("read");
    let rbac = std::fs::read_to_string(repo().join("deploy/rbac.yaml")).expect("read");
    for (manifest, message) in [
        (
            deployment.replacen("app: function-runner", "app: another", 1),
            "Deployment.apps \"function-runner\" is invalid: spec.template.metadata.labels: Invalid value",
        ),
        (
            deployment.replace("name: docker-config\n          secret", "name: renamed\n          secret"),
            "spec.template.spec.containers[0].volumeMounts[1].name: Not found: \"docker-config\"",
        ),
        (
            rbac.replacen("verbs: [\"get\", \"create\", \"update\"]", "verbs: []", 1),
            "Role.rbac.authorization.k8s.io \"porch-fn-runner\" is invalid: rules[1].verbs: Required value",
        ),
        (
            rbac.replace("kind: Role\n  name", "kind: ServiceAccount\n  name"),
            "roleRef.kind: Unsupported value: \"ServiceAccount\"",
        ),
        (
            // The CA Secret exactly as the user guide writes it.
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls-secret\n  namespace: porch-system\ndata:\n  ca.crt: LS0tLS1CRUdJTg==\ntype: kubernetes.io/tls\n".to_owned(),
            "Secret \"tls-secret\" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]",
        ),
    ] {
        let out = kubectl.run(&["apply", "--dry-run=server", "--validate=false", "-f", "-"], Some(&manifest));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted: {manifest}");
        assert!(err.contains(message), "{message:?} not in: {err}");
    }
}
