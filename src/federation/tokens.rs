//! The user's own tokens at a provider, kept for the origin: a provider marked `keep_tokens`
//! has the access and refresh tokens of each sign-in sealed and stored, and a route with
//! `upstream_token = "<provider>"` forwards the user's access token to the origin (so an MCP server
//! calls the provider's API for the user without running OAuth of its own), refreshed first when
//! it is about to expire.
//!
//! Each token is sealed apart with AES-256-GCM under `UPSTREAM_TOKEN_KEY`, with the identity and
//! the token's kind as associated data: a row copied onto another identity, or an access token
//! swapped for a refresh token, does not open. A token that does not open (the key was replaced)
//! counts as none kept: the user signs in with the provider again.

use super::oidc::{parse_token_response, token_error_code, TokenResponse};
use super::{ClientAuth, IdentityProvider, ProviderKind, TokenKey};
use crate::ports::{
    KeptTokens, StoreError, TokenCipher, Upstream, UpstreamRequest, UpstreamTokenStore,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// An access token this close to its expiry is refreshed before it is forwarded.
pub const REFRESH_MARGIN_SECS: i64 = 60;

/// The header the origin reads the user's token at the provider from (the caller's copy of any
/// `X-Portcullis-` header is always dropped), and the one naming the provider.
pub const TOKEN_HEADER: &str = "x-portcullis-upstream-token";
pub const PROVIDER_HEADER: &str = "x-portcullis-upstream-provider";

/// The associated data a token is sealed with: what it is and whose.
pub fn aad(kind: &str, provider: &str, subject: &str) -> String {
    format!("portcullis upstream-token v1 {kind} {provider} {subject}")
}

/// A request to the provider's token endpoint with `pairs` as the form and the gateway's client
/// credentials, as the provider takes them (`client_secret_basic`: each part form-encoded before
/// Base64, RFC 6749 §2.3.1; or in the form).
pub fn token_request(
    provider: &IdentityProvider,
    endpoint: &str,
    pairs: &[(&str, &str)],
) -> UpstreamRequest {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.append_pair("client_id", &provider.client_id);
    let mut headers = vec![("accept", "application/json".to_string())];
    match provider.client_auth {
        ClientAuth::Basic => {
            let encode =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&provider.client_id),
                encode(provider.client_secret.expose())
            );
            headers.push(("authorization", format!("Basic {}", STANDARD.encode(pair))));
        }
        ClientAuth::Post => {
            form.append_pair("client_secret", provider.client_secret.expose());
        }
    }
    UpstreamRequest {
        method: "POST",
        url: endpoint.to_string(),
        headers,
        form: Some(form.finish()),
    }
}

/// Whose tokens: the user, and their identity at the provider.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub user_id: &'a str,
    pub provider: &'a str,
    pub subject: &'a str,
}

/// A token response, sealed and not yet stored: what a sign-in that must first prove an existing
/// account carries in its (HMAC-sealed) cookie until the account is proven.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedTokens {
    #[serde(rename = "a")]
    pub access_token: String,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(rename = "s", default)]
    pub scope: String,
}

impl std::fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedTokens(..)")
    }
}

/// Seals a token response for `provider` and `subject`. A refresh that returns no new refresh
/// token keeps the one it used (`previous_refresh`, still sealed).
pub async fn seal_tokens<B: TokenCipher>(
    backend: &B,
    key: &TokenKey,
    provider: &str,
    subject: &str,
    tokens: &TokenResponse,
    previous_refresh: Option<String>,
    now: i64,
) -> Result<SealedTokens, StoreError> {
    let access_token = backend
        .seal(
            &key.0,
            &tokens.access_token,
            &aad("access", provider, subject),
        )
        .await?;
    let refresh_token = match &tokens.refresh_token {
        Some(t) => Some(
            backend
                .seal(&key.0, t, &aad("refresh", provider, subject))
                .await?,
        ),
        None => previous_refresh,
    };
    Ok(SealedTokens {
        access_token,
        refresh_token,
        expires_at: tokens
            .expires_in
            .filter(|s| *s > 0)
            .map(|s| now.saturating_add(s)),
        scope: tokens.scope.clone().unwrap_or_default(),
    })
}

/// Stores sealed tokens as the owner's.
pub async fn keep_sealed<B: UpstreamTokenStore>(
    backend: &B,
    owner: Owner<'_>,
    sealed: SealedTokens,
    now: i64,
) -> Result<(), StoreError> {
    backend
        .keep_tokens(&KeptTokens {
            provider: owner.provider.to_string(),
            subject: owner.subject.to_string(),
            user_id: owner.user_id.to_string(),
            access_token: sealed.access_token,
            refresh_token: sealed.refresh_token,
            expires_at: sealed.expires_at,
            scope: sealed.scope,
            updated_at: now,
        })
        .await
}

/// Seals and keeps the tokens a sign-in (or a refresh) returned.
pub async fn keep<B: TokenCipher + UpstreamTokenStore>(
    backend: &B,
    key: &TokenKey,
    owner: Owner<'_>,
    tokens: &TokenResponse,
    previous_refresh: Option<String>,
    now: i64,
) -> Result<(), StoreError> {
    let sealed = seal_tokens(
        backend,
        key,
        owner.provider,
        owner.subject,
        tokens,
        previous_refresh,
        now,
    )
    .await?;
    keep_sealed(backend, owner, sealed, now).await
}

/// Why no token could be forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoToken {
    /// None is kept (never, revoked, unlinked, or the provider refused to refresh it): the user
    /// signs in with the provider again.
    NotKept,
    /// The provider could not be reached to refresh it; the call may be retried.
    Unavailable(String),
}

/// The user's access token at `provider` for the origin: the kept one, or a refreshed one when it
/// expires within [`REFRESH_MARGIN_SECS`].
pub async fn access_token_for<B: TokenCipher + UpstreamTokenStore + Upstream>(
    backend: &B,
    provider: &IdentityProvider,
    key: &TokenKey,
    user_id: &str,
    now: i64,
) -> Result<String, NoToken> {
    let store = |e: StoreError| NoToken::Unavailable(e.to_string());
    let Some(kept) = backend
        .kept_tokens(user_id, &provider.id)
        .await
        .map_err(store)?
    else {
        return Err(NoToken::NotKept);
    };
    let fresh = kept
        .expires_at
        .is_none_or(|at| at > now + REFRESH_MARGIN_SECS);
    if fresh {
        return backend
            .unseal(
                &key.0,
                &kept.access_token,
                &aad("access", &kept.provider, &kept.subject),
            )
            .await
            .map_err(store)?
            .ok_or(NoToken::NotKept);
    }
    let Some(sealed_refresh) = kept.refresh_token.clone() else {
        return Err(NoToken::NotKept);
    };
    let Some(refresh) = backend
        .unseal(
            &key.0,
            &sealed_refresh,
            &aad("refresh", &kept.provider, &kept.subject),
        )
        .await
        .map_err(store)?
    else {
        return Err(NoToken::NotKept);
    };
    let endpoint = match &provider.kind {
        ProviderKind::Oidc { issuer, .. } => backend
            .discovery(issuer, false, now)
            .await
            .map_err(NoToken::Unavailable)?
            .token_endpoint
            .to_string(),
        ProviderKind::GitHub { token_endpoint, .. } => token_endpoint.clone(),
    };
    let response = backend
        .upstream(token_request(
            provider,
            &endpoint,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        ))
        .await
        .map_err(NoToken::Unavailable)?;
    match parse_token_response(response.status, &response.content_type, &response.body) {
        Ok(tokens) => {
            let owner = Owner {
                user_id,
                provider: &kept.provider,
                subject: &kept.subject,
            };
            keep(backend, key, owner, &tokens, Some(sealed_refresh), now)
                .await
                .map_err(store)?;
            Ok(tokens.access_token)
        }
        Err(e) => {
            // Only a refused grant means the refresh token is dead; a wrong client secret, a
            // server error or a provider that is down leave the tokens as they are.
            let code = token_error_code(&response.content_type, &response.body);
            if !matches!(code.as_deref(), Some("invalid_grant" | "bad_refresh_token")) {
                return Err(NoToken::Unavailable(e.reason()));
            }
            // Providers that rotate refresh tokens refuse all but the first of parallel refreshes:
            // if another call refreshed meanwhile, its token serves this one too.
            if let Some(current) = backend
                .kept_tokens(user_id, &provider.id)
                .await
                .map_err(store)?
            {
                let moved_on = current.refresh_token.as_deref() != Some(sealed_refresh.as_str());
                if moved_on && current.expires_at.is_none_or(|at| at > now) {
                    return backend
                        .unseal(
                            &key.0,
                            &current.access_token,
                            &aad("access", &current.provider, &current.subject),
                        )
                        .await
                        .map_err(store)?
                        .ok_or(NoToken::NotKept);
                }
            }
            // Forgotten only if still the ones this call used.
            backend
                .forget_tokens(user_id, &provider.id, &sealed_refresh)
                .await
                .map_err(store)?;
            Err(NoToken::NotKept)
        }
    }
}
