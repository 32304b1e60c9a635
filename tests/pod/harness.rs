//! The pod-runtime harness checked on its own, before any runtime uses it:
//! pods shaped like compat §4.2 made by hand run our wrapper server with
//! the image's entrypoint; the node fails pulls as a cluster would; `serve`
//! runs as a process with the env's flags; nothing outlives the env.

use std::time::Duration;

use fn_runner::grpc::Code;
use fn_runner::proto::ServingStatus;

use crate::support::exec::{is_gone, testdata, wait_for};
use crate::support::pods::evaluate::{connect, evaluate};
use crate::support::pods::{
    pod_id, results_failure_prefix, sample_resource_list, Behaviour, PodEnv, IMAGE_LABEL, PASSWORD,
    PODS_PATH, POD_NAMESPACE, PULL_SECRET, RUNNER_NAMESPACE, WAIT,
};
use crate::support::process::descendants;

/// POSTs `pod` to the fake API's pod namespace, as the runner would; its
/// name.
fn create(env: &PodEnv, pod: serde_json::Value) -> String {
    let (code, created) = env
        .kube
        .request("POST", PODS_PATH, "application/json", &pod.to_string());
    assert_eq!(code, 201, "{created}");
    created["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// A compat §4.2 pod per image runs our wrapper server with the entrypoint
// `inspect` resolves (Entrypoint, Cmd-only, this machine's index child).
#[test]
fn compat_pods_run_the_images_entrypoints_through_our_wrapper() {
    let env = PodEnv::start();
    env.replicate_pull_secret();
    let images = [
        &env.images.set_namespace,
        &env.images.cmd_only,
        &env.images.multi_platform,
        &env.images.results,
    ];
    let names: Vec<String> = images
        .iter()
        .map(|image| create(&env, env.compat_pod(image)))
        .collect();
    assert_eq!(env.kube.count("POST", PODS_PATH), images.len());
    let input = sample_resource_list();
    let mark = env.kube.mark();
    for (image, name) in images.iter().zip(&names) {
        let pod = env.wait_for_pod(name, "ready", |p| p.ready);
        let record = env.record(name);
        assert!(record.problems.is_empty(), "{name}: {:?}", record.problems);
        let ip = record.ip.to_string();
        assert_eq!(pod.ip.as_deref(), Some(ip.as_str()));
        let args = record.args.expect("it ran");
        assert_eq!(args[..2], ["--bind-address".to_owned(), ip.clone()]);
        assert_eq!(
            args[2..6],
            ["--port", "9446", "--max-request-body-size", "6291456"]
        );
        let info = env.inspect(image);
        let digest = info["digest"].as_str().expect("digest");
        assert_eq!(pod.labels[IMAGE_LABEL], pod_id(image, digest));
        assert!(
            name.starts_with(&format!("{}-", pod_id(image, digest))),
            "{name}"
        );

        let client = connect(&pod.addr().expect("pod IP"));
        let result = evaluate(&client, image, &input, Some(WAIT));
        let calls = env.wait_for_wrapper_calls(name, "logged the call's end", |calls| {
            calls.iter().any(|c| c.ended.is_some())
        });
        assert_eq!(calls.len(), 1, "{}", env.wrapper_log(name).text());
        assert_eq!(&calls[0].image, *image);
        if *image == &env.images.results {
            // The input's first line ("apiVersion: ...") is no known mode.
            let err = result.expect_err("results fails on unknown input");
            assert_eq!(err.code, Code::INTERNAL, "{err:?}");
            assert!(err.message.contains("unknown mode"), "{}", err.message);
            assert_eq!(calls[0].outcome.as_deref(), Some("function failed"));
            let err = evaluate(&client, image, b"fail\n", Some(WAIT)).expect_err("fails");
            assert!(
                err.message.starts_with(&results_failure_prefix(image)),
                "{}",
                err.message
            );
            continue;
        }
        let out = text(&result.expect("evaluates").resource_list);
        if *image == &env.images.cmd_only {
            // set-labels: the config's data becomes labels; namespaces stay.
            assert!(
                out.contains("    labels:\n      namespace: production\n"),
                "{out}"
            );
            assert!(out.contains("    namespace: default\n"), "{out}");
        } else {
            // set-namespace (the index's child for this machine, not the
            // other platform's `/wrong-platform/...`).
            assert!(out.contains("    namespace: production\n"), "{out}");
            assert!(!out.contains("namespace: default"), "{out}");
        }
        assert!(calls[0]
            .outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("ok")));
    }
    // Calls straight to the pods touch no API.
    assert_eq!(env.kube.requests_since(mark).len(), 0);
    // The index resolves to this machine's child, with set-namespace in it.
    let multi = env.inspect(&env.images.multi_platform);
    assert_eq!(
        multi["entrypoint"][0],
        testdata()
            .join("functions/set-namespace")
            .display()
            .to_string()
    );
}

// A private image pulls only with the right pull secret; unknown images,
// an untrusted CA, crash loops and a pod without the wrapper's init
// container fail with the reasons a cluster shows.
#[test]
fn the_node_fails_pods_as_a_cluster_would() {
    let env = PodEnv::start();
    let waiting = |name: &str| {
        env.wait_for_pod(name, "waiting", |p| p.waiting.is_some())
            .waiting
            .expect("waiting")
    };
    let image = env.images.set_namespace.clone();
    let mut without_secret = env.compat_pod(&image);
    let spec = without_secret["spec"].as_object_mut().expect("spec");
    spec.remove("imagePullSecrets");
    let no_secret = create(&env, without_secret);
    // Named, but the Secret does not exist (the runner did not replicate it).
    let missing_secret = create(&env, env.compat_pod(&image));
    for name in [&no_secret, &missing_secret] {
        let (reason, message) = waiting(name);
        assert_eq!(reason, "ErrImagePull", "{name}");
        assert!(message.contains("401 Unauthorized"), "{message}");
    }
    // Wrong credentials in the Secret.
    let mut wrong = env.pull_secret();
    wrong["data"][".dockerconfigjson"] = serde_json::json!(base64_of(&format!(
        r#"{{"auths":{{"{}":{{"username":"{}","password":"nope"}}}}}}"#,
        env.registry.host(),
        crate::support::pods::USER
    )));
    env.kube
        .create("secrets", POD_NAMESPACE, wrong)
        .expect("secret");
    let wrong_secret = create(&env, env.compat_pod(&image));
    assert!(waiting(&wrong_secret).1.contains("401 Unauthorized"));

    let unknown = format!("{}/kpt-fn/missing:v1", env.registry.host());
    let mut pod = env.compat_pod(&image);
    pod["spec"]["containers"][0]["image"] = serde_json::json!(unknown);
    let (reason, message) = waiting(&create(&env, pod));
    assert_eq!(reason, "ErrImagePull");
    assert!(message.contains("not found"), "{message}");

    env.behave(
        &env.images.slow,
        Behaviour::x509_unknown_authority(&env.images.slow, &env.registry.host()),
    );
    let (reason, message) = waiting(&create(&env, env.compat_pod(&env.images.slow)));
    assert_eq!(reason, "ErrImagePull");
    assert!(message.contains("x509: certificate signed by unknown authority"));

    env.behave(&env.images.sleep, Behaviour::crash_loop_back_off());
    let crash = create(&env, env.compat_pod(&env.images.sleep));
    assert_eq!(waiting(&crash).0, "CrashLoopBackOff");

    env.behave(
        &env.images.cat,
        Behaviour::image_pull_back_off(&env.images.cat),
    );
    let back_off = create(&env, env.compat_pod(&env.images.cat));
    assert_eq!(waiting(&back_off).0, "ImagePullBackOff");

    // With the pull secret in place, a pod without the init container
    // that copies the wrapper cannot start it.
    env.kube
        .delete("secrets", POD_NAMESPACE, PULL_SECRET)
        .expect("delete");
    env.replicate_pull_secret();
    let mut no_init = env.compat_pod(&image);
    no_init["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("initContainers");
    let no_init = create(&env, no_init);
    let (reason, message) = waiting(&no_init);
    assert_eq!(reason, "CrashLoopBackOff");
    assert!(
        message.contains("/wrapper-server-tools/wrapper-server"),
        "{message}"
    );
    assert_eq!(
        env.record(&no_init).problems,
        ["no init container \"copy-wrapper-server\""]
    );
    assert_eq!(env.kubelet.running(), 0, "no pod ran");
}

// The fake grants the runner's documented Roles, each in its namespace.
#[test]
fn the_api_grants_the_runners_documented_roles() {
    let env = PodEnv::start();
    let role = env.kube.shared().role();
    for (verb, resource, ns, allowed) in [
        ("watch", "pods", POD_NAMESPACE, true),
        ("create", "pods", POD_NAMESPACE, true),
        ("update", "secrets", POD_NAMESPACE, true),
        ("get", "configmaps", RUNNER_NAMESPACE, true),
        ("create", "pods", RUNNER_NAMESPACE, false),
        ("get", "configmaps", POD_NAMESPACE, false),
        ("delete", "secrets", POD_NAMESPACE, false),
    ] {
        assert_eq!(
            role.allows(verb, resource, Some(ns)),
            allowed,
            "{verb} {resource} in {ns}"
        );
    }
    assert!(!role.allows("list", "pods", None), "nothing cluster-wide");
}

// A start delay shows as ContainerCreating, then the pod runs.
#[test]
fn a_start_delay_keeps_the_pod_creating_then_it_runs() {
    let env = PodEnv::start();
    env.replicate_pull_secret();
    let image = env.images.set_namespace.clone();
    env.behave(&image, Behaviour::StartDelay(Duration::from_millis(300)));
    let events = env.kube.subscribe();
    let name = create(&env, env.compat_pod(&image));
    env.wait_for_pod(&name, "ready", |p| p.ready);
    let reasons: Vec<String> = events
        .try_iter()
        .filter_map(|e| {
            e.object["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(reasons, ["ContainerCreating"]);
}

// `serve` runs as a process with the env's flags: health, an exec call,
// its log searchable; it exits on SIGTERM; the password never shows.
#[test]
fn serve_runs_as_a_process_with_the_envs_flags() {
    let env = PodEnv::start();
    let config = testdata().join("config.yaml");
    let functions = testdata().join("functions");
    let runner = env.serve(&[
        &format!("--config={}", config.display()),
        &format!("--functions={}", functions.display()),
    ]);
    assert!(runner.addr().starts_with("127.0.0.1:"), "{}", runner.addr());
    assert_eq!(runner.wait_serving(), ServingStatus::SERVING);
    runner.wait_for_log("exec runtime:", WAIT);
    let out = runner
        .eval(
            "gcr.io/kpt-fn/set-namespace:v0.4.1",
            &sample_resource_list(),
            Some(WAIT),
        )
        .expect("exec runtime call");
    assert!(text(&out.resource_list).contains("    namespace: production\n"));
    // Calls from many threads share the runner's one connection.
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(|| runner.eval("example.com/fn/cat:v1", b"items: []\n", Some(WAIT))))
            .collect();
        for call in calls {
            let out = call.join().expect("call thread").expect("cat");
            assert_eq!(out.resource_list, b"items: []\n");
        }
    });
    assert!(runner
        .wait_for_log_matching(Duration::from_millis(1), |l| l.contains("no such line"))
        .is_none());
    let log = runner.log().text();
    assert!(!log.contains(PASSWORD), "{log}");
    let pid = runner.pid();
    let status = runner.stop().expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(is_gone(pid));
}

// Dropping the env (and the runner) leaves no process: not the runner,
// not a wrapper server, not the function a call still runs in it.
#[test]
fn dropping_the_env_leaves_no_process() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    env.replicate_pull_secret();
    let name = create(&env, env.compat_pod(&env.images.sleep));
    let pod = env.wait_for_pod(&name, "ready", |p| p.ready);
    let addr = pod.addr().expect("pod IP");
    let image = env.images.sleep.clone();
    let call = std::thread::spawn(move || {
        evaluate(&connect(&addr), &image, b"x\n", Some(WAIT)).map(|_| ())
    });
    env.wrapper_log(&name)
        .wait_for(WAIT, |l| l.contains("call 1: evaluating"))
        .expect("the call reached the wrapper");
    let wrapper = env.wrapper_pid(&name).expect("wrapper runs");
    // The log line comes just before the function starts; /proc has no
    // event to wait on.
    assert!(
        wait_for(WAIT, || !descendants(wrapper).is_empty()),
        "the function never ran under the wrapper"
    );
    let mut pids = vec![runner.pid(), wrapper];
    pids.extend(descendants(wrapper));
    drop(runner);
    drop(env);
    for pid in &pids {
        assert!(is_gone(*pid), "{pid} still runs (of {pids:?})");
    }
    let err = call
        .join()
        .expect("call thread")
        .expect_err("the pod went away");
    assert_ne!(err.code, Code::OK);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
