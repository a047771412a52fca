//! `POST /introspect` (RFC 7662): what a token is, to the client it was issued to and to resource
//! servers an administrator named.

use serde_json::json;

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::access_token::{Audience, VerifiedAccessToken, MACHINE_GRANT};
use crate::oauth::client::{Client, ClientKind};
use crate::oauth::grant::{issued_by, GrantState};
use crate::oauth::presented::PresentedToken;
use crate::oauth::server::{body_params, token_json, AuthServer};
use crate::ports::Backend;

impl<B: Backend> AuthServer<'_, B> {
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
        let (handle, opaque) = match PresentedToken::classify(token) {
            PresentedToken::OpaqueAccess(h) => (h, true),
            PresentedToken::Refresh(h) => (h, false),
            PresentedToken::Jwt(jwt) => return self.introspect_jwt(&client, jwt).await,
        };
        let Some(state) = self.backend.load_grant(handle.grant_id).await? else {
            return Ok(inactive());
        };
        if opaque {
            if !handle.opaque_access_is_live(&state, self.now)
                || !issued_by(&state, self.issuer())
                || !may_introspect(&client, &state.client_id)
            {
                return Ok(inactive());
            }
            let exp = handle.opaque_access_expiry(&state);
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
        let family = match &state.refresh {
            Some(f)
                if state.client_id == client.id
                    && issued_by(&state, self.issuer())
                    && !state.revoked
                    && handle.is_current_refresh(&state)
                    && self.now < f.expires_at =>
            {
                f
            }
            _ => return Ok(inactive()),
        };
        Ok(token_json(&json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": state.scopes.join(" "),
            "client_id": state.client_id,
            "sub": state.user_id,
            "exp": family.expires_at,
            "iss": self.issuer(),
        })))
    }

    /// Whether `state` is the grant behind a token this plugin issued: one of its own, or, for a
    /// token it issued by exchange (`act`), the grant of a sibling plugin whose tokens its
    /// policies take (`Config::exchange_issuers`).
    fn grant_backs(&self, state: &GrantState, token: &VerifiedAccessToken) -> bool {
        issued_by(state, self.issuer())
            || (token.actor.is_some()
                && self
                    .config
                    .exchange_issuers
                    .iter()
                    .any(|issuer| issued_by(state, issuer)))
    }

    /// Introspection of an access token JWT: ours, unexpired, its grant (if any) not revoked.
    async fn introspect_jwt(&self, client: &Client, token: &str) -> Result<Reply, ApiError> {
        let inactive = || token_json(&json!({ "active": false }));
        let Ok(verified) = self.verify_own_jwt(token, self.issuer()).await else {
            return Ok(inactive());
        };
        if !may_introspect(client, &verified.client_id) {
            return Ok(inactive());
        }
        if let Some(grant_id) = &verified.grant_id {
            match self.backend.load_grant(grant_id).await? {
                Some(state) if !state.revoked && self.grant_backs(&state, &verified) => {}
                _ => return Ok(inactive()),
            }
        }
        let aud = match &verified.audience {
            Audience::One(a) => json!(a),
            Audience::Many(list) => json!(list),
        };
        let mut body = json!({
            "active": true,
            "token_type": if verified.jkt.is_some() { "DPoP" } else { "Bearer" },
            "scope": verified.scopes.join(" "),
            "client_id": verified.client_id,
            "sub": verified.subject,
            "exp": verified.expires_at,
            "iat": verified.issued_at,
            "aud": aud,
            "iss": self.issuer(),
            "jti": verified.jti,
        });
        // RFC 9449 §6.2: a bound token's key, so a resource server can check the proof itself.
        if let Some(jkt) = &verified.jkt {
            body["cnf"] = json!({ "jkt": jkt });
        }
        // RFC 8693 §4.4: an exchanged token's actors, as the token names them.
        if let Some(actor) = &verified.actor {
            body["act"] = json!(actor);
        }
        // A machine client's token says so, as the token itself does (`sub` is the client).
        if verified.machine {
            body["gty"] = json!(MACHINE_GRANT);
        }
        Ok(token_json(&body))
    }
}

/// The authorization request's query without `prompt`, percent-encoded again.
/// RFC 7662 §4: the client a token was issued to may introspect it, and so may the clients an
/// administrator marked as resource servers; nobody else learns anything about it.
pub(crate) fn may_introspect(caller: &Client, token_client_id: &str) -> bool {
    caller.may_introspect || caller.id == token_client_id
}
