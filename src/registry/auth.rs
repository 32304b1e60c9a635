//! Registry authentication without I/O: the `WWW-Authenticate` challenge
//! (RFC 7235 §4.1, as the distribution token spec uses it), the token
//! server's answer, and the token cache.
//!
//! `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`
//! makes the client fetch a token from `realm` with `service` and `scope`
//! (docker token spec); `Basic realm="..."` makes it send the credentials
//! directly. Tokens are cached per (registry, scope) until `expires_in`
//! (default, and minimum, 60 s per the token spec) runs out.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The token spec's default and minimum token lifetime.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire, so a request does not
/// race the expiry.
pub(crate) const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// Largest token-server answer we read (tokens are a few KiB).
pub(crate) const MAX_TOKEN_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Most cached tokens; the cache is cleared when it would grow past this.
pub(crate) const MAX_CACHED_TOKENS: usize = 1024;

/// What a 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic`: send `Authorization: Basic base64(user:pass)`.
    Basic,
    /// `Bearer`: fetch a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the first challenge we understand from `WWW-Authenticate`
    /// header values; `None` when there is none.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        for value in values {
            let value = value.trim();
            let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                return Some(Challenge::Basic);
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                let params = parse_params(params);
                let get = |k: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.clone())
                };
                if let Some(realm) = get("realm") {
                    return Some(Challenge::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                    });
                }
            }
        }
        None
    }
}

/// `key=value` or `key="quoted \"value\""`, comma separated.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

/// A bearer token and when it stops being usable.
#[derive(Clone)]
pub(crate) struct Token {
    value: String,
    valid_until: Instant,
}

impl Token {
    /// A token valid for `lifetime` from `now`, less [`TOKEN_EXPIRY_MARGIN`].
    pub(crate) fn new(value: String, lifetime: Duration, now: Instant) -> Self {
        let lifetime = lifetime.max(DEFAULT_TOKEN_LIFETIME);
        Self {
            value,
            valid_until: now + lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN),
        }
    }

    /// The token text, for the `Authorization: Bearer` header only.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }
}

/// Never prints the token.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted>, valid until {:?})", self.valid_until)
    }
}

/// Parses a token server's JSON answer: `token` or `access_token`, and
/// `expires_in` seconds. `None` when neither token field is there.
pub(crate) fn parse_token_response(body: &[u8], now: Instant) -> Option<Token> {
    #[derive(serde::Deserialize)]
    struct Raw {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let raw: Raw = serde_json::from_slice(body).ok()?;
    let value = raw
        .token
        .filter(|t| !t.is_empty())
        .or(raw.access_token.filter(|t| !t.is_empty()))?;
    let lifetime = raw
        .expires_in
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    Some(Token::new(value, lifetime, now))
}

/// Bearer tokens by (registry, scope), until they expire.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), Token>>,
}

impl TokenCache {
    /// The cached token for (registry, scope), if still valid at `now`.
    pub(crate) fn get(&self, registry: &str, scope: &str, now: Instant) -> Option<Token> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let key = (registry.to_owned(), scope.to_owned());
        match tokens.get(&key) {
            Some(token) if token.valid_until > now => Some(token.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Stores a token.
    pub(crate) fn put(&self, registry: &str, scope: &str, token: Token) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        tokens.insert((registry.to_owned(), scope.to_owned()), token);
    }

    /// Forgets one token (the registry refused it).
    pub(crate) fn remove(&self, registry: &str, scope: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(&(registry.to_owned(), scope.to_owned()));
    }

    /// Forgets every token (the credentials changed).
    pub(crate) fn clear(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = Challenge::parse([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        ]);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            })
        );
    }

    #[test]
    fn parses_basic_and_unquoted_and_escaped() {
        assert_eq!(
            Challenge::parse([r#"Basic realm="basic-realm""#]),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse([r#"bearer realm=http://a/t, service="s\"x""#]),
            Some(Challenge::Bearer {
                realm: "http://a/t".into(),
                service: Some("s\"x".into()),
                scope: None
            })
        );
        assert_eq!(Challenge::parse(["Negotiate", "Bearer service=x"]), None);
        assert_eq!(Challenge::parse([""]), None);
    }

    #[test]
    fn token_response_fields_and_lifetimes() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value(), "abc");
        assert_eq!(t.valid_until, now + Duration::from_secs(295));
        let t = parse_token_response(br#"{"access_token":"x"}"#, now).unwrap();
        assert_eq!(t.valid_until, now + Duration::from_secs(55));
        let t = parse_token_response(br#"{"token":"x","expires_in":1}"#, now).unwrap();
        assert_eq!(t.valid_until, now + Duration::from_secs(55), "minimum 60 s");
        assert!(parse_token_response(br#"{"token":""}"#, now).is_none());
        assert!(parse_token_response(b"nope", now).is_none());
    }

    #[test]
    fn every_prefix_of_a_challenge_parses_without_panic() {
        let full = r#"Bearer realm="https://a/t",service="s\"x",scope="repository:a/b:pull""#;
        for end in 0..=full.len() {
            let _ = Challenge::parse([&full[..end]]);
        }
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = parse_token_response(br#"{"token":"secret-token-value"}"#, Instant::now()).unwrap();
        assert!(!format!("{t:?}").contains("secret-token-value"));
    }

    #[test]
    fn cache_expires_and_keys_by_scope() {
        let cache = TokenCache::default();
        let now = Instant::now();
        cache.put(
            "r",
            "s1",
            Token::new("t".into(), Duration::from_secs(60), now),
        );
        assert!(cache.get("r", "s1", now).is_some());
        assert!(cache.get("r", "s2", now).is_none());
        assert!(cache.get("other", "s1", now).is_none());
        assert!(cache
            .get("r", "s1", now + Duration::from_secs(56))
            .is_none());
        assert!(
            cache.get("r", "s1", now).is_none(),
            "expired entry was dropped"
        );
    }
}
