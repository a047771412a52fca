//! JWT access tokens (RFC 9068): minted by the token endpoint, verified by the proxy with no I/O.
//!
//! Tokens are signed EdDSA, or RS256 for an API resource that asks for it (its
//! `access_token_alg`). Verification is strict in the order RFC 9068 §4 and RFC 8725 ask: the
//! header must say `typ: at+jwt` and `alg` `EdDSA` or `RS256` (so `alg: none` and
//! HMAC-with-our-public-key tokens die before any key is touched), the `kid` must be one we
//! publish and of the kind `alg` names (RFC 8725 §3.1: one algorithm per key), the signature must
//! hold, then `iss`, `aud`, `exp` and `nbf` are checked against the policy.
//!
//! Ed25519 signatures are checked in wasm; RSA ones only by the platform (WebCrypto at the edge,
//! through [`JwsVerifier`] or [`prepare_signature_check`]), so no RSA code ships in the wasm.

use chrono::{DateTime, Utc};
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, UntrustedToken};
use serde::{Deserialize, Serialize};

use crate::jose::keys::{KeySet, SigningAlg, VerifyingKey};
use crate::jose::signing::{sign_eddsa, sign_jwt, SignError};
use crate::oauth::client_assertion::{JwsAlgorithm, PublicJwk};
use crate::ports::{JwsSigner, JwsVerifier, StoreError};
use crate::primitives::bounded_cache::BoundedCache;

/// RFC 9068 §2.1: the media type of access-token JWTs.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `nbf` between the gateway's isolates and the issuer.
pub const CLOCK_LEEWAY_SECS: i64 = 30;
/// Default access-token lifetime (one hour): short enough that revocation by expiry is prompt.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: i64 = 3600;

/// `aud` as RFC 7519 §4.1.3 allows it: one string or an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

/// The RFC 9068 §2.2 claims besides the time claims jwt-compact carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The grant the token came from, so introspection and revocation can find it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// `client_credentials` on a machine client's token (`sub` is then the client id), as
    /// Auth0's `gty`; absent on a user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to (`cnf.jkt`); absent on a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// RFC 8693 §4.1: who acts for the subject, on a token made by token exchange (the client that
    /// exchanged, and whoever acted before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// An `act` claim: the acting party, and the one before it when a token was exchanged again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// The `cnf` claim (RFC 7800) of a DPoP-bound token: the RFC 7638 thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// The `gty` of a machine client's token.
pub const MACHINE_GRANT: &str = "client_credentials";

/// Signs an access token with the current Ed25519 key, `typ: at+jwt`, `kid` set.
pub fn mint_access_token(
    keys: &KeySet,
    claims: AccessClaims,
    issued_at: i64,
    ttl_secs: i64,
) -> Result<String, TokenRejection> {
    let full = timed(claims, issued_at, ttl_secs)?;
    sign_eddsa(keys, ACCESS_TOKEN_TYP, &full).map_err(|_| TokenRejection::Malformed)
}

/// Signs an access token with the current key of `alg` (the resource's choice); RS256 goes
/// through the platform's `signer`.
pub async fn mint_access_token_as<S: JwsSigner>(
    keys: &KeySet,
    alg: SigningAlg,
    claims: AccessClaims,
    issued_at: i64,
    ttl_secs: i64,
    signer: &S,
) -> Result<String, SignError> {
    let full = timed(claims, issued_at, ttl_secs).map_err(|_| SignError::Encoding)?;
    sign_jwt(keys, alg, ACCESS_TOKEN_TYP, &full, signer).await
}

fn timed(
    claims: AccessClaims,
    issued_at: i64,
    ttl_secs: i64,
) -> Result<Claims<AccessClaims>, TokenRejection> {
    let mut full = Claims::new(claims);
    full.issued_at = Some(timestamp(issued_at)?);
    full.expiration = Some(timestamp(issued_at.saturating_add(ttl_secs))?);
    Ok(full)
}

fn timestamp(secs: i64) -> Result<DateTime<Utc>, TokenRejection> {
    DateTime::from_timestamp(secs, 0).ok_or(TokenRejection::Malformed)
}

/// What a token must satisfy to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy<'a> {
    pub issuer: &'a str,
    /// The resource that must be in `aud`; `None` accepts any (the authorization server's own
    /// endpoints, such as userinfo and introspection).
    pub audience: Option<&'a str>,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
    pub expires_at: i64,
    pub issued_at: Option<i64>,
    pub audience: Audience,
    pub grant_id: Option<String>,
    /// Whether the subject is a machine client (the `client_credentials` grant), not a user.
    pub machine: bool,
    /// The thumbprint of the DPoP key the token is bound to; `None` for a bearer token.
    pub jkt: Option<String>,
    /// Who acts for the subject, on an exchanged token (RFC 8693 `act`).
    pub actor: Option<Actor>,
}

impl VerifiedAccessToken {
    /// The first required scope the token lacks, if any.
    pub fn missing_scope<'a>(&self, required: &'a [String]) -> Option<&'a str> {
        required
            .iter()
            .find(|needed| !self.scopes.iter().any(|s| s == *needed))
            .map(String::as_str)
    }
}

/// Why a token was refused. Each maps to `invalid_token` on the wire with its own description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    UnsupportedAlgorithm,
    WrongType,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingExpiry,
    /// An RS256 token no platform check vouched for: WebCrypto refused its signature, or could
    /// not say (the proxy's synchronous decision cannot check RSA itself).
    SignatureUnchecked,
}

impl TokenRejection {
    pub fn description(self) -> &'static str {
        match self {
            TokenRejection::Malformed => "the access token is malformed",
            TokenRejection::UnsupportedAlgorithm => "the access token's algorithm is not accepted",
            TokenRejection::WrongType => "the token is not an access token (typ must be at+jwt)",
            TokenRejection::UnknownKey => "the access token was signed by an unknown key",
            TokenRejection::BadSignature => "the access token's signature is invalid",
            TokenRejection::Expired => "the access token expired",
            TokenRejection::NotYetValid => "the access token is not valid yet",
            TokenRejection::WrongIssuer => "the access token was issued by someone else",
            TokenRejection::WrongAudience => "the access token is for another resource",
            TokenRejection::MissingExpiry => "the access token has no expiry",
            TokenRejection::SignatureUnchecked => {
                "the access token's signature could not be verified"
            }
        }
    }
}

/// Verifies an access token against our keys and the policy, with no I/O: in wasm, so EdDSA only
/// (an RS256 token is refused as [`TokenRejection::SignatureUnchecked`]); see
/// [`verify_access_token_with`] for both.
pub fn verify_access_token(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy<'_>,
) -> Result<VerifiedAccessToken, TokenRejection> {
    check_claims(&verify_signature(token, keys)?, policy)
}

/// The content of an access token whose header and signature checked out; its claims are still
/// to be checked against a policy and the clock.
#[derive(Debug, Clone)]
pub struct SignedAccessToken {
    claims: AccessClaims,
    expires_at: Option<i64>,
    not_before: Option<i64>,
    issued_at: Option<i64>,
}

/// Verifies an access token of either algorithm: EdDSA in wasm, RS256 through `verifier` (the
/// platform's WebCrypto at the edge).
pub async fn verify_access_token_with<V: JwsVerifier>(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy<'_>,
    verifier: &V,
) -> Result<VerifiedAccessToken, TokenRejection> {
    let pending = prepare_signature_check(token, keys)?;
    let PendingKey::Rsa(jwk) = &pending.key else {
        return verify_access_token(token, keys, policy);
    };
    let verified = verifier
        .verify_jws(
            JwsAlgorithm::Rs256,
            jwk,
            &pending.message,
            &pending.signature,
        )
        .await
        .map_err(|_: StoreError| TokenRejection::SignatureUnchecked)?;
    if !verified {
        return Err(TokenRejection::BadSignature);
    }
    check_claims(&pending.claims, policy)
}

/// The header checks every token passes before any key is used: `alg` must be `EdDSA` or
/// `RS256`, `typ` `at+jwt`, and `kid` one of ours of the kind `alg` names. Returns the untrusted
/// token, its `kid` and that key.
fn checked_header<'t, 'k>(
    token: &'t str,
    keys: &'k KeySet,
) -> Result<(UntrustedToken<'t>, String, VerifyingKey<'k>), TokenRejection> {
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenRejection::Malformed)?;
    let alg =
        SigningAlg::parse(untrusted.algorithm()).ok_or(TokenRejection::UnsupportedAlgorithm)?;
    let typ_ok = untrusted.header().token_type.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(TokenRejection::WrongType);
    }
    let kid = untrusted
        .header()
        .key_id
        .clone()
        .ok_or(TokenRejection::UnknownKey)?;
    let public = keys.verifying_key(&kid).ok_or(TokenRejection::UnknownKey)?;
    // An RS256 header naming our Ed25519 key, or EdDSA naming an RSA key, is an attempt to make
    // one key verify under another algorithm.
    if public.alg() != alg {
        return Err(TokenRejection::UnsupportedAlgorithm);
    }
    Ok((untrusted, kid, public))
}

/// Checks the header and the signature: the expensive part. EdDSA only (in wasm); an RS256 token
/// needs the platform ([`verify_access_token_with`], [`prepare_signature_check`]).
pub fn verify_signature(token: &str, keys: &KeySet) -> Result<SignedAccessToken, TokenRejection> {
    let (untrusted, _, public) = checked_header(token, keys)?;
    let VerifyingKey::Ed25519(public) = public else {
        return Err(TokenRejection::SignatureUnchecked);
    };
    let verified = Ed25519
        .validator::<AccessClaims>(public)
        .validate(&untrusted)
        .map_err(|e| match e {
            jwt_compact::ValidationError::InvalidSignature
            | jwt_compact::ValidationError::InvalidSignatureLen { .. }
            | jwt_compact::ValidationError::MalformedSignature(_) => TokenRejection::BadSignature,
            _ => TokenRejection::Malformed,
        })?;
    Ok(SignedAccessToken::from(verified.claims()))
}

impl From<&Claims<AccessClaims>> for SignedAccessToken {
    fn from(claims: &Claims<AccessClaims>) -> Self {
        SignedAccessToken {
            claims: claims.custom.clone(),
            expires_at: claims.expiration.map(|t| t.timestamp()),
            not_before: claims.not_before.map(|t| t.timestamp()),
            issued_at: claims.issued_at.map(|t| t.timestamp()),
        }
    }
}

/// A token whose header passed (`alg`, `typ`, a known `kid`), with what a signature check needs.
/// Its claims are unverified until [`VerifiedTokenCache::insert_verified`] records that the
/// platform (WebCrypto, natively in workerd) verified the signature.
pub struct PendingSignature {
    /// The JWS signing input: `base64url(header) "." base64url(payload)`.
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
    pub kid: String,
    /// The public key of `kid`, whose kind is the token's `alg`.
    pub key: PendingKey,
    claims: SignedAccessToken,
}

/// The key a pending signature is checked with.
pub enum PendingKey {
    /// A raw Ed25519 public key (EdDSA).
    Ed25519([u8; 32]),
    /// An RSA public key (RS256).
    Rsa(PublicJwk),
}

/// Checks the header and extracts the signing input, leaving the signature to the caller.
pub fn prepare_signature_check(
    token: &str,
    keys: &KeySet,
) -> Result<PendingSignature, TokenRejection> {
    let (untrusted, kid, public) = checked_header(token, keys)?;
    let claims = untrusted
        .deserialize_claims_unchecked::<AccessClaims>()
        .map_err(|_| TokenRejection::Malformed)?;
    let message = token
        .rsplit_once('.')
        .map(|(input, _)| input.as_bytes().to_vec())
        .ok_or(TokenRejection::Malformed)?;
    let key = match public {
        VerifyingKey::Ed25519(public) => {
            let mut raw = [0u8; 32];
            raw.copy_from_slice(&public[..]);
            PendingKey::Ed25519(raw)
        }
        VerifyingKey::Rsa(jwk) => PendingKey::Rsa(jwk.clone()),
    };
    Ok(PendingSignature {
        message,
        signature: untrusted.signature_bytes().to_vec(),
        kid,
        key,
        claims: SignedAccessToken::from(&claims),
    })
}

/// Checks a signed token's lifetime, issuer and audience.
pub fn check_claims(
    signed: &SignedAccessToken,
    policy: &VerifyPolicy<'_>,
) -> Result<VerifiedAccessToken, TokenRejection> {
    let expires_at = signed.expires_at.ok_or(TokenRejection::MissingExpiry)?;
    if policy.now >= expires_at.saturating_add(CLOCK_LEEWAY_SECS) {
        return Err(TokenRejection::Expired);
    }
    if let Some(nbf) = signed.not_before {
        if policy.now.saturating_add(CLOCK_LEEWAY_SECS) < nbf {
            return Err(TokenRejection::NotYetValid);
        }
    }
    let custom = &signed.claims;
    if custom.iss != policy.issuer {
        return Err(TokenRejection::WrongIssuer);
    }
    if let Some(audience) = policy.audience {
        if !custom.aud.contains(audience) {
            return Err(TokenRejection::WrongAudience);
        }
    }
    Ok(VerifiedAccessToken {
        subject: custom.sub.clone(),
        client_id: custom.client_id.clone(),
        scopes: custom
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        jti: custom.jti.clone(),
        expires_at,
        issued_at: signed.issued_at,
        audience: custom.aud.clone(),
        grant_id: custom.gid.clone(),
        machine: custom.gty.as_deref() == Some(MACHINE_GRANT),
        jkt: custom.cnf.as_ref().map(|c| c.jkt.clone()),
        actor: custom.act.clone(),
    })
}

/// Tokens an isolate has verified, so a client that sends the same token for its lifetime pays
/// for the signature once. Keyed by the token's SHA-256; only tokens whose signature verified are
/// kept, and the claims are checked again (clock, issuer, audience) on every use. Bounded (a
/// [`BoundedCache`]): an entry expires with its token (`exp` and the leeway), and when the cache
/// is full expired entries go first. A held entry is used whatever the clock: the claims check
/// refuses an expired token, so a hit and a miss refuse it alike.
#[derive(Debug)]
pub struct VerifiedTokenCache {
    entries: BoundedCache<TokenKey, SignedAccessToken>,
}

/// A token's key in [`VerifiedTokenCache`].
pub type TokenKey = [u8; 32];

/// Entries an isolate keeps: a few hundred bytes each, about 2 MiB when full.
pub const VERIFIED_TOKEN_CACHE_ENTRIES: usize = 8192;

impl Default for VerifiedTokenCache {
    fn default() -> Self {
        VerifiedTokenCache::with_capacity(VERIFIED_TOKEN_CACHE_ENTRIES)
    }
}

impl VerifiedTokenCache {
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedTokenCache {
            entries: BoundedCache::new(capacity),
        }
    }

    /// [`verify_access_token`], skipping the signature for a token verified before.
    pub fn verify(
        &mut self,
        token: &str,
        keys: &KeySet,
        policy: &VerifyPolicy<'_>,
    ) -> Result<VerifiedAccessToken, TokenRejection> {
        self.verify_keyed(Self::key(token), token, keys, policy)
    }

    /// [`Self::verify`] with the token's key already computed ([`Self::key`]), so a caller that
    /// looked the token up first hashes it once.
    pub fn verify_keyed(
        &mut self,
        key: TokenKey,
        token: &str,
        keys: &KeySet,
        policy: &VerifyPolicy<'_>,
    ) -> Result<VerifiedAccessToken, TokenRejection> {
        if let Some(signed) = self.entries.held(&key) {
            return check_claims(signed, policy);
        }
        let signed = verify_signature(token, keys)?;
        let verified = check_claims(&signed, policy)?;
        self.keep(key, signed, policy.now);
        Ok(verified)
    }

    /// Whether `token` was verified before.
    pub fn contains(&self, token: &str) -> bool {
        self.contains_key(&Self::key(token))
    }

    /// Whether the token with this key was verified before.
    pub fn contains_key(&self, key: &TokenKey) -> bool {
        self.entries.held(key).is_some()
    }

    /// Records a token whose signature the platform verified, so [`Self::verify`] finds it.
    pub fn insert_verified(&mut self, token: &str, pending: PendingSignature, now: i64) {
        self.insert_verified_keyed(Self::key(token), pending, now);
    }

    /// [`Self::insert_verified`] with the token's key already computed ([`Self::key`]).
    pub fn insert_verified_keyed(&mut self, key: TokenKey, pending: PendingSignature, now: i64) {
        self.keep(key, pending.claims, now);
    }

    /// The cache's key for a token: its SHA-256.
    pub fn key(token: &str) -> TokenKey {
        use sha2::{Digest, Sha256};
        Sha256::digest(token.as_bytes()).into()
    }

    /// Keeps a verified token until it expires (a token without `exp`, which the claims check
    /// refuses, counts as expired: it is the first to go).
    fn keep(&mut self, key: TokenKey, signed: SignedAccessToken, now: i64) {
        let expires_at = signed
            .expires_at
            .map_or(i64::MIN, |e| e.saturating_add(CLOCK_LEEWAY_SECS));
        self.entries.insert(key, signed, expires_at, now);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::keys::tests::{RSA_A, RSA_B};
    use crate::jose::signing::native::NativeCrypto;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use futures_executor::block_on;
    use jwt_compact::Header;

    const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const NOW: i64 = 1_790_000_000;
    const ISS: &str = "https://todo.example.com";
    const AUD: &str = "https://todo.example.com/api";

    fn keys() -> KeySet {
        KeySet::from_secrets(Some(SEED), None).unwrap()
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            sub: "user_1".into(),
            aud: Audience::One(AUD.into()),
            jti: "jti_1".into(),
            client_id: "chatgpt".into(),
            scope: "todos:read todos:write".into(),
            gid: None,
            gty: None,
            cnf: None,
            act: None,
        }
    }

    fn policy() -> VerifyPolicy<'static> {
        VerifyPolicy {
            issuer: ISS,
            audience: Some(AUD),
            now: NOW,
        }
    }

    fn minted(claims: AccessClaims) -> String {
        mint_access_token(&keys(), claims, NOW, 3600).unwrap()
    }

    /// Builds a token by hand, for headers our minting never writes.
    fn forged(header: serde_json::Value, payload: serde_json::Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn payload() -> serde_json::Value {
        serde_json::json!({
            "iss": ISS, "sub": "user_1", "aud": AUD, "jti": "j", "client_id": "c",
            "scope": "todos:read", "exp": NOW + 60, "iat": NOW
        })
    }

    #[test]
    fn a_minted_token_verifies_and_yields_its_identity() {
        let token = minted(claims());
        let verified = verify_access_token(&token, &keys(), &policy()).unwrap();
        assert_eq!(verified.subject, "user_1");
        assert_eq!(verified.client_id, "chatgpt");
        assert_eq!(verified.scopes, vec!["todos:read", "todos:write"]);
        assert_eq!(verified.expires_at, NOW + 3600);
    }

    #[test]
    fn a_minted_token_has_the_rfc9068_header() {
        let token = minted(claims());
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], keys().current().kid());
    }

    #[test]
    fn garbage_is_malformed() {
        for junk in ["", "a.b", "a.b.c", "....", "Bearer x"] {
            assert_eq!(
                verify_access_token(junk, &keys(), &policy()),
                Err(TokenRejection::Malformed),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn alg_none_is_refused_before_any_key_is_used() {
        let token = forged(
            serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": keys().current().kid()}),
            payload(),
            b"",
        );
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn hs256_signed_with_our_public_key_is_refused() {
        let token = forged(
            serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": keys().current().kid()}),
            payload(),
            &[0u8; 32],
        );
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn a_token_without_the_access_token_type_is_refused() {
        let token = forged(
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": keys().current().kid()}),
            payload(),
            &[0u8; 64],
        );
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::WrongType)
        );
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let token = forged(
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "nope"}),
            payload(),
            &[0u8; 64],
        );
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::UnknownKey)
        );
    }

    #[test]
    fn a_tampered_payload_breaks_the_signature() {
        let token = minted(claims());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut body = claims();
        body.scope = "admin".into();
        let mut full = Claims::new(body);
        full.expiration = DateTime::from_timestamp(NOW + 3600, 0);
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&full).unwrap());
        assert_eq!(
            verify_access_token(&parts.join("."), &keys(), &policy()),
            Err(TokenRejection::BadSignature)
        );
    }

    #[test]
    fn a_token_signed_by_another_key_with_our_kid_is_refused() {
        let other = KeySet::from_secrets(Some(&URL_SAFE_NO_PAD.encode([9u8; 32])), None).unwrap();
        let token = mint_access_token(&other, claims(), NOW, 3600).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let our_header = minted(claims());
        parts[0] = our_header.split('.').next().unwrap();
        assert_eq!(
            verify_access_token(&parts.join("."), &keys(), &policy()),
            Err(TokenRejection::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused_after_the_leeway() {
        let token = mint_access_token(&keys(), claims(), NOW - 3600, 3600).unwrap();
        let within = VerifyPolicy {
            now: NOW + CLOCK_LEEWAY_SECS - 1,
            ..policy()
        };
        assert!(verify_access_token(&token, &keys(), &within).is_ok());
        let after = VerifyPolicy {
            now: NOW + CLOCK_LEEWAY_SECS,
            ..policy()
        };
        assert_eq!(
            verify_access_token(&token, &keys(), &after),
            Err(TokenRejection::Expired)
        );
    }

    #[test]
    fn a_token_from_the_future_is_refused() {
        let mut full = Claims::new(claims());
        full.expiration = DateTime::from_timestamp(NOW + 7200, 0);
        full.not_before = DateTime::from_timestamp(NOW + 600, 0);
        let header = Header::empty()
            .with_key_id(keys().current().kid())
            .with_token_type(ACCESS_TOKEN_TYP);
        let token = Ed25519
            .token(&header, &full, keys().current().secret())
            .unwrap();
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::NotYetValid)
        );
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let header = Header::empty()
            .with_key_id(keys().current().kid())
            .with_token_type(ACCESS_TOKEN_TYP);
        let token = Ed25519
            .token(&header, &Claims::new(claims()), keys().current().secret())
            .unwrap();
        assert_eq!(
            verify_access_token(&token, &keys(), &policy()),
            Err(TokenRejection::MissingExpiry)
        );
    }

    #[test]
    fn a_foreign_issuer_is_refused() {
        let mut c = claims();
        c.iss = "https://evil.example.com".into();
        assert_eq!(
            verify_access_token(&minted(c), &keys(), &policy()),
            Err(TokenRejection::WrongIssuer)
        );
    }

    #[test]
    fn a_token_for_another_resource_is_refused() {
        let mut c = claims();
        c.aud = Audience::One("https://other.example.com/api".into());
        assert_eq!(
            verify_access_token(&minted(c), &keys(), &policy()),
            Err(TokenRejection::WrongAudience)
        );
        let mut c = claims();
        c.aud = Audience::Many(vec!["https://x.example.com".into(), AUD.into()]);
        assert!(verify_access_token(&minted(c), &keys(), &policy()).is_ok());
    }

    #[test]
    fn a_token_signed_before_rotation_verifies_with_the_previous_key() {
        let old = keys();
        let token = minted(claims());
        let rotated =
            KeySet::from_secrets(Some(&URL_SAFE_NO_PAD.encode([3u8; 32])), Some(SEED)).unwrap();
        assert!(verify_access_token(&token, &rotated, &policy()).is_ok());
        let dropped = KeySet::from_secrets(Some(&URL_SAFE_NO_PAD.encode([3u8; 32])), None).unwrap();
        assert_eq!(
            verify_access_token(&token, &dropped, &policy()),
            Err(TokenRejection::UnknownKey)
        );
        drop(old);
    }

    #[test]
    fn the_cache_rechecks_claims_on_every_use() {
        let mut cache = VerifiedTokenCache::with_capacity(16);
        let token = minted(claims());
        assert!(cache.verify(&token, &keys(), &policy()).is_ok());
        assert_eq!(cache.len(), 1);
        // A hit still checks the clock, the issuer and the audience.
        let later = VerifyPolicy {
            now: NOW + 3600 + CLOCK_LEEWAY_SECS,
            ..policy()
        };
        assert_eq!(
            cache.verify(&token, &keys(), &later).unwrap_err(),
            TokenRejection::Expired
        );
        let elsewhere = VerifyPolicy {
            audience: Some("https://other.example.com"),
            ..policy()
        };
        assert_eq!(
            cache.verify(&token, &keys(), &elsewhere).unwrap_err(),
            TokenRejection::WrongAudience
        );
        // A hit does not depend on the keys any more, which is the point; a different token
        // (one changed byte) is a miss and is verified in full.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(
            cache.verify(&tampered, &keys(), &policy()),
            Err(TokenRejection::BadSignature)
        ));
        assert_eq!(cache.len(), 1, "refused tokens are never kept");
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = VerifiedTokenCache::with_capacity(3);
        for i in 0..10 {
            let token = minted(AccessClaims {
                jti: format!("jti_{i}"),
                ..claims()
            });
            assert!(cache.verify(&token, &keys(), &policy()).is_ok());
            assert!(cache.len() <= 3);
        }
        // Expired entries are the first to go when the cache is full.
        let mut cache = VerifiedTokenCache::with_capacity(2);
        let old = mint_access_token(&keys(), claims(), NOW - 3000, 3600).unwrap();
        let at_old = VerifyPolicy {
            now: NOW - 2000,
            ..policy()
        };
        cache.verify(&old, &keys(), &at_old).unwrap();
        cache.verify(&minted(claims()), &keys(), &policy()).unwrap();
        let later = VerifyPolicy {
            now: NOW + 1000,
            ..policy()
        };
        let fresh = mint_access_token(
            &keys(),
            AccessClaims {
                jti: "j2".into(),
                ..claims()
            },
            NOW + 900,
            3600,
        )
        .unwrap();
        cache.verify(&fresh, &keys(), &later).unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.verify(&old, &keys(), &later).unwrap_err(),
            TokenRejection::Expired
        );
    }

    #[test]
    fn a_prepared_check_carries_what_the_platform_verifies() {
        let token = minted(claims());
        let pending = prepare_signature_check(&token, &keys()).unwrap();
        let PendingKey::Ed25519(raw) = pending.key else {
            panic!("an EdDSA token is checked with its Ed25519 key")
        };
        let public = ed25519_compact::PublicKey::from_slice(&raw).unwrap();
        let signature = ed25519_compact::Signature::from_slice(&pending.signature).unwrap();
        assert!(public.verify(&pending.message, &signature).is_ok());
        assert_eq!(pending.kid, keys().current().kid());
        let mut cache = VerifiedTokenCache::default();
        assert!(!cache.contains(&token));
        cache.insert_verified(&token, pending, NOW);
        assert!(cache.contains(&token));
        // Claims are still checked on use.
        assert!(cache.verify(&token, &keys(), &policy()).is_ok());
        let elsewhere = VerifyPolicy {
            audience: Some("https://other.example.com"),
            ..policy()
        };
        assert_eq!(
            cache.verify(&token, &keys(), &elsewhere).unwrap_err(),
            TokenRejection::WrongAudience
        );
        // Header checks happen before anything is handed out.
        assert!(matches!(
            prepare_signature_check("a.b.c", &keys()),
            Err(TokenRejection::Malformed)
        ));
    }

    #[test]
    fn missing_scope_names_the_first_one_absent() {
        let verified = verify_access_token(&minted(claims()), &keys(), &policy()).unwrap();
        assert_eq!(verified.missing_scope(&["todos:read".into()]), None);
        assert_eq!(
            verified.missing_scope(&["todos:read".into(), "admin".into()]),
            Some("admin")
        );
    }

    fn rsa_keys(current: &str, previous: Option<&str>) -> KeySet {
        keys().with_rsa(Some(current), previous).unwrap()
    }

    fn rs256_minted(keys: &KeySet, claims: AccessClaims) -> String {
        block_on(mint_access_token_as(
            keys,
            SigningAlg::Rs256,
            claims,
            NOW,
            3600,
            &NativeCrypto,
        ))
        .unwrap()
    }

    fn verify_either(token: &str, keys: &KeySet) -> Result<VerifiedAccessToken, TokenRejection> {
        block_on(verify_access_token_with(
            token,
            keys,
            &policy(),
            &NativeCrypto,
        ))
    }

    #[test]
    fn an_rs256_token_verifies_through_the_platform_and_yields_its_identity() {
        let set = rsa_keys(RSA_A, None);
        let token = rs256_minted(&set, claims());
        let (header, _) = token.split_once('.').unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], set.rsa().unwrap().kid());
        let verified = verify_either(&token, &set).unwrap();
        assert_eq!(verified.subject, "user_1");
        assert_eq!(verified.scopes, vec!["todos:read", "todos:write"]);
        // EdDSA tokens go through the same call.
        assert!(verify_either(&minted(claims()), &set).is_ok());
    }

    #[test]
    fn an_rs256_token_without_the_platform_is_not_taken_on_trust() {
        let set = rsa_keys(RSA_A, None);
        let token = rs256_minted(&set, claims());
        assert_eq!(
            verify_access_token(&token, &set, &policy()),
            Err(TokenRejection::SignatureUnchecked)
        );
        let mut cache = VerifiedTokenCache::default();
        assert_eq!(
            cache.verify(&token, &set, &policy()),
            Err(TokenRejection::SignatureUnchecked)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn an_rs256_header_naming_our_ed25519_key_is_refused() {
        let set = rsa_keys(RSA_A, None);
        let token = forged(
            serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": set.current().kid()}),
            payload(),
            &[0u8; 256],
        );
        assert_eq!(
            verify_either(&token, &set),
            Err(TokenRejection::UnsupportedAlgorithm)
        );
        assert!(matches!(
            prepare_signature_check(&token, &set),
            Err(TokenRejection::UnsupportedAlgorithm)
        ));
    }

    #[test]
    fn an_eddsa_header_naming_our_rsa_key_is_refused() {
        let set = rsa_keys(RSA_A, None);
        let token = forged(
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": set.rsa().unwrap().kid()}),
            payload(),
            &[0u8; 64],
        );
        assert_eq!(
            verify_either(&token, &set),
            Err(TokenRejection::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn hs256_and_none_naming_our_rsa_key_are_refused() {
        let set = rsa_keys(RSA_A, None);
        for alg in ["HS256", "none", "PS256", "RS512"] {
            let token = forged(
                serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": set.rsa().unwrap().kid()}),
                payload(),
                &[0u8; 32],
            );
            assert_eq!(
                verify_either(&token, &set),
                Err(TokenRejection::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_tampered_rs256_payload_breaks_the_signature() {
        let set = rsa_keys(RSA_A, None);
        let token = rs256_minted(&set, claims());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut body = claims();
        body.scope = "admin".into();
        let mut full = Claims::new(body);
        full.expiration = DateTime::from_timestamp(NOW + 3600, 0);
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&full).unwrap());
        assert_eq!(
            verify_either(&parts.join("."), &set),
            Err(TokenRejection::BadSignature)
        );
    }

    #[test]
    fn an_rs256_token_signed_before_rotation_verifies_with_the_previous_rsa_key() {
        let token = rs256_minted(&rsa_keys(RSA_A, None), claims());
        assert!(verify_either(&token, &rsa_keys(RSA_B, Some(RSA_A))).is_ok());
        assert_eq!(
            verify_either(&token, &rsa_keys(RSA_B, None)),
            Err(TokenRejection::UnknownKey)
        );
        // Signed by another RSA key under our kid: the signature does not hold.
        let other = rs256_minted(&rsa_keys(RSA_B, None), claims());
        let mut parts: Vec<&str> = other.split('.').collect();
        parts[0] = token.split('.').next().unwrap();
        assert_eq!(
            verify_either(&parts.join("."), &rsa_keys(RSA_A, None)),
            Err(TokenRejection::BadSignature)
        );
    }

    #[test]
    fn a_prepared_rs256_check_carries_the_rsa_key() {
        let set = rsa_keys(RSA_A, None);
        let token = rs256_minted(&set, claims());
        let pending = prepare_signature_check(&token, &set).unwrap();
        let PendingKey::Rsa(jwk) = &pending.key else {
            panic!("an RS256 token is checked with its RSA key")
        };
        assert_eq!(jwk, set.rsa().unwrap().public());
        let ok = block_on(NativeCrypto.verify_jws(
            JwsAlgorithm::Rs256,
            jwk,
            &pending.message,
            &pending.signature,
        ));
        assert_eq!(ok, Ok(true));
        let mut cache = VerifiedTokenCache::default();
        cache.insert_verified(&token, pending, NOW);
        assert!(cache.verify(&token, &set, &policy()).is_ok());
    }
}
