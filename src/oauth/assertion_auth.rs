//! Authenticating a `private_key_jwt` client (RFC 7523 §2.2): the I/O around the pure checks of
//! [`crate::oauth::client_assertion`]. The order is the RFC's and the cheap one: parse, check the
//! claims, find the key (refetching the client's JWKS once when the assertion names a `kid` not
//! seen before, so clients can rotate keys), verify the signature, and only then remember the
//! `jti`, so that nobody without the key can use up a client's `jti` values.

use crate::error::oauth::OAuthError;
use crate::error::ApiError;
use crate::oauth::client::{Client, ClientKeySet};
use crate::oauth::client_assertion::{
    check_assertion_claims, jti_expires_at, parse_client_assertion, select_key, AssertionError,
    PublicJwk,
};
use crate::ports::{ClientKeys, JwsVerifier, Throttle};

/// The keys of a client, fetched again when `refresh`. `Err` is the refusal to send.
async fn keys_of<B: ClientKeys>(
    backend: &B,
    key_set: &ClientKeySet,
    refresh: bool,
    now: i64,
) -> Result<Vec<PublicJwk>, ApiError> {
    match key_set {
        ClientKeySet::Inline(keys) => Ok(keys.clone()),
        ClientKeySet::Uri(uri) => backend.client_jwks(uri, refresh, now).await?.map_err(|_| {
            OAuthError::invalid_client("the client's JWKS could not be fetched or used").into()
        }),
    }
}

/// Checks `assertion` as `client`'s proof of identity at an endpoint whose accepted audiences are
/// `audiences` (the endpoint's URL and the issuer). Every refusal is `invalid_client`.
pub async fn verify_client_assertion<B: ClientKeys + JwsVerifier + Throttle>(
    backend: &B,
    client: &Client,
    assertion: &str,
    audiences: &[&str],
    now: i64,
) -> Result<(), ApiError> {
    let refuse = |e: AssertionError| ApiError::OAuth(e.to_oauth());
    let Some(key_set) = &client.key_set else {
        return Err(OAuthError::invalid_client(
            "this client does not authenticate with private_key_jwt",
        )
        .into());
    };
    let parsed = parse_client_assertion(assertion).map_err(refuse)?;
    check_assertion_claims(&parsed.claims, &client.id, audiences, now).map_err(refuse)?;
    let keys = keys_of(backend, key_set, false, now).await?;
    let key = match select_key(&keys, parsed.alg, parsed.kid.as_deref()) {
        Ok(key) => key.clone(),
        Err(AssertionError::NoKey { kid: Some(_) }) if matches!(key_set, ClientKeySet::Uri(_)) => {
            let fresh = keys_of(backend, key_set, true, now).await?;
            select_key(&fresh, parsed.alg, parsed.kid.as_deref())
                .map_err(refuse)?
                .clone()
        }
        Err(e) => return Err(refuse(e)),
    };
    if !backend
        .verify_jws(parsed.alg, &key, &parsed.signing_input, &parsed.signature)
        .await?
    {
        return Err(refuse(AssertionError::Signature));
    }
    let until = jti_expires_at(&parsed.claims);
    let key = format!("assertion-jti:{}:{}", client.id, parsed.claims.jti);
    let ttl = u64::try_from(until - now).unwrap_or(1).max(1);
    if !backend.remember_once(&key, ttl, now as u64).await? {
        return Err(refuse(AssertionError::Replayed));
    }
    Ok(())
}
