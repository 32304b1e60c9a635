//! The registry harness: Debian's `docker-registry` (the CNCF distribution
//! registry) on loopback, with
//! - a test PKI made with `openssl` (a CA, a server certificate for
//!   127.0.0.1/localhost signed by it, and an unrelated second CA);
//! - htpasswd users (`htpasswd -Bbn`, bcrypt), or token auth with
//!   [`TokenServer`], a small HTTPS token server here that issues ES256 JWTs
//!   (signed with `ring`, `x5c` header) as the registry's `auth: token` wants;
//! - images pushed with `skopeo copy` from OCI layouts written by hand
//!   ([`OciImage`]), and compared with `skopeo inspect`;
//! - [`FakeRegistry`]: a scripted HTTP server for answers no real registry
//!   gives (a manifest whose bytes do not match the digest asked for).
//!
//! Everything started here stops on `Drop`. Missing tools make tests fail,
//! never skip. The HTTP servers of the harness are in `registry_http.rs`.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use super::registry_http::{FakeRegistry, HttpRequest, HttpResponse, TokenServer};

/// How long we wait for a started peer to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

pub use super::tempdir::TempDir;

/// Runs a command to completion; panics (naming it) when it fails.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (is it installed? tests/run.sh installs it): {e}")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A test CA, a server certificate it signed (127.0.0.1 and localhost),
/// and an unrelated CA with a server certificate of its own.
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = TempDir::new("pki");
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            run(Command::new("openssl")
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "2", "-subj", &format!("/CN=fn-runner test {ca}")])
                .arg("-keyout")
                .arg(d.join(format!("{ca}.key")))
                .arg("-out")
                .arg(d.join(format!("{ca}.crt")))
                .stderr(Stdio::null()));
        }
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext");
        // server.* is signed by ca, other-server.* by other-ca.
        for (server, ca) in [("server", "ca"), ("other-server", "other-ca")] {
            run(Command::new("openssl")
                .arg("req")
                .args(ec)
                .args(["-subj", "/CN=127.0.0.1"])
                .arg("-keyout")
                .arg(d.join(format!("{server}.key")))
                .arg("-out")
                .arg(d.join(format!("{server}.csr")))
                .stderr(Stdio::null()));
            run(Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(d.join(format!("{server}.csr")))
                .arg("-CA")
                .arg(d.join(format!("{ca}.crt")))
                .arg("-CAkey")
                .arg(d.join(format!("{ca}.key")))
                .arg("-extfile")
                .arg(d.join("ext.cnf"))
                .arg("-out")
                .arg(d.join(format!("{server}.crt")))
                .stderr(Stdio::null()));
        }
        Self { dir }
    }

    pub fn ca_crt(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
    pub fn other_ca_crt(&self) -> PathBuf {
        self.dir.path().join("other-ca.crt")
    }
    pub fn server_crt(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
    /// A server certificate (127.0.0.1, localhost) signed by the other CA.
    pub fn other_server_crt(&self) -> PathBuf {
        self.dir.path().join("other-server.crt")
    }
    pub fn other_server_key(&self) -> PathBuf {
        self.dir.path().join("other-server.key")
    }

    /// A directory holding only the CA, under `file_name` (`ca.crt`,
    /// `ca.pem`, or a wrong name), as a mounted TLS Secret would.
    pub fn tls_secret_dir(&self, ca: &Path, file_name: &str) -> TempDir {
        let dir = TempDir::new("tls-secret");
        std::fs::copy(ca, dir.path().join(file_name)).expect("copy CA");
        dir
    }
}

/// How the registry authenticates.
pub enum Auth {
    Anonymous,
    /// htpasswd users (bcrypt).
    Basic(Vec<(String, String)>),
    /// `auth: token` against this token server.
    Token(Arc<TokenServer>),
}

/// A running `docker-registry serve`.
pub struct Registry {
    child: Child,
    port: u16,
    tls: bool,
    /// Keeps the token server (if any) alive as long as the registry.
    _auth: Auth,
    _dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until `port` accepts; `Err` with the registry's stderr when it exits first.
fn wait_for_port(
    port: u16,
    child: &mut Child,
    drain: &mut Option<std::thread::JoinHandle<()>>,
    stderr: &Mutex<Vec<String>>,
) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // The pipe closed with the process: the drain thread ends.
            if let Some(t) = drain.take() {
                let _ = t.join();
            }
            let lines = stderr.lock().map(|l| l.join("\n")).unwrap_or_default();
            return Err(format!("docker-registry exited ({status}): {lines}"));
        }
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {port} in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Registry {
    /// Starts a registry on a free loopback port; HTTPS with the test
    /// server certificate when `tls` is given.
    pub fn start(tls: Option<&Pki>, auth: Auth) -> Self {
        let dir = TempDir::new("registry");
        let d = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:PORT\n  secret: fn-runner-test-secret\n",
            d.join("data").display()
        );
        if let Some(pki) = tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                pki.server_crt().display(),
                pki.server_key().display()
            );
        }
        match &auth {
            Auth::Anonymous => {}
            Auth::Basic(users) => {
                let mut file = Vec::new();
                for (user, pass) in users {
                    file.extend(run(Command::new("htpasswd").args(["-Bbn", user, pass])));
                }
                std::fs::write(d.join("htpasswd"), file).expect("write htpasswd");
                config += &format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    d.join("htpasswd").display()
                );
            }
            Auth::Token(server) => {
                config += &format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm(),
                    TokenServer::SERVICE,
                    TokenServer::ISSUER,
                    server.signing_cert().display()
                );
            }
        }
        // The free port may be taken between our probe and the registry's
        // bind: try a few ports.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            std::fs::write(
                d.join("config.yml"),
                config.replace("127.0.0.1:PORT", &format!("127.0.0.1:{port}")),
            )
            .expect("write config");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(d.join("config.yml"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start docker-registry (tests/run.sh installs it)");
            // Drain stderr so the registry never blocks on a full pipe; keep
            // the first lines for a start-up failure message.
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&lines);
            let stderr = child.stderr.take();
            let mut drain = Some(std::thread::spawn(move || {
                if let Some(s) = stderr {
                    for line in BufReader::new(s).lines().map_while(Result::ok) {
                        if let Ok(mut l) = sink.lock() {
                            if l.len() < 50 {
                                l.push(line);
                            }
                        }
                    }
                }
            }));
            match wait_for_port(port, &mut child, &mut drain, &lines) {
                Ok(()) => {
                    return Self {
                        child,
                        port,
                        tls: tls.is_some(),
                        _auth: auth,
                        _dir: dir,
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        panic!("docker-registry did not start: {}", failures.join("\n"));
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes `image` as `repo:tag` with skopeo; returns the image reference.
    pub fn push(
        &self,
        image: &OciImage,
        repo: &str,
        tag: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
    ) -> String {
        self.push_as(image, repo, tag, creds, pki, None)
    }

    /// Like [`push`](Self::push), converting to `format` (`v2s2`, `oci`).
    pub fn push_as(
        &self,
        image: &OciImage,
        repo: &str,
        tag: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
        format: Option<&str>,
    ) -> String {
        let reference = format!("{}/{repo}:{tag}", self.host());
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--retry-times", "0"]);
        if image.is_index {
            cmd.arg("--all");
        }
        if let Some(format) = format {
            cmd.args(["--format", format]);
        }
        if let Some((u, p)) = creds {
            cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        let _certs = self.skopeo_tls_args(&mut cmd, "dest-", pki);
        cmd.arg(format!("oci:{}:latest", image.dir.path().display()))
            .arg(format!("docker://{reference}"));
        run(&mut cmd);
        reference
    }

    fn skopeo_tls_args(&self, cmd: &mut Command, side: &str, pki: Option<&Pki>) -> Option<TempDir> {
        match (self.tls, pki) {
            (true, Some(pki)) => {
                let certs = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
                cmd.arg(format!("--{side}cert-dir")).arg(certs.path());
                Some(certs)
            }
            _ => {
                cmd.arg(format!("--{side}tls-verify=false"));
                None
            }
        }
    }

    /// `skopeo inspect --raw` of a reference: the top manifest bytes.
    pub fn skopeo_raw(
        &self,
        reference: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
    ) -> Vec<u8> {
        self.skopeo_inspect(reference, creds, pki, "--raw")
    }

    /// `skopeo inspect --config` of a reference: the image config JSON
    /// (for this machine's platform).
    pub fn skopeo_config(
        &self,
        reference: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
    ) -> serde_json::Value {
        let bytes = self.skopeo_inspect(reference, creds, pki, "--config");
        serde_json::from_slice(&bytes).expect("skopeo config JSON")
    }

    fn skopeo_inspect(
        &self,
        reference: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
        what: &str,
    ) -> Vec<u8> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "inspect", "--retry-times", "0", what]);
        if let Some((u, p)) = creds {
            cmd.arg("--creds").arg(format!("{u}:{p}"));
        }
        let _certs = self.skopeo_tls_args(&mut cmd, "", pki);
        cmd.arg(format!("docker://{reference}"));
        run(&mut cmd)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An image in an OCI layout directory, written by hand: one empty layer,
/// a config with the given Entrypoint/Cmd; or an index of such images.
pub struct OciImage {
    dir: TempDir,
    is_index: bool,
}

/// What one image (or one child of an index) holds.
pub struct ImageSpec<'a> {
    pub architecture: &'a str,
    pub variant: Option<&'a str>,
    pub entrypoint: Option<&'a [&'a str]>,
    pub cmd: Option<&'a [&'a str]>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl OciImage {
    /// One image (OCI manifest).
    pub fn single(spec: &ImageSpec<'_>) -> Self {
        let dir = TempDir::new("oci");
        let desc = write_image(dir.path(), spec);
        write_layout(dir.path(), &desc);
        Self {
            dir,
            is_index: false,
        }
    }

    /// An OCI index over `specs`.
    pub fn index(specs: &[ImageSpec<'_>]) -> Self {
        let dir = TempDir::new("oci");
        let manifests: Vec<serde_json::Value> = specs
            .iter()
            .map(|spec| {
                let mut desc = write_image(dir.path(), spec);
                let mut platform =
                    serde_json::json!({"os": "linux", "architecture": spec.architecture});
                if let Some(v) = spec.variant {
                    platform["variant"] = v.into();
                }
                desc["platform"] = platform;
                desc
            })
            .collect();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))
        .expect("index json");
        let desc = write_blob(
            dir.path(),
            "application/vnd.oci.image.index.v1+json",
            &index,
        );
        write_layout(dir.path(), &desc);
        Self {
            dir,
            is_index: true,
        }
    }
}

fn write_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let hex = sha256_hex(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs dir");
    std::fs::write(blobs.join(&hex), bytes).expect("write blob");
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

fn write_image(dir: &Path, spec: &ImageSpec<'_>) -> serde_json::Value {
    // A valid, empty tar archive (two zero blocks), different per image so
    // children do not share blobs by accident of content.
    let layer = vec![0u8; 1024];
    let layer_desc = write_blob(dir, "application/vnd.oci.image.layer.v1.tar", &layer);
    let mut config = serde_json::json!({});
    if let Some(e) = spec.entrypoint {
        config["Entrypoint"] = serde_json::json!(e);
    }
    if let Some(c) = spec.cmd {
        config["Cmd"] = serde_json::json!(c);
    }
    let mut image_config = serde_json::json!({
        "architecture": spec.architecture,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
    });
    if let Some(v) = spec.variant {
        image_config["variant"] = v.into();
    }
    let config_bytes = serde_json::to_vec(&image_config).expect("config json");
    let config_desc = write_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        &config_bytes,
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }))
    .expect("manifest json");
    write_blob(dir, "application/vnd.oci.image.manifest.v1+json", &manifest)
}

fn write_layout(dir: &Path, top: &serde_json::Value) {
    let mut top = top.clone();
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]}))
            .expect("json"),
    )
    .expect("index.json");
}
