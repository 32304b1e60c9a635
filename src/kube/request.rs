//! One request to the API server, described before it is sent: its RBAC
//! verb and resource (checked against [`rbac::PERMISSIONS`]), path, body
//! and the largest answer we read. No I/O here; `client.rs` sends it.
//!
//! One request is exempt from the PERMISSIONS check, by its own
//! constructor: a SelfSubjectAccessReview ([`Req::self_subject_access_review`]),
//! which no Role has to grant (see `access_review.rs`).

use super::rbac::{self, Verb};

/// What one request is, before it is sent (and maybe re-sent).
pub(crate) struct Req {
    /// The RBAC verb the server will authorize (it picks the HTTP method).
    pub(crate) verb: Verb,
    /// The resource's plural name (`pods`), for metrics.
    pub(crate) resource: &'static str,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
    /// The body and its content type.
    pub(crate) body: Option<(Vec<u8>, &'static str)>,
    /// Largest answer body we read, in bytes (per line for a watch).
    pub(crate) limit: u64,
    /// Whether sending it twice is as good as once (see [`Req::is_idempotent`]).
    repeatable: bool,
}

impl Req {
    /// A request answering at most `limit` bytes. In debug builds, fails
    /// when `verb` on `resource` is not in [`rbac::PERMISSIONS`]: code that
    /// needs a new permission must add it to the table (and so to the Role).
    pub(crate) fn new(verb: Verb, resource: &'static str, path: String, limit: u64) -> Req {
        debug_assert!(
            rbac::is_permitted(verb, rbac::CORE_GROUP, resource),
            "{verb} {resource} is not in kube::PERMISSIONS (docs/kube.md's Role)"
        );
        Req {
            verb,
            resource,
            path,
            body: None,
            limit,
            // A create with generateName would make a second object.
            repeatable: verb != Verb::Create,
        }
    }

    /// `POST` of a SelfSubjectAccessReview `body` to `path`: the one
    /// request exempt from the PERMISSIONS check. Kubernetes' default
    /// ClusterRole `system:basic-user`, bound to every authenticated user,
    /// allows it, so no Role of ours lists it (and the Roles of
    /// docs/kube.md stay exactly what the runner's work needs). Repeatable:
    /// the server stores nothing.
    pub(crate) fn self_subject_access_review(path: String, body: Vec<u8>, limit: u64) -> Req {
        Req {
            verb: Verb::Create,
            resource: "selfsubjectaccessreviews",
            path,
            body: Some((body, "application/json")),
            limit,
            repeatable: true,
        }
    }

    /// The same request with a body of `content_type`.
    pub(crate) fn with_body(self, body: Vec<u8>, content_type: &'static str) -> Req {
        Req {
            body: Some((body, content_type)),
            ..self
        }
    }

    /// Whether sending it twice is as good as once: every verb we use but
    /// create (GET, PUT with a resourceVersion, DELETE, and our PATCHes:
    /// apply and merge patches converge when repeated), and an access
    /// review. A create with generateName would make a second object.
    pub(crate) fn is_idempotent(&self) -> bool {
        self.repeatable
    }

    /// Whether this opens a watch stream.
    pub(crate) fn is_watch(&self) -> bool {
        self.verb == Verb::Watch
    }

    /// `VERB /path` without the query, for errors and logs.
    pub(crate) fn describe(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        format!("{} {path}", http_method(self.verb))
    }
}

/// The HTTP method of an RBAC verb (the mapping the API server inverts).
pub(crate) fn http_method(verb: Verb) -> &'static str {
    match verb {
        Verb::Get | Verb::List | Verb::Watch => "GET",
        Verb::Create => "POST",
        Verb::Update => "PUT",
        Verb::Patch => "PATCH",
        Verb::Delete => "DELETE",
    }
}

/// `/api/v1/namespaces/<namespace>/<plural>`.
pub(crate) fn collection_path(namespace: &str, plural: &str) -> String {
    format!("/api/v1/namespaces/{}/{plural}", encode(namespace))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_create_is_not_idempotent() {
        let req = |verb| Req::new(verb, "pods", "/".to_owned(), 1);
        for verb in [
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Patch,
            Verb::Delete,
        ] {
            assert!(req(verb).is_idempotent(), "{verb}");
        }
        assert!(Req::new(Verb::Update, "secrets", "/".to_owned(), 1).is_idempotent());
        assert!(!req(Verb::Create).is_idempotent());
        let review = Req::self_subject_access_review("/".to_owned(), Vec::new(), 1);
        assert!(review.is_idempotent(), "an access review stores nothing");
    }

    #[test]
    fn only_the_access_review_skips_the_permissions_check() {
        // Builds in debug builds too: no PERMISSIONS entry names it.
        let review = Req::self_subject_access_review(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".to_owned(),
            b"{}".to_vec(),
            1,
        );
        assert_eq!(
            review.describe(),
            "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        );
        assert!(!rbac::is_permitted(
            Verb::Create,
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
        ));
    }

    #[test]
    fn verbs_map_to_methods() {
        let req = Req::new(
            Verb::List,
            "pods",
            "/api/v1/x?labelSelector=a".to_owned(),
            1,
        );
        assert_eq!(req.describe(), "GET /api/v1/x");
        assert_eq!(http_method(Verb::Create), "POST");
        assert_eq!(http_method(Verb::Update), "PUT");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "list secrets is not in kube::PERMISSIONS")]
    fn a_request_outside_the_role_fails_in_debug_builds() {
        let _ = Req::new(Verb::List, "secrets", "/".to_owned(), 1);
    }

    #[test]
    fn encodes_selectors_and_names() {
        assert_eq!(encode("a=b,c in (x,y)"), "a%3Db%2Cc%20in%20%28x%2Cy%29");
        assert_eq!(encode("fn.kpt.dev/image"), "fn.kpt.dev%2Fimage");
    }
}
