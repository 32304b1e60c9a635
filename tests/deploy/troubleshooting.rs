//! The README swap guide's troubleshooting table against the real
//! messages: each situation a row names is brought about, and the row's
//! quoted message must be a line of what came out (`readme::quotes`:
//! `...` for a part left out, `E ...]` for klog's prefix, in the README's
//! names). The situations:
//! - the runner as the image runs it, in an empty root holding the image's
//!   files (`chroot`, uid 65532): a missing, unparsable or escaping
//!   `/config.yaml`, a misspelt flag, its port taken, no Kubernetes
//!   configuration, an image no runtime serves, a dynamically linked
//!   function, its readiness probe with nothing listening;
//! - the init container's `cp` in the image's root: a wrong source, an
//!   option Porch never passes, a non-root copy into the emptyDir;
//! - the pod runtime on `PodEnv` (the test registry, the fake API and its
//!   simulated node): no `WRAPPER_SERVER_IMAGE`, pulls refused (401) or
//!   failing on the node's CA, a pod not ready in time, a Role without
//!   `create` or `watch` on pods.
//!
//! Rows not brought about here ([`CHECKED_ELSEWHERE`]) say where they are.
//! `--nocapture` prints every real line.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use fn_runner::image_layout as layout;

use crate::deploy::readme::{quotes, Guide, Names};
use crate::support::exec::{function, testdata, RunnerProcess};
use crate::support::image::ImageRoot;
use crate::support::pods::{Behaviour, PodEnv};
use crate::support::process::fn_runner_bin;

/// Rows whose message another test produces (their `where` column).
const CHECKED_ELSEWHERE: [(&str, &str); 2] = [
    (
        "`kubectl apply` of the guide's CA Secret",
        "deploy::the_fake_rejects_what_the_real_server_rejects",
    ),
    ("`fn-runner inspect`", "registry:: (the inspect section)"),
];
/// The image's USER.
const IMAGE_USER: &str = "65532:65532";
/// The runner's flags in Porch's Deployment.
const PORCH_ARGS: [&str; 4] = [
    "--config=/config.yaml",
    "--functions=/functions",
    "--pod-namespace=porch-fn-system",
    "--max-request-body-size=6291456",
];
/// The README's example function image, and a statically unusable one.
const FUNCTION: &str = "registry.internal:5000/team/set-namespace:v1";
const DYNAMIC: &str = "example.com/fn/dynamic:v1";
/// `--pod-ready-timeout` here, and what its message says next to what
/// the default's (60 s, the README's) says.
const READY_TIMEOUT: &str = "--pod-ready-timeout=2s";
const READY_WAITED: &str = "within 2.0s (--pod-ready-timeout)";
const DEFAULT_READY_WAITED: &str = "within 60.0s (--pod-ready-timeout)";
/// The runner's port in the README's rows.
const PORT: &str = "9445";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A free port on 127.0.0.1 (nothing listens there once this returns).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `fn-runner eval` (the host's binary) of `image` against `addr`.
fn eval(addr: &str, image: &str) -> String {
    let out = Command::new(fn_runner_bin())
        .args(["eval", "--address", addr, "--image", image])
        .arg(testdata().join("resourcelist.yaml"))
        .output()
        .expect("run fn-runner eval");
    assert_ne!(out.status.code(), Some(0), "{image} must fail");
    text(&out)
}

/// The runner in the image's root, as its Deployment runs it.
fn the_runner_in_the_image() -> Vec<String> {
    let root = ImageRoot::new("troubleshooting");
    std::fs::create_dir(root.host_path(layout::FUNCTIONS)).expect("/functions");
    let server = |extra: &[&str]| -> String {
        let mut args: Vec<&str> = PORCH_ARGS.to_vec();
        args.extend(extra);
        text(&root.run(IMAGE_USER, layout::SERVER, &args))
    };
    let mut out = vec![server(&["--port=0"])];
    root.put(layout::CONFIG, b"functions:\n  - function: {a: 1}\n");
    out.push(server(&["--port=0"]));
    root.put(
        layout::CONFIG,
        b"functions:\n  - function: ../x\n    images: [example.com/x:v1]\n",
    );
    out.push(server(&["--port=0"]));
    out.push(server(&["--enable-private-registry-tl"]));

    // A function binary that needs /lib (the host's `true`), and a config
    // listing it.
    let dynamic = root.host_path(&format!("{}/true-dynamic", layout::FUNCTIONS));
    std::fs::copy("/bin/true", &dynamic).expect("copy /bin/true");
    std::fs::set_permissions(&dynamic, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    root.put(
        layout::CONFIG,
        format!("functions:\n  - function: true-dynamic\n    images: [{DYNAMIC}]\n").as_bytes(),
    );
    // Its port taken (on every interface, as the default listens).
    let taken = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    out.push(
        server(&[&format!("--port={port}")]).replace(&format!(":{port}:"), &format!(":{PORT}:")),
    );
    drop(taken);

    // Serving without Kubernetes: only the exec runtime.
    let mut args: Vec<&str> = PORCH_ARGS.to_vec();
    args.push("--port=0");
    let runner = RunnerProcess::spawn(root.command(IMAGE_USER, layout::SERVER, &args));
    out.push(eval(&runner.addr, FUNCTION));
    out.push(eval(&runner.addr, DYNAMIC));
    out.push(runner.log());
    drop(runner);

    // The readiness probe with nothing listening.
    let port = free_port().to_string();
    let probe = root.run(
        IMAGE_USER,
        layout::HEALTH_PROBE,
        &["-addr", &format!("localhost:{port}")],
    );
    assert_eq!(probe.status.code(), Some(2), "{}", text(&probe));
    out.push(text(&probe).replace(&format!(":{port}"), &format!(":{PORT}")));
    out
}

/// The init container's `cp` in the image's root, as the image's user.
fn the_init_container() -> Vec<String> {
    let root = ImageRoot::new("troubleshooting-cp");
    let tools = root.host_path(layout::TOOLS_DIR);
    std::fs::create_dir(&tools).expect("emptyDir");
    std::fs::set_permissions(&tools, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let cp = |args: &[&str]| text(&root.run(IMAGE_USER, "cp", args));
    vec![
        cp(&["-a", "/home/nonroot/wrapper-servr/.", layout::TOOLS_DIR]),
        cp(&["-R", "/wrapper-server/.", layout::TOOLS_DIR]),
        cp(&["-a", "/wrapper-server/.", layout::TOOLS_DIR]),
    ]
}

/// The pod runtime's failures, on the test registry, the fake API and its
/// node.
fn the_pod_runtime(env: &PodEnv) -> Vec<String> {
    let mut out = Vec::new();
    let out_of_serve = env
        .serve_command(&[], &[("WRAPPER_SERVER_IMAGE", None)])
        .output()
        .expect("run serve");
    assert_eq!(out_of_serve.status.code(), Some(1));
    out.push(text(&out_of_serve));

    let images = &env.images;
    let host = env.registry.host();
    env.behave(
        &images.team_set_namespace,
        Behaviour::unauthorized(&images.team_set_namespace, &host),
    );
    env.behave(
        &images.slow,
        Behaviour::x509_unknown_authority(&images.slow, &host),
    );
    env.behave(&images.sleep, Behaviour::Held);
    let runner = env.serve(&[READY_TIMEOUT]);
    for image in [&images.team_set_namespace, &images.slow, &images.sleep] {
        out.push(eval(runner.addr(), image));
    }
    env.release(&images.sleep);
    env.kube.deny("create", "pods");
    out.push(eval(runner.addr(), &images.cat));
    out.push(runner.log().text());
    drop(runner);

    // A Role without watch on pods, in an environment of its own.
    let env = PodEnv::start();
    env.kube.deny("watch", "pods");
    let runner = env.serve(&[READY_TIMEOUT]);
    out.push(eval(runner.addr(), &env.images.results));
    out.push(runner.log().text());
    out.iter()
        .map(|o| o.replace(READY_WAITED, DEFAULT_READY_WAITED))
        .collect()
}

#[test]
fn troubleshooting_table_quotes_real_messages() {
    let guide = Guide::load();
    let env = PodEnv::start();
    let functions = function("cat");
    let names = Names::new(
        &env.registry.host(),
        &env.kube.addr().to_string(),
        &functions.parent().expect("dir").display().to_string(),
    );
    let mut outputs = the_runner_in_the_image();
    outputs.extend(the_init_container());
    outputs.extend(the_pod_runtime(&env));
    let real: Vec<String> = outputs
        .iter()
        .flat_map(|o| {
            names
                .shown(o)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    println!("{}", real.join("\n"));
    let mut missing = Vec::new();
    for (place, quote) in guide.troubleshooting() {
        if CHECKED_ELSEWHERE.iter().any(|(p, _)| *p == place) {
            continue;
        }
        if !real.iter().any(|line| quotes(&quote, line)) {
            missing.push(format!("{place}: {quote}"));
        }
    }
    assert!(
        missing.is_empty(),
        "rows quoting no real line:\n{}",
        missing.join("\n")
    );
}
