//! The Kubernetes client's metrics (issue 16): API requests by verb,
//! resource and status code (each attempt, retries included), and the pod
//! watch's restarts by reason. Every label is a closed set: verbs and
//! resources of [`PERMISSIONS`](super::PERMISSIONS), a fixed list of
//! status codes (others are `other`, no answer at all is `error`).

use super::rbac::Verb;
use crate::metrics::{self, Counter, Encoder, Kind, Label};

/// Every verb, in slot order.
const VERBS: [Verb; 7] = [
    Verb::Get,
    Verb::List,
    Verb::Watch,
    Verb::Create,
    Verb::Update,
    Verb::Patch,
    Verb::Delete,
];

fn verb_slot(verb: Verb) -> usize {
    match verb {
        Verb::Get => 0,
        Verb::List => 1,
        Verb::Watch => 2,
        Verb::Create => 3,
        Verb::Update => 4,
        Verb::Patch => 5,
        Verb::Delete => 6,
    }
}

crate::label!(
    /// The resources the runner requests (`rbac::PERMISSIONS`).
    pub(crate) enum Resource: "resource" {
        Pods = "pods",
        Secrets = "secrets",
        ConfigMaps = "configmaps",
        /// `preflight`'s access reviews (authorization.k8s.io).
        SelfSubjectAccessReviews = "selfsubjectaccessreviews",
        Other = "other",
    }
);

impl Resource {
    fn of(plural: &str) -> Resource {
        Resource::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == plural)
            .unwrap_or(Resource::Other)
    }
}

/// The status codes with a label of their own: what the API server
/// answers the runner's calls (api-concepts, "HTTP status codes").
const CODES: [u16; 15] = [
    200, 201, 204, 400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503, 504,
];
/// Slots: the codes above, then `other`, then `error` (no answer).
const CODE_SLOTS: usize = CODES.len() + 2;
const OTHER_CODE: usize = CODES.len();
const NO_ANSWER: usize = CODES.len() + 1;

fn code_slot(status: Option<u16>) -> usize {
    match status {
        None => NO_ANSWER,
        Some(code) => CODES.iter().position(|c| *c == code).unwrap_or(OTHER_CODE),
    }
}

fn code_label(slot: usize) -> String {
    match CODES.get(slot) {
        Some(code) => code.to_string(),
        None if slot == OTHER_CODE => metrics::OTHER.to_owned(),
        None => "error".to_owned(),
    }
}

crate::label!(
    /// Why the pod watch was opened again.
    pub(crate) enum Restart: "reason" {
        /// The server ended the watch (its timeout): watch again from the
        /// last resourceVersion.
        Closed = "closed",
        /// 410 Gone: the resourceVersion expired, the pods are listed again.
        Expired = "expired",
        /// A failure (transport, a bad event, an ERROR event): backoff.
        Error = "error",
    }
);

static REQUESTS: [[[Counter; CODE_SLOTS]; Resource::COUNT]; VERBS.len()] =
    [const { [const { [const { Counter::new() }; CODE_SLOTS] }; Resource::COUNT] }; VERBS.len()];
static RESTARTS: [Counter; Restart::COUNT] = [const { Counter::new() }; Restart::COUNT];

/// One request to the API server was answered `status` (`None`: no
/// answer, a transport failure).
pub(crate) fn request(verb: Verb, resource: &str, status: Option<u16>) {
    if metrics::is_enabled() {
        REQUESTS[verb_slot(verb)][Resource::of(resource).index()][code_slot(status)].inc();
    }
}

/// The pod watch is opened again, for `reason`.
pub(crate) fn watch_restarted(reason: Restart) {
    if metrics::is_enabled() {
        RESTARTS[reason.index()].inc();
    }
}

/// Writes the Kubernetes client's families; request series only for the
/// (verb, resource) pairs the runner may use, codes seen only.
pub fn render(enc: &mut Encoder) {
    const REQUESTS_NAME: &str = "fn_runner_kube_requests_total";
    enc.family(
        REQUESTS_NAME,
        "Requests to the Kubernetes API by verb, resource and HTTP status (\"error\": no answer), retries included.",
        Kind::Counter,
    );
    for verb in VERBS {
        for resource in Resource::ALL {
            for (slot, count) in REQUESTS[verb_slot(verb)][resource.index()]
                .iter()
                .enumerate()
            {
                let count = count.get();
                if count == 0 {
                    continue;
                }
                let code = code_label(slot);
                let labels = [
                    ("verb", verb.as_str()),
                    (Resource::NAME, resource.as_str()),
                    ("code", &code),
                ];
                enc.sample(REQUESTS_NAME, &labels, count);
            }
        }
    }
    const RESTARTS_NAME: &str = "fn_runner_kube_watch_restarts_total";
    enc.family(
        RESTARTS_NAME,
        "Times the pod watch was opened again, by reason.",
        Kind::Counter,
    );
    enc.samples_by(RESTARTS_NAME, &[], |r: Restart| {
        Some(RESTARTS[r.index()].get().into())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_slots_follow_the_table() {
        for (i, verb) in VERBS.iter().enumerate() {
            assert_eq!(verb_slot(*verb), i);
        }
    }

    #[test]
    fn codes_and_resources_stay_bounded() {
        assert_eq!(code_label(code_slot(Some(409))), "409");
        assert_eq!(code_label(code_slot(Some(418))), "other");
        assert_eq!(code_label(code_slot(None)), "error");
        assert_eq!(Resource::of("pods"), Resource::Pods);
        assert_eq!(Resource::of("nodes"), Resource::Other);
    }

    #[test]
    fn requests_and_restarts_are_counted() {
        metrics::enable();
        request(Verb::Create, "pods", Some(201));
        request(Verb::Create, "pods", None);
        watch_restarted(Restart::Expired);
        let mut enc = Encoder::new();
        render(&mut enc);
        let text = enc.finish();
        assert!(text.contains(
            "fn_runner_kube_requests_total{verb=\"create\",resource=\"pods\",code=\"201\"} "
        ));
        assert!(text.contains(
            "fn_runner_kube_requests_total{verb=\"create\",resource=\"pods\",code=\"error\"} "
        ));
        assert!(text.contains("fn_runner_kube_watch_restarts_total{reason=\"expired\"} "));
    }
}
