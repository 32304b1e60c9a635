//! The simulated node: what the kubelet simulator does with each function
//! pod, as a real node would, so that a runner bug shows up the way it
//! would in a cluster.
//!
//! For each new pod, in order:
//! 1. **Shape.** The pod must be what compat §4.2 describes for the parts
//!    that make it run: an init container `copy-wrapper-server` with image
//!    `$WRAPPER_SERVER_IMAGE` and `cp -a /wrapper-server/. /wrapper-server-tools`
//!    (or the later `/home/nonroot/wrapper-server/.`), an emptyDir volume
//!    `wrapper-server-tools` mounted at `/wrapper-server-tools` in both
//!    containers, a container `function` whose command is
//!    `/wrapper-server-tools/wrapper-server`. What is wrong is recorded
//!    ([`PodRecord::problems`]); the function container then cannot start
//!    (no wrapper binary in it): CrashLoopBackOff, as in a cluster.
//! 2. **Test's choice** ([`Behaviour`], per image string): a pull failure,
//!    CrashLoopBackOff, a start delay, or a start held until the test
//!    releases it ([`Node::release`]).
//! 3. **Pull.** An image of the env's public registry, if it started one,
//!    pulls as it is. Otherwise the image must be one the function registry
//!    holds (a pushed tag or `REPO@DIGEST`), else ErrImagePull "not found";
//!    and since every image there is private, the pod's `imagePullSecrets` must name a
//!    `kubernetes.io/dockerconfigjson` Secret in the pod's namespace whose
//!    `.dockerconfigjson` holds the registry's credentials, else
//!    ErrImagePull "401 Unauthorized" (a runner that forgets the pull
//!    secret, or replicates wrong bytes, is caught here).
//! 4. **Run.** OUR binary as `/wrapper-server-tools/wrapper-server` (by
//!    argv[0], the multi-call name), with `--bind-address <pod IP>` and then
//!    the container's args exactly as given; the container's `env` values
//!    are passed. Its stderr is captured per pod (the wrapper's call log).
//!    Ready once `<pod IP>:9446` accepts connections.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use fn_runner::image_layout as layout;

use super::images::{FnRegistry, Pushed, PASSWORD, USER};
use crate::support::fakekube::kubelet::{self, Outcome, PodInfo};
use crate::support::fakekube::pod_ip::POD_PORT;
use crate::support::fakekube::Shared;
use crate::support::loglines::LogLines;
use crate::support::process::fn_runner_bin;

/// The path Porch's pods run the wrapper server from (compat §4.2); these
/// are the image's own constants (`src/image_layout.rs`, which tests/image
/// checks against the Dockerfile).
pub const WRAPPER_PATH: &str = layout::POD_WRAPPER_SERVER;
/// The init container's name and the volume the wrapper is copied into.
pub const INIT_CONTAINER: &str = layout::INIT_CONTAINER_NAME;
pub const TOOLS_VOLUME: &str = layout::TOOLS_VOLUME;
pub const TOOLS_DIR: &str = layout::TOOLS_DIR;

/// The longest a [`Behaviour::Held`] pod waits for its release.
const HOLD_BOUND: Duration = Duration::from_secs(120);

/// What the node does with pods of one image, chosen by the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Pull and run it (the default).
    Run,
    /// Pending with the container `ContainerCreating` this long (a slow
    /// pull), then pull and run it.
    StartDelay(Duration),
    /// Pending with the container `ContainerCreating` until the test calls
    /// [`Node::release`] for the image (a slow pull whose end the test
    /// chooses: no race with the runner's waits), then pull and run it.
    Held,
    /// The function container waits with this reason and message, forever.
    Waiting { reason: String, message: String },
}

impl Behaviour {
    /// ErrImagePull with `message`.
    pub fn err_image_pull(message: impl Into<String>) -> Behaviour {
        Behaviour::Waiting {
            reason: "ErrImagePull".to_owned(),
            message: message.into(),
        }
    }

    /// ImagePullBackOff, as the kubelet shows after a failed pull.
    pub fn image_pull_back_off(image: &str) -> Behaviour {
        Behaviour::Waiting {
            reason: "ImagePullBackOff".to_owned(),
            message: format!("Back-off pulling image \"{image}\""),
        }
    }

    /// ErrImagePull because the node does not trust the registry's CA
    /// (compat §5.4: the node needs the CA configured too).
    pub fn x509_unknown_authority(image: &str, registry_host: &str) -> Behaviour {
        Behaviour::err_image_pull(format!(
            "failed to pull and unpack image \"{image}\": failed to resolve reference \
             \"{image}\": failed to do request: Head \"https://{registry_host}/v2/\": \
             tls: failed to verify certificate: x509: certificate signed by unknown authority"
        ))
    }

    /// ErrImagePull because the pull was refused (no or wrong pull
    /// credentials), as containerd words it.
    pub fn unauthorized(image: &str, registry_host: &str) -> Behaviour {
        Behaviour::err_image_pull(unauthorized_message(image, registry_host))
    }

    /// CrashLoopBackOff: the function container keeps exiting.
    pub fn crash_loop_back_off() -> Behaviour {
        Behaviour::Waiting {
            reason: "CrashLoopBackOff".to_owned(),
            message: "back-off 10s restarting failed container=function".to_owned(),
        }
    }
}

/// What the node saw and did for one pod.
#[derive(Clone)]
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
    /// The `function` container's image.
    pub image: String,
    /// When the node took the pod up.
    pub at: SystemTime,
    /// Its IP (given even when it did not run).
    pub ip: std::net::Ipv4Addr,
    /// What went wrong with its shape (step 1 of the module doc); empty for
    /// a well-formed pod.
    pub problems: Vec<String>,
    /// `Run`, or the waiting reason it was left with.
    pub outcome: String,
    /// The wrapper server's command line after argv[0], when it ran.
    pub args: Option<Vec<String>>,
    /// The wrapper server's stderr (its call log), when it ran.
    pub log: Option<Arc<LogLines>>,
}

/// The node's state, shared by the kubelet's threads and the test.
pub struct Node {
    shared: Arc<Shared>,
    /// Weak: a pod thread still in its start delay must not keep the
    /// registry process alive past the env (it could outlive the test run).
    registry: Weak<FnRegistry>,
    registry_host: String,
    wrapper_image: String,
    behaviours: Mutex<HashMap<String, Behaviour>>,
    /// Images of a public registry: pulled without credentials.
    public: Mutex<Vec<Pushed>>,
    records: Mutex<Vec<PodRecord>>,
    /// Set when the env goes away: start delays end at once.
    shut_down: Mutex<bool>,
    shutting_down: Condvar,
}

impl Node {
    pub fn new(shared: Arc<Shared>, registry: &Arc<FnRegistry>, wrapper_image: &str) -> Node {
        Node {
            shared,
            registry: Arc::downgrade(registry),
            registry_host: registry.host(),
            wrapper_image: wrapper_image.to_owned(),
            behaviours: Mutex::default(),
            public: Mutex::default(),
            records: Mutex::default(),
            shut_down: Mutex::new(false),
            shutting_down: Condvar::new(),
        }
    }

    /// Ends every start delay now (those pods start nothing).
    pub fn shut_down(&self) {
        *lock(&self.shut_down) = true;
        self.shutting_down.notify_all();
    }

    /// Waits out a simulated pull time: `delay`, or (`held`) while `image`
    /// is [`Behaviour::Held`], within `delay`; false when the node shut
    /// down.
    fn pull_time(&self, image: &str, delay: Duration, held: bool) -> bool {
        let guard = lock(&self.shut_down);
        // `release` changes the behaviour, then takes this lock to notify:
        // the check below and the wait cannot miss it.
        let (guard, _) = self
            .shutting_down
            .wait_timeout_while(guard, delay, |down| {
                !*down && (!held || lock(&self.behaviours).get(image) == Some(&Behaviour::Held))
            })
            .unwrap_or_else(|p| p.into_inner());
        !*guard
    }

    /// Ends the hold of pods of `image` ([`Behaviour::Held`]): those
    /// waiting pull and run now, later ones run at once.
    pub fn release(&self, image: &str) {
        lock(&self.behaviours).insert(image.to_owned(), Behaviour::Run);
        let _guard = lock(&self.shut_down);
        self.shutting_down.notify_all();
    }

    /// From now on, pods of `image` (the exact string of the pod spec) do
    /// what `behaviour` says.
    pub fn set_behaviour(&self, image: &str, behaviour: Behaviour) {
        lock(&self.behaviours).insert(image.to_owned(), behaviour);
    }

    /// From now on `image` pulls without credentials (a public registry).
    pub fn add_public_image(&self, image: Pushed) {
        lock(&self.public).push(image);
    }

    /// Every pod the node took up, in order.
    pub fn records(&self) -> Vec<PodRecord> {
        lock(&self.records).clone()
    }

    /// The record of pod `name` (any namespace).
    pub fn record(&self, name: &str) -> Option<PodRecord> {
        lock(&self.records).iter().find(|r| r.name == name).cloned()
    }

    /// The kubelet's decision for one pod (runs on that pod's thread).
    pub fn decide(&self, pod: &PodInfo) -> Outcome {
        let function = container(&pod.pod, "function");
        let image = function
            .and_then(|c| c["image"].as_str())
            .unwrap_or(&pod.image)
            .to_owned();
        let mut record = PodRecord {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            image: image.clone(),
            at: SystemTime::now(),
            ip: pod.ip,
            problems: shape_problems(&pod.pod, &self.wrapper_image),
            outcome: String::new(),
            args: None,
            log: None,
        };
        let outcome = self.outcome(pod, &image, &mut record);
        record.outcome = match &outcome {
            Outcome::Run { .. } => "Run".to_owned(),
            Outcome::Waiting { reason, .. } => reason.clone(),
        };
        lock(&self.records).push(record);
        outcome
    }

    fn outcome(&self, pod: &PodInfo, image: &str, record: &mut PodRecord) -> Outcome {
        let behaviour = lock(&self.behaviours)
            .get(image)
            .cloned()
            .unwrap_or(Behaviour::Run);
        if let Behaviour::Waiting { reason, message } = behaviour.clone() {
            return Outcome::Waiting { reason, message };
        }
        if let Err(message) = self.pull(pod, image) {
            return Outcome::Waiting {
                reason: "ErrImagePull".to_owned(),
                message,
            };
        }
        if !record.problems.is_empty() {
            return Outcome::Waiting {
                reason: "CrashLoopBackOff".to_owned(),
                message: format!(
                    "back-off 10s restarting failed container=function: exec: \"{WRAPPER_PATH}\": \
                     stat {WRAPPER_PATH}: no such file or directory ({})",
                    record.problems.join("; ")
                ),
            };
        }
        let pull_time = match behaviour {
            Behaviour::StartDelay(delay) => Some((delay, false)),
            // Bounded all the same: a test that never releases fails, it
            // does not hang the node.
            Behaviour::Held => Some((HOLD_BOUND, true)),
            Behaviour::Run | Behaviour::Waiting { .. } => None,
        };
        if let Some((delay, held)) = pull_time {
            kubelet::set_status(
                &self.shared,
                &pod.namespace,
                &pod.name,
                kubelet::waiting_status("function", image, "ContainerCreating", ""),
            );
            // The simulated pull time, on this pod's own thread.
            if !self.pull_time(image, delay, held) {
                return Outcome::Waiting {
                    reason: "ContainerCreating".to_owned(),
                    message: "the node shut down".to_owned(),
                };
            }
        }
        let args = wrapper_args(&pod.pod, pod.ip);
        // A socket pair as the pipe (std's `io::pipe` is newer than our MSRV).
        let (reader, writer) = UnixStream::pair().expect("socket pair for the wrapper's stderr");
        let mut command = Command::new(fn_runner_bin());
        command
            .arg0(WRAPPER_PATH)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(OwnedFd::from(writer)));
        for env in container(&pod.pod, "function")
            .and_then(|c| c["env"].as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(value)) = (env["name"].as_str(), env["value"].as_str()) {
                command.env(name, value);
            }
        }
        record.args = Some(args);
        record.log = Some(LogLines::capture(reader));
        Outcome::Run {
            command,
            ready_port: Some(POD_PORT),
        }
    }

    /// Pulls `image` as the node would: `Err` with the runtime's message.
    fn pull(&self, pod: &PodInfo, image: &str) -> Result<(), String> {
        if lock(&self.public).iter().any(|p| p.is_named_by(image)) {
            return Ok(());
        }
        let known = self
            .registry
            .upgrade()
            .is_some_and(|r| r.lookup(image).is_some());
        if !known {
            return Err(format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
                 failed to resolve reference \"{image}\": {image}: not found"
            ));
        }
        if self.has_credentials(pod) {
            return Ok(());
        }
        Err(unauthorized_message(image, &self.registry_host))
    }

    /// Whether one of the pod's `imagePullSecrets` holds the registry's
    /// credentials (the node reads Secrets from the pod's namespace).
    fn has_credentials(&self, pod: &PodInfo) -> bool {
        let store = self.shared.lock_store();
        pod.pod["spec"]["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .filter_map(|name| store.get("secrets", &pod.namespace, name).ok())
            .any(|secret| {
                secret["type"] == "kubernetes.io/dockerconfigjson"
                    && docker_config_has(&secret["data"][".dockerconfigjson"], &self.registry_host)
            })
    }
}

/// containerd's message for a pull the registry refused with 401.
fn unauthorized_message(image: &str, registry_host: &str) -> String {
    let tag = image.rsplit_once(':').map_or("latest", |(_, t)| t);
    format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": \
         failed to resolve reference \"{image}\": pulling from host {registry_host} failed \
         with status code [manifests {tag}]: 401 Unauthorized"
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The container `name` of `pod` (`initContainers` too).
fn container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod["spec"][list].as_array())
        .flatten()
        .find(|c| c["name"] == name)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// Whether the container mounts the tools volume at the tools directory.
fn mounts_tools(c: &Value) -> bool {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["name"] == TOOLS_VOLUME && m["mountPath"] == TOOLS_DIR)
}

/// What keeps the wrapper server from starting in this pod (module doc, step 1).
fn shape_problems(pod: &Value, wrapper_image: &str) -> Vec<String> {
    let mut problems = Vec::new();
    match container(pod, INIT_CONTAINER) {
        None => problems.push(format!("no init container {INIT_CONTAINER:?}")),
        Some(init) => {
            if init["image"] != wrapper_image {
                problems.push(format!(
                    "init container image {} is not $WRAPPER_SERVER_IMAGE {wrapper_image:?}",
                    init["image"]
                ));
            }
            let mut cmd = strings(&init["command"]);
            cmd.extend(strings(&init["args"]));
            let copies = [
                layout::WRAPPER_SERVER_DIR,
                layout::NONROOT_WRAPPER_SERVER_DIR,
            ]
            .iter()
            .any(|dir| cmd == ["cp", "-a", &format!("{dir}/."), TOOLS_DIR]);
            if !copies {
                problems.push(format!(
                    "init container runs {cmd:?}, not cp -a /wrapper-server/. {TOOLS_DIR}"
                ));
            }
            if !mounts_tools(init) {
                problems.push(format!(
                    "init container does not mount {TOOLS_VOLUME} at {TOOLS_DIR}"
                ));
            }
        }
    }
    let has_volume = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["name"] == TOOLS_VOLUME && v["emptyDir"].is_object());
    if !has_volume {
        problems.push(format!("no emptyDir volume {TOOLS_VOLUME:?}"));
    }
    match container(pod, "function") {
        None => problems.push("no container named \"function\"".to_owned()),
        Some(function) => {
            if strings(&function["command"]) != [WRAPPER_PATH] {
                problems.push(format!(
                    "function container command {} is not [{WRAPPER_PATH:?}]",
                    function["command"]
                ));
            }
            if !mounts_tools(function) {
                problems.push(format!(
                    "function container does not mount {TOOLS_VOLUME} at {TOOLS_DIR}"
                ));
            }
        }
    }
    problems
}

/// The wrapper server's arguments: `--bind-address <pod IP>`, then the
/// `function` container's args as given.
fn wrapper_args(pod: &Value, ip: std::net::Ipv4Addr) -> Vec<String> {
    let mut args = vec!["--bind-address".to_owned(), ip.to_string()];
    args.extend(strings(
        &container(pod, "function").map_or(Value::Null, |c| c["args"].clone()),
    ));
    args
}

/// Whether a Secret's base64 `.dockerconfigjson` holds the test
/// credentials for `host` (keys normalized like the docker CLI: scheme and
/// path dropped).
fn docker_config_has(data: &Value, host: &str) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(config) = data
        .as_str()
        .and_then(|d| b64.decode(d).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return false;
    };
    let Some(auths) = config["auths"].as_object() else {
        return false;
    };
    auths.iter().any(|(key, entry)| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let key = key.split('/').next().unwrap_or(key);
        let from_auth = entry["auth"]
            .as_str()
            .and_then(|a| b64.decode(a).ok())
            .map(|pair| pair == format!("{USER}:{PASSWORD}").as_bytes());
        let from_fields = entry["username"] == USER && entry["password"] == PASSWORD;
        key == host && (from_auth == Some(true) || from_fields)
    })
}
