//! `fn-runner preflight` as a process against `PodEnv` (the fake API with
//! the runner's documented Role, the TLS registry with basic auth, the
//! mounted auth file and CA), issue 13 "Prove it": all good -> exit 0 and
//! every line passes; a Role missing one verb -> exit 1 naming the verb;
//! each broken piece (auth file, CA dir, template ConfigMap, warm-up image,
//! namespace) named with its fix; `--show-pod` prints, as YAML, the pod the
//! runtime really creates.

use std::process::{Command, Stdio};

use fn_runner::kube::PERMISSIONS;
use serde_json::{json, Value};

use crate::support::fakekube::rbac::Rule;
use crate::support::pods::{
    runner_role, sample_resource_list, PodEnv, PASSWORD, PODS_PATH, POD_NAMESPACE,
    RUNNER_NAMESPACE, WAIT, WRAPPER_SERVER_IMAGE,
};
use crate::support::process::fn_runner_bin;

/// What one run printed, and its exit code.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The checklist's lines (status, summary), up to the closing count.
    fn checks(&self) -> Vec<(&str, &str)> {
        self.stdout
            .lines()
            .take_while(|l| !l.starts_with("preflight: "))
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split_once(' ').unwrap_or((l, "")))
            .map(|(status, rest)| (status, rest.trim_start()))
            .collect()
    }

    /// The check whose summary starts with `prefix`, with the lines under
    /// it; panics with the whole output when there is none.
    fn check(&self, prefix: &str) -> String {
        let mut lines = self.stdout.lines().skip_while(|l| {
            let summary = l.get(6..).unwrap_or("");
            l.starts_with(' ') || !summary.starts_with(prefix)
        });
        let Some(first) = lines.next() else {
            panic!("no check {prefix:?} in:\n{}", self.stdout);
        };
        let mut text = vec![first];
        text.extend(lines.take_while(|l| l.starts_with(' ')));
        text.join("\n")
    }

    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `fn-runner preflight` with the flags every runner of the env gets,
/// then `extra` (later flags win), in the runner's environment.
fn preflight(env: &PodEnv, extra: &[String]) -> Outcome {
    let flags = env.serve_flags();
    let out = Command::new(fn_runner_bin())
        .arg("preflight")
        .args(&flags[1..])
        .args(extra)
        .current_dir(env.dir().join("cwd"))
        .env("WRAPPER_SERVER_IMAGE", WRAPPER_SERVER_IMAGE)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .stdin(Stdio::null())
        .output()
        .expect("run fn-runner preflight");
    let outcome = Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for text in [&outcome.stdout, &outcome.stderr] {
        assert!(
            !text.contains(PASSWORD),
            "a password shows:\n{}",
            outcome.show()
        );
    }
    outcome
}

/// Writes `text` as a pod cache config in the env's directory; the flag.
fn cache_config(env: &PodEnv, name: &str, text: &str) -> String {
    let path = env.dir().join(name);
    std::fs::write(&path, text).expect("write the pod cache config");
    format!("--pod-cache-config={}", path.display())
}

// Everything set up as docs/kube.md and the README say, with a warm-up
// list in each of its two formats: exit 0, and every line passes.
#[test]
fn all_good_passes_every_check() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let v4 = cache_config(&env, "v4.yaml", &format!("{image}: 5m\n"));
    let v15 = cache_config(
        &env,
        "v15.yaml",
        &format!("- name: {image}\n  timeToLive: 5m\n  maxParallelPodsPerFunction: 2\n"),
    );
    let mark = env.kube.mark();
    for file in [v4, v15] {
        let out = preflight(&env, &[file]);
        assert_eq!(out.code, Some(0), "{}", out.show());
        let checks = out.checks();
        assert!(
            checks.iter().all(|(status, _)| *status == "ok"),
            "{}",
            out.show()
        );
        let rbac = checks
            .iter()
            .filter(|(_, summary)| summary.starts_with("RBAC: "))
            .count();
        assert_eq!(rbac, PERMISSIONS.len(), "{}", out.show());
        for prefix in [
            "Kubernetes configuration: kubeconfig ",
            "Kubernetes API https://",
            "RBAC: watch pods in porch-fn-system",
            "RBAC: get configmaps in porch-system",
            "WRAPPER_SERVER_IMAGE=fn-runner.test/wrapper-server:harness",
            "registry auth file ",
            "registry CA ",
            "pod cache config ",
        ] {
            out.check(prefix);
        }
        let auth = out.check("registry auth file");
        assert!(
            auth.ends_with(&format!("credentials for {}", env.registry.host())),
            "{auth}"
        );
        let warm = out.check(&format!("warm-up image {image}: sha256:"));
        assert!(
            warm.contains("via https-custom-ca, with credentials"),
            "{warm}"
        );
        let namespace = out.check("pod namespace porch-fn-system: ");
        assert!(
            namespace.contains("dry-run create (dryRun=All)")
                && namespace.contains(&format!("pod for {image}"))
                && namespace.contains("was accepted"),
            "{namespace}"
        );
        assert!(
            out.stdout.ends_with(&format!(
                "preflight: {} ok, 0 failed, 0 warnings, 0 skipped\n",
                checks.len()
            )),
            "{}",
            out.show()
        );
    }
    // Nothing was made: the create was a dry run, the reviews store nothing.
    assert!(env.pods().is_empty(), "{:?}", env.pods());
    let creates: Vec<_> = env
        .kube
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == PODS_PATH)
        .collect();
    assert_eq!(creates.len(), 2, "one dry run per preflight: {creates:?}");
    assert!(
        creates.iter().all(|r| r.query == "dryRun=All"),
        "{creates:?}"
    );
    assert_eq!(
        env.kube.count_since(
            mark,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        ),
        2 * PERMISSIONS.len()
    );
}

// The Role without one verb (watch on pods): exit 1, the line names the
// verb, resource and namespace, and the rule to add; the rest still pass.
#[test]
fn a_role_missing_one_verb_fails_naming_it() {
    let env = PodEnv::start();
    env.kube.deny("watch", "pods");
    let out = preflight(&env, &["--warm-up-pod-cache=false".to_owned()]);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let failed: Vec<_> = out
        .checks()
        .into_iter()
        .filter(|(status, _)| *status != "ok" && *status != "skip")
        .collect();
    assert_eq!(
        failed,
        [("FAIL", "RBAC: watch pods in porch-fn-system: denied")],
        "{}",
        out.show()
    );
    let check = out.check("RBAC: watch pods");
    assert!(
        check.contains(
            "fix: add this rule to a Role in porch-fn-system bound to the runner's service account"
        ) && check.contains("- apiGroups: [\"\"]")
            && check.contains("resources: [\"pods\"]")
            && check.contains("verbs: [\"watch\"]"),
        "{check}"
    );
    out.check("RBAC: list pods in porch-fn-system");
    assert!(out.stdout.contains("preflight: "), "{}", out.show());
}

// A token the API refuses, and an address nobody answers on: the API line
// says which, with its fix, and no RBAC line claims anything. The
// kubeconfig context's namespace is the runner's own.
#[test]
fn refused_or_unreachable_api_is_named_and_the_runner_namespace_is_the_contexts() {
    let env = PodEnv::start();
    let flag = |path: &std::path::Path| format!("--kubeconfig={}", path.display());
    let no_warm_up = "--warm-up-pod-cache=false".to_owned();

    let refused = env
        .kube
        .write_kubeconfig_in("refused", "token: not-the-token", RUNNER_NAMESPACE);
    let out = preflight(&env, &[flag(&refused), no_warm_up.clone()]);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let api = out.check("Kubernetes API https://");
    assert!(
        api.contains("refuses the credentials (401)")
            && api.contains(&format!(
                "fix: the token or client certificate of kubeconfig {}",
                refused.display()
            )),
        "{api}"
    );
    assert!(!out.stdout.contains("RBAC: "), "{}", out.show());
    out.check("pod namespace porch-fn-system: not checked (no Kubernetes API, above)");

    let text = std::fs::read_to_string(&refused).expect("kubeconfig");
    let unreachable = env.dir().join("unreachable-kubeconfig");
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server line")
        .to_owned();
    // Port 1 (tcpmux) is closed on test machines: connection refused.
    std::fs::write(&unreachable, text.replace(&server, "https://127.0.0.1:1")).expect("write");
    let out = preflight(&env, &[flag(&unreachable), no_warm_up.clone()]);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let api = out.check("Kubernetes API https://127.0.0.1:1 does not answer");
    assert!(api.contains("reachable from here"), "{api}");

    let other = env.kube.write_kubeconfig_in(
        "other-namespace",
        &format!("tokenFile: {}", env.kube.token_path().display()),
        "fn-runner-elsewhere",
    );
    let out = preflight(&env, &[flag(&other), no_warm_up]);
    assert_eq!(out.code, Some(0), "{}", out.show());
    out.check("Kubernetes configuration: kubeconfig ");
    assert!(
        out.check("Kubernetes configuration")
            .ends_with("runner namespace fn-runner-elsewhere"),
        "{}",
        out.show()
    );
    // The Role grants the ConfigMap in porch-system only; without
    // --function-pod-template it is not needed.
    out.check("RBAC: get configmaps in fn-runner-elsewhere: denied, not needed (--function-pod-template is not given)");
}

// A mounted auth file that is not there, and a TLS directory without
// ca.crt: each named with its fix.
#[test]
fn a_missing_auth_file_and_a_ca_dir_without_ca_crt_are_named_with_their_fix() {
    let env = PodEnv::start();
    let missing = env.dir().join("nowhere/.dockerconfigjson");
    let tls = env.dir().join("tls-without-ca");
    std::fs::create_dir_all(&tls).expect("dir");
    std::fs::write(tls.join("tls.crt"), "not the CA").expect("write");
    let out = preflight(
        &env,
        &[
            format!("--registry-auth-secret-path={}", missing.display()),
            format!("--tls-secret-path={}", tls.display()),
            "--warm-up-pod-cache=false".to_owned(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.show());
    let auth = out.check(&format!(
        "registry auth file {}: unusable",
        missing.display()
    ));
    assert!(
        auth.contains(&format!(
            "fix: mount the docker config.json Secret at {}",
            missing.display()
        )),
        "{auth}"
    );
    let ca = out.check(&format!("registry CA in {}: unusable", tls.display()));
    assert!(
        ca.contains("it holds tls.crt") && ca.contains("under the key ca.crt or ca.pem"),
        "{ca}"
    );
}

// A --function-pod-template ConfigMap whose pod has no `function`
// container: named, with the fix; without the template no dry run. Once
// fixed, --show-pod prints the template's pod with what the runner adds.
#[test]
fn a_template_without_a_function_container_is_named_with_its_fix() {
    let env = PodEnv::start();
    let template =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: main\n    image: x\n";
    env.kube
        .create(
            "configmaps",
            RUNNER_NAMESPACE,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "fn-template", "namespace": RUNNER_NAMESPACE},
                   "data": {"template": template}}),
        )
        .expect("create the ConfigMap");
    let out = preflight(
        &env,
        &[
            "--function-pod-template=fn-template".to_owned(),
            "--warm-up-pod-cache=false".to_owned(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.show());
    let check = out.check("function pod template ConfigMap porch-system/fn-template: unusable");
    assert!(
        check.contains("no container named \"function\"")
            && check.contains("fix: name the container the runner fills in"),
        "{check}"
    );
    out.check("pod namespace porch-fn-system: not checked (no pod template, above)");
    // The inline template's variable does not matter with a ConfigMap.
    assert!(
        !out.stdout.contains("WRAPPER_SERVER_IMAGE"),
        "{}",
        out.show()
    );
    // Fixed: the shown pod is the template's, with what the runner adds.
    let fixed = "apiVersion: v1\nkind: Pod\nspec:\n  tolerations:\n  - key: fn\n    operator: Exists\n  containers:\n  - name: function\n    image: x\n    args: [--verbosity, \"1\"]\n";
    env.kube
        .patch(
            "configmaps",
            RUNNER_NAMESPACE,
            "fn-template",
            json!({"data": {"template": fixed}}),
        )
        .expect("patch the ConfigMap");
    let image = &env.images.set_namespace;
    let out = preflight(
        &env,
        &[
            "--function-pod-template=fn-template".to_owned(),
            "--warm-up-pod-cache=false".to_owned(),
            format!("--show-pod={image}"),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.show());
    let check = out.check("function pod template ConfigMap porch-system/fn-template (version ");
    assert!(
        check.ends_with("a pod with a \"function\" container"),
        "{check}"
    );
    let (_, yaml) = out.stdout.split_once("\n---\n").expect("a YAML document");
    let pod: Value = fn_runner::yaml::from_slice(
        yaml.as_bytes(),
        fn_runner::yaml::Source::Named("preflight --show-pod".into()),
        1 << 20,
    )
    .unwrap_or_else(|e| panic!("{e}:\n{yaml}"));
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([{"key": "fn", "operator": "Exists"}])
    );
    let function = &pod["spec"]["containers"][0];
    assert_eq!(function["image"], image.as_str());
    assert_eq!(function["args"][0], "--verbosity");
    assert_eq!(function["args"][2], "--port");
    assert_eq!(pod["metadata"]["namespace"], POD_NAMESPACE);
}

// A warm-up image the registry does not have: named, with the fix.
#[test]
fn an_unresolvable_warm_up_image_is_named_with_its_fix() {
    let env = PodEnv::start();
    let missing = format!("{}/kpt-fn/not-pushed:v1", env.registry.host());
    let good = &env.images.set_namespace;
    let file = cache_config(&env, "warm.yaml", &format!("{good}: 5m\n{missing}: 5m\n"));
    let out = preflight(&env, &[file]);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let failed: Vec<_> = out
        .checks()
        .into_iter()
        .filter(|(status, _)| *status == "FAIL")
        .map(|(_, summary)| summary.to_owned())
        .collect();
    assert_eq!(
        failed,
        [format!("warm-up image {missing}: does not resolve")],
        "{}",
        out.show()
    );
    let check = out.check(&format!("warm-up image {missing}"));
    assert!(
        check.contains(&format!("`fn-runner inspect [registry flags] {missing}`")),
        "{check}"
    );
    out.check(&format!("warm-up image {good}: sha256:"));
}

// A pod namespace that does not exist (RBAC granted there): the dry-run
// create says so, with the fix.
#[test]
fn a_missing_pod_namespace_is_named_with_its_fix() {
    let env = PodEnv::start();
    let rules: Vec<Rule> = runner_role()
        .into_iter()
        .map(|mut rule| {
            if rule.namespace == POD_NAMESPACE {
                rule.namespace = "fns-missing".to_owned();
            }
            rule
        })
        .collect();
    env.kube.grant_only(rules);
    let out = preflight(
        &env,
        &[
            "--pod-namespace=fns-missing".to_owned(),
            "--warm-up-pod-cache=false".to_owned(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.show());
    let check = out.check("pod namespace fns-missing: ");
    assert!(
        check.contains("the namespace does not exist")
            && check.contains("fix: create it (kubectl create namespace fns-missing)")
            && check.contains("the stand-in image"),
        "{check}"
    );
}

// `--show-pod IMAGE` prints YAML that parses to the pod the runtime really
// creates for IMAGE's first call (server-set fields aside), with the TTL
// of IMAGE's --pod-cache-config entry.
#[test]
fn show_pod_prints_the_pod_the_runtime_creates() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let per_image = cache_config(&env, "ttl.yaml", &format!("{image}: 5m\n"));
    let runner = env.serve(&["--warm-up-pod-cache=false", &per_image]);
    runner
        .eval(image, &sample_resource_list(), Some(WAIT))
        .unwrap_or_else(|e| panic!("{e}\n{}", runner.log().text()));
    drop(runner);
    let pods = env.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    let mut created = pods[0].object.clone();

    let before = unix_now();
    let out = preflight(
        &env,
        &[
            format!("--show-pod={image}"),
            "--warm-up-pod-cache=false".to_owned(),
            per_image,
        ],
    );
    let after = unix_now();
    assert_eq!(out.code, Some(0), "{}", out.show());
    out.check(&format!("--show-pod image {image}: sha256:"));
    let (_, yaml) = out
        .stdout
        .split_once("\n---\n")
        .unwrap_or_else(|| panic!("no YAML document:\n{}", out.show()));
    let mut shown: Value = fn_runner::yaml::from_slice(
        yaml.as_bytes(),
        fn_runner::yaml::Source::Named("preflight --show-pod".into()),
        1 << 20,
    )
    .unwrap_or_else(|e| panic!("{e}:\n{yaml}"));

    // What the server and the clock set differs; all else must not.
    let shown_reclaim = reclaim_after(&shown);
    let created_reclaim = reclaim_after(&created);
    assert!(
        shown_reclaim >= created_reclaim,
        "{shown_reclaim} {created_reclaim}"
    );
    // The entry's 5m, not --pod-ttl's 30m.
    assert!(
        (before + 300..=after + 300).contains(&shown_reclaim),
        "{before} {shown_reclaim} {after}"
    );
    for pod in [&mut shown, &mut created] {
        let meta = pod["metadata"].as_object_mut().expect("metadata");
        for field in ["name", "uid", "resourceVersion", "creationTimestamp"] {
            meta.remove(field);
        }
        meta["annotations"]
            .as_object_mut()
            .expect("annotations")
            .remove("fn.kpt.dev/reclaim-after");
        pod.as_object_mut().expect("pod").remove("status");
    }
    assert_eq!(
        shown,
        created,
        "shown:\n{yaml}\ncreated:\n{}",
        serde_json::to_string_pretty(&created).expect("JSON")
    );
    // Nothing created by preflight.
    assert_eq!(env.pods().len(), 1);
}

/// A pod's `fn.kpt.dev/reclaim-after` (unix seconds).
fn reclaim_after(pod: &Value) -> u64 {
    pod["metadata"]["annotations"]["fn.kpt.dev/reclaim-after"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no reclaim-after in {pod}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
