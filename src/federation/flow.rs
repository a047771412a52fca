//! One sign-in at a provider, from the button to the callback: what is sealed into the browser's
//! cookie for the round trip, and the authorization request sent to the provider.
//!
//! The cookie binds the response to the browser that started it (the callback is refused without
//! it: no login CSRF, RFC 9700 §4.7), holds the PKCE verifier and the OIDC nonce, and carries the
//! pending authorization request whole, so the user lands on consent afterwards. It is HMAC-sealed
//! with the session secret, `HttpOnly` and `SameSite=Lax` (the provider's redirect back is a
//! top-level GET, which Lax lets through), lives ten minutes, and is cleared by the callback
//! whatever its outcome. A second sign-in started in another tab replaces it; the first then asks
//! to start again.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{IdentityProvider, FLOW_TTL_SECS};
use crate::oauth::pkce::s256_challenge;
use crate::web::session::{open, seal, SealKey};

/// The cookie's name: `__Host-` where cookies are secure.
pub fn flow_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-portcullis_upstream"
    } else {
        "portcullis_upstream"
    }
}

/// The longest `return_to` carried: it is one cookie's worth with everything else.
pub const MAX_RETURN_TO_BYTES: usize = 2_500;

/// A sign-in under way at a provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    #[serde(rename = "p")]
    pub provider: String,
    /// Sent as `state`; the callback's must equal it.
    #[serde(rename = "s")]
    pub state: String,
    /// Sent as the OIDC `nonce`; the ID token's must equal it.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE verifier; its S256 challenge went to the provider.
    #[serde(rename = "v")]
    pub verifier: String,
    /// Where to go once signed in: an `/authorize?…` request, the account page, or nothing.
    #[serde(rename = "r")]
    pub return_to: String,
    /// Set when a signed-in user links this provider from their account page: the identity is
    /// linked to them, not signed in with.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub link_to: Option<String>,
    #[serde(rename = "e")]
    pub expires_at: i64,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state, nonce and verifier stay out of any printout.
        f.debug_struct("Flow")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("link_to", &self.link_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// A new flow; `random` gives three fresh values of 32 random bytes each (base64url).
    pub fn start(
        provider: &str,
        return_to: &str,
        link_to: Option<String>,
        random: [String; 3],
        now: i64,
    ) -> Flow {
        let [state, nonce, verifier] = random;
        Flow {
            provider: provider.to_string(),
            state,
            nonce,
            verifier,
            return_to: return_to.to_string(),
            link_to,
            expires_at: now + FLOW_TTL_SECS,
        }
    }

    pub fn seal(&self, key: SealKey<'_>) -> String {
        seal(key, "upstream-flow", self)
    }

    /// The flow in the cookie, if it is intact (sealed at this plugin), unexpired and for
    /// `provider`.
    pub fn open(key: SealKey<'_>, cookie: &str, provider: &str, now: i64) -> Option<Flow> {
        let flow: Flow = open(key, "upstream-flow", cookie)?;
        (flow.provider == provider && now < flow.expires_at).then_some(flow)
    }

    /// The provider's authorization URL for this flow: code flow with PKCE (S256), `state`, and
    /// for OpenID Connect the `nonce`.
    pub fn authorization_url(
        &self,
        provider: &IdentityProvider,
        authorization_endpoint: &Url,
        redirect_uri: &str,
        oidc: bool,
    ) -> String {
        let mut url = authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &provider.scopes.join(" "))
                .append_pair("state", &self.state)
                .append_pair("code_challenge", &s256_challenge(&self.verifier))
                .append_pair("code_challenge_method", "S256");
            if oidc {
                q.append_pair("nonce", &self.nonce);
            }
            // Linking: let the user pick the account at the provider, so a browser signed in there
            // as someone else does not link that account unasked.
            if self.link_to.is_some() {
                q.append_pair("prompt", "select_account");
            }
        }
        url.to_string()
    }
}

/// Whether `return_to` is somewhere the portal may send a user after sign-in: a pending
/// authorization request, the account page or the plans page, on this site, printable, and small
/// enough to carry.
pub fn acceptable_return_to(return_to: &str) -> bool {
    (return_to.starts_with("/authorize?")
        || return_to == crate::paths::ACCOUNT_PATH
        || return_to == crate::billing::UPGRADE_PATH
        || return_to.starts_with("/billing/upgrade?")
        || return_to == crate::paths::SECOND_FACTOR_SETUP_PATH
        || return_to.starts_with("/account/second-factor?return_to="))
        && return_to.len() <= MAX_RETURN_TO_BYTES
        && return_to.bytes().all(|b| b.is_ascii_graphic())
}

/// A verified identity whose email is an existing user's, waiting for the user to prove that
/// account (its password) before the two are linked. Sealed into its own short-lived cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLink {
    #[serde(rename = "p")]
    pub provider: String,
    #[serde(rename = "s")]
    pub subject: String,
    #[serde(rename = "m")]
    pub email: String,
    /// The existing user the identity will be linked to.
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "r")]
    pub return_to: String,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The sign-in's upstream tokens, sealed under `UPSTREAM_TOKEN_KEY`, when the provider
    /// keeps them: stored once the account is proven.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<crate::federation::tokens::SealedTokens>,
}

pub fn link_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-portcullis_link"
    } else {
        "portcullis_link"
    }
}

impl PendingLink {
    pub fn seal(&self, key: SealKey<'_>) -> String {
        seal(key, "upstream-link", self)
    }

    /// The pending link in the cookie, if it is intact (sealed at this plugin) and unexpired.
    pub fn open(key: SealKey<'_>, cookie: &str, now: i64) -> Option<PendingLink> {
        let link: PendingLink = open(key, "upstream-link", cookie)?;
        (now < link.expires_at).then_some(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::{ClientAuth, ProviderKind, Provisioning};
    use crate::primitives::secret::Secret;

    const KEY: SealKey<'static> = SealKey::new(
        b"0123456789abcdef0123456789abcdef",
        "https://todo.example.com",
    );
    const NOW: i64 = 1_790_000_000;

    fn provider() -> IdentityProvider {
        IdentityProvider {
            id: "google".into(),
            name: "Google".into(),
            kind: ProviderKind::Oidc {
                issuer: "https://accounts.google.com".into(),
                allowed_tenants: vec![],
            },
            client_id: "cid.apps.googleusercontent.com".into(),
            client_secret: Secret::new("s".into()),
            client_auth: ClientAuth::Basic,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            provisioning: Provisioning::default(),
            link_by_email: true,
            keep_tokens: false,
        }
    }

    fn flow() -> Flow {
        Flow::start(
            "google",
            "/authorize?client_id=x&state=a%20b",
            None,
            [
                "st".into(),
                "no".into(),
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ],
            NOW,
        )
    }

    #[test]
    fn a_flow_opens_only_for_its_provider_with_its_key_until_it_expires() {
        let sealed = flow().seal(KEY);
        assert_eq!(Flow::open(KEY, &sealed, "google", NOW + 10), Some(flow()));
        assert_eq!(Flow::open(KEY, &sealed, "github", NOW + 10), None);
        let another_key = SealKey::new(b"another key", "https://todo.example.com");
        assert_eq!(Flow::open(another_key, &sealed, "google", NOW), None);
        assert_eq!(
            Flow::open(KEY, &sealed, "google", NOW + FLOW_TTL_SECS),
            None
        );
        // A session cookie's MAC does not open as a flow, nor a flow as a pending link.
        assert_eq!(PendingLink::open(KEY, &sealed, NOW), None);
        let mut tampered = sealed.clone();
        tampered.insert(3, 'x');
        assert_eq!(Flow::open(KEY, &tampered, "google", NOW), None);
    }

    #[test]
    fn the_authorization_url_carries_pkce_state_and_nonce() {
        let endpoint = Url::parse("https://accounts.google.com/o/oauth2/v2/auth?hl=en").unwrap();
        let url = flow().authorization_url(
            &provider(),
            &endpoint,
            "https://todo.example.com/login/provider/google/callback",
            true,
        );
        let parsed = Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["hl"], "en", "the endpoint's own query is kept");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid.apps.googleusercontent.com");
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["state"], "st");
        assert_eq!(q["nonce"], "no");
        assert_eq!(q["code_challenge_method"], "S256");
        // RFC 7636 Appendix B.
        assert_eq!(
            q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let github = flow().authorization_url(&provider(), &endpoint, "https://x/cb", false);
        assert!(!github.contains("nonce="));
    }

    #[test]
    fn only_local_return_paths_of_bounded_size_are_carried() {
        assert!(acceptable_return_to("/authorize?client_id=x"));
        assert!(acceptable_return_to("/account"));
        assert!(!acceptable_return_to("https://evil.example/authorize?"));
        assert!(!acceptable_return_to("//evil.example/authorize?"));
        assert!(!acceptable_return_to("/authorize?x=1 2"));
        assert!(!acceptable_return_to(&format!(
            "/authorize?{}",
            "a".repeat(MAX_RETURN_TO_BYTES)
        )));
    }
}
