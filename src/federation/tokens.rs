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
    let Some(kept) = backend
        .kept_tokens(user_id, &provider.id)
        .await
        .map_err(store)?
    else {
        return Err(NoToken::NotKept);
    };
    if !needs_refresh(kept.expires_at, now) {
        return unseal_access(backend, key, &kept).await;
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
        // Only a refused grant means the refresh token is dead; a wrong client secret, a server
        // error or a provider that is down leave the tokens as they are.
        Err(e)
            if !refresh_refused(
                token_error_code(&response.content_type, &response.body).as_deref(),
            ) =>
        {
            Err(NoToken::Unavailable(e.reason()))
        }
        Err(_) => {
            after_refused_refresh(backend, provider, key, user_id, &sealed_refresh, now).await
        }
    }
}

/// The provider refused the refresh token `sealed_refresh`. Providers that rotate refresh
/// tokens refuse all but the first of parallel refreshes: if another call refreshed meanwhile,
/// its token serves this one too. Otherwise the tokens are forgotten, only if still the ones
/// this call used.
async fn after_refused_refresh<B: TokenCipher + UpstreamTokenStore>(
    backend: &B,
    provider: &IdentityProvider,
    key: &TokenKey,
    user_id: &str,
    sealed_refresh: &str,
    now: i64,
) -> Result<String, NoToken> {
    let current = backend
        .kept_tokens(user_id, &provider.id)
        .await
        .map_err(store)?;
    if let Some(current) = current.filter(|c| refreshed_elsewhere(c, sealed_refresh, now)) {
        return unseal_access(backend, key, &current).await;
    }
    backend
        .forget_tokens(user_id, &provider.id, sealed_refresh)
        .await
        .map_err(store)?;
    Err(NoToken::NotKept)
}

/// The kept access token, opened; one that does not open counts as none kept.
async fn unseal_access<B: TokenCipher>(
    backend: &B,
    key: &TokenKey,
    kept: &KeptTokens,
) -> Result<String, NoToken> {
    backend
        .unseal(
            &key.0,
            &kept.access_token,
            &aad("access", &kept.provider, &kept.subject),
        )
        .await
        .map_err(store)?
        .ok_or(NoToken::NotKept)
}

fn store(e: StoreError) -> NoToken {
    NoToken::Unavailable(e.to_string())
}

/// Whether an access token expiring at `expires_at` is refreshed before it is forwarded: within
/// [`REFRESH_MARGIN_SECS`] of its expiry. One without a lifetime never is.
pub fn needs_refresh(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at <= now + REFRESH_MARGIN_SECS)
}

/// Whether the token endpoint's error `code` says the refresh token is dead (`invalid_grant`,
/// RFC 6749 §5.2; GitHub's `bad_refresh_token`), rather than the call failing.
pub fn refresh_refused(code: Option<&str>) -> bool {
    matches!(code, Some("invalid_grant" | "bad_refresh_token"))
}

/// Whether `current`, read after the provider refused `used_refresh`, is another call's newer
/// refresh whose access token still serves.
pub fn refreshed_elsewhere(current: &KeptTokens, used_refresh: &str, now: i64) -> bool {
    current.refresh_token.as_deref() != Some(used_refresh)
        && current.expires_at.is_none_or(|at| at > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn kept(refresh: Option<&str>, expires_at: Option<i64>) -> KeptTokens {
        KeptTokens {
            provider: "google".into(),
            subject: "sub-1".into(),
            user_id: "usr_a".into(),
            access_token: "sealed-access".into(),
            refresh_token: refresh.map(str::to_string),
            expires_at,
            scope: String::new(),
            updated_at: NOW,
        }
    }

    #[test]
    fn a_token_is_refreshed_within_the_margin_of_its_expiry_and_never_without_one() {
        assert!(!needs_refresh(None, NOW));
        assert!(!needs_refresh(Some(NOW + REFRESH_MARGIN_SECS + 1), NOW));
        assert!(needs_refresh(Some(NOW + REFRESH_MARGIN_SECS), NOW));
        assert!(needs_refresh(Some(NOW - 1), NOW));
    }

    #[test]
    fn only_a_refused_grant_kills_the_refresh_token() {
        assert!(refresh_refused(Some("invalid_grant")));
        assert!(refresh_refused(Some("bad_refresh_token")));
        assert!(!refresh_refused(Some("invalid_client")));
        assert!(!refresh_refused(Some("server_error")));
        assert!(!refresh_refused(None));
    }

    #[test]
    fn a_parallel_refresh_serves_this_call_while_its_token_lasts() {
        assert!(refreshed_elsewhere(
            &kept(Some("newer"), Some(NOW + 10)),
            "used",
            NOW
        ));
        assert!(refreshed_elsewhere(&kept(None, None), "used", NOW));
        // Still the refresh token this call used: nobody refreshed.
        assert!(!refreshed_elsewhere(
            &kept(Some("used"), Some(NOW + 10)),
            "used",
            NOW
        ));
        // Refreshed elsewhere, but that token has expired too.
        assert!(!refreshed_elsewhere(
            &kept(Some("newer"), Some(NOW)),
            "used",
            NOW
        ));
    }
}
