//! The authorization server's endpoints: authorize (with the login portal and consent), token,
//! revocation, introspection, userinfo and discovery.
//!
//! Each endpoint parses the request into typed input, decides with the pure modules beside this
//! one, and performs effects only through the [`Backend`] ports, so the whole flow runs natively
//! in `tests/oauth_flow.rs` with in-memory stores and in workerd with D1 and Durable Objects.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::Claims;
use serde_json::{json, Value};

use crate::config::{AuthConfig, Config, OAuthSettings};
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::oauth::access_token::{
    mint_access_token_as, verify_access_token_with, AccessClaims, Audience, VerifyPolicy,
    MACHINE_GRANT,
};
use crate::oauth::assertion_auth::verify_client_assertion;
use crate::oauth::authorize::{
    check_client_and_redirect, code_redirect, error_redirect, is_absolute_uri_without_fragment,
    validate_authorize_request, AuthorizeError, AuthorizeRequest,
};
use crate::oauth::client::{
    authenticate_client, parse_client_credentials, Client, ClientCredentials, ClientKind,
    ClientOrigin,
};
use crate::oauth::client_assertion::JwsAlgorithm;
use crate::oauth::error::{OAuthError, OAuthErrorCode};
use crate::oauth::grant::{
    issued_by, CodeRedemption, CodeStatus, GrantState, Issued, RefreshRotation, GRANT_ID_BYTES,
    SECRET_BYTES,
};
use crate::oauth::params::{form_encode, Params, ParamsError};
use crate::oauth::registration::{parse_registration, AuthMethod, UNUSED_REGISTRATION_TTL_SECS};
use crate::portal::pages::{
    account_page, consent_page, login_page, message_page, AccountItem, AccountView, Brand,
    ConsentForm, LoginForm,
};
use crate::portal::password::{verify_password, MAX_PASSWORD_BYTES};
use crate::portal::session::{
    cookie_names, csrf_token, is_current, open_session, read_cookie, seal_session, set_cookie,
    verify_csrf, CookieNames, Session, SESSION_TTL_SECS,
};
use crate::ports::{Backend, RegisteredClient, RegistrationOutcome, StoreError, User};
use crate::primitives::hash::sha256_hex;
use crate::primitives::syntax::split_handle;
use crate::rbac::scope::{
    decide_client_scopes, decide_scopes, parse_scope, ScopeGrant, OPENID_SCOPES,
};
use crate::routes::{
    AuthEndpoint, Endpoint, ACCOUNT_PATH, AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH,
    REGISTER_PATH, REVOKE_PATH, TOKEN_PATH, USERINFO_PATH,
};
use crate::signing::{sign_jwt, SignError};
use crate::throttle::{self, delay_ms, delaying_limit, WINDOW_SECS};

/// Prefix of opaque access tokens (`o.<grant id>.<secret>`), issued when no API resource applies.
pub const OPAQUE_ACCESS_PREFIX: &str = "o.";

/// One request's view of the authorization server.
pub struct AuthServer<'a, B: Backend> {
    pub config: &'a Config,
    pub settings: &'a OAuthSettings,
    pub backend: &'a B,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// The content type of a request body, as far as OAuth endpoints care.
fn body_params(head: &RequestHead, body: &[u8]) -> Result<Params, OAuthError> {
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

/// The `scope` parameter of a token request, split; `None` when absent.
fn scope_param(params: &Params) -> Result<Option<Vec<String>>, OAuthError> {
    match params.get("scope") {
        None => Ok(None),
        Some(s) if !s.chars().all(crate::primitives::syntax::is_scope_char) => Err(
            OAuthError::new(OAuthErrorCode::InvalidScope, "scope has invalid characters"),
        ),
        Some(s) => Ok(Some(parse_scope(s))),
    }
}

fn token_json(value: &Value) -> Reply {
    Reply::json(200, value)
        .no_store()
        .with_header("pragma", "no-cache")
}

/// The source address throttles count per (see [`throttle::source`]).
fn source(head: &RequestHead) -> String {
    throttle::source(head.client_ip())
}

impl<'a, B: Backend> AuthServer<'a, B> {
    fn brand(&self) -> Brand<'a> {
        Brand {
            plugin_name: &self.config.plugin.name_for_human,
            logo_url: &self.config.plugin.logo_url,
        }
    }

    fn issuer(&self) -> &'a str {
        &self.config.public_base_url
    }

    fn secure_cookies(&self) -> bool {
        self.config.public_base_url.starts_with("https://")
    }

    fn cookies(&self) -> CookieNames {
        cookie_names(self.secure_cookies())
    }

    fn key(&self) -> &'a [u8] {
        self.settings.session_secret.expose().as_bytes()
    }

    fn default_scope(&self) -> &'a str {
        match &self.config.plugin.auth {
            AuthConfig::OAuth { scope, .. } => scope,
            _ => "",
        }
    }

    fn random_b64(&self, bytes: usize) -> Result<String, StoreError> {
        let mut buf = vec![0u8; bytes];
        self.backend.fill(&mut buf)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    fn session(&self, head: &RequestHead) -> Option<Session> {
        read_cookie(head, self.cookies().session)
            .and_then(|v| open_session(self.key(), v, self.now))
    }

    /// The user a session stands for, if it still does: they exist, are not disabled, and the
    /// session was issued at their current session epoch (see [`is_current`]). Every use of a
    /// session loads this row anyway, so the check costs no round trip.
    async fn session_user(&self, session: &Session) -> Result<Option<User>, StoreError> {
        Ok(self
            .backend
            .find_user(&session.user_id)
            .await?
            .filter(|u| is_current(session, u.session_epoch, u.disabled)))
    }

    /// A `Set-Cookie` that removes the session cookie.
    fn clear_session_cookie(&self) -> String {
        set_cookie(self.cookies().session, "", 0, self.secure_cookies())
    }

    /// The browser's CSRF cookie, and a `Set-Cookie` when it has none yet.
    fn csrf_cookie(&self, head: &RequestHead) -> Result<(String, Option<String>), StoreError> {
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

    fn local_error(&self, status: u16, message: &str) -> Reply {
        message_page(status, self.brand(), "Cannot continue", message)
    }

    // ----- /authorize -------------------------------------------------------------------------

    /// Phase 1 and 2 of validation on a set of parameters, loading the client. `interacted`: the
    /// user acted on this request (the consent form), so errors may go back to any client.
    async fn authorize_request(
        &self,
        params: &Params,
        interacted: bool,
    ) -> Result<AuthorizeRequest, Result<AuthorizeError, ApiError>> {
        let client = match params.get("client_id") {
            Some(id) => self
                .backend
                .find_client(id)
                .await
                .map_err(|e| Err(e.into()))?,
            None => None,
        };
        let (client, redirect_uri, sent) = check_client_and_redirect(params, client).map_err(Ok)?;
        let vetted = client.origin.is_vetted();
        validate_authorize_request(params, client, redirect_uri, sent, self.default_scope())
            .map_err(|e| match e {
                AuthorizeError::Redirect {
                    code, description, ..
                } if !vetted && !interacted => Ok(AuthorizeError::Local {
                    message: unvetted_error(code, &description),
                }),
                e => Ok(e),
            })
    }

    fn authorize_error_reply(&self, error: AuthorizeError, status_for_redirect: u16) -> Reply {
        match error {
            AuthorizeError::Local { message } => self.local_error(400, &message),
            AuthorizeError::Redirect {
                redirect_uri,
                code,
                description,
                state,
            } => redirect(
                status_for_redirect,
                &error_redirect(
                    &redirect_uri,
                    code,
                    &description,
                    state.as_deref(),
                    self.issuer(),
                ),
            ),
        }
    }

    /// An error sent back to the client's redirect URI; before the user has interacted, only to
    /// a client an administrator vetted (RFC 9700 §4.11.2), else shown on our own page.
    fn redirect_error(
        &self,
        request: &AuthorizeRequest,
        code: OAuthErrorCode,
        description: &str,
        status: u16,
    ) -> Reply {
        if status == 302 && !request.client.origin.is_vetted() {
            return self.local_error(400, &unvetted_error(code, description));
        }
        redirect(
            status,
            &error_redirect(
                &request.redirect_uri,
                code,
                description,
                request.state.as_deref(),
                self.issuer(),
            ),
        )
    }

    /// `GET /authorize`: validate, then sign in, then consent (or skip it), then redirect.
    pub async fn authorize(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let raw_query = head.query.as_deref().unwrap_or("");
        let params = match Params::from_urlencoded(raw_query) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description())),
        };
        let request = match self.authorize_request(&params, false).await {
            Ok(r) => r,
            Err(Ok(e)) => return Ok(self.authorize_error_reply(e, 302)),
            Err(Err(e)) => return Err(e),
        };
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        // `prompt=login` asks for a fresh sign-in: ignore the session, and drop the prompt from
        // where the login form returns to, so the next visit proceeds.
        let session = self.session(head).filter(|_| !request.prompt_login);
        let Some(session) = session else {
            if request.prompt_none {
                return Ok(self.redirect_error(
                    &request,
                    OAuthErrorCode::LoginRequired,
                    "the user is not signed in",
                    302,
                ));
            }
            let return_to = format!("{AUTHORIZE_PATH}?{}", without_prompt(&params));
            let reply = login_page(
                200,
                self.brand(),
                &LoginForm {
                    csrf_token: &csrf_token(self.key(), &csrf, "login"),
                    return_to: &return_to,
                    email: "",
                    notice: None,
                },
            );
            return Ok(with_cookie(reply, csrf_set));
        };
        let Some(user) = self.session_user(&session).await? else {
            let reply = login_page(
                200,
                self.brand(),
                &LoginForm {
                    csrf_token: &csrf_token(self.key(), &csrf, "login"),
                    return_to: &format!("{AUTHORIZE_PATH}?{raw_query}"),
                    email: "",
                    notice: Some("Please sign in again."),
                },
            );
            let reply = reply.with_header("set-cookie", self.clear_session_cookie());
            return Ok(with_cookie(reply, csrf_set));
        };
        let grant = match self.decide(&request, &user.id, 302).await? {
            Ok(g) => g,
            Err(reply) => return Ok(reply),
        };
        if request.client.first_party && !request.prompt_consent {
            return self.issue_code(&request, &session, grant, 302).await;
        }
        // Remembered consent: everything granted was allowed to this client before.
        if grant.already_consented() && !request.prompt_consent {
            return self.issue_code(&request, &session, grant, 302).await;
        }
        if request.prompt_none {
            return Ok(self.redirect_error(
                &request,
                OAuthErrorCode::ConsentRequired,
                "the user has not consented",
                302,
            ));
        }
        let carried: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let redirect_host = url::Url::parse(&request.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        // Incremental consent: ask for what was never allowed, and say what already is.
        let asked = if request.prompt_consent {
            grant.described.clone()
        } else {
            grant.new_scopes()
        };
        let allowed: Vec<_> = grant
            .described
            .iter()
            .filter(|d| !asked.contains(d))
            .cloned()
            .collect();
        let reply = consent_page(
            self.brand(),
            &ConsentForm {
                client_name: &request.client.name,
                redirect_host: &redirect_host,
                user_email: &user.email,
                scopes: &asked,
                already_allowed: &allowed,
                csrf_token: &csrf_token(self.key(), &csrf, &format!("consent:{}", session.nonce)),
                logout_csrf_token: &csrf_token(
                    self.key(),
                    &csrf,
                    &format!("logout:{}", session.nonce),
                ),
                params: &carried,
            },
        );
        Ok(with_cookie(reply, csrf_set))
    }

    /// The scope decision for a request; `Err(reply)` is the `invalid_target` error, redirected
    /// with `status` (302 before the user interacts, 303 after the consent form).
    async fn decide(
        &self,
        request: &AuthorizeRequest,
        user_id: &str,
        status: u16,
    ) -> Result<Result<ScopeGrant, Reply>, ApiError> {
        let context = self
            .backend
            .scope_context(
                user_id,
                Some(&request.client.id),
                request.resource.as_deref(),
                &self.config.plugin.resource,
            )
            .await?;
        Ok(
            decide_scopes(&request.scopes, request.resource.as_deref(), &context).map_err(|_| {
                self.redirect_error(
                    request,
                    OAuthErrorCode::InvalidTarget,
                    "the requested resource is unknown",
                    status,
                )
            }),
        )
    }

    /// `POST /authorize`: the consent form's decision.
    pub async fn authorize_decision(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let mut params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let Some(session) = self.session(head) else {
            return Ok(self.local_error(
                401,
                "Your session ended. Go back to the application and start again.",
            ));
        };
        // The consent token is bound to this browser's CSRF cookie and to this session.
        let csrf = read_cookie(head, self.cookies().csrf);
        let purpose = format!("consent:{}", session.nonce);
        if !verify_csrf(self.key(), csrf, &purpose, params.get("csrf_token")) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        if self.session_user(&session).await?.is_none() {
            return Ok(self
                .local_error(
                    401,
                    "Your session ended. Go back to the application and start again.",
                )
                .with_header("set-cookie", self.clear_session_cookie()));
        }
        let decision = params.get("decision").map(str::to_string);
        params = strip(params, &["csrf_token", "decision"]);
        let request = match self.authorize_request(&params, true).await {
            Ok(r) => r,
            Err(Ok(e)) => return Ok(self.authorize_error_reply(e, 303)),
            Err(Err(e)) => return Err(e),
        };
        match decision.as_deref() {
            Some("allow") => {}
            Some("deny") => {
                return Ok(self.redirect_error(
                    &request,
                    OAuthErrorCode::AccessDenied,
                    "the user denied access",
                    303,
                ))
            }
            _ => return Ok(self.local_error(400, "Choose Allow or Deny.")),
        }
        let grant = match self.decide(&request, &session.user_id, 303).await? {
            Ok(g) => g,
            Err(reply) => return Ok(reply),
        };
        // Remembered once the grant exists, so the next authorization for these scopes asks
        // nothing; a grant that could not be made leaves no consent behind.
        let resource = grant
            .resource
            .as_ref()
            .map(|r| r.indicator.clone())
            .unwrap_or_default();
        let scopes = grant.consent_after_allowing();
        let reply = self.issue_code(&request, &session, grant, 303).await?;
        self.backend
            .record_consent(
                &session.user_id,
                &request.client.id,
                &resource,
                &scopes,
                self.now,
            )
            .await?;
        Ok(reply)
    }

    async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        session: &Session,
        grant: ScopeGrant,
        status: u16,
    ) -> Result<Reply, ApiError> {
        let grant_id = self.random_b64(GRANT_ID_BYTES)?;
        let secret = self.random_b64(SECRET_BYTES)?;
        let state = GrantState {
            grant_id: grant_id.clone(),
            client_id: request.client.id.clone(),
            user_id: session.user_id.clone(),
            scopes: grant.scopes,
            resource: grant.resource,
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            code_challenge: request.code_challenge.clone(),
            code_hash: sha256_hex(&secret),
            code_expires_at: self.now + self.settings.code_ttl_secs,
            code_status: CodeStatus::Issued,
            refresh: None,
            revoked: false,
            created_at: self.now,
            nonce: request.nonce.clone(),
            auth_time: session.issued_at,
            opaque_access: Vec::new(),
            issuer: Some(self.issuer().to_string()),
        };
        self.backend.create_grant(&state).await?;
        self.backend.record_grant(&state).await?;
        let code = format!("{grant_id}.{secret}");
        Ok(redirect(
            status,
            &code_redirect(
                &request.redirect_uri,
                &code,
                request.state.as_deref(),
                self.issuer(),
            ),
        ))
    }

    // ----- the portal ---------------------------------------------------------------------------

    /// `GET /login`: the sign-in form on its own (the portal's front door).
    pub async fn login_form(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let signed_in = match self.session(head) {
            Some(session) => self.session_user(&session).await?.is_some(),
            None => false,
        };
        if signed_in {
            return Ok(with_cookie(
                message_page(
                    200,
                    self.brand(),
                    "Signed in",
                    "You are signed in. You can close this page.",
                ),
                csrf_set,
            ));
        }
        let reply = login_page(
            200,
            self.brand(),
            &LoginForm {
                csrf_token: &csrf_token(self.key(), &csrf, "login"),
                return_to: "",
                email: "",
                notice: None,
            },
        );
        Ok(with_cookie(reply, csrf_set))
    }

    /// `POST /login`: check the password, start a session, go back to where the user came from.
    pub async fn login(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let csrf = read_cookie(head, self.cookies().csrf);
        if !verify_csrf(self.key(), csrf, "login", params.get("csrf_token")) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        let csrf = csrf.unwrap_or_default();
        let return_to = params
            .get("return_to")
            .filter(|r| {
                (r.starts_with("/authorize?") || *r == ACCOUNT_PATH)
                    && r.bytes().all(|b| b.is_ascii_graphic())
            })
            .unwrap_or("");
        let email = params.get("email").unwrap_or("").trim().to_string();
        let password = params.get("password").unwrap_or("");
        let form = |status: u16, notice: &str| {
            login_page(
                status,
                self.brand(),
                &LoginForm {
                    csrf_token: &csrf_token(self.key(), csrf, "login"),
                    return_to,
                    email: &email,
                    notice: Some(notice),
                },
            )
        };
        if email.is_empty()
            || password.is_empty()
            || email.len() > 320
            || password.len() > MAX_PASSWORD_BYTES
        {
            return Ok(form(400, "Enter your email and password."));
        }
        // Each attempt is counted before the password is checked (an atomic charge), so parallel
        // guesses cannot all slip under a limit; a successful sign-in gives its counts back.
        // Refusals are per source address (for this account, and over all accounts); what is
        // counted for the account from everywhere only delays, so failing on purpose locks out
        // nobody but the one failing.
        let now = self.now as u64;
        let source = source(head);
        let per_source = throttle::login_source_key(&source, &email);
        let per_ip = throttle::login_ip_key(&source);
        let account = throttle::login_account_key(&email);
        let (source_limit, ip_limit) = (
            throttle::LOGIN_FAILURES_PER_SOURCE,
            throttle::LOGIN_FAILURES_PER_IP,
        );
        let account_limit = delaying_limit(throttle::LOGIN_ATTEMPTS_BEFORE_DELAY);
        let refused = |reset_secs: u64| {
            let wait = reset_secs.div_ceil(60).max(1);
            form(
                429,
                &format!(
                    "Too many failed attempts from your network. Try again in {wait} minutes."
                ),
            )
            .with_header("retry-after", reset_secs.max(1).to_string())
        };
        let by_source = self
            .backend
            .charge(&per_source, source_limit, WINDOW_SECS, now)
            .await?;
        if !by_source.allowed {
            return Ok(refused(by_source.reset_secs));
        }
        let by_ip = self
            .backend
            .charge(&per_ip, ip_limit, WINDOW_SECS, now)
            .await?;
        if !by_ip.allowed {
            self.backend
                .refund(&per_source, source_limit, WINDOW_SECS, now)
                .await?;
            return Ok(refused(by_ip.reset_secs));
        }
        let by_account = self
            .backend
            .charge(&account, account_limit, WINDOW_SECS, now)
            .await?;
        let wait = delay_ms(&by_account, throttle::LOGIN_ATTEMPTS_BEFORE_DELAY);
        if wait > 0 {
            // Before the check, whatever its outcome: the wait tells nothing about the password.
            self.backend.sleep(wait).await;
        }
        let user = self.backend.find_user_by_email(&email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = verify_password(self.backend, password, stored).await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => return Ok(form(401, "Wrong email or password.")),
        };
        self.backend
            .refund(&per_source, source_limit, WINDOW_SECS, now)
            .await?;
        self.backend
            .refund(&per_ip, ip_limit, WINDOW_SECS, now)
            .await?;
        if by_account.allowed {
            self.backend
                .refund(&account, account_limit, WINDOW_SECS, now)
                .await?;
        }
        // A fresh session and a fresh CSRF cookie: nothing set before sign-in carries over.
        let session = Session {
            user_id: user.id,
            issued_at: self.now,
            expires_at: self.now + SESSION_TTL_SECS,
            nonce: self.random_b64(16)?,
            epoch: user.session_epoch,
        };
        let secure = self.secure_cookies();
        let new_csrf = self.random_b64(18)?;
        let reply = if return_to.is_empty() {
            message_page(
                200,
                self.brand(),
                "Signed in",
                "You are signed in. You can close this page.",
            )
        } else {
            redirect(303, return_to)
        };
        Ok(reply
            .with_header(
                "set-cookie",
                set_cookie(
                    self.cookies().session,
                    &seal_session(self.key(), &session),
                    SESSION_TTL_SECS,
                    secure,
                ),
            )
            .with_header(
                "set-cookie",
                set_cookie(self.cookies().csrf, &new_csrf, SESSION_TTL_SECS, secure),
            ))
    }

    /// `POST /logout`: end the session, and with it every session of the user: sessions are
    /// stateless cookies, so the way to make sure a copy of this one stops working is to move the
    /// user's session epoch on.
    pub async fn logout(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let session = self.session(head);
        let nonce = session
            .as_ref()
            .map(|s| s.nonce.as_str())
            .unwrap_or_default();
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &format!("logout:{nonce}"),
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        if let Some(session) = session {
            self.backend.end_sessions(&session.user_id).await?;
        }
        Ok(
            message_page(200, self.brand(), "Signed out", "You are signed out.")
                .with_header("set-cookie", self.clear_session_cookie()),
        )
    }

    // ----- the account page -------------------------------------------------------------------

    /// `GET /account`: the signed-in user's grants and API keys, each revocable.
    pub async fn account(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let session = self.session(head);
        let user = match &session {
            Some(s) => self.session_user(s).await?,
            None => None,
        };
        let (Some(session), Some(user)) = (session, user) else {
            let reply = login_page(
                200,
                self.brand(),
                &LoginForm {
                    csrf_token: &csrf_token(self.key(), &csrf, "login"),
                    return_to: ACCOUNT_PATH,
                    email: "",
                    notice: None,
                },
            );
            return Ok(with_cookie(reply, csrf_set));
        };
        // One entry per app (a client on one API resource): what it may do, and one button that
        // ends all of it. Revoked and ended grants are history and stay off the page.
        let grants: Vec<AccountItem> = self
            .backend
            .apps_of(&user.id)
            .await?
            .into_iter()
            .map(|app| {
                let scopes = if app.scopes.is_empty() {
                    "no permissions".to_string()
                } else {
                    app.scopes.join(" ")
                };
                let on = url::Url::parse(&app.resource)
                    .ok()
                    .filter(|_| app.resource != self.config.plugin.resource)
                    .and_then(|u| u.host_str().map(|h| format!(" on {h}{}", u.path())))
                    .unwrap_or_default();
                AccountItem {
                    kind: "app",
                    id: format!("{} {}", app.client_id, app.resource),
                    title: format!("{}{on}", app.client_name),
                    detail: format!("may: {scopes} · since {}", date(app.since)),
                    active: true,
                }
            })
            .collect();
        let keys = self
            .backend
            .api_keys_of(&user.id)
            .await?
            .into_iter()
            .map(|k| AccountItem {
                kind: "key",
                id: k.id,
                title: format!("{}… {}", k.prefix, k.name),
                detail: format!(
                    "{} · created {} · {}",
                    if k.scopes.is_empty() {
                        "no scopes"
                    } else {
                        &k.scopes
                    },
                    date(k.created_at),
                    k.last_used_at
                        .map(|t| format!("last used {}", date(t)))
                        .unwrap_or_else(|| "never used".into())
                ),
                active: k.revoked_at.is_none(),
            })
            .collect::<Vec<_>>();
        let reply = account_page(
            self.brand(),
            &AccountView {
                user_email: &user.email,
                grants: &grants,
                keys: &keys,
                csrf_token: &csrf_token(self.key(), &csrf, &format!("account:{}", session.nonce)),
                logout_csrf_token: &csrf_token(
                    self.key(),
                    &csrf,
                    &format!("logout:{}", session.nonce),
                ),
            },
        );
        Ok(with_cookie(reply, csrf_set))
    }

    /// `POST /account`: revoke one of the user's grants or API keys, then show the page again; or
    /// sign out everywhere.
    pub async fn account_action(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let Some(session) = self.session(head) else {
            return Ok(self.local_error(401, "Your session ended. Sign in again."));
        };
        let purpose = format!("account:{}", session.nonce);
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &purpose,
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        if self.session_user(&session).await?.is_none() {
            return Ok(self
                .local_error(401, "Your session ended. Sign in again.")
                .with_header("set-cookie", self.clear_session_cookie()));
        }
        let id = params.get("id").unwrap_or("");
        match params.get("action") {
            Some("sign-out-everywhere") => {
                self.backend.end_sessions(&session.user_id).await?;
                return Ok(message_page(
                    200,
                    self.brand(),
                    "Signed out everywhere",
                    "You are signed out in every browser you had signed in with.",
                )
                .with_header("set-cookie", self.clear_session_cookie()));
            }
            Some("revoke-app") => {
                // Every grant of the app ends, and its consent is forgotten: it asks again.
                let (client_id, resource) = id.split_once(' ').unwrap_or((id, ""));
                let grants: Vec<_> = self
                    .backend
                    .grants_of(&session.user_id)
                    .await?
                    .into_iter()
                    .filter(|g| {
                        g.client_id == client_id
                            && g.resource.as_deref().unwrap_or("") == resource
                            && g.revoked_at.is_none()
                    })
                    .collect();
                for g in &grants {
                    self.backend.revoke_grant(&g.grant_id).await?;
                    self.backend
                        .mark_grant_revoked(&g.grant_id, self.now)
                        .await?;
                }
                self.backend
                    .forget_consent(&session.user_id, client_id, resource)
                    .await?;
            }
            Some("revoke-grant") => {
                let owned = self
                    .backend
                    .grants_of(&session.user_id)
                    .await?
                    .into_iter()
                    .any(|g| g.grant_id == id);
                if !owned {
                    return Ok(self.local_error(404, "That app access was not found."));
                }
                self.backend.revoke_grant(id).await?;
                self.backend.mark_grant_revoked(id, self.now).await?;
            }
            Some("revoke-key") => {
                if !self
                    .backend
                    .revoke_api_key(&session.user_id, id, self.now)
                    .await?
                {
                    return Ok(self.local_error(404, "That API key was not found."));
                }
            }
            _ => return Ok(self.local_error(400, "Unknown action.")),
        }
        Ok(redirect(303, ACCOUNT_PATH))
    }

    // ----- client authentication --------------------------------------------------------------

    /// Authenticates the client of a back-channel request. Failed attempts with a credential (a
    /// secret or a signed assertion) are counted per client and source address: an address past
    /// the limit is refused, right credential or not, until its window ends, so it learns nothing
    /// more; other addresses are not affected.
    /// Failures are also counted per client from everywhere; past that threshold each failure is
    /// answered after a bounded delay, never refused. The address's count is read together with
    /// the client (concurrently), so the success path waits for no extra round trip.
    async fn authenticate(&self, head: &RequestHead, params: &Params) -> Result<Client, ApiError> {
        let authorization = head
            .single_header("authorization")
            .map_err(|_| OAuthError::invalid_request("send one Authorization header"))?;
        let credentials = parse_client_credentials(authorization, params)?;
        let basic = credentials.used_basic();
        let with_credential = !matches!(credentials, ClientCredentials::None { .. });
        let now = self.now as u64;
        let per_source = throttle::client_source_key(&source(head), credentials.client_id());
        let source_limit = throttle::CLIENT_FAILURES_PER_SOURCE;
        let (client, standing) = if with_credential {
            let (client, standing) = futures_util::future::join(
                self.backend.find_client(credentials.client_id()),
                self.backend
                    .peek(&per_source, source_limit, WINDOW_SECS, now),
            )
            .await;
            (client?, Some(standing?))
        } else {
            (
                self.backend.find_client(credentials.client_id()).await?,
                None,
            )
        };
        let Some(client) = client else {
            return Err(OAuthError::invalid_client("client authentication failed")
                .with_basic_challenge(basic)
                .into());
        };
        if let Some(standing) = standing.filter(|s| s.remaining == 0) {
            return Err(ApiError::Throttled {
                retry_after_secs: standing.reset_secs.max(1),
            });
        }
        let outcome = match &credentials {
            ClientCredentials::Assertion { assertion, .. } => {
                // RFC 7523 §3: the audience is the authorization server; the token endpoint's URL
                // is what clients send, at every endpoint that authenticates them.
                let token_url = format!("{}{TOKEN_PATH}", self.issuer());
                let endpoint = format!("{}{}", self.issuer(), head.path);
                let audiences = [self.issuer(), token_url.as_str(), endpoint.as_str()];
                match verify_client_assertion(
                    self.backend,
                    &client,
                    assertion,
                    &audiences,
                    self.now,
                )
                .await
                {
                    Ok(()) => Ok(()),
                    Err(ApiError::OAuth(e)) => Err(e),
                    Err(other) => return Err(other),
                }
            }
            _ => authenticate_client(&client, &credentials),
        };
        match outcome {
            Ok(()) => Ok(client),
            Err(e) => {
                if with_credential {
                    let d = self
                        .backend
                        .charge(&per_source, source_limit, WINDOW_SECS, now)
                        .await?;
                    if !d.allowed {
                        return Err(ApiError::Throttled {
                            retry_after_secs: d.reset_secs.max(1),
                        });
                    }
                    let threshold = throttle::CLIENT_FAILURES_BEFORE_DELAY;
                    let everywhere = self
                        .backend
                        .charge(
                            &throttle::client_key(&client.id),
                            delaying_limit(threshold),
                            WINDOW_SECS,
                            now,
                        )
                        .await?;
                    let wait = delay_ms(&everywhere, threshold);
                    if wait > 0 {
                        self.backend.sleep(wait).await;
                    }
                }
                Err(e.into())
            }
        }
    }

    // ----- /register ----------------------------------------------------------------------------

    /// `POST /register`: RFC 7591 dynamic client registration, open to anyone (rate-limited per
    /// IP at the edge). The client is third-party (consent is always asked), public unless it
    /// asks for a secret, and forgotten unless it starts a grant within a day.
    pub async fn register(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let is_json = head
            .single_header("content-type")
            .ok()
            .flatten()
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidClientMetadata,
                "the registration request must be application/json",
            )
            .into());
        }
        let metadata = parse_registration(body).map_err(|e| {
            OAuthError::new(
                if e.code == "invalid_redirect_uri" {
                    OAuthErrorCode::InvalidRedirectUri
                } else {
                    OAuthErrorCode::InvalidClientMetadata
                },
                e.description,
            )
        })?;
        let client_id = format!("dcr_{}", self.random_b64(16)?);
        let secret = match metadata.auth_method {
            AuthMethod::None | AuthMethod::PrivateKeyJwt => None,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                Some(self.random_b64(SECRET_BYTES)?)
            }
        };
        let mut document = metadata.to_json();
        let client = Client {
            id: client_id.clone(),
            name: metadata.client_name,
            secret_hash: secret.as_deref().map(sha256_hex),
            redirect_uris: metadata.redirect_uris,
            kind: if secret.is_some() || metadata.key_set.is_some() {
                ClientKind::Confidential
            } else {
                ClientKind::Public
            },
            first_party: false,
            origin: ClientOrigin::Dynamic,
            may_introspect: false,
            key_set: metadata.key_set,
        };
        // Stored: the validated fields only, the redirect URIs and keys once (in their columns).
        let mut stored = document.clone();
        stored.remove("redirect_uris");
        stored.remove("jwks");
        let outcome = self
            .backend
            .register_client(&RegisteredClient {
                client,
                metadata: Value::Object(stored).to_string(),
                created_at: self.now,
                expires_at: self.now + UNUSED_REGISTRATION_TTL_SECS,
                network: source(head),
            })
            .await?;
        match outcome {
            RegistrationOutcome::Stored => {}
            RegistrationOutcome::NetworkFull => {
                return Err(ApiError::RegistrationsFull { everyone: false })
            }
            RegistrationOutcome::Full => {
                return Err(ApiError::RegistrationsFull { everyone: true })
            }
        }
        document.insert("client_id".into(), json!(client_id));
        document.insert("client_id_issued_at".into(), json!(self.now));
        if let Some(secret) = secret {
            document.insert("client_secret".into(), json!(secret));
            document.insert("client_secret_expires_at".into(), json!(0));
        }
        Ok(Reply::json(201, &Value::Object(document))
            .no_store()
            .with_header("pragma", "no-cache"))
    }

    // ----- /token -------------------------------------------------------------------------------

    /// `POST /token`: the `authorization_code`, `refresh_token` and `client_credentials` grants.
    pub async fn token(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = body_params(head, body)?;
        let client = self.authenticate(head, &params).await?;
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required").into()),
            Some("authorization_code") => self.exchange_code(&client, &params).await,
            Some("refresh_token") => self.refresh(&client, &params).await,
            Some(MACHINE_GRANT) => self.client_credentials(&client, &params).await,
            Some(_) => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )
            .into()),
        }
    }

    /// The `client_credentials` grant (RFC 6749 §4.4): a confidential client, authenticated with
    /// its secret or a signed assertion, gets an access token for itself (`sub` = its client id),
    /// with the scopes its own roles hold on the resource. No refresh token (§4.4.3) and no ID
    /// token: there is no user. A client that holds no scope there is refused, not given an
    /// empty token.
    async fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<Reply, ApiError> {
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the client_credentials grant is for confidential clients",
            )
            .into());
        }
        let requested = scope_param(params)?;
        let resource = match params.get("resource") {
            Some(r) if !is_absolute_uri_without_fragment(r) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidTarget,
                    "resource must be an absolute URI without a fragment",
                )
                .into())
            }
            r => r,
        };
        let context = self
            .backend
            .client_scope_context(&client.id, resource, &self.config.plugin.resource)
            .await?;
        let grant = decide_client_scopes(requested.as_deref(), &context).map_err(|_| {
            OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                if resource.is_some() {
                    "the requested resource is unknown"
                } else {
                    "no API resource is configured: send resource"
                },
            )
        })?;
        let Some(resource) = grant.resource.filter(|_| !grant.scopes.is_empty()) else {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "the client's roles hold none of the requested scopes on this resource",
            )
            .into());
        };
        let scope = grant.scopes.join(" ");
        let ttl = resource.access_token_ttl_secs;
        let claims = AccessClaims {
            iss: self.issuer().to_string(),
            sub: client.id.clone(),
            aud: Audience::One(resource.indicator.clone()),
            jti: self.random_b64(16)?,
            client_id: client.id.clone(),
            scope: scope.clone(),
            gid: None,
            gty: Some(MACHINE_GRANT.to_string()),
        };
        let access_token = mint_access_token_as(
            &self.config.keys,
            resource.access_token_alg,
            claims,
            self.now,
            ttl,
            self.backend,
        )
        .await
        .map_err(|e| sign_failure("could not sign a machine client's access token", e))?;
        Ok(token_json(&json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": scope,
        })))
    }

    /// A candidate opaque access token: its secret, and the (hash, expiry) the grant keeps if it
    /// has no API resource.
    fn new_opaque_access(&self) -> Result<(String, Option<(String, i64)>), ApiError> {
        let secret = self.random_b64(SECRET_BYTES)?;
        let stored = (
            sha256_hex(&secret),
            self.now + self.settings.access_token_ttl_secs,
        );
        Ok((secret, Some(stored)))
    }

    async fn exchange_code(&self, client: &Client, params: &Params) -> Result<Reply, ApiError> {
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let (grant_id, secret) = split_handle(code)
            .ok_or_else(|| OAuthError::invalid_grant("the authorization code is invalid"))?;
        let refresh_secret = self.random_b64(SECRET_BYTES)?;
        let (opaque_secret, opaque_access) = self.new_opaque_access()?;
        let redemption = CodeRedemption {
            code_hash: sha256_hex(secret),
            client_id: client.id.clone(),
            redirect_uri: params.get("redirect_uri").map(str::to_string),
            code_verifier: params.get("code_verifier").map(str::to_string),
            now: self.now,
            new_refresh_hash: sha256_hex(&refresh_secret),
            policy: self.settings.refresh,
            opaque_access,
            resource: params.get("resource").map(str::to_string),
            issuer: self.issuer().to_string(),
        };
        // The grant's user is read beside the redemption, from the grant index.
        let (issued, indexed_user) = futures_util::future::join(
            self.backend.redeem_code(grant_id, &redemption),
            self.backend.user_of_grant(grant_id),
        )
        .await;
        let issued = issued?.map_err(|e| ApiError::OAuth(e.to_oauth()))?;
        self.require_active_user(&issued, indexed_user?).await?;
        let refresh_token = format!("{grant_id}.{refresh_secret}");
        self.token_response(&issued, &refresh_token, &opaque_secret, true)
            .await
    }

    async fn refresh(&self, client: &Client, params: &Params) -> Result<Reply, ApiError> {
        let token = params
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let (grant_id, secret) = split_handle(token)
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
        let scopes = scope_param(params)?;
        let new_secret = self.random_b64(SECRET_BYTES)?;
        let (opaque_secret, opaque_access) = self.new_opaque_access()?;
        let rotation = RefreshRotation {
            refresh_hash: sha256_hex(secret),
            client_id: client.id.clone(),
            scopes,
            now: self.now,
            new_refresh_hash: sha256_hex(&new_secret),
            policy: self.settings.refresh,
            opaque_access,
            resource: params.get("resource").map(str::to_string),
            issuer: self.issuer().to_string(),
        };
        let (issued, indexed_user) = futures_util::future::join(
            self.backend.rotate_refresh(grant_id, &rotation),
            self.backend.user_of_grant(grant_id),
        )
        .await;
        let issued = issued?.map_err(|e| ApiError::OAuth(e.to_oauth()))?;
        self.require_active_user(&issued, indexed_user?).await?;
        self.token_response(
            &issued,
            &format!("{grant_id}.{new_secret}"),
            &opaque_secret,
            false,
        )
        .await
    }

    /// After a code is redeemed or a refresh token rotated: the grant's user must still exist and
    /// not be disabled (disabling revokes a user's grants, but a consent in flight can finish
    /// after that sweep). If not, the grant is revoked and no token leaves. The user comes from
    /// the grant index, read beside the grant's own round trip (one D1 read, no added wait); only
    /// a grant the index does not know costs a lookup by the user id the grant names.
    async fn require_active_user(
        &self,
        issued: &Issued,
        indexed: Option<User>,
    ) -> Result<(), ApiError> {
        let user = match indexed.filter(|u| u.id == issued.user_id) {
            Some(u) => Some(u),
            None => self.backend.find_user(&issued.user_id).await?,
        };
        let active = user.is_some_and(|u| !u.disabled);
        if !active {
            self.backend.revoke_grant(&issued.grant_id).await?;
            self.backend
                .mark_grant_revoked(&issued.grant_id, self.now)
                .await?;
            return Err(OAuthError::invalid_grant("the grant's user is no longer active").into());
        }
        Ok(())
    }

    /// The token response. With an API resource, the access token is a JWT for it; without one
    /// (only OpenID scopes were granted), it is the opaque handle the grant recorded, good only at
    /// `/userinfo`. The JWT is signed with the algorithm the resource chose.
    async fn token_response(
        &self,
        issued: &Issued,
        refresh_token: &str,
        opaque_secret: &str,
        first: bool,
    ) -> Result<Reply, ApiError> {
        let ttl = issued
            .resource
            .as_ref()
            .map(|r| r.access_token_ttl_secs)
            .unwrap_or(self.settings.access_token_ttl_secs);
        let audience = issued
            .resource
            .as_ref()
            .map(|r| r.indicator.clone())
            .unwrap_or_else(|| self.issuer().to_string());
        let scope = issued.scopes.join(" ");
        let claims = AccessClaims {
            iss: self.issuer().to_string(),
            sub: issued.user_id.clone(),
            aud: Audience::One(audience),
            jti: self.random_b64(16)?,
            client_id: issued.client_id.clone(),
            scope: scope.clone(),
            gid: Some(issued.grant_id.clone()),
            gty: None,
        };
        let access_token = if let Some(resource) = &issued.resource {
            mint_access_token_as(
                &self.config.keys,
                resource.access_token_alg,
                claims,
                self.now,
                ttl,
                self.backend,
            )
            .await
            .map_err(|e| {
                sign_failure(
                    &format!("could not sign an access token for {}", resource.indicator),
                    e,
                )
            })?
        } else {
            format!("{OPAQUE_ACCESS_PREFIX}{}.{opaque_secret}", issued.grant_id)
        };
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "refresh_token": refresh_token,
        });
        // ChatGPT rejects an empty scope; omit it when nothing was granted.
        if !scope.is_empty() {
            body["scope"] = Value::String(scope);
        }
        if issued.scopes.iter().any(|s| s == "openid") {
            body["id_token"] = Value::String(self.id_token(issued, ttl, first).await?);
        }
        Ok(token_json(&body))
    }

    /// An OpenID Connect ID token for the client (`aud` = its client_id): RS256 when an RSA key is
    /// configured (OpenID Connect Core §15.1), else EdDSA.
    async fn id_token(&self, issued: &Issued, ttl: i64, first: bool) -> Result<String, ApiError> {
        let mut custom = json!({
            "iss": self.issuer(),
            "sub": issued.user_id,
            "aud": issued.client_id,
            "auth_time": issued.auth_time,
        });
        if first {
            if let Some(nonce) = &issued.nonce {
                custom["nonce"] = Value::String(nonce.clone());
            }
        }
        let mut claims = Claims::new(custom);
        claims.issued_at = chrono::DateTime::from_timestamp(self.now, 0);
        claims.expiration = chrono::DateTime::from_timestamp(self.now + ttl, 0);
        let keys = &self.config.keys;
        sign_jwt(keys, keys.id_token_alg(), "JWT", &claims, self.backend)
            .await
            .map_err(|e| sign_failure("could not sign an ID token", e))
    }

    // ----- revocation and introspection ---------------------------------------------------------

    /// `POST /revoke` (RFC 7009): revokes the grant behind a refresh or access token. Answers 200
    /// for unknown tokens too, so the endpoint tells nothing about which tokens exist.
    pub async fn revoke(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = body_params(head, body)?;
        let client = self.authenticate(head, &params).await?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some((grant_id, state)) = self.grant_of(token).await? {
            if state.client_id == client.id && issued_by(&state, self.issuer()) {
                self.backend.revoke_grant(&grant_id).await?;
                self.backend.mark_grant_revoked(&grant_id, self.now).await?;
            }
        }
        Ok(Reply::new(200).no_store())
    }

    /// Finds the grant a refresh token or one of our access tokens belongs to.
    async fn grant_of(&self, token: &str) -> Result<Option<(String, GrantState)>, ApiError> {
        if let Some((grant_id, secret)) = token
            .strip_prefix(OPAQUE_ACCESS_PREFIX)
            .and_then(split_handle)
        {
            let Some(state) = self.backend.load_grant(grant_id).await? else {
                return Ok(None);
            };
            let hash = sha256_hex(secret);
            let known = state.opaque_access.iter().any(|(h, _)| *h == hash);
            return Ok(known.then(|| (grant_id.to_string(), state)));
        }
        if let Some((grant_id, secret)) = split_handle(token) {
            let Some(state) = self.backend.load_grant(grant_id).await? else {
                return Ok(None);
            };
            let hash = sha256_hex(secret);
            let known = state
                .refresh
                .as_ref()
                .is_some_and(|f| f.current_hash == hash || f.rotated_hashes.contains(&hash));
            return Ok(known.then(|| (grant_id.to_string(), state)));
        }
        let policy = VerifyPolicy {
            issuer: self.issuer(),
            audience: None,
            now: self.now,
        };
        let verified =
            verify_access_token_with(token, &self.config.keys, &policy, self.backend).await;
        let Ok(verified) = verified else {
            return Ok(None);
        };
        let Some(grant_id) = verified.grant_id else {
            return Ok(None);
        };
        Ok(self
            .backend
            .load_grant(&grant_id)
            .await?
            .map(|state| (grant_id, state)))
    }

    /// `POST /introspect` (RFC 7662), for authenticated confidential clients. A token is
    /// described only to the client it was issued to and to the clients an administrator marked
    /// as resource servers (RFC 7662 §4); to anyone else, and for another plugin's grants, it is
    /// `active: false`.
    pub async fn introspect(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = body_params(head, body)?;
        let client = self.authenticate(head, &params).await?;
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "only confidential clients may introspect",
            )
            .into());
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let inactive = || token_json(&json!({ "active": false }));
        if let Some((grant_id, secret)) = token
            .strip_prefix(OPAQUE_ACCESS_PREFIX)
            .and_then(split_handle)
        {
            let Some(state) = self.backend.load_grant(grant_id).await? else {
                return Ok(inactive());
            };
            let hash = sha256_hex(secret);
            if !crate::oauth::grant::opaque_access_is_live(&state, &hash, self.now)
                || !issued_by(&state, self.issuer())
                || !may_introspect(&client, &state.client_id)
            {
                return Ok(inactive());
            }
            let exp = state
                .opaque_access
                .iter()
                .find(|(h, _)| *h == hash)
                .map(|(_, e)| *e);
            return Ok(token_json(&json!({
                "active": true,
                "token_type": "Bearer",
                "scope": state.scopes.join(" "),
                "client_id": state.client_id,
                "sub": state.user_id,
                "exp": exp,
                "aud": self.issuer(),
                "iss": self.issuer(),
            })));
        }
        if let Some((grant_id, secret)) = split_handle(token) {
            let Some(state) = self.backend.load_grant(grant_id).await? else {
                return Ok(inactive());
            };
            let family = match &state.refresh {
                Some(f)
                    if state.client_id == client.id
                        && issued_by(&state, self.issuer())
                        && !state.revoked
                        && f.current_hash == sha256_hex(secret)
                        && self.now < f.expires_at =>
                {
                    f
                }
                _ => return Ok(inactive()),
            };
            return Ok(token_json(&json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": state.scopes.join(" "),
                "client_id": state.client_id,
                "sub": state.user_id,
                "exp": family.expires_at,
                "iss": self.issuer(),
            })));
        }
        let policy = VerifyPolicy {
            issuer: self.issuer(),
            audience: None,
            now: self.now,
        };
        let verified =
            verify_access_token_with(token, &self.config.keys, &policy, self.backend).await;
        let Ok(verified) = verified else {
            return Ok(inactive());
        };
        if !may_introspect(&client, &verified.client_id) {
            return Ok(inactive());
        }
        if let Some(grant_id) = &verified.grant_id {
            match self.backend.load_grant(grant_id).await? {
                Some(state) if !state.revoked && issued_by(&state, self.issuer()) => {}
                _ => return Ok(inactive()),
            }
        }
        let aud = match &verified.audience {
            Audience::One(a) => json!(a),
            Audience::Many(list) => json!(list),
        };
        Ok(token_json(&json!({
            "active": true,
            "token_type": "Bearer",
            "scope": verified.scopes.join(" "),
            "client_id": verified.client_id,
            "sub": verified.subject,
            "exp": verified.expires_at,
            "iat": verified.issued_at,
            "aud": aud,
            "iss": self.issuer(),
            "jti": verified.jti,
        })))
    }

    // ----- /userinfo ----------------------------------------------------------------------------

    /// `GET|POST /userinfo`: who the token's user is; `email` and `name` when its scopes allow.
    pub async fn userinfo(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let challenge = |error: Option<&'static str>, description: &str| {
            ApiError::Unauthorized(Box::new(crate::error::Challenge {
                scheme: "Bearer",
                realm: self.config.plugin.name_for_model.clone(),
                resource_metadata: None,
                error,
                error_description: error.map(|_| description.to_string()),
                scope: None,
            }))
        };
        let header = head
            .single_header("authorization")
            .map_err(|_| OAuthError::invalid_request("send one Authorization header"))?
            .ok_or_else(|| challenge(None, ""))?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(challenge(None, "")),
        };
        if let Some((grant_id, secret)) = token
            .strip_prefix(OPAQUE_ACCESS_PREFIX)
            .and_then(split_handle)
        {
            let state = self.backend.load_grant(grant_id).await?;
            let live = state.as_ref().is_some_and(|s| {
                crate::oauth::grant::opaque_access_is_live(s, &sha256_hex(secret), self.now)
            });
            let Some(state) = state.filter(|_| live) else {
                return Err(challenge(
                    Some("invalid_token"),
                    "the access token is not valid",
                ));
            };
            return self
                .userinfo_body(&state.user_id, &state.scopes, &challenge)
                .await;
        }
        let policy = VerifyPolicy {
            issuer: self.issuer(),
            audience: None,
            now: self.now,
        };
        let verified = verify_access_token_with(token, &self.config.keys, &policy, self.backend)
            .await
            .map_err(|r| challenge(Some("invalid_token"), r.description()))?;
        if verified.machine {
            return Err(challenge(
                Some("invalid_token"),
                "a machine client's token has no user",
            ));
        }
        if let Some(grant_id) = &verified.grant_id {
            match self.backend.load_grant(grant_id).await? {
                Some(state) if !state.revoked => {}
                _ => {
                    return Err(challenge(
                        Some("invalid_token"),
                        "the token's grant was revoked",
                    ))
                }
            }
        }
        self.userinfo_body(&verified.subject, &verified.scopes, &challenge)
            .await
    }

    /// The claims `/userinfo` answers for a user and the scopes their token holds.
    async fn userinfo_body(
        &self,
        user_id: &str,
        scopes: &[String],
        challenge: &dyn Fn(Option<&'static str>, &str) -> ApiError,
    ) -> Result<Reply, ApiError> {
        let user = self
            .backend
            .find_user(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| challenge(Some("invalid_token"), "the token's user no longer exists"))?;
        let mut body = json!({ "sub": user.id });
        if scopes.iter().any(|s| s == "email") {
            body["email"] = json!(user.email);
        }
        if scopes.iter().any(|s| s == "profile") {
            body["name"] = json!(user.name);
        }
        Ok(token_json(&body))
    }
}

/// The authorization request's query without `prompt`, percent-encoded again.
/// RFC 7662 §4: the client a token was issued to may introspect it, and so may the clients an
/// administrator marked as resource servers; nobody else learns anything about it.
fn may_introspect(caller: &Client, token_client_id: &str) -> bool {
    caller.may_introspect || caller.id == token_client_id
}

/// An authorization error for a client no administrator vetted, before the user has interacted:
/// shown on the gateway's page rather than redirected, so nobody can use the gateway to bounce a
/// browser to a URI they registered themselves.
fn unvetted_error(code: OAuthErrorCode, description: &str) -> String {
    format!(
        "The application's request cannot be completed ({}: {description}). Go back to the application and try again.",
        code.as_str()
    )
}

/// The authorization request to return to after signing in: `prompt=login` is done with (so the
/// next visit proceeds), while `prompt=consent` still applies.
fn without_prompt(params: &Params) -> String {
    params
        .iter()
        .filter_map(|(k, v)| {
            if k != "prompt" {
                return Some((k, v.to_string()));
            }
            let rest: Vec<&str> = v.split(' ').filter(|p| *p == "consent").collect();
            (!rest.is_empty()).then(|| (k, rest.join(" ")))
        })
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(&v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A Unix time as a calendar date (UTC), for the account page.
fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

fn strip(params: Params, names: &[&str]) -> Params {
    let mut out = Params::default();
    for (k, v) in params.iter() {
        if !names.contains(&k) {
            out.insert(k, v);
        }
    }
    out
}

fn redirect(status: u16, location: &str) -> Reply {
    Reply::new(status)
        .with_header("location", location)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
}

fn with_cookie(reply: Reply, set: Option<String>) -> Reply {
    match set {
        Some(cookie) => reply.with_header("set-cookie", cookie),
        None => reply,
    }
}

fn cors_preflight(allowed: &[&str]) -> Reply {
    Reply::new(204)
        .with_header("access-control-allow-origin", "*")
        .with_header("access-control-allow-methods", allowed.join(", "))
        .with_header(
            "access-control-allow-headers",
            "authorization, content-type",
        )
        .with_header("access-control-max-age", "86400")
}

/// RFC 8414 authorization-server metadata (also served as OpenID Connect discovery).
pub fn metadata(config: &Config) -> Value {
    let base = &config.public_base_url;
    let mut scopes: Vec<String> = OPENID_SCOPES.iter().map(|s| s.to_string()).collect();
    if let AuthConfig::OAuth { scope, .. } = &config.plugin.auth {
        for s in parse_scope(scope) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
    }
    let assertion_algs: Vec<&str> = JwsAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    // Only the algorithm ID tokens are signed with: no client can ask for another.
    let id_token_algs = [config.keys.id_token_alg().as_str()];
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
        "userinfo_endpoint": format!("{base}{USERINFO_PATH}"),
        "registration_endpoint": format!("{base}{REGISTER_PATH}"),
        "client_id_metadata_document_supported": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", MACHINE_GRANT],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "name"],
        "prompt_values_supported": ["none", "login", "consent"],
    })
}

/// A token that could not be signed: the platform signer failing is a 503 (it may be retried), a
/// missing key or unserializable claims a 500 (only a deployment change mends it).
fn sign_failure(what: &str, error: SignError) -> ApiError {
    match error {
        SignError::Platform(e) => ApiError::Unavailable(format!("{what}: {}", e.0)),
        other => ApiError::Internal(format!("{what}: {}", other.describe())),
    }
}

/// Routes an authorization-server request by its path; `None` when the path is not one of ours.
pub async fn handle<B: Backend>(
    server: &AuthServer<'_, B>,
    head: &RequestHead,
    body: &[u8],
) -> Option<Result<Reply, ApiError>> {
    let endpoint = AuthEndpoint::from_path(&head.path)?;
    if let Err(e) = Endpoint::AuthServer(endpoint).check_method(&head.method()) {
        return Some(Err(e));
    }
    Some(serve(server, endpoint, head, body).await)
}

/// Serves a request routed to one of the authorization server's endpoints or the portal's pages
/// (its method already checked).
pub async fn serve<B: Backend>(
    server: &AuthServer<'_, B>,
    endpoint: AuthEndpoint,
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
        AuthEndpoint::Token => server.token(head, body).await,
        AuthEndpoint::Revoke => server.revoke(head, body).await,
        AuthEndpoint::Introspect => server.introspect(head, body).await,
        AuthEndpoint::Userinfo => server.userinfo(head).await,
        AuthEndpoint::Register => server.register(head, body).await,
    }
}
