//! A kubelet simulator for the fake API server. For every new pod, after
//! `start_delay`, it asks the test what to do with it ([`Outcome`]):
//! - `Run`: give the pod a fresh loopback IP (127/8 is all routable on
//!   Linux; leased so that test processes running at the same time never
//!   share one, see `pod_ip.rs`), start the test's command for it (own
//!   process group), set
//!   phase Running, podIP and, once `ready_port` accepts connections (the
//!   readiness probe), condition Ready=True and ready containers. A process
//!   that exits before it is ready leaves the pod in CrashLoopBackOff.
//! - `Waiting`: leave it Pending with the container waiting for `reason`
//!   (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, ...).
//!
//! When a pod is deleted it kills the process, with everything the
//! process started (as a container runtime kills a container), and
//! completes the delete. Dropping the [`Kubelet`] kills every process it
//! started. Pods that exist before the kubelet starts are left alone.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::pod_ip::PodIp;
use super::{FakeKube, Shared};
use crate::support::process::kill_tree;
use fn_runner::kube::time::format_rfc3339;

/// What the pod should do, chosen by the test per pod.
pub enum Outcome {
    Run {
        command: Command,
        /// Ready once this port on the pod IP accepts a connection; `None`:
        /// ready as soon as started.
        ready_port: Option<u16>,
    },
    Waiting {
        reason: String,
        message: String,
    },
}

/// What the test learns about a pod to decide its [`Outcome`].
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    /// Image of the container named `function`, else of the first one.
    pub image: String,
    /// That container's command followed by its args.
    pub argv: Vec<String>,
    /// The IP the pod gets if it runs.
    pub ip: Ipv4Addr,
    pub pod: Value,
}

type Decide = dyn Fn(&PodInfo) -> Outcome + Send + Sync;

/// How long a started process may take to open its ready port.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Kubelet {
    stop: Arc<AtomicBool>,
    procs: Arc<Procs>,
    thread: Option<JoinHandle<()>>,
}

/// A running pod's process and the IP it holds, by `namespace/name`.
type Procs = Mutex<HashMap<String, PodProcess>>;

struct PodProcess {
    child: Child,
    /// Released (for other pods, other test processes) when the pod ends.
    _ip: PodIp,
}

impl Kubelet {
    pub fn start(
        fake: &FakeKube,
        start_delay: Duration,
        decide: impl Fn(&PodInfo) -> Outcome + Send + Sync + 'static,
    ) -> Kubelet {
        let events = fake.subscribe();
        let shared = Arc::clone(fake.shared());
        let stop = Arc::new(AtomicBool::new(false));
        let procs: Arc<Procs> = Arc::default();
        let decide: Arc<Decide> = Arc::new(decide);
        let (s, p) = (Arc::clone(&stop), Arc::clone(&procs));
        let thread =
            std::thread::spawn(move || run(&shared, &events, &s, &p, &decide, start_delay));
        Kubelet {
            stop,
            procs,
            thread: Some(thread),
        }
    }

    /// Number of pod processes alive.
    pub fn running(&self) -> usize {
        self.procs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The pid of pod `namespace/name`'s process, while it runs.
    pub fn pid_of(&self, namespace: &str, name: &str) -> Option<u32> {
        self.procs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{namespace}/{name}"))
            .map(|p| p.child.id())
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (_, child) in self.procs.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            kill(child);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn kill(mut process: PodProcess) {
    kill_tree(&mut process.child);
}

fn run(
    shared: &Arc<Shared>,
    events: &mpsc::Receiver<super::Event>,
    stop: &Arc<AtomicBool>,
    procs: &Arc<Procs>,
    decide: &Arc<Decide>,
    start_delay: Duration,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(ev) = events.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        if ev.resource != "pods" {
            continue;
        }
        let name = ev.object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let key = format!("{}/{name}", ev.namespace);
        let terminating = !ev.object["metadata"]["deletionTimestamp"].is_null();
        match ev.kind {
            "ADDED" if !terminating => {
                let (shared, stop, procs, decide) = (
                    Arc::clone(shared),
                    Arc::clone(stop),
                    Arc::clone(procs),
                    Arc::clone(decide),
                );
                let ns = ev.namespace.clone();
                let pod = ev.object.clone();
                std::thread::spawn(move || {
                    start_pod(
                        &shared,
                        &stop,
                        &procs,
                        &*decide,
                        start_delay,
                        &ns,
                        &name,
                        pod,
                    )
                });
            }
            "MODIFIED" if terminating => {
                if let Some(child) = procs.lock().unwrap_or_else(|p| p.into_inner()).remove(&key) {
                    kill(child);
                }
                let ns = ev.namespace.clone();
                shared.mutate(|s| {
                    s.remove(&("pods".to_owned(), ns, name));
                });
            }
            "DELETED" => {
                if let Some(child) = procs.lock().unwrap_or_else(|p| p.into_inner()).remove(&key) {
                    kill(child);
                }
            }
            _ => {}
        }
    }
}

fn container_of(pod: &Value) -> Value {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    containers
        .iter()
        .find(|c| c["name"] == "function")
        .or_else(|| containers.first())
        .cloned()
        .unwrap_or(Value::Null)
}

/// Whether the pod still exists and is not being deleted.
pub fn alive(shared: &Shared, ns: &str, name: &str) -> bool {
    shared
        .lock_store()
        .get("pods", ns, name)
        .is_ok_and(|p| p["metadata"]["deletionTimestamp"].is_null())
}

/// Sets a pod's status, unless it is gone or being deleted.
pub fn set_status(shared: &Shared, ns: &str, name: &str, status: Value) {
    shared.mutate(|s| {
        let live = s.get("pods", ns, name).ok()?;
        if !live["metadata"]["deletionTimestamp"].is_null() {
            return None;
        }
        s.set_pod_status(ns, name, status)
    });
}

#[allow(
    clippy::too_many_arguments,
    reason = "one pod's start, run on its own thread"
)]
fn start_pod(
    shared: &Shared,
    stop: &AtomicBool,
    procs: &Procs,
    decide: &Decide,
    start_delay: Duration,
    ns: &str,
    name: &str,
    pod: Value,
) {
    // The simulated scheduling + image pull time.
    std::thread::sleep(start_delay);
    if stop.load(Ordering::SeqCst) || !alive(shared, ns, name) {
        return;
    }
    let c = container_of(&pod);
    let cname = c["name"].as_str().unwrap_or("function").to_owned();
    let image = c["image"].as_str().unwrap_or("").to_owned();
    let argv: Vec<String> = c["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(c["args"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let pod_ip = PodIp::allocate();
    let ip = pod_ip.ip();
    let info = PodInfo {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        image: image.clone(),
        argv,
        ip,
        pod: pod.clone(),
    };
    let now = format_rfc3339(SystemTime::now());
    match decide(&info) {
        Outcome::Waiting { reason, message } => {
            set_status(
                shared,
                ns,
                name,
                json!({
                    "phase": "Pending",
                    "hostIP": "127.0.0.1",
                    "startTime": now,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True"},
                        {"type": "Initialized", "status": "True"},
                        {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                        {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                         "message": format!("containers with unready status: [{cname}]")},
                    ],
                    "containerStatuses": [{
                        "name": cname, "image": image, "imageID": "", "ready": false,
                        "restartCount": 0, "started": false,
                        "state": {"waiting": {"reason": reason, "message": message}},
                    }],
                }),
            );
        }
        Outcome::Run {
            mut command,
            ready_port,
        } => {
            // Deleted, or the kubelet dropped, while the test decided (a
            // decision may take a simulated pull time): start nothing.
            if stop.load(Ordering::SeqCst) || !alive(shared, ns, name) {
                return;
            }
            // Like a downward-API env in the pod spec, for convenience.
            command
                .env("POD_IP", ip.to_string())
                .env("POD_NAME", name)
                .env("POD_NAMESPACE", ns)
                .process_group(0);
            let child = match command.spawn() {
                Ok(c) => c,
                Err(e) => {
                    set_status(
                        shared,
                        ns,
                        name,
                        waiting_status(&cname, &image, "CreateContainerError", &e.to_string()),
                    );
                    return;
                }
            };
            let key = format!("{ns}/{name}");
            procs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), PodProcess { child, _ip: pod_ip });
            // Deleted, or the kubelet dropped, while we were starting it.
            if stop.load(Ordering::SeqCst) || !alive(shared, ns, name) {
                if let Some(c) = procs.lock().unwrap_or_else(|p| p.into_inner()).remove(&key) {
                    kill(c);
                }
                return;
            }
            // Init containers ran to completion before the container started.
            let init_statuses: Vec<Value> = pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({
                        "name": c["name"], "image": c["image"], "imageID": c["image"],
                        "ready": true, "restartCount": 0, "started": false,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                 "startedAt": now, "finishedAt": now}},
                    })
                })
                .collect();
            let running = |ready: bool| {
                let r = if ready { "True" } else { "False" };
                json!({
                    "phase": "Running",
                    "hostIP": "127.0.0.1",
                    "podIP": ip.to_string(),
                    "podIPs": [{"ip": ip.to_string()}],
                    "startTime": now,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True"},
                        {"type": "Initialized", "status": "True"},
                        {"type": "ContainersReady", "status": r},
                        {"type": "Ready", "status": r},
                    ],
                    "initContainerStatuses": init_statuses,
                    "containerStatuses": [{
                        "name": cname, "image": image, "imageID": image, "ready": ready,
                        "restartCount": 0, "started": true,
                        "state": {"running": {"startedAt": now}},
                    }],
                })
            };
            set_status(shared, ns, name, running(false));
            if let Some(port) = ready_port {
                let deadline = Instant::now() + READY_TIMEOUT;
                let addr = SocketAddr::from((ip, port));
                loop {
                    if stop.load(Ordering::SeqCst) || !alive(shared, ns, name) {
                        return;
                    }
                    let exited = procs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&key)
                        .is_none_or(|p| !matches!(p.child.try_wait(), Ok(None)));
                    if exited {
                        set_status(
                            shared,
                            ns,
                            name,
                            waiting_status(
                                &cname,
                                &image,
                                "CrashLoopBackOff",
                                "back-off 10s restarting failed container",
                            ),
                        );
                        return;
                    }
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return;
                    }
                    // The readiness probe's period, shortened.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            set_status(shared, ns, name, running(true));
        }
    }
}

/// A Pending pod whose container `cname` waits for `reason`.
pub fn waiting_status(cname: &str, image: &str, reason: &str, message: &str) -> Value {
    json!({
        "phase": "Pending",
        "hostIP": "127.0.0.1",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
        "containerStatuses": [{
            "name": cname, "image": image, "imageID": "", "ready": false,
            "restartCount": 1, "started": false,
            "state": {"waiting": {"reason": reason, "message": message}},
        }],
    })
}
