//! The portal's side of upstream sign-in (see [`crate::federation`]): `POST /login/provider/{id}`
//! starts it, `GET /login/provider/{id}/callback` finishes it, and `POST /login/link` links an
//! identity to the existing account its verified email matched, once the user proves the account.
//! Every failure is a page that says what happened and leads back; its cause goes to the log
//! line, never to the page.

use crate::error::ApiError;
use crate::federation::accounts::{resolve, Refusal, Resolution};
use crate::federation::flow::{acceptable_return_to, flow_cookie, link_cookie, Flow, PendingLink};
use crate::federation::oidc::{
    check_id_token, merge_userinfo, parse_id_token, parse_token_response, Expected, TokenResponse,
};
use crate::federation::tokens::{keep, keep_sealed, seal_tokens, token_request, Owner};
use crate::federation::{
    github, IdentityProvider, ProviderKind, UpstreamError, UpstreamIdentity, FLOW_TTL_SECS,
};
use crate::http::{Method, Reply, RequestHead};
use crate::oauth::client_assertion::{select_key, AssertionError};
use crate::oauth::params::Params;
use crate::oauth::server::{body_params, redirect, with_cookie, AuthServer};
use crate::portal::pages::{link_page, message_with_link, LinkForm};
use crate::portal::password::{verify_password, MAX_PASSWORD_BYTES};
use crate::ports::{
    Backend, LinkedIdentity, NewFederatedUser, ProvisionOutcome, UpstreamRequest, User,
};
use crate::primitives::secret::constant_time_eq;
use crate::routes::{ACCOUNT_PATH, LOGIN_PATH, LOGIN_PROVIDER_PREFIX};
use crate::web::session::{csrf_token, read_cookie, set_cookie, verify_csrf, SignInMethod};

impl<B: Backend> AuthServer<'_, B> {
    /// `/login/provider/{id}` (POST: start) and `/login/provider/{id}/callback` (GET: finish).
    pub async fn provider_endpoint(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let rest = head.path.strip_prefix(LOGIN_PROVIDER_PREFIX).unwrap_or("");
        let (id, callback) = match rest.strip_suffix("/callback") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let Some(provider) = self.config.sign_in.provider(id) else {
            return Ok(self.local_error(404, "This sign-in option does not exist here."));
        };
        match (head.method(), callback) {
            (Method::Post, false) => self.start_upstream(head, body, provider).await,
            (Method::Get, true) => self.upstream_callback(head, provider).await,
            (_, false) => Err(ApiError::MethodNotAllowed {
                allow: vec!["POST".into()],
            }),
            (_, true) => Err(ApiError::MethodNotAllowed {
                allow: vec!["GET".into()],
            }),
        }
    }

    /// A page that says what went wrong and leads back to `back` (or the sign-in page).
    /// The page of a refused sign-in: the same for every [`Refusal`].
    fn refusal_page(&self, refusal: Refusal, provider: &IdentityProvider, back: &str) -> Reply {
        let page = refusal.page(&provider.name);
        self.upstream_page(page.status, page.title, &page.message, back)
    }

    fn upstream_page(&self, status: u16, title: &str, message: &str, back: &str) -> Reply {
        let (href, text) = if back.is_empty() {
            (LOGIN_PATH, "Back to sign-in")
        } else if back == ACCOUNT_PATH {
            (ACCOUNT_PATH, "Back to your account")
        } else {
            (back, "Back to sign-in")
        };
        message_with_link(status, self.brand(), title, message, href, text)
    }

    async fn start_upstream(
        &self,
        head: &RequestHead,
        body: &[u8],
        provider: &IdentityProvider,
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        // Linking from the account page is an action on the signed-in account: its form's token
        // is bound to the session, as the account page's other actions are.
        let linking = params.get("link") == Some("1");
        let (purpose, link_to) = if linking {
            let session = self.session(head);
            let user = match &session {
                Some(s) => self.session_user(s).await?,
                None => None,
            };
            match (session, user) {
                (Some(s), Some(u)) => (format!("account:{}", s.nonce), Some(u.id)),
                _ => return Ok(self.local_error(401, "Your session ended. Sign in again.")),
            }
        } else {
            ("login".to_string(), None)
        };
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &purpose,
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        // Linking returns to the account page, or to the authorization that asked for it. A
        // return path that cannot be carried is refused, not dropped: the user would land
        // nowhere after the provider.
        let asked = params.get("return_to").filter(|r| !r.is_empty());
        if asked.is_some_and(|r| !acceptable_return_to(r)) {
            return Ok(self.local_error(
                400,
                "This sign-in cannot return to where it started (the request is too long or not this site's). Go back and try again.",
            ));
        }
        let return_to = match (linking, asked) {
            (true, None) => ACCOUNT_PATH,
            (_, asked) => asked.unwrap_or(""),
        };
        let (endpoint, oidc) = match &provider.kind {
            ProviderKind::Oidc { issuer, .. } => {
                match self.backend.discovery(issuer, false, self.now).await {
                    Ok(d) => (d.authorization_endpoint, true),
                    Err(why) => {
                        return Ok(self
                            .upstream_page(
                                502,
                                "Sign-in unavailable",
                                &UpstreamError::Unavailable(why.clone()).message(&provider.name),
                                return_to,
                            )
                            .with_note(format!("upstream {}: discovery: {why}", provider.id)))
                    }
                }
            }
            ProviderKind::GitHub {
                authorization_endpoint,
                ..
            } => match url::Url::parse(authorization_endpoint) {
                Ok(url) => (url, false),
                Err(_) => {
                    return Err(ApiError::Internal(format!(
                        "provider {}: authorization_endpoint",
                        provider.id
                    )))
                }
            },
        };
        let random = [
            self.random_b64(32)?,
            self.random_b64(32)?,
            self.random_b64(32)?,
        ];
        let flow = Flow::start(&provider.id, return_to, link_to, random, self.now);
        let location =
            flow.authorization_url(provider, &endpoint, &self.redirect_uri(provider), oidc);
        let secure = self.secure_cookies();
        Ok(redirect(303, &location).with_header(
            "set-cookie",
            set_cookie(
                flow_cookie(secure),
                &flow.seal(self.key()),
                FLOW_TTL_SECS,
                secure,
            ),
        ))
    }

    fn redirect_uri(&self, provider: &IdentityProvider) -> String {
        format!("{}{}", self.issuer(), provider.callback_path())
    }

    async fn upstream_callback(
        &self,
        head: &RequestHead,
        provider: &IdentityProvider,
    ) -> Result<Reply, ApiError> {
        let secure = self.secure_cookies();
        let cleared = set_cookie(flow_cookie(secure), "", 0, secure);
        let flow = read_cookie(head, flow_cookie(secure))
            .and_then(|cookie| Flow::open(self.key(), cookie, &provider.id, self.now));
        let query =
            Params::from_urlencoded(head.query.as_deref().unwrap_or("")).unwrap_or_default();
        let outcome = match &flow {
            None => Err(UpstreamError::FlowExpired),
            Some(flow) => self.complete_upstream(provider, flow, &query).await,
        };
        let reply = match (outcome, flow) {
            (Ok((identity, tokens)), Some(flow)) => {
                match self
                    .finish_upstream(head, provider, &flow, identity, &tokens)
                    .await
                {
                    Ok(reply) => reply,
                    // A store that failed mid-way: still a page, and the sign-in cookie still goes.
                    Err(e) => self
                        .upstream_page(
                            503,
                            "Sign-in did not complete",
                            "Something went wrong on our side. Try again in a moment.",
                            &flow.return_to,
                        )
                        .with_note(format!(
                            "upstream {}: {}",
                            provider.id,
                            e.internal_reason().unwrap_or(e.code())
                        )),
                }
            }
            (Err(error), flow) => {
                let status = match error {
                    UpstreamError::FlowExpired | UpstreamError::Mismatch(_) => 400,
                    UpstreamError::Refused { .. } => 403,
                    UpstreamError::Unavailable(_) | UpstreamError::Invalid(_) => 502,
                };
                let back = flow.as_ref().map(|f| f.return_to.as_str()).unwrap_or("");
                self.upstream_page(
                    status,
                    "Sign-in did not complete",
                    &error.message(&provider.name),
                    back,
                )
                .with_note(format!("upstream {}: {}", provider.id, error.reason()))
            }
            (Ok(_), None) => return Err(ApiError::Internal("an identity without a flow".into())),
        };
        Ok(reply.with_header("set-cookie", cleared))
    }

    /// The callback's protocol half: the response is this browser's, the code is exchanged, and
    /// what the provider says about the user is verified.
    async fn complete_upstream(
        &self,
        provider: &IdentityProvider,
        flow: &Flow,
        query: &Params,
    ) -> Result<(UpstreamIdentity, TokenResponse), UpstreamError> {
        let state_ok = query
            .get("state")
            .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
        if !state_ok {
            return Err(UpstreamError::Mismatch("state"));
        }
        match &provider.kind {
            ProviderKind::Oidc {
                issuer,
                allowed_tenants,
            } => {
                let discovery = self
                    .backend
                    .discovery(issuer, false, self.now)
                    .await
                    .map_err(UpstreamError::Unavailable)?;
                // RFC 9207: a provider that names itself in the response must name itself. (An
                // Entra template issuer cannot be compared before the ID token says the tenant.)
                match query.get("iss") {
                    Some(iss) if !issuer.contains("{tenantid}") && iss != issuer => {
                        return Err(UpstreamError::Mismatch("iss"))
                    }
                    None if discovery.iss_parameter_supported => {
                        return Err(UpstreamError::Mismatch("iss missing"))
                    }
                    _ => {}
                }
                refused(query)?;
                let token = self
                    .exchange_upstream_code(
                        provider,
                        discovery.token_endpoint.as_str(),
                        query,
                        flow,
                    )
                    .await?;
                let id_token = token.id_token.as_deref().ok_or_else(|| {
                    UpstreamError::Invalid("the token response has no id_token".into())
                })?;
                let jws = parse_id_token(id_token, &discovery.id_token_algs)?;
                let key = {
                    let keys = self
                        .backend
                        .provider_jwks(&discovery.jwks_uri, false, self.now)
                        .await
                        .map_err(UpstreamError::Unavailable)?;
                    match select_key(&keys, jws.alg, jws.kid.as_deref()) {
                        Ok(key) => key.clone(),
                        // A key not seen before: the provider rotated; fetch its keys again.
                        Err(AssertionError::NoKey { .. }) => {
                            let keys = self
                                .backend
                                .provider_jwks(&discovery.jwks_uri, true, self.now)
                                .await
                                .map_err(UpstreamError::Unavailable)?;
                            select_key(&keys, jws.alg, jws.kid.as_deref())
                                .map_err(|_| {
                                    UpstreamError::Invalid(
                                        "no key of the provider verifies the ID token".into(),
                                    )
                                })?
                                .clone()
                        }
                        Err(e) => {
                            return Err(UpstreamError::Invalid(format!("ID token key: {e:?}")))
                        }
                    }
                };
                let verified = self
                    .backend
                    .verify_jws(jws.alg, &key, &jws.signing_input, &jws.signature)
                    .await
                    .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
                if !verified {
                    return Err(UpstreamError::Invalid(
                        "ID token: the signature does not verify".into(),
                    ));
                }
                let identity = check_id_token(
                    &jws.claims,
                    &Expected {
                        issuer,
                        client_id: &provider.client_id,
                        nonce: &flow.nonce,
                        now: self.now,
                        allowed_tenants,
                    },
                )?;
                let identity = match (&discovery.userinfo_endpoint, identity.email.is_empty()) {
                    (Some(userinfo), true) => {
                        let response = self
                            .backend
                            .upstream(UpstreamRequest {
                                method: "GET",
                                url: userinfo.to_string(),
                                headers: vec![
                                    ("accept", "application/json".into()),
                                    ("authorization", format!("Bearer {}", token.access_token)),
                                ],
                                form: None,
                            })
                            .await
                            .map_err(UpstreamError::Unavailable)?;
                        if response.status == 200 {
                            merge_userinfo(identity, &response.body)?
                        } else {
                            identity
                        }
                    }
                    _ => identity,
                };
                Ok((identity, token))
            }
            ProviderKind::GitHub {
                token_endpoint,
                api_base_url,
                ..
            } => {
                refused(query)?;
                let token = self
                    .exchange_upstream_code(provider, token_endpoint, query, flow)
                    .await?;
                let get = |path: &str| {
                    let mut headers: Vec<(&'static str, String)> = github::API_HEADERS
                        .iter()
                        .map(|(k, v)| (*k, v.to_string()))
                        .collect();
                    headers.push(("authorization", format!("Bearer {}", token.access_token)));
                    self.backend.upstream(UpstreamRequest {
                        method: "GET",
                        url: format!("{api_base_url}{path}"),
                        headers,
                        form: None,
                    })
                };
                let (user, emails) =
                    futures_util::future::join(get("/user"), get("/user/emails")).await;
                let (user, emails) = (
                    user.map_err(UpstreamError::Unavailable)?,
                    emails.map_err(UpstreamError::Unavailable)?,
                );
                let identity =
                    github::identity((user.status, &user.body), (emails.status, &emails.body))?;
                Ok((identity, token))
            }
        }
    }

    /// The authorization code for tokens, with the PKCE verifier and the client's credentials.
    async fn exchange_upstream_code(
        &self,
        provider: &IdentityProvider,
        token_endpoint: &str,
        query: &Params,
        flow: &Flow,
    ) -> Result<TokenResponse, UpstreamError> {
        let code = query
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(UpstreamError::Mismatch("the callback has no code"))?;
        let redirect_uri = self.redirect_uri(provider);
        let request = token_request(
            provider,
            token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &flow.verifier),
            ],
        );
        let response = self
            .backend
            .upstream(request)
            .await
            .map_err(UpstreamError::Unavailable)?;
        parse_token_response(response.status, &response.content_type, &response.body)
    }

    /// Keeps the sign-in's tokens when the provider is set to (`keep_tokens`).
    async fn keep_upstream_tokens(
        &self,
        provider: &IdentityProvider,
        user_id: &str,
        subject: &str,
        tokens: &TokenResponse,
    ) -> Result<(), ApiError> {
        match (&self.config.upstream_token_key, provider.keep_tokens) {
            (Some(key), true) => Ok(keep(
                self.backend,
                key,
                Owner {
                    user_id,
                    provider: &provider.id,
                    subject,
                },
                tokens,
                None,
                self.now,
            )
            .await?),
            _ => Ok(()),
        }
    }

    /// The account half: whose account this identity is, and what happens next.
    async fn finish_upstream(
        &self,
        head: &RequestHead,
        provider: &IdentityProvider,
        flow: &Flow,
        identity: UpstreamIdentity,
        tokens: &TokenResponse,
    ) -> Result<Reply, ApiError> {
        let linking = match &flow.link_to {
            None => None,
            Some(user_id) => {
                let me = match self.session(head) {
                    Some(session) => self.session_user(&session).await?,
                    None => None,
                };
                match me.filter(|u| u.id == *user_id) {
                    Some(user) => Some(user),
                    None => {
                        return Ok(self
                            .upstream_page(401, "Sign-in did not complete", "Your session ended while linking. Sign in again, then link from your account page.", ACCOUNT_PATH)
                            .with_note(format!("upstream {}: link: session ended", provider.id)))
                    }
                }
            }
        };
        let (linked, by_email) = self
            .backend
            .accounts_for(&provider.id, &identity.subject, &identity.email)
            .await?;
        let record = LinkedIdentity {
            provider: provider.id.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            email_verified: identity.email_verified,
            created_at: self.now,
            last_used_at: self.now,
        };
        let note = |what: &str| format!("upstream {}: {what}", provider.id);
        match resolve(
            provider,
            &identity,
            linked,
            by_email,
            linking,
            self.config.sign_in.password,
        ) {
            Resolution::SignIn(user) => {
                self.backend.touch_identity(&record).await?;
                self.keep_upstream_tokens(provider, &user.id, &record.subject, tokens)
                    .await?;
                Ok(self
                    .start_session(
                        user,
                        &flow.return_to,
                        SignInMethod::Provider(provider.id.clone()),
                    )?
                    .with_note(note("signed in")))
            }
            Resolution::Link { user, already } => {
                // One identity per provider and user: a second account at the same provider is
                // refused, not stacked.
                if !already && !self.backend.link_identity(&user.id, &record).await? {
                    return Ok(self
                        .upstream_page(
                            409,
                            "Sign-in did not complete",
                            &format!(
                                "Another {} account is already linked to yours. Unlink it from your account page first.",
                                provider.name
                            ),
                            ACCOUNT_PATH,
                        )
                        .with_note(note("a second identity at the provider")));
                }
                self.keep_upstream_tokens(provider, &user.id, &record.subject, tokens)
                    .await?;
                // Back to the account page, or to the authorization that asked for the account.
                let back = if flow.return_to.is_empty() {
                    ACCOUNT_PATH
                } else {
                    flow.return_to.as_str()
                };
                Ok(redirect(303, back).with_note(note("linked to the signed-in user")))
            }
            Resolution::ProveAccount(user) => {
                let (csrf, csrf_set) = self.csrf_cookie(head)?;
                // Tokens the provider keeps ride along sealed, and are stored once the account is
                // proven.
                let sealed = match (&self.config.upstream_token_key, provider.keep_tokens) {
                    (Some(key), true) => Some(
                        seal_tokens(
                            self.backend,
                            key,
                            &provider.id,
                            &identity.subject,
                            tokens,
                            None,
                            self.now,
                        )
                        .await?,
                    ),
                    _ => None,
                };
                let pending = PendingLink {
                    provider: provider.id.clone(),
                    subject: identity.subject,
                    email: identity.email,
                    user_id: user.id,
                    return_to: flow.return_to.clone(),
                    expires_at: self.now + FLOW_TTL_SECS,
                    tokens: sealed,
                };
                let secure = self.secure_cookies();
                let page = self.link_form(200, provider, &pending, &csrf, None);
                Ok(with_cookie(page, csrf_set)
                    .with_header(
                        "set-cookie",
                        set_cookie(
                            link_cookie(secure),
                            &pending.seal(self.key()),
                            FLOW_TTL_SECS,
                            secure,
                        ),
                    )
                    .with_note(note("existing account: asked for its password")))
            }
            Resolution::Provision { roles } => {
                let subject = record.subject.clone();
                let (user, outcome) = self
                    .provision(&identity.email, &identity.name, roles, record)
                    .await?;
                match outcome {
                    ProvisionOutcome::Created => {
                        self.keep_upstream_tokens(provider, &user.id, &subject, tokens).await?;
                        Ok(self.start_session(user, &flow.return_to, SignInMethod::Provider(provider.id.clone()))?.with_note(note("provisioned")))
                    }
                    ProvisionOutcome::Taken => Ok(self
                        .upstream_page(409, "Sign-in did not complete", "Another sign-in for this account finished at the same moment. Start again.", &flow.return_to)
                        .with_note(note("provisioning raced"))),
                    ProvisionOutcome::MissingRole => Ok(self
                        .upstream_page(500, "Sign-in did not complete", "This sign-in option is not set up correctly. Tell the administrator.", &flow.return_to)
                        .with_note(note("a role in default_roles or domain_roles does not exist"))),
                }
            }
            // One page for every reason (which one it was is for the log only).
            Resolution::Refused(refusal) => Ok(self
                .refusal_page(refusal, provider, &flow.return_to)
                .with_note(note(refusal.as_str()))),
        }
    }

    /// Creates a user with `roles`, linked to the identity `record` (all or nothing), for a
    /// sign-in at an upstream provider or an enterprise's identity assertion.
    pub(crate) async fn provision(
        &self,
        email: &str,
        name: &str,
        roles: Vec<String>,
        record: LinkedIdentity,
    ) -> Result<(User, ProvisionOutcome), ApiError> {
        let user = User {
            id: format!("usr_{}", self.random_b64(12)?),
            email: email.to_string(),
            name: name.to_string(),
            password_hash: None,
            disabled: false,
            session_epoch: 0,
        };
        let outcome = self
            .backend
            .provision_user(&NewFederatedUser {
                id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
                roles,
                identity: record,
            })
            .await?;
        Ok((user, outcome))
    }

    fn link_form(
        &self,
        status: u16,
        provider: &IdentityProvider,
        pending: &PendingLink,
        csrf: &str,
        notice: Option<&str>,
    ) -> Reply {
        let back = if pending.return_to.is_empty() {
            LOGIN_PATH
        } else {
            pending.return_to.as_str()
        };
        link_page(
            status,
            self.brand(),
            &LinkForm {
                email: &pending.email,
                provider: &provider.name,
                csrf_token: &csrf_token(self.key(), csrf, "link"),
                back,
                notice,
            },
        )
    }

    /// `POST /login/link`: the password of the account a verified email matched; when it is
    /// right, the identity is linked and the user signed in. Failures are throttled as sign-ins.
    pub async fn link_account(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let csrf = read_cookie(head, self.cookies().csrf);
        if !verify_csrf(self.key(), csrf, "link", params.get("csrf_token")) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        let secure = self.secure_cookies();
        let pending = read_cookie(head, link_cookie(secure))
            .and_then(|c| PendingLink::open(self.key(), c, self.now));
        let Some((pending, provider)) = pending.and_then(|p| {
            let provider = self.config.sign_in.provider(&p.provider)?;
            Some((p, provider))
        }) else {
            return Ok(self.upstream_page(
                400,
                "Sign-in did not complete",
                &UpstreamError::FlowExpired.message(""),
                "",
            ));
        };
        if !self.config.sign_in.password {
            let refusal = Refusal::NoWayToProve;
            return Ok(self
                .refusal_page(refusal, provider, &pending.return_to)
                .with_note(format!("upstream {}: {}", provider.id, refusal.as_str())));
        }
        let csrf = csrf.unwrap_or_default();
        let password = params.get("password").unwrap_or("");
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Ok(self.link_form(400, provider, &pending, csrf, Some("Enter the password.")));
        }
        let charges = match self.charge_sign_in(head, &pending.email).await? {
            Ok(charges) => charges,
            Err(reset_secs) => {
                let wait = reset_secs.div_ceil(60).max(1);
                return Ok(self
                    .link_form(429, provider, &pending, csrf, Some(&format!("Too many failed attempts from your network. Try again in {wait} minutes.")))
                    .with_header("retry-after", reset_secs.max(1).to_string()));
            }
        };
        let user = self.backend.find_user(&pending.user_id).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = verify_password(self.backend, password, stored).await?;
        let user = match user {
            Some(u) if ok && !u.disabled && u.email.eq_ignore_ascii_case(&pending.email) => u,
            _ => return Ok(self.link_form(401, provider, &pending, csrf, Some("Wrong password."))),
        };
        let record = LinkedIdentity {
            provider: provider.id.clone(),
            subject: pending.subject.clone(),
            email: pending.email.clone(),
            email_verified: true,
            created_at: self.now,
            last_used_at: self.now,
        };
        if !self.backend.link_identity(&user.id, &record).await? {
            let (linked, _) = self
                .backend
                .accounts_for(&provider.id, &pending.subject, "")
                .await?;
            let why = match linked {
                Some(same) if same.id == user.id => None,
                Some(_) => Some(Refusal::LinkedToAnother.page(&provider.name).message),
                None => Some(format!(
                    "Another {} account is already linked to this account. Sign in with it, or unlink it from your account page first.",
                    provider.name
                )),
            };
            if let Some(why) = why {
                return Ok(self
                    .upstream_page(409, "Sign-in did not complete", &why, &pending.return_to)
                    .with_note(format!(
                        "upstream {}: link refused at the store",
                        provider.id
                    )));
            }
        }
        if let Some(sealed) = pending.tokens.clone() {
            let owner = Owner {
                user_id: &user.id,
                provider: &provider.id,
                subject: &pending.subject,
            };
            keep_sealed(self.backend, owner, sealed, self.now).await?;
        }
        self.refund_sign_in(&charges).await?;
        Ok(self
            .start_session(
                user,
                &pending.return_to,
                SignInMethod::Provider(provider.id.clone()),
            )?
            .with_header("set-cookie", set_cookie(link_cookie(secure), "", 0, secure))
            .with_note(format!(
                "upstream {}: linked by email with the password",
                provider.id
            )))
    }
}

/// An error the provider put in the authorization response (RFC 6749 §4.1.2.1); only after
/// `state` (and `iss`) showed the response is this sign-in's.
fn refused(query: &Params) -> Result<(), UpstreamError> {
    match query.get("error") {
        None => Ok(()),
        Some(error) => {
            let clean = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(200)
                    .collect()
            };
            Err(UpstreamError::Refused {
                error: clean(error),
                description: clean(query.get("error_description").unwrap_or("")),
            })
        }
    }
}
