//! `POST /revoke` (RFC 7009): ends the grant a token belongs to.

use crate::error::oauth::OAuthError;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::grant::{issued_by, GrantState};
use crate::oauth::presented::PresentedToken;
use crate::oauth::server::{body_params, AuthServer};
use crate::ports::Backend;

impl<B: Backend> AuthServer<'_, B> {
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
                self.grants().revoke(&grant_id, self.now).await?;
            }
        }
        Ok(Reply::new(200).no_store())
    }

    /// Finds the grant a refresh token or one of our access tokens belongs to.
    pub(crate) async fn grant_of(
        &self,
        token: &str,
    ) -> Result<Option<(String, GrantState)>, ApiError> {
        let (handle, opaque) = match PresentedToken::classify(token) {
            PresentedToken::OpaqueAccess(h) => (h, true),
            PresentedToken::Refresh(h) => (h, false),
            PresentedToken::Jwt(jwt) => return self.grant_of_jwt(jwt).await,
        };
        let Some(state) = self.backend.load_grant(handle.grant_id).await? else {
            return Ok(None);
        };
        let known = if opaque {
            handle.opaque_access_expiry(&state).is_some()
        } else {
            handle.is_known_refresh(&state)
        };
        Ok(known.then(|| (handle.grant_id.to_string(), state)))
    }

    /// The grant an access token JWT of ours names.
    async fn grant_of_jwt(&self, token: &str) -> Result<Option<(String, GrantState)>, ApiError> {
        let Ok(verified) = self.verify_own_jwt(token, self.issuer()).await else {
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
}
