//! `POST /token`: the `authorization_code`, `refresh_token` and `client_credentials` grants, and
//! the token response (access token, refresh token, ID token).

use jwt_compact::Claims;
use serde_json::{json, Value};

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::jose::signing::sign_jwt;
use crate::oauth::access_token::{
    mint_access_token_as, AccessClaims, Audience, Confirmation, MACHINE_GRANT,
};
use crate::oauth::authorize::is_absolute_uri_without_fragment;
use crate::oauth::client::{Client, ClientKind};
use crate::oauth::dpop::{self, DpopError};
use crate::oauth::grant::{
    CodeRedemption, GrantError, Issued, RefreshRotation, Undo, SECRET_BYTES,
};
use crate::oauth::params::Params;
use crate::oauth::presented::OPAQUE_ACCESS_PREFIX;
use crate::oauth::server::{body_params, sign_failure, token_json, AuthServer};
use crate::ports::{Backend, GrantHolder, User};
use crate::primitives::hash::sha256_hex;
use crate::primitives::syntax::split_handle;
use crate::rbac::scope::{decide_client_scopes, parse_scope, still_held, Resource};

impl<B: Backend> AuthServer<'_, B> {
    /// `POST /token`: the `authorization_code`, `refresh_token` and `client_credentials` grants.
    pub async fn token(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = body_params(head, body)?;
        let client = self.authenticate(head, &params).await?;
        let grant_type = params
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let exchanging = grant_type == crate::oauth::exchange::GRANT_TYPE
            && !self.config.plugin.token_exchange.is_empty();
        let asserting = grant_type == crate::oauth::id_jag::GRANT_TYPE
            && !self.config.plugin.enterprise_idps.is_empty();
        if !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | MACHINE_GRANT
        ) && !exchanging
            && !asserting
        {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )
            .into());
        }
        // The proof is checked before the grant moves, so a bad one spends no code.
        let jkt = match self.proven_key(head, &client).await? {
            Ok(jkt) => jkt,
            Err(refusal) => return Ok(self.dpop_refusal(&refusal)),
        };
        let jkt = jkt.as_deref();
        let reply = match grant_type {
            "authorization_code" => self.exchange_code(&client, &params, jkt).await,
            "refresh_token" => self.refresh(&client, &params, jkt).await,
            MACHINE_GRANT => self.client_credentials(&client, &params, jkt).await,
            crate::oauth::id_jag::GRANT_TYPE => self.jwt_bearer(&client, &params, jkt).await,
            _ => self.token_exchange(&client, &params, jkt).await,
        }?;
        Ok(self.with_dpop_nonce(reply))
    }

    /// The DPoP key a token request proved (RFC 9449 §5): `Ok(Some(jkt))` with a good proof,
    /// `Ok(None)` without one where none is required, the refusal otherwise.
    async fn proven_key(
        &self,
        head: &RequestHead,
        client: &Client,
    ) -> Result<Result<Option<String>, DpopError>, ApiError> {
        let policy = self.config.dpop();
        let header = match dpop::proof_header(head) {
            Ok(header) => header,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(header) = header else {
            if policy.required || client.dpop_bound {
                return Ok(Err(DpopError::Invalid(
                    "this client's tokens must be DPoP-bound: send a DPoP proof".into(),
                )));
            }
            return Ok(Ok(None));
        };
        let url = self.config.request_url(head);
        let expected = dpop::Expected {
            method: "POST",
            url: &url,
            access_token: None,
            nonce: policy
                .nonce
                .then_some(dpop::Nonce::Current(self.nonce_key())),
            now: self.now,
        };
        let proof = match dpop::check_proof(header, &expected) {
            Ok(proof) => proof,
            Err(refusal) => return Ok(Err(refusal)),
        };
        Ok(dpop::accept(self.backend, &proof, self.now)
            .await?
            .map(|()| Some(proof.jkt)))
    }

    /// A refused proof: the RFC 9449 §5 error, with a fresh nonce when the plugin uses them.
    fn dpop_refusal(&self, refusal: &DpopError) -> Reply {
        let code = match refusal {
            DpopError::Invalid(_) => OAuthErrorCode::InvalidDpopProof,
            DpopError::UseNonce => OAuthErrorCode::UseDpopNonce,
        };
        let reply = ApiError::OAuth(OAuthError::new(code, refusal.description()))
            .to_reply()
            .with_note(format!("{}: {}", refusal.code(), refusal.description()));
        self.with_dpop_nonce(reply)
    }

    /// `DPoP-Nonce` on a token endpoint reply, when the plugin requires nonces (RFC 9449 §8.2).
    fn with_dpop_nonce(&self, reply: Reply) -> Reply {
        if !self.config.dpop().nonce {
            return reply;
        }
        match dpop::server_nonce(self.nonce_key(), self.now) {
            Some(nonce) => reply
                .with_header("dpop-nonce", nonce)
                .with_header("access-control-expose-headers", "DPoP-Nonce"),
            None => reply,
        }
    }

    /// The `client_credentials` grant (RFC 6749 §4.4): a confidential client, authenticated with
    /// its secret or a signed assertion, gets an access token for itself (`sub` = its client id),
    /// with the scopes its own roles hold on the resource. No refresh token (§4.4.3) and no ID
    /// token: there is no user. A client that holds no scope there is refused, not given an
    /// empty token.
    pub(crate) async fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&str>,
    ) -> Result<Reply, ApiError> {
        confidential_only(
            client,
            "the client_credentials grant is for confidential clients",
        )?;
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
        let context = self.machine_scope_context(&client.id, resource).await?;
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
        let token = AccessToken {
            sub: &client.id,
            client_id: &client.id,
            scopes: &grant.scopes,
            gid: None,
            gty: Some(MACHINE_GRANT),
            act: None,
        };
        let ttl = resource.access_token_ttl_secs;
        let body = self
            .access_token_only(&resource, token, ttl, jkt, "a machine client's")
            .await?;
        Ok(token_json(&body))
    }

    /// The answer of a grant that issues an access token alone (machine clients, token exchange,
    /// identity assertions): a JWT for `resource`, bound to the DPoP key `jkt` when given; `what`
    /// names the token in a signing failure.
    pub(crate) async fn access_token_only(
        &self,
        resource: &Resource,
        token: AccessToken<'_>,
        ttl: i64,
        jkt: Option<&str>,
        what: &str,
    ) -> Result<Value, ApiError> {
        let scope = token.scopes.join(" ");
        let claims = AccessClaims {
            iss: self.issuer().to_string(),
            sub: token.sub.to_string(),
            aud: Audience::One(resource.indicator.clone()),
            jti: self.random_b64(16)?,
            client_id: token.client_id.to_string(),
            scope: scope.clone(),
            gid: token.gid.map(str::to_string),
            gty: token.gty.map(str::to_string),
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_string(),
            }),
            act: token.act,
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
        .map_err(|e| sign_failure(&format!("could not sign {what} access token"), e))?;
        Ok(json!({
            "access_token": access_token,
            "token_type": token_type(jkt),
            "expires_in": ttl,
            "scope": scope,
        }))
    }

    /// A candidate opaque access token: its secret, and the (hash, expiry) the grant keeps if it
    /// has no API resource.
    pub(crate) fn new_opaque_access(&self) -> Result<(String, Option<(String, i64)>), ApiError> {
        let secret = self.random_b64(SECRET_BYTES)?;
        let stored = (
            sha256_hex(&secret),
            self.now + self.settings.access_token_ttl_secs,
        );
        Ok((secret, Some(stored)))
    }

    pub(crate) async fn exchange_code(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&str>,
    ) -> Result<Reply, ApiError> {
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
            jkt: jkt.map(str::to_string),
            // RFC 9449 §5: a public client's refresh tokens are bound to its key; a confidential
            // client's are already bound to its credentials.
            bind_refresh: client.kind != ClientKind::Confidential,
        };
        let ledger = self.backend.redeem_code(grant_id, &redemption);
        let step = Undo::Redemption {
            new_refresh_hash: redemption.new_refresh_hash.clone(),
        };
        let refresh_token = format!("{grant_id}.{refresh_secret}");
        let tokens = NewTokens {
            refresh_token: &refresh_token,
            opaque_secret: &opaque_secret,
            first: true,
            jkt,
        };
        self.answer_after(grant_id, ledger, step, &tokens).await
    }

    pub(crate) async fn refresh(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&str>,
    ) -> Result<Reply, ApiError> {
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
            jkt: jkt.map(str::to_string),
        };
        let ledger = self.backend.rotate_refresh(grant_id, &rotation);
        let step = Undo::Rotation {
            old_hash: rotation.refresh_hash.clone(),
            new_hash: rotation.new_refresh_hash.clone(),
        };
        let refresh_token = format!("{grant_id}.{new_secret}");
        let tokens = NewTokens {
            refresh_token: &refresh_token,
            opaque_secret: &opaque_secret,
            first: false,
            jkt,
        };
        self.answer_after(grant_id, ledger, step, &tokens).await
    }

    /// The ledger's redemption or rotation, with the grant's user read beside it from the grant
    /// index; then the tokens, or the refusal.
    async fn answer_after(
        &self,
        grant_id: &str,
        ledger: impl std::future::Future<
            Output = Result<Result<Issued, GrantError>, crate::ports::StoreError>,
        >,
        step: Undo,
        tokens: &NewTokens<'_>,
    ) -> Result<Reply, ApiError> {
        let (issued, holder) = futures_util::future::join(
            ledger,
            self.backend
                .holder_of_grant(grant_id, &self.config.plugin.plan_roles),
        )
        .await;
        let issued = self.refused_unless_issued(grant_id, issued?).await?;
        self.answer(issued, holder?, tokens, step).await
    }

    /// The ledger's answer to a redemption or rotation; a refusal that means the grant is revoked
    /// is noted in the index before the client hears it.
    async fn refused_unless_issued(
        &self,
        grant_id: &str,
        answer: Result<Issued, GrantError>,
    ) -> Result<Issued, ApiError> {
        match answer {
            Ok(issued) => Ok(issued),
            Err(refusal) => {
                self.grants()
                    .note_refusal(grant_id, &refusal, self.now)
                    .await?;
                Err(ApiError::OAuth(refusal.to_oauth()))
            }
        }
    }

    /// What both grants do once the grant has moved on: its user must still be active, its
    /// scopes are narrowed to what the user's roles and plans hold now, then the token response.
    /// If no token can be made (a signature failed), the grant's `step` is taken back, so the
    /// client's retry with the same code or refresh token is not mistaken for reuse.
    async fn answer(
        &self,
        issued: Issued,
        holder: Option<GrantHolder>,
        tokens: &NewTokens<'_>,
        step: Undo,
    ) -> Result<Reply, ApiError> {
        let holder = holder.filter(|h| h.user.id == issued.user_id);
        self.require_active_user(&issued, holder.as_ref().map(|h| &h.user))
            .await?;
        let issued = self.narrowed_to_held(issued, holder).await?;
        let reply = self.token_response(&issued, tokens).await;
        if reply.is_err() {
            self.backend.undo_step(&issued.grant_id, &step).await?;
        }
        reply
    }

    /// The grant's scopes that its user's roles and plans still hold on its resource
    /// ([`still_held`]): a role an administrator took away, a role's permission removed, a
    /// plan cancelled or lapsed past its grace leave the next token. What the user holds comes
    /// from the grant index, read beside the grant's own round trip; only a grant the index
    /// does not know (or knows for another resource) costs a read of the policy.
    async fn narrowed_to_held(
        &self,
        mut issued: Issued,
        holder: Option<GrantHolder>,
    ) -> Result<Issued, ApiError> {
        let Some(resource) = &issued.resource else {
            // Only OpenID scopes were granted: no role gives them.
            issued.scopes = still_held(&issued.scopes, &[]);
            return Ok(issued);
        };
        let held = match holder.filter(|h| h.resource.as_deref() == Some(&resource.indicator)) {
            Some(holder) => holder.permissions,
            None => {
                let context = self
                    .backend
                    .scope_context(
                        &issued.user_id,
                        None,
                        Some(&resource.indicator),
                        &self.config.plugin.resource,
                        &self.config.plugin.plan_roles,
                    )
                    .await?;
                match context.resource {
                    Some(found) if found.indicator == resource.indicator => context.permissions,
                    _ => Vec::new(),
                }
            }
        };
        issued.scopes = still_held(&issued.scopes, &held);
        Ok(issued)
    }

    /// After a code is redeemed or a refresh token rotated: the grant's user must still exist and
    /// not be disabled (disabling revokes a user's grants, but a consent in flight can finish
    /// after that sweep). If not, the grant is revoked and no token leaves. The user comes from
    /// the grant index, read beside the grant's own round trip (one D1 read, no added wait); only
    /// a grant the index does not know costs a lookup by the user id the grant names.
    async fn require_active_user(
        &self,
        issued: &Issued,
        indexed: Option<&User>,
    ) -> Result<(), ApiError> {
        let active = match indexed.filter(|u| u.id == issued.user_id) {
            Some(u) => !u.disabled,
            None => self
                .backend
                .find_user(&issued.user_id)
                .await?
                .is_some_and(|u| !u.disabled),
        };
        if !active {
            self.grants().revoke(&issued.grant_id, self.now).await?;
            return Err(OAuthError::invalid_grant("the grant's user is no longer active").into());
        }
        Ok(())
    }

    /// The token response. With an API resource, the access token is a JWT for it; without one
    /// (only OpenID scopes were granted), it is the opaque handle the grant recorded, good only at
    /// `/userinfo`. The JWT is signed with the algorithm the resource chose. Either is bound to the
    /// DPoP key the request proved, if any (`cnf.jkt` in the JWT, beside the handle's hash in the
    /// grant for the opaque one; `token_type: DPoP`).
    pub(crate) async fn token_response(
        &self,
        issued: &Issued,
        tokens: &NewTokens<'_>,
    ) -> Result<Reply, ApiError> {
        let jkt = tokens.jkt;
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
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_string(),
            }),
            act: None,
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
            format!(
                "{OPAQUE_ACCESS_PREFIX}{}.{}",
                issued.grant_id, tokens.opaque_secret
            )
        };
        let mut body = json!({
            "access_token": access_token,
            "token_type": token_type(jkt),
            "expires_in": ttl,
            "refresh_token": tokens.refresh_token,
        });
        // ChatGPT rejects an empty scope; omit it when nothing was granted.
        if !scope.is_empty() {
            body["scope"] = Value::String(scope);
        }
        if issued.scopes.iter().any(|s| s == "openid") {
            body["id_token"] = Value::String(self.id_token(issued, ttl, tokens.first).await?);
        }
        Ok(token_json(&body))
    }

    /// An OpenID Connect ID token for the client (`aud` = its client_id): RS256 when an RSA key is
    /// configured (OpenID Connect Core §15.1), else EdDSA.
    pub(crate) async fn id_token(
        &self,
        issued: &Issued,
        ttl: i64,
        first: bool,
    ) -> Result<String, ApiError> {
        let mut custom = json!({
            "iss": self.issuer(),
            "sub": issued.user_id,
            "aud": issued.client_id,
            "auth_time": issued.auth_time,
            "acr": crate::oauth::acr::acr_of(&issued.amr),
        });
        if !issued.amr.is_empty() {
            custom["amr"] = json!(issued.amr);
        }
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
}

/// What a token response hands out besides the access token: the refresh token, the opaque
/// access token's secret (used when the grant has no API resource), whether this is the code's
/// redemption (the ID token then echoes the nonce), and the DPoP key to bind to.
pub(crate) struct NewTokens<'a> {
    pub refresh_token: &'a str,
    pub opaque_secret: &'a str,
    pub first: bool,
    pub jkt: Option<&'a str>,
}

/// Who an access-token-only grant's token is for ([`AuthServer::access_token_only`]).
pub(crate) struct AccessToken<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub gid: Option<&'a str>,
    pub gty: Option<&'a str>,
    pub act: Option<crate::oauth::access_token::Actor>,
}

/// Grants for resource servers and machines: refused to public clients.
pub(crate) fn confidential_only(client: &Client, why: &str) -> Result<(), ApiError> {
    if client.kind != ClientKind::Confidential {
        return Err(OAuthError::new(OAuthErrorCode::UnauthorizedClient, why).into());
    }
    Ok(())
}

/// `DPoP` for a token bound to a key, else `Bearer` (RFC 9449 §5).
fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// The `scope` parameter of a token request, split; `None` when absent.
pub(crate) fn scope_param(params: &Params) -> Result<Option<Vec<String>>, OAuthError> {
    match params.get("scope") {
        None => Ok(None),
        Some(s) if !s.chars().all(crate::primitives::syntax::is_scope_char) => Err(
            OAuthError::new(OAuthErrorCode::InvalidScope, "scope has invalid characters"),
        ),
        Some(s) => Ok(Some(parse_scope(s))),
    }
}
