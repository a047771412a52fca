//! A grant's life: its authorization code, then its family of refresh tokens.
//!
//! One grant is one user's consent for one client. The state machine here is pure: the grant's
//! Durable Object loads the state, applies one of these functions and stores the result, so each
//! step is atomic. Rules it implements:
//! - codes are single use; presenting a used code again revokes the grant (RFC 6749 §4.1.2);
//! - a code presented with the wrong client, redirect URI or PKCE verifier is burned;
//! - refresh tokens rotate on every use; presenting a rotated one revokes the grant
//!   (RFC 9700 §4.14.2), so of concurrent refreshes with one token exactly one succeeds;
//! - refresh may narrow the scope, never widen it (RFC 6749 §6);
//! - refresh tokens expire after a sliding idle period within an absolute cap;
//! - a grant belongs to the plugin (issuer) that created it: its code and refresh tokens are
//!   good only at that plugin's token endpoint, where a mismatch changes nothing.
//!
//! Codes and refresh tokens are handles `<grant id>.<secret>`: the id routes to the grant's
//! Durable Object, and only the SHA-256 of the secret is stored.

use serde::{Deserialize, Serialize};

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::oauth::pkce::verify_pkce;
use crate::primitives::secret::constant_time_eq;
use crate::rbac::scope::Resource;

/// Default authorization-code lifetime: long enough for a redirect and a back-channel call.
pub const DEFAULT_CODE_TTL_SECS: i64 = 60;
/// Default refresh-token idle lifetime: it slides forward on every use.
pub const DEFAULT_REFRESH_TTL_SECS: i64 = 30 * 86_400;
/// Default absolute lifetime of a refresh-token family, however often it is used.
pub const DEFAULT_REFRESH_ABSOLUTE_SECS: i64 = 90 * 86_400;
/// How many rotated refresh hashes a grant remembers for reuse detection.
pub const MAX_ROTATED_HASHES: usize = 64;

/// Random bytes in a grant id (base64url, 22 characters).
pub const GRANT_ID_BYTES: usize = 16;
/// Random bytes in a code or refresh secret (base64url, 43 characters): 256 bits.
pub const SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Issued,
    Redeemed,
    /// Presented with a wrong client, redirect URI or verifier, or after expiry: unusable.
    Burned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub current_hash: String,
    pub rotated_hashes: Vec<String>,
    pub expires_at: i64,
    pub absolute_expires_at: i64,
    /// The DPoP key the family is bound to (a public client's, RFC 9449 §5): every rotation must
    /// prove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// Everything a grant's Durable Object stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantState {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<Resource>,
    pub redirect_uri: String,
    /// Whether the authorization request named the redirect URI (then the token request must too).
    pub redirect_uri_sent: bool,
    pub code_challenge: Option<String>,
    pub code_hash: String,
    pub code_expires_at: i64,
    pub code_status: CodeStatus,
    pub refresh: Option<RefreshFamily>,
    pub revoked: bool,
    pub created_at: i64,
    /// OpenID Connect: the `nonce` to echo in the ID token, and when the user signed in.
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176 `amr`), for the ID tokens of every refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Opaque access tokens (hash, expiry) of a grant without an API resource: such tokens are
    /// good only at `/userinfo`, which looks them up here.
    #[serde(default)]
    pub opaque_access: Vec<(String, i64)>,
    /// The DPoP keys opaque access tokens are bound to: (token hash, key thumbprint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opaque_jkt: Vec<(String, String)>,
    /// The issuer (plugin) that created the grant. `None` only for grants stored before grants
    /// were bound to their issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// RFC 9449 §10: the DPoP key the authorization request bound the code to (`dpop_jkt`); the
    /// code is then redeemed only with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// How many live opaque access tokens a grant keeps.
pub const MAX_OPAQUE_ACCESS_TOKENS: usize = 4;

/// Records an opaque access token on a grant without a resource (dropping expired ones), and
/// the DPoP key it is bound to, if any.
fn record_opaque_access(
    state: &mut GrantState,
    token: &Option<(String, i64)>,
    jkt: &Option<String>,
    now: i64,
) {
    if state.resource.is_some() {
        return;
    }
    if let Some((hash, expires_at)) = token {
        state.opaque_access.retain(|(_, exp)| *exp > now);
        state.opaque_access.push((hash.clone(), *expires_at));
        if state.opaque_access.len() > MAX_OPAQUE_ACCESS_TOKENS {
            state.opaque_access.remove(0);
        }
        if let Some(jkt) = jkt {
            state.opaque_jkt.push((hash.clone(), jkt.clone()));
        }
        let live = &state.opaque_access;
        state
            .opaque_jkt
            .retain(|(h, _)| live.iter().any(|(l, _)| l == h));
    }
}

/// Lifetimes that apply to refresh tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPolicy {
    pub ttl_secs: i64,
    pub absolute_secs: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            ttl_secs: DEFAULT_REFRESH_TTL_SECS,
            absolute_secs: DEFAULT_REFRESH_ABSOLUTE_SECS,
        }
    }
}

/// The `created_at` before which a grant's D1 index row indexes nothing usable. A grant's code
/// expires `code_ttl_secs` after it is made; a refresh family starts when the code is redeemed
/// and ends `policy.absolute_secs` later, whatever its rotations. A day's margin covers clocks.
pub fn index_row_ended_before(now: i64, code_ttl_secs: i64, policy: RefreshPolicy) -> i64 {
    now - code_ttl_secs - policy.absolute_secs - 86_400
}

/// A token request presenting a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRedemption {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub now: i64,
    /// Hash of the refresh token to issue if the code is good.
    pub new_refresh_hash: String,
    pub policy: RefreshPolicy,
    /// An opaque access token (hash, expiry), kept only if the grant has no API resource.
    #[serde(default)]
    pub opaque_access: Option<(String, i64)>,
    /// The RFC 8707 `resource` the token request names, if any: it must be the grant's.
    #[serde(default)]
    pub resource: Option<String>,
    /// The issuer whose token endpoint the request reached: it must be the grant's.
    #[serde(default)]
    pub issuer: String,
    /// The thumbprint of the DPoP key the request proved, if it sent a proof.
    #[serde(default)]
    pub jkt: Option<String>,
    /// Whether the refresh family is bound to that key (a public client's).
    #[serde(default)]
    pub bind_refresh: bool,
}

/// A token request presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRotation {
    pub refresh_hash: String,
    pub client_id: String,
    /// The narrower scope asked for, if any.
    pub scopes: Option<Vec<String>>,
    pub now: i64,
    pub new_refresh_hash: String,
    pub policy: RefreshPolicy,
    /// An opaque access token (hash, expiry), kept only if the grant has no API resource.
    #[serde(default)]
    pub opaque_access: Option<(String, i64)>,
    /// The RFC 8707 `resource` the token request names, if any: it must be the grant's.
    #[serde(default)]
    pub resource: Option<String>,
    /// The issuer whose token endpoint the request reached: it must be the grant's.
    #[serde(default)]
    pub issuer: String,
    /// The thumbprint of the DPoP key the request proved, if it sent a proof.
    #[serde(default)]
    pub jkt: Option<String>,
}

/// What the token endpoint needs to mint tokens after a successful step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    pub grant_id: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<Resource>,
}

/// Why a step failed. Each maps to an RFC error; the variant itself is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantError {
    CodeMismatch,
    CodeExpired,
    CodeReplayed,
    ClientMismatch,
    RedirectUriMissing,
    RedirectUriMismatch,
    PkceVerifierMissing,
    PkceVerifierWrong,
    PkceDowngrade,
    Revoked,
    RefreshUnknown,
    RefreshReused,
    RefreshExpired,
    ScopeEscalation,
    /// The token request names a resource other than the grant's (RFC 8707 §2.2).
    ResourceMismatch,
    /// The token request reached another plugin's token endpoint than the grant's.
    IssuerMismatch,
    /// The code or refresh token is bound to a DPoP key the request did not prove.
    DpopKeyMismatch,
    NotFound,
}

impl GrantError {
    pub fn to_oauth(self) -> OAuthError {
        let (code, text) = match self {
            GrantError::CodeMismatch | GrantError::NotFound | GrantError::IssuerMismatch => (
                OAuthErrorCode::InvalidGrant,
                "the authorization code is invalid",
            ),
            GrantError::CodeExpired => (
                OAuthErrorCode::InvalidGrant,
                "the authorization code expired",
            ),
            GrantError::CodeReplayed => (
                OAuthErrorCode::InvalidGrant,
                "the authorization code was already used; the grant is revoked",
            ),
            GrantError::ClientMismatch => (
                OAuthErrorCode::InvalidGrant,
                "the grant was issued to another client",
            ),
            GrantError::RedirectUriMissing => (
                OAuthErrorCode::InvalidGrant,
                "redirect_uri is required: it was sent in the authorization request",
            ),
            GrantError::RedirectUriMismatch => (
                OAuthErrorCode::InvalidGrant,
                "redirect_uri differs from the authorization request",
            ),
            GrantError::PkceVerifierMissing => {
                (OAuthErrorCode::InvalidGrant, "code_verifier is required")
            }
            GrantError::PkceVerifierWrong => (
                OAuthErrorCode::InvalidGrant,
                "code_verifier does not match the challenge",
            ),
            GrantError::PkceDowngrade => (
                OAuthErrorCode::InvalidGrant,
                "code_verifier sent but no code_challenge was sent at authorization",
            ),
            GrantError::Revoked => (OAuthErrorCode::InvalidGrant, "the grant was revoked"),
            GrantError::RefreshUnknown => {
                (OAuthErrorCode::InvalidGrant, "the refresh token is invalid")
            }
            GrantError::RefreshReused => (
                OAuthErrorCode::InvalidGrant,
                "the refresh token was already used; the grant is revoked",
            ),
            GrantError::RefreshExpired => {
                (OAuthErrorCode::InvalidGrant, "the refresh token expired")
            }
            GrantError::ScopeEscalation => (
                OAuthErrorCode::InvalidScope,
                "the requested scope exceeds the scope originally granted",
            ),
            GrantError::ResourceMismatch => (
                OAuthErrorCode::InvalidTarget,
                "the resource differs from the one the grant is for",
            ),
            GrantError::DpopKeyMismatch => (
                OAuthErrorCode::InvalidGrant,
                "the grant is bound to a DPoP key this request did not prove",
            ),
        };
        OAuthError::new(code, text)
    }
}

fn issued(state: &GrantState, scopes: Vec<String>) -> Issued {
    Issued {
        grant_id: state.grant_id.clone(),
        nonce: state.nonce.clone(),
        auth_time: state.auth_time,
        amr: state.amr.clone(),
        user_id: state.user_id.clone(),
        client_id: state.client_id.clone(),
        scopes,
        resource: state.resource.clone(),
    }
}

/// Whether the grant was created by `issuer` (grants from before the binding carry none).
pub fn issued_by(state: &GrantState, issuer: &str) -> bool {
    state.issuer.as_deref().is_none_or(|i| i == issuer)
}

/// RFC 8707: a token request may name the resource again, and only the grant's.
fn resource_matches(state: &GrantState, asked: &Option<String>) -> bool {
    match asked {
        None => true,
        Some(asked) => state
            .resource
            .as_ref()
            .is_some_and(|r| r.indicator == *asked),
    }
}

fn new_family(now: i64, hash: String, policy: RefreshPolicy) -> RefreshFamily {
    let absolute = now.saturating_add(policy.absolute_secs);
    RefreshFamily {
        current_hash: hash,
        rotated_hashes: Vec::new(),
        expires_at: now.saturating_add(policy.ttl_secs).min(absolute),
        absolute_expires_at: absolute,
        jkt: None,
    }
}

/// Redeems the grant's code. Mutates `state` even on failure (burning, revoking): store it back.
pub fn redeem_code(state: &mut GrantState, r: &CodeRedemption) -> Result<Issued, GrantError> {
    if !constant_time_eq(state.code_hash.as_bytes(), r.code_hash.as_bytes()) {
        return Err(GrantError::CodeMismatch);
    }
    if !issued_by(state, &r.issuer) {
        return Err(GrantError::IssuerMismatch);
    }
    if state.revoked {
        return Err(GrantError::Revoked);
    }
    if state.code_status != CodeStatus::Issued {
        state.revoked = true;
        state.refresh = None;
        return Err(GrantError::CodeReplayed);
    }
    let check = || -> Result<(), GrantError> {
        if r.now >= state.code_expires_at {
            return Err(GrantError::CodeExpired);
        }
        if r.client_id != state.client_id {
            return Err(GrantError::ClientMismatch);
        }
        if !resource_matches(state, &r.resource) {
            return Err(GrantError::ResourceMismatch);
        }
        match (&r.redirect_uri, state.redirect_uri_sent) {
            (None, true) => return Err(GrantError::RedirectUriMissing),
            (Some(uri), _) if *uri != state.redirect_uri => {
                return Err(GrantError::RedirectUriMismatch)
            }
            _ => {}
        }
        match (&state.code_challenge, &r.code_verifier) {
            (Some(_), None) => Err(GrantError::PkceVerifierMissing),
            (Some(challenge), Some(verifier)) if !verify_pkce(verifier, challenge) => {
                Err(GrantError::PkceVerifierWrong)
            }
            (None, Some(_)) => Err(GrantError::PkceDowngrade),
            _ => Ok(()),
        }?;
        match &state.dpop_jkt {
            Some(bound) if r.jkt.as_ref() != Some(bound) => Err(GrantError::DpopKeyMismatch),
            _ => Ok(()),
        }
    };
    if let Err(e) = check() {
        state.code_status = CodeStatus::Burned;
        return Err(e);
    }
    state.code_status = CodeStatus::Redeemed;
    let mut family = new_family(r.now, r.new_refresh_hash.clone(), r.policy);
    family.jkt = r.jkt.clone().filter(|_| r.bind_refresh);
    state.refresh = Some(family);
    record_opaque_access(state, &r.opaque_access, &r.jkt, r.now);
    Ok(issued(state, state.scopes.clone()))
}

/// Rotates the grant's refresh token. Mutates `state` even on failure: store it back.
/// A step a token endpoint takes back when it could not answer after the grant moved on (its
/// token could not be signed), so the client's retry with the same code or refresh token works
/// instead of counting as reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Undo {
    /// The code redemption that started the refresh family with this token.
    Redemption { new_refresh_hash: String },
    /// The rotation from one refresh token to the next.
    Rotation { old_hash: String, new_hash: String },
}

/// Takes the step back if the grant is still exactly where that step left it; `false`, and
/// nothing changed, if anything moved it on since (a later rotation, a revocation).
pub fn undo(state: &mut GrantState, undo: &Undo) -> bool {
    if state.revoked {
        return false;
    }
    match undo {
        Undo::Redemption { new_refresh_hash } => {
            let untouched = state.code_status == CodeStatus::Redeemed
                && state.refresh.as_ref().is_some_and(|f| {
                    f.current_hash == *new_refresh_hash && f.rotated_hashes.is_empty()
                });
            if untouched {
                state.code_status = CodeStatus::Issued;
                state.refresh = None;
            }
            untouched
        }
        Undo::Rotation { old_hash, new_hash } => {
            let Some(family) = state.refresh.as_mut() else {
                return false;
            };
            let untouched =
                family.current_hash == *new_hash && family.rotated_hashes.last() == Some(old_hash);
            if untouched {
                family.rotated_hashes.pop();
                family.current_hash = old_hash.clone();
            }
            untouched
        }
    }
}

pub fn rotate_refresh(state: &mut GrantState, r: &RefreshRotation) -> Result<Issued, GrantError> {
    if state.revoked {
        return Err(GrantError::Revoked);
    }
    if !issued_by(state, &r.issuer) {
        return Err(GrantError::IssuerMismatch);
    }
    let resource_ok = resource_matches(state, &r.resource);
    let Some(family) = state.refresh.as_mut() else {
        return Err(GrantError::RefreshUnknown);
    };
    if constant_time_eq(family.current_hash.as_bytes(), r.refresh_hash.as_bytes()) {
        if r.client_id != state.client_id {
            return Err(GrantError::ClientMismatch);
        }
        if !resource_ok {
            return Err(GrantError::ResourceMismatch);
        }
        if family.jkt.is_some() && family.jkt != r.jkt {
            return Err(GrantError::DpopKeyMismatch);
        }
        if r.now >= family.expires_at || r.now >= family.absolute_expires_at {
            state.refresh = None;
            return Err(GrantError::RefreshExpired);
        }
        let scopes = match &r.scopes {
            None => state.scopes.clone(),
            Some(asked) => {
                if asked.iter().any(|s| !state.scopes.contains(s)) {
                    return Err(GrantError::ScopeEscalation);
                }
                asked.clone()
            }
        };
        let old = std::mem::replace(&mut family.current_hash, r.new_refresh_hash.clone());
        family.rotated_hashes.push(old);
        if family.rotated_hashes.len() > MAX_ROTATED_HASHES {
            family.rotated_hashes.remove(0);
        }
        family.expires_at = r
            .now
            .saturating_add(r.policy.ttl_secs)
            .min(family.absolute_expires_at);
        record_opaque_access(state, &r.opaque_access, &r.jkt, r.now);
        return Ok(issued(state, scopes));
    }
    if family
        .rotated_hashes
        .iter()
        .any(|h| constant_time_eq(h.as_bytes(), r.refresh_hash.as_bytes()))
    {
        state.revoked = true;
        state.refresh = None;
        return Err(GrantError::RefreshReused);
    }
    Err(GrantError::RefreshUnknown)
}

/// Whether the grant can still produce tokens.
pub fn is_active(state: &GrantState, now: i64) -> bool {
    !state.revoked
        && match &state.refresh {
            Some(f) => now < f.expires_at && now < f.absolute_expires_at,
            None => state.code_status == CodeStatus::Issued && now < state.code_expires_at,
        }
}

/// When the grant's storage can be deleted: nothing in it can be used after this.
pub fn expires_at(state: &GrantState) -> i64 {
    match &state.refresh {
        Some(f) if !state.revoked => f.absolute_expires_at,
        _ => state.code_expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::oauth::OAuthErrorCode;
    use crate::oauth::pkce::s256_challenge;
    use crate::primitives::hash::sha256_hex as h;

    const NOW: i64 = 1_790_000_000;
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const ISSUER: &str = "https://todo.example.com";

    fn state(challenge: bool) -> GrantState {
        GrantState {
            grant_id: "g".into(),
            client_id: "chatgpt".into(),
            user_id: "usr_demo".into(),
            scopes: vec!["todos:read".into(), "todos:write".into()],
            resource: None,
            redirect_uri: "https://chatgpt.com/cb".into(),
            redirect_uri_sent: true,
            code_challenge: challenge.then(|| s256_challenge(VERIFIER)),
            code_hash: h("code"),
            code_expires_at: NOW + 60,
            code_status: CodeStatus::Issued,
            refresh: None,
            revoked: false,
            created_at: NOW,
            nonce: None,
            auth_time: NOW,
            amr: Vec::new(),
            opaque_access: Vec::new(),
            opaque_jkt: Vec::new(),
            issuer: Some(ISSUER.into()),
            dpop_jkt: None,
        }
    }

    fn redemption() -> CodeRedemption {
        CodeRedemption {
            code_hash: h("code"),
            client_id: "chatgpt".into(),
            redirect_uri: Some("https://chatgpt.com/cb".into()),
            code_verifier: None,
            now: NOW + 5,
            new_refresh_hash: h("rt1"),
            policy: RefreshPolicy::default(),
            opaque_access: Some((h("oat1"), NOW + 3600)),
            resource: None,
            issuer: ISSUER.into(),
            jkt: None,
            bind_refresh: false,
        }
    }

    fn rotation(presented: &str, next: &str) -> RefreshRotation {
        RefreshRotation {
            refresh_hash: h(presented),
            client_id: "chatgpt".into(),
            scopes: None,
            now: NOW + 100,
            new_refresh_hash: h(next),
            policy: RefreshPolicy::default(),
            opaque_access: None,
            resource: None,
            issuer: ISSUER.into(),
            jkt: None,
        }
    }

    fn redeemed() -> GrantState {
        let mut s = state(false);
        redeem_code(&mut s, &redemption()).unwrap();
        s
    }

    #[test]
    fn a_good_code_redeems_once_and_starts_a_refresh_family() {
        let mut s = state(false);
        let issued = redeem_code(&mut s, &redemption()).unwrap();
        assert_eq!(issued.user_id, "usr_demo");
        assert_eq!(s.code_status, CodeStatus::Redeemed);
        assert_eq!(s.refresh.as_ref().unwrap().current_hash, h("rt1"));
    }

    fn with_resource() -> GrantState {
        let mut s = state(false);
        s.resource = Some(Resource {
            id: "res_todos".into(),
            indicator: "https://todo.example.com/mcp".into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        });
        s
    }

    #[test]
    fn the_token_request_may_name_only_the_grants_resource() {
        let mut s = with_resource();
        let mut r = redemption();
        r.resource = Some("https://other.example.com".into());
        assert_eq!(redeem_code(&mut s, &r), Err(GrantError::ResourceMismatch));
        assert_eq!(
            GrantError::ResourceMismatch.to_oauth().code,
            OAuthErrorCode::InvalidTarget
        );
        let mut s = with_resource();
        r.resource = Some("https://todo.example.com/mcp".into());
        assert!(redeem_code(&mut s, &r).is_ok());
        // A grant without a resource matches no named one.
        let mut plain = state(false);
        assert_eq!(
            redeem_code(&mut plain, &r),
            Err(GrantError::ResourceMismatch)
        );
    }

    #[test]
    fn a_refresh_naming_another_resource_is_refused_without_rotating() {
        let mut s = with_resource();
        redeem_code(&mut s, &redemption()).unwrap();
        let mut r = rotation("rt1", "rt2");
        r.resource = Some("https://other.example.com".into());
        assert_eq!(
            rotate_refresh(&mut s, &r),
            Err(GrantError::ResourceMismatch)
        );
        assert!(!s.revoked);
        // The same refresh token still works with the right resource, or none.
        r.resource = Some("https://todo.example.com/mcp".into());
        let issued = rotate_refresh(&mut s, &r).unwrap();
        assert_eq!(
            issued.resource.unwrap().indicator,
            "https://todo.example.com/mcp"
        );
        assert!(rotate_refresh(&mut s, &rotation("rt2", "rt3")).is_ok());
    }

    #[test]
    fn a_replayed_code_is_refused_and_revokes_the_grant() {
        let mut s = redeemed();
        assert_eq!(
            redeem_code(&mut s, &redemption()),
            Err(GrantError::CodeReplayed)
        );
        assert!(s.revoked);
        assert_eq!(
            rotate_refresh(&mut s, &rotation("rt1", "rt2")),
            Err(GrantError::Revoked)
        );
    }

    #[test]
    fn a_wrong_code_secret_changes_nothing() {
        let mut s = state(false);
        let mut r = redemption();
        r.code_hash = h("guess");
        assert_eq!(redeem_code(&mut s, &r), Err(GrantError::CodeMismatch));
        assert_eq!(s, state(false));
    }

    #[test]
    fn an_expired_code_is_refused_and_burned() {
        let mut s = state(false);
        let mut r = redemption();
        r.now = NOW + 60;
        assert_eq!(redeem_code(&mut s, &r), Err(GrantError::CodeExpired));
        assert_eq!(s.code_status, CodeStatus::Burned);
    }

    #[test]
    fn a_code_used_by_another_client_is_refused_and_burned() {
        let mut s = state(false);
        let mut r = redemption();
        r.client_id = "other".into();
        assert_eq!(redeem_code(&mut s, &r), Err(GrantError::ClientMismatch));
        assert_eq!(
            redeem_code(&mut s, &redemption()),
            Err(GrantError::CodeReplayed)
        );
    }

    #[test]
    fn the_redirect_uri_must_repeat_when_it_was_sent() {
        let mut r = redemption();
        r.redirect_uri = None;
        assert_eq!(
            redeem_code(&mut state(false), &r),
            Err(GrantError::RedirectUriMissing)
        );
        r.redirect_uri = Some("https://chatgpt.com/cb2".into());
        assert_eq!(
            redeem_code(&mut state(false), &r),
            Err(GrantError::RedirectUriMismatch)
        );
        let mut s = state(false);
        s.redirect_uri_sent = false;
        r.redirect_uri = None;
        assert!(redeem_code(&mut s, &r).is_ok());
    }

    #[test]
    fn pkce_is_enforced_both_ways() {
        let mut r = redemption();
        assert_eq!(
            redeem_code(&mut state(true), &r),
            Err(GrantError::PkceVerifierMissing)
        );
        r.code_verifier = Some(format!("{}x", &VERIFIER[..42]));
        assert_eq!(
            redeem_code(&mut state(true), &r),
            Err(GrantError::PkceVerifierWrong)
        );
        r.code_verifier = Some(VERIFIER.into());
        assert!(redeem_code(&mut state(true), &r).is_ok());
        assert_eq!(
            redeem_code(&mut state(false), &r),
            Err(GrantError::PkceDowngrade)
        );
    }

    #[test]
    fn refresh_rotates_and_the_old_token_then_revokes_the_grant() {
        let mut s = redeemed();
        assert!(rotate_refresh(&mut s, &rotation("rt1", "rt2")).is_ok());
        assert!(rotate_refresh(&mut s, &rotation("rt2", "rt3")).is_ok());
        assert_eq!(
            rotate_refresh(&mut s, &rotation("rt1", "rt4")),
            Err(GrantError::RefreshReused)
        );
        assert!(s.revoked);
        assert_eq!(
            rotate_refresh(&mut s, &rotation("rt3", "rt5")),
            Err(GrantError::Revoked)
        );
    }

    #[test]
    fn of_two_refreshes_with_one_token_exactly_one_succeeds() {
        let mut s = redeemed();
        let first = rotate_refresh(&mut s, &rotation("rt1", "rt2a"));
        let second = rotate_refresh(&mut s, &rotation("rt1", "rt2b"));
        assert!(first.is_ok());
        assert_eq!(second, Err(GrantError::RefreshReused));
    }

    #[test]
    fn refresh_can_narrow_but_not_widen_scope() {
        let mut s = redeemed();
        let mut r = rotation("rt1", "rt2");
        r.scopes = Some(vec!["todos:read".into()]);
        assert_eq!(
            rotate_refresh(&mut s, &r).unwrap().scopes,
            vec!["todos:read"]
        );
        let mut r = rotation("rt2", "rt3");
        r.scopes = Some(vec!["todos:read".into(), "admin".into()]);
        assert_eq!(rotate_refresh(&mut s, &r), Err(GrantError::ScopeEscalation));
        assert_eq!(
            rotate_refresh(&mut s, &rotation("rt2", "rt3"))
                .unwrap()
                .scopes
                .len(),
            2
        );
    }

    #[test]
    fn refresh_expiry_slides_within_the_absolute_cap() {
        let mut s = redeemed();
        let policy = RefreshPolicy::default();
        let mut r = rotation("rt1", "rt2");
        r.now = NOW + policy.ttl_secs - 10;
        assert!(
            rotate_refresh(&mut s, &r).is_ok(),
            "used just before the idle expiry"
        );
        let f = s.refresh.clone().unwrap();
        assert_eq!(f.expires_at, r.now + policy.ttl_secs);
        let mut late = rotation("rt2", "rt3");
        late.now = f.absolute_expires_at;
        assert_eq!(
            rotate_refresh(&mut s, &late),
            Err(GrantError::RefreshExpired)
        );
    }

    #[test]
    fn an_idle_refresh_token_expires() {
        let mut s = redeemed();
        let mut r = rotation("rt1", "rt2");
        r.now = NOW + 5 + DEFAULT_REFRESH_TTL_SECS;
        assert_eq!(rotate_refresh(&mut s, &r), Err(GrantError::RefreshExpired));
    }

    #[test]
    fn refresh_by_another_client_is_refused_without_rotation() {
        let mut s = redeemed();
        let mut r = rotation("rt1", "rt2");
        r.client_id = "other".into();
        assert_eq!(rotate_refresh(&mut s, &r), Err(GrantError::ClientMismatch));
        assert!(rotate_refresh(&mut s, &rotation("rt1", "rt2")).is_ok());
    }

    #[test]
    fn a_code_presented_at_another_plugin_is_refused_and_stays_redeemable_at_its_own() {
        let mut s = state(false);
        let elsewhere = CodeRedemption {
            issuer: "https://weather.example.com".into(),
            ..redemption()
        };
        let before = s.clone();
        assert_eq!(
            redeem_code(&mut s, &elsewhere),
            Err(GrantError::IssuerMismatch)
        );
        assert_eq!(s, before, "nothing changed");
        assert_eq!(
            GrantError::IssuerMismatch.to_oauth().code,
            OAuthErrorCode::InvalidGrant
        );
        assert!(redeem_code(&mut s, &redemption()).is_ok());
    }

    #[test]
    fn a_refresh_token_presented_at_another_plugin_is_refused_without_rotating() {
        let mut s = redeemed();
        let before = s.clone();
        let elsewhere = RefreshRotation {
            issuer: "https://weather.example.com".into(),
            ..rotation("rt1", "rt2")
        };
        assert_eq!(
            rotate_refresh(&mut s, &elsewhere),
            Err(GrantError::IssuerMismatch)
        );
        assert_eq!(s, before);
        assert!(rotate_refresh(&mut s, &rotation("rt1", "rt2")).is_ok());
    }

    #[test]
    fn grants_stored_before_the_binding_are_taken_at_any_issuer() {
        let mut s = state(false);
        s.issuer = None;
        assert!(issued_by(&s, "https://weather.example.com"));
        s.issuer = Some(ISSUER.into());
        assert!(!issued_by(&s, "https://weather.example.com"));
        assert!(issued_by(&s, ISSUER));
    }

    #[test]
    fn opaque_access_tokens_live_only_on_grants_without_a_resource() {
        // (The check a presented token gets is `presented::Handle::opaque_access_is_live`.)
        let opaque_access_is_live = |s: &GrantState, hash: &str, now: i64| {
            !s.revoked
                && s.opaque_access
                    .iter()
                    .any(|(h, exp)| h == hash && now < *exp)
        };
        let s = redeemed();
        assert!(opaque_access_is_live(&s, &h("oat1"), NOW + 10));
        assert!(!opaque_access_is_live(&s, &h("oat1"), NOW + 3600));
        assert!(!opaque_access_is_live(&s, &h("other"), NOW + 10));
        let mut with_resource = state(false);
        with_resource.resource = Some(Resource {
            id: "r".into(),
            indicator: "https://api.example.com".into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        });
        redeem_code(&mut with_resource, &redemption()).unwrap();
        assert!(with_resource.opaque_access.is_empty());
        let mut revoked = redeemed();
        revoked.revoked = true;
        assert!(!opaque_access_is_live(&revoked, &h("oat1"), NOW + 10));
    }

    #[test]
    fn activity_follows_the_grant() {
        let s = state(false);
        assert!(is_active(&s, NOW));
        assert!(!is_active(&s, NOW + 60));
        let r = redeemed();
        assert!(is_active(&r, NOW + 1000));
        assert_eq!(expires_at(&r), NOW + 5 + DEFAULT_REFRESH_ABSOLUTE_SECS);
    }

    #[test]
    fn a_redemption_or_rotation_is_taken_back_only_while_untouched() {
        // A redemption taken back: the same code redeems again.
        let mut s = state(false);
        let before = s.clone();
        redeem_code(&mut s, &redemption()).unwrap();
        let back = Undo::Redemption {
            new_refresh_hash: redemption().new_refresh_hash,
        };
        assert!(undo(&mut s, &back));
        assert_eq!(s.code_status, CodeStatus::Issued);
        assert_eq!(s.refresh, None);
        assert!(redeem_code(&mut s, &redemption()).is_ok());
        // Once the family has moved on, nothing is taken back.
        let rotated = rotation("rt1", "rt2");
        rotate_refresh(&mut s, &rotated).unwrap();
        let snapshot = s.clone();
        assert!(!undo(&mut s, &back));
        assert_eq!(s, snapshot);
        // A rotation taken back: the old refresh token works again, not as reuse.
        let step = Undo::Rotation {
            old_hash: rotated.refresh_hash.clone(),
            new_hash: rotated.new_refresh_hash.clone(),
        };
        assert!(undo(&mut s, &step));
        assert!(rotate_refresh(&mut s, &rotation("rt1", "rt3")).is_ok());
        assert!(!undo(&mut s, &step), "rt2 is not current any more");
        // A revoked grant stays revoked.
        let mut revoked = before;
        revoked.revoked = true;
        assert!(!undo(&mut revoked, &back));
    }
}
