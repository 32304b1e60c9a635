//! A test CA, a server certificate for 127.0.0.1/localhost and a client
//! certificate, made once per test process with the `openssl` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct Certs {
    pub dir: PathBuf,
    pub ca_crt: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate: CN `fake-admin`, O `system:masters`.
    pub client_crt: PathBuf,
    pub client_key: PathBuf,
}

/// The process-wide certificates (generated on first use).
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = crate::support::tempdir::scratch()
            .join(format!("fn-runner-fakekube-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cert dir");
        generate(&dir);
        Certs {
            ca_crt: dir.join("ca.crt"),
            server_crt: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_crt: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            dir,
        }
    })
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (install the openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn generate(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3",
        "-subj",
        "/CN=fake-kube-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
    for (name, subj, ext) in [
        (
            "server",
            "/CN=fake-kube-apiserver",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "/O=system:masters/CN=fake-admin",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext file");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        let extfile = format!("{name}.ext");
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", subj]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", &crt, "-days", "3", "-extfile", &extfile,
            ],
        );
    }
}

/// The rustls server config: our server certificate, HTTP/1.1 only, client
/// certificates optional (verified against the test CA when sent).
pub fn server_config() -> Arc<rustls::ServerConfig> {
    let c = certs();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.server_crt)
        .expect("server.crt")
        .collect::<Result<_, _>>()
        .expect("server.crt PEM");
    let key = PrivateKeyDer::from_pem_file(&c.server_key).expect("server.key");
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&c.ca_crt).expect("ca.crt") {
        roots.add(ca.expect("ca PEM")).expect("add CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .expect("client verifier");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server cert");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
