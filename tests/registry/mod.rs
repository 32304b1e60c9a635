//! The registry client against Debian's real `docker-registry` (issue 4,
//! "Prove it"): custom CA as ca.crt and ca.pem, basic and token auth, plain
//! HTTP, the TLS ladder's errors, indexes, Cmd-only images, media types,
//! digest pinning. Results are compared with what `skopeo inspect` reports.

use std::path::Path;
use std::sync::Arc;

use fn_runner::registry::{Config, Platform};

use crate::support::registry::{
    Auth, FakeRegistry, HttpRequest, HttpResponse, ImageSpec, OciImage, Pki, Registry, TempDir,
    TokenServer,
};

mod ca_reload;
mod inspect;
mod redirect;

pub(crate) const USER: &str = "fn-user";
pub(crate) const PASSWORD: &str = "pa55-Wörd-secret";

/// What `resolve` gave, as the JSON object `inspect` prints.
type Resolved = serde_json::Value;

fn settings(creds: Option<&Path>, tls_dir: Option<&Path>) -> Config {
    Config {
        auth_file: creds.map(Path::to_owned),
        ca_dir: tls_dir.map(Path::to_owned),
        ..Config::default()
    }
}

/// Resolves with `fn-runner inspect` and these settings' flags: the JSON
/// object on success (exit 0), stderr on failure (exit 1).
fn resolve(settings: &Config, image: &str) -> Result<Resolved, String> {
    inspect::run(&inspect::flags(settings), image)
}

/// A docker config.json with one entry `key` -> user:password (as `auth`).
pub(crate) fn docker_config(key: &str, user: &str, password: &str) -> TempDir {
    use base64::Engine as _;
    let dir = TempDir::new("auth-secret");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({"auths": {key: {"auth": auth}}});
    std::fs::write(dir.path().join(".dockerconfigjson"), json.to_string()).expect("write config");
    dir
}

pub(crate) fn config_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join(".dockerconfigjson")
}

pub(crate) fn fn_image(entrypoint: &'static [&'static str]) -> OciImage {
    OciImage::single(&ImageSpec {
        architecture: &Platform::runner().architecture,
        variant: None,
        entrypoint: Some(entrypoint),
        cmd: Some(&["--help"]),
    })
}

fn sha256(bytes: &[u8]) -> String {
    fn_runner::registry::Digest::sha256(bytes).to_string()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks `got` against skopeo's view of the same single-manifest image.
fn assert_matches_skopeo(
    got: &Resolved,
    registry: &Registry,
    reference: &str,
    creds: Option<(&str, &str)>,
    pki: Option<&Pki>,
) {
    let raw = registry.skopeo_raw(reference, creds, pki);
    assert_eq!(got["digest"], sha256(&raw), "digest differs from skopeo's");
    let config = registry.skopeo_config(reference, creds, pki);
    let want = match strings(&config["config"]["Entrypoint"]) {
        e if e.is_empty() => strings(&config["config"]["Cmd"]),
        e => e,
    };
    assert_eq!(
        strings(&got["entrypoint"]),
        want,
        "entrypoint differs from skopeo's"
    );
}

pub(crate) fn assert_no_secret(text: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [PASSWORD, b64.as_str(), "Authorization", "Basic ", "Bearer "] {
        assert!(!text.contains(secret), "secret-ish {secret:?} in: {text}");
    }
}

#[test]
fn https_custom_ca_crt_with_basic_auth_matches_skopeo() {
    let pki = Pki::new();
    let registry = Registry::start(
        Some(&pki),
        Auth::Basic(vec![(USER.into(), PASSWORD.into())]),
    );
    let image = registry.push(
        &fn_image(&["/usr/local/bin/function"]),
        "kpt-fn/set-namespace",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(
        &settings(Some(&config_path(&creds)), Some(tls.path())),
        &image,
    )
    .expect("resolve");
    assert_eq!(got["transport"], "https-custom-ca");
    assert_eq!(got["authenticated"], true);
    assert_eq!(got["registry"], registry.host());
    assert_eq!(got["repository"], "kpt-fn/set-namespace");
    assert_eq!(strings(&got["entrypoint"]), ["/usr/local/bin/function"]);
    assert_matches_skopeo(&got, &registry, &image, Some((USER, PASSWORD)), Some(&pki));
}

#[test]
fn https_custom_ca_pem_with_basic_auth_and_url_key() {
    let pki = Pki::new();
    let registry = Registry::start(
        Some(&pki),
        Auth::Basic(vec![(USER.into(), PASSWORD.into())]),
    );
    let image = registry.push(
        &fn_image(&["/fn"]),
        "team/fn",
        "v2",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    // A URL-shaped key, as docker login writes for some registries.
    let creds = docker_config(&format!("https://{}/v1/", registry.host()), USER, PASSWORD);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.pem");
    let got = resolve(
        &settings(Some(&config_path(&creds)), Some(tls.path())),
        &image,
    )
    .expect("resolve");
    assert_eq!(got["transport"], "https-custom-ca");
    assert_eq!(got["authenticated"], true);
    assert_matches_skopeo(&got, &registry, &image, Some((USER, PASSWORD)), Some(&pki));
}

#[test]
fn https_anonymous() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let image = registry.push(&fn_image(&["/anon"]), "public/fn", "v1", None, Some(&pki));
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(&settings(None, Some(tls.path())), &image).expect("resolve");
    assert_eq!(got["transport"], "https-custom-ca");
    assert_eq!(got["authenticated"], false);
    assert_matches_skopeo(&got, &registry, &image, None, Some(&pki));
}

#[test]
fn plain_http_registry_with_basic_auth() {
    let registry = Registry::start(None, Auth::Basic(vec![(USER.into(), PASSWORD.into())]));
    let image = registry.push(
        &fn_image(&["/plain"]),
        "plain/fn",
        "v1",
        Some((USER, PASSWORD)),
        None,
    );
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    // Without the TLS flag: loopback may use plain HTTP.
    let got = resolve(&settings(Some(&config_path(&creds)), None), &image).expect("resolve");
    assert_eq!(got["transport"], "http");
    assert_eq!(got["authenticated"], true);
    assert_matches_skopeo(&got, &registry, &image, Some((USER, PASSWORD)), None);
    // With it: the ladder steps down both HTTPS rungs to plain HTTP.
    let pki = Pki::new();
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(
        &settings(Some(&config_path(&creds)), Some(tls.path())),
        &image,
    )
    .expect("resolve");
    assert_eq!(got["transport"], "http");
}

#[test]
fn basic_auth_wrong_password_names_registry_and_hides_secret() {
    let pki = Pki::new();
    let registry = Registry::start(
        Some(&pki),
        Auth::Basic(vec![(USER.into(), "right-password".into())]),
    );
    let err = wrong_password_error(&pki, &registry, "team/fn");
    assert!(err.contains(".dockerconfigjson"), "{err}");
}

/// Pushes `repo:v1` with the right password, resolves it with the wrong
/// one (PASSWORD) and returns the error, after checking that it names the
/// registry and holds no secret.
fn wrong_password_error(pki: &Pki, registry: &Registry, repo: &str) -> String {
    let image = registry.push(
        &fn_image(&["/fn"]),
        repo,
        "v1",
        Some((USER, "right-password")),
        Some(pki),
    );
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let err = resolve(
        &settings(Some(&config_path(&creds)), Some(tls.path())),
        &image,
    )
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "authentication failed for registry {}",
            registry.host()
        )),
        "{err}"
    );
    assert_no_secret(&err);
    err
}

#[test]
fn bearer_token_auth_with_cached_token() {
    let pki = Pki::new();
    let tokens = TokenServer::start(&pki, vec![(USER.into(), PASSWORD.into())], vec![]);
    let registry = Registry::start(Some(&pki), Auth::Token(Arc::clone(&tokens)));
    let image = registry.push(
        &fn_image(&["/token-fn"]),
        "tok/fn",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let client =
        fn_runner::registry::Client::new(&settings(Some(&config_path(&creds)), Some(tls.path())))
            .expect("client");
    let before = tokens.requests();
    let info = client.resolve(&image).expect("resolve");
    assert!(info.authenticated);
    assert_eq!(info.transport, fn_runner::registry::Rung::HttpsCustomCa);
    assert_eq!(
        tokens.requests(),
        before + 1,
        "one token for the pull scope"
    );
    let again = client.resolve(&image).expect("resolve again");
    assert_eq!(again, info);
    assert_eq!(tokens.requests(), before + 1, "the cached token was reused");
    let got: Resolved = serde_json::from_str(&fn_runner::inspect::to_json(&info)).expect("json");
    assert_matches_skopeo(&got, &registry, &image, Some((USER, PASSWORD)), Some(&pki));
    // The client holds the password and a cached token; neither shows in Debug.
    let debug = format!("{client:?}");
    assert_no_secret(&debug);
    assert!(!debug.contains("eyJ"), "a JWT in Debug output: {debug}");
}

#[test]
fn registrytoken_is_sent_as_the_bearer_token() {
    let pki = Pki::new();
    let tokens = TokenServer::start(&pki, vec![(USER.into(), PASSWORD.into())], vec![]);
    let registry = Registry::start(Some(&pki), Auth::Token(Arc::clone(&tokens)));
    let image = registry.push(
        &fn_image(&["/fn"]),
        "tok/fn",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    // Get a pull token out of band, as a CI system would, and store it as `registrytoken`.
    let ca = std::fs::read(pki.ca_crt()).expect("ca");
    let roots =
        fn_runner::tls::Roots::CustomCa(fn_runner::tls::certs_from_pem(&ca, "ca").expect("ca pem"));
    let tls =
        fn_runner::tls::ureq_config(&fn_runner::tls::ClientTls::with_roots(roots)).expect("tls");
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .build()
        .new_agent();
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    };
    let body = agent
        .get(&tokens.realm())
        .query("service", TokenServer::SERVICE)
        .query("scope", "repository:tok/fn:pull")
        .header("Authorization", format!("Basic {basic}"))
        .call()
        .expect("token")
        .body_mut()
        .read_to_vec()
        .expect("token body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("token json");
    let token = body["token"].as_str().expect("token").to_owned();
    let dir = TempDir::new("auth-secret");
    let json = serde_json::json!({"auths": {registry.host(): {"registrytoken": token}}});
    std::fs::write(config_path(&dir), json.to_string()).expect("write");
    let before = tokens.requests();
    let tls_dir = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(
        &settings(Some(&config_path(&dir)), Some(tls_dir.path())),
        &image,
    )
    .expect("resolve");
    assert_eq!(got["authenticated"], true);
    assert_eq!(tokens.requests(), before, "the token server was not asked");
}

#[test]
fn bearer_token_wrong_password_says_authentication_failed_without_secret() {
    let pki = Pki::new();
    let tokens = TokenServer::start(&pki, vec![(USER.into(), "right-password".into())], vec![]);
    let registry = Registry::start(Some(&pki), Auth::Token(tokens));
    let err = wrong_password_error(&pki, &registry, "tok/fn");
    assert!(err.contains("token server"), "{err}");
}

#[test]
fn bearer_token_with_identity_token_refresh_grant() {
    let pki = Pki::new();
    let tokens = TokenServer::start(
        &pki,
        vec![(USER.into(), PASSWORD.into())],
        vec!["refresh-xyz".into()],
    );
    let registry = Registry::start(Some(&pki), Auth::Token(tokens));
    let image = registry.push(
        &fn_image(&["/fn"]),
        "tok/fn",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    let dir = TempDir::new("auth-secret");
    let json = serde_json::json!({"auths": {registry.host(): {"identitytoken": "refresh-xyz"}}});
    std::fs::write(config_path(&dir), json.to_string()).expect("write");
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(
        &settings(Some(&config_path(&dir)), Some(tls.path())),
        &image,
    )
    .expect("resolve");
    assert_eq!(got["authenticated"], true);
}

#[test]
fn untrusted_ca_lists_all_three_rungs() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let image = registry.push(&fn_image(&["/fn"]), "a/fn", "v1", None, Some(&pki));
    let tls = pki.tls_secret_dir(&pki.other_ca_crt(), "ca.crt");
    let err = resolve(&settings(None, Some(tls.path())), &image).unwrap_err();
    assert!(
        err.contains(&format!("cannot reach registry {}", registry.host())),
        "{err}"
    );
    assert!(err.contains("1. HTTPS with the custom CA"), "{err}");
    assert!(err.contains("2. HTTPS with the public roots"), "{err}");
    assert!(
        err.contains("3. plain HTTP: the server speaks HTTPS"),
        "{err}"
    );
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
}

#[test]
fn without_tls_flag_a_private_ca_registry_fails_with_a_hint() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let image = registry.push(&fn_image(&["/fn"]), "a/fn", "v1", None, Some(&pki));
    let err = resolve(&settings(None, None), &image).unwrap_err();
    assert!(err.contains("1. HTTPS with the public roots"), "{err}");
    assert!(err.contains("2. plain HTTP"), "{err}");
    assert!(!err.contains("3."), "{err}");
    assert!(err.contains("--enable-private-registry-tls"), "{err}");
}

#[test]
fn ca_file_named_ca_cert_gets_the_strict_error() {
    let pki = Pki::new();
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.cert");
    let err = resolve(&settings(None, Some(tls.path())), "127.0.0.1:1/a/b:v1").unwrap_err();
    assert!(err.contains(&tls.path().display().to_string()), "{err}");
    assert!(err.contains("it holds ca.cert"), "{err}");
    assert!(err.contains("must be named ca.crt or ca.pem"), "{err}");
}

#[test]
fn oci_index_resolves_to_this_machines_platform() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let index = OciImage::index(&[
        ImageSpec {
            architecture: "amd64",
            variant: None,
            entrypoint: Some(&["/amd64-fn"]),
            cmd: None,
        },
        ImageSpec {
            architecture: "arm64",
            variant: Some("v8"),
            entrypoint: Some(&["/arm64-fn"]),
            cmd: None,
        },
    ]);
    let image = registry.push(&index, "multi/fn", "v1", None, Some(&pki));
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(&settings(None, Some(tls.path())), &image).expect("resolve");
    let arch = Platform::runner().architecture;
    let raw: serde_json::Value =
        serde_json::from_slice(&registry.skopeo_raw(&image, None, Some(&pki))).expect("index");
    let child = raw["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["platform"]["architecture"] == arch.as_str())
        .expect("child for this machine");
    assert_eq!(got["digest"], child["digest"]);
    assert_eq!(strings(&got["entrypoint"]), [format!("/{arch}-fn")]);
    // skopeo picks the same child for this machine.
    let config = registry.skopeo_config(&image, None, Some(&pki));
    assert_eq!(
        strings(&got["entrypoint"]),
        strings(&config["config"]["Entrypoint"])
    );
}

#[test]
fn cmd_only_image_uses_cmd() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let image = OciImage::single(&ImageSpec {
        architecture: &Platform::runner().architecture,
        variant: None,
        entrypoint: None,
        cmd: Some(&["/bin/fn", "--serve"]),
    });
    let reference = registry.push(&image, "cmd/only_fn", "v1", None, Some(&pki));
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let got = resolve(&settings(None, Some(tls.path())), &reference).expect("resolve");
    assert_eq!(strings(&got["entrypoint"]), ["/bin/fn", "--serve"]);
    assert_eq!(got["repository"], "cmd/only_fn");
    assert_matches_skopeo(&got, &registry, &reference, None, Some(&pki));
}

#[test]
fn oci_and_docker_schema2_media_types_and_underscore_repository() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    for format in ["oci", "v2s2"] {
        let reference = registry.push_as(
            &fn_image(&["/media"]),
            "kpt_fn/set_namespace",
            format,
            None,
            Some(&pki),
            Some(format),
        );
        let raw: serde_json::Value =
            serde_json::from_slice(&registry.skopeo_raw(&reference, None, Some(&pki)))
                .expect("manifest");
        let want_type = match format {
            "oci" => "application/vnd.oci.image.manifest.v1+json",
            _ => "application/vnd.docker.distribution.manifest.v2+json",
        };
        assert_eq!(raw["mediaType"], want_type);
        let got = resolve(&settings(None, Some(tls.path())), &reference).expect("resolve");
        assert_eq!(got["repository"], "kpt_fn/set_namespace");
        assert_matches_skopeo(&got, &registry, &reference, None, Some(&pki));
    }
}

#[test]
fn digest_pinned_reference_resolves_and_mismatch_is_refused() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let reference = registry.push(&fn_image(&["/pinned"]), "pin/fn", "v1", None, Some(&pki));
    let digest = sha256(&registry.skopeo_raw(&reference, None, Some(&pki)));
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let pinned = format!("{reference}@{digest}");
    let got = resolve(&settings(None, Some(tls.path())), &pinned).expect("resolve pinned");
    assert_eq!(got["digest"], digest);

    // A registry that serves other bytes for the pinned digest.
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let fake = FakeRegistry::start(vec![(
        format!("/v2/pin/fn/manifests/{wrong}"),
        "application/vnd.oci.image.manifest.v1+json".into(),
        manifest.to_vec(),
    )]);
    let err = resolve(
        &settings(None, None),
        &format!("{}/pin/fn@{wrong}", fake.host()),
    )
    .unwrap_err();
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(
        err.contains(wrong) && err.contains(&sha256(manifest)),
        "{err}"
    );
}

#[test]
fn default_prefix_images_never_get_credentials() {
    let registry = Registry::start(None, Auth::Basic(vec![(USER.into(), PASSWORD.into())]));
    let image = registry.push(
        &fn_image(&["/fn"]),
        "kpt-fn/x",
        "v1",
        Some((USER, PASSWORD)),
        None,
    );
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let mut s = settings(Some(&config_path(&creds)), None);
    s.default_image_prefix = format!("{}/kpt-fn/", registry.host());
    let err = resolve(&s, &image).unwrap_err();
    assert!(err.contains("requires authentication"), "{err}");
    assert!(err.contains("--default-image-prefix"), "{err}");
    // Private registry off: anonymous, and the error says why.
    let err = resolve(&settings(None, None), &image).unwrap_err();
    assert!(err.contains("--enable-private-registry is off"), "{err}");
}

#[test]
fn missing_manifest_is_a_not_found_answer_not_a_ladder_step() {
    let pki = Pki::new();
    let registry = Registry::start(Some(&pki), Auth::Anonymous);
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let err = resolve(
        &settings(None, Some(tls.path())),
        &format!("{}/nope/fn:v9", registry.host()),
    )
    .unwrap_err();
    assert!(
        err.contains("manifest not found") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
    assert!(!err.contains("plain HTTP"), "{err}");
}

#[test]
fn changed_credentials_file_is_picked_up_by_a_running_client() {
    let pki = Pki::new();
    let registry = Registry::start(
        Some(&pki),
        Auth::Basic(vec![(USER.into(), PASSWORD.into())]),
    );
    let image = registry.push(
        &fn_image(&["/fn"]),
        "reload/fn",
        "v1",
        Some((USER, PASSWORD)),
        Some(&pki),
    );
    // A mounted Secret: the file is a symlink through ..data, swapped on update.
    let secret = TempDir::new("mounted-secret");
    let d = secret.path();
    let write_version = |name: &str, password: &str| {
        use base64::Engine as _;
        std::fs::create_dir_all(d.join(name)).expect("dir");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        let json = serde_json::json!({"auths": {registry.host(): {"auth": auth}}});
        std::fs::write(d.join(name).join(".dockerconfigjson"), json.to_string()).expect("write");
    };
    write_version("v1", "stale-password");
    write_version("v2", PASSWORD);
    std::os::unix::fs::symlink("v1", d.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/.dockerconfigjson", d.join(".dockerconfigjson"))
        .expect("symlink");
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let client = fn_runner::registry::Client::new(&settings(
        Some(&d.join(".dockerconfigjson")),
        Some(tls.path()),
    ))
    .expect("client");
    let err = client.resolve(&image).unwrap_err().to_string();
    assert!(err.contains("authentication failed"), "{err}");
    std::os::unix::fs::symlink("v2", d.join("..data_tmp")).expect("symlink");
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap");
    let info = client
        .resolve(&image)
        .expect("resolve after the Secret changed");
    assert!(info.authenticated);
}

fn answer(status: u16, headers: Vec<(&str, String)>, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        body: body.to_vec(),
    }
}

#[test]
fn blob_redirect_is_followed_without_the_authorization_header() {
    let config =
        br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/redirected"]}}"#
            .to_vec();
    let config_digest = sha256(&config);
    let seen_auth: Arc<std::sync::Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = Arc::clone(&seen_auth);
    let blob_body = config.clone();
    // Object storage on another host:port.
    let storage = FakeRegistry::with_handler(move |req: &HttpRequest| {
        seen.lock()
            .expect("lock")
            .push(req.header("authorization").map(str::to_owned));
        answer(200, vec![], &blob_body)
    });
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let storage_host = storage.host();
    let blob_path = format!("/v2/team/fn/blobs/{config_digest}");
    let registry = FakeRegistry::with_handler(move |req: &HttpRequest| {
        if req.header("authorization").is_none() {
            return answer(
                401,
                vec![("WWW-Authenticate", r#"Basic realm="fake""#.to_owned())],
                b"",
            );
        }
        match req.target.as_str() {
            "/v2/" => answer(200, vec![], b"{}"),
            "/v2/team/fn/manifests/v1" => answer(
                200,
                vec![(
                    "Content-Type",
                    "application/vnd.oci.image.manifest.v1+json".to_owned(),
                )],
                manifest.as_bytes(),
            ),
            t if t == blob_path => answer(
                307,
                vec![("Location", format!("http://{storage_host}/blob?sig=1"))],
                b"",
            ),
            _ => answer(404, vec![], b""),
        }
    });
    let creds = docker_config(&registry.host(), USER, PASSWORD);
    let got = resolve(
        &settings(Some(&config_path(&creds)), None),
        &format!("{}/team/fn:v1", registry.host()),
    )
    .expect("resolve");
    assert_eq!(strings(&got["entrypoint"]), ["/redirected"]);
    assert_eq!(got["authenticated"], true);
    let seen = seen_auth.lock().expect("lock");
    assert_eq!(seen.len(), 1, "storage was asked once");
    assert_eq!(seen[0], None, "no Authorization header after the redirect");
}

#[test]
fn endless_blob_redirects_stop_at_the_limit() {
    let config_digest = sha256(b"{}");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":2}},"layers":[]}}"#
    );
    let blob_path = format!("/v2/loop/fn/blobs/{config_digest}");
    let registry = FakeRegistry::with_handler(move |req: &HttpRequest| match req.target.as_str() {
        "/v2/" => answer(200, vec![], b"{}"),
        "/v2/loop/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
        t if t == blob_path => answer(302, vec![("Location", blob_path.clone())], b""),
        _ => answer(404, vec![], b""),
    });
    let err = resolve(
        &settings(None, None),
        &format!("{}/loop/fn:v1", registry.host()),
    )
    .unwrap_err();
    assert!(err.to_lowercase().contains("redirect"), "{err}");
}

#[test]
fn manifest_size_limit_at_n_and_n_plus_1() {
    use fn_runner::registry::MAX_MANIFEST_BYTES;
    let config = br#"{"config":{"Entrypoint":["/big"]}}"#.to_vec();
    let config_digest = sha256(&config);
    let manifest = |len: u64| {
        let mut m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config_digest}","size":{}}},"layers":[]}}"#,
            config.len()
        )
        .into_bytes();
        m.resize(usize::try_from(len).expect("fits"), b' ');
        m
    };
    let (at, over) = (
        manifest(MAX_MANIFEST_BYTES),
        manifest(MAX_MANIFEST_BYTES + 1),
    );
    let blob_path = format!("/v2/big/fn/blobs/{config_digest}");
    let registry = FakeRegistry::with_handler(move |req: &HttpRequest| match req.target.as_str() {
        "/v2/" => answer(200, vec![], b"{}"),
        "/v2/big/fn/manifests/at" => answer(200, vec![], &at),
        "/v2/big/fn/manifests/over" => answer(200, vec![], &over),
        t if t == blob_path => answer(200, vec![], &config),
        _ => answer(404, vec![], b""),
    });
    let got = resolve(
        &settings(None, None),
        &format!("{}/big/fn:at", registry.host()),
    )
    .expect("at the limit");
    assert_eq!(strings(&got["entrypoint"]), ["/big"]);
    let err = resolve(
        &settings(None, None),
        &format!("{}/big/fn:over", registry.host()),
    )
    .unwrap_err();
    assert!(
        err.contains(&format!("larger than {MAX_MANIFEST_BYTES} bytes")),
        "{err}"
    );
}

#[test]
fn an_http_error_on_the_first_rung_is_an_answer_not_a_step_down() {
    let pki = Pki::new();
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let registry = FakeRegistry::with_tls_handler(&pki, move |_req: &HttpRequest| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        answer(
            503,
            vec![],
            br#"{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}"#,
        )
    });
    let tls = pki.tls_secret_dir(&pki.ca_crt(), "ca.crt");
    let err = resolve(
        &settings(None, Some(tls.path())),
        &format!("{}/a/fn:v1", registry.host()),
    )
    .unwrap_err();
    assert!(err.contains("answered HTTP 503"), "{err}");
    assert!(err.contains("UNAVAILABLE maintenance"), "{err}");
    assert!(!err.contains("every transport failed"), "{err}");
    // The ping and the manifest request, both over the custom-CA rung.
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn a_callers_deadline_ends_the_resolve_without_stepping_down() {
    // A peer that accepts connections (kernel backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = silent.local_addr().expect("addr").to_string();
    let client = fn_runner::registry::Client::new(&settings(None, None)).expect("client");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let err = client
        .resolve_by(&format!("{host}/a/fn:v1"), Some(deadline))
        .unwrap_err();
    assert!(
        matches!(err, fn_runner::registry::Error::DeadlineExceeded { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&host), "{err}");
    // A deadline already past: nothing is sent.
    let past = std::time::Instant::now();
    let err = client
        .resolve_by(&format!("{host}/a/fn:v1"), Some(past))
        .unwrap_err();
    assert!(
        matches!(err, fn_runner::registry::Error::DeadlineExceeded { .. }),
        "{err}"
    );
}

#[test]
fn ipv6_loopback_registry_over_plain_http() {
    let config = br#"{"config":{"Cmd":["/v6"]}}"#.to_vec();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let blob_path = format!("/v2/six/fn/blobs/{config_digest}");
    let registry =
        FakeRegistry::with_handler_on_ipv6(move |req: &HttpRequest| match req.target.as_str() {
            "/v2/" => answer(200, vec![], b"{}"),
            "/v2/six/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
            t if t == blob_path => answer(200, vec![], &config),
            _ => answer(404, vec![], b""),
        });
    assert!(registry.host().starts_with("[::1]:"), "{}", registry.host());
    let got = resolve(
        &settings(None, None),
        &format!("{}/six/fn:v1", registry.host()),
    )
    .expect("resolve");
    assert_eq!(got["registry"], registry.host());
    assert_eq!(got["transport"], "http");
    assert_eq!(strings(&got["entrypoint"]), ["/v6"]);
}
