//! The pod runtime end to end (issue 12, "Prove it"): `serve` as a process
//! against the fake API, the simulated node running our wrapper server per
//! pod, and the real registry with the test CA and basic auth.

use crate::support::pods::{
    pod_id, sample_resource_list, PodEnv, IMAGE_LABEL, PODS_PATH, POD_NAMESPACE, PULL_SECRET, WAIT,
    WRAPPER_SERVER_IMAGE,
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
