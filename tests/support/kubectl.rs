//! The real `kubectl` against the fake API server: one kubeconfig with the
//! fake's token, HOME in the fake's scratch directory (so no user config
//! or cache is read), a request timeout, and helpers that fail with the
//! fake's request log.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::fakekube::FakeKube;

/// `kubectl` bound to one fake API server.
pub struct Kubectl<'a> {
    fake: &'a FakeKube,
    kubeconfig: PathBuf,
}

impl<'a> Kubectl<'a> {
    /// Fails (never skips) when kubectl is missing.
    pub fn new(fake: &'a FakeKube) -> Self {
        let found = Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "kubectl not found: run the tests through tests/run.sh (installs kubernetes-client)"
        );
        Kubectl {
            fake,
            kubeconfig: fake.kubeconfig_with_token(),
        }
    }

    /// `kubectl --kubeconfig ... ARGS`, not started, without a request
    /// timeout (a watch runs until it is stopped).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.fake.dir());
        cmd
    }

    /// Runs kubectl (each request bounded to 20 s) with `stdin` (or none)
    /// and returns what it did.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(&[&["--request-timeout=20s"], args].concat())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        if let Some(text) = stdin {
            use std::io::Write as _;
            let mut s = child.stdin.take().expect("stdin");
            s.write_all(text.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\nrequests: {:#?}",
            String::from_utf8_lossy(&out.stderr),
            self.fake.requests()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
