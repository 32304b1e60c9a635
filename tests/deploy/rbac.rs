//! The Role in `deploy/rbac.yaml` grants exactly the (verb, resource)
//! pairs the runner's Kubernetes client may issue in the function pods'
//! namespace, per docs/kube.md's "API calls" table: a call the code gains
//! without the Role allowing it (or a grant nothing uses) fails here.

use std::collections::BTreeSet;

use super::object;
use crate::support::image::repo;

/// (resource, namespace column, verb) rows of docs/kube.md's "API calls" table.
fn documented_calls() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo().join("docs/kube.md")).expect("docs/kube.md");
    let table = text
        .split("## API calls")
        .nth(1)
        .expect("an API calls section")
        .split("\n## ")
        .next()
        .expect("section");
    table
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

/// (resource, verb) pairs a Role's rules grant in the core group.
fn granted(role: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert_eq!(
            rule["apiGroups"],
            serde_json::json!([""]),
            "core group only"
        );
        assert!(rule.get("resourceNames").is_none());
        for resource in rule["resources"].as_array().expect("resources") {
            for verb in rule["verbs"].as_array().expect("verbs") {
                let (r, v) = (
                    resource.as_str().expect("resource"),
                    verb.as_str().expect("verb"),
                );
                assert!(
                    pairs.insert((r.to_owned(), v.to_owned())),
                    "{v} {r} granted twice"
                );
            }
        }
    }
    pairs
}

#[test]
fn role_grants_exactly_the_calls_in_the_pod_namespace() {
    let calls = documented_calls();
    assert!(calls.len() >= 10, "{calls:?}");
    let wanted: BTreeSet<(String, String)> = calls
        .iter()
        .filter(|(_, ns, _)| ns == "<pod-ns>")
        .map(|(r, _, v)| (r.clone(), v.clone()))
        .collect();
    let role = object("Role", "porch-fn-runner");
    assert_eq!(
        role["metadata"]["namespace"], "porch-fn-system",
        "the pod namespace of the Deployment"
    );
    assert_eq!(granted(&role), wanted);
    // The other namespace's only call needs --function-pod-template, which
    // the Deployment does not pass (so no Role for it ships).
    let others: Vec<_> = calls.iter().filter(|(_, ns, _)| ns != "<pod-ns>").collect();
    assert_eq!(
        others,
        [&(
            "configmaps".to_owned(),
            "<own-ns>".to_owned(),
            "get".to_owned()
        )]
    );
    let deployment =
        std::fs::read_to_string(repo().join("deploy/function-runner.yaml")).expect("read");
    assert!(!deployment.contains("--function-pod-template"));
}
