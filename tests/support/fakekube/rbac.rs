//! The fake's one Role: by default the client may do everything; a test
//! can grant only a list of rules (`PodEnv` grants the runner's documented
//! Roles, `fn_runner::kube::PERMISSIONS`) and take verbs away
//! ([`super::FakeKube::deny`]). A request the Role does not allow gets the
//! API server's 403; `SelfSubjectAccessReview` (`authorization.k8s.io/v1`,
//! what `fn-runner preflight` asks, issue 13) answers by the same Role.
//!
//! Not done: resource names, subresources, groups other than core (every
//! rule is for API group "").

use serde_json::{json, Value};

use super::http::Request;
use super::store::ApiError;

/// The user the API server names in a 403: the runner's service account.
pub const USER: &str = "system:serviceaccount:porch-system:porch-fn-runner";

/// One grant: `verb` on `resource` in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verb: String,
    pub resource: String,
    pub namespace: String,
}

/// What the client may do.
#[derive(Debug, Default, Clone)]
pub struct Role {
    /// `None`: everything (the default).
    grants: Option<Vec<Rule>>,
    /// `(verb, resource)` taken away in every namespace.
    denied: Vec<(String, String)>,
}

impl Role {
    /// From now on only `rules` are granted (less what is denied).
    pub fn grant_only(&mut self, rules: Vec<Rule>) {
        self.grants = Some(rules);
    }

    pub fn deny(&mut self, verb: &str, resource: &str) {
        self.denied.push((verb.to_owned(), resource.to_owned()));
    }

    /// Whether `verb` on `resource` in `namespace` (`None`: across all
    /// namespaces) is allowed.
    pub fn allows(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        let denied = self.denied.iter().any(|(v, r)| v == verb && r == resource);
        let granted = self.grants.as_ref().is_none_or(|rules| {
            rules.iter().any(|g| {
                g.verb == verb && g.resource == resource && Some(g.namespace.as_str()) == namespace
            })
        });
        granted && !denied
    }

    /// 403 for `verb` on `resource` in `namespace`, unless allowed.
    pub fn check(
        &self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.allows(verb, resource, namespace) {
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

    /// The answer to a `SelfSubjectAccessReview` body: the review with its
    /// `status` filled in.
    pub fn review(&self, body: &Value) -> Result<Value, ApiError> {
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
        let allowed = group.is_empty() && self.allows(verb, resource, namespace);
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
        role.review(&json!({"spec": {"resourceAttributes": {
            "namespace": namespace, "verb": verb, "resource": "pods"}}}))
            .expect("review")["status"]["allowed"]
            .clone()
    }

    #[test]
    fn denied_verbs_are_forbidden_and_reviewed_as_such() {
        let mut role = Role::default();
        assert!(role.check("create", "pods", Some("ns")).is_ok());
        role.deny("create", "pods");
        let err = role
            .check("create", "pods", Some("porch-fn-system"))
            .expect_err("denied");
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            format!("pods is forbidden: User \"{USER}\" cannot create resource \"pods\" in API group \"\" in the namespace \"porch-fn-system\"")
        );
        assert!(role.check("delete", "pods", Some("ns")).is_ok());
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
}
