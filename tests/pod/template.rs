//! `--function-pod-template`: pods made from the ConfigMap's template, and
//! replaced when it changes (compat §4.2, §4.3).

use serde_json::json;

use super::runtime::eval_ok;
use crate::support::pods::{
    sample_resource_list, template_config_map, template_pod_yaml, PodEnv, PODS_PATH,
    RUNNER_NAMESPACE, WAIT,
};

/// The ConfigMap's name (`--function-pod-template`).
const TEMPLATE: &str = "fn-pod-template";
const VERSION: &str = "fn.kpt.dev/template-version";

// The template ConfigMap edited: the runner sees the new version at its
// next scan, the next call runs on a new pod of it, the old pod is deleted.
#[test]
fn an_edited_template_replaces_the_pod() {
    let env = PodEnv::start();
    let created = env
        .kube
        .create(
            "configmaps",
            RUNNER_NAMESPACE,
            template_config_map(TEMPLATE, &template_pod_yaml("one")),
        )
        .expect("create the template ConfigMap");
    let first_version = created["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned();
    let runner = env.serve(&[
        &format!("--function-pod-template={TEMPLATE}"),
        "--scan-interval=200ms",
    ]);
    let image = &env.images.set_namespace;
    assert!(eval_ok(&runner, image).contains("namespace: production"));
    let old = env.pods().remove(0);
    assert_eq!(old.annotations[VERSION], first_version);
    assert_eq!(old.labels["team"], "one");

    let edited = env
        .kube
        .patch(
            "configmaps",
            RUNNER_NAMESPACE,
            TEMPLATE,
            json!({"data": {"template": template_pod_yaml("two")}}),
        )
        .expect("edit the template");
    let second_version = edited["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned();
    runner.wait_for_log(
        &format!(
            "function pod template {RUNNER_NAMESPACE}/{TEMPLATE} changed (version \
             {first_version} -> {second_version})"
        ),
        WAIT,
    );
    assert!(eval_ok(&runner, image).contains("namespace: production"));
    let pods = env.wait_for_pods("down to the new pod", |pods| {
        pods.len() == 1 && pods[0].name != old.name
    });
    let new = &pods[0];
    assert_eq!(new.annotations[VERSION], second_version);
    assert_eq!(new.labels["team"], "two");
    assert_eq!(env.kube.count("POST", PODS_PATH), 2);
    // Deleted by the start that replaced it or by the GC's next scan,
    // whichever comes first (the other's delete finds it gone).
    assert!(
        env.kube
            .count("DELETE", &format!("{PODS_PATH}/{}", old.name))
            >= 1
    );
    let calls = env.wrapper_calls(&new.name);
    assert_eq!(calls.len(), 1, "the second call ran on the new pod");
}

// A template without a `function` container: the call fails with an error
// naming the ConfigMap and the missing container, and no pod is made.
#[test]
fn a_template_without_a_function_container_is_a_clear_error() {
    let env = PodEnv::start();
    let broken = template_pod_yaml("one").replace("name: function", "name: main");
    env.kube
        .create(
            "configmaps",
            RUNNER_NAMESPACE,
            template_config_map(TEMPLATE, &broken),
        )
        .expect("create the template ConfigMap");
    let runner = env.serve(&[&format!("--function-pod-template={TEMPLATE}")]);
    let image = &env.images.set_namespace;
    let err = runner
        .eval(image, &sample_resource_list(), Some(WAIT))
        .expect_err("no pod can be made");
    assert!(
        err.message.starts_with(&format!(
            "unable to evaluate {image} with pod evaluator: function pod template ConfigMap \
             {RUNNER_NAMESPACE}/{TEMPLATE}: the pod has no container named \"function\""
        )),
        "{err:?}"
    );
    assert_eq!(env.kube.count("POST", PODS_PATH), 0);
}
