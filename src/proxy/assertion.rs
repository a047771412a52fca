//! What the origin can check to know a request came through the gateway.
//!
//! Every forwarded request carries `X-Portcullis-Assertion`: a JWT signed with the gateway's key
//! (verifiable with the public JWKS), `typ: portcullis-assertion+jwt`, `aud` = the origin's base
//! URL, naming the identity the gateway verified and the call it was made for (`htm`, the method,
//! and `htu`, the origin URL without its query, as in a DPoP proof), valid for a minute, so a
//! leaked one (echoed, logged) opens nothing else. The edge signs it with the platform's Ed25519
//! and reuses an assertion for the same identity and call for 30 seconds.
//! With an `ORIGIN_SECRET`, each request also carries `X-Portcullis-Signature`: an HMAC-SHA256 over
//! the time, method, path and request id, cheap to check and bound to the one request.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::jose::keys::{KeySet, SigningAlg};
use crate::jose::signing::{sign_jwt, SignError};
use crate::ports::JwsSigner;
use crate::proxy::forward::Identity;

pub const ASSERTION_HEADER: &str = "x-portcullis-assertion";
pub const SIGNATURE_HEADER: &str = "x-portcullis-signature";
pub const ASSERTION_TYP: &str = "portcullis-assertion+jwt";
/// An assertion is valid for a minute after it is made...
pub const ASSERTION_TTL_SECS: i64 = 60;
/// ...and reused for requests of the same identity during its first half.
pub const ASSERTION_REUSE_SECS: i64 = 30;

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    auth: &'a str,
    /// `client` when `sub` is a machine client rather than a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    /// The signed agent whose signature on the call verified (Web Bot Auth).
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    /// The method of the call the assertion was made for.
    htm: &'a str,
    /// The URL of the call at the origin, without its query.
    htu: &'a str,
    iat: i64,
    exp: i64,
}

/// The call an assertion is made for: its method and its URL at the origin (no query).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
}

/// Signs an assertion for `identity`, to be sent to `origin`, with the current Ed25519 key
/// through `signer`.
pub async fn sign_assertion<S: JwsSigner>(
    keys: &KeySet,
    issuer: &str,
    origin: &str,
    identity: &Identity,
    call: Call<'_>,
    now: i64,
    signer: &S,
) -> Result<String, SignError> {
    let claims = AssertionClaims {
        iss: issuer,
        aud: origin,
        sub: identity.subject.as_deref(),
        client_id: identity.client_id.as_deref(),
        scope: identity.scopes.join(" "),
        auth: identity.caller.as_str(),
        principal: identity.caller.is_machine().then_some("client"),
        agent: identity.agent.as_deref(),
        htm: call.method,
        htu: call.url,
        iat: now,
        exp: now + ASSERTION_TTL_SECS,
    };
    sign_jwt(keys, SigningAlg::EdDsa, ASSERTION_TYP, &claims, signer).await
}

/// The cache key of an identity's assertion.
pub fn identity_key(identity: &Identity) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        identity.caller.as_str(),
        identity.caller.is_machine(),
        identity.subject.as_deref().unwrap_or(""),
        identity.client_id.as_deref().unwrap_or(""),
        identity.scopes.join(" "),
        identity.agent.as_deref().unwrap_or("")
    )
}

/// `t=<unix seconds>, v1=<hex HMAC-SHA256(secret, "t\nMETHOD\npath?query\nrequest id\nuser")>`.
pub fn sign_request(
    secret: &[u8],
    now: i64,
    method: &str,
    path_and_query: &str,
    request_id: &str,
    user: Option<&str>,
) -> String {
    let message = format!(
        "{now}\n{method}\n{path_and_query}\n{request_id}\n{}",
        user.unwrap_or("")
    );
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(message.as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={now}, v1={tag}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::signing::native::NativeCrypto;
    use crate::oauth::access_token::{verify_access_token, TokenRejection, VerifyPolicy};
    use futures_executor::block_on;
    use jwt_compact::alg::Ed25519;
    use jwt_compact::{AlgorithmExt, UntrustedToken};

    fn sign(keys: &KeySet) -> String {
        block_on(sign_assertion(
            keys,
            "https://gw",
            "http://origin:9000",
            &identity(),
            Call {
                method: "GET",
                url: "http://origin:9000/todos/1",
            },
            1000,
            &NativeCrypto,
        ))
        .unwrap()
    }

    const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    fn identity() -> Identity {
        Identity {
            subject: Some("usr_demo".into()),
            client_id: Some("chatgpt".into()),
            scopes: vec!["todos:read".into()],
            caller: crate::proxy::forward::Caller::UserToken,
            agent: None,
        }
    }

    #[test]
    fn an_assertion_names_the_identity_and_the_origin() {
        let keys = KeySet::from_secrets(Some(SEED), None).unwrap();
        let jwt = sign(&keys);
        let untrusted = UntrustedToken::new(&jwt).unwrap();
        // Signed with the gateway's current key, as its JWKS publishes it.
        let key = keys.current();
        assert_eq!(untrusted.header().key_id.as_deref(), Some(key.kid()));
        assert!(Ed25519
            .validator::<serde_json::Value>(key.public())
            .validate(&untrusted)
            .is_ok());
        assert_eq!(
            untrusted.header().token_type.as_deref(),
            Some(ASSERTION_TYP)
        );
        let full = untrusted
            .deserialize_claims_unchecked::<serde_json::Value>()
            .unwrap();
        assert_eq!(full.issued_at.map(|t| t.timestamp()), Some(1000));
        assert_eq!(
            full.expiration.map(|t| t.timestamp()),
            Some(1000 + ASSERTION_TTL_SECS)
        );
        let claims = full.custom;
        assert_eq!(claims["aud"], "http://origin:9000");
        assert_eq!(claims["sub"], "usr_demo");
        assert_eq!(claims["scope"], "todos:read");
        // Bound to its call (issue 29, finding 6): an origin that echoes it (TRACE) or logs it
        // hands out an assertion for that method and URL only.
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "http://origin:9000/todos/1");
    }

    #[test]
    fn an_assertion_is_not_an_access_token() {
        let keys = KeySet::from_secrets(Some(SEED), None).unwrap();
        let jwt = sign(&keys);
        let policy = VerifyPolicy {
            issuer: "https://gw",
            audience: None,
            now: 1001,
        };
        assert_eq!(
            verify_access_token(&jwt, &keys, &policy),
            Err(TokenRejection::WrongType)
        );
    }

    #[test]
    fn request_signatures_bind_time_method_path_and_request() {
        let a = sign_request(
            b"secret",
            1000,
            "GET",
            "/todos?x=1",
            "req-1",
            Some("usr_demo"),
        );
        assert!(a.starts_with("t=1000, v1="));
        assert_eq!(a.len(), "t=1000, v1=".len() + 64);
        assert_ne!(
            a,
            sign_request(
                b"secret",
                1000,
                "POST",
                "/todos?x=1",
                "req-1",
                Some("usr_demo")
            )
        );
        assert_ne!(
            a,
            sign_request(b"secret", 1000, "GET", "/todos", "req-1", Some("usr_demo"))
        );
        assert_ne!(
            a,
            sign_request(
                b"other",
                1000,
                "GET",
                "/todos?x=1",
                "req-1",
                Some("usr_demo")
            )
        );
    }
}
