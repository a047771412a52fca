//! `GET|POST /userinfo`: who the token's user is, as far as its scopes allow.

use serde_json::json;

use crate::error::oauth::OAuthError;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::dpop;
use crate::oauth::grant::issued_by;
use crate::oauth::presented::PresentedToken;
use crate::oauth::server::{token_json, AuthServer};
use crate::ports::Backend;

impl<B: Backend> AuthServer<'_, B> {
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
                ..Default::default()
            }))
        };
        let header = head
            .authorization()
            .map_err(|_| OAuthError::invalid_request("send one Authorization header"))?
            .filter(|h| h.is("bearer") || h.is("dpop"))
            .ok_or_else(|| challenge(None, ""))?;
        let dpop_scheme = header.is("dpop");
        let token = header
            .token68()
            .ok_or_else(|| challenge(Some("invalid_token"), "the access token is malformed"))?;
        let refused = |(error, why): (&'static str, String)| {
            crate::proxy::dpop::dpop_challenge(self.config, error, why, self.now)
        };
        if let PresentedToken::OpaqueAccess(handle) = PresentedToken::classify(token) {
            let state = self.backend.load_grant(handle.grant_id).await?;
            // Issued here: a sibling plugin's opaque token names a grant in the same store.
            let live = state.as_ref().is_some_and(|s| {
                handle.opaque_access_is_live(s, self.now) && issued_by(s, self.issuer())
            });
            let Some(state) = state.filter(|_| live) else {
                return Err(challenge(
                    Some("invalid_token"),
                    "the access token is not valid",
                ));
            };
            self.check_binding(head, token, dpop_scheme, handle.opaque_access_jkt(&state))
                .await?
                .map_err(refused)?;
            return self
                .userinfo_body(&state.user_id, &state.scopes, &challenge)
                .await;
        }
        let verified = self
            .verify_own_jwt(token, self.issuer())
            .await
            .map_err(|r| challenge(Some("invalid_token"), r.description()))?;
        if verified.machine {
            return Err(challenge(
                Some("invalid_token"),
                "a machine client's token has no user",
            ));
        }
        self.check_binding(head, token, dpop_scheme, verified.jkt.as_deref())
            .await?
            .map_err(refused)?;
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

    /// RFC 9449 §7 at `/userinfo`: a bound token comes with the `DPoP` scheme and a proof of its
    /// key; an unbound one as `Bearer`, and not at all where the plugin requires DPoP. `Ok(Err)`
    /// is the refusal (its error code and description), `Err` a store failure.
    async fn check_binding(
        &self,
        head: &RequestHead,
        token: &str,
        dpop_scheme: bool,
        jkt: Option<&str>,
    ) -> Result<Result<(), (&'static str, String)>, ApiError> {
        let invalid_token = |why: &str| Ok(Err(("invalid_token", why.to_string())));
        let Some(jkt) = jkt else {
            if dpop_scheme {
                return invalid_token("the access token is not DPoP-bound: send it as Bearer");
            }
            if self.config.dpop().required {
                return invalid_token("this server takes DPoP-bound access tokens only");
            }
            return Ok(Ok(()));
        };
        if !dpop_scheme {
            return invalid_token("the access token is DPoP-bound: send it with the DPoP scheme");
        }
        let refusal = |e: dpop::DpopError| Ok(Err((e.code(), e.description())));
        let header = match dpop::proof_header(head) {
            Ok(Some(header)) => header,
            Ok(None) => {
                return refusal(dpop::DpopError::Invalid(
                    "a DPoP-bound token needs a DPoP proof header".into(),
                ))
            }
            Err(e) => return refusal(e),
        };
        let url = self.config.request_url(head);
        let expected = dpop::Expected {
            method: head.method.as_ref().map(|m| m.as_str()).unwrap_or(""),
            url: &url,
            access_token: Some(token),
            nonce: self
                .config
                .dpop()
                .nonce
                .then_some(dpop::Nonce::Current(self.nonce_key())),
            now: self.now,
        };
        let proof = match dpop::check_proof(header, &expected) {
            Ok(proof) if proof.jkt == jkt => proof,
            Ok(_) => {
                return refusal(dpop::DpopError::Invalid(
                    "the proof's key is not the one the access token is bound to".into(),
                ))
            }
            Err(e) => return refusal(e),
        };
        Ok(match dpop::accept(self.backend, &proof, self.now).await? {
            Ok(()) => Ok(()),
            Err(e) => Err((e.code(), e.description())),
        })
    }

    /// The claims `/userinfo` answers for a user and the scopes their token holds.
    pub(crate) async fn userinfo_body(
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
