//! The function pod the runner writes (`Template::inline(..).pod_for`, the
//! pod runtime's own code) against the image's files (`image/layout.sh`,
//! the Dockerfile's tree), run as a node would run it, each container in
//! an empty root with `chroot`:
//! 1. the init container, in a root holding the image (its
//!    `WRAPPER_SERVER_IMAGE`), as the image's user: its `command` from the
//!    pod, into the emptyDir at its `volumeMount`;
//! 2. the function container, in a root holding only a static function
//!    (the function's image), the emptyDir's content at its own
//!    `volumeMount`, as another uid (function images choose their own):
//!    its `command` and `args` from the pod, then its readiness probe from
//!    the pod, then a call.
//!
//! So a path the template writes that the image does not have (or a copy
//! that does not carry the wrapper server and its probe) fails here.
//! The pod's network is a leased loopback IP (`--bind-address` added, and
//! `localhost` in the probe's address stands for it), as on the simulated
//! node.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use fn_runner::evaluator::pod::template::{Naming, PodId, PodSpec, Template};
use fn_runner::registry::reference::{Digest, Reference};

use super::{stderr, stdout};
use crate::support::exec::RunnerProcess;
use crate::support::fakekube::pod_ip::PodIp;
use crate::support::image::{static_function, ImageRoot};
use crate::support::pods::{evaluate, strings};

/// The image's USER: the init container's user (the template sets none).
const IMAGE_USER: &str = "65532:65532";
/// The function container's user: `nobody`, as some function images run.
const FUNCTION_USER: &str = "65534:65534";
/// The function image and its entrypoint.
const FUNCTION_IMAGE: &str = "example.com/fn/static-echo:v1";
const ENTRYPOINT: &str = "/usr/local/bin/function";

/// `name`'s container (or init container) in `spec`.
fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}: {spec}"))
}

/// The one emptyDir mount of a container: (volume name, path).
fn empty_dir_mount(spec: &Value, c: &Value) -> (String, String) {
    let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
    assert_eq!(mounts.len(), 1, "{c}");
    let name = mounts[0]["name"].as_str().expect("name").to_owned();
    let volume = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name.as_str())
        .expect("the mounted volume");
    assert!(volume["emptyDir"].is_object(), "{volume}");
    (
        name,
        mounts[0]["mountPath"].as_str().expect("path").to_owned(),
    )
}

#[test]
fn the_pod_the_runner_writes_runs_from_the_images_files() {
    let reference = Reference::parse(FUNCTION_IMAGE).expect("reference");
    let digest = Digest::sha256(b"the function image's manifest");
    let pod_id = PodId::new(&reference, &digest);
    let entrypoint = [ENTRYPOINT.to_owned()];
    let pod = Template::inline("registry.internal:5000/porch/fn-runner:0.1.0").pod_for(
        &PodSpec {
            image: FUNCTION_IMAGE,
            pod_id: &pod_id,
            entrypoint: &entrypoint,
            namespace: "porch-fn-system",
            ttl: Duration::from_secs(60),
            max_message_bytes: 6_291_456,
            pull_secret: None,
            naming: Naming::Generated,
        },
        SystemTime::now(),
    );
    let pod = serde_json::to_value(&pod).expect("JSON");
    let spec = &pod["spec"];
    let inits = spec["initContainers"].as_array().expect("initContainers");
    assert_eq!(inits.len(), 1, "{spec}");

    // 1. The init container, in the image.
    let image = ImageRoot::new("wrapper-server-image");
    let init = &inits[0];
    let (volume, init_path) = empty_dir_mount(spec, init);
    let empty_dir = image.host_path(&init_path);
    std::fs::create_dir_all(&empty_dir).expect("emptyDir");
    std::fs::set_permissions(&empty_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut command = strings(&init["command"]);
    command.extend(strings(&init["args"]));
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    let out = image.run(IMAGE_USER, &command[0], &args);
    assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(&out));

    // 2. The function container, in the function's image.
    let function_root = ImageRoot::empty("function-image");
    let entry = function_root.host_path(ENTRYPOINT);
    std::fs::create_dir_all(entry.parent().expect("dir")).expect("dirs");
    static_function(&entry);
    let function = container(spec, "containers", "function");
    let (function_volume, path) = empty_dir_mount(spec, function);
    assert_eq!(function_volume, volume, "both mount the same emptyDir");
    // The volume's content, where the function container mounts it.
    let mounted = function_root.host_path(&path);
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(&empty_dir)
        .arg(&mounted)
        .status()
        .expect("cp");
    assert!(copy.success());
    let ip = PodIp::allocate();
    let mut command = strings(&function["command"]);
    let mut args = vec!["--bind-address".to_owned(), ip.ip().to_string()];
    args.extend(strings(&function["args"]));
    assert_eq!(command.len(), 1, "{command:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let wrapper = RunnerProcess::spawn(function_root.command(FUNCTION_USER, &command[0], &args));

    command = strings(&function["readinessProbe"]["exec"]["command"]);
    let local = format!("{}:", ip.ip());
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| a.replace("localhost:", &local))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = function_root.run(FUNCTION_USER, &command[0], &args);
    assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "status: SERVING");

    let input = crate::support::pods::sample_resource_list();
    let client = evaluate::connect(&wrapper.addr);
    let got = evaluate::evaluate(
        &client,
        FUNCTION_IMAGE,
        &input,
        Some(Duration::from_secs(30)),
    )
    .expect("the function's call");
    assert_eq!(got.resource_list, input, "the static function echoes");
}
