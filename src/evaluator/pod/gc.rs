//! Garbage collection of function pods (compat §4.5, issue 13): every
//! `--scan-interval`, each pod of the watch (label key `fn.kpt.dev/image`)
//! is judged:
//!
//! ```text
//!   terminating ............................................. skip
//!   no valid reclaim-after .................................. annotate (now + TTL)
//!   this replica has a call on it, reclaim-after near/past .. refresh (never deleted in use)
//!   phase Failed, not in use ................................ delete (failed)
//!   past reclaim-after, not in use .......................... delete (ttl)
//!   made from an old template version, not in use ........... delete (template)
//!   otherwise ............................................... keep
//! ```
//!
//! **Ours, safe with replicas** (the Go original's replicas delete each
//! other's pods, nephio#1069): a delete carries a precondition on the
//! resourceVersion it judged, so a refresh by another replica in between
//! wins (409: skipped); a replica refreshes the pods it uses (mod.rs), so
//! a pod in use elsewhere is never past its reclaim-after; and a pod this
//! replica has a call on is never deleted by it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::start::template_version;
use super::template::RECLAIM_AFTER_ANNOTATION;
use crate::evaluator::metrics::pod::DeleteReason as Reason;
use crate::kube::Pod;

/// What the GC does to one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Keep,
    /// Give it a reclaim-after (now + its TTL): it had none, or a bad one.
    Annotate,
    /// In use here and close to its reclaim-after: move it on.
    Refresh,
    /// Delete it (precondition: the resourceVersion judged).
    Delete(Reason),
}

/// What the GC knows about a pod besides the pod itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub now: SystemTime,
    /// This replica has a call on it (waiting or in flight).
    pub in_use: bool,
    /// The template version pods must carry; `None` while unknown (a
    /// ConfigMap not read yet): then no pod is judged by its version.
    pub template_version: Option<&'a str>,
    /// A pod in use is refreshed when its reclaim-after is closer than this.
    pub refresh_margin: Duration,
}

/// The verdict on `pod` (see the module doc).
pub(crate) fn judge(pod: &Pod, facts: &Facts<'_>) -> Action {
    if pod.is_terminating() {
        return Action::Keep;
    }
    let Some(reclaim_after) = reclaim_after(pod) else {
        return Action::Annotate;
    };
    if facts.in_use {
        let near = reclaim_after
            .duration_since(facts.now)
            .map_or(true, |left| left < facts.refresh_margin);
        return if near { Action::Refresh } else { Action::Keep };
    }
    let failed = pod
        .status
        .as_ref()
        .is_some_and(|s| s.phase.as_deref() == Some("Failed"));
    if failed {
        return Action::Delete(Reason::Failed);
    }
    if facts.now > reclaim_after {
        return Action::Delete(Reason::Ttl);
    }
    if let Some(current) = facts.template_version {
        if template_version(pod) != Some(current) {
            return Action::Delete(Reason::Template);
        }
    }
    Action::Keep
}

/// The pod's `fn.kpt.dev/reclaim-after` (unix seconds), if valid.
pub fn reclaim_after(pod: &Pod) -> Option<SystemTime> {
    let secs: u64 = pod
        .metadata
        .annotations
        .get(RECLAIM_AFTER_ANNOTATION)?
        .trim()
        .parse()
        .ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::pod::template::TEMPLATE_VERSION_ANNOTATION;
    use crate::kube::PodStatus;

    const NOW: u64 = 1_000_000;

    fn pod(reclaim_after: Option<&str>, version: &str) -> Pod {
        let mut pod = Pod::default();
        if let Some(r) = reclaim_after {
            pod.metadata
                .annotations
                .insert(RECLAIM_AFTER_ANNOTATION.to_owned(), r.to_owned());
        }
        pod.metadata
            .annotations
            .insert(TEMPLATE_VERSION_ANNOTATION.to_owned(), version.to_owned());
        pod
    }

    fn facts(in_use: bool) -> Facts<'static> {
        Facts {
            now: UNIX_EPOCH + Duration::from_secs(NOW),
            in_use,
            template_version: Some("v1"),
            refresh_margin: Duration::from_secs(60),
        }
    }

    #[test]
    fn idle_pods_past_their_reclaim_after_are_deleted() {
        let past = (NOW - 1).to_string();
        assert_eq!(
            judge(&pod(Some(&past), "v1"), &facts(false)),
            Action::Delete(Reason::Ttl)
        );
        let future = (NOW + 10).to_string();
        assert_eq!(
            judge(&pod(Some(&future), "v1"), &facts(false)),
            Action::Keep
        );
    }

    #[test]
    fn a_pod_in_use_is_never_deleted_and_is_refreshed_when_near() {
        let past = (NOW - 1).to_string();
        assert_eq!(
            judge(&pod(Some(&past), "old"), &facts(true)),
            Action::Refresh
        );
        let near = (NOW + 30).to_string();
        assert_eq!(
            judge(&pod(Some(&near), "v1"), &facts(true)),
            Action::Refresh
        );
        let far = (NOW + 600).to_string();
        assert_eq!(judge(&pod(Some(&far), "v1"), &facts(true)), Action::Keep);
    }

    #[test]
    fn missing_or_bad_annotations_get_one() {
        assert_eq!(judge(&pod(None, "v1"), &facts(false)), Action::Annotate);
        assert_eq!(
            judge(&pod(Some("soon"), "v1"), &facts(false)),
            Action::Annotate
        );
        assert_eq!(
            judge(&pod(Some("-5"), "v1"), &facts(true)),
            Action::Annotate
        );
    }

    #[test]
    fn old_template_and_failed_pods_are_collected_when_idle() {
        let future = (NOW + 600).to_string();
        assert_eq!(
            judge(&pod(Some(&future), "v0"), &facts(false)),
            Action::Delete(Reason::Template)
        );
        let mut failed = pod(Some(&future), "v1");
        failed.status = Some(PodStatus {
            phase: Some("Failed".to_owned()),
            ..PodStatus::default()
        });
        assert_eq!(
            judge(&failed, &facts(false)),
            Action::Delete(Reason::Failed)
        );
    }

    #[test]
    fn no_pod_is_judged_by_an_unknown_template_version() {
        let future = (NOW + 600).to_string();
        let unknown = Facts {
            template_version: None,
            ..facts(false)
        };
        assert_eq!(judge(&pod(Some(&future), "v0"), &unknown), Action::Keep);
    }

    #[test]
    fn terminating_pods_are_skipped() {
        let mut p = pod(None, "v0");
        p.metadata.deletion_timestamp = Some("2026-12-06T00:00:00Z".to_owned());
        assert_eq!(judge(&p, &facts(false)), Action::Keep);
    }
}
