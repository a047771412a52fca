//! A token presented back to the authorization server (`/revoke`, `/introspect`, `/userinfo`),
//! classified once by its shape: an opaque access token, a refresh token, or a JWT. The secret of
//! a handle is hashed once here, and compared with what a grant stores in constant time.

use crate::oauth::grant::GrantState;
use crate::primitives::hash::sha256_hex;
use crate::primitives::secret::constant_time_eq;
use crate::primitives::syntax::split_handle;

/// Prefix of opaque access tokens (`o.<grant id>.<secret>`), issued when no API resource applies.
pub const OPAQUE_ACCESS_PREFIX: &str = "o.";

/// A handle's grant and the SHA-256 of its secret (what the grant stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle<'a> {
    pub grant_id: &'a str,
    secret_hash: String,
}

impl Handle<'_> {
    /// The expiry of this opaque access token, if the grant issued it (revoked or not).
    pub fn opaque_access_expiry(&self, state: &GrantState) -> Option<i64> {
        state
            .opaque_access
            .iter()
            .find(|(h, _)| same(h, &self.secret_hash))
            .map(|(_, exp)| *exp)
    }

    /// The DPoP key this opaque access token is bound to, if it is.
    pub fn opaque_access_jkt<'s>(&self, state: &'s GrantState) -> Option<&'s str> {
        state
            .opaque_jkt
            .iter()
            .find(|(h, _)| same(h, &self.secret_hash))
            .map(|(_, jkt)| jkt.as_str())
    }

    /// Whether this opaque access token is one the grant issued, unexpired, and the grant is live.
    pub fn opaque_access_is_live(&self, state: &GrantState, now: i64) -> bool {
        !state.revoked
            && self
                .opaque_access_expiry(state)
                .is_some_and(|exp| now < exp)
    }

    /// Whether this refresh token is the grant's current one.
    pub fn is_current_refresh(&self, state: &GrantState) -> bool {
        state
            .refresh
            .as_ref()
            .is_some_and(|f| same(&f.current_hash, &self.secret_hash))
    }

    /// Whether this refresh token is one the grant issued, current or rotated away.
    pub fn is_known_refresh(&self, state: &GrantState) -> bool {
        state.refresh.as_ref().is_some_and(|f| {
            same(&f.current_hash, &self.secret_hash)
                || f.rotated_hashes.iter().any(|h| same(h, &self.secret_hash))
        })
    }
}

fn same(stored: &str, presented: &str) -> bool {
    constant_time_eq(stored.as_bytes(), presented.as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedToken<'a> {
    /// `o.<grant id>.<secret>`: good only at `/userinfo`.
    OpaqueAccess(Handle<'a>),
    /// `<grant id>.<secret>`.
    Refresh(Handle<'a>),
    /// Anything else: a JWT access token, if it is one of ours.
    Jwt(&'a str),
}

impl<'a> PresentedToken<'a> {
    pub fn classify(token: &'a str) -> PresentedToken<'a> {
        let handle = |text: &'a str| {
            split_handle(text).map(|(grant_id, secret)| Handle {
                grant_id,
                secret_hash: sha256_hex(secret),
            })
        };
        if let Some(h) = token.strip_prefix(OPAQUE_ACCESS_PREFIX).and_then(handle) {
            return PresentedToken::OpaqueAccess(h);
        }
        match handle(token) {
            Some(h) => PresentedToken::Refresh(h),
            None => PresentedToken::Jwt(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grant::{CodeStatus, RefreshFamily};

    fn id() -> String {
        "g".repeat(22)
    }

    fn secret(c: char) -> String {
        c.to_string().repeat(43)
    }

    fn state() -> GrantState {
        GrantState {
            grant_id: id(),
            client_id: "c".into(),
            user_id: "u".into(),
            scopes: vec![],
            resource: None,
            redirect_uri: "https://x.example/cb".into(),
            redirect_uri_sent: true,
            code_challenge: None,
            code_hash: "h".into(),
            code_expires_at: 0,
            code_status: CodeStatus::Redeemed,
            refresh: Some(RefreshFamily {
                current_hash: sha256_hex(&secret('a')),
                rotated_hashes: vec![sha256_hex(&secret('b'))],
                expires_at: 100,
                absolute_expires_at: 200,
                jkt: None,
            }),
            revoked: false,
            created_at: 0,
            nonce: None,
            auth_time: 0,
            amr: Vec::new(),
            opaque_access: vec![(sha256_hex(&secret('o')), 50)],
            opaque_jkt: Vec::new(),
            issuer: None,
            dpop_jkt: None,
        }
    }

    #[test]
    fn a_token_is_classified_by_its_shape() {
        let refresh = format!("{}.{}", id(), secret('a'));
        let opaque = format!("o.{}.{}", id(), secret('o'));
        assert!(
            matches!(PresentedToken::classify(&refresh), PresentedToken::Refresh(h) if h.grant_id == id())
        );
        assert!(
            matches!(PresentedToken::classify(&opaque), PresentedToken::OpaqueAccess(h) if h.grant_id == id())
        );
        assert_eq!(
            PresentedToken::classify("eyJ.x.y"),
            PresentedToken::Jwt("eyJ.x.y")
        );
        // A malformed handle is not a handle: it can only be a JWT, and fails as one.
        let short = format!("{}.{}", id(), "a".repeat(42));
        assert_eq!(
            PresentedToken::classify(&short),
            PresentedToken::Jwt(&short)
        );
    }

    #[test]
    fn handles_match_what_the_grant_stores() {
        let s = state();
        let current = format!("{}.{}", id(), secret('a'));
        let rotated = format!("{}.{}", id(), secret('b'));
        let PresentedToken::Refresh(h) = PresentedToken::classify(&current) else {
            panic!()
        };
        assert!(h.is_current_refresh(&s) && h.is_known_refresh(&s));
        let PresentedToken::Refresh(h) = PresentedToken::classify(&rotated) else {
            panic!()
        };
        assert!(!h.is_current_refresh(&s) && h.is_known_refresh(&s));
        let opaque = format!("o.{}.{}", id(), secret('o'));
        let PresentedToken::OpaqueAccess(h) = PresentedToken::classify(&opaque) else {
            panic!()
        };
        assert_eq!(h.opaque_access_expiry(&s), Some(50));
        assert!(h.opaque_access_is_live(&s, 49) && !h.opaque_access_is_live(&s, 50));
        let revoked = GrantState { revoked: true, ..s };
        assert!(!h.opaque_access_is_live(&revoked, 0));
    }
}
