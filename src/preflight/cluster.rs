//! The Kubernetes checks of `fn-runner preflight`: the configuration loads
//! as the pod runtime loads it, the API answers with its credentials, RBAC
//! allows every [`PERMISSIONS`] entry (one SelfSubjectAccessReview each),
//! and the pod namespace takes the runner's pod (a server-side dry run).
//!
//! Which namespace each permission is reviewed in follows its [`Scope`]:
//! `--pod-namespace`, or the runner's own (the service account's or the
//! kubeconfig context's namespace, else `porch-system`, as the pod
//! runtime picks it). A permission these flags do not use (docs/kube.md:
//! the Secret rule without private registries, the ConfigMap Role without
//! `--function-pod-template`) is reported, never failed.

use std::time::Duration;

use super::report::Check;
use crate::evaluator::pod::DEFAULT_RUNNER_NAMESPACE;
use crate::flags::ServeSettings;
use crate::kube::{self, ClientOptions, Origin, Permission, Pod, Scope, PERMISSIONS};
use crate::log::chain;

/// Timeouts of preflight's API calls: shorter than the runner's (60 s per
/// call), so that an unreachable API server is reported within seconds,
/// long enough for a loaded one to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The API server as the pod runtime would reach it.
pub(crate) struct Cluster {
    pub client: kube::Client,
    /// `https://host:port`.
    pub server: String,
    /// Where the configuration came from, for messages.
    pub origin: String,
    /// The runner's own namespace (the `--function-pod-template` ConfigMap's).
    pub runner_namespace: String,
}

/// Loads the Kubernetes configuration (`--kubeconfig`, in-cluster,
/// `KUBECONFIG`, `~/.kube/config`) and builds the client.
pub fn connect(settings: &ServeSettings) -> (Check, Option<Cluster>) {
    let config = match kube::Config::load(settings.kubeconfig.as_deref()) {
        Ok(config) => config,
        Err(kube::ConfigError::NotFound { tried }) => {
            return (
                Check::fail(
                    "Kubernetes configuration: none found, so serve would run without the pod \
                     runtime",
                    "run in the cluster (a service account token is mounted), or pass \
                     --kubeconfig PATH or set KUBECONFIG; --disable-runtimes=pod if no function \
                     pods are wanted",
                )
                .with_detail(format!("tried {}", tried.join(", "))),
                None,
            )
        }
        Err(e) => {
            return (
                Check::fail(
                    "Kubernetes configuration: unusable",
                    "fix the configuration named above (serve refuses to start with it)",
                )
                .with_detail(chain(&e)),
                None,
            )
        }
    };
    let origin = match &config.origin {
        Origin::InCluster => "the in-cluster service account".to_owned(),
        Origin::Kubeconfig(path) => format!("kubeconfig {}", path.display()),
    };
    let server = config.server.clone();
    let options = ClientOptions {
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
        call_timeout: CALL_TIMEOUT,
        ..ClientOptions::default()
    };
    let client = match kube::Client::with_options(config, options) {
        Ok(client) => client,
        Err(e) => {
            return (
                Check::fail(
                    format!("Kubernetes configuration from {origin}: unusable"),
                    "fix the CA, client certificate or key it names",
                )
                .with_detail(chain(&e)),
                None,
            )
        }
    };
    let runner_namespace = client
        .default_namespace()
        .unwrap_or(DEFAULT_RUNNER_NAMESPACE)
        .to_owned();
    let check = Check::ok(format!(
        "Kubernetes configuration: {origin}, API server {server}, runner namespace \
         {runner_namespace}"
    ));
    let cluster = Cluster {
        client,
        server,
        origin,
        runner_namespace,
    };
    (check, Some(cluster))
}

/// One SelfSubjectAccessReview per [`PERMISSIONS`] entry. The first
/// answer also proves the API reachable with these credentials (an
/// anonymous client is refused a review): the first check says so, or
/// says why not and the reviews are not made. `reachable` tells the
/// caller whether later API checks make sense.
pub(crate) fn review_permissions(
    cluster: &Cluster,
    settings: &ServeSettings,
) -> (Vec<Check>, bool) {
    let mut reviews = Vec::new();
    for permission in PERMISSIONS {
        let namespace = namespace_of(permission, cluster, settings);
        match cluster.client.review_access(permission, namespace) {
            Ok(review) => reviews.push(verdict(permission, namespace, &review, settings)),
            Err(e) if reviews.is_empty() => return (vec![unreachable(cluster, &e)], false),
            Err(e) => reviews.push(
                Check::fail(
                    format!(
                        "RBAC: {} {} in {namespace}: the access review failed",
                        permission.verb,
                        resource(permission)
                    ),
                    "run preflight again; if it persists, see the error above",
                )
                .with_detail(chain(&e)),
            ),
        }
    }
    let api = Check::ok(format!(
        "Kubernetes API {} answers with the credentials of {} (access reviews allowed)",
        cluster.server, cluster.origin
    ));
    let mut checks = vec![api];
    checks.extend(reviews);
    (checks, true)
}

/// A server-side dry-run create (`dryRun=All`) of `pod` in the pod
/// namespace: the API server checks at once that the namespace exists,
/// that RBAC allows the create, and that it accepts the manifest; it
/// stores nothing. `made_for` says which image the pod is for.
pub(crate) fn dry_run_create(
    cluster: &Cluster,
    namespace: &str,
    pod: &Pod,
    made_for: &str,
) -> Check {
    let what = format!(
        "pod namespace {namespace}: a server-side dry-run create (dryRun=All) of the pod for \
         {made_for}"
    );
    let Err(e) = cluster.client.pods(namespace).create_dry_run(pod) else {
        return Check::ok(format!(
            "{what} was accepted: the namespace exists, the create is allowed, the manifest is \
             valid (nothing was created)"
        ));
    };
    let (found, fix) = match &e {
        kube::Error::NotFound(_) => (
            "the namespace does not exist".to_owned(),
            format!(
                "create it (kubectl create namespace {namespace}), or pass the right \
                 --pod-namespace"
            ),
        ),
        kube::Error::Forbidden(_) => (
            "RBAC refuses the create".to_owned(),
            format!("allow create on pods in {namespace} (see the RBAC lines above)"),
        ),
        kube::Error::Rejected(_) => (
            "the API server rejects the manifest".to_owned(),
            "fix the --function-pod-template ConfigMap's pod (--show-pod IMAGE prints the \
             manifest the runner makes)"
                .to_owned(),
        ),
        _ => (
            "failed".to_owned(),
            "see the error above; run preflight again if it was the network".to_owned(),
        ),
    };
    Check::fail(format!("{what}: {found}"), fix).with_detail(chain(&e))
}

/// Where `permission` is needed: `--pod-namespace` or the runner's own.
fn namespace_of<'a>(
    permission: &Permission,
    cluster: &'a Cluster,
    settings: &'a ServeSettings,
) -> &'a str {
    match permission.scope {
        Scope::PodNamespace => &settings.pod_namespace,
        Scope::RunnerNamespace => &cluster.runner_namespace,
    }
}

/// The check for one review's answer.
fn verdict(
    permission: &Permission,
    namespace: &str,
    review: &kube::AccessReview,
    settings: &ServeSettings,
) -> Check {
    let what = format!(
        "RBAC: {} {} in {namespace}",
        permission.verb,
        resource(permission)
    );
    let mut check = if review.allowed {
        Check::ok(what)
    } else if let Some(unused) = not_used(permission, settings) {
        Check::skip(format!("{what}: denied, not needed ({unused})"))
    } else {
        Check::fail(format!("{what}: denied"), role_rule(permission, namespace))
    };
    if !review.reason.is_empty() && !review.allowed {
        check = check.with_detail(format!("reason: {}", review.reason));
    }
    if !review.evaluation_error.is_empty() {
        check = check.with_detail(format!(
            "evaluation error (the answer may be wrong): {}",
            review.evaluation_error
        ));
    }
    check
}

/// Why these flags never use `permission` (docs/kube.md "RBAC": drop
/// the Secret rule when private registries are off, and the ConfigMap
/// Role when `--function-pod-template` is not used); `None` when they do.
fn not_used(permission: &Permission, settings: &ServeSettings) -> Option<&'static str> {
    match (permission.scope, permission.resource) {
        (Scope::RunnerNamespace, _) if settings.function_pod_template.is_none() => {
            Some("--function-pod-template is not given")
        }
        (_, "secrets") if !settings.registry.enable_private_registry => {
            Some("private registries are off")
        }
        _ => None,
    }
}

/// The fix for a denied permission: the Role rule to add, in the style of
/// docs/kube.md.
fn role_rule(permission: &Permission, namespace: &str) -> String {
    format!(
        "add this rule to a Role in {namespace} bound to the runner's service account \
         (docs/kube.md):\n\
         - apiGroups: [{:?}]\n  resources: [{:?}]\n  verbs: [{:?}]",
        permission.group,
        resource(permission),
        permission.verb.as_str()
    )
}

/// `pods`, or `pods/log` for a subresource (RBAC's spelling).
fn resource(permission: &Permission) -> String {
    match permission.subresource {
        Some(sub) => format!("{}/{sub}", permission.resource),
        None => permission.resource.to_owned(),
    }
}

/// The API check when the first review got no verdict.
fn unreachable(cluster: &Cluster, e: &kube::Error) -> Check {
    let server = &cluster.server;
    let origin = &cluster.origin;
    let (found, fix) = match e {
        kube::Error::Unauthorized(_) => (
            "refuses the credentials (401)".to_owned(),
            format!(
                "the token or client certificate of {origin} is not valid for this cluster \
                 (expired, revoked, or another cluster's): give it a current one"
            ),
        ),
        kube::Error::Forbidden(_) => (
            "refuses an access review (403): the client is not authenticated".to_owned(),
            format!("give {origin} a token or client certificate the cluster accepts"),
        ),
        kube::Error::Transport { .. } | kube::Error::DeadlineExceeded { .. } => (
            "does not answer".to_owned(),
            format!(
                "check that {server} is the API server's address and reachable from here \
                 (DNS, network policy, proxy, firewall)"
            ),
        ),
        kube::Error::Config(_) => (
            "cannot be asked: no credentials".to_owned(),
            format!("fix the credentials of {origin} (token file, exec plugin)"),
        ),
        _ => (
            "answers an access review with an error".to_owned(),
            "see the error above".to_owned(),
        ),
    };
    Check::fail(format!("Kubernetes API {server} {found}"), fix)
        .with_detail(chain(e))
        .with_detail("not checked: RBAC, the pod namespace, the pod template ConfigMap")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::Verb;

    const WATCH_PODS: Permission = Permission {
        verb: Verb::Watch,
        group: "",
        resource: "pods",
        subresource: None,
        scope: Scope::PodNamespace,
    };

    #[test]
    fn a_denied_permission_names_verb_resource_namespace_and_the_rule() {
        let review = kube::AccessReview::default();
        let check = verdict(&WATCH_PODS, "fns", &review, &ServeSettings::default());
        let text = check.to_string();
        assert!(
            text.starts_with("FAIL  RBAC: watch pods in fns: denied\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "- apiGroups: [\"\"]\n          resources: [\"pods\"]\n          verbs: [\"watch\"]\n"
            ),
            "{text}"
        );
        let rule: serde_json::Value = crate::yaml::from_slice(
            role_rule(&WATCH_PODS, "fns")
                .split_once('\n')
                .expect("a rule after the first line")
                .1
                .as_bytes(),
            crate::yaml::Source::Named("rule".into()),
            1 << 10,
        )
        .expect("the rule is YAML");
        assert_eq!(
            rule,
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}])
        );
    }

    #[test]
    fn unused_permissions_are_not_failures() {
        let review = kube::AccessReview::default();
        let settings = ServeSettings::default();
        let secrets = Permission {
            resource: "secrets",
            verb: Verb::Get,
            ..WATCH_PODS
        };
        let check = verdict(&secrets, "fns", &review, &settings);
        assert_eq!(
            check.summary,
            "RBAC: get secrets in fns: denied, not needed (private registries are off)"
        );
        let template = Permission {
            resource: "configmaps",
            verb: Verb::Get,
            scope: Scope::RunnerNamespace,
            ..WATCH_PODS
        };
        assert_eq!(
            verdict(&template, "own", &review, &settings).status,
            super::super::report::Status::Skip
        );
        let with_template = ServeSettings {
            function_pod_template: Some("tpl".into()),
            ..ServeSettings::default()
        };
        assert_eq!(
            verdict(&template, "own", &review, &with_template).status,
            super::super::report::Status::Fail
        );
    }
}
