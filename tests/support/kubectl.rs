//! The real `kubectl` against the fake API server: one kubeconfig with the
//! fake's token (the runner's service account, which the fake's Role
//! checks) or, for [`Kubectl::admin`], its client certificate (the cluster
//! admin, never checked), HOME in the fake's scratch directory (so no user
//! config or cache is read), a request timeout, and helpers that fail with
//! the fake's request log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::fakekube::FakeKube;
use super::process::output_with_stdin;

/// `kubectl` bound to one fake API server.
pub struct Kubectl<'a> {
    fake: &'a FakeKube,
    kubeconfig: PathBuf,
}

impl<'a> Kubectl<'a> {
    /// kubectl as the service account of the fake's token. Fails (never
    /// skips) when kubectl is missing.
    pub fn new(fake: &'a FakeKube) -> Self {
        Kubectl::with_kubeconfig(fake, fake.kubeconfig_with_token())
    }

    /// kubectl as the cluster admin (the client certificate,
    /// `O=system:masters`), as a user applying `deploy/` is.
    pub fn admin(fake: &'a FakeKube) -> Self {
        Kubectl::with_kubeconfig(fake, fake.kubeconfig_with_client_cert())
    }

    fn with_kubeconfig(fake: &'a FakeKube, kubeconfig: PathBuf) -> Self {
        let found = Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "kubectl not found: run the tests through tests/run.sh (installs kubernetes-client)"
        );
        Kubectl { fake, kubeconfig }
    }

    /// The kubeconfig it uses (for `KUBECONFIG` of a shell that runs kubectl).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
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
        output_with_stdin(
            &mut self.command(&[&["--request-timeout=20s"], args].concat()),
            stdin.map(str::as_bytes),
        )
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
