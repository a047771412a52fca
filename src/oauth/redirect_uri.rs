//! Redirect URIs: which may be registered (RFC 6749 §3.1.2, RFC 8252 §7.3, OAuth 2.1 §2.3.1), and
//! which registered one a request's `redirect_uri` names (OAuth 2.1 §4.1.1: exact match, except
//! the port of a loopback URI of a native app, RFC 8252 §7.3).
//!
//! A code is appended to the URI this module returns, and the browser that follows the redirect
//! reads it with the WHATWG URL rules. So the comparison is made on parsed components (the `url`
//! crate implements the WHATWG parser) and never on strings with a hole cut out: whatever this
//! module accepts, a browser sends to the registered scheme, host and path (and, for anything but
//! a loopback URI, the registered port). `tests/e2e/redirect-uri.test.mjs` holds that property
//! against Node's own `URL` over a generated corpus, and the `redirect_uri` fuzz target against
//! the `url` crate.

use url::{Host, Url};

use crate::oauth::client::{Client, ClientKind};

/// Longest URI accepted in client metadata.
pub const MAX_URI_CHARS: usize = 2000;

/// A redirect URI a client may register: https, or http on a loopback address (RFC 8252 §7.3);
/// absolute, and without fragment, credentials, wildcards, an empty port, or characters the
/// WHATWG parser would silently drop or rewrite (ASCII whitespace and controls, backslashes), so
/// that the string registered is the URI a browser follows.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.chars().count() > MAX_URI_CHARS {
        return Err(format!(
            "a redirect URI is longer than {MAX_URI_CHARS} characters"
        ));
    }
    if uri
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(format!(
            "{uri:?} contains whitespace, control characters or a backslash"
        ));
    }
    let url = Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URI"))?;
    let loopback = is_loopback(&url);
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok
        || url.fragment().is_some()
        || uri.contains(['#', '*'])
        || !url.username().is_empty()
        || url.password().is_some()
        || authority_has_userinfo(uri)
        || url.host_str().is_none()
    {
        return Err(format!(
            "{uri:?} must be https (or http on a loopback address), without fragment, credentials or wildcard"
        ));
    }
    if has_empty_port(uri) {
        return Err(format!("{uri:?} has an empty port"));
    }
    Ok(())
}

/// The redirect URI a request is sent back to, or `None` when it names none of the client's.
///
/// - Without `redirect_uri`, the sole registered URI applies (RFC 6749 §3.1.2.3).
/// - A registered URI matches when the strings are equal; it is returned as registered.
/// - A public client's loopback URI (`http`, host `127.0.0.1`, `[::1]` or `localhost`) also
///   matches on any port (RFC 8252 §7.3), when the requested URI is written the way the WHATWG
///   serializer writes it (so no spelling can move its host), carries no credentials, and its
///   scheme, host, path and query equal the registered URI's.
pub fn resolve_redirect_uri(client: &Client, requested: Option<&str>) -> Option<String> {
    let Some(uri) = requested else {
        return match client.redirect_uris.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        };
    };
    if let Some(registered) = client.redirect_uris.iter().find(|r| *r == uri) {
        return Some(registered.clone());
    }
    if client.kind != ClientKind::Public {
        return None;
    }
    let wanted = canonical_loopback(uri)?;
    client
        .redirect_uris
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|registered| {
            is_loopback(&registered)
                && registered.scheme() == "http"
                && registered.host() == wanted.host()
                && registered.path() == wanted.path()
                && registered.query() == wanted.query()
        })
        .then(|| uri.to_string())
}

/// `uri` parsed, if it is a loopback `http` URI with no credentials or fragment, written exactly
/// as the WHATWG serializer writes it (an empty path may be left out).
fn canonical_loopback(uri: &str) -> Option<Url> {
    if uri.len() > MAX_URI_CHARS {
        return None;
    }
    let url = Url::parse(uri).ok()?;
    let serialized = url.as_str();
    let canonical = serialized == uri
        || (url.path() == "/"
            && url.query().is_none()
            && serialized.strip_suffix('/') == Some(uri));
    let clean = url.scheme() == "http"
        && is_loopback(&url)
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none();
    (canonical && clean).then_some(url)
}

/// The loopback hosts RFC 8252 §7.3 names (and `localhost`, which native apps use too).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// The authority part of `scheme://authority/...` as written.
fn authority(uri: &str) -> Option<&str> {
    let rest = &uri[uri.find("://")? + 3..];
    Some(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
}

/// An `@` in the authority as written: userinfo, even an empty one (`https://@host/`), which the
/// parser accepts and drops.
fn authority_has_userinfo(uri: &str) -> bool {
    authority(uri).is_some_and(|a| a.contains('@'))
}

/// `https://host:/cb`: a `:` after the host with no digits.
fn has_empty_port(uri: &str) -> bool {
    authority(uri).is_some_and(|a| {
        let host_end = if a.starts_with('[') {
            a.find(']').map_or(a.len(), |i| i + 1)
        } else {
            a.find(':').unwrap_or(a.len())
        };
        a[host_end..] == *":"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::ClientOrigin;

    fn client(kind: ClientKind, uris: &[&str]) -> Client {
        Client {
            id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            kind,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        }
    }

    #[test]
    fn a_bent_loopback_authority_does_not_match() {
        // The outside review's finding: `[::1]:` then `@evil.example` is userinfo to a browser.
        let c = client(ClientKind::Public, &["http://[::1]/callback"]);
        for bent in [
            "http://[::1]:@evil.example/callback",
            "http://[::1]:80@evil.example/callback",
            "http://127.0.0.1:@evil.example/callback",
            "http://localhost:@evil.example/callback",
            "http://[::1]@evil.example/callback",
        ] {
            assert_eq!(resolve_redirect_uri(&c, Some(bent)), None, "{bent}");
        }
        let c = client(ClientKind::Public, &["http://127.0.0.1/callback"]);
        assert_eq!(
            resolve_redirect_uri(&c, Some("http://127.0.0.1:@evil.example/callback")),
            None
        );
    }

    #[test]
    fn a_loopback_uri_matches_on_any_digit_port_and_nothing_else() {
        let c = client(
            ClientKind::Public,
            &[
                "http://127.0.0.1/callback",
                "http://[::1]/callback",
                "http://localhost/cb?app=1",
            ],
        );
        for ok in [
            "http://127.0.0.1:53117/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/callback",
            "http://localhost:9000/cb?app=1",
        ] {
            assert_eq!(resolve_redirect_uri(&c, Some(ok)).as_deref(), Some(ok));
        }
        for bad in [
            "http://127.0.0.1:x/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:53117/callback/",
            "http://127.0.0.1:53117/Callback",
            "http://127.0.0.1:53117/callback?x=1",
            "http://127.0.0.1:53117/callback#f",
            "http://127.0.0.1:53117\\@evil.example/callback",
            "http://127.0.0.1:531\t17/callback",
            "HTTP://127.0.0.1:53117/callback",
            "http://127.1:53117/callback",
            "http://0x7f.0.0.1:53117/callback",
            "http://[::ffff:127.0.0.1]:53117/callback",
            "http://[0:0:0:0:0:0:0:1]:53117/callback",
            "http://localhost.:53117/cb?app=1",
            "http://LOCALHOST:53117/cb?app=1",
            "https://127.0.0.1:53117/callback",
            "http://127.0.0.1:53117/%63allback",
            "http://[::1%25eth0]:53117/callback",
            "http://127.0.0.1:99999/callback",
            "http://localhost:9000/cb?app=2",
            "http://[::1]:8080/callback/../callback",
        ] {
            assert_eq!(resolve_redirect_uri(&c, Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn a_loopback_uri_without_a_path_matches_with_or_without_its_slash() {
        let c = client(ClientKind::Public, &["http://127.0.0.1/"]);
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:4000")).is_some());
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:4000/")).is_some());
    }

    #[test]
    fn confidential_clients_get_no_port_relaxation() {
        let c = client(ClientKind::Confidential, &["http://127.0.0.1/callback"]);
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1/callback")).is_some());
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:9/callback")).is_none());
    }

    #[test]
    fn registration_refuses_userinfo_empty_ports_and_rewritten_characters() {
        for bad in [
            "http://[::1]:@evil.example/callback",
            "https://user@app.example.com/cb",
            "https://@app.example.com/cb",
            "https://:@app.example.com/cb",
            "https://app.example.com:/cb",
            "http://[::1]:/cb",
            "https://app.example.com\\@evil.example/cb",
            "https://app.example.com/c\tb",
            "https://app.example.com/c b",
            "https://app.example.com/cb\n",
            "https://app.example.com/cb#",
            "https://*.example.com/cb",
            "http://app.example.com/cb",
            "ftp://app.example.com/cb",
            "/relative/cb",
        ] {
            assert!(matches!(check_redirect_uri(bad).err().as_deref(), Some("\"/relative/cb\" is not an absolute URI" | "\"ftp://app.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"http://[::1]:/cb\" has an empty port" | "\"http://[::1]:@evil.example/callback\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"http://app.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"https://*.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"https://:@app.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"https://@app.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"https://app.example.com/c b\" contains whitespace, control characters or a backslash" | "\"https://app.example.com/c\\tb\" contains whitespace, control characters or a backslash" | "\"https://app.example.com/cb#\" must be https (or http on a loopback address), without fragment, credentials or wildcard" | "\"https://app.example.com/cb\\n\" contains whitespace, control characters or a backslash" | "\"https://app.example.com:/cb\" has an empty port" | "\"https://app.example.com\\\\@evil.example/cb\" contains whitespace, control characters or a backslash" | "\"https://user@app.example.com/cb\" must be https (or http on a loopback address), without fragment, credentials or wildcard")), "{bad}");
        }
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?x=1",
            "https://app.example.com",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
    }
}
