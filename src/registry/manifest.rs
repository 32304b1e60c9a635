//! Manifests, indexes and image configs, decoded from bytes (no I/O):
//! Docker schema2 manifest and manifest list, OCI image manifest and index
//! (compat §5.5), the platform choice for an index (compat §4.1 "ours": the
//! runner's own platform), and the entrypoint from the image config
//! (`Entrypoint`, else `Cmd`).

use std::fmt;

use super::reference::Digest;

/// Docker schema2 image manifest.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list.
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `Accept` header of a manifest request: every kind we decode.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A decoded manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image: its config blob.
    Image { config: Digest },
    /// An index / manifest list: its children.
    Index(Vec<Child>),
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub(crate) digest: Digest,
    pub(crate) platform: Option<Platform>,
}

/// An OCI platform (os, architecture, variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, in OCI names (`GOOS`/`GOARCH` style).
    pub fn runner() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            other => (other, None),
        };
        Self {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Whether a child with platform `p` can run here: same os and
    /// architecture, and the same variant or none given on either side
    /// (an arm64 image is `v8` whether or not it says so).
    fn accepts(&self, p: &Platform) -> bool {
        p.os == self.os
            && p.architecture == self.architecture
            && match (&p.variant, &self.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Why bytes are not a manifest or config we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not JSON of the expected shape (position only).
    Json {
        what: &'static str,
        line: usize,
        column: usize,
    },
    /// A media type we do not decode (schema1, an artifact, ...).
    UnsupportedMediaType(String),
    /// A descriptor's digest does not parse.
    BadDigest(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json { what, line, column } => {
                write!(f, "malformed {what} JSON at line {line} column {column}")
            }
            Error::UnsupportedMediaType(t) => write!(
                f,
                "unsupported manifest media type {t:?} (want an OCI or Docker schema2 manifest or index)"
            ),
            Error::BadDigest(d) => write!(f, "invalid digest {d:?} in manifest"),
        }
    }
}

impl std::error::Error for Error {}

#[derive(serde::Deserialize)]
struct RawDescriptor {
    digest: String,
    platform: Option<RawPlatform>,
}

#[derive(serde::Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Manifest {
    /// Decodes manifest bytes. The media type comes from `Content-Type`,
    /// else from the document's `mediaType`, else from its shape.
    pub fn decode(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            media_type: Option<String>,
            config: Option<RawDescriptor>,
            manifests: Option<Vec<RawDescriptor>>,
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            what: "manifest",
            line: e.line(),
            column: e.column(),
        })?;
        let header = content_type
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|t| !t.is_empty() && t != "application/json" && t != "text/plain");
        let media_type = header.or(raw.media_type);
        let is_index = match media_type.as_deref() {
            Some(DOCKER_MANIFEST_LIST | OCI_INDEX) => true,
            Some(DOCKER_MANIFEST | OCI_MANIFEST) => false,
            Some(other) => return Err(Error::UnsupportedMediaType(other.to_owned())),
            None => raw.manifests.is_some(),
        };
        let digest = |d: &str| Digest::parse(d).map_err(|_| Error::BadDigest(d.to_owned()));
        if is_index {
            let children = raw
                .manifests
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    Ok(Child {
                        digest: digest(&c.digest)?,
                        platform: c.platform.map(|p| Platform {
                            os: p.os,
                            architecture: p.architecture,
                            variant: p.variant.filter(|v| !v.is_empty()),
                        }),
                    })
                })
                .collect::<Result<_, Error>>()?;
            Ok(Manifest::Index(children))
        } else {
            let config = raw.config.ok_or(Error::Json {
                what: "manifest (no \"config\")",
                line: 1,
                column: 1,
            })?;
            Ok(Manifest::Image {
                config: digest(&config.digest)?,
            })
        }
    }
}

/// Bytes whose digest was checked against the descriptor that named them.
/// Only [`Verified::check`] makes one, so code that takes a `Verified`
/// cannot run on unchecked bytes (style.md §5: a bool is no proof).
#[derive(Debug)]
pub struct Verified<'a> {
    bytes: &'a [u8],
}

impl<'a> Verified<'a> {
    /// Checks that `bytes` hash to `want`; `Err` carries the actual digest.
    pub fn check(want: &Digest, bytes: &'a [u8]) -> Result<Self, Digest> {
        let got = Digest::of(want.algorithm(), bytes);
        if &got == want {
            Ok(Self { bytes })
        } else {
            Err(got)
        }
    }

    /// The checked bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The child of an index for `want`: an exact variant match first, then
/// any compatible one. `None` when no child fits.
pub(crate) fn select<'a>(children: &'a [Child], want: &Platform) -> Option<&'a Child> {
    let fits = |c: &&Child| c.platform.as_ref().is_some_and(|p| want.accepts(p));
    children
        .iter()
        .filter(fits)
        .find(|c| {
            c.platform
                .as_ref()
                .is_some_and(|p| p.variant == want.variant)
        })
        .or_else(|| children.iter().find(fits))
}

/// The platforms an index offers, for error messages.
pub(crate) fn platforms(children: &[Child]) -> Vec<String> {
    children
        .iter()
        .map(|c| {
            c.platform
                .as_ref()
                .map_or("unknown".to_owned(), Platform::to_string)
        })
        .collect()
}

/// The entrypoint from image config bytes: `config.Entrypoint`, else
/// `config.Cmd` (compat §4.1). Empty when neither is set. Takes only a
/// config whose digest was checked against its manifest.
pub fn entrypoint(config: &Verified<'_>) -> Result<Vec<String>, Error> {
    let config = config.bytes();
    #[derive(serde::Deserialize)]
    struct Raw {
        config: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Inner {
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
    }
    let raw: Raw = serde_json::from_slice(config).map_err(|e| Error::Json {
        what: "image config",
        line: e.line(),
        column: e.column(),
    })?;
    let inner = raw.config;
    let (entrypoint, cmd) = match inner {
        Some(i) => (i.entrypoint.unwrap_or_default(), i.cmd.unwrap_or_default()),
        None => (Vec::new(), Vec::new()),
    };
    Ok(if entrypoint.is_empty() {
        cmd
    } else {
        entrypoint
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn index() -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D3}","size":1,"platform":{{"os":"windows","architecture":"amd64"}}}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn decodes_every_media_type() {
        let image =
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":2}},"layers":[]}}"#);
        for t in [
            Some(DOCKER_MANIFEST),
            Some(OCI_MANIFEST),
            None,
            Some("application/json"),
        ] {
            assert_eq!(
                Manifest::decode(t, image.as_bytes()).unwrap(),
                Manifest::Image {
                    config: Digest::parse(D1).unwrap()
                }
            );
        }
        for t in [Some(OCI_INDEX), Some(DOCKER_MANIFEST_LIST), None] {
            assert!(
                matches!(Manifest::decode(t, &index()).unwrap(), Manifest::Index(c) if c.len() == 3)
            );
        }
        let err = Manifest::decode(
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            image.as_bytes(),
        );
        assert!(matches!(err, Err(Error::UnsupportedMediaType(_))));
    }

    #[test]
    fn selects_the_runner_platform() {
        let Manifest::Index(children) = Manifest::decode(None, &index()).unwrap() else {
            panic!()
        };
        let amd64 = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        assert_eq!(select(&children, &amd64).unwrap().digest.to_string(), D2);
        let arm64 = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert_eq!(select(&children, &arm64).unwrap().digest.to_string(), D1);
        let s390 = Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        };
        assert!(select(&children, &s390).is_none());
        assert_eq!(
            platforms(&children),
            ["linux/arm64/v8", "linux/amd64", "windows/amd64"]
        );
    }

    #[test]
    fn runner_platform_is_linux_with_oci_arch() {
        let p = Platform::runner();
        assert_eq!(p.os, "linux");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(p.architecture, "amd64");
        }
    }

    #[test]
    fn every_prefix_decodes_or_errors_without_panic() {
        let bytes = index();
        for end in 0..bytes.len() {
            assert!(
                Manifest::decode(None, &bytes[..end]).is_err(),
                "prefix {end} decoded"
            );
        }
        let config = br#"{"config":{"Entrypoint":["/a"],"Cmd":["b"]}}"#;
        for end in 0..config.len() {
            let _ = ep(&config[..end]);
        }
    }

    fn ep(bytes: &[u8]) -> Result<Vec<String>, Error> {
        entrypoint(&Verified::check(&Digest::sha256(bytes), bytes).unwrap())
    }

    #[test]
    fn verified_refuses_other_bytes() {
        let d = Digest::sha256(b"a");
        assert!(Verified::check(&d, b"a").is_ok());
        assert_eq!(Verified::check(&d, b"b").unwrap_err(), Digest::sha256(b"b"));
    }

    #[test]
    fn entrypoint_then_cmd() {
        assert_eq!(
            ep(br#"{"config":{"Entrypoint":["/a"],"Cmd":["b"]}}"#).unwrap(),
            ["/a"]
        );
        assert_eq!(
            ep(br#"{"config":{"Entrypoint":null,"Cmd":["b","c"]}}"#).unwrap(),
            ["b", "c"]
        );
        assert_eq!(
            ep(br#"{"config":{"Entrypoint":[],"Cmd":["b"]}}"#).unwrap(),
            ["b"]
        );
        assert!(ep(br#"{"architecture":"amd64"}"#).unwrap().is_empty());
        assert!(ep(b"[").is_err());
    }
}
