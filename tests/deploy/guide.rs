//! The README's "Swap fn-runner into Porch" steps that need no function
//! pod, run as written against the fake API server: set the two image
//! fields, create the user guide's two Secrets, add its flags, `kubectl
//! apply -k`, read the image fields back, roll back with `kubectl delete
//! -k` and Porch's own manifest. (What needs the pod runtime waits for it.)
//! The commands are split on spaces, so none of them holds a quoted space.
//! Each command and its output is printed (`--nocapture`): the README
//! shows them.

use std::path::Path;

use crate::support::fakekube::FakeKube;
use crate::support::image::repo;
use crate::support::kubectl::Kubectl;
use crate::support::registry::Pki;
use crate::support::tempdir::TempDir;

/// The README's example image.
const IMAGE: &str = "registry.internal:5000/porch/fn-runner:0.1.0";
/// The placeholder the two image fields hold in deploy/.
const PLACEHOLDER: &str = "registry.example.com/fn-runner:0.1.0";

/// Runs one README command line; prints it and its output. `kubectl
/// apply` gets `--validate=false` here only: the fake serves no OpenAPI
/// documents for kubectl to validate against (a real cluster does).
fn step(kubectl: &Kubectl<'_>, dir: &Path, line: &str) -> String {
    let mut args: Vec<&str> = line.split_whitespace().skip(1).collect();
    if args.first() == Some(&"apply") {
        args.push("--validate=false");
    }
    let mut cmd = kubectl.command(&args);
    cmd.current_dir(dir);
    let out = cmd.output().expect("run kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("$ {line}\n{text}");
    assert!(out.status.success(), "{line}: {text}");
    text
}

/// The guide's way to a Secret: `kubectl create secret generic NAME FROM
/// --dry-run=client -o yaml -n porch-system > NAME.yaml`, then `kubectl
/// apply -f NAME.yaml`.
fn secret_step(kubectl: &Kubectl<'_>, dir: &Path, name: &str, from: &str) {
    let yaml = step(
        kubectl,
        dir,
        &format!(
            "kubectl create secret generic {name} {from} --dry-run=client -o yaml -n porch-system"
        ),
    );
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("write");
    step(kubectl, dir, &format!("kubectl apply -f {name}.yaml"));
}

fn copy_deploy(to: &Path) {
    let from = repo().join("deploy");
    std::fs::create_dir_all(to).expect("deploy copy");
    for entry in std::fs::read_dir(&from).expect("deploy/") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn swap_guide_kubectl_steps_work_against_the_api_server() {
    let fake = FakeKube::start();
    let kubectl = Kubectl::new(&fake);
    let work = TempDir::new("swap-guide");
    let dir = work.path();
    copy_deploy(&dir.join("deploy"));

    // Step 2: the two image fields.
    let path = dir.join("deploy/function-runner.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text.matches(PLACEHOLDER).count(),
        2,
        "exactly two image fields"
    );
    std::fs::write(&path, text.replace(PLACEHOLDER, IMAGE)).expect("write");

    // Step 3: the guide's Secrets and flags.
    let pki = Pki::new();
    std::fs::copy(pki.ca_crt(), dir.join("ca.crt")).expect("CA");
    std::fs::write(
        dir.join("config.json"),
        r#"{"auths": {"registry.internal:5000": {"auth": "bXlfdXNlcm5hbWU6bXlfcGFzc3dvcmQ="}}}"#,
    )
    .expect("config.json");
    secret_step(
        &kubectl,
        dir,
        "auth-secret",
        "--from-file=.dockerconfigjson=config.json --type=kubernetes.io/dockerconfigjson",
    );
    secret_step(&kubectl, dir, "tls-secret", "--from-file=ca.crt=ca.crt");
    let text = std::fs::read_to_string(&path).expect("read");
    let flags = "            - --max-request-body-size=6291456 # Keep this in sync with porch-server's corresponding argument\n";
    assert!(text.contains(flags));
    std::fs::write(
        &path,
        text.replace(
            flags,
            &format!(
                "{flags}            - --enable-private-registry=true\n            - --registry-auth-secret-path=/var/tmp/auth-secret/.dockerconfigjson\n            - --registry-auth-secret-name=auth-secret\n            - --enable-private-registry-tls=true\n            - --tls-secret-path=/var/tmp/tls-secret/\n"
            ),
        ),
    )
    .expect("write");

    // Step 4: apply.
    let out = step(&kubectl, dir, "kubectl apply -k deploy/");
    assert!(
        out.contains("deployment.apps/function-runner created"),
        "{out}"
    );
    let secret = fake
        .object("secrets", "porch-system", "auth-secret")
        .expect("auth-secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert!(fake
        .object("secrets", "porch-system", "tls-secret")
        .expect("tls-secret")["data"]["ca.crt"]
        .is_string());

    // Step 5: the image fields as the cluster has them.
    let out = step(
        &kubectl,
        dir,
        r#"kubectl -n porch-system get deployment function-runner -o jsonpath={.spec.template.spec.containers[0].image}{"\n"}{.spec.template.spec.containers[0].env[0].value}{"\n"}"#,
    );
    assert_eq!(out, format!("{IMAGE}\n{IMAGE}\n"));
    let live = fake
        .object("deployments", "porch-system", "function-runner")
        .expect("deployment");
    let command = live["spec"]["template"]["spec"]["containers"][0]["command"].clone();
    assert_eq!(
        command.as_array().map(Vec::len),
        Some(10),
        "Porch's 5 and the guide's 5: {command}"
    );

    // Rollback: everything deploy/ made goes; Porch's own manifest comes back.
    let out = step(&kubectl, dir, "kubectl delete -k deploy/");
    assert_eq!(out.lines().count(), 6, "{out}");
    for (resource, ns, name) in [
        ("deployments", "porch-system", "function-runner"),
        ("roles", "porch-fn-system", "porch-fn-runner"),
        ("rolebindings", "porch-fn-system", "porch-fn-runner"),
        ("configmaps", "porch-system", "pod-cache-config"),
    ] {
        assert!(
            fake.object(resource, ns, name).is_none(),
            "{resource}/{name} left"
        );
    }
    // Porch's 2-function-runner.yaml, as far as the swap changed it: its images.
    let porch = std::fs::read_to_string(repo().join("deploy/function-runner.yaml"))
        .expect("read")
        .replacen(
            PLACEHOLDER,
            "docker.io/nephio/porch-function-runner:latest",
            1,
        )
        .replacen(
            PLACEHOLDER,
            "docker.io/nephio/porch-wrapper-server:latest",
            1,
        );
    std::fs::write(dir.join("2-function-runner.yaml"), porch).expect("write");
    step(&kubectl, dir, "kubectl apply -f 2-function-runner.yaml");
    let live = fake
        .object("deployments", "porch-system", "function-runner")
        .expect("deployment");
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "docker.io/nephio/porch-function-runner:latest"
    );
}
