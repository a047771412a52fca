//! Signing in with an identity the user already has: upstream OpenID Connect providers (Google,
//! Microsoft Entra ID, Okta, Auth0, Logto, Keycloak, any provider with discovery) and GitHub's
//! OAuth, beside or instead of the portal's passwords.
//!
//! The round trip, in the order it runs (its handlers, `sign_in`, drive it):
//! 1. `POST /login/provider/{id}` (a button on the sign-in page, CSRF-checked) seals a [`Flow`]
//!    into a short-lived cookie: the `state`, the OIDC `nonce`, the PKCE verifier and where to go
//!    after (the pending `/authorize` request, kept whole), then redirects to the provider;
//! 2. `GET /login/provider/{id}/callback` opens the cookie, checks `state` (and `iss`, RFC 9207),
//!    exchanges the code with the verifier, and verifies what came back: the ID token against the
//!    provider's JWKS ([`oidc`]), or GitHub's user and verified primary email ([`github`]);
//! 3. [`accounts::resolve`] decides whose account this is: found by (provider, subject), never by
//!    email alone; linked to an existing account by email only when the provider says the email
//!    is verified and the user proves the account; otherwise provisioned just in time with the
//!    provider's roles.
//!
//! `mod.rs`, [`accounts`], [`flow`], [`github`], [`oidc`] and [`tokens`] are pure; the fetches are
//! the [`crate::ports::Upstream`] port's. The handlers that perform them are endpoints
//! (`docs/architecture.md`, "Layers"): [`sign_in`] starts a sign-in, [`callback`] takes the
//! provider's answer, [`finish`] signs the user in to their account, [`link`] links one by
//! its password.

pub mod accounts;
pub mod callback;
pub mod finish;
pub mod flow;
pub mod github;
pub mod link;
pub mod oidc;
pub mod sign_in;
pub mod tokens;

use url::Url;

use crate::primitives::secret::Secret;

/// How long a started sign-in may take at the provider before it must start again.
pub const FLOW_TTL_SECS: i64 = 600;
/// Clock skew tolerated on an ID token's `exp`, `iat` and `nbf`.
pub const ID_TOKEN_LEEWAY_SECS: i64 = 60;
/// An ID token issued longer ago than this is refused even if it has not expired: it was issued
/// for this sign-in, moments ago.
pub const ID_TOKEN_MAX_AGE_SECS: i64 = 600;
/// The deadline of each call to a provider (discovery, token, JWKS, user info).
pub const UPSTREAM_TIMEOUT_MS: u64 = 5_000;
/// The largest provider response read (a discovery document is a few KiB; a JWKS less).
pub const MAX_UPSTREAM_RESPONSE_BYTES: usize = 64 * 1024;

/// A provider the deployment trusts, as configured (`IDENTITY_PROVIDERS`).
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    /// Lower-case letters, digits and `-`: in the callback path and in stored identities.
    pub id: String,
    /// What the sign-in button says ("Continue with {name}").
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    /// The scopes asked of the provider.
    pub scopes: Vec<String>,
    pub provisioning: Provisioning,
    /// Whether an identity whose verified email is an existing user's may be linked to that user
    /// once they prove the account (their password).
    pub link_by_email: bool,
    /// Whether the user's access and refresh tokens at the provider are kept (encrypted with
    /// `UPSTREAM_TOKEN_KEY`) for the routes that forward them to the origin.
    pub keep_tokens: bool,
}

/// The AES-256-GCM key upstream tokens are sealed with at rest (`UPSTREAM_TOKEN_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey(pub [u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints and keys from `{issuer}/.well-known/openid-configuration`.
    /// `allowed_tenants` limits an Entra `{tenantid}` issuer to these tenants (empty: any).
    Oidc {
        issuer: String,
        allowed_tenants: Vec<String>,
    },
    /// GitHub's OAuth apps (or GitHub Enterprise Server): the user from its REST API.
    GitHub {
        authorization_endpoint: String,
        token_endpoint: String,
        api_base_url: String,
    },
}

/// How the gateway authenticates to the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-encoded, then Basic).
    Basic,
    /// `client_secret_post`: in the form body.
    Post,
}

/// Who may be given an account at first sign-in, and with which roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// Whether users the gateway does not know yet get an account (otherwise only identities
    /// already linked, or linked by email, sign in).
    pub enabled: bool,
    /// When not empty, only verified emails in these domains are provisioned.
    pub allowed_domains: Vec<String>,
    /// Roles every provisioned user gets.
    pub default_roles: Vec<String>,
    /// Further roles by the verified email's domain (`acme.com` → `member`).
    pub domain_roles: Vec<(String, Vec<String>)>,
}

impl Provisioning {
    /// The roles a new user with this verified email gets, or `None` when their domain may not
    /// be provisioned.
    pub fn roles_for(&self, email: &str) -> Option<Vec<String>> {
        let domain = email.rsplit_once('@')?.1.to_ascii_lowercase();
        if !self.allowed_domains.is_empty() && !self.allowed_domains.contains(&domain) {
            return None;
        }
        let mut roles = self.default_roles.clone();
        for (rule_domain, extra) in &self.domain_roles {
            if *rule_domain == domain {
                roles.extend(extra.iter().cloned());
            }
        }
        roles.sort();
        roles.dedup();
        Some(roles)
    }
}

impl IdentityProvider {
    /// The callback path registered at the provider: one per provider, so a response can only
    /// be taken for the provider it came from (RFC 9700 §4.4.2, mix-up).
    pub fn callback_path(&self) -> String {
        format!("/login/provider/{}/callback", self.id)
    }

    /// The path the sign-in button posts to.
    pub fn start_path(&self) -> String {
        format!("/login/provider/{}", self.id)
    }
}

/// Where a provider may be reached: https on a public host, or http on a loopback host (a local
/// provider in development; a deployed Worker cannot reach loopback at all).
pub fn check_provider_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("{text:?} is not a URL"))?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    match url.scheme() {
        "https" if loopback || crate::address::url_host_is_public(&url) => {}
        "https" => return Err(format!("{text:?} is not on a public host")),
        "http" if loopback => {}
        _ => return Err(format!("{text:?} must use https")),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must have no credentials or fragment"));
    }
    Ok(url)
}

/// What a provider said about the user, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentity {
    /// The provider's stable id for the user (`sub`; GitHub's numeric `id`, never the login).
    pub subject: String,
    /// Lower-cased; empty when the provider gave none.
    pub email: String,
    /// Whether the provider asserts the user controls `email`.
    pub email_verified: bool,
    pub name: String,
}

/// Why a sign-in at a provider did not produce an identity. Each is a page the user reads, with
/// a way back to the sign-in form; [`UpstreamError::message`] is what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The provider answered the authorization with an error (`access_denied`, …).
    Refused { error: String, description: String },
    /// The sign-in cookie is missing, expired, or belongs to another attempt.
    FlowExpired,
    /// `state` or `iss` do not match the attempt: a forged or crossed response.
    Mismatch(&'static str),
    /// The provider could not be reached, or answered out of protocol.
    Unavailable(String),
    /// The ID token or the user information failed a check.
    Invalid(String),
}

impl UpstreamError {
    /// The user-facing text (never a token, a code or a secret).
    pub fn message(&self, provider: &str) -> String {
        match self {
            UpstreamError::Refused { error, .. } if error == "access_denied" => format!(
                "Sign-in with {provider} was cancelled or refused. You can try again or sign in another way."
            ),
            UpstreamError::Refused { error, .. } => format!(
                "{provider} could not sign you in ({error}). You can try again or sign in another way."
            ),
            UpstreamError::FlowExpired => {
                "This sign-in took too long or was started in another window. Start again.".into()
            }
            UpstreamError::Mismatch(_) => format!(
                "The answer from {provider} does not belong to the sign-in started here. Start again."
            ),
            UpstreamError::Unavailable(_) => format!(
                "{provider} did not answer in time. Try again in a moment, or sign in another way."
            ),
            UpstreamError::Invalid(_) => format!(
                "{provider} sent an answer that could not be verified. Start again, or sign in another way."
            ),
        }
    }

    /// The reason for the log (never a secret).
    pub fn reason(&self) -> String {
        match self {
            UpstreamError::Refused { error, description } => {
                format!("refused: {error} {description}")
            }
            UpstreamError::FlowExpired => "flow expired or missing".into(),
            UpstreamError::Mismatch(what) => format!("mismatch: {what}"),
            UpstreamError::Unavailable(why) => format!("unavailable: {why}"),
            UpstreamError::Invalid(why) => format!("invalid: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_the_defaults_and_the_domain() {
        let p = Provisioning {
            enabled: true,
            allowed_domains: vec![],
            default_roles: vec!["viewer".into()],
            domain_roles: vec![("acme.com".into(), vec!["member".into(), "viewer".into()])],
        };
        assert_eq!(p.roles_for("a@acme.com").unwrap(), ["member", "viewer"]);
        assert_eq!(p.roles_for("a@ACME.com").unwrap(), ["member", "viewer"]);
        assert_eq!(p.roles_for("a@sub.acme.com").unwrap(), ["viewer"]);
        assert_eq!(p.roles_for("a@evilacme.com").unwrap(), ["viewer"]);
        assert_eq!(p.roles_for("no-at-sign"), None);
        let only = Provisioning {
            allowed_domains: vec!["acme.com".into()],
            ..p
        };
        assert!(only.roles_for("a@acme.com").is_some());
        assert_eq!(only.roles_for("a@other.com"), None);
    }

    #[test]
    fn provider_urls_are_https_on_public_hosts_or_http_on_loopback() {
        assert!(check_provider_url("https://accounts.google.com").is_ok());
        assert!(check_provider_url("http://127.0.0.1:9400").is_ok());
        assert!(check_provider_url("http://localhost:9400/x").is_ok());
        assert_eq!(
            check_provider_url("http://accounts.google.com")
                .err()
                .as_deref(),
            Some("\"http://accounts.google.com\" must use https")
        );
        assert_eq!(
            check_provider_url("https://10.0.0.1/").err().as_deref(),
            Some("\"https://10.0.0.1/\" is not on a public host")
        );
        assert_eq!(
            check_provider_url("https://user:pw@idp.example.com/")
                .err()
                .as_deref(),
            Some("\"https://user:pw@idp.example.com/\" must have no credentials or fragment")
        );
        assert_eq!(
            check_provider_url("ftp://idp.example.com/")
                .err()
                .as_deref(),
            Some("\"ftp://idp.example.com/\" must use https")
        );
        assert_eq!(
            check_provider_url("not a url").err().as_deref(),
            Some("\"not a url\" is not a URL")
        );
    }
}
