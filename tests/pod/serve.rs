//! The pod runtime in `serve`'s evaluator chain, as a user would set it
//! up: exec first, `--disable-runtimes=pod`, no Kubernetes configuration,
//! no `$WRAPPER_SERVER_IMAGE`, public images under
//! `--default-image-prefix`.

use std::process::Stdio;

use fn_runner::grpc::Code;

use super::runtime::eval_ok;
use crate::support::exec::testdata;
use crate::support::loglines::LogLines;
use crate::support::pods::{
    sample_resource_list, PodEnv, PODS_PATH, PULL_SECRET, SECRETS_PATH, WAIT,
};
use crate::support::process::wait_exit;

/// `--functions`, and a `--config` (written in the env's directory) that
/// gives the exec runtime `images` as the `cat` function.
fn exec_flags(env: &PodEnv, images: &[&str]) -> [String; 2] {
    let config = env.dir().join("config.yaml");
    let list: String = images.iter().map(|i| format!("      - {i}\n")).collect();
    std::fs::write(
        &config,
        format!("functions:\n  - function: cat\n    images:\n{list}"),
    )
    .expect("write the exec config");
    [
        format!("--config={}", config.display()),
        format!("--functions={}", testdata().join("functions").display()),
    ]
}

// An image the exec config lists is served by the exec runtime even when
// the pod runtime could run it too (here: `cat` instead of the image's
// set-namespace, and no pod); other images go to pods.
#[test]
fn exec_images_are_served_by_exec_first() {
    let env = PodEnv::start();
    let both = &env.images.set_namespace;
    let [config, functions] = exec_flags(&env, &[both]);
    let runner = env.serve(&[&config, &functions]);
    let out = runner
        .eval(both, &sample_resource_list(), Some(WAIT))
        .unwrap_or_else(|e| panic!("{e}\n{}", runner.log().text()));
    assert_eq!(
        out.resource_list,
        sample_resource_list(),
        "cat ran, not the pod"
    );
    assert_eq!(env.kube.count("POST", PODS_PATH), 0);
    assert!(eval_ok(&runner, &env.images.multi_platform).contains("namespace: production"));
    assert_eq!(env.kube.count("POST", PODS_PATH), 1);
}

// --disable-runtimes=pod: an image no exec entry lists is NOT_FOUND, and
// the runner never talks to the API.
#[test]
fn disabled_pod_runtime_answers_not_found() {
    let env = PodEnv::start();
    let [config, functions] = exec_flags(&env, &["example.com/fn/cat:v1"]);
    let runner = env.serve(&["--disable-runtimes=pod", &config, &functions]);
    let image = &env.images.set_namespace;
    let err = runner
        .eval(image, &sample_resource_list(), Some(WAIT))
        .expect_err("no runtime knows the image");
    assert_eq!(err.code, Code::NOT_FOUND, "{err:?}");
    assert!(err.message.contains(image.as_str()), "{}", err.message);
    eval_ok(&runner, "example.com/fn/cat:v1");
    assert!(env.kube.requests().is_empty(), "{:#?}", env.kube.requests());
}

// No Kubernetes configuration at all (no flag, no in-cluster variables,
// no $KUBECONFIG, no ~/.kube/config): one log line says the pod runtime
// is off, exec works, other images are NOT_FOUND.
#[test]
fn without_kubernetes_configuration_exec_still_serves() {
    let env = PodEnv::start();
    let home = env.dir().join("empty-home");
    std::fs::create_dir_all(&home).expect("home dir");
    let [config, functions] = exec_flags(&env, &["example.com/fn/cat:v1"]);
    let home = home.display().to_string();
    let runner = env.serve_with(
        &["--kubeconfig=", &config, &functions],
        &[("HOME", Some(&home))],
    );
    eval_ok(&runner, "example.com/fn/cat:v1");
    let err = runner
        .eval(
            &env.images.set_namespace,
            &sample_resource_list(),
            Some(WAIT),
        )
        .expect_err("no pod runtime");
    assert_eq!(err.code, Code::NOT_FOUND, "{err:?}");
    let log = runner.log().text();
    assert_eq!(
        log.matches("no Kubernetes configuration found").count(),
        1,
        "{log}"
    );
    assert!(log.contains("the pod runtime is off"), "{log}");
    assert!(env.kube.requests().is_empty());
}

// A Kubernetes configuration but no $WRAPPER_SERVER_IMAGE: serve refuses
// to start, and says what to set.
#[test]
fn missing_wrapper_server_image_is_a_clear_start_error() {
    let env = PodEnv::start();
    let mut child = env
        .serve_command(&[], &[("WRAPPER_SERVER_IMAGE", None)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let log = LogLines::capture(child.stderr.take().expect("stderr"));
    let Some(status) = wait_exit(&mut child, WAIT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not exit:\n{}", log.text());
    };
    assert!(log.wait_closed(WAIT));
    let text = log.text();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "starting the pod runtime: the environment variable WRAPPER_SERVER_IMAGE must name \
             the image"
        ),
        "{text}"
    );
    assert!(text.contains("--disable-runtimes=pod"), "{text}");
    assert!(!text.contains("serving gRPC on"), "{text}");
}

// An image under --default-image-prefix is public: resolved anonymously,
// its pod has no imagePullSecrets and no Secret is replicated for it; a
// private image of the same runner still gets the Secret.
#[test]
fn a_public_image_gets_no_pull_secret() {
    let env = PodEnv::start();
    let public = env.public_registry();
    let image = public.pushed.reference.clone();
    let runner = env.serve(&[&format!("--default-image-prefix={}/", public.host())]);
    assert!(eval_ok(&runner, &image).contains("namespace: production"));
    let pod = env.pods().remove(0);
    assert_eq!(pod.image(), image);
    assert!(
        pod.object["spec"].get("imagePullSecrets").is_none(),
        "{:#}",
        pod.object["spec"]
    );
    assert_eq!(env.kube.count("GET", SECRETS_PATH), 0);
    assert_eq!(env.kube.count("POST", SECRETS_PATH), 0);

    let private = &env.images.set_namespace;
    eval_ok(&runner, private);
    let pods = env.pods();
    let pod = pods
        .iter()
        .find(|p| p.image() == private.as_str())
        .expect("the private image's pod");
    assert_eq!(
        pod.object["spec"]["imagePullSecrets"],
        serde_json::json!([{ "name": PULL_SECRET }])
    );
}
