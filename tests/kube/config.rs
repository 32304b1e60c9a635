//! Configuration variants against the fake: kubeconfig with a token, a
//! client certificate, an exec plugin; in-cluster from a directory;
//! insecure-skip-tls-verify; the CA actually being checked.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use fn_runner::kube::Origin;
use fn_runner::kube::{Client, Config, Error};

use super::fast_retry;
use crate::support::fakekube::{certs::certs, FakeKube, SA_NAMESPACE};

const NS: &str = "default";

fn client_from(path: &Path) -> Client {
    let config = Config::from_kubeconfig(path).expect("kubeconfig");
    Client::with_options(config, fast_retry()).expect("client")
}

#[test]
fn kubeconfig_with_inline_token() {
    let fake = FakeKube::start();
    let c = client_from(&fake.kubeconfig_with_token());
    assert_eq!(c.default_namespace(), Some("default"));
    c.pods(NS).list("").expect("list with token");
}

#[test]
fn explicit_kubeconfig_wins_in_load() {
    let fake = FakeKube::start();
    let path = fake.kubeconfig_with_token();
    let config = Config::load(Some(&path)).expect("load");
    assert_eq!(config.origin, Origin::Kubeconfig(path));
    Client::new(config)
        .expect("client")
        .pods(NS)
        .list("")
        .expect("list");
}

#[test]
fn kubeconfig_with_client_certificate() {
    let fake = FakeKube::start();
    let c = certs();
    let kc = fake.kubeconfig_with_client_cert();
    client_from(&kc).pods(NS).list("").expect("mutual TLS");
    // And with the -data forms.
    use base64::Engine as _;
    let b64 = |p: &PathBuf| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).expect("read"))
    };
    let kc = fake.write_kubeconfig(
        "kubeconfig-cert-data",
        &format!(
            "client-certificate-data: {}\nclient-key-data: {}",
            b64(&c.client_crt),
            b64(&c.client_key)
        ),
    );
    client_from(&kc)
        .pods(NS)
        .list("")
        .expect("mutual TLS (data)");
    // Without any credential the fake says 401.
    let kc = fake.write_kubeconfig("kubeconfig-anon", "{}");
    let e = client_from(&kc).pods(NS).list("").expect_err("anonymous");
    assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
}

/// An exec plugin that prints the fake's current token and counts its runs.
fn exec_plugin(fake: &FakeKube) -> (PathBuf, PathBuf) {
    exec_plugin_expiring(fake, None)
}

fn exec_plugin_expiring(fake: &FakeKube, expires: Option<&str>) -> (PathBuf, PathBuf) {
    let expiry = expires
        .map(|t| format!(",\"expirationTimestamp\":\"{t}\""))
        .unwrap_or_default();
    let script = fake.dir().join("plugin.sh");
    let runs = fake.dir().join("plugin-runs");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {runs}\ncase \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) echo no exec info >&2; exit 1;; esac\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"{expiry}}}}}' \"$(cat {token})\"\n",
            runs = runs.display(),
            token = fake.token_path().display()
        ),
    )
    .expect("write plugin");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, runs)
}

/// A kubeconfig named `name` whose user runs `script` as a v1 exec plugin;
/// `extra` adds lines to the `exec:` block.
fn exec_kubeconfig(fake: &FakeKube, name: &str, script: &Path, extra: &str) -> PathBuf {
    fake.write_kubeconfig(
        name,
        &format!(
            "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: {}{extra}",
            script.display()
        ),
    )
}

fn runs(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn kubeconfig_with_exec_plugin_caches_and_refreshes_after_401() {
    let fake = FakeKube::start();
    let (script, runs_file) = exec_plugin(&fake);
    let kc = exec_kubeconfig(
        &fake,
        "kubeconfig-exec",
        &script,
        "\n  args: []\n  interactiveMode: Never",
    );
    let c = client_from(&kc);
    c.pods(NS).list("").expect("first call runs the plugin");
    c.pods(NS).list("").expect("second call uses the cache");
    assert_eq!(runs(&runs_file), 1);
    fake.rotate_token();
    c.pods(NS).list("").expect("401, plugin re-run, retried");
    assert_eq!(runs(&runs_file), 2);
    assert_eq!(fake.requests().iter().filter(|r| r.code == 401).count(), 1);
}

#[test]
fn failing_exec_plugin_is_a_config_error() {
    let fake = FakeKube::start();
    let kc = fake.write_kubeconfig(
        "kubeconfig-exec-bad",
        "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: /bin/false",
    );
    let e = client_from(&kc)
        .pods(NS)
        .list("")
        .expect_err("plugin fails");
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(e.to_string().contains("/bin/false"), "{e}");
}

#[test]
fn in_cluster_from_a_service_account_dir() {
    let fake = FakeKube::start();
    let port = fake.addr().port().to_string();
    let config =
        Config::in_cluster_at(&fake.service_account_dir(), "127.0.0.1", &port).expect("in-cluster");
    assert_eq!(config.origin, Origin::InCluster);
    let c = Client::with_options(config, fast_retry()).expect("client");
    assert_eq!(c.default_namespace(), Some(SA_NAMESPACE));
    c.pods("porch-fn-system").list("").expect("list");
    fake.rotate_token();
    c.pods("porch-fn-system")
        .list("")
        .expect("list after rotation");
}

#[test]
fn server_certificate_is_checked() {
    let fake = FakeKube::start();
    // No CA: the public roots do not know the test CA.
    let kc = fake.dir().join("kubeconfig-noca");
    std::fs::write(
        &kc,
        format!(
            "current-context: a\ncontexts: [{{name: a, context: {{cluster: c, user: u}}}}]\nclusters: [{{name: c, cluster: {{server: '{}'}}}}]\nusers: [{{name: u, user: {{token: {}}}}}]\n",
            fake.url(),
            fake.token()
        ),
    )
    .expect("write");
    let e = client_from(&kc).pods(NS).list("").expect_err("unknown CA");
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    // insecure-skip-tls-verify accepts it (development only).
    std::fs::write(
        &kc,
        format!(
            "current-context: a\ncontexts: [{{name: a, context: {{cluster: c, user: u}}}}]\nclusters: [{{name: c, cluster: {{server: '{}', insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: {}}}}}]\n",
            fake.url(),
            fake.token()
        ),
    )
    .expect("write");
    client_from(&kc).pods(NS).list("").expect("insecure");
}

#[test]
fn expired_exec_credential_runs_the_plugin_again() {
    let fake = FakeKube::start();
    let (script, runs_file) = exec_plugin_expiring(&fake, Some("2000-01-01T00:00:00Z"));
    let kc = exec_kubeconfig(&fake, "kubeconfig-exec-expired", &script, "");
    let c = client_from(&kc);
    c.pods(NS).list("").expect("first");
    c.pods(NS).list("").expect("second");
    assert_eq!(runs(&runs_file), 2, "an expired credential is not reused");
    let (script, runs_file) = exec_plugin_expiring(&fake, Some("2999-01-01T00:00:00+02:00"));
    let kc = exec_kubeconfig(&fake, "kubeconfig-exec-valid", &script, "");
    let before = runs(&runs_file);
    let c = client_from(&kc);
    c.pods(NS).list("").expect("first");
    c.pods(NS).list("").expect("second");
    assert_eq!(runs(&runs_file) - before, 1, "a valid credential is reused");
}
