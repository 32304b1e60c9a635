//! Redirect targets: which answers are redirects, and where a `Location`
//! header points (absolute, scheme-relative, absolute-path or relative
//! reference, RFC 3986 §5.2 for the forms registries and object stores
//! use). No I/O: the client decides what a target gets.
//!
//! A target on the registry's own origin (scheme, host and port) is the
//! registry; any other origin is another host, which climbs its own ladder
//! and never gets the registry's `Authorization` header (http.rs).

/// Longest `Location` we follow. Pre-signed object-storage URLs run to a
/// couple of KiB; 16 KiB is our own bound.
pub(crate) const MAX_LOCATION_BYTES: usize = 16 * 1024;

/// Whether `status` is a redirect that names its target in `Location`.
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// An http(s) URL split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `http` or `https`.
    pub(super) scheme: &'static str,
    /// `host[:port]` (no user info).
    pub(super) host: String,
    /// Path and query, starting with `/`; no fragment.
    pub(super) path: String,
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL.
    pub(super) fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // User info is never sent anywhere.
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return None;
        }
        let path = match &rest[end..] {
            p if p.starts_with('/') => p.to_owned(),
            p => format!("/{p}"),
        };
        Some(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            path: strip_fragment(&path).to_owned(),
        })
    }

    /// Where `location` points, seen from this target; `None` for a value
    /// that is empty, too long, holds control characters or names another
    /// scheme.
    pub(super) fn join(&self, location: &str) -> Option<Self> {
        let location = location.trim();
        if location.is_empty()
            || location.len() > MAX_LOCATION_BYTES
            || location.chars().any(|c| c.is_control() || c == ' ')
        {
            return None;
        }
        if location.contains("://") && !location.starts_with('/') {
            return Self::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Self::parse(&format!("{}://{rest}", self.scheme));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else if location.starts_with('?') {
            let base = self.path.split('?').next().unwrap_or("/");
            format!("{base}{location}")
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Some(Self {
            scheme: self.scheme,
            host: self.host.clone(),
            path: strip_fragment(&path).to_owned(),
        })
    }

    /// Whether `other` is on the same origin (scheme, host and port).
    pub(super) fn same_origin(&self, other: &Self) -> bool {
        self.scheme == other.scheme && self.host == other.host
    }

    /// The URL for a request.
    pub(super) fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }

    /// The URL without its query, for messages (a pre-signed URL's query
    /// is a credential).
    pub(super) fn display(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{}://{}{path}", self.scheme, self.host)
    }
}

fn strip_fragment(path: &str) -> &str {
    path.split('#').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Target {
        Target::parse("https://reg.example:5000/v2/a/b/blobs/sha256:1?x=1").unwrap()
    }

    #[test]
    fn redirect_statuses() {
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(s));
        }
        for s in [200, 304, 305, 401, 404] {
            assert!(!is_redirect(s));
        }
    }

    #[test]
    fn absolute_locations_name_another_origin() {
        let t = base()
            .join("https://user:pw@Bucket.S3.example/obj?X-Amz-Signature=s#frag")
            .unwrap();
        assert_eq!(t.host, "bucket.s3.example");
        assert_eq!(t.path, "/obj?X-Amz-Signature=s");
        assert!(!t.same_origin(&base()));
        assert_eq!(t.display(), "https://bucket.s3.example/obj");
        assert_eq!(
            base().join("http://127.0.0.1:9000").unwrap().url(),
            "http://127.0.0.1:9000/"
        );
        assert!(!base()
            .join("http://reg.example:5000/x")
            .unwrap()
            .same_origin(&base()));
    }

    #[test]
    fn relative_locations_stay_on_the_origin() {
        let b = base();
        let t = b.join("/storage/x").unwrap();
        assert!(t.same_origin(&b));
        assert_eq!(t.path, "/storage/x");
        assert_eq!(b.join("other").unwrap().path, "/v2/a/b/blobs/other");
        assert_eq!(b.join("?y=2").unwrap().path, "/v2/a/b/blobs/sha256:1?y=2");
        let t = b.join("//cdn.example/x").unwrap();
        assert_eq!((t.scheme, t.host.as_str()), ("https", "cdn.example"));
    }

    #[test]
    fn unusable_locations_are_refused() {
        let b = base();
        for bad in [
            "",
            "ftp://x/y",
            "https:///nohost",
            "/a b",
            "/a\r\nX-Injected: 1",
        ] {
            assert!(b.join(bad).is_none(), "{bad:?}");
        }
        assert!(b.join(&"/a".repeat(MAX_LOCATION_BYTES)).is_none());
        assert!(b
            .join(&format!("/{}", "a".repeat(MAX_LOCATION_BYTES - 1)))
            .is_some());
    }
}
