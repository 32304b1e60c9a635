//! What the manifests say, checked against the binary: the Deployment runs
//! the image with Porch's own command and probe (parsed by our flags), the
//! two image fields agree, the pod is locked down, and the user guide's
//! private-registry flags point into the Secrets the Deployment mounts.

use std::path::Path;

use fn_runner::flags::{self, Command, Invocation, ServeSettings};
use fn_runner::image_layout as layout;
use serde_json::Value;

use super::object;
use crate::support::fakekube::FakeKube;
use crate::support::image::repo;
use crate::support::kubectl::Kubectl;

/// Porch v4.1.2's `deployments/porch/2-function-runner.yaml` command,
/// which the swap keeps as it is.
const PORCH_COMMAND: [&str; 5] = [
    "/server",
    "--config=/config.yaml",
    "--functions=/functions",
    "--pod-namespace=porch-fn-system",
    "--max-request-body-size=6291456",
];

/// Step 3 of the user guide (`using-authenticated-private-registries.md`),
/// with its `<SECRET_NAME>` as the Secret deploy/ mounts.
const GUIDE_FLAGS: [&str; 5] = [
    "--enable-private-registry=true",
    "--registry-auth-secret-path=/var/tmp/auth-secret/.dockerconfigjson",
    "--registry-auth-secret-name=auth-secret",
    "--enable-private-registry-tls=true",
    "--tls-secret-path=/var/tmp/tls-secret/",
];

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// The entry of the list `list` whose `field` is `value`.
fn entry(list: &Value, field: &str, value: &str) -> Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|e| e[field] == value)
        .unwrap_or_else(|| panic!("no {field} {value} in {list}"))
        .clone()
}

fn container() -> Value {
    let deployment = object("Deployment", "function-runner");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .clone();
    assert_eq!(containers.len(), 1);
    containers.into_iter().next().expect("one")
}

fn serve_settings(command: &[String]) -> ServeSettings {
    match flags::parse(command.iter().map(Into::into)) {
        Ok(Invocation::Run(Command::Serve(settings))) => settings,
        other => panic!("{command:?} is not a serve command line: {other:?}"),
    }
}

/// The mountPath of the volume that mounts Secret `secret`.
fn secret_mount(secret: &str) -> String {
    let pod = &object("Deployment", "function-runner")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["secret"]["secretName"] == secret)
        .unwrap_or_else(|| panic!("no volume of Secret {secret}"));
    assert_eq!(
        volume["secret"]["optional"], true,
        "the runner starts without {secret}"
    );
    let name = volume["name"].as_str().expect("name");
    let mount = entry(&container()["volumeMounts"], "name", name);
    assert_eq!(mount["readOnly"], true, "{name}");
    mount["mountPath"].as_str().expect("mountPath").to_owned()
}

#[test]
fn deployment_runs_the_image_with_porchs_command_and_probe() {
    let c = container();
    let command = strings(&c["command"]);
    assert_eq!(command, PORCH_COMMAND, "the args stay as Porch ships them");
    assert_eq!(command[0], layout::SERVER);
    let settings = serve_settings(&command);
    assert_eq!(settings.config, Path::new(layout::CONFIG));
    assert_eq!(settings.functions, Path::new(layout::FUNCTIONS));
    assert_eq!(settings.port, 9445);
    assert_eq!(c["ports"][0]["containerPort"], 9445);
    let service = object("Service", "function-runner");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 9445);
    assert_eq!(
        service["spec"]["selector"],
        object("Deployment", "function-runner")["spec"]["selector"]["matchLabels"]
    );

    let probe = strings(&c["readinessProbe"]["exec"]["command"]);
    assert_eq!(probe, [layout::HEALTH_PROBE, "-addr", "localhost:9445"]);
    match flags::parse(probe.iter().map(Into::into)) {
        Ok(Invocation::Run(Command::HealthProbe(p))) => assert_eq!(p.addr, "localhost:9445"),
        other => panic!("the probe does not parse as grpc-health-probe: {other:?}"),
    }

    // The pod-cache-config ConfigMap lands where --pod-cache-config looks.
    let mount = entry(&c["volumeMounts"], "name", "pod-cache-config-volume");
    let config_map = object("ConfigMap", "pod-cache-config");
    let key = config_map["data"]
        .as_object()
        .expect("data")
        .keys()
        .next()
        .expect("a key")
        .clone();
    assert_eq!(
        Path::new(mount["mountPath"].as_str().expect("path")).join(key),
        settings.pod_cache_config
    );
}

#[test]
fn both_image_fields_name_the_same_image() {
    let c = container();
    let image = c["image"].as_str().expect("image");
    let env = entry(&c["env"], "name", "WRAPPER_SERVER_IMAGE");
    assert_eq!(
        env["value"], image,
        "the wrapper server comes from the same image"
    );
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{image}: the release's tag"
    );
}

#[test]
fn pod_is_non_root_read_only_without_privileges() {
    let deployment = object("Deployment", "function-runner");
    let pod = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(pod["runAsUser"], 65532, "the image's nonroot user");
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let sc = &container()["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"].clone();
    assert_eq!(
        object("ServiceAccount", "porch-fn-runner")["metadata"]["name"],
        account
    );
    let binding = object("RoleBinding", "porch-fn-runner");
    assert_eq!(binding["subjects"][0]["name"], account);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        deployment["metadata"]["namespace"]
    );
}

#[test]
fn the_guides_flags_point_into_the_mounted_secrets() {
    let mut command = strings(&container()["command"]);
    command.extend(GUIDE_FLAGS.iter().map(|f| (*f).to_owned()));
    let registry = serve_settings(&command).registry;
    assert!(registry.enable_private_registry && registry.enable_private_registry_tls);
    let auth_mount = secret_mount(&registry.registry_auth_secret_name);
    assert_eq!(
        registry
            .registry_auth_secret_path
            .as_deref()
            .and_then(Path::parent),
        Some(Path::new(&auth_mount)),
        "the docker config is in the mounted Secret"
    );
    let tls_mount = secret_mount("tls-secret");
    assert_eq!(registry.tls_secret_path, Path::new(&tls_mount));

    // The edited Deployment, as a user following the guide has it, still
    // passes the API server.
    let text = std::fs::read_to_string(repo().join("deploy/function-runner.yaml")).expect("read");
    let last = "            - --max-request-body-size=6291456";
    let mut edited = String::new();
    for line in text.lines() {
        edited.push_str(line);
        edited.push('\n');
        if line.starts_with(last) {
            for flag in GUIDE_FLAGS {
                edited.push_str(&format!("            - {flag}\n"));
            }
        }
    }
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    kubectl.ok(
        &["apply", "--dry-run=server", "--validate=false", "-f", "-"],
        Some(&edited),
    );
    let created = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/deployments"))
        .count();
    assert_eq!(created, 1);
}
