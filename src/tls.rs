//! The only place that builds TLS configurations (style.md §1).
//!
//! Callers describe what they trust with our own types, never rustls' or
//! ureq's:
//!
//! - [`Roots`]: where server certificates are anchored: a custom CA bundle
//!   (registry `ca.crt`, kubeconfig `certificate-authority-data`), the public
//!   web roots compiled in from `webpki-roots` (works in a distroless image
//!   with no CA files), or no verification at all (kubeconfig
//!   `insecure-skip-tls-verify`; the name says it is dangerous).
//! - [`Identity`]: an optional client certificate chain and private key
//!   (kubeconfig `client-certificate-data` / `client-key-data`).
//!
//! From those, [`ureq_config`] makes the `ureq::tls::TlsConfig` that the
//! registry and Kubernetes clients hand to their agents, [`client_config`]
//! makes a rustls `ClientConfig`, and [`server_config`] a rustls
//! `ServerConfig` (test servers). PEM goes through rustls-pki-types' reader;
//! every parse has a size bound ([`MAX_PEM_BYTES`]).
//!
//! Versions: rustls' defaults, TLS 1.2 and 1.3 (compat §5.4 "TLS 1.2+").

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Largest PEM input we parse (a CA bundle, a cert chain, a key). Our own
/// choice: the Mozilla bundle is ~220 KiB; 1 MiB leaves room without
/// letting a mounted file steer our memory.
pub(crate) const MAX_PEM_BYTES: usize = 1024 * 1024;

/// Where server certificates are anchored.
#[derive(Clone)]
pub enum Roots {
    /// Trust only these CA certificates (DER), nothing else.
    CustomCa(Vec<CertificateDer<'static>>),
    /// Trust the well-known public roots (Mozilla's, via `webpki-roots`).
    PublicRoots,
    /// Accept any server certificate. Only for an explicit user request
    /// such as kubeconfig `insecure-skip-tls-verify: true`.
    DangerInsecureSkipVerify,
}

impl fmt::Debug for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::CustomCa(certs) => write!(f, "CustomCa({} certificates)", certs.len()),
            Roots::PublicRoots => f.write_str("PublicRoots"),
            Roots::DangerInsecureSkipVerify => f.write_str("DangerInsecureSkipVerify"),
        }
    }
}

/// A client certificate chain and its private key (mutual TLS).
#[derive(Clone)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl Identity {
    /// Builds an identity from PEM bytes of the certificate chain (leaf first)
    /// and of the private key (PKCS#1, SEC1 or PKCS#8).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            chain: certs_from_pem(chain_pem, "client certificate")?,
            key: Arc::new(private_key_from_pem(key_pem, "client key")?),
        })
    }

    /// Builds an identity from already parsed DER values.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            chain,
            key: Arc::new(key),
        }
    }
}

/// Never prints the key.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Identity {{ chain: {} certificates, key: <redacted> }}",
            self.chain.len()
        )
    }
}

/// Everything a TLS client needs: what it trusts and who it is.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub roots: Roots,
    pub identity: Option<Identity>,
}

impl ClientTls {
    /// Trust `roots`, no client certificate.
    pub fn with_roots(roots: Roots) -> Self {
        Self {
            roots,
            identity: None,
        }
    }
}

/// What went wrong while reading PEM or building a config.
#[derive(Debug)]
pub enum Error {
    /// The input is larger than [`MAX_PEM_BYTES`].
    TooLarge { what: &'static str, bytes: usize },
    /// The PEM is malformed.
    Pem {
        what: &'static str,
        cause: rustls_pki_types::pem::Error,
    },
    /// No `CERTIFICATE` block in the input.
    NoCertificate { what: &'static str },
    /// No private key block in the input.
    NoPrivateKey { what: &'static str },
    /// rustls refused the configuration (for example a key that does not
    /// match its certificate).
    Config(rustls::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { what, bytes } => write!(
                f,
                "{what}: {bytes} bytes of PEM > limit {MAX_PEM_BYTES} bytes"
            ),
            Error::Pem { what, .. } => write!(f, "{what}: malformed PEM"),
            Error::NoCertificate { what } => {
                write!(
                    f,
                    "{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"
                )
            }
            Error::NoPrivateKey { what } => write!(f, "{what}: no PEM private key found"),
            Error::Config(_) => f.write_str("invalid TLS configuration"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Pem { cause, .. } => Some(cause),
            Error::Config(cause) => Some(cause),
            _ => None,
        }
    }
}

/// Every `CERTIFICATE` block of `pem`, in order. `what` names the input in
/// errors ("registry CA /var/tmp/tls-secret/ca.crt"). Other PEM sections
/// are skipped; none at all is [`Error::NoCertificate`].
pub fn certs_from_pem(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    check_size(pem, what)?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        certs.push(cert.map_err(|cause| Error::Pem { what, cause })?);
    }
    if certs.is_empty() {
        return Err(Error::NoCertificate { what });
    }
    Ok(certs)
}

/// The first private key (PKCS#1, SEC1 or PKCS#8) of `pem`.
pub(crate) fn private_key_from_pem(
    pem: &[u8],
    what: &'static str,
) -> Result<PrivateKeyDer<'static>, Error> {
    check_size(pem, what)?;
    PrivateKeyDer::from_pem_slice(pem).map_err(|cause| match cause {
        rustls_pki_types::pem::Error::NoItemsFound => Error::NoPrivateKey { what },
        cause => Error::Pem { what, cause },
    })
}

fn check_size(pem: &[u8], what: &'static str) -> Result<(), Error> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(Error::TooLarge {
            what,
            bytes: pem.len(),
        });
    }
    Ok(())
}

/// The `ureq` TLS configuration for `tls` (rustls provider, ring).
///
/// Fails only when the identity's key cannot be handed to ureq.
pub fn ureq_config(tls: &ClientTls) -> Result<ureq::tls::TlsConfig, Error> {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
    let mut builder = TlsConfig::builder().provider(TlsProvider::Rustls);
    builder = match &tls.roots {
        Roots::CustomCa(certs) => builder.root_certs(RootCerts::new_with_certs(
            &certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect::<Vec<_>>(),
        )),
        Roots::PublicRoots => builder.root_certs(RootCerts::WebPki),
        Roots::DangerInsecureSkipVerify => builder.disable_verification(true),
    };
    if let Some(identity) = &tls.identity {
        // ureq 3.5 does not export its `KeyKind`, so the key goes over as
        // PEM, re-encoded from the DER we hold.
        let label = match identity.key.as_ref() {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        let pem = pem_encode(label, identity.key.secret_der());
        let key = PrivateKey::from_pem(pem.as_bytes())
            .map_err(|_| Error::NoPrivateKey { what: "client key" })?;
        let chain: Vec<_> = identity
            .chain
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// PEM text of one DER object (RFC 7468: base64 in 64-column lines).
fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A rustls client configuration for `tls` (for code that drives rustls
/// itself rather than through ureq).
pub fn client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(Error::Config)?;
    let builder = match &tls.roots {
        Roots::CustomCa(certs) => {
            let mut store = rustls::RootCertStore::empty();
            for cert in certs {
                store.add(cert.clone()).map_err(Error::Config)?;
            }
            builder.with_root_certificates(store)
        }
        Roots::PublicRoots => builder.with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Roots::DangerInsecureSkipVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(DangerAcceptAnyServerCert(provider))),
    };
    let config = match &tls.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(Error::Config)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A rustls server configuration presenting `chain` (leaf first) with
/// `key`, no client authentication. Used by test servers.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, Error> {
    let chain = certs_from_pem(chain_pem, "server certificate")?;
    let key = private_key_from_pem(key_pem, "server key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(Error::Config)?;
    Ok(Arc::new(config))
}

/// Accepts every server certificate but still checks handshake signatures,
/// so the peer must hold the key of the certificate it presents.
#[derive(Debug)]
struct DangerAcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for DangerAcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed P-256 certificate and its key (made with openssl for this test).
    const CERT: &str = include_str!("../testdata/tls/selfsigned.crt");
    const KEY: &str = include_str!("../testdata/tls/selfsigned.key");

    #[test]
    fn parses_certificates_and_key() {
        let certs = certs_from_pem(CERT.as_bytes(), "test").expect("cert");
        assert_eq!(certs.len(), 1);
        private_key_from_pem(KEY.as_bytes(), "test").expect("key");
    }

    #[test]
    fn rejects_input_without_certificate() {
        let err = certs_from_pem(b"hello\n", "ca.crt").unwrap_err();
        assert!(matches!(err, Error::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = certs_from_pem(KEY.as_bytes(), "ca.crt").unwrap_err();
        assert!(matches!(err, Error::NoCertificate { .. }), "{err:?}");
    }

    #[test]
    fn rejects_input_without_key() {
        let err = private_key_from_pem(CERT.as_bytes(), "key").unwrap_err();
        assert!(matches!(err, Error::NoPrivateKey { .. }), "{err:?}");
    }

    #[test]
    fn rejects_oversized_pem() {
        let big = vec![b'a'; MAX_PEM_BYTES + 1];
        assert!(matches!(
            certs_from_pem(&big, "x"),
            Err(Error::TooLarge { .. })
        ));
        assert!(certs_from_pem(&big[..MAX_PEM_BYTES], "x").is_err());
    }

    #[test]
    fn builds_every_kind_of_config() {
        let certs = certs_from_pem(CERT.as_bytes(), "test").expect("cert");
        let identity = Identity::from_pem(CERT.as_bytes(), KEY.as_bytes()).expect("identity");
        assert!(!format!("{identity:?}").contains("PRIVATE"));
        for roots in [
            Roots::CustomCa(certs),
            Roots::PublicRoots,
            Roots::DangerInsecureSkipVerify,
        ] {
            let tls = ClientTls {
                roots,
                identity: Some(identity.clone()),
            };
            client_config(&tls).expect("client config");
            ureq_config(&tls).expect("ureq config");
        }
        server_config(CERT.as_bytes(), KEY.as_bytes()).expect("server config");
    }
}
