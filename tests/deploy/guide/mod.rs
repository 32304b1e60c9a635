//! The README's "Swap fn-runner into Porch", followed line by line against
//! the fake API server (with the real `kubectl`, as the cluster admin) and
//! the test registry (TLS with the test CA, basic auth), its shown output
//! checked against the real one (`readme.rs`):
//!
//! 1. (Docker: not here.)
//! 2. The `sed` of the two image fields, run as written.
//! 3. The guide's Secrets made as written; its flags block (read from the
//!    README) added after Porch's flags.
//! 4. The warm-up list made as written, naming a private image.
//! 5. `kubectl apply -k deploy/`. From then on the runner's service
//!    account may do exactly what the Role that apply made grants it
//!    (`FakeKube::grant_bound`).
//! 6. The runner started as the stored Deployment runs it (`runner_pod.rs`:
//!    its command, env, user, volumes from the stored ConfigMap and
//!    Secrets, the in-cluster service account) on the image's files in an
//!    empty root; the warm-up pod starts on the simulated node. Then the
//!    guide's `kubectl exec` commands in that root: the readiness probe
//!    (the Deployment's own), `preflight` with the container's own args
//!    (exit 0), `inspect`, and `eval` of the private image, which runs in
//!    the function pod (the node's wrapper server logs the call);
//!    `kubectl get pods` shows that pod.
//! 7. Roll back: `kubectl delete -k deploy/` (the runner's pod then gets
//!    SIGTERM and exits 0), the function pods deleted as written, Porch's
//!    own manifest applied.
//!
//! What only a real cluster or Docker can run is listed in [`NOT_HERE`];
//! every other command of the section runs. `--nocapture` prints each
//! command and its real output in the README's names: copy from there
//! when the code's output changes.

mod runner_pod;

use std::path::Path;
use std::process::{Command, Output};

use fn_runner::proto::ServingStatus;

use self::runner_pod::RunnerPod;
use crate::deploy::readme::{Guide, Names, Shown};
use crate::support::exec::function;
use crate::support::fakekube::Options;
use crate::support::image::repo;
use crate::support::kubectl::Kubectl;
use crate::support::pods::{evaluate, strings, PodEnv, WAIT};
use crate::support::tempdir::TempDir;

/// The README's example image (the two image fields).
const IMAGE: &str = "registry.internal:5000/porch/fn-runner:0.1.0";
/// The placeholder the two image fields hold in deploy/.
const PLACEHOLDER: &str = "registry.example.com/fn-runner:0.1.0";
/// The README's example function image (`team/set-namespace:v1` of the
/// test registry).
const FUNCTION: &str = "registry.internal:5000/team/set-namespace:v1";
/// What the guide shows that cannot run here: Docker, and the Deployment
/// controller behind `rollout status`.
const NOT_HERE: [&str; 3] = ["docker build", "docker push", "rollout status"];
/// `kubectl exec` as the guide writes it (in the pod of the Deployment).
const EXEC: &str = "kubectl -n porch-system exec deploy/function-runner -- ";
const EXEC_STDIN: &str = "kubectl -n porch-system exec -i deploy/function-runner -- ";

/// The guide's shell: kubectl as the cluster admin, in `dir`.
struct Shell<'a> {
    kubectl: Kubectl<'a>,
    names: Names,
    dir: &'a Path,
    home: &'a Path,
}

impl Shell<'_> {
    /// Runs README text with `sh -c` (in the test's names; `kubectl apply`
    /// with `--validate=false`: the fake serves no OpenAPI documents for
    /// kubectl to validate against, a real cluster does); prints it and
    /// its output in the README's names, which it returns.
    fn sh(&self, script: &str) -> String {
        let real = self
            .names
            .real(script)
            .replace("kubectl apply", "kubectl apply --validate=false");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&real)
            .current_dir(self.dir)
            .env("KUBECONFIG", self.kubectl.kubeconfig())
            .env("HOME", self.home)
            .output()
            .expect("run sh");
        let text = self.print(script, &out);
        assert!(out.status.success(), "{script}: {text}");
        text
    }

    /// Runs a `$ ` command of the guide and checks its shown output.
    fn session(&self, shown: &Shown) -> String {
        let out = self.sh(&shown.command);
        shown.assert_matches(&out);
        out
    }

    /// A `kubectl exec deploy/function-runner -- ...` command of the
    /// guide, run in `pod`; its output checked; (exit code, output).
    fn exec(&self, pod: &RunnerPod, shown: &Shown) -> (Option<i32>, String) {
        let (command, stdin) = match shown.command.strip_prefix(EXEC) {
            Some(command) => (command.to_owned(), None),
            None => {
                let rest = shown
                    .command
                    .strip_prefix(EXEC_STDIN)
                    .expect("a kubectl exec command");
                let (command, file) = rest.split_once(" < ").expect("exec -i reads a file");
                let bytes = std::fs::read(self.dir.join(file.trim())).expect("the stdin file");
                (command.to_owned(), Some(bytes))
            }
        };
        let command = self.names.real(&command);
        assert!(!command.contains(['\'', '"']), "split on spaces: {command}");
        let words: Vec<&str> = command.split_whitespace().collect();
        let out = pod.exec(words[0], &words[1..], stdin.as_deref());
        let text = self.print(&shown.command, &out);
        shown.assert_matches(&text);
        (out.status.code(), text)
    }

    /// Prints the README's `command` and `out` (stdout, then stderr) in
    /// the README's names, which it returns.
    fn print(&self, command: &str, out: &Output) -> String {
        let text = self.names.shown(&format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        println!("$ {command}\n{text}");
        text
    }
}

/// Copies `deploy/` to `to` (the user's checkout).
fn copy_deploy(to: &Path) {
    let from = repo().join("deploy");
    std::fs::create_dir_all(to).expect("deploy copy");
    for entry in std::fs::read_dir(&from).expect("deploy/") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

/// The guide's step 3 flags block (from the README) added after Porch's
/// `--max-request-body-size` line of `manifest`.
fn add_flags(guide: &Guide, manifest: &Path) {
    let block = guide.block_after("add its flags", "yaml");
    let (porch, added) = block.split_first().expect("the flags block");
    let text = std::fs::read_to_string(manifest).expect("read");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(porch.trim()))
        .unwrap_or_else(|| panic!("{porch:?} in deploy/function-runner.yaml"))
        .to_owned();
    let with = format!("{line}\n{}", added.join("\n"));
    std::fs::write(manifest, text.replacen(&line, &with, 1)).expect("write");
}

#[test]
fn swap_guide_followed_line_by_line() {
    let guide = Guide::load();
    let registry = crate::support::pods::FnRegistry::shared();
    let functions = function("set-namespace");
    let functions = functions.parent().expect("testdata/functions");
    // The node runs function pods whose init container copies from the
    // image the Deployment names.
    let host = registry.host();
    let wrapper_image = IMAGE.replace("registry.internal:5000", &host);
    let env = PodEnv::with_wrapper_image(Options::default(), &wrapper_image);
    let fake = &env.kube;
    // The cluster before the swap: Porch's namespaces, an admin's kubectl.
    fake.grant_only(Vec::new());
    let names = Names::new(
        &host,
        &fake.addr().to_string(),
        &functions.display().to_string(),
    );
    assert_eq!(names.real(FUNCTION), env.images.team_set_namespace);
    let work = TempDir::new("swap-guide");
    let dir = work.path();
    copy_deploy(&dir.join("deploy"));
    let shell = Shell {
        kubectl: Kubectl::admin(fake),
        names,
        dir,
        home: fake.dir(),
    };

    // Step 2: the two image fields.
    let manifest = dir.join("deploy/function-runner.yaml");
    let text = std::fs::read_to_string(&manifest).expect("read");
    assert_eq!(
        text.matches(PLACEHOLDER).count(),
        2,
        "exactly two image fields"
    );
    shell.sh(&guide.script("sed -i"));
    let text = std::fs::read_to_string(&manifest).expect("read");
    assert_eq!(
        text.matches(&wrapper_image).count(),
        2,
        "both image fields set"
    );

    // Step 3: the guide's Secrets and flags.
    std::fs::copy(registry.pki.ca_crt(), dir.join("ca.crt")).expect("CA");
    std::fs::write(dir.join("config.json"), env.auth_file_bytes()).expect("config.json");
    shell.sh(&guide.script("kubectl create secret generic auth-secret"));
    let secret = fake
        .object("secrets", "porch-system", "auth-secret")
        .expect("auth-secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert!(fake
        .object("secrets", "porch-system", "tls-secret")
        .expect("tls-secret")["data"]["ca.crt"]
        .is_string());
    add_flags(&guide, &manifest);

    // Step 4: the warm-up list.
    shell.sh(&guide.script("kubectl create configmap pod-cache-config"));

    // Step 5: apply; the runner may do what the Role it made grants.
    let out = shell.session(&guide.session("kubectl apply -k deploy/"));
    assert!(
        out.contains("deployment.apps/function-runner created"),
        "{out}"
    );
    fake.grant_bound();

    // Step 6: the image fields as the cluster has them.
    let out = shell.session(
        &guide.session("kubectl -n porch-system get deployment function-runner -o jsonpath="),
    );
    assert_eq!(out, format!("{IMAGE}\n{IMAGE}\n"));
    let deployment = fake
        .object("deployments", "porch-system", "function-runner")
        .expect("deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let command = strings(&container["command"]);
    assert_eq!(
        command.len(),
        10,
        "Porch's 5 and the guide's 5: {command:?}"
    );

    // The runner's pod: it serves once warm-up has its pod.
    let pod = RunnerPod::new(fake, &deployment);
    let runner = pod.start();
    let warm = env.wait_for_pods("made by the warm-up", |pods| {
        pods.iter()
            .any(|p| p.image() == env.images.team_set_namespace && p.ready)
    });
    // Ready once the warm-up is over (what `rollout status` waits for).
    let health = evaluate::wait_serving(&evaluate::connect(&runner.addr), WAIT);
    assert!(
        matches!(health, Ok(ServingStatus::SERVING)),
        "{health:?}\n{}",
        runner.log()
    );

    // The readiness probe: the Deployment's own command, as the guide runs it.
    let probe = guide.session(&format!("{EXEC}/grpc-health-probe"));
    let probe_command: Vec<String> = probe.command[EXEC.len()..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        probe_command,
        strings(&container["readinessProbe"]["exec"]["command"])
    );
    let (code, _) = shell.exec(&pod, &probe);
    assert_eq!(code, Some(0));

    // preflight with the container's own args.
    let preflight = guide.session(&format!("{EXEC}/fn-runner preflight"));
    let args: Vec<&str> = preflight.command.split_whitespace().skip(8).collect();
    assert_eq!(
        args,
        pod.command()[1..],
        "preflight gets the container's args"
    );
    let (code, out) = shell.exec(&pod, &preflight);
    assert_eq!(code, Some(0), "{out}");

    // inspect, and the function in its pod.
    let (code, out) = shell.exec(&pod, &guide.session(&format!("{EXEC}/fn-runner inspect")));
    assert_eq!(code, Some(0), "{out}");
    std::fs::copy(
        crate::support::exec::testdata().join("resourcelist.yaml"),
        dir.join("resources.yaml"),
    )
    .expect("resources.yaml");
    let (code, out) = shell.exec(
        &pod,
        &guide.session(&format!("{EXEC_STDIN}/fn-runner eval")),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("namespace: production"),
        "the function ran: {out}"
    );
    let warm = warm
        .iter()
        .find(|p| p.image() == env.images.team_set_namespace)
        .expect("the warm-up pod");
    let calls = env.wait_for_wrapper_calls(&warm.name, "served the call", |calls| {
        calls.iter().any(|c| c.ended.is_some())
    });
    assert_eq!(calls.len(), 1, "the call ran in the warm-up pod");
    assert_eq!(calls[0].image, env.images.team_set_namespace);
    let out = shell.session(&guide.session("kubectl -n porch-fn-system get pods"));
    assert_eq!(out.trim(), format!("pod/{}", warm.name));
    // Everything the runner asked, the Role from deploy/ allowed.
    let refused: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.code == 401 || r.code == 403)
        .collect();
    assert!(
        refused.is_empty(),
        "refused: {refused:#?}\n{}",
        runner.log()
    );
    assert_eq!(env.pods().len(), 1, "no pod but the warm-up one");

    // Step 7: roll back.
    shell.session(&guide.session("kubectl delete -k deploy/"));
    // The Deployment is gone: the kubelet stops the runner's pod.
    let mut runner = runner;
    let status = runner.terminate();
    println!("the runner's log:\n{}", runner.log());
    assert!(status.success(), "{status:?}");
    let out = shell.session(&guide.session("kubectl -n porch-fn-system delete pods"));
    assert_eq!(out.trim(), format!("pod \"{}\" deleted", warm.name));
    env.wait_for_pods("all gone", <[_]>::is_empty);
    let porch = std::fs::read_to_string(repo().join("deploy/function-runner.yaml"))
        .expect("read")
        .replacen(
            PLACEHOLDER,
            "docker.io/nephio/porch-function-runner:latest",
            1,
        )
        .replacen(
            PLACEHOLDER,
            "docker.io/nephio/porch-wrapper-server:latest",
            1,
        );
    std::fs::write(dir.join("2-function-runner.yaml"), porch).expect("write");
    shell.session(&guide.session("kubectl apply -f 2-function-runner.yaml"));
    guide.assert_all_run(&NOT_HERE);
    assert!(
        pod.written().is_empty(),
        "written in a read-only root: {:?}",
        pod.written()
    );
}
