//! Every Kubernetes permission fn-runner's client can use, in one table.
//!
//! [`PERMISSIONS`] is the source of truth for the runner's RBAC:
//! - `docs/kube.md` prints it as two Roles (a unit test below keeps the
//!   page in sync);
//! - the client checks every request it builds against it (a
//!   `debug_assert!` in `client.rs`), so a test run fails as soon as code
//!   gains a call the Role does not allow;
//! - the manifests in `deploy/` are compared with it by a test, and
//!   `fn-runner preflight` runs one SelfSubjectAccessReview per entry.
//!   The review itself is no entry: every authenticated user may create
//!   one (`access_review.rs`), and its request is the one exempt from the
//!   debug check, by name (`Req::self_subject_access_review`).
//!
//! A verb is the RBAC verb of the request (what the API server authorizes),
//! not its HTTP method: a GET of one object is `get`, of a collection
//! `list`, with `watch=1` `watch`; both our PATCHes (apply, merge) are
//! `patch`.

use std::fmt;

/// The API group of core/v1 (`""` in a Role's `apiGroups`).
pub(crate) const CORE_GROUP: &str = "";

/// An RBAC verb, as a Role's `verbs` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    /// The verb as RBAC and SelfSubjectAccessReview spell it (`"get"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which namespace a permission is needed in (they are two Roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `--pod-namespace` (default `porch-fn-system`): function pods and the
    /// replicated registry Secret.
    PodNamespace,
    /// The runner's own namespace (default `porch-system`): the
    /// `--function-pod-template` ConfigMap.
    RunnerNamespace,
}

/// One (verb, group, resource[, subresource]) the client may request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    pub verb: Verb,
    /// API group; [`CORE_GROUP`] for core/v1.
    pub group: &'static str,
    /// Plural resource name (`pods`).
    pub resource: &'static str,
    /// `None` for the resource itself (we use no subresource today).
    pub subresource: Option<&'static str>,
    pub scope: Scope,
}

/// Every permission the runner's Kubernetes client can use; nothing
/// cluster-scoped, no other API group (see docs/kube.md for when each is
/// used). Ordered as the Roles in docs/kube.md list them.
pub const PERMISSIONS: &[Permission] = &[
    pod(Verb::Get),
    pod(Verb::List),
    pod(Verb::Watch),
    pod(Verb::Create),
    pod(Verb::Patch),
    pod(Verb::Delete),
    secret(Verb::Get),
    secret(Verb::Create),
    secret(Verb::Update),
    Permission {
        verb: Verb::Get,
        group: CORE_GROUP,
        resource: "configmaps",
        subresource: None,
        scope: Scope::RunnerNamespace,
    },
];

/// Whether [`PERMISSIONS`] allows `verb` on `group`/`resource` (in some
/// namespace: the client does not know which of its namespaces is which).
pub(crate) fn is_permitted(verb: Verb, group: &str, resource: &str) -> bool {
    PERMISSIONS.iter().any(|p| {
        p.verb == verb && p.group == group && p.resource == resource && p.subresource.is_none()
    })
}

const fn pod(verb: Verb) -> Permission {
    Permission {
        verb,
        group: CORE_GROUP,
        resource: "pods",
        subresource: None,
        scope: Scope::PodNamespace,
    }
}

const fn secret(verb: Verb) -> Permission {
    Permission {
        verb,
        group: CORE_GROUP,
        resource: "secrets",
        subresource: None,
        scope: Scope::PodNamespace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `rules:` of the Role for `scope`, as docs/kube.md writes them:
    /// one rule per (group, resource), verbs in table order.
    fn role_rules(scope: Scope) -> String {
        let mut rules: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for p in PERMISSIONS.iter().filter(|p| p.scope == scope) {
            match rules
                .iter_mut()
                .find(|(g, r, _)| *g == p.group && *r == p.resource)
            {
                Some((_, _, verbs)) => verbs.push(p.verb.as_str()),
                None => rules.push((p.group, p.resource, vec![p.verb.as_str()])),
            }
        }
        let quoted = |items: &[&str]| {
            items
                .iter()
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::from("rules:\n");
        for (group, resource, verbs) in rules {
            out.push_str(&format!(
                "- apiGroups: [{group:?}]\n  resources: [{resource:?}]\n  verbs: [{}]\n",
                quoted(&verbs)
            ));
        }
        out
    }

    #[test]
    fn docs_kube_md_roles_match_the_table() {
        let doc = include_str!("../../docs/kube.md");
        for (scope, namespace) in [
            (Scope::PodNamespace, "porch-fn-system"),
            (Scope::RunnerNamespace, "porch-system"),
        ] {
            let rules = role_rules(scope);
            let found = doc.match_indices("kind: Role\n").any(|(at, _)| {
                let rest = &doc[at..];
                let Some(header_end) = rest.find("rules:\n") else {
                    return false;
                };
                let (header, body) = rest.split_at(header_end);
                header.contains(&format!("namespace: {namespace}\n"))
                    && body.starts_with(&rules)
                    // No rule beyond ours.
                    && !body[rules.len()..].starts_with("- ")
            });
            assert!(
                found,
                "docs/kube.md has no Role in {namespace} with exactly:\n{rules}"
            );
        }
    }

    #[test]
    fn every_permission_is_core_v1_and_unique() {
        for (i, p) in PERMISSIONS.iter().enumerate() {
            assert_eq!(p.group, CORE_GROUP, "{p:?}");
            assert!(!PERMISSIONS[..i].contains(p), "duplicate {p:?}");
            assert!(is_permitted(p.verb, p.group, p.resource));
        }
        assert!(!is_permitted(Verb::List, CORE_GROUP, "secrets"));
        assert!(!is_permitted(Verb::Get, "apps", "pods"));
    }
}
