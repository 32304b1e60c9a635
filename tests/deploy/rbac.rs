//! The Role in `deploy/rbac.yaml` grants exactly the permissions the
//! runner's Kubernetes client may use in the function pods' namespace,
//! `fn_runner::kube::PERMISSIONS` (the client checks every request against
//! that table): a call the code gains without the Role allowing it, or a
//! grant no call uses, fails here.

use std::collections::BTreeSet;

use fn_runner::kube::{Scope, PERMISSIONS};

use super::object;
use crate::support::image::repo;

/// (group, resource, verb) triples a Role's rules grant.
fn granted(role: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    let mut triples = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(rule.get("resourceNames").is_none(), "{rule}");
        let strings = |field: &str| -> Vec<String> {
            rule[field]
                .as_array()
                .unwrap_or_else(|| panic!("{field} in {rule}"))
                .iter()
                .map(|s| s.as_str().expect("a string").to_owned())
                .collect()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                for verb in strings("verbs") {
                    let triple = (group.clone(), resource.clone(), verb);
                    assert!(triples.insert(triple.clone()), "{triple:?} granted twice");
                }
            }
        }
    }
    triples
}

/// PERMISSIONS in `scope`, as (group, resource, verb).
fn permissions(scope: Scope) -> BTreeSet<(String, String, String)> {
    PERMISSIONS
        .iter()
        .filter(|p| p.scope == scope)
        .map(|p| {
            assert_eq!(
                p.subresource, None,
                "{p:?}: a subresource needs its own rule"
            );
            (
                p.group.to_owned(),
                p.resource.to_owned(),
                p.verb.as_str().to_owned(),
            )
        })
        .collect()
}

#[test]
fn role_grants_exactly_the_clients_permissions_in_the_pod_namespace() {
    let role = object("Role", "porch-fn-runner");
    let deployment = object("Deployment", "function-runner");
    let command: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| a.as_str().expect("arg"))
        .collect();
    assert!(command.contains(&"--pod-namespace=porch-fn-system"));
    assert_eq!(
        role["metadata"]["namespace"], "porch-fn-system",
        "--pod-namespace"
    );
    assert_eq!(granted(&role), permissions(Scope::PodNamespace));
    let binding = object("RoleBinding", "porch-fn-runner");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["metadata"]["namespace"],
        role["metadata"]["namespace"]
    );
}

#[test]
fn the_runner_namespace_needs_a_role_only_for_a_pod_template() {
    // The client's only calls in its own namespace read the
    // --function-pod-template ConfigMap; the Deployment passes no such
    // flag, so deploy/ ships no Role there (docs/kube.md has one to add).
    let own: Vec<_> = permissions(Scope::RunnerNamespace).into_iter().collect();
    assert_eq!(
        own,
        [("".to_owned(), "configmaps".to_owned(), "get".to_owned())]
    );
    let deployment =
        std::fs::read_to_string(repo().join("deploy/function-runner.yaml")).expect("read");
    assert!(!deployment.contains("--function-pod-template"));
    let roles_in_own_namespace = super::objects()
        .into_iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["namespace"] == "porch-system")
        .count();
    assert_eq!(roles_in_own_namespace, 0);
}
