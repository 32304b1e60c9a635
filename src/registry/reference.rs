//! Image references, parsed and normalized exactly as the
//! docker/distribution `reference` package does (`ParseNormalizedNamed`):
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] path-component ['/' path-component]*
//! domain          := host [':' port-number]
//! host            := domain-name | IPv4address | '[' IPv6address ']'
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]*/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex      (sha256: 64 hex, sha512: 128 hex)
//! ```
//!
//! Normalization: the first `/`-separated part is a domain only if it holds
//! a `.` or `:`, or is `localhost`, or has upper-case letters; otherwise the
//! registry is `docker.io` (served by `registry-1.docker.io`), and a
//! single-segment Docker Hub name gets `library/`. `index.docker.io` is
//! `docker.io`. No tag and no digest means tag `latest`; with both, the
//! digest is what we fetch.

use std::fmt;

/// Docker Hub's canonical name.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub(crate) const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// `NameTotalLengthMax` of docker/distribution: domain + "/" + path.
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// Longest reference string we look at (name + tag + digest), our own bound.
pub(crate) const MAX_REFERENCE_BYTES: usize = 512;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A content digest (`sha256:` + 64 lower-case hex, or `sha512:` + 128).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// The digest algorithms the OCI image spec registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

/// Why a reference does not parse. The messages follow docker/distribution's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The whole string is longer than [`MAX_REFERENCE_BYTES`].
    TooLong { bytes: usize },
    /// `ErrNameEmpty`.
    NameEmpty,
    /// `ErrReferenceInvalidFormat`.
    InvalidFormat { reference: String },
    /// `ErrNameContainsUppercase`.
    Uppercase { reference: String },
    /// `ErrNameTooLong`.
    NameTooLong { reference: String, bytes: usize },
    /// A 64-hex repository name (ambiguous with an image id).
    HexName { reference: String },
    /// `ErrDigestInvalidFormat` / `ErrDigestInvalidLength` / unsupported algorithm.
    InvalidDigest { digest: String, why: &'static str },
}

impl Reference {
    /// Parses and normalizes `s` like `reference.ParseNormalizedNamed`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.len() > MAX_REFERENCE_BYTES {
            return Err(Error::TooLong { bytes: s.len() });
        }
        if s.is_empty() {
            return Err(Error::NameEmpty);
        }
        let invalid = || Error::InvalidFormat {
            reference: s.to_owned(),
        };
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9')) {
            return Err(Error::HexName {
                reference: s.to_owned(),
            });
        }
        // Split off the digest, then the tag (a ':' after the last '/').
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid());
        }
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(invalid());
            }
        }
        let (registry, path) = split_domain(name);
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Error::Uppercase {
                reference: s.to_owned(),
            });
        }
        if !is_domain(registry) || !path.split('/').all(is_path_component) {
            return Err(invalid());
        }
        let (registry, repository) = normalize(registry, path);
        let name_bytes = registry.len() + 1 + repository.len();
        if name_bytes > MAX_NAME_BYTES {
            return Err(Error::NameTooLong {
                reference: s.to_owned(),
                bytes: name_bytes,
            });
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry as users name it (`docker.io`, `ghcr.io`, `host:5000`, `[::1]:5000`).
    pub(crate) fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) whose `/v2/` API serves this registry:
    /// `registry-1.docker.io` for Docker Hub, the registry otherwise.
    pub(crate) fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The repository path (`library/ubuntu`, `kpt-fn/set-namespace`).
    pub(crate) fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when one was given (the tests' view: requests use
    /// [`manifest_reference`](Self::manifest_reference)).
    #[cfg(test)]
    pub(crate) fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned digest, when one was given.
    pub(crate) fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/`: the digest when pinned (it wins over
    /// a tag), else the tag, else `latest`.
    pub(crate) fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Digest {
    /// Parses `algorithm:hex` (sha256 or sha512, lower-case hex of the right length).
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why| Error::InvalidDigest {
            digest: s.to_owned(),
            why,
        };
        let (algorithm, hex) = s.split_once(':').ok_or_else(|| bad("no algorithm"))?;
        let (algorithm, len) = match algorithm {
            "sha256" => (Algorithm::Sha256, 64),
            "sha512" => (Algorithm::Sha512, 128),
            _ => return Err(bad("unsupported digest algorithm")),
        };
        if hex.len() != len {
            return Err(bad("invalid checksum digest length"));
        }
        if !hex.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9')) {
            return Err(bad("invalid checksum digest format"));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes` with `algorithm`.
    pub(crate) fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let alg = match algorithm {
            Algorithm::Sha256 => &ring::digest::SHA256,
            Algorithm::Sha512 => &ring::digest::SHA512,
        };
        let sum = ring::digest::digest(alg, bytes);
        let hex = sum.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self { algorithm, hex }
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::of(Algorithm::Sha256, bytes)
    }

    /// The hex digits after the algorithm (lower case).
    pub(crate) fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.algorithm {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        };
        write!(f, "{alg}:{}", self.hex)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLong { bytes } => write!(
                f,
                "invalid image reference: {bytes} bytes > limit {MAX_REFERENCE_BYTES}"
            ),
            Error::NameEmpty => f.write_str("invalid image reference: repository name must have at least one component"),
            Error::InvalidFormat { reference } => {
                write!(f, "invalid image reference {reference:?}: invalid reference format")
            }
            Error::Uppercase { reference } => write!(
                f,
                "invalid image reference {reference:?}: repository name must be lowercase"
            ),
            Error::NameTooLong { reference, bytes } => write!(
                f,
                "invalid image reference {reference:?}: repository name is {bytes} bytes, must not be more than {MAX_NAME_BYTES}"
            ),
            Error::HexName { reference } => write!(
                f,
                "invalid image reference {reference:?}: cannot specify 64-byte hexadecimal strings"
            ),
            Error::InvalidDigest { digest, why } => {
                write!(f, "invalid image reference: digest {digest:?}: {why}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `splitDockerDomain`: the first part is a domain only if it contains `.`
/// or `:`, is `localhost`, or is not all lower-case.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn normalize(registry: &str, path: &str) -> (String, String) {
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    (registry.to_owned(), repository)
}

/// `domain := host [':' port]`, host a domain name, IPv4 or `[IPv6]`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", port),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, port),
            None => (domain, "0"),
        }
    };
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    port_ok && !host.is_empty() && host.split('.').all(is_domain_component)
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        }
        _ => false,
    }
}

/// `alpha-numeric [separator alpha-numeric]*` with separators `.`, `_`,
/// `__`, or any run of `-`.
fn is_path_component(c: &str) -> bool {
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < b.len() {
        if is_alnum(b[i]) {
            while i < b.len() && is_alnum(b[i]) {
                i += 1;
            }
            expect_alnum = false;
            continue;
        }
        if expect_alnum {
            return false;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
        expect_alnum = true;
    }
    !expect_alnum
}

fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `localhost`, `127.0.0.0/8` or `::1`, with or without a port: where
/// plain HTTP is allowed without the TLS flag (compat §5.4).
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry.split(':').next().unwrap_or_default()
    };
    if host == "localhost" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// (input, registry, repository, tag, digest) for references that parse;
    /// taken from docker/distribution's reference_test.go and normalize_test.go.
    fn valid() -> Vec<(
        String,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
    )> {
        let d = format!("@sha256:{HEX64}");
        vec![
            (
                "test_com".into(),
                "docker.io",
                "library/test_com",
                None,
                false,
            ),
            (
                "test.com:tag".into(),
                "docker.io",
                "library/test.com",
                Some("tag"),
                false,
            ),
            (
                "test.com:5000".into(),
                "docker.io",
                "library/test.com",
                Some("5000"),
                false,
            ),
            (
                "test.com/repo:tag".into(),
                "test.com",
                "repo",
                Some("tag"),
                false,
            ),
            ("test:5000/repo".into(), "test:5000", "repo", None, false),
            (
                "test:5000/repo:tag".into(),
                "test:5000",
                "repo",
                Some("tag"),
                false,
            ),
            (
                format!("test:5000/repo{d}"),
                "test:5000",
                "repo",
                None,
                true,
            ),
            (
                format!("test:5000/repo:tag{d}"),
                "test:5000",
                "repo",
                Some("tag"),
                true,
            ),
            (
                "lowercase:Uppercase".into(),
                "docker.io",
                "library/lowercase",
                Some("Uppercase"),
                false,
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux".into(),
                "sub-dom1.foo.com",
                "bar/baz/quux",
                None,
                false,
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
                false,
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
                false,
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                "xn--n3h.com",
                "myimage",
                Some("xn--n3h.com"),
                false,
            ),
            (
                "foo_bar.com:8080".into(),
                "docker.io",
                "library/foo_bar.com",
                Some("8080"),
                false,
            ),
            (
                "foo/foo_bar.com:8080".into(),
                "docker.io",
                "foo/foo_bar.com",
                Some("8080"),
                false,
            ),
            (
                "192.168.1.1".into(),
                "docker.io",
                "library/192.168.1.1",
                None,
                false,
            ),
            (
                "192.168.1.1:tag".into(),
                "docker.io",
                "library/192.168.1.1",
                Some("tag"),
                false,
            ),
            (
                "192.168.1.1:5000".into(),
                "docker.io",
                "library/192.168.1.1",
                Some("5000"),
                false,
            ),
            (
                "192.168.1.1/repo".into(),
                "192.168.1.1",
                "repo",
                None,
                false,
            ),
            (
                "192.168.1.1:5000/repo".into(),
                "192.168.1.1:5000",
                "repo",
                None,
                false,
            ),
            (
                "[2001:db8::1]/repo".into(),
                "[2001:db8::1]",
                "repo",
                None,
                false,
            ),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                "[2001:db8:1:2:3:4:5:6]",
                "repo",
                Some("tag"),
                false,
            ),
            (
                "[2001:db8::1]:5000/repo".into(),
                "[2001:db8::1]:5000",
                "repo",
                None,
                false,
            ),
            (
                "[2001:db8::1]:5000/repo:tag".into(),
                "[2001:db8::1]:5000",
                "repo",
                Some("tag"),
                false,
            ),
            (
                format!("[2001:db8::1]:5000/repo{d}"),
                "[2001:db8::1]:5000",
                "repo",
                None,
                true,
            ),
            (
                format!("[2001:db8::1]:5000/repo:tag{d}"),
                "[2001:db8::1]:5000",
                "repo",
                Some("tag"),
                true,
            ),
            (
                "[2001:db8::]:5000/repo".into(),
                "[2001:db8::]:5000",
                "repo",
                None,
                false,
            ),
            ("[::1]:5000/repo".into(), "[::1]:5000", "repo", None, false),
            ("localhost/repo".into(), "localhost", "repo", None, false),
            (
                "localhost:5000/repo".into(),
                "localhost:5000",
                "repo",
                None,
                false,
            ),
            ("ubuntu".into(), "docker.io", "library/ubuntu", None, false),
            (
                "docker.io/library/ubuntu".into(),
                "docker.io",
                "library/ubuntu",
                None,
                false,
            ),
            (
                "docker.io/ubuntu".into(),
                "docker.io",
                "library/ubuntu",
                None,
                false,
            ),
            (
                "index.docker.io/foo/bar".into(),
                "docker.io",
                "foo/bar",
                None,
                false,
            ),
            (
                "gcr.io/kpt-fn/set-namespace:v0.4.1".into(),
                "gcr.io",
                "kpt-fn/set-namespace",
                Some("v0.4.1"),
                false,
            ),
            (
                "ghcr.io/private-registry/set-namespace:customv2".into(),
                "ghcr.io",
                "private-registry/set-namespace",
                Some("customv2"),
                false,
            ),
            (
                "a/b__c/d-----e/f.g".into(),
                "docker.io",
                "a/b__c/d-----e/f.g",
                None,
                false,
            ),
        ]
    }

    #[test]
    fn parses_distribution_examples() {
        for (input, registry, repository, tag, has_digest) in valid() {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.repository(), repository, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().is_some(), has_digest, "{input}");
        }
    }

    #[test]
    fn rejects_distribution_invalid_examples() {
        let cases = [
            String::new(),
            ":justtag".into(),
            format!("@sha256:{HEX64}"),
            "repo@sha256:fffffffffffffffffffffffffffffffffff".into(),
            format!("validname@invaliddigest:{HEX64}"),
            "Uppercase:tag".into(),
            "test:5000/Uppercase/lowercase:tag".into(),
            "aa/asdf$$^/aa".into(),
            "[2001:db8::1]".into(),
            "[2001:db8::1]:5000".into(),
            "[2001:db8::1]:tag".into(),
            "[fe80::1%eth0]:5000/repo".into(),
            "[fe80::1%@invalidzone]:5000/repo".into(),
            HEX64.into(),
            format!("{}a:tag", "a/".repeat(128)),
            "repo:".into(),
            "repo:-tag".into(),
            "a//b".into(),
            "a/b_".into(),
            "a/b___c".into(),
            format!("repo@sha256:{}", HEX64.to_uppercase()),
            format!("repo:{}", "t".repeat(129)),
        ];
        for input in cases {
            assert!(Reference::parse(&input).is_err(), "{input:?} parsed");
        }
    }

    #[test]
    fn uppercase_error_says_so() {
        let err = Reference::parse("test:5000/Uppercase/lowercase:tag").unwrap_err();
        assert!(err.to_string().contains("must be lowercase"), "{err}");
        let err = Reference::parse("Uppercase:tag").unwrap_err();
        assert!(err.to_string().contains("must be lowercase"), "{err}");
    }

    #[test]
    fn name_length_limit_is_255() {
        // docker.io/ is 10 bytes: a repository of 245 bytes is exactly 255.
        let ok = format!("docker.io/a/{}", "b".repeat(243));
        assert!(Reference::parse(&ok).is_ok());
        let too_long = format!("docker.io/a/{}", "b".repeat(244));
        assert!(matches!(
            Reference::parse(&too_long),
            Err(Error::NameTooLong { .. })
        ));
    }

    #[test]
    fn digest_wins_over_tag_and_latest_is_default() {
        let r = Reference::parse(&format!("reg:5000/a:tag@sha256:{HEX64}")).unwrap();
        assert_eq!(r.manifest_reference(), format!("sha256:{HEX64}"));
        assert_eq!(
            Reference::parse("a").unwrap().manifest_reference(),
            "latest"
        );
        assert_eq!(Reference::parse("a:v1").unwrap().manifest_reference(), "v1");
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        assert_eq!(
            Reference::parse("ubuntu").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(
            Reference::parse("ghcr.io/a/b").unwrap().api_host(),
            "ghcr.io"
        );
    }

    #[test]
    fn accepts_sha512_digests() {
        let r = Reference::parse(&format!(
            "xn--7o8h.com/myimage:xn--7o8h.com@sha512:{HEX64}{HEX64}"
        ))
        .unwrap();
        assert_eq!(r.digest().unwrap().algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn knows_loopback_registries() {
        for host in [
            "localhost/a",
            "localhost:5000/a",
            "127.0.0.1:5000/a",
            "127.1.2.3/a",
            "[::1]:5000/a",
        ] {
            assert!(
                is_loopback_host(Reference::parse(host).unwrap().registry()),
                "{host}"
            );
        }
        for host in [
            "ghcr.io/a",
            "10.0.0.1:5000/a",
            "[2001:db8::1]:5000/a",
            "localhost.example.com/a",
        ] {
            assert!(
                !is_loopback_host(Reference::parse(host).unwrap().registry()),
                "{host}"
            );
        }
    }

    #[test]
    fn every_prefix_parses_or_errors_without_panic() {
        for (input, ..) in valid() {
            for end in 0..=input.len() {
                if input.is_char_boundary(end) {
                    let _ = Reference::parse(&input[..end]);
                }
            }
        }
        for odd in [
            "@", ":", "/", "[", "[]", "[:", "a@", "a:@", "a/:", "[::1", "[::1]:", "a//", "é", "a/é",
        ] {
            assert!(Reference::parse(odd).is_err(), "{odd}");
        }
    }

    #[test]
    fn reference_length_limit_at_n_and_n_plus_1() {
        let tag = "t".repeat(128);
        let digest = format!("@sha512:{HEX64}{HEX64}");
        let head = format!(":{tag}{digest}");
        let at_limit = format!("{}{}", "a".repeat(MAX_REFERENCE_BYTES - head.len()), head);
        assert_eq!(at_limit.len(), MAX_REFERENCE_BYTES);
        assert!(!matches!(
            Reference::parse(&at_limit),
            Err(Error::TooLong { .. })
        ));
        let over = format!("a{at_limit}");
        assert!(matches!(
            Reference::parse(&over),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
