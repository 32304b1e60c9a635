//! Other hosts with `--enable-private-registry-tls`: a blob redirect (or
//! a token realm) to another host climbs that host's own ladder (custom CA
//! -> public roots -> plain HTTP) instead of inheriting the registry's
//! custom-CA rung, and a redirect never carries the registry's
//! `Authorization` header there. A redirect on the registry's own origin
//! keeps its rung and its credentials.
//!
//! The public-roots rung cannot be made to succeed in a test (no test
//! server holds a publicly trusted certificate); what is proved here is
//! that the target's ladder runs: a target that fails the custom CA but
//! answers on a lower rung resolves, a target that fails every rung gets
//! an error listing each one.

use std::sync::{Arc, Mutex};

use super::{answer, assert_no_secret, config_path, docker_config, resolve, settings, sha256};
use super::{strings, PASSWORD, USER};
use crate::support::registry::{FakeRegistry, HttpRequest, Pki};

/// What object storage saw: the `Authorization` header of each request.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// A storage server answering every GET with `body`, recording headers.
fn storage(
    body: Vec<u8>,
    seen: &Seen,
    start: impl FnOnce(Box<dyn Fn(&HttpRequest) -> super::HttpResponse + Send + Sync>) -> FakeRegistry,
) -> FakeRegistry {
    let seen = Arc::clone(seen);
    start(Box::new(move |req: &HttpRequest| {
        seen.lock()
            .expect("lock")
            .push(req.header("authorization").map(str::to_owned));
        answer(200, vec![], &body)
    }))
}

#[test]
fn blob_redirects_to_other_hosts_climb_their_own_ladder_without_credentials() {
    let pki = Pki::new();
    let config =
        br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/from-storage"]}}"#
            .to_vec();
    let config_digest = sha256(&config);
    let seen: Seen = Arc::default();

    // Another host:port, certificate signed by the custom CA: custom-CA rung.
    let ca_signed = storage(config.clone(), &seen, |h| {
        FakeRegistry::with_cert(&pki.server_crt(), &pki.server_key(), h)
    });
    // Plain HTTP behind an https:// Location: the custom-CA and the
    // public-roots rungs fail, plain HTTP answers.
    let plain = storage(config.clone(), &seen, |h| FakeRegistry::with_handler(h));
    // A certificate from another CA: every rung fails.
    let other_ca = storage(config.clone(), &seen, |h| {
        FakeRegistry::with_cert(&pki.other_server_crt(), &pki.other_server_key(), h)
    });

    let locations = [
        // "localhost" is another host than the registry's 127.0.0.1.
        (
            "ca-signed",
            format!("https://localhost:{}/b?sig=SECRET-SIG", ca_signed.port()),
        ),
        (
            "plain",
            format!("https://{}/b?sig=SECRET-SIG", plain.host()),
        ),
        (
            "other-ca",
            format!("https://{}/b?sig=SECRET-SIG", other_ca.host()),
        ),
        ("same-origin", "/storage/b".to_owned()),
    ];
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let registry_config = config.clone();
    let registry = FakeRegistry::with_tls_handler(&pki, move |req: &HttpRequest| {
        // Everything on the registry needs the credentials, the same-origin
        // redirect target included.
        if req.header("authorization").is_none() {
            return answer(
                401,
                vec![("WWW-Authenticate", r#"Basic realm="fake""#.to_owned())],
                b"",
            );
        }
        let target = req.target.as_str();
        if target == "/v2/" {
            return answer(200, vec![], b"{}");
        }
        if target == "/storage/b" {
            return answer(200, vec![], &registry_config);
        }
        for (repo, location) in &locations {
            if target == format!("/v2/{repo}/fn/manifests/v1") {
                return answer(
                    200,
                    vec![(
                        "Content-Type",
                        "application/vnd.oci.image.manifest.v1+json".to_owned(),
                    )],
                    manifest.as_bytes(),
                );
            }
            if target == format!("/v2/{repo}/fn/blobs/{config_digest}") {
                return answer(307, vec![("Location", location.clone())], b"");
            }
        }
        answer(404, vec![], b"")
    });
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let settings = settings(Some(&config_path(&creds)), Some(tls.path()));
    let image = |repo: &str| format!("{}/{repo}/fn:v1", registry.host());

    for repo in ["ca-signed", "plain", "same-origin"] {
        let got = resolve(&settings, &image(repo)).unwrap_or_else(|e| panic!("{repo}: {e}"));
        assert_eq!(strings(&got["entrypoint"]), ["/from-storage"], "{repo}");
        assert_eq!(got["transport"], "https-custom-ca", "{repo}");
        assert_eq!(got["authenticated"], true, "{repo}");
    }

    let err = resolve(&settings, &image("other-ca")).unwrap_err();
    let host = other_ca.host();
    assert!(
        err.contains(&format!("cannot reach {host} (image config of")),
        "{err}"
    );
    assert!(
        err.contains(&format!("redirected there by {}", registry.host())),
        "{err}"
    );
    assert!(err.contains("1. HTTPS with the custom CA"), "{err}");
    assert!(err.contains("2. HTTPS with the public roots"), "{err}");
    assert!(err.contains("3. plain HTTP"), "{err}");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
    assert!(!err.contains("SECRET-SIG"), "{err}");
    assert_no_secret(&err);

    // Storage never saw the registry's credentials: one request from the
    // ca-signed target, one from the plain target (its HTTPS rungs failed
    // in the handshake, before any request), none from the other-CA one.
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(Option::is_none), "{seen:?}");
}

#[test]
fn a_redirect_without_a_usable_location_is_an_error_that_says_so() {
    let config_digest = sha256(b"{}");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config_digest}","size":2}},"layers":[]}}"#
    );
    let blob_path = format!("/v2/bad/fn/blobs/{config_digest}");
    let registry = FakeRegistry::with_handler(move |req: &HttpRequest| match req.target.as_str() {
        "/v2/" => answer(200, vec![], b"{}"),
        "/v2/bad/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
        t if t == blob_path => answer(302, vec![("Location", "ftp://x/y".to_owned())], b""),
        _ => answer(404, vec![], b""),
    });
    let err = resolve(
        &settings(None, None),
        &format!("{}/bad/fn:v1", registry.host()),
    )
    .unwrap_err();
    assert!(err.contains("cannot follow the redirect"), "{err}");
    assert!(err.contains("not an http(s) URL"), "{err}");
}

/// A registry over HTTPS (custom CA) whose Bearer challenge names `realm`
/// and which accepts the token `tok-1`.
fn bearer_registry(pki: &Pki, realm: String) -> FakeRegistry {
    let config = br#"{"config":{"Entrypoint":["/tok"]}}"#.to_vec();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let blob_path = format!("/v2/tok/fn/blobs/{config_digest}");
    FakeRegistry::with_tls_handler(pki, move |req: &HttpRequest| {
        if req.header("authorization") != Some("Bearer tok-1") {
            return answer(
                401,
                vec![(
                    "WWW-Authenticate",
                    format!(r#"Bearer realm="{realm}",service="fake""#),
                )],
                b"",
            );
        }
        match req.target.as_str() {
            "/v2/" => answer(200, vec![], b"{}"),
            "/v2/tok/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
            t if t == blob_path => answer(200, vec![], &config),
            _ => answer(404, vec![], b""),
        }
    })
}

#[test]
fn a_token_realm_on_another_host_climbs_its_own_ladder() {
    let pki = Pki::new();
    let token = |_: &HttpRequest| answer(200, vec![], br#"{"token":"tok-1"}"#);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let settings = settings(None, Some(tls.path()));

    // An https:// realm served over plain HTTP: its HTTPS rungs fail, plain
    // HTTP answers (after a redirect on its own origin); the registry itself
    // stays on the custom-CA rung.
    let plain_realm = FakeRegistry::with_handler(move |req: &HttpRequest| {
        if req.target.starts_with("/token?") {
            answer(307, vec![("Location", "/token-moved".to_owned())], b"")
        } else {
            token(req)
        }
    });
    let registry = bearer_registry(&pki, format!("https://{}/token", plain_realm.host()));
    let got = resolve(&settings, &format!("{}/tok/fn:v1", registry.host())).expect("resolve");
    assert_eq!(strings(&got["entrypoint"]), ["/tok"]);
    assert_eq!(got["transport"], "https-custom-ca");
    assert_eq!(got["authenticated"], false);

    // A realm with a certificate from another CA: every rung fails, and the
    // error says it was the token server.
    let other_realm =
        FakeRegistry::with_cert(&pki.other_server_crt(), &pki.other_server_key(), token);
    let registry = bearer_registry(&pki, format!("https://{}/token", other_realm.host()));
    let err = resolve(&settings, &format!("{}/tok/fn:v1", registry.host())).unwrap_err();
    assert!(
        err.contains(&format!(
            "cannot reach {} (the token server of registry {})",
            other_realm.host(),
            registry.host()
        )),
        "{err}"
    );
    assert!(err.contains("1. HTTPS with the custom CA"), "{err}");
    assert!(err.contains("2. HTTPS with the public roots"), "{err}");
    assert!(err.contains("3. plain HTTP"), "{err}");
}

#[test]
fn an_error_from_the_redirect_target_names_that_host_not_the_registry() {
    // Object storage refusing an expired pre-signed URL.
    let storage = FakeRegistry::with_handler(|_req: &HttpRequest| {
        answer(
            403,
            vec![],
            br#"{"errors":[{"code":"EXPIRED","message":"request has expired"}]}"#,
        )
    });
    let config_digest = sha256(b"{}");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config_digest}","size":2}},"layers":[]}}"#
    );
    let blob_path = format!("/v2/exp/fn/blobs/{config_digest}");
    let location = format!("http://{}/b?X-Amz-Signature=SECRET-SIG", storage.host());
    let registry = FakeRegistry::with_handler(move |req: &HttpRequest| match req.target.as_str() {
        "/v2/" => answer(200, vec![], b"{}"),
        "/v2/exp/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
        t if t == blob_path => answer(307, vec![("Location", location.clone())], b""),
        _ => answer(404, vec![], b""),
    });
    let err = resolve(
        &settings(None, None),
        &format!("{}/exp/fn:v1", registry.host()),
    )
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "http://{}/b (redirected there by {}) answered HTTP 403: EXPIRED request has expired",
            storage.host(),
            registry.host()
        )),
        "{err}"
    );
    assert!(!err.contains("denied access"), "{err}");
    assert!(!err.contains("SECRET-SIG"), "{err}");
}
