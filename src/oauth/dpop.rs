//! DPoP proofs (RFC 9449), the pure half (issue 18, first part): a proof is parsed and its
//! claims checked here; its signature is then checked by the caller with the key the proof carries
//! (through the [`crate::ports::JwsVerifier`] port), and its `jti` remembered for the proof's
//! window ([`accept`]). The token endpoint binds tokens to [`Proof::jkt`]; the proxy checks a
//! bound token's proof on every call.
//!
//! The checks, in RFC 9449 §4.3's order:
//! - a JWT with `typ: dpop+jwt`, an asymmetric `alg` this gateway verifies (RS256, PS256, ES256,
//!   ES384, EdDSA; never `none` or an HMAC), and a public `jwk` in its header that fits the `alg`
//!   (a private key in it refuses the proof);
//! - `htm` is the request's method; `htu` is the request's URL without query and fragment, both
//!   normalized (scheme and host case, default ports, an empty path as `/`);
//! - `iat` within [`MAX_PROOF_AGE_SECS`] in the past and [`PROOF_LEEWAY_SECS`] in the future;
//! - `jti` present (at most 256 characters), for the caller's replay check;
//! - with an access token, `ath` is the base64url SHA-256 of it;
//! - with a server nonce, `nonce` equals it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::http::RequestHead;
use crate::ports::{JwsVerifier, StoreError, Throttle};

use super::client_assertion::{
    int_claim, parse_compact_jws, parse_jwks, select_key, JwsAlgorithm, PublicJwk,
};

/// The proof algorithms accepted, as metadata and challenges name them: every asymmetric one the
/// gateway verifies.
pub const SIGNING_ALGS: [&str; 5] = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];

/// How old a proof may be (its `iat`): proofs are made per request.
pub const MAX_PROOF_AGE_SECS: i64 = 300;
/// Clock skew tolerated on a proof's `iat` in the future.
pub const PROOF_LEEWAY_SECS: i64 = 60;
/// The largest proof read (an RS256 proof with a 4096-bit key in its header is under 2 KiB).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// How long a server nonce is current: one is issued per window, and a proof may carry this
/// window's or the last one's.
pub const NONCE_WINDOW_SECS: i64 = 300;

/// How long a proof's `jti` is remembered: as long as its `iat` can be accepted, both ends of the
/// window included (a proof first used at the window's start is accepted until its end).
pub const JTI_MEMORY_SECS: i64 = MAX_PROOF_AGE_SECS + PROOF_LEEWAY_SECS + 1;

/// Why a proof was refused: `invalid_dpop_proof` (RFC 9449 §7.1), or `use_dpop_nonce` when the
/// server's nonce is missing or stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopError {
    Invalid(String),
    UseNonce,
}

impl DpopError {
    /// The error code on the wire (RFC 9449 §12.2).
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::Invalid(_) => "invalid_dpop_proof",
            DpopError::UseNonce => "use_dpop_nonce",
        }
    }

    pub fn description(&self) -> String {
        match self {
            DpopError::Invalid(why) => why.clone(),
            DpopError::UseNonce => {
                "send the server's current nonce (DPoP-Nonce) in the proof".into()
            }
        }
    }
}

/// What a deployment asks of DPoP: whether every token of the plugin must be bound, and whether
/// proofs must carry a server nonce (RFC 9449 §8 and §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DpopPolicy {
    pub required: bool,
    pub nonce: bool,
}

/// The `DPoP` header of a request: `Ok(None)` when absent, refused when sent more than once
/// (RFC 9449 §4.3 item 1).
pub fn proof_header(head: &RequestHead) -> Result<Option<&str>, DpopError> {
    head.single_header("dpop")
        .map_err(|_| invalid("send one DPoP header"))
}

/// The server nonce for the window `now` falls in: an HMAC of the window under the deployment's
/// secret, so every isolate issues and accepts the same values without storing any.
pub fn server_nonce(secret: &[u8], now: i64) -> Option<String> {
    nonce_for_window(secret, now.div_euclid(NONCE_WINDOW_SECS))
}

/// `None` only if HMAC refused the key, which it does for no length.
fn nonce_for_window(secret: &[u8], window: i64) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(b"portcullis dpop nonce ");
    mac.update(&window.to_be_bytes());
    Some(URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18]))
}

/// Whether `nonce` is this window's or the last one's.
pub fn nonce_is_current(secret: &[u8], nonce: &str, now: i64) -> bool {
    let window = now.div_euclid(NONCE_WINDOW_SECS);
    [window, window - 1].iter().any(|w| {
        nonce_for_window(secret, *w).is_some_and(|expected| {
            crate::primitives::secret::constant_time_eq(expected.as_bytes(), nonce.as_bytes())
        })
    })
}

/// The second half of a proof's check, with I/O: its signature by the key it carries, then its
/// `jti`, remembered per key for [`JTI_MEMORY_SECS`] (only after the signature holds, so nobody
/// without the key can use up its `jti` values). `Ok(Err)` is a refusal, `Err` a store failure.
pub async fn accept<S: JwsVerifier + Throttle>(
    store: &S,
    proof: &Proof,
    now: i64,
) -> Result<Result<(), DpopError>, StoreError> {
    if !store
        .verify_jws(
            proof.alg,
            &proof.key,
            &proof.signing_input,
            &proof.signature,
        )
        .await?
    {
        return Ok(Err(invalid(
            "the proof's signature does not verify with its jwk",
        )));
    }
    let key = format!("dpop-jti:{}:{}", proof.jkt, proof.jti);
    if !store
        .remember_once(&key, JTI_MEMORY_SECS as u64, now.max(0) as u64)
        .await?
    {
        return Ok(Err(invalid("the proof was already used")));
    }
    Ok(Ok(()))
}

fn invalid(why: impl Into<String>) -> DpopError {
    DpopError::Invalid(why.into())
}

/// A proof whose claims hold, waiting for its signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub alg: JwsAlgorithm,
    /// The key in the proof's header: it must verify the signature.
    pub key: PublicJwk,
    /// Its RFC 7638 thumbprint: what a bound token's `cnf.jkt` names.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
}

/// What the request the proof is for looks like.
pub struct Expected<'a> {
    pub method: &'a str,
    /// The request's full URL (its query and fragment are ignored).
    pub url: &'a str,
    /// The access token presented with the proof, when there is one (`ath`).
    pub access_token: Option<&'a str>,
    /// The nonce the server requires, when it does.
    pub nonce: Option<Nonce<'a>>,
    pub now: i64,
}

/// The server nonce a proof must carry.
#[derive(Debug, Clone, Copy)]
pub enum Nonce<'a> {
    /// This value.
    Exactly(&'a str),
    /// One of [`server_nonce`]'s under this secret, current or just past.
    Current(&'a [u8]),
}

/// `scheme://host[:port]/path` with the query and fragment dropped, the scheme and host lower
/// case, a default port left out and an empty path as `/` (RFC 9449 §4.3 item 9, RFC 3986 §6).
pub fn normalize_htu(text: &str) -> Option<String> {
    let mut url = Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    // The URL parser already lower-cases scheme and host, drops default ports and writes an
    // empty path as `/`.
    Some(url.to_string())
}

/// The `ath` of an access token: base64url SHA-256 of its ASCII.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Parses a `DPoP` header's proof and checks everything but its signature and `jti` replay.
pub fn check_proof(proof: &str, expected: &Expected<'_>) -> Result<Proof, DpopError> {
    let jws = parse_compact_jws(proof, MAX_PROOF_BYTES).map_err(|e| invalid(format!("{e:?}")))?;
    if jws.header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("the proof's typ is not dpop+jwt"));
    }
    let jwk = jws
        .header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or_else(|| invalid("the proof carries no jwk"))?;
    let keys = parse_jwks(&serde_json::json!({ "keys": [jwk] })).map_err(invalid)?;
    let key = select_key(&keys, jws.alg, None)
        .map_err(|_| invalid("the proof's jwk does not fit its alg"))?
        .clone();
    let claims = &jws.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(expected.method) {
        return Err(invalid("htm is not the request's method"));
    }
    let htu = text("htu").and_then(normalize_htu);
    if htu.is_none() || htu != normalize_htu(expected.url) {
        return Err(invalid("htu is not the request's URL"));
    }
    let iat = int_claim(claims, "iat")
        .map_err(|_| invalid("iat is not a number"))?
        .ok_or_else(|| invalid("the proof has no iat"))?;
    if iat > expected.now + PROOF_LEEWAY_SECS || iat < expected.now - MAX_PROOF_AGE_SECS {
        return Err(invalid("the proof's iat is outside the accepted window"));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.chars().count() <= 256)
        .ok_or_else(|| invalid("the proof has no usable jti"))?
        .to_string();
    if let Some(token) = expected.access_token {
        if text("ath") != Some(ath(token).as_str()) {
            return Err(invalid("ath is not the presented access token's hash"));
        }
    }
    match expected.nonce {
        Some(Nonce::Exactly(nonce)) if text("nonce") != Some(nonce) => {
            return Err(DpopError::UseNonce)
        }
        Some(Nonce::Current(secret))
            if !text("nonce").is_some_and(|n| nonce_is_current(secret, n, expected.now)) =>
        {
            return Err(DpopError::UseNonce)
        }
        _ => {}
    }
    Ok(Proof {
        alg: jws.alg,
        jkt: key.thumbprint(),
        key,
        jti,
        iat,
        signing_input: jws.signing_input,
        signature: jws.signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000;
    const URL: &str = "https://todo.example.com/token";

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn ec_jwk() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])})
    }

    fn proof(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    fn header() -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk()})
    }

    fn claims() -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW})
    }

    fn expected() -> Expected<'static> {
        Expected {
            method: "POST",
            url: URL,
            access_token: None,
            nonce: None,
            now: NOW,
        }
    }

    fn with(change: Value) -> Value {
        let mut c = claims();
        for (k, v) in change.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn a_good_proof_names_its_key_and_thumbprint() {
        let p = check_proof(&proof(header(), claims()), &expected()).unwrap();
        assert_eq!(p.alg, JwsAlgorithm::Es256);
        assert_eq!(p.jti, "j-1");
        assert_eq!(p.jkt, p.key.thumbprint());
        assert_eq!(p.signature.len(), 64);
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let refused = |h: Value, c: Value| check_proof(&proof(h, c), &expected()).is_err();
        let mut wrong_typ = header();
        wrong_typ["typ"] = json!("JWT");
        assert!(refused(wrong_typ, claims()), "typ");
        let mut hmac = header();
        hmac["alg"] = json!("HS256");
        assert!(refused(hmac, claims()), "HMAC");
        let mut none = header();
        none["alg"] = json!("none");
        assert!(refused(none, claims()), "none");
        let mut no_jwk = header();
        no_jwk.as_object_mut().unwrap().remove("jwk");
        assert!(refused(no_jwk, claims()), "no jwk");
        let mut private = header();
        private["jwk"]["d"] = json!("secret");
        assert!(refused(private, claims()), "a private key");
        let mut misfit = header();
        misfit["alg"] = json!("EdDSA");
        assert!(refused(misfit, claims()), "an EC key for EdDSA");
        for (why, change) in [
            ("htm", json!({"htm": "GET"})),
            ("htu", json!({"htu": "https://evil.example.com/token"})),
            (
                "htu path",
                json!({"htu": "https://todo.example.com/token/x"}),
            ),
            ("old", json!({"iat": NOW - MAX_PROOF_AGE_SECS - 1})),
            ("future", json!({"iat": NOW + PROOF_LEEWAY_SECS + 1})),
            ("no jti", json!({"jti": ""})),
            ("iat text", json!({"iat": "now"})),
        ] {
            assert!(refused(header(), with(change)), "{why}");
        }
    }

    #[test]
    fn htu_compares_as_normalized_urls_without_query() {
        for same in [
            "https://TODO.example.com/token",
            "https://todo.example.com:443/token",
            "https://todo.example.com/token?x=1#f",
        ] {
            assert!(
                check_proof(&proof(header(), with(json!({"htu": same}))), &expected()).is_ok(),
                "{same}"
            );
        }
        assert_eq!(
            normalize_htu("https://a.example.com").as_deref(),
            Some("https://a.example.com/")
        );
        assert_eq!(normalize_htu("ftp://a.example.com/"), None);
        assert_eq!(normalize_htu("not a url"), None);
    }

    #[test]
    fn a_proof_with_a_token_must_hash_it_and_a_nonce_must_match() {
        let token = "eyJ.token.sig";
        let bound = Expected {
            access_token: Some(token),
            ..expected()
        };
        assert!(
            check_proof(&proof(header(), claims()), &bound).is_err(),
            "no ath"
        );
        assert!(check_proof(
            &proof(header(), with(json!({"ath": ath("another")}))),
            &bound
        )
        .is_err());
        assert!(check_proof(&proof(header(), with(json!({"ath": ath(token)}))), &bound).is_ok());
        let nonced = Expected {
            nonce: Some(Nonce::Exactly("n-1")),
            ..expected()
        };
        assert_eq!(
            check_proof(&proof(header(), claims()), &nonced),
            Err(DpopError::UseNonce)
        );
        assert!(check_proof(&proof(header(), with(json!({"nonce": "n-1"}))), &nonced).is_ok());
    }

    #[test]
    fn server_nonces_hold_for_their_window_and_the_next() {
        let secret = b"a deployment secret of 32 bytes!";
        let n = server_nonce(secret, NOW).unwrap();
        assert_eq!(n.len(), 24);
        assert!(nonce_is_current(secret, &n, NOW));
        assert!(nonce_is_current(secret, &n, NOW + NONCE_WINDOW_SECS));
        assert!(!nonce_is_current(secret, &n, NOW + 2 * NONCE_WINDOW_SECS));
        assert!(!nonce_is_current(b"another secret", &n, NOW));
        assert!(!nonce_is_current(secret, "", NOW));
        let current = Expected {
            nonce: Some(Nonce::Current(secret)),
            ..expected()
        };
        let with_nonce = |n: &str| proof(header(), with(json!({ "nonce": n })));
        assert!(check_proof(&with_nonce(&n), &current).is_ok());
        assert_eq!(
            check_proof(&with_nonce("stale"), &current),
            Err(DpopError::UseNonce)
        );
        assert_eq!(
            check_proof(&proof(header(), claims()), &current),
            Err(DpopError::UseNonce)
        );
    }

    #[test]
    fn thumbprints_are_rfc_7638s() {
        // RFC 7638 §3.1's example RSA key and its thumbprint.
        let keys = parse_jwks(&json!({"keys": [{
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }]}))
        .unwrap();
        assert_eq!(
            keys[0].thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 8037 Appendix A.3's Ed25519 key.
        let ed = parse_jwks(&json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})).unwrap();
        assert_eq!(
            ed[0].thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    /// Issue 29, finding 8: every extreme value of each time claim is refused or read as an instant
    /// in 1970 ..= 9999, and none overflows (tests run with overflow checks).
    #[test]
    fn no_time_claim_overflows_or_is_read_outside_1970_to_9999() {
        for value in crate::primitives::time::extremes() {
            let outcome = check_proof(
                &proof(header(), with(json!({ "iat": value.clone() }))),
                &expected(),
            );
            assert!(
                matches!(outcome, Err(DpopError::Invalid(ref why)) if ["iat is not a number", "the proof's iat is outside the accepted window"].contains(&&**why)),
                "iat = {value}"
            );
        }
    }
}
