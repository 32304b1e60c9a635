//! `fn-runner inspect` as a process: flags, the one JSON object on stdout,
//! exit codes, errors and warnings on stderr.

use std::process::Command;

use fn_runner::registry::Config;

use crate::support::process::fn_runner_bin;

/// The flags that make `inspect` use `config`.
pub fn flags(config: &Config) -> Vec<String> {
    let mut flags = vec![
        format!("--enable-private-registry={}", config.auth_file.is_some()),
        format!("--enable-private-registry-tls={}", config.ca_dir.is_some()),
        format!("--default-image-prefix={}", config.default_image_prefix),
    ];
    if let Some(auth_file) = &config.auth_file {
        flags.push(format!(
            "--registry-auth-secret-path={}",
            auth_file.display()
        ));
    }
    if let Some(ca_dir) = &config.ca_dir {
        flags.push("--tls-secret-path".to_owned());
        flags.push(ca_dir.display().to_string());
    }
    flags
}

/// Output of one `fn-runner inspect` run.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `fn-runner inspect FLAGS IMAGE`.
pub fn exec(flags: &[String], image: &str) -> Outcome {
    let out = Command::new(fn_runner_bin())
        .arg("inspect")
        .args(flags)
        .arg(image)
        .output()
        .expect("run fn-runner inspect");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs inspect: the one JSON object on exit 0, stderr on exit 1.
pub fn run(flags: &[String], image: &str) -> Result<serde_json::Value, String> {
    let out = exec(flags, image);
    match out.code {
        Some(0) => {
            let mut lines = out.stdout.lines();
            let line = lines.next().unwrap_or_default();
            assert!(
                lines.next().is_none(),
                "more than one line on stdout: {}",
                out.stdout
            );
            let v: serde_json::Value =
                serde_json::from_str(line).expect("one JSON object on stdout");
            let keys: Vec<&str> = v
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            for key in [
                "image",
                "registry",
                "repository",
                "digest",
                "entrypoint",
                "transport",
                "authenticated",
            ] {
                assert!(keys.contains(&key), "{key} missing in {line}");
            }
            assert_eq!(v["image"], image);
            Ok(v)
        }
        Some(1) => {
            assert!(out.stdout.is_empty(), "stdout on failure: {}", out.stdout);
            Err(out.stderr)
        }
        other => panic!("inspect exited {other:?}: {}{}", out.stdout, out.stderr),
    }
}

mod cases {
    use super::*;
    use crate::registry::{config_path, docker_config, fn_image, PASSWORD, USER};
    use crate::support::registry::{Auth, Pki, Registry, TempDir};

    #[test]
    fn plain_http_credentials_warn_once_and_never_show_the_secret() {
        let registry = Registry::start(None, Auth::Basic(vec![(USER.into(), PASSWORD.into())]));
        let image = registry.push(
            &fn_image(&["/fn"]),
            "warn/fn",
            "v1",
            Some((USER, PASSWORD)),
            None,
        );
        let creds = docker_config(&registry.host(), USER, PASSWORD);
        let out = exec(
            &[
                "--enable-private-registry".to_owned(),
                format!(
                    "--registry-auth-secret-path={}",
                    config_path(&creds).display()
                ),
            ],
            &image,
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert_eq!(
            out.stderr.matches("over plain HTTP").count(),
            1,
            "one warning per registry: {}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with('W'),
            "klog-style warning: {}",
            out.stderr
        );
        crate::registry::assert_no_secret(&out.stderr);
        crate::registry::assert_no_secret(&out.stdout);
    }

    #[test]
    fn accepts_every_alias_of_the_registry_flags() {
        let pki = Pki::new();
        let registry = Registry::start(
            Some(&pki),
            Auth::Basic(vec![(USER.into(), PASSWORD.into())]),
        );
        let image = registry.push(
            &fn_image(&["/alias"]),
            "alias/fn",
            "v1",
            Some((USER, PASSWORD)),
            Some(&pki),
        );
        let creds = docker_config(&registry.host(), USER, PASSWORD);
        let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
        let secret = config_path(&creds).display().to_string();
        let dir = tls.path().display().to_string();
        for (private, tls_flag) in [
            (
                "--enable-private-registry=true",
                "--enable-private-registry-tls=true",
            ),
            (
                "-enable-private-registries",
                "--enable-private-registries-tls",
            ),
            ("--enable-private-registries=true", "-enable-tls-registry"),
        ] {
            let flags = [
                private.to_owned(),
                tls_flag.to_owned(),
                "-registry-auth-secret-path".to_owned(),
                secret.clone(),
                format!("--tls-secret-path={dir}"),
                "--registry-auth-secret-name=auth-secret".to_owned(),
            ];
            let got = run(&flags, &image).expect("inspect");
            assert_eq!(got["transport"], "https-custom-ca", "{private} {tls_flag}");
            assert_eq!(got["authenticated"], true, "{private} {tls_flag}");
        }
    }

    #[test]
    fn missing_docker_config_says_which_file_and_flag() {
        let dir = TempDir::new("no-secret");
        let missing = dir.path().join(".dockerconfigjson");
        let out = exec(
            &[
                "--enable-private-registry".to_owned(),
                format!("--registry-auth-secret-path={}", missing.display()),
            ],
            "127.0.0.1:1/team/fn:v1",
        );
        assert_eq!(out.code, Some(1));
        assert!(
            out.stderr.contains(&missing.display().to_string()),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("--registry-auth-secret-path"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn invalid_reference_is_exit_1_with_the_grammar_error() {
        let out = exec(&[], "Upper/Case:tag");
        assert_eq!(out.code, Some(1));
        assert!(out.stderr.contains("must be lowercase"), "{}", out.stderr);
    }
}
