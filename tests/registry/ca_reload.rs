//! The CA of `--tls-secret-path` is re-read by a running client when the
//! mounted Secret changes, through the same symlink swap Kubernetes does
//! (`..data -> ..2026_xx`, `ca.crt -> ..data/ca.crt`), strict check included.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::{answer, settings};
use crate::support::registry::{FakeRegistry, HttpRequest, Pki, TempDir};

/// Writes version `name` of the Secret (`files`: name -> source file) and
/// swaps `..data` onto it; the top-level symlinks follow the keys, as the
/// kubelet's atomic writer leaves them.
fn publish(dir: &Path, name: &str, files: &[(&str, &Path)]) {
    let version = dir.join(name);
    std::fs::create_dir(&version).expect("version dir");
    for (key, source) in files {
        std::fs::copy(source, version.join(key)).expect("copy");
    }
    symlink(name, dir.join("..data_tmp")).expect("symlink");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    // Keys that went away lose their symlink; new keys get one.
    for entry in std::fs::read_dir(dir).expect("list") {
        let entry = entry.expect("entry");
        let file = entry.file_name().to_string_lossy().into_owned();
        if !file.starts_with("..") && !files.iter().any(|(key, _)| *key == file) {
            std::fs::remove_file(entry.path()).expect("remove old key");
        }
    }
    for (key, _) in files {
        let link = dir.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{key}"), &link).expect("key symlink");
        }
    }
}

#[test]
fn a_swapped_ca_secret_is_read_again_by_a_running_client() {
    let pki = Pki::new();
    let config = br#"{"config":{"Entrypoint":["/ca-reload"]}}"#.to_vec();
    let config_digest = super::sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let blob_path = format!("/v2/team/fn/blobs/{config_digest}");
    let registry =
        FakeRegistry::with_tls_handler(&pki, move |req: &HttpRequest| match req.target.as_str() {
            "/v2/" => answer(200, vec![], b"{}"),
            "/v2/team/fn/manifests/v1" => answer(200, vec![], manifest.as_bytes()),
            t if t == blob_path => answer(200, vec![], &config),
            _ => answer(404, vec![], b""),
        });
    let image = format!("{}/team/fn:v1", registry.host());

    // Version 1 holds a CA that did not sign the registry's certificate.
    let secret = TempDir::new("mounted-tls-secret");
    let dir = secret.path();
    publish(
        dir,
        "..2026_11_28_01_00_00.1",
        &[("ca.crt", &pki.other_ca_crt())],
    );
    let client = fn_runner::registry::Client::new(&settings(None, Some(dir))).expect("client");
    let err = client.resolve(&image).unwrap_err().to_string();
    assert!(err.contains("1. HTTPS with the custom CA"), "{err}");

    // Version 2: the right CA, same key. No restart.
    publish(dir, "..2026_11_28_01_05_00.2", &[("ca.crt", &pki.ca_crt())]);
    let info = client
        .resolve(&image)
        .expect("resolve after the CA changed");
    assert_eq!(info.transport.as_str(), "https-custom-ca");
    assert_eq!(info.entrypoint, ["/ca-reload"]);
    // Unchanged: the cached CA goes on working.
    client.resolve(&image).expect("resolve again");

    // Version 3 names the file ca.cert: the strict error, naming the directory.
    publish(
        dir,
        "..2026_11_28_01_10_00.3",
        &[("ca.cert", &pki.ca_crt())],
    );
    let err = client.resolve(&image).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("it holds ca.cert;"), "{err}");
    assert!(err.contains("must be named ca.crt or ca.pem"), "{err}");

    // Version 4: fixed again, as ca.pem.
    publish(dir, "..2026_11_28_01_15_00.4", &[("ca.pem", &pki.ca_crt())]);
    let info = client.resolve(&image).expect("resolve after the fix");
    assert_eq!(info.transport.as_str(), "https-custom-ca");
}
