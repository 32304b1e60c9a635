//! The pod runtime end to end (issue 12, "Prove it"): `serve` as a process
//! against the fake API, the simulated node running our wrapper server per
//! pod, and the real registry with the test CA and basic auth: the
//! first call, a restart, the warm path, concurrent cold calls, the pull
//! Secret following its file, reclaim-after refreshes.

use crate::support::pods::{
    pod_id, sample_resource_list, Behaviour, PodEnv, Runner, IMAGE_LABEL, PODS_PATH, POD_NAMESPACE,
    PULL_SECRET, SECRETS_PATH, WAIT, WRAPPER_SERVER_IMAGE,
};

// First call for a private image: the output is right, the pull Secret is
// the auth file byte for byte, and exactly one pod exists, with every field
// of compat §4.2.
#[test]
fn first_call_for_a_private_image_makes_one_compat_pod() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    let image = &env.images.set_namespace;
    let out = runner
        .eval(image, &sample_resource_list(), Some(WAIT))
        .unwrap_or_else(|e| panic!("{e}\n{}", runner.log().text()));
    let text = String::from_utf8_lossy(&out.resource_list);
    assert!(text.contains("namespace: production"), "{text}");

    let secret = env.pull_secret();
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let data = secret["data"][".dockerconfigjson"].as_str().expect("data");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    assert_eq!(bytes, env.auth_file_bytes(), "replicated byte for byte");

    let pods = env.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(env.kube.count("POST", PODS_PATH), 1);
    let pod = &pods[0];
    let digest = env.inspect(image)["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let id = pod_id(image, &digest);
    assert_eq!(pod.labels[IMAGE_LABEL], id);
    assert!(pod.name.starts_with(&format!("{id}-")), "{}", pod.name);
    assert_eq!(pod.object["metadata"]["namespace"], POD_NAMESPACE);
    let record = env.record(&pod.name);
    assert!(record.problems.is_empty(), "{:?}", record.problems);
    let object = &pod.object;
    let annotations = &object["metadata"]["annotations"];
    assert_eq!(annotations["fn.kpt.dev/template-version"], "inline-v1");
    assert_eq!(
        annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"],
        "true"
    );
    let reclaim: u64 = annotations["fn.kpt.dev/reclaim-after"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("reclaim-after is unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        reclaim > now + 29 * 60 && reclaim <= now + 30 * 60,
        "{reclaim}"
    );
    let spec = &object["spec"];
    assert_eq!(spec["initContainers"][0]["image"], WRAPPER_SERVER_IMAGE);
    assert_eq!(spec["imagePullSecrets"][0]["name"], PULL_SECRET);
    let function = &spec["containers"][0];
    assert_eq!(function["name"], "function");
    assert_eq!(function["image"], image.as_str());
    let entrypoint = env.inspect(image)["entrypoint"].clone();
    let mut args =
        serde_json::json!(["--port", "9446", "--max-request-body-size", "6291456", "--"]);
    args.as_array_mut()
        .expect("array")
        .extend(entrypoint.as_array().expect("entrypoint").iter().cloned());
    assert_eq!(function["args"], args);
}

/// The runner's answer to a call for `image` on the sample ResourceList,
/// which must succeed (the runner's log in the panic otherwise).
pub fn eval_ok(runner: &Runner, image: &str) -> String {
    let out = runner
        .eval(image, &sample_resource_list(), Some(WAIT))
        .unwrap_or_else(|e| panic!("{image}: {e}\n{}", runner.log().text()));
    String::from_utf8_lossy(&out.resource_list).into_owned()
}

// Pods of the same image are found again after a runner restart: the
// second runner serves from the first one's pod, with no second POST.
#[test]
fn a_restarted_runner_finds_the_pod_again() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let first = env.serve(&[]);
    assert!(eval_ok(&first, image).contains("namespace: production"));
    let pods = env.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    let status = first.stop().expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");

    let second = env.serve(&[]);
    assert!(eval_ok(&second, image).contains("namespace: production"));
    assert_eq!(env.kube.count("POST", PODS_PATH), 1, "no second pod");
    second.wait_for_log(&format!("reusing function pod {}", pods[0].name), WAIT);
    let calls = env.wait_for_wrapper_calls(&pods[0].name, "served both runners", |calls| {
        calls.len() == 2 && calls.iter().all(|c| c.ended.is_some())
    });
    assert!(calls
        .iter()
        .all(|c| c.outcome.as_deref().is_some_and(|o| o.starts_with("ok"))));
}

// The warm path makes no Kubernetes API call: 100 calls to a ready pod,
// and the fake's request log shows nothing but (at most) a reclaim-after
// refresh of that pod.
#[test]
fn warm_calls_make_no_api_request() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    let runner = env.serve(&[]);
    eval_ok(&runner, image);
    let pod = env.pods().remove(0);
    let mark = env.kube.mark();
    for _ in 0..100 {
        assert!(eval_ok(&runner, image).contains("namespace: production"));
    }
    let refresh = format!("{PODS_PATH}/{}", pod.name);
    let requests: Vec<_> = env
        .kube
        .requests_since(mark)
        .into_iter()
        .filter(|r| !(r.method == "PATCH" && r.path == refresh))
        .collect();
    assert!(requests.is_empty(), "{requests:#?}");
    env.wait_for_wrapper_calls(&pod.name, "served 101 calls", |calls| {
        calls.len() == 101 && calls.iter().all(|c| c.ended.is_some())
    });
    assert_eq!(env.pods().len(), 1);
}

// 50 concurrent cold calls for one image: one pod, 50 answers. The pod is
// held in ContainerCreating until its POST is seen, so the calls wait on
// one start (those the client had not sent yet find it ready).
#[test]
fn concurrent_cold_calls_share_one_pod() {
    let env = PodEnv::start();
    let image = &env.images.set_namespace;
    env.behave(image, Behaviour::Held);
    let runner = env.serve(&[]);
    let input = sample_resource_list();
    let answers: Vec<_> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..50)
            .map(|_| s.spawn(|| runner.eval(image, &input, Some(WAIT))))
            .collect();
        env.wait_for_pods("created", |pods| !pods.is_empty());
        env.release(image);
        calls
            .into_iter()
            .map(|c| c.join().expect("call thread"))
            .collect()
    });
    for answer in answers {
        let out = answer.unwrap_or_else(|e| panic!("{e}\n{}", runner.log().text()));
        assert!(String::from_utf8_lossy(&out.resource_list).contains("namespace: production"));
    }
    assert_eq!(env.kube.count("POST", PODS_PATH), 1);
    let pods = env.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    env.wait_for_wrapper_calls(&pods[0].name, "served the 50 calls", |calls| {
        calls.len() == 50 && calls.iter().all(|c| c.ended.is_some())
    });
}

// The pull Secret follows the mounted auth file: when its bytes change,
// the next pod start updates the Secret to them, byte for byte; calls in
// between make no Secret request.
#[test]
fn the_pull_secret_follows_the_auth_file() {
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    eval_ok(&runner, &env.images.set_namespace);
    let before = env.pull_secret();
    // The same credentials, written differently (as a Secret edit would).
    let value: serde_json::Value =
        serde_json::from_slice(&env.auth_file_bytes()).expect("auth file JSON");
    let rewritten = serde_json::to_vec(&value).expect("JSON");
    assert_ne!(rewritten, env.auth_file_bytes());
    std::fs::write(env.auth_file(), &rewritten).expect("rewrite the auth file");
    let mark = env.kube.mark();
    eval_ok(&runner, &env.images.set_namespace);
    assert_eq!(
        env.kube.count_since(mark, "GET", SECRETS_PATH),
        0,
        "a warm call checks no Secret"
    );
    eval_ok(&runner, &env.images.cat);
    assert_eq!(env.kube.count_since(mark, "PUT", SECRETS_PATH), 1);
    let after = env.pull_secret();
    assert_ne!(after, before);
    let stored = env
        .kube
        .object("secrets", POD_NAMESPACE, PULL_SECRET)
        .expect("the Secret");
    assert_eq!(
        stored["data"], after["data"],
        "the new bytes, byte for byte"
    );
}

// reclaim-after is refreshed while a pod is in use (every third of a 3 s
// TTL here), off the request path: calls go on until the refresh shows in
// the request log, and the pod's annotation moved forward.
#[test]
fn reclaim_after_is_refreshed_while_the_pod_is_used() {
    let env = PodEnv::start();
    let runner = env.serve(&["--pod-ttl=3s"]);
    let image = &env.images.cat;
    eval_ok(&runner, image);
    let pod = env.pods().remove(0);
    let first = pod.annotations["fn.kpt.dev/reclaim-after"].clone();
    let refresh = format!("{PODS_PATH}/{}", pod.name);
    let deadline = std::time::Instant::now() + WAIT;
    while env.kube.count("PATCH", &refresh) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh within {WAIT:?}:\n{}",
            runner.log().text()
        );
        eval_ok(&runner, image);
    }
    let pod = env.wait_for_pod(&pod.name, "refreshed", |p| {
        p.annotations["fn.kpt.dev/reclaim-after"] != first
    });
    let (first, now): (u64, u64) = (
        first.parse().expect("unix seconds"),
        pod.annotations["fn.kpt.dev/reclaim-after"]
            .parse()
            .expect("unix seconds"),
    );
    assert!(now > first, "{first} -> {now}");
}
