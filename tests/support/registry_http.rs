//! The registry harness's own HTTP servers: [`MiniHttp`] (a tiny HTTP/1.1
//! server over TCP or rustls), the [`TokenServer`] for the registry's
//! `auth: token` mode (ES256 JWTs with an `x5c` header, signed with `ring`),
//! and [`FakeRegistry`] for answers no real registry gives.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

use super::registry::{run, Pki, TempDir};

/// One HTTP request as the mini server saw it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Query (or form body) parameters, percent-decoded.
    pub fn params(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let body = String::from_utf8_lossy(&self.body).into_owned();
        query
            .split('&')
            .chain(body.split('&'))
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A canned answer.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

type Handler = dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync;

/// A tiny HTTP/1.1 server (one connection at a time, `Connection: close`),
/// optionally over TLS, that answers with a closure.
pub struct MiniHttp {
    addr: std::net::SocketAddr,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MiniHttp {
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<Handler>) -> Self {
        Self::start_on("127.0.0.1:0", tls, handler)
    }

    /// Like [`start`](Self::start), on `addr` (`[::1]:0` for IPv6 loopback).
    pub fn start_on(
        addr: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Arc<Handler>,
    ) -> Self {
        let listener = TcpListener::bind(addr).expect("bind");
        let local = listener.local_addr().expect("addr");
        let port = local.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = conn else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                match &tls {
                    Some(config) => {
                        let Ok(server) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        let mut stream = rustls::StreamOwned::new(server, tcp);
                        serve_one(&mut stream, &*handler);
                        stream.conn.send_close_notify();
                        let _ = stream.flush();
                    }
                    None => {
                        let mut tcp = tcp;
                        serve_one(&mut tcp, &*handler);
                        let _ = tcp.shutdown(Shutdown::Write);
                    }
                }
            }
        });
        Self {
            addr: local,
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// `HOST:PORT` as a registry name (`127.0.0.1:5000`, `[::1]:5000`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for MiniHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one<S: Read + Write>(stream: &mut S, handler: &Handler) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            // A TLS ClientHello (record type 22) on a plain server: hang up
            // at once, as a real server's failed parse would, instead of
            // waiting for a request line that never comes.
            Ok(1) if head.is_empty() && byte[0] == 0x16 => return,
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1024 * 1024);
    let mut body = vec![0u8; len];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    let req = HttpRequest {
        method,
        target,
        headers,
        body,
    };
    let resp = handler(&req);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += "\r\n";
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(&resp.body);
    let _ = stream.flush();
}

/// A token server for the registry's `auth: token` mode: checks Basic
/// credentials (or an OAuth refresh token) and issues ES256 JWTs granting
/// the requested actions. Served over HTTPS with the test server certificate.
pub struct TokenServer {
    http: Option<MiniHttp>,
    signing_cert: PathBuf,
    requests: Arc<AtomicUsize>,
    _dir: TempDir,
}

impl TokenServer {
    pub const SERVICE: &'static str = "fn-runner-test-registry";
    pub const ISSUER: &'static str = "fn-runner-test-token-issuer";

    /// Starts the server; `users` are (name, password); `refresh_tokens`
    /// are accepted in the OAuth refresh-token grant.
    pub fn start(
        pki: &Pki,
        users: Vec<(String, String)>,
        refresh_tokens: Vec<String>,
    ) -> Arc<Self> {
        let dir = TempDir::new("token");
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("generate key");
        let key_pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let key_path = dir.path().join("signing.key");
        let cert_path = dir.path().join("signing.crt");
        std::fs::write(&key_path, key_pem).expect("write key");
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=fn-runner test token signer",
            ])
            .arg("-key")
            .arg(&key_path)
            .arg("-out")
            .arg(&cert_path)
            .stderr(Stdio::null()));
        let cert_pem = std::fs::read(&cert_path).expect("read cert");
        let cert_der =
            fn_runner::tls::certs_from_pem(&cert_pem, "signing cert").expect("cert")[0].to_vec();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .expect("key pair");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let x5c = base64::engine::general_purpose::STANDARD.encode(&cert_der);
        let handler = move |req: &HttpRequest| -> HttpResponse {
            counter.fetch_add(1, Ordering::SeqCst);
            let params = req.params();
            let param = |k: &str| {
                params
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let subject = if param("grant_type").as_deref() == Some("refresh_token") {
                match param("refresh_token") {
                    Some(t) if refresh_tokens.contains(&t) => Some("refresh-user".to_owned()),
                    _ => None,
                }
            } else {
                match req
                    .header("authorization")
                    .and_then(|a| a.strip_prefix("Basic "))
                {
                    Some(b64) => {
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .unwrap_or_default();
                        let decoded = String::from_utf8_lossy(&decoded).into_owned();
                        users
                            .iter()
                            .find(|(u, p)| format!("{u}:{p}") == decoded)
                            .map(|(u, _)| u.clone())
                    }
                    None => Some(String::new()), // anonymous: a token without access
                }
            };
            let Some(subject) = subject else {
                return HttpResponse {
                    status: 401,
                    headers: vec![],
                    body: br#"{"details":"invalid credentials"}"#.to_vec(),
                };
            };
            let access: Vec<serde_json::Value> = if subject.is_empty() {
                Vec::new()
            } else {
                params
                    .iter()
                    .filter(|(k, _)| k == "scope")
                    .filter_map(|(_, scope)| {
                        let mut parts = scope.rsplitn(2, ':');
                        let actions = parts.next()?;
                        let (kind, name) = parts.next()?.split_once(':')?;
                        Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                    })
                    .collect()
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
            let claims = serde_json::json!({
                "iss": TokenServer::ISSUER, "sub": subject, "aud": TokenServer::SERVICE,
                "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand_u64()),
                "access": access,
            });
            let signing_input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let sig = key
                .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
                .expect("sign");
            let jwt = format!("{signing_input}.{}", b64(sig.as_ref()));
            HttpResponse {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300})
                    .to_string()
                    .into_bytes(),
            }
        };
        let tls = fn_runner::tls::server_config(
            &std::fs::read(pki.server_crt()).expect("server crt"),
            &std::fs::read(pki.server_key()).expect("server key"),
        )
        .expect("server config");
        let http = MiniHttp::start(Some(tls), Arc::new(handler));
        Arc::new(Self {
            http: Some(http),
            signing_cert: cert_path,
            requests,
            _dir: dir,
        })
    }

    pub fn realm(&self) -> String {
        format!(
            "https://127.0.0.1:{}/token",
            self.http.as_ref().map_or(0, MiniHttp::port)
        )
    }

    /// The certificate of the signing key (the registry's `rootcertbundle`).
    pub fn signing_cert(&self) -> &std::path::Path {
        &self.signing_cert
    }

    /// How many token requests were served.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u64::from_le_bytes(b)
}

/// A scripted registry over plain HTTP: `/v2/` answers 200, manifests and
/// blobs come from the map.
pub struct FakeRegistry {
    http: MiniHttp,
}

impl FakeRegistry {
    /// `routes`: (path, content type, body).
    pub fn start(routes: Vec<(String, String, Vec<u8>)>) -> Self {
        let handler = move |req: &HttpRequest| -> HttpResponse {
            if req.target == "/v2/" {
                return HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: b"{}".to_vec(),
                };
            }
            match routes.iter().find(|(p, _, _)| *p == req.target) {
                Some((_, ctype, body)) => HttpResponse {
                    status: 200,
                    headers: vec![("Content-Type".into(), ctype.clone())],
                    body: body.clone(),
                },
                None => HttpResponse {
                    status: 404,
                    headers: vec![],
                    body:
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                            .to_vec(),
                },
            }
        };
        Self {
            http: MiniHttp::start(None, Arc::new(handler)),
        }
    }

    /// A fake registry over HTTPS with the test server certificate.
    pub fn with_tls_handler(
        pki: &Pki,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        Self::with_cert(&pki.server_crt(), &pki.server_key(), handler)
    }

    /// A fake server over HTTPS with the certificate `crt` and its key
    /// (`Pki::other_server_crt` for one the test CA did not sign).
    pub fn with_cert(
        crt: &std::path::Path,
        key: &std::path::Path,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        let tls = fn_runner::tls::server_config(
            &std::fs::read(crt).expect("server crt"),
            &std::fs::read(key).expect("server key"),
        )
        .expect("server config");
        Self {
            http: MiniHttp::start(Some(tls), Arc::new(handler)),
        }
    }

    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// A fake registry answering with `handler`.
    pub fn with_handler(
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        Self {
            http: MiniHttp::start(None, Arc::new(handler)),
        }
    }

    /// A fake registry on IPv6 loopback (`[::1]`).
    pub fn with_handler_on_ipv6(
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        Self {
            http: MiniHttp::start_on("[::1]:0", None, Arc::new(handler)),
        }
    }

    pub fn host(&self) -> String {
        self.http.host()
    }
}
