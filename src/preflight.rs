//! `fn-runner preflight [serve flags] [--show-pod IMAGE]` (issue 13): runs
//! the checks the pod runtime's start and first pods would meet, with
//! serve's own flags and code, and prints a checklist: one line per check,
//! the fix under each failure. Exit 0 only when none fails (warnings and
//! skipped checks pass); 1 otherwise; usage errors are 2 (`main`).
//!
//! ```text
//! cluster.rs   Kubernetes configuration -> API answers with the token
//!              -> RBAC: one SelfSubjectAccessReview per kube::PERMISSIONS entry
//! template.rs  WRAPPER_SERVER_IMAGE (inline template) | the --function-pod-template ConfigMap
//! secrets.rs   registry auth file (--enable-private-registry), registry CA (TLS flag)
//! images.rs    the --pod-cache-config file (per-image settings, warm-up list);
//!              every warm-up image resolves (--warm-up-pod-cache), with its ladder rung;
//!              the --show-pod image
//! cluster.rs   the pod namespace: a server-side dry-run create of the pod (pod.rs)
//! report.rs    the checklist;  crate::yaml::emit  the --show-pod manifest
//! ```
//!
//! Nothing is created: the dry run stores nothing, access reviews are not
//! stored either. With `--show-pod IMAGE` the pod the runner would create
//! for IMAGE follows the checklist as a YAML document (after `---`), for an
//! operator to review a template before deploying it.
//!
//! A mode, like `inspect`: it reads settings and the environment
//! (`WRAPPER_SERVER_IMAGE`, through serve's own reader); the libraries it
//! drives do not.

mod cluster;
mod images;
mod pod;
mod report;
mod secrets;
mod template;

use std::io::Write;

use self::cluster::Cluster;
use self::pod::Subject;
use self::report::{Check, Checklist};
use crate::evaluator::pod::template::Template;
use crate::flags::{self, PreflightSettings};
use crate::kube::Pod;
use crate::registry;

/// Runs every check, prints the checklist (and the pod); returns the exit
/// code.
pub fn run(settings: &PreflightSettings) -> u8 {
    let stdout = std::io::stdout();
    let mut list = Checklist::new(stdout.lock());
    let shown = check_all(settings, &mut list);
    let passed = list.all_passed();
    let mut out = list.finish();
    if let Some((image, pod)) = shown {
        let value = serde_json::to_value(&pod).expect("a Pod is JSON: string keys, JSON values");
        let _ = write!(
            out,
            "---\n# The pod fn-runner serve would create for {image} at its first call\n\
             # (a warm-up pod has the name <pod id> instead of generateName):\n{}",
            crate::yaml::emit::to_string(&value)
        );
        let _ = out.flush();
    }
    u8::from(!passed)
}

/// The checks in the order of the module doc; the `--show-pod` image and
/// its pod when it could be made.
fn check_all<W: Write>(
    settings: &PreflightSettings,
    list: &mut Checklist<W>,
) -> Option<(String, Pod)> {
    let serve = &settings.serve;
    if !serve.runtimes.pod {
        list.push(Check::skip(
            "pod runtime: off (--disable-runtimes): nothing of it to check",
        ));
        return None;
    }
    let (check, cluster) = cluster::connect(serve);
    list.push(check);
    let mut api: Option<&Cluster> = None;
    match &cluster {
        Some(cluster) => {
            let (checks, reachable) = cluster::review_permissions(cluster, serve);
            checks.into_iter().for_each(|c| list.push(c));
            api = reachable.then_some(cluster);
        }
        None => list.push(Check::skip(
            "Kubernetes API and RBAC: not checked (no usable Kubernetes configuration, above)",
        )),
    }
    let (check, template) = match &serve.function_pod_template {
        None => template::inline(crate::serve::wrapper_server_image().as_deref()),
        Some(name) => template::config_map(api, name),
    };
    list.push(check);

    let registry_config = flags::registry_config(&serve.registry);
    list.push(secrets::auth_file(registry_config.auth_file.as_deref()));
    list.push(secrets::ca_dir(registry_config.ca_dir.as_deref()));
    let registry = registry::Client::new(&registry_config);
    let (checks, per_image) = images::cache_config(serve);
    checks.into_iter().for_each(|c| list.push(c));
    let (checks, warm) = images::warm_up(serve, &per_image, registry.as_ref());
    checks.into_iter().for_each(|c| list.push(c));
    let shown_info = settings.show_pod.as_deref().and_then(|image| {
        let (check, info) = images::resolve("--show-pod image", image, registry.as_ref());
        list.push(check);
        info
    });

    let make = |template: &Template, subject: &Subject<'_>| {
        pod::manifest(template, serve, &per_image, registry.as_ref().ok(), subject)
    };
    let shown = match (&template, &shown_info) {
        (Some(template), Some(info)) => match make(template, &Subject::resolved(info)) {
            Ok(pod) => Some((info.image.clone(), pod)),
            Err(e) => {
                list.push(Check::fail(
                    format!("--show-pod image {}: {e}", info.image),
                    "give a valid image reference",
                ));
                None
            }
        },
        (None, Some(info)) => {
            list.push(Check::fail(
                format!(
                    "--show-pod image {}: no pod to show without a pod template (above)",
                    info.image
                ),
                "fix the pod template first",
            ));
            None
        }
        (_, None) => None,
    };

    let namespace = &serve.pod_namespace;
    let dry_run = match (api, &template) {
        (None, _) => Check::skip(format!(
            "pod namespace {namespace}: not checked (no Kubernetes API, above)"
        )),
        (_, None) => Check::skip(format!(
            "pod namespace {namespace}: not checked (no pod template, above)"
        )),
        (Some(cluster), Some(template)) => {
            // The shown pod, else one for the first warm-up image, else the stand-in.
            let made = match (&shown, warm.first()) {
                (Some((image, pod)), _) => Ok((image.clone(), pod.clone())),
                (None, Some(info)) => {
                    make(template, &Subject::resolved(info)).map(|pod| (info.image.clone(), pod))
                }
                (None, None) => make(template, &Subject::stand_in())
                    .map(|pod| (format!("the stand-in image {}", pod::STAND_IN_IMAGE), pod)),
            };
            match made {
                Ok((image, pod)) => cluster::dry_run_create(cluster, namespace, &pod, &image),
                Err(e) => Check::fail(
                    format!("pod namespace {namespace}: no pod to dry-run: {e}"),
                    "see the image lines above",
                ),
            }
        }
    };
    list.push(dry_run);
    shown
}
