//! `GET /authorize` and the consent form's `POST /authorize`: the authorization request checked
//! in two phases, the scope decision, remembered and incremental consent, and the code issued.

use crate::error::oauth::OAuthErrorCode;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::authorize::{
    check_client_and_redirect, code_redirect, error_redirect, validate_authorize_request,
    AuthorizeError, AuthorizeRequest,
};
use crate::oauth::display::check_presentation;
use crate::oauth::grant::{CodeStatus, GrantState, GRANT_ID_BYTES, SECRET_BYTES};
use crate::oauth::params::{form_encode, Params};
use crate::oauth::server::{body_params, redirect, with_cookie, AuthServer};
use crate::ports::{Backend, ConsentKey, StoreError, User};
use crate::primitives::hash::sha256_hex;
use crate::rbac::scope::{decide_scopes, ScopeContext, ScopeGrant};
use crate::routes::AUTHORIZE_PATH;
use crate::web::pages::{consent_page, provider_required_page, ConsentForm, ProviderButton};
use crate::web::session::{csrf_token, read_cookie, verify_csrf, Session};

/// A session this many seconds old meets any `max_age`: the redirect from the sign-in form back
/// to `/authorize` takes a moment, and the ID token's `auth_time` says when it was.
const SIGN_IN_GRACE_SECS: i64 = 10;

/// The consent form's answer when the session it was made in is gone.
const SESSION_ENDED: &str = "Your session ended. Go back to the application and start again.";

impl<B: Backend> AuthServer<'_, B> {
    /// Phase 1 and 2 of validation on a set of parameters, loading the client. `interacted`: the
    /// user acted on this request (the consent form), so errors may go back to any client.
    pub(crate) async fn authorize_request(
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
        // A client presenting itself as another app is refused on our page, never redirected.
        check_presentation(&client, &self.plugin_names()).map_err(|why| {
            Ok(AuthorizeError::Local {
                message: unvetted_error(OAuthErrorCode::InvalidClient, &why),
            })
        })?;
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

    pub(crate) fn authorize_error_reply(
        &self,
        error: AuthorizeError,
        status_for_redirect: u16,
    ) -> Reply {
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
    pub(crate) fn redirect_error(
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

    /// The first provider this plugin's routes forward the user's token at (`upstream_token`) for
    /// which none is kept: the user signs in there before the app is allowed, so its calls work.
    /// No read at all for plugins without such routes.
    async fn upstream_account_needed(
        &self,
        user_id: &str,
    ) -> Result<Option<&crate::federation::IdentityProvider>, ApiError> {
        let mut asked: Vec<&str> = Vec::new();
        for rule in self.config.plugin.routes.rules() {
            let Some(id) = rule.upstream_token.as_deref() else {
                continue;
            };
            if asked.contains(&id) {
                continue;
            }
            asked.push(id);
            if self.backend.kept_tokens(user_id, id).await?.is_none() {
                return Ok(self.config.sign_in.provider(id));
            }
        }
        Ok(None)
    }

    /// `GET /authorize`: validate, then sign in, then consent (or skip it), then redirect.
    pub async fn authorize(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let raw_query = head.query.as_deref().unwrap_or("");
        let params = match Params::from_urlencoded(raw_query) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description())),
        };
        let session = self.session(head);
        let (request, read) = match &session {
            Some(session) => {
                let (request, user, context) = self.read_at_once(&params, false, session).await;
                (request, Some((user, context)))
            }
            None => (self.authorize_request(&params, false).await, None),
        };
        let request = match request {
            Ok(r) => r,
            Err(Ok(e)) => return Ok(self.authorize_error_reply(e, 302)),
            Err(Err(e)) => return Err(e),
        };
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        // `prompt=login` asks for a fresh sign-in: ignore the session, and drop the prompt from
        // where the login form returns to, so the next visit proceeds.
        // `max_age` (OpenID Connect Core §3.1.2.1): a session older than it is no session. A
        // sign-in of the last few seconds counts as fresh whatever the value, or `max_age=0` would
        // send the browser that just signed in back to the form forever.
        let session = session.filter(|s| {
            !request.prompt_login
                && request
                    .max_age
                    .is_none_or(|max| self.now - s.issued_at <= max.max(SIGN_IN_GRACE_SECS))
        });
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
            let reply = self.sign_in_page(&csrf, &return_to, None);
            return Ok(with_cookie(reply, csrf_set));
        };
        // A session implies the reads were made with it.
        let Some((user, context)) = read else {
            return Err(ApiError::Internal(
                "authorize: a session without its reads".into(),
            ));
        };
        let Some(user) = user? else {
            let return_to = format!("{AUTHORIZE_PATH}?{raw_query}");
            let reply = self
                .sign_in_page(&csrf, &return_to, Some("Please sign in again."))
                .with_header("set-cookie", self.clear_session_cookie());
            return Ok(with_cookie(reply, csrf_set));
        };
        let here = format!("{AUTHORIZE_PATH}?{}", without_prompt(&params));
        if let Some(reply) = self
            .authentication_unmet(&request, &user, &session, &csrf, &here, 302)
            .await?
        {
            return Ok(with_cookie(reply, csrf_set));
        }
        if let Some(reply) = self
            .upstream_account_reply(&request, &user.id, &session, &csrf, raw_query)
            .await?
        {
            return Ok(with_cookie(reply, csrf_set));
        }
        let context = self
            .context_for(&request, &params, &user.id, context)
            .await?;
        let grant = match self.decide(&request, context, 302) {
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
        let reply = self.consent_reply(&request, &params, &grant, &user, &session, &csrf);
        Ok(with_cookie(reply, csrf_set))
    }

    /// Where a route of the plugin needs the user's token at an upstream provider that none is
    /// kept for: the page that asks them to sign in there (or, with `prompt=none`, the error).
    async fn upstream_account_reply(
        &self,
        request: &AuthorizeRequest,
        user_id: &str,
        session: &Session,
        csrf: &str,
        raw_query: &str,
    ) -> Result<Option<Reply>, ApiError> {
        let Some(provider) = self.upstream_account_needed(user_id).await? else {
            return Ok(None);
        };
        if request.prompt_none {
            return Ok(Some(self.redirect_error(
                request,
                OAuthErrorCode::LoginRequired,
                "the user must sign in with an upstream provider",
                302,
            )));
        }
        let button = ProviderButton {
            action: provider.start_path(),
            name: &provider.name,
        };
        let token = csrf_token(self.key(), csrf, &format!("account:{}", session.nonce));
        let return_to = format!("{AUTHORIZE_PATH}?{raw_query}");
        let reply = provider_required_page(self.brand(), &button, &token, &return_to).with_note(
            format!("upstream {}: no token kept; asked to sign in", provider.id),
        );
        Ok(Some(reply))
    }

    /// The consent page: what the client asks that was never allowed (incremental consent), and
    /// what already is; the request's parameters carried in the form.
    fn consent_reply(
        &self,
        request: &AuthorizeRequest,
        params: &Params,
        grant: &ScopeGrant,
        user: &User,
        session: &Session,
        csrf: &str,
    ) -> Reply {
        let carried: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let redirect_host = url::Url::parse(&request.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
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
        consent_page(
            self.brand(),
            &ConsentForm {
                client_name: &request.client.name,
                unverified: !request.client.origin.is_vetted(),
                resource: grant
                    .resource
                    .as_ref()
                    .map(|r| (r.indicator.as_str(), grant.resource_name.as_str())),
                redirect_host: &redirect_host,
                user_email: &user.email,
                scopes: &asked,
                already_allowed: &allowed,
                csrf_token: &csrf_token(self.key(), csrf, &format!("consent:{}", session.nonce)),
                logout_csrf_token: &csrf_token(
                    self.key(),
                    csrf,
                    &format!("logout:{}", session.nonce),
                ),
                params: &carried,
            },
        )
    }

    /// The request validated with its client, the session's user, and what the scope decision
    /// reads (the resource, the user's permissions on it, what the user allowed the client
    /// before), all at once: one storage round trip. The context is read for the client and
    /// resource the parameters name, which validation keeps as they are.
    async fn read_at_once(
        &self,
        params: &Params,
        interacted: bool,
        session: &Session,
    ) -> (
        Result<AuthorizeRequest, Result<AuthorizeError, ApiError>>,
        Result<Option<User>, StoreError>,
        Result<ScopeContext, StoreError>,
    ) {
        futures_util::future::join3(
            self.authorize_request(params, interacted),
            self.session_user(session),
            self.user_scope_context(
                &session.user_id,
                params.get("client_id"),
                params.get("resource"),
            ),
        )
        .await
    }

    /// What [`Self::read_at_once`] read for the scope decision, if it was read for the client and
    /// resource the validated request names (validation keeps the parameters as they are, so it
    /// always is today); else it is read again for the request's own, so a context read for one
    /// client can never decide for another.
    async fn context_for(
        &self,
        request: &AuthorizeRequest,
        params: &Params,
        user_id: &str,
        read: Result<ScopeContext, StoreError>,
    ) -> Result<ScopeContext, StoreError> {
        let same_client = params.get("client_id") == Some(request.client.id.as_str());
        if same_client && params.get("resource") == request.resource.as_deref() {
            return read;
        }
        self.user_scope_context(
            user_id,
            Some(&request.client.id),
            request.resource.as_deref(),
        )
        .await
    }

    /// The scope decision for a request from what [`Self::read_at_once`] read; `Err(reply)` is
    /// the `invalid_target` error, redirected with `status` (302 before the user interacts, 303
    /// after the consent form).
    pub(crate) fn decide(
        &self,
        request: &AuthorizeRequest,
        context: ScopeContext,
        status: u16,
    ) -> Result<ScopeGrant, Reply> {
        decide_scopes(&request.scopes, request.resource.as_deref(), &context).map_err(|_| {
            self.redirect_error(
                request,
                OAuthErrorCode::InvalidTarget,
                "the requested resource is unknown",
                status,
            )
        })
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
            return Ok(self.local_error(401, SESSION_ENDED));
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
        let decision = params.get("decision").map(str::to_string);
        params = strip(params, &["csrf_token", "decision"]);
        let (request, user, context) = self.read_at_once(&params, true, &session).await;
        if user?.is_none() {
            return Ok(self
                .local_error(401, SESSION_ENDED)
                .with_header("set-cookie", self.clear_session_cookie()));
        }
        let request = match request {
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
        // The page asked for the factors the request needs; a form posted past it is refused.
        // (`max_age` was held when the page was shown: reading it takes the time it takes.)
        if !self.strong_enough(&request, &session) {
            return Ok(self.local_error(
                403,
                "This app needs a second step of sign-in. Go back to the application and start again.",
            ));
        }
        let context = self
            .context_for(&request, &params, &session.user_id, context)
            .await?;
        let grant = match self.decide(&request, context, 303) {
            Ok(g) => g,
            Err(reply) => return Ok(reply),
        };
        self.issue_and_remember(&request, &session, grant).await
    }

    /// The code for an allowed consent, and the consent remembered once the grant exists, so the
    /// next authorization for these scopes asks nothing; a grant that could not be made leaves no
    /// consent behind.
    async fn issue_and_remember(
        &self,
        request: &AuthorizeRequest,
        session: &Session,
        grant: ScopeGrant,
    ) -> Result<Reply, ApiError> {
        let resource = grant
            .resource
            .as_ref()
            .map(|r| r.indicator.clone())
            .unwrap_or_default();
        let scopes = grant.consent_after_allowing();
        let reply = self.issue_code(request, session, grant, 303).await?;
        self.backend
            .record_consent(
                &session.user_id,
                ConsentKey {
                    issuer: self.issuer(),
                    client_id: &request.client.id,
                },
                &resource,
                &scopes,
                self.now,
            )
            .await?;
        Ok(reply)
    }

    pub(crate) async fn issue_code(
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
            amr: session.amr.clone(),
            opaque_access: Vec::new(),
            opaque_jkt: Vec::new(),
            issuer: Some(self.issuer().to_string()),
            dpop_jkt: request.dpop_jkt.clone(),
        };
        self.grants().start(&state).await?;
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
}

/// An authorization error for a client no administrator vetted, before the user has interacted:
/// shown on the gateway's page rather than redirected, so nobody can use the gateway to bounce a
/// browser to a URI they registered themselves.
pub(crate) fn unvetted_error(code: OAuthErrorCode, description: &str) -> String {
    format!(
        "The application's request cannot be completed ({}: {description}). Go back to the application and try again.",
        code.as_str()
    )
}

/// The authorization request to return to after signing in: `prompt=login` is done with (so the
/// next visit proceeds), while `prompt=consent` still applies.
pub(crate) fn without_prompt(params: &Params) -> String {
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

pub(crate) fn strip(params: Params, names: &[&str]) -> Params {
    let mut out = Params::default();
    for (k, v) in params.iter() {
        if !names.contains(&k) {
            out.insert(k, v);
        }
    }
    out
}
