//! `fn-runner inspect [registry flags] IMAGE`: resolves an image the way
//! the pod runtime will, and prints one JSON object on stdout:
//!
//! ```json
//! {"image":"...","registry":"...","repository":"...","digest":"sha256:...",
//!  "entrypoint":["..."],"transport":"https-custom-ca","authenticated":true}
//! ```
//!
//! `transport` is `https-custom-ca`, `https-public-roots` or `http`. Exit 0
//! on success; exit 1 with the error on stderr (every rung tried when the
//! TLS ladder failed). This is how a user checks the setup of the private
//! registry guide before deploying.
//!
//! A mode, like `serve` and `eval`: it reads settings; the registry client
//! it drives does not.

use crate::flags::{self, InspectSettings};
use crate::registry::{Client, ImageInfo};

/// Resolves the image and prints one JSON object; returns the exit code.
pub fn run(settings: &InspectSettings) -> u8 {
    let config = flags::registry_config(&settings.registry);
    let result = Client::new(&config).and_then(|client| client.resolve(&settings.image));
    match result {
        Ok(info) => {
            println!("{}", to_json(&info));
            0
        }
        Err(e) => {
            // Every error names the registry, image or file it is about.
            eprintln!("fn-runner inspect: {e}");
            1
        }
    }
}

/// The one-line JSON object `inspect` prints.
pub fn to_json(info: &ImageInfo) -> String {
    serde_json::json!({
        "image": info.image,
        "registry": info.registry,
        "repository": info.repository,
        "digest": info.digest.to_string(),
        "entrypoint": info.entrypoint,
        "transport": info.transport.as_str(),
        "authenticated": info.authenticated,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Digest, Rung};

    #[test]
    fn prints_every_field() {
        let info = ImageInfo {
            image: "localhost:5000/a:b".into(),
            registry: "localhost:5000".into(),
            repository: "a".into(),
            digest: Digest::sha256(b""),
            entrypoint: vec!["/fn".into()],
            transport: Rung::HttpsCustomCa,
            authenticated: true,
        };
        let v: serde_json::Value = serde_json::from_str(&to_json(&info)).unwrap();
        assert_eq!(v["transport"], "https-custom-ca");
        assert_eq!(v["authenticated"], true);
        assert_eq!(v["entrypoint"][0], "/fn");
        assert_eq!(v.as_object().unwrap().len(), 7);
    }
}
