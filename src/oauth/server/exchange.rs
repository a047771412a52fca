//! The token-exchange grant (RFC 8693) at `POST /token`: a resource server trades the access
//! token it was called with for one to another resource of this deployment, for the same user.
//! The decisions are [`crate::oauth::exchange`]'s; here, the subject token is verified, its grant
//! and user checked, the user's roles read on the target, and the token signed.

use serde_json::json;

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::error::ApiError;
use crate::http::Reply;
use crate::oauth::access_token::VerifiedAccessToken;
use crate::oauth::client::Client;
use crate::oauth::exchange::{self, ACCESS_TOKEN_TYPE};
use crate::oauth::grant::issued_by;
use crate::oauth::params::Params;
use crate::oauth::server::token::{confidential_only, AccessToken};
use crate::oauth::server::{token_json, AuthServer};
use crate::ports::Backend;
use crate::rbac::scope::{Resource, ScopeContext};

/// The `iss` a JWT's payload names, read without checking anything.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims = crate::primitives::json::parse_unique(&payload).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

impl<'a, B: Backend> AuthServer<'a, B> {
    /// The subject token, verified once, against the issuer it names when that is this plugin
    /// or a sibling whose tokens its policies take (`Config::exchange_issuers`), else against
    /// this plugin's (and so refused); and the issuer it was verified against.
    async fn verify_subject(
        &self,
        token: &str,
    ) -> Result<(VerifiedAccessToken, &'a str), ApiError> {
        // The claim is read unverified only to pick which issuer to hold the token to.
        let named = unverified_issuer(token);
        let issuer = self
            .config
            .exchange_issuers
            .iter()
            .map(String::as_str)
            .find(|i| named.as_deref() == Some(*i))
            .unwrap_or(self.issuer());
        self.verify_own_jwt(token, issuer)
            .await
            .map(|verified| (verified, issuer))
            .map_err(|r| {
                OAuthError::invalid_request(format!(
                    "the subject token is not valid: {}",
                    r.description()
                ))
                .into()
            })
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`. Every refusal is the RFC's
    /// error, and nothing is stored either way: the exchanged token is a JWT that names the
    /// subject token's grant, so revoking that grant shows in introspection.
    pub(crate) async fn token_exchange(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&str>,
    ) -> Result<Reply, ApiError> {
        confidential_only(
            client,
            "token exchange is for confidential clients (resource servers)",
        )?;
        let request = exchange::read_request(params)?;
        // RFC 8693 §2.2.2: a subject token that cannot be used is `invalid_request`.
        let invalid_subject = |why: &str| {
            ApiError::from(OAuthError::invalid_request(format!(
                "the subject token {why}"
            )))
        };
        // Its issuer is this plugin, or a plugin of this deployment whose resource a policy takes
        // tokens from (an MCP server behind one plugin calling the API behind this one). The
        // keys are the deployment's; each issuer is tried as the token's `iss` must match it.
        let (subject, subject_issuer) = self.verify_subject(request.subject_token).await?;
        if subject.machine {
            return Err(invalid_subject(
                "is a machine client's: there is no user to act for",
            ));
        }
        // A bound token stays bound: exchanged, it binds to the exchanger's key.
        if subject.jkt.is_some() && jkt.is_none() {
            return Err(invalid_subject(
                "is DPoP-bound: send a DPoP proof of your own key with the exchange",
            ));
        }
        let rule = exchange::policy_for(
            &self.config.plugin.token_exchange,
            &client.id,
            &subject.audience,
            request.target,
        )?;
        let actor = exchange::actor(&client.id, subject.actor.as_ref())
            .ok_or_else(|| invalid_subject("was exchanged too many times already"))?;
        let (resource, context) = self
            .subject_standing(&subject, subject_issuer, request.target)
            .await?;
        let scopes = exchange::decide_scopes(request.scopes.as_deref(), rule, &context);
        if scopes.is_empty() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "the user's roles and the exchange policy leave no scope on that resource",
            )
            .into());
        }
        let ttl = exchange::lifetime(resource.access_token_ttl_secs, subject.expires_at, self.now);
        if ttl <= 0 {
            return Err(invalid_subject("expired"));
        }
        let token = AccessToken {
            sub: &subject.subject,
            client_id: &client.id,
            scopes: &scopes,
            gid: subject.grant_id.as_deref(),
            gty: None,
            act: Some(actor),
        };
        let mut body = self
            .access_token_only(&resource, token, ttl, jkt, "an exchanged")
            .await?;
        body["issued_token_type"] = json!(ACCESS_TOKEN_TYPE);
        Ok(token_json(&body))
    }

    /// The subject's grant must stand and its user be active; with them, the user's roles on the
    /// target resource, which must be one this plugin issues for.
    async fn subject_standing(
        &self,
        subject: &VerifiedAccessToken,
        subject_issuer: &str,
        target: &str,
    ) -> Result<(Resource, ScopeContext), ApiError> {
        let invalid_subject = |why: &str| {
            ApiError::from(OAuthError::invalid_request(format!(
                "the subject token {why}"
            )))
        };
        let grant = async {
            match &subject.grant_id {
                Some(id) => self.backend.load_grant(id).await.map(Some),
                None => Ok(None),
            }
        };
        let (grant, user, context) = futures_util::future::join3(
            grant,
            self.backend.find_user(&subject.subject),
            self.user_scope_context(&subject.subject, None, Some(target)),
        )
        .await;
        if let Some(state) = grant? {
            let live = state.is_some_and(|s| !s.revoked && issued_by(&s, subject_issuer));
            if !live {
                return Err(invalid_subject("comes from a grant that was revoked"));
            }
        }
        if user?.is_none_or(|u| u.disabled) {
            return Err(invalid_subject("names a user who is no longer active"));
        }
        let context = context?;
        let Some(resource) = context.resource.clone().filter(|r| r.indicator == target) else {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "the requested resource is not one this plugin issues for",
            )
            .into());
        };
        Ok((resource, context))
    }
}
