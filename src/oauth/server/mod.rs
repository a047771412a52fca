//! The authorization server: one file per endpoint (`authorize`, `token`, `revoke`, `introspect`,
//! `userinfo`, `register`, `metadata`) and the client authentication they share; the portal's
//! sign-in and account pages are `impl` blocks of the same [`AuthServer`] in `crate::portal`.
//! This file holds what they share: the server's view of one request, sessions and CSRF cookies,
//! and [`serve`], which runs the endpoint the route table chose.
//!
//! Each endpoint parses the request into typed input, decides with the pure modules beside this
//! one, and performs effects only through the [`Backend`] ports, so the whole flow runs natively
//! in `tests/oauth_flow.rs` with in-memory stores and in workerd with D1 and Durable Objects.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::config::{AuthConfig, Config, OAuthSettings};
use crate::error::oauth::OAuthError;
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::jose::signing::SignError;
use crate::oauth::access_token::{
    verify_access_token_with, TokenRejection, VerifiedAccessToken, VerifyPolicy,
};
use crate::oauth::grant_stores::Grants;
use crate::oauth::params::{Params, ParamsError};
use crate::ports::{Backend, ConsentKey, StoreError, User};
use crate::rbac::scope::ScopeContext;
use crate::routes::AuthEndpoint;
use crate::throttle;
use crate::web::pages::{message_page, Brand};
use crate::web::session::{
    cookie_names, is_current, open_session, read_cookie, set_cookie, CookieNames, SealKey, Session,
    SESSION_TTL_SECS,
};

mod authorize;
mod client_auth;
mod exchange;
mod id_jag;
mod introspect;
mod metadata;
mod register;
mod revoke;
mod token;
mod userinfo;

pub use metadata::metadata;

/// One request's view of the authorization server.
pub struct AuthServer<'a, B: Backend> {
    pub config: &'a Config,
    pub settings: &'a OAuthSettings,
    pub backend: &'a B,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

impl<'a, B: Backend> AuthServer<'a, B> {
    pub(crate) fn brand(&self) -> Brand<'a> {
        Brand {
            plugin_name: &self.config.plugin.name_for_human,
            logo_url: &self.config.plugin.logo_url,
        }
    }

    /// The plugin's own names, which no client an administrator did not vet may go by.
    pub(crate) fn plugin_names(&self) -> [&'a str; 2] {
        [
            &self.config.plugin.name_for_human,
            &self.config.plugin.name_for_model,
        ]
    }

    pub(crate) fn issuer(&self) -> &'a str {
        &self.config.public_base_url
    }

    /// An access token JWT of this deployment's keys, issued by `issuer`, for any audience: the
    /// tokens presented back to `/introspect`, `/revoke`, `/userinfo` and the token exchange.
    pub(crate) async fn verify_own_jwt(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<VerifiedAccessToken, TokenRejection> {
        let policy = VerifyPolicy {
            issuer,
            audience: None,
            now: self.now,
        };
        verify_access_token_with(token, &self.config.keys, &policy, self.backend).await
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.config.public_base_url.starts_with("https://")
    }

    pub(crate) fn cookies(&self) -> CookieNames {
        cookie_names(self.secure_cookies())
    }

    /// What this plugin seals sessions, CSRF tokens and the upstream round trip with: the
    /// deployment's session secret, bound to this plugin's issuer.
    pub(crate) fn key(&self) -> SealKey<'a> {
        SealKey::new(
            self.settings.session_secret.expose().as_bytes(),
            self.issuer(),
        )
    }

    /// The key DPoP server nonces are made with: the session secret's bytes, as the proxy's
    /// (`Config::dpop_nonce_key`).
    pub(crate) fn nonce_key(&self) -> &'a [u8] {
        self.settings.session_secret.expose().as_bytes()
    }

    pub(crate) fn default_scope(&self) -> &'a str {
        match &self.config.plugin.auth {
            AuthConfig::OAuth { scope, .. } => scope,
            _ => "",
        }
    }

    /// What the scope decision reads for a user (see [`crate::ports::PolicyStore::scope_context`]), with what
    /// they allowed `client_id` before at this plugin: the resource `indicator` names, else this plugin's own (or
    /// the default one). Every endpoint that resolves a resource for a user reads it here, so
    /// another plugin's resource reads as none: refused as `invalid_target` where one was named
    /// (see [`Self::owned`]).
    pub(crate) async fn user_scope_context(
        &self,
        user_id: &str,
        client_id: Option<&str>,
        indicator: Option<&str>,
    ) -> Result<ScopeContext, StoreError> {
        let consent = client_id.map(|client_id| ConsentKey {
            issuer: self.issuer(),
            client_id,
        });
        let context = self
            .backend
            .scope_context(
                user_id,
                consent,
                indicator,
                &self.config.plugin.resource,
                &self.config.plugin.plan_roles,
            )
            .await?;
        Ok(self.owned(context))
    }

    /// The same for a machine client (`client_credentials`): its own roles on the resource.
    pub(crate) async fn machine_scope_context(
        &self,
        client_id: &str,
        indicator: Option<&str>,
    ) -> Result<ScopeContext, StoreError> {
        let context = self
            .backend
            .client_scope_context(client_id, indicator, &self.config.plugin.resource)
            .await?;
        Ok(self.owned(context))
    }

    /// A context kept to what this plugin issues for: a resource that is another plugin's of the
    /// deployment ([`Config::issues_for`]) is dropped with everything read for it (permissions,
    /// remembered consent), as if it were not registered. The directory's resources are shared
    /// by every plugin; which plugin owns which is configuration.
    fn owned(&self, context: ScopeContext) -> ScopeContext {
        match &context.resource {
            Some(r) if !self.config.issues_for(&r.indicator) => ScopeContext::default(),
            _ => context,
        }
    }

    /// The grant's two stores, changed together (see [`crate::oauth::grant_stores`]).
    pub(crate) fn grants(&self) -> Grants<'_, B, B> {
        Grants::new(self.backend, self.backend)
    }

    pub(crate) fn random_b64(&self, bytes: usize) -> Result<String, StoreError> {
        let mut buf = vec![0u8; bytes];
        self.backend.fill(&mut buf)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    /// The browser's session at this plugin: sealed here (not at a sibling plugin), unexpired,
    /// and made by a way in this plugin offers; anything else is no session at all.
    pub(crate) fn session(&self, head: &RequestHead) -> Option<Session> {
        read_cookie(head, self.cookies().session)
            .and_then(|v| open_session(self.key(), v, self.now))
            .filter(|s| self.config.sign_in.offers(&s.method))
    }

    /// The user a session stands for, if it still does: they exist, are not disabled, and the
    /// session was issued at their current session epoch (see [`is_current`]). Every use of a
    /// session loads this row anyway, so the check costs no round trip.
    pub(crate) async fn session_user(&self, session: &Session) -> Result<Option<User>, StoreError> {
        Ok(self
            .backend
            .find_user(&session.user_id)
            .await?
            .filter(|u| is_current(session, u.session_epoch, u.disabled)))
    }

    /// A `Set-Cookie` that removes the session cookie.
    pub(crate) fn clear_session_cookie(&self) -> String {
        set_cookie(self.cookies().session, "", 0, self.secure_cookies())
    }

    /// The browser's CSRF cookie, and a `Set-Cookie` when it has none yet.
    pub(crate) fn csrf_cookie(
        &self,
        head: &RequestHead,
    ) -> Result<(String, Option<String>), StoreError> {
        match read_cookie(head, self.cookies().csrf) {
            Some(v) if v.len() >= 22 => Ok((v.to_string(), None)),
            _ => {
                let value = self.random_b64(18)?;
                let header = set_cookie(
                    self.cookies().csrf,
                    &value,
                    SESSION_TTL_SECS,
                    self.secure_cookies(),
                );
                Ok((value, Some(header)))
            }
        }
    }

    pub(crate) fn local_error(&self, status: u16, message: &str) -> Reply {
        message_page(status, self.brand(), "Cannot continue", message)
    }
}

/// The content type of a request body, as far as OAuth endpoints care.
pub(crate) fn body_params(head: &RequestHead, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = head
        .single_header("content-type")
        .map_err(|_| OAuthError::invalid_request("send one Content-Type header"))?
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let parsed = match content_type.as_str() {
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
            Params::from_urlencoded(text)
        }
        "application/json" => Params::from_json(body),
        _ => {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded or application/json",
            ))
        }
    };
    parsed.map_err(|e: ParamsError| OAuthError::invalid_request(e.description()))
}

pub(crate) fn token_json(value: &Value) -> Reply {
    Reply::json(200, value)
        .no_store()
        .with_header("pragma", "no-cache")
}

/// The source address throttles count per (see [`throttle::source`]).
pub(crate) fn source(head: &RequestHead) -> String {
    throttle::source(head.client_ip())
}

pub(crate) fn redirect(status: u16, location: &str) -> Reply {
    Reply::new(status)
        .with_header("location", location)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
}

pub(crate) fn with_cookie(reply: Reply, set: Option<String>) -> Reply {
    match set {
        Some(cookie) => reply.with_header("set-cookie", cookie),
        None => reply,
    }
}

pub(crate) fn cors_preflight(allowed: &[&str]) -> Reply {
    Reply::new(204)
        .with_header("access-control-allow-origin", "*")
        .with_header("access-control-allow-methods", allowed.join(", "))
        .with_header(
            "access-control-allow-headers",
            "authorization, content-type, dpop",
        )
        .with_header("access-control-max-age", "86400")
}

/// A token that could not be signed: the platform signer failing is a 503 (it may be retried), a
/// missing key or unserializable claims a 500 (only a deployment change mends it).
pub(crate) fn sign_failure(what: &str, error: SignError) -> ApiError {
    match error {
        SignError::Platform(e) => ApiError::Unavailable(format!("{what}: {e}")),
        other => ApiError::Internal(format!("{what}: {}", other.describe())),
    }
}

/// Serves a request routed to one of the authorization server's endpoints or the portal's pages
/// (its method already checked).
pub async fn serve<B: Backend>(
    server: &AuthServer<'_, B>,
    endpoint: AuthEndpoint<'_>,
    head: &RequestHead,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let post = head.method() == Method::Post;
    match endpoint {
        _ if head.method() == Method::Options => Ok(cors_preflight(endpoint.allowed_methods())),
        AuthEndpoint::Metadata => Ok(Reply::json(200, &metadata(server.config))
            .with_header("cache-control", "public, max-age=300")
            .with_header("access-control-allow-origin", "*")),
        AuthEndpoint::Authorize if post => server.authorize_decision(head, body).await,
        AuthEndpoint::Authorize => server.authorize(head).await,
        AuthEndpoint::Login if post => server.login(head, body).await,
        AuthEndpoint::Login => server.login_form(head).await,
        AuthEndpoint::Logout => server.logout(head, body).await,
        AuthEndpoint::Account if post => server.account_action(head, body).await,
        AuthEndpoint::Account => server.account(head).await,
        AuthEndpoint::ProviderStart(id) => server.provider_endpoint(id, false, head, body).await,
        AuthEndpoint::ProviderCallback(id) => server.provider_endpoint(id, true, head, body).await,
        AuthEndpoint::LinkAccount => server.link_account(head, body).await,
        AuthEndpoint::SignUp if post => server.sign_up(head, body).await,
        AuthEndpoint::SignUp => server.sign_up_form(head).await,
        AuthEndpoint::VerifySignUp if post => server.verify_sign_up(head, body).await,
        AuthEndpoint::VerifySignUp => server.verify_sign_up_page(head).await,
        AuthEndpoint::ResetPassword if post => server.reset_password(head, body).await,
        AuthEndpoint::ResetPassword => server.reset_form(head).await,
        AuthEndpoint::EmailCode if post => server.email_code(head, body).await,
        AuthEndpoint::EmailCode => server.email_code_form(head).await,
        AuthEndpoint::OwnAccount(page) => server.own_account(page, head, body).await,
        AuthEndpoint::PasskeySignIn => server.passkey_sign_in(head, body).await,
        AuthEndpoint::Passkeys => server.passkeys_action(head, body).await,
        AuthEndpoint::SecondFactor => server.second_factor_sign_in(head, body).await,
        AuthEndpoint::SecondFactorSetup if post => server.second_factor_action(head, body).await,
        AuthEndpoint::SecondFactorSetup => server.second_factor_setup(head).await,
        AuthEndpoint::Billing(page) => server.billing(page, head, body).await,
        AuthEndpoint::StripeWebhook => server.stripe_webhook(head, body).await,
        AuthEndpoint::Token => server.token(head, body).await,
        AuthEndpoint::Revoke => server.revoke(head, body).await,
        AuthEndpoint::Introspect => server.introspect(head, body).await,
        AuthEndpoint::Userinfo => server.userinfo(head).await,
        AuthEndpoint::Register => server.register(head, body).await,
    }
}
