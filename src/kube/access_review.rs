//! SelfSubjectAccessReview (`authorization.k8s.io/v1`): the API server
//! says whether the client's own user may make one request, judged by the
//! same authorizers (RBAC, webhooks) that will judge the request itself.
//! `fn-runner preflight` asks one per [`PERMISSIONS`](super::PERMISSIONS)
//! entry (issue 13).
//!
//! Not a permission of the runner's Role: Kubernetes' default ClusterRole
//! `system:basic-user` lets every authenticated user create one. So it is
//! not in `PERMISSIONS`, and its request is built by the one constructor
//! exempt from that table's debug check
//! ([`Req::self_subject_access_review`]). An anonymous client (no token)
//! is refused with 403: a review that answers at all proves the token.
//!
//! ```text
//! POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
//! {"spec": {"resourceAttributes": {"namespace", "verb", "group", "resource"[, "subresource"]}}}
//!   -> {"status": {"allowed": bool, "denied": bool, "reason": "...", "evaluationError": "..."}}
//! ```

use serde::Deserialize;
use serde_json::json;

use super::client::{Client, MAX_OBJECT_BYTES};
use super::error::Error;
use super::rbac::Permission;
use super::request::Req;

/// Where reviews are created (cluster-scoped).
const PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// The server's verdict on one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessReview {
    /// The request would be allowed.
    pub allowed: bool,
    /// An authorizer denied it outright (`false` with `allowed` false:
    /// nothing allowed it, which is RBAC's usual "no").
    pub denied: bool,
    /// Why, when the authorizer says (`RBAC: allowed by RoleBinding ...`).
    pub reason: String,
    /// An authorizer failed while judging (the verdict may be wrong).
    pub evaluation_error: String,
}

impl Client {
    /// Whether this client's user may do `permission` in `namespace`
    /// (one review, under the client's own call timeout).
    pub(crate) fn review_access(
        &self,
        permission: &Permission,
        namespace: &str,
    ) -> Result<AccessReview, Error> {
        let mut attributes = json!({
            "namespace": namespace,
            "verb": permission.verb.as_str(),
            "group": permission.group,
            "resource": permission.resource,
        });
        if let Some(subresource) = permission.subresource {
            attributes["subresource"] = json!(subresource);
        }
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        });
        let body = serde_json::to_vec(&body).map_err(Error::Encode)?;
        let req = Req::self_subject_access_review(PATH.to_owned(), body, MAX_OBJECT_BYTES);
        let answer = self.execute(&req, self.call_deadline(None))?;
        decode(&answer).map_err(|source| Error::Decode {
            request: req.describe(),
            source,
        })
    }
}

/// The verdict in a review answer.
fn decode(answer: &[u8]) -> Result<AccessReview, serde_json::Error> {
    #[derive(Deserialize)]
    struct Review {
        #[serde(default)]
        status: Status,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        #[serde(default)]
        allowed: bool,
        #[serde(default)]
        denied: bool,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        evaluation_error: String,
    }
    let review: Review = serde_json::from_slice(answer)?;
    let Status {
        allowed,
        denied,
        reason,
        evaluation_error,
    } = review.status;
    Ok(AccessReview {
        allowed,
        denied,
        reason,
        evaluation_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_verdict() {
        let review = decode(
            br#"{"kind":"SelfSubjectAccessReview","spec":{},"status":{"allowed":true,
                 "reason":"RBAC: allowed by RoleBinding \"x\""}}"#,
        )
        .expect("decodes");
        assert!(review.allowed && !review.denied);
        assert!(review.reason.starts_with("RBAC: allowed"));
        let review = decode(
            br#"{"status":{"allowed":false,"denied":true,"evaluationError":"webhook down"}}"#,
        )
        .expect("decodes");
        assert!(!review.allowed && review.denied);
        assert_eq!(review.evaluation_error, "webhook down");
    }

    #[test]
    fn no_status_is_not_allowed() {
        assert_eq!(decode(b"{}").expect("decodes"), AccessReview::default());
        assert!(decode(b"\"allowed\"").is_err());
    }
}
