//! OAuth clients: who they are, how they authenticate (RFC 6749 §2.3), where they may be sent back.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::oauth::OAuthError;
use crate::http::Authorization;
use crate::oauth::client_assertion::{parse_client_assertion, PublicJwk, CLIENT_ASSERTION_TYPE};
use crate::oauth::params::{form_decode, Params};
use crate::primitives::hash::sha256_hex;
use crate::primitives::secret::constant_time_eq;

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Confidential,
    Public,
}

/// Who put a client in the registry, which decides how far it is trusted before a user has
/// spoken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOrigin {
    /// Made by an administrator (admin API, console or seed): vetted.
    Admin,
    /// Registered itself through RFC 7591 `/register`.
    Dynamic,
    /// An https `client_id` whose metadata document was fetched.
    MetadataDocument,
}

impl ClientOrigin {
    /// Whether an administrator vetted the client. Anyone can register a redirect URI for the
    /// others, so the authorization server sends a browser to them only after the user has
    /// interacted (RFC 9700 §4.11.2).
    pub fn is_vetted(self) -> bool {
        self == ClientOrigin::Admin
    }
}

/// A registered client, as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// SHA-256 (hex) of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub kind: ClientKind,
    /// First-party clients skip the consent screen.
    pub first_party: bool,
    pub origin: ClientOrigin,
    /// An administrator marked it as a resource server: it may introspect any token of this
    /// deployment (RFC 7662 §4), not only its own.
    pub may_introspect: bool,
    /// Where the keys of a `private_key_jwt` client are (RFC 7523); such a client authenticates
    /// with a signed assertion only, never a secret.
    pub key_set: Option<ClientKeySet>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: the client's tokens are always DPoP-bound, and
    /// its token requests without a proof refused.
    pub dpop_bound: bool,
}

/// The public keys a `private_key_jwt` client signs its assertions with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeySet {
    /// `jwks_uri`: fetched (and refetched on an unknown `kid`, so the client can rotate).
    Uri(String),
    /// `jwks`: given inline at registration.
    Inline(Vec<PublicJwk>),
}

/// How a client presented itself at the token, revocation or introspection endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic`, with the id and secret already percent-decoded (§2.3.1).
    Basic { id: String, secret: String },
    /// `client_secret_post`.
    Post { id: String, secret: String },
    /// `none`: a public client sends only its id.
    None { id: String },
    /// `private_key_jwt` (RFC 7523 §2.2): a signed JWT, verified against the client's keys.
    Assertion { id: String, assertion: String },
}

impl ClientCredentials {
    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::Basic { id, .. }
            | ClientCredentials::Post { id, .. }
            | ClientCredentials::None { id }
            | ClientCredentials::Assertion { id, .. } => id,
        }
    }

    pub fn used_basic(&self) -> bool {
        matches!(self, ClientCredentials::Basic { .. })
    }
}

/// Reads the client's credentials from the `Authorization` header and the body parameters.
/// Using more than one method in a request is refused (RFC 6749 §2.3).
pub fn parse_client_credentials(
    authorization: Option<Authorization<'_>>,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not client_assertion with another",
            ));
        }
        if assertion_type != Some(CLIENT_ASSERTION_TYPE) {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
            )));
        }
        let assertion = assertion
            .filter(|a| !a.is_empty())
            .ok_or_else(|| OAuthError::invalid_client("client_assertion is required"))?;
        // RFC 7523 §3: client_id may be left out; the assertion's subject names the client (and
        // is checked against it once the signature holds).
        let id = match body_id {
            Some(id) => id.to_string(),
            None => parse_client_assertion(assertion)
                .map(|a| a.claims.sub)
                .map_err(|e| e.to_oauth())?,
        };
        return Ok(ClientCredentials::Assertion {
            id,
            assertion: assertion.to_string(),
        });
    }
    if let Some(header) = authorization {
        if !header.is("basic") {
            return Err(OAuthError::invalid_client(
                "only Basic client authentication is accepted in the Authorization header",
            )
            .with_basic_challenge(true));
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not Basic and client_secret together",
            ));
        }
        let malformed = || {
            OAuthError::invalid_client("the Basic credentials are malformed")
                .with_basic_challenge(true)
        };
        let value = header.token68().ok_or_else(malformed)?;
        let decoded = STANDARD.decode(value).map_err(|_| malformed())?;
        let text = String::from_utf8(decoded).map_err(|_| malformed())?;
        let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
        let id = form_decode(id).ok_or_else(malformed)?;
        let secret = form_decode(secret).ok_or_else(malformed)?;
        if id.is_empty() {
            return Err(malformed());
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the authenticated client",
            ));
        }
        return Ok(ClientCredentials::Basic { id, secret });
    }
    let id = body_id
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
        .to_string();
    Ok(match body_secret {
        Some(secret) => ClientCredentials::Post {
            id,
            secret: secret.to_string(),
        },
        None => ClientCredentials::None { id },
    })
}

/// Checks the credentials against the registered client. Confidential clients must prove their
/// secret; public clients must not send one (they cannot keep it).
pub fn authenticate_client(
    client: &Client,
    credentials: &ClientCredentials,
) -> Result<(), OAuthError> {
    let basic = credentials.used_basic();
    let failed =
        || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    if client.key_set.is_some() || matches!(credentials, ClientCredentials::Assertion { .. }) {
        // A private_key_jwt client proves itself with an assertion only, which is checked
        // against its keys by `assertion_auth`; anything else is a failure here.
        return Err(failed());
    }
    match (client.kind, credentials) {
        (ClientKind::Confidential, ClientCredentials::Basic { secret, .. })
        | (ClientKind::Confidential, ClientCredentials::Post { secret, .. }) => {
            let stored = client.secret_hash.as_deref().ok_or_else(failed)?;
            if constant_time_eq(sha256_hex(secret).as_bytes(), stored.as_bytes()) {
                Ok(())
            } else {
                Err(failed())
            }
        }
        (ClientKind::Confidential, ClientCredentials::None { .. })
        | (_, ClientCredentials::Assertion { .. }) => Err(failed()),
        (ClientKind::Public, ClientCredentials::None { .. }) => Ok(()),
        (ClientKind::Public, _) => Err(failed()),
    }
}

/// ChatGPT calls back on `chat.openai.com` or `chatgpt.com` (`/aip/<id>/oauth/callback`),
/// whichever domain the user is on: registering one registers both.
pub fn with_chatgpt_twins(uris: Vec<String>) -> Vec<String> {
    const HOSTS: [&str; 2] = ["https://chat.openai.com/aip/", "https://chatgpt.com/aip/"];
    let mut out = uris.clone();
    for uri in &uris {
        for (i, host) in HOSTS.iter().enumerate() {
            let Some(rest) = uri.strip_prefix(host) else {
                continue;
            };
            let is_callback = rest
                .strip_suffix("/oauth/callback")
                .is_some_and(|id| !id.is_empty() && !id.contains(['/', '?', '#']));
            let twin = format!("{}{rest}", HOSTS[1 - i]);
            if is_callback && !out.contains(&twin) {
                out.push(twin);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::redirect_uri::resolve_redirect_uri;

    fn confidential() -> Client {
        Client {
            id: "chatgpt".into(),
            name: "ChatGPT".into(),
            secret_hash: Some(sha256_hex("s3cret")),
            redirect_uris: vec!["https://chatgpt.com/aip/p/oauth/callback".into()],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        }
    }

    fn public() -> Client {
        Client {
            id: "mcp".into(),
            name: "MCP".into(),
            secret_hash: None,
            redirect_uris: vec![
                "http://127.0.0.1/callback".into(),
                "https://app.example.com/cb".into(),
            ],
            kind: ClientKind::Public,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
    }

    #[test]
    fn basic_credentials_are_percent_decoded() {
        // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
        let header = format!("Basic {}", STANDARD.encode("my%20client:p%40ss%3Aword"));
        let creds =
            parse_client_credentials(Some(Authorization::parse(&header)), &Params::default())
                .unwrap();
        assert_eq!(
            creds,
            ClientCredentials::Basic {
                id: "my client".into(),
                secret: "p@ss:word".into()
            }
        );
    }

    #[test]
    fn basic_and_post_together_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("chatgpt:s3cret"));
        let e = parse_client_credentials(
            Some(Authorization::parse(&header)),
            &params(&[("client_secret", "s3cret")]),
        )
        .unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_request");
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_a_challenge() {
        let e =
            parse_client_credentials(Some(Authorization::parse("Basic !!!")), &Params::default())
                .unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_client");
        assert!(e.basic_challenge);
    }

    #[test]
    fn confidential_clients_authenticate_by_basic_or_post() {
        let c = confidential();
        let basic = ClientCredentials::Basic {
            id: "chatgpt".into(),
            secret: "s3cret".into(),
        };
        let post = ClientCredentials::Post {
            id: "chatgpt".into(),
            secret: "s3cret".into(),
        };
        assert!(authenticate_client(&c, &basic).is_ok());
        assert!(authenticate_client(&c, &post).is_ok());
    }

    #[test]
    fn a_wrong_secret_or_none_fails_for_confidential_clients() {
        let c = confidential();
        let wrong = ClientCredentials::Post {
            id: "chatgpt".into(),
            secret: "nope".into(),
        };
        assert_eq!(
            authenticate_client(&c, &wrong).unwrap_err().code.as_str(),
            "invalid_client"
        );
        let none = ClientCredentials::None {
            id: "chatgpt".into(),
        };
        assert!(
            matches!(authenticate_client(&c, &none), Err(ref e) if e.code == crate::error::oauth::OAuthErrorCode::InvalidClient && e.description == "client authentication failed")
        );
    }

    #[test]
    fn public_clients_send_no_secret() {
        let c = public();
        assert!(authenticate_client(&c, &ClientCredentials::None { id: "mcp".into() }).is_ok());
        let with_secret = ClientCredentials::Post {
            id: "mcp".into(),
            secret: "x".into(),
        };
        assert!(
            matches!(authenticate_client(&c, &with_secret), Err(ref e) if e.code == crate::error::oauth::OAuthErrorCode::InvalidClient && e.description == "client authentication failed")
        );
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = confidential();
        let registered = "https://chatgpt.com/aip/p/oauth/callback";
        assert_eq!(
            resolve_redirect_uri(&c, Some(registered)).as_deref(),
            Some(registered)
        );
        for tampered in [
            "https://chatgpt.com/aip/p/oauth/callback/",
            "https://chatgpt.com/aip/p/oauth/callbackx",
            "https://chatgpt.com/aip/p/oauth",
            "https://CHATGPT.com/aip/p/oauth/callback",
            "https://chatgpt.com:443/aip/p/oauth/callback",
            "https://evil@chatgpt.com/aip/p/oauth/callback",
            "https://chatgpt.com/aip/p/oauth/callback#x",
            "https://chatgpt.com/aip/p/oauth/callback?x=1",
            "https://chatgpt.com.evil.com/aip/p/oauth/callback",
            "https://chatgpt.com/aip/p/oauth/%63allback",
        ] {
            assert_eq!(resolve_redirect_uri(&c, Some(tampered)), None, "{tampered}");
        }
    }

    #[test]
    fn a_bent_loopback_authority_is_not_the_registered_loopback_uri() {
        let mut c = public();
        c.redirect_uris = vec!["http://[::1]/callback".into()];
        assert_eq!(
            resolve_redirect_uri(&c, Some("http://[::1]:@evil.example/callback")),
            None
        );
    }

    #[test]
    fn the_sole_registered_uri_applies_when_none_is_sent() {
        assert!(resolve_redirect_uri(&confidential(), None).is_some());
        assert_eq!(
            resolve_redirect_uri(&public(), None),
            None,
            "two registered: must choose"
        );
    }

    #[test]
    fn public_loopback_uris_match_on_any_port() {
        let c = public();
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:53117/callback")).is_some());
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:53117/other")).is_none());
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:x/callback")).is_none());
        assert!(resolve_redirect_uri(&c, Some("https://app.example.com:8443/cb")).is_none());
        let mut conf = confidential();
        conf.redirect_uris = vec!["http://127.0.0.1/callback".into()];
        assert!(resolve_redirect_uri(&conf, Some("http://127.0.0.1:9/callback")).is_none());
    }

    #[test]
    fn a_chatgpt_callback_brings_its_twin() {
        let one = vec!["https://chat.openai.com/aip/g-abc123/oauth/callback".to_string()];
        assert_eq!(
            with_chatgpt_twins(one),
            vec![
                "https://chat.openai.com/aip/g-abc123/oauth/callback",
                "https://chatgpt.com/aip/g-abc123/oauth/callback"
            ]
        );
        let both = vec![
            "https://chatgpt.com/aip/p/oauth/callback".to_string(),
            "https://chat.openai.com/aip/p/oauth/callback".to_string(),
        ];
        assert_eq!(with_chatgpt_twins(both.clone()), both);
        for other in [
            "https://chatgpt.com/aip/oauth/callback",
            "https://chatgpt.com/aip/a/b/oauth/callback",
            "https://chatgpt.com/other",
            "https://example.com/aip/p/oauth/callback",
        ] {
            assert_eq!(
                with_chatgpt_twins(vec![other.to_string()]).len(),
                1,
                "{other}"
            );
        }
    }
}
