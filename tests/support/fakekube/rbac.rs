//! The fake's one Role: by default the client may do everything; a test
//! takes verbs away ([`super::FakeKube::deny`]). A request the Role denies
//! gets the API server's 403; `SelfSubjectAccessReview`
//! (`authorization.k8s.io/v1`, what `fn-runner preflight` asks, issue 13)
//! answers by the same Role.
//!
//! Not done: Roles per namespace, resource names, subresources, groups
//! other than core (every rule is for API group "").

use serde_json::{json, Value};

use super::http::Request;
use super::store::ApiError;

/// The user the API server names in a 403: the runner's service account.
pub const USER: &str = "system:serviceaccount:porch-system:porch-fn-runner";

/// `(verb, resource)` pairs the Role does not grant.
#[derive(Debug, Default, Clone)]
pub struct Denials(Vec<(String, String)>);

impl Denials {
    pub fn deny(&mut self, verb: &str, resource: &str) {
        self.0.push((verb.to_owned(), resource.to_owned()));
    }

    pub fn allows(&self, verb: &str, resource: &str) -> bool {
        !self.0.iter().any(|(v, r)| v == verb && r == resource)
    }

    /// 403 for `verb` on `resource` in `namespace`, unless allowed.
    pub fn check(
        &self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.allows(verb, resource) {
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
        let allowed = group.is_empty() && self.allows(verb, resource);
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

    #[test]
    fn denied_verbs_are_forbidden_and_reviewed_as_such() {
        let mut role = Denials::default();
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
        let ask = |verb: &str| {
            role.review(&json!({"spec": {"resourceAttributes": {
                "namespace": "porch-fn-system", "verb": verb, "resource": "pods"}}}))
                .expect("review")["status"]["allowed"]
                .clone()
        };
        assert_eq!(ask("create"), json!(false));
        assert_eq!(ask("list"), json!(true));
    }
}
