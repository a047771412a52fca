//! The JWT-bearer grant with an identity assertion (ID-JAG) at `POST /token`: enterprise-managed
//! authorization. The decisions are [`crate::oauth::id_jag`]'s; here, the provider's keys are
//! fetched, the signature checked, the `jti` remembered, the account found (or linked, or made),
//! and the token signed. Every problem with the assertion is `invalid_grant` (RFC 7523 §3.1).

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::error::ApiError;
use crate::http::Reply;
use crate::oauth::client::Client;
use crate::oauth::client_assertion::{parse_compact_jws, select_key, AssertionError};
use crate::oauth::id_jag::{self, Account, EnterpriseIdp};
use crate::oauth::params::Params;
use crate::oauth::server::token::scope_param;
use crate::oauth::server::token::{confidential_only, AccessToken};
use crate::oauth::server::{token_json, AuthServer};
use crate::ports::{Backend, LinkedIdentity, ProvisionOutcome, User};
use crate::routes::TOKEN_PATH;

fn invalid(why: impl Into<String>) -> ApiError {
    OAuthError::invalid_grant(why.into()).into()
}

impl<B: Backend> AuthServer<'_, B> {
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an ID-JAG `assertion`.
    pub(crate) async fn jwt_bearer(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&str>,
    ) -> Result<Reply, ApiError> {
        confidential_only(
            client,
            "identity assertions are taken from confidential clients",
        )?;
        let text = params
            .get("assertion")
            .ok_or_else(|| OAuthError::invalid_request("assertion is required"))?;
        let jws = parse_compact_jws(text, id_jag::MAX_BYTES)
            .map_err(|_| invalid("the assertion is not a signed JWT this server accepts"))?;
        let idp = id_jag::provider_for(&self.config.plugin.enterprise_idps, &jws)
            .ok_or_else(|| invalid("the assertion's issuer is not a trusted provider"))?;
        let token_endpoint = format!("{}{TOKEN_PATH}", self.issuer());
        let asserted = id_jag::check_claims(
            &jws,
            idp,
            self.issuer(),
            &token_endpoint,
            &client.id,
            self.now,
        )
        .map_err(invalid)?;
        let target = assertion_target(
            asserted.resource.as_deref(),
            params.get("resource"),
            &self.config.plugin.resource,
        )?;
        // Another plugin's resource is refused before anything is spent or stored: not the
        // assertion's `jti`, not a provisioned account (RFC 8707 `invalid_target`).
        if !self.config.issues_for(&target) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "the requested resource is not one this plugin issues for",
            )
            .into());
        }
        self.check_assertion_signature(idp, &jws).await?;
        self.take_once(idp, &asserted).await?;
        let user = self.enterprise_user(idp, &asserted).await?;
        let requested = scope_param(params)?;
        let context = self
            .user_scope_context(&user.id, None, Some(&target))
            .await?;
        let Some(resource) = context.resource.clone().filter(|r| r.indicator == target) else {
            return Err(invalid("the assertion's resource is not registered here"));
        };
        let scopes =
            id_jag::decide_scopes(requested.as_deref(), asserted.scopes.as_deref(), &context);
        if scopes.is_empty() {
            return Err(invalid(
                "what was asked, what the assertion allows and what the user's roles hold leave no scope",
            ));
        }
        let token = AccessToken {
            sub: &user.id,
            client_id: &client.id,
            scopes: &scopes,
            gid: None,
            gty: None,
            act: None,
        };
        let ttl = resource.access_token_ttl_secs;
        let body = self
            .access_token_only(&resource, token, ttl, jkt, "an identity assertion's")
            .await?;
        Ok(token_json(&body))
    }

    /// The assertion's `jti`, taken once while the assertion could still be accepted.
    async fn take_once(
        &self,
        idp: &EnterpriseIdp,
        asserted: &id_jag::Assertion,
    ) -> Result<(), ApiError> {
        let ttl = u64::try_from(asserted.expires_at.saturating_add(id_jag::LEEWAY_SECS) - self.now)
            .unwrap_or(1)
            .max(1);
        // RFC 7523 §3 (7) and RFC 7519 §4.1.7: a `jti` is unique per issuer. Remembered under the provider's
        // issuer, not this plugin's id for it, so an assertion whose `aud` names several plugins
        // that trust the same provider is taken once in the whole deployment.
        let once = format!("id-jag:{}:{}", idp.issuer, asserted.jti);
        if !self
            .backend
            .remember_once(&once, ttl, self.now as u64)
            .await?
        {
            return Err(invalid("the assertion was already used"));
        }
        Ok(())
    }

    /// The assertion's signature, with the provider's key its `kid` names (the JWKS fetched again
    /// once when the key is not in it: the provider rotated).
    async fn check_assertion_signature(
        &self,
        idp: &EnterpriseIdp,
        jws: &crate::oauth::client_assertion::CompactJws,
    ) -> Result<(), ApiError> {
        let unavailable = |why: String| {
            ApiError::from(OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                format!("the provider's keys could not be had: {why}"),
            ))
        };
        let keys = self
            .backend
            .client_jwks(&idp.jwks_uri, false, self.now)
            .await?
            .map_err(unavailable)?;
        let key = match select_key(&keys, jws.alg, jws.kid.as_deref()) {
            Ok(key) => key.clone(),
            Err(AssertionError::NoKey { kid: Some(_) }) => {
                let fresh = self
                    .backend
                    .client_jwks(&idp.jwks_uri, true, self.now)
                    .await?
                    .map_err(unavailable)?;
                select_key(&fresh, jws.alg, jws.kid.as_deref())
                    .map_err(|_| invalid("no key of the provider fits the assertion"))?
                    .clone()
            }
            Err(_) => return Err(invalid("no key of the provider fits the assertion")),
        };
        if !self
            .backend
            .verify_jws(jws.alg, &key, &jws.signing_input, &jws.signature)
            .await?
        {
            return Err(invalid("the assertion's signature does not verify"));
        }
        Ok(())
    }

    /// The account an assertion is for: linked already, linked now by email where the provider
    /// may, or made just in time with the provider's roles.
    async fn enterprise_user(
        &self,
        idp: &EnterpriseIdp,
        asserted: &id_jag::Assertion,
    ) -> Result<User, ApiError> {
        let provider = idp.provider();
        let (linked, by_email) = self
            .backend
            .accounts_for(&provider, &asserted.subject, &asserted.email)
            .await?;
        let record = LinkedIdentity {
            provider,
            subject: asserted.subject.clone(),
            email: asserted.email.clone(),
            email_verified: !asserted.email.is_empty(),
            created_at: self.now,
            last_used_at: self.now,
        };
        match id_jag::account(idp, asserted, linked, by_email) {
            Account::Known(user) => {
                self.backend.touch_identity(&record).await?;
                Ok(user)
            }
            Account::LinkByEmail(user) => {
                if !self.backend.link_identity(&user.id, &record).await? {
                    return Err(invalid(
                        "the identity could not be linked: it is linked already, or the user is linked to another identity at this provider",
                    ));
                }
                Ok(user)
            }
            Account::Provision(roles) => {
                let (user, outcome) = self
                    .provision(&asserted.email, &asserted.name, roles, record)
                    .await?;
                match outcome {
                    ProvisionOutcome::Created => Ok(user),
                    ProvisionOutcome::Taken => Err(invalid(
                        "another request made this account first: try again",
                    )),
                    ProvisionOutcome::MissingRole => Err(ApiError::Internal(format!(
                        "enterprise provider {}: a role in default_roles does not exist",
                        idp.id
                    ))),
                }
            }
            Account::Refused(why) => Err(invalid(why)),
        }
    }
}

/// The assertion's resource; else the request's; else the plugin's own. A request naming another
/// than the assertion's is refused (the MCP profile: `invalid_grant`).
fn assertion_target(
    asserted: Option<&str>,
    asked: Option<&str>,
    plugins: &str,
) -> Result<String, ApiError> {
    match (asserted, asked) {
        (Some(asserted), Some(asked)) if asserted != asked => {
            Err(invalid("resource differs from the assertion's"))
        }
        (Some(target), _) | (None, Some(target)) => Ok(target.to_string()),
        (None, None) => Ok(plugins.to_string()),
    }
}
