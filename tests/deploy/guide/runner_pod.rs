//! The function runner's pod as a node would run it from the Deployment
//! `kubectl apply -k deploy/` stored in the fake API, without a container
//! runtime: an empty root holding the image's files ([`ImageRoot`], with
//! the `FUNCTIONS=none` stage's `/functions/` and `/config.yaml`), entered
//! with `chroot` as the pod's user, with
//! - the container's `command` and `env` as stored (so the guide's flags
//!   and `WRAPPER_SERVER_IMAGE` are the cluster's);
//! - every `volumeMount` filled from its volume as the kubelet fills it:
//!   a ConfigMap's or Secret's keys as files (an `optional` Secret that
//!   does not exist leaves the directory empty), read from the fake;
//! - the service account's token, `ca.crt` and `namespace` at
//!   `/var/run/secrets/kubernetes.io/serviceaccount/`, and
//!   `KUBERNETES_SERVICE_HOST`/`_PORT` naming the fake: the in-cluster
//!   configuration, as in a pod;
//! - its own loopback IP (leased like a function pod's) standing for the
//!   pod's network namespace: the runner gets `--bind-address <IP>` after
//!   its args (in a pod it listens on every interface of its own
//!   namespace), and `localhost:` in an exec'd command's arguments becomes
//!   `<IP>:` (what `localhost` means inside the pod).
//!
//! `exec` is `kubectl exec deploy/function-runner -- ...`: a program run in
//! the same root, as the same user, with the same environment. The root is
//! root's and not writable by the pod's user, as `readOnlyRootFilesystem`
//! makes it ([`RunnerPod::written`] lists what appeared anyway).
//!
//! Left out: resource limits, the seccomp profile, dropped capabilities
//! (the user is not root: it has none), the kubelet's atomic `..data`
//! symlinks of mounted volumes (plain files here).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;

use fn_runner::image_layout as layout;

use crate::support::exec::RunnerProcess;
use crate::support::fakekube::pod_ip::PodIp;
use crate::support::fakekube::FakeKube;
use crate::support::image::{repo, ImageRoot};
use crate::support::pods::strings;
use crate::support::process::output_with_stdin;
use crate::support::registry::run;

/// Where the kubelet mounts the service account (and fn-runner reads it).
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The runner's pod, set up from a stored Deployment (see the module doc).
pub struct RunnerPod {
    root: ImageRoot,
    /// The container's `command` (program, then its args).
    command: Vec<String>,
    env: Vec<(String, String)>,
    /// `UID:GID` (the pod's, or the container's, securityContext).
    user: String,
    ip: PodIp,
    /// Every path in the root once it was set up.
    files_at_start: BTreeSet<String>,
}

impl RunnerPod {
    /// Sets up the pod of `deployment` (as stored in `fake`).
    pub fn new(fake: &FakeKube, deployment: &Value) -> RunnerPod {
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .expect("namespace");
        let spec = &deployment["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        let root = ImageRoot::new("runner-pod");
        // The FUNCTIONS=none stage of the Dockerfile: no catalog function,
        // an empty and valid config.
        std::fs::create_dir(root.host_path(layout::FUNCTIONS)).expect("/functions");
        let config = run(Command::new(repo().join("image/functions.sh"))
            .arg(repo().join("image/catalog.yaml"))
            .arg(root.host_path(layout::FUNCTIONS))
            .arg("none"));
        root.put(layout::CONFIG, &config);

        for mount in list(&container["volumeMounts"]) {
            let name = mount["name"].as_str().expect("volumeMount name");
            let volume = list(&spec["volumes"])
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("no volume {name}"))
                .clone();
            let path = mount["mountPath"].as_str().expect("mountPath");
            std::fs::create_dir_all(root.host_path(path)).expect("mount point");
            for (key, bytes) in volume_files(fake, namespace, &volume) {
                root.put(&format!("{}/{key}", path.trim_end_matches('/')), &bytes);
            }
        }
        let account = spec["serviceAccountName"].as_str().unwrap_or("default");
        assert_ne!(
            spec["automountServiceAccountToken"], false,
            "the runner needs its service account token"
        );
        assert!(
            fake.object("serviceaccounts", namespace, account).is_some(),
            "service account {account} does not exist"
        );
        root.put(
            &format!("{SERVICE_ACCOUNT_DIR}/token"),
            fake.token().as_bytes(),
        );
        root.put(
            &format!("{SERVICE_ACCOUNT_DIR}/ca.crt"),
            &std::fs::read(fake.ca_path()).expect("the API server's CA"),
        );
        root.put(
            &format!("{SERVICE_ACCOUNT_DIR}/namespace"),
            namespace.as_bytes(),
        );

        let mut env: Vec<(String, String)> = list(&container["env"])
            .iter()
            .map(|e| {
                let name = e["name"].as_str().expect("env name").to_owned();
                let value = e["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("env {name}: only plain values are set up here"));
                (name, value.to_owned())
            })
            .collect();
        env.push((
            "KUBERNETES_SERVICE_HOST".into(),
            fake.addr().ip().to_string(),
        ));
        env.push((
            "KUBERNETES_SERVICE_PORT".into(),
            fake.addr().port().to_string(),
        ));

        let security = |field: &str| {
            container["securityContext"][field]
                .as_u64()
                .or_else(|| spec["securityContext"][field].as_u64())
        };
        let uid = security("runAsUser").expect("runAsUser");
        let gid = security("runAsGroup").unwrap_or(uid);
        let command = strings(&container["command"]);
        assert!(!command.is_empty(), "the container's command");
        let port = container["ports"][0]["containerPort"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("containerPort");
        let files_at_start = tree(root.path());
        RunnerPod {
            root,
            command,
            env,
            user: format!("{uid}:{gid}"),
            ip: lease(port),
            files_at_start,
        }
    }

    /// The container's command: program, then args.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// The pod's IP (what `localhost` is inside it).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip.ip()
    }

    /// Starts the container's command (plus `--bind-address <IP>`) and
    /// waits for it to serve.
    pub fn start(&self) -> RunnerProcess {
        let bind = format!("--bind-address={}", self.ip());
        let mut args: Vec<&str> = self.command[1..].iter().map(String::as_str).collect();
        args.push(&bind);
        RunnerProcess::spawn(self.command_in_pod(&self.command[0], &args))
    }

    /// `kubectl exec deploy/function-runner -- PROGRAM ARGS...` with `stdin`
    /// (none: closed); `localhost:` in the args means the pod's IP.
    pub fn exec(&self, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let local = format!("{}:", self.ip());
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("localhost:", &local))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        output_with_stdin(&mut self.command_in_pod(program, &args), stdin)
    }

    /// Paths in the root that were not there when the pod was set up: what
    /// a read-only root filesystem would have refused.
    pub fn written(&self) -> Vec<String> {
        tree(self.root.path())
            .difference(&self.files_at_start)
            .cloned()
            .collect()
    }

    fn command_in_pod(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = self.root.command(&self.user, program, args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// How many leased IPs to try for one whose `port` is free too (ours: only
/// a server listening on every interface on `port` takes it on all).
const LEASE_TRIES: usize = 50;

/// A pod IP on which TCP `port` is free as well.
fn lease(port: u16) -> PodIp {
    for _ in 0..LEASE_TRIES {
        let ip = PodIp::allocate();
        if TcpListener::bind((ip.ip(), port)).is_ok() {
            return ip;
        }
    }
    panic!("TCP port {port} is taken on {LEASE_TRIES} loopback IPs: a server listening on all interfaces on {port}?")
}

/// The files a volume holds, as the kubelet writes them: key -> bytes.
fn volume_files(fake: &FakeKube, namespace: &str, volume: &Value) -> Vec<(String, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries = |object: Option<Value>, decode: bool| -> Vec<(String, Vec<u8>)> {
        object
            .and_then(|o| o["data"].as_object().cloned())
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                let text = value.as_str().expect("data value");
                let bytes = if decode {
                    b64.decode(text).expect("Secret data is base64")
                } else {
                    text.as_bytes().to_vec()
                };
                (key, bytes)
            })
            .collect()
    };
    let optional = |source: &Value| source["optional"] == true;
    if let Some(source) = volume.get("configMap") {
        let name = source["name"].as_str().expect("configMap name");
        let found = fake.object("configmaps", namespace, name);
        assert!(
            found.is_some() || optional(source),
            "ConfigMap {name} missing"
        );
        entries(found, false)
    } else if let Some(source) = volume.get("secret") {
        let name = source["secretName"].as_str().expect("secretName");
        let found = fake.object("secrets", namespace, name);
        assert!(found.is_some() || optional(source), "Secret {name} missing");
        entries(found, true)
    } else if volume.get("emptyDir").is_some() {
        Vec::new()
    } else {
        panic!("volume kind not set up here: {volume}")
    }
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// Every path under `root`, relative.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            out.insert(
                path.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string(),
            );
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out
}
