//! The static smoke test: the binary built with `+crt-static` (glibc's
//! target; the image is built for musl, which cannot be installed here) has
//! no program interpreter and needs no shared library, and works in an
//! empty root that holds only the image's own files (`image/layout.sh`), a
//! config, a static test function and the test CA: no host /etc, /usr or
//! /lib, no /proc, no /dev. It runs there as the image runs it, with a
//! cleared environment and distroless's PATH, as the image's uid 65532 and
//! as the uid 10001 of newer Porch Deployments.
//!
//! Needs root (`chroot`), as CI runs it.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Stdio;

use fn_runner::image_layout as layout;

use super::{stderr, stdout};
use crate::support::elf;
use crate::support::exec::RunnerProcess;
use crate::support::image::{static_binary, static_function, ImageRoot};
use crate::support::process::fn_runner_bin;
use crate::support::registry::{Auth, Pki, Registry};

/// The image's USER.
const IMAGE_USER: &str = "65532:65532";
/// The uid newer Porch Deployments run the runner as.
const PORCH_V15_USER: &str = "10001:10001";
/// The static test function's image, as the config lists it.
const STATIC_FN_IMAGE: &str = "example.com/fn/static-echo:v1";

/// An empty root with the image's files, a config and the static test
/// function: nothing of the host in it.
struct EmptyRoot {
    root: ImageRoot,
}

impl EmptyRoot {
    fn new() -> Self {
        let root = ImageRoot::new("empty-root");
        let functions = root.host_path(layout::FUNCTIONS);
        std::fs::create_dir(&functions).expect("functions dir");
        std::fs::set_permissions(&functions, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        static_function(&functions.join("static-echo"));
        std::fs::write(
            root.host_path(layout::CONFIG),
            format!(
                "functions:\n  - function: static-echo\n    images:\n      - {STATIC_FN_IMAGE}\n"
            ),
        )
        .expect("config");
        root.assert_holds_nothing_of_the_host();
        EmptyRoot { root }
    }
}

impl std::ops::Deref for EmptyRoot {
    type Target = ImageRoot;

    fn deref(&self) -> &ImageRoot {
        &self.root
    }
}

fn port_of(server: &RunnerProcess) -> String {
    server
        .addr
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .expect("port")
}

#[test]
fn static_binary_has_no_interpreter_and_needs_no_library() {
    let bytes = std::fs::read(static_binary()).expect("read the static binary");
    let linking = elf::linking(&bytes).expect("ELF");
    assert_eq!(linking.interpreter, None, "PT_INTERP in a static binary");
    assert!(linking.needed.is_empty(), "DT_NEEDED: {:?}", linking.needed);
    // The reader does see them where they are: the normal test binary.
    let dynamic = elf::linking(&std::fs::read(fn_runner_bin()).expect("read")).expect("ELF");
    assert!(
        dynamic
            .interpreter
            .as_deref()
            .is_some_and(|i| i.contains("ld-linux")),
        "{dynamic:?}"
    );
    assert!(
        dynamic.needed.iter().any(|n| n.starts_with("libc.so")),
        "{dynamic:?}"
    );
}

#[test]
fn serve_answers_health_and_evaluations_in_an_empty_root() {
    let root = EmptyRoot::new();
    // Porch v4's Deployment (port 0 instead of 9445), as the image's user;
    // then newer Porch's, as uid 10001.
    for (user, server, probe, config, functions) in [
        (
            IMAGE_USER,
            layout::SERVER,
            layout::HEALTH_PROBE,
            layout::CONFIG,
            layout::FUNCTIONS,
        ),
        (
            PORCH_V15_USER,
            layout::NONROOT_SERVER,
            layout::NONROOT_HEALTH_PROBE,
            layout::NONROOT_CONFIG,
            layout::NONROOT_FUNCTIONS,
        ),
    ] {
        let config = format!("--config={config}");
        let functions = format!("--functions={functions}");
        let cmd = root.command(
            user,
            server,
            &[
                &config,
                &functions,
                "--pod-namespace=porch-fn-system",
                "--max-request-body-size=6291456",
                "--port=0",
            ],
        );
        let server = RunnerProcess::spawn(cmd);
        let port = port_of(&server);

        // The readiness probe, exactly as the Deployment runs it (`localhost`).
        let addr = format!("localhost:{port}");
        let out = root.run(user, probe, &["-addr", &addr]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user} {probe}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out).trim(), "status: SERVING");

        // An evaluation of the static function, sent from inside the root.
        let input = std::fs::read(crate::support::exec::testdata().join("resourcelist.yaml"))
            .expect("resource list");
        let address = format!("127.0.0.1:{port}");
        let mut eval = root
            .command(
                user,
                "/fn-runner",
                &[
                    "eval",
                    "--address",
                    &address,
                    "--image",
                    STATIC_FN_IMAGE,
                    "-",
                ],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eval");
        eval.stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("write input");
        let out = eval.wait_with_output().expect("eval output");
        assert_eq!(out.status.code(), Some(0), "{user} eval: {}", stderr(&out));
        assert_eq!(out.stdout, input, "the static function echoes its input");
        assert!(
            stderr(&out).contains(&format!("static-function: {} bytes", input.len())),
            "the function's log: {}",
            stderr(&out)
        );
        drop(server);
    }
    root.assert_holds_nothing_of_the_host();
}

#[test]
fn the_function_pods_init_copy_and_probe_work_in_an_empty_root() {
    let root = EmptyRoot::new();
    for (from, tools) in [
        (layout::WRAPPER_SERVER_DIR, layout::TOOLS_DIR.to_owned()),
        (
            layout::NONROOT_WRAPPER_SERVER_DIR,
            format!("{}-nonroot", layout::TOOLS_DIR),
        ),
    ] {
        // The emptyDir: root's, writable by anyone.
        let host_tools = root.host_path(&tools);
        std::fs::create_dir(&host_tools).expect("emptyDir");
        std::fs::set_permissions(&host_tools, std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        // The init container runs plain `cp` (found on PATH), as the image's user.
        let [program, flag, source, _] = layout::COPY_COMMAND;
        let source = source.replacen(layout::WRAPPER_SERVER_DIR, from, 1);
        let out = root.run(IMAGE_USER, program, &[flag, &source, &tools]);
        assert_eq!(out.status.code(), Some(0), "{from}: {}", stderr(&out));
        // Not root: the emptyDir's mode stays, with a warning (coreutils would fail).
        assert!(
            stderr(&out).contains(&format!(
                "cp: warning: cannot preserve permissions of '{tools}'"
            )),
            "{}",
            stderr(&out)
        );
        let copied = std::fs::symlink_metadata(host_tools.join(layout::WRAPPER_SERVER_NAME))
            .expect("copied wrapper-server");
        assert!(copied.is_file());
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&copied), 65532);
        let link = std::fs::read_link(host_tools.join(layout::HEALTH_PROBE_NAME)).expect("link");
        assert_eq!(link, PathBuf::from(layout::WRAPPER_SERVER_NAME));

        // The function container: the wrapper server from the volume, then its probe.
        let wrapper = format!("{tools}/{}", layout::WRAPPER_SERVER_NAME);
        let probe = format!("{tools}/{}", layout::HEALTH_PROBE_NAME);
        let functions = format!("{}/static-echo", layout::FUNCTIONS);
        let cmd = root.command(PORCH_V15_USER, &wrapper, &["--port", "0", "--", &functions]);
        let server = RunnerProcess::spawn(cmd);
        let addr = format!("localhost:{}", port_of(&server));
        let out = root.run(PORCH_V15_USER, &probe, &["-addr", &addr]);
        assert_eq!(out.status.code(), Some(0), "{probe}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "status: SERVING");
    }
}

#[test]
fn inspect_resolves_from_the_test_registry_with_the_ca_in_an_empty_root() {
    use crate::registry::{PASSWORD, USER};
    let pki = Pki::new();
    let registry = Registry::start(
        Some(&pki),
        Auth::Basic(vec![(USER.into(), PASSWORD.into())]),
    );
    let image = crate::registry::fn_image(&["/usr/local/bin/function"]);
    let reference = registry.push(
        &image,
        "team/set-namespace",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );

    let root = EmptyRoot::new();
    // The guide's two Secrets, where its Deployment mounts them.
    root.put(
        "/var/tmp/tls-secret/ca.crt",
        &std::fs::read(pki.ca_crt()).expect("CA"),
    );
    let creds = crate::registry::docker_config(&registry.host(), USER, PASSWORD);
    root.put(
        "/var/tmp/auth-secret/.dockerconfigjson",
        &std::fs::read(crate::registry::config_path(&creds)).expect("docker config"),
    );
    let out = root.run(
        IMAGE_USER,
        "/fn-runner",
        &[
            "inspect",
            "--enable-private-registry=true",
            "--registry-auth-secret-path=/var/tmp/auth-secret/.dockerconfigjson",
            "--enable-private-registry-tls=true",
            "--tls-secret-path=/var/tmp/tls-secret/",
            &reference,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The same command as the README swap guide's step 6 (tests/deploy/guide).
    println!("{}{}", stdout(&out), stderr(&out));
    let got: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert_eq!(got["image"], reference);
    assert_eq!(got["transport"], "https-custom-ca");
    assert_eq!(got["authenticated"], true);
    assert_eq!(
        got["entrypoint"],
        serde_json::json!(["/usr/local/bin/function"])
    );
    let raw = registry.skopeo_raw(&reference, Some((USER, PASSWORD)), Some(&pki));
    assert_eq!(
        got["digest"],
        fn_runner::registry::Digest::sha256(&raw).to_string()
    );
    crate::registry::assert_no_secret(&stderr(&out));
}
