//! The fake's one Role, for the callers with the token (the runner's
//! service account, [`USER`]): by default they may do everything; a test
//! can grant only a list of rules (`PodEnv` grants the runner's documented
//! Roles, `fn_runner::kube::PERMISSIONS`), or exactly what the stored
//! RoleBindings bind to that service account (the Role `kubectl apply -k
//! deploy/` made, read at each request: [`bound_rules`]), and take verbs
//! away ([`super::FakeKube::deny`]). A request the Role does not allow gets
//! the API server's 403; `SelfSubjectAccessReview` (`authorization.k8s.io/v1`,
//! what `fn-runner preflight` asks, issue 13) answers by the same Role.
//! Callers with the client certificate (`O=system:masters`, the cluster
//! admin of `Kubectl::admin`) are never checked, as on a real cluster.
//!
//! Not done: resource names, subresources, groups other than core (every
//! rule is for API group ""), ClusterRoles.

use serde_json::{json, Value};

use super::http::Request;
use super::selector::{FieldSelector, Selector};
use super::store::{ApiError, Store};

/// The user the API server names in a 403: the runner's service account,
/// [`SA_NAMESPACE`]/[`SA_NAME`] (deploy/'s).
pub const USER: &str = "system:serviceaccount:porch-system:porch-fn-runner";
/// The namespace of the token's service account.
pub const SA_NAMESPACE: &str = "porch-system";
/// The name of the token's service account.
pub const SA_NAME: &str = "porch-fn-runner";

/// Who sent a request, by how it authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The client certificate (`O=system:masters`): never checked.
    Admin,
    /// The bearer token: the runner's service account, checked by the Role.
    ServiceAccount,
}

/// One grant: `verb` on `resource` in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verb: String,
    pub resource: String,
    pub namespace: String,
}

/// What the service account is granted.
#[derive(Debug, Default, Clone)]
enum Grants {
    /// Everything (the default).
    #[default]
    All,
    /// These rules only.
    Only(Vec<Rule>),
    /// What the stored RoleBindings bind to the service account, read
    /// when the Role is taken ([`super::Shared::role`]).
    Bound,
}

/// What the service account may do.
#[derive(Debug, Default, Clone)]
pub struct Role {
    grants: Grants,
    /// `(verb, resource)` taken away in every namespace.
    denied: Vec<(String, String)>,
}

impl Role {
    /// From now on only `rules` are granted (less what is denied).
    pub fn grant_only(&mut self, rules: Vec<Rule>) {
        self.grants = Grants::Only(rules);
    }

    /// From now on the stored RoleBindings say what is granted (less what
    /// is denied).
    pub fn grant_bound(&mut self) {
        self.grants = Grants::Bound;
    }

    /// Whether the grants are the stored bindings' ([`Role::grant_bound`]):
    /// then [`Role::resolve`] must read them before a check.
    pub fn is_bound(&self) -> bool {
        matches!(self.grants, Grants::Bound)
    }

    /// This Role with the stored bindings' rules in place of
    /// [`Grants::Bound`] (`rules` from [`bound_rules`]).
    pub fn resolve(mut self, rules: Vec<Rule>) -> Role {
        if self.is_bound() {
            self.grants = Grants::Only(rules);
        }
        self
    }

    pub fn deny(&mut self, verb: &str, resource: &str) {
        self.denied.push((verb.to_owned(), resource.to_owned()));
    }

    /// Whether `verb` on `resource` in `namespace` (`None`: across all
    /// namespaces) is allowed.
    pub fn allows(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        let denied = self.denied.iter().any(|(v, r)| v == verb && r == resource);
        let granted = match &self.grants {
            Grants::All => true,
            Grants::Only(rules) => rules.iter().any(|g| {
                (g.verb == verb || g.verb == "*")
                    && (g.resource == resource || g.resource == "*")
                    && Some(g.namespace.as_str()) == namespace
            }),
            // Not resolved: nothing is granted (never reached through `Shared::role`).
            Grants::Bound => false,
        };
        granted && !denied
    }

    /// 403 for `verb` on `resource` in `namespace`, unless allowed or the
    /// caller is the admin.
    pub fn check(
        &self,
        caller: Caller,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if caller == Caller::Admin || self.allows(verb, resource, namespace) {
            return Ok(());
        }
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        Err(ApiError::new(
            403,
            format!(
                "{resource} is forbidden: User \"{USER}\" cannot {verb} resource \"{resource}\" in API group \"\" {scope}"
            ),
        ))
    }

    /// The answer to `caller`'s `SelfSubjectAccessReview` body: the review
    /// with its `status` filled in.
    pub fn review(&self, caller: Caller, body: &Value) -> Result<Value, ApiError> {
        let attrs = &body["spec"]["resourceAttributes"];
        let (Some(verb), Some(resource)) = (attrs["verb"].as_str(), attrs["resource"].as_str())
        else {
            return Err(ApiError::new(
                422,
                "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: \
                 verb and resource are required by the fake",
            ));
        };
        let group = attrs["group"].as_str().unwrap_or("");
        let namespace = attrs["namespace"].as_str().filter(|ns| !ns.is_empty());
        let allowed =
            caller == Caller::Admin || (group.is_empty() && self.allows(verb, resource, namespace));
        let mut review = body.clone();
        review["apiVersion"] = json!("authorization.k8s.io/v1");
        review["kind"] = json!("SelfSubjectAccessReview");
        review["status"] = if allowed {
            json!({"allowed": true, "reason": "RBAC: allowed by the fake's Role"})
        } else {
            json!({"allowed": false})
        };
        Ok(review)
    }
}

/// The core-group rules of the stored Roles that the stored RoleBindings
/// bind to the service account [`SA_NAMESPACE`]/[`SA_NAME`], each in its
/// binding's namespace (a binding to a missing Role grants nothing, as on
/// a real cluster).
pub fn bound_rules(store: &Store) -> Vec<Rule> {
    let all = |resource: &str| {
        store.list(
            resource,
            None,
            &Selector::default(),
            &FieldSelector::default(),
        )
    };
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut rules = Vec::new();
    for binding in all("rolebindings") {
        let namespace = binding["metadata"]["namespace"].as_str().unwrap_or("");
        let binds_us = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == SA_NAME
                    && s["namespace"].as_str().unwrap_or(namespace) == SA_NAMESPACE
            });
        let role_ref = &binding["roleRef"];
        if !binds_us || role_ref["kind"] != "Role" {
            continue;
        }
        let Ok(role) = store.get("roles", namespace, role_ref["name"].as_str().unwrap_or(""))
        else {
            continue;
        };
        for rule in role["rules"].as_array().into_iter().flatten() {
            if !names(&rule["apiGroups"])
                .iter()
                .any(|g| g.is_empty() || g == "*")
            {
                continue;
            }
            for resource in names(&rule["resources"]) {
                for verb in names(&rule["verbs"]) {
                    rules.push(Rule {
                        verb,
                        resource: resource.clone(),
                        namespace: namespace.to_owned(),
                    });
                }
            }
        }
    }
    rules
}

/// The RBAC verb of a request to a core resource (`item`: a named object).
pub fn verb_of(req: &Request, item: bool) -> &'static str {
    match (req.method.as_str(), item) {
        ("GET", true) => "get",
        ("GET", false) if req.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

/// Discovery of `authorization.k8s.io/v1`: only SelfSubjectAccessReview.
pub fn resource_list() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authorization.k8s.io/v1",
        "resources": [{"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
                       "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}],
    })
}

/// The entry of `/apis` for `authorization.k8s.io`.
pub fn api_group() -> Value {
    json!({"name": "authorization.k8s.io",
           "versions": [{"groupVersion": "authorization.k8s.io/v1", "version": "v1"}],
           "preferredVersion": {"groupVersion": "authorization.k8s.io/v1", "version": "v1"}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(role: &Role, verb: &str, namespace: &str) -> Value {
        role.review(
            Caller::ServiceAccount,
            &json!({"spec": {"resourceAttributes": {
            "namespace": namespace, "verb": verb, "resource": "pods"}}}),
        )
        .expect("review")["status"]["allowed"]
            .clone()
    }

    #[test]
    fn denied_verbs_are_forbidden_and_reviewed_as_such() {
        let mut role = Role::default();
        assert!(role
            .check(Caller::ServiceAccount, "create", "pods", Some("ns"))
            .is_ok());
        role.deny("create", "pods");
        let err = role
            .check(
                Caller::ServiceAccount,
                "create",
                "pods",
                Some("porch-fn-system"),
            )
            .expect_err("denied");
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            format!("pods is forbidden: User \"{USER}\" cannot create resource \"pods\" in API group \"\" in the namespace \"porch-fn-system\"")
        );
        assert!(role
            .check(Caller::ServiceAccount, "delete", "pods", Some("ns"))
            .is_ok());
        assert_eq!(ask(&role, "create", "porch-fn-system"), json!(false));
        assert_eq!(ask(&role, "list", "porch-fn-system"), json!(true));
    }

    #[test]
    fn granted_rules_hold_in_their_namespace_only() {
        let mut role = Role::default();
        role.grant_only(vec![Rule {
            verb: "list".to_owned(),
            resource: "pods".to_owned(),
            namespace: "fns".to_owned(),
        }]);
        assert!(role.allows("list", "pods", Some("fns")));
        assert!(!role.allows("list", "pods", Some("other")));
        assert!(!role.allows("list", "pods", None), "not across namespaces");
        assert!(!role.allows("create", "pods", Some("fns")));
        assert_eq!(ask(&role, "list", "fns"), json!(true));
        assert_eq!(ask(&role, "list", "other"), json!(false));
        role.deny("list", "pods");
        assert!(!role.allows("list", "pods", Some("fns")));
    }

    #[test]
    fn the_admin_is_never_denied() {
        let mut role = Role::default();
        role.grant_only(Vec::new());
        role.deny("create", "pods");
        assert!(role
            .check(Caller::Admin, "create", "pods", Some("ns"))
            .is_ok());
        assert!(role
            .check(Caller::ServiceAccount, "get", "pods", Some("ns"))
            .is_err());
        let review = role
            .review(
                Caller::Admin,
                &json!({"spec": {"resourceAttributes": {"namespace": "ns", "verb": "create", "resource": "pods"}}}),
            )
            .expect("review");
        assert_eq!(review["status"]["allowed"], json!(true));
    }

    #[test]
    fn bound_rules_are_the_stored_roles_bound_to_the_service_account() {
        let mut store = Store::new(100, std::time::Duration::ZERO);
        let role = |name: &str, group: &str| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": name},
                   "rules": [{"apiGroups": [group], "resources": ["pods", "secrets"], "verbs": ["get", "watch"]}]})
        };
        let binding = |name: &str, role: &str, sa: &str| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": name},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                   "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": SA_NAMESPACE}]})
        };
        for (resource, obj) in [
            ("roles", role("runner", "")),
            ("roles", role("apps", "apps")),
            ("rolebindings", binding("runner", "runner", SA_NAME)),
            ("rolebindings", binding("apps", "apps", SA_NAME)),
            ("rolebindings", binding("other", "runner", "someone-else")),
            ("rolebindings", binding("dangling", "missing", SA_NAME)),
        ] {
            store.create(resource, "fns", obj).expect("create");
        }
        let got: Vec<(String, String, String)> = bound_rules(&store)
            .into_iter()
            .map(|r| (r.verb, r.resource, r.namespace))
            .collect();
        let want: Vec<(String, String, String)> = [
            ("get", "pods"),
            ("watch", "pods"),
            ("get", "secrets"),
            ("watch", "secrets"),
        ]
        .iter()
        .map(|(v, r)| ((*v).to_owned(), (*r).to_owned(), "fns".to_owned()))
        .collect();
        assert_eq!(
            got, want,
            "the core-group Role bound to us, in its namespace"
        );
        let mut role = Role::default();
        role.grant_bound();
        let role = role.resolve(bound_rules(&store));
        assert!(role.allows("watch", "pods", Some("fns")));
        assert!(!role.allows("create", "pods", Some("fns")));
        assert!(!role.allows("get", "pods", Some("other")));
    }
}
