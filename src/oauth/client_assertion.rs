//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): a
//! client proves itself at the token, revocation and introspection endpoints with a JWT it signed
//! with a key from its own JWKS, sent as `client_assertion` with `client_assertion_type` set to
//! [`CLIENT_ASSERTION_TYPE`]. ChatGPT authenticates this way (its client ID metadata document
//! names `private_key_jwt`, RS256 and a `jwks_uri`).
//!
//! This module is pure: it parses the assertion, checks its claims, picks the key and says what
//! must be verified. The signature itself is checked by a [`crate::ports::JwsVerifier`] (WebCrypto
//! at the edge), and the `jti` is remembered for the assertion's lifetime by the caller.
//!
//! Rules, in the order they are applied:
//! - the header's `alg` must be one of RS256, PS256, ES256, ES384 and EdDSA (RFC 8725 §3.1: never `none`,
//!   never an HMAC, which a client's public key would key); `crit` is refused;
//! - the key is chosen by `kid` when there is one, else it must be the only key usable with the
//!   algorithm; its type must match the algorithm (the algorithm never comes from the header
//!   alone), its own `alg`, `use` and `key_ops`, when present, must allow it, and an RSA modulus
//!   must be at least 2048 bits;
//! - `iss` and `sub` are the client id (RFC 7523 §3 items 1 and 2);
//! - `aud` holds the token endpoint's URL or the issuer (item 3);
//! - `exp` is required and in the future (item 4), at most [`MAX_ASSERTION_LIFETIME_SECS`] after
//!   `iat` (or after now, without `iat`); `iat` and `nbf` not in the future, each within
//!   [`ASSERTION_LEEWAY_SECS`];
//! - `jti` is required, so the caller can refuse a replay (item 7).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::error::oauth::OAuthError;
pub use crate::jose::jwk::{
    jwks_json, parse_jwks, JwsAlgorithm, KeyMaterial, PublicJwk, MIN_RSA_MODULUS_BITS,
};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest assertion lifetime accepted: clients mint one per request, so minutes suffice,
/// and the replay cache only has to remember a `jti` this long.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, `iat` and `nbf` between the client and the gateway.
pub const ASSERTION_LEEWAY_SECS: i64 = 60;
/// The largest assertion read: an RS256 JWT with a 4096-bit key is well under 2 KiB.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// The longest `jti` remembered.
pub const MAX_JTI_CHARS: usize = 256;
/// Why an assertion was refused. Every one is `invalid_client` on the wire (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    Malformed(&'static str),
    Algorithm(String),
    /// No key of the client's can verify it; `kid` is what the assertion named, so the caller can
    /// refetch the JWKS once when it names a key not seen before (key rotation).
    NoKey {
        kid: Option<String>,
    },
    Claim(&'static str),
    Signature,
    Replayed,
}

impl AssertionError {
    pub fn to_oauth(&self) -> OAuthError {
        let why = match self {
            AssertionError::Malformed(why) | AssertionError::Claim(why) => (*why).to_string(),
            AssertionError::Algorithm(alg) => format!(
                "client_assertion alg {alg:?} is not accepted: use RS256, PS256, ES256, ES384 or EdDSA"
            ),
            AssertionError::NoKey { kid: Some(kid) } => {
                format!("no key of the client's JWKS has kid {kid:?} and fits the assertion")
            }
            AssertionError::NoKey { kid: None } => {
                "the assertion names no kid and the client's JWKS has no single key that fits it"
                    .into()
            }
            AssertionError::Signature => "the client_assertion signature is invalid".into(),
            AssertionError::Replayed => "the client_assertion was already used (jti)".into(),
        };
        OAuthError::invalid_client(why)
    }
}

/// The claims RFC 7523 §3 puts on an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: String,
}

/// A client assertion, parsed but not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAssertion {
    pub alg: JwsAlgorithm,
    pub kid: Option<String>,
    pub claims: AssertionClaims,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
}

fn decode_json(part: &str, what: &'static str) -> Result<Value, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AssertionError::Malformed(what))?;
    // A repeated header parameter or claim (two `alg`s, two `exp`s) is refused: RFC 7515 §5.2
    // and RFC 7519 §7.2 allow a parser to keep either copy, so another reader may see the other.
    crate::primitives::json::parse_unique(&bytes).map_err(|_| AssertionError::Malformed(what))
}

pub(crate) fn int_claim(claims: &Value, name: &str) -> Result<Option<i64>, AssertionError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            crate::primitives::time::epoch_secs_json(v)
                .map(Some)
                .ok_or(AssertionError::Claim(
                    "a time claim of the JWT is not a number of seconds from 1970 to 9999",
                ))
        }
    }
}

fn string_claim(
    claims: &Value,
    name: &str,
    missing: &'static str,
) -> Result<String, AssertionError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(AssertionError::Claim(missing))
}

/// A signed JWT in compact form, split and decoded but not yet trusted: the algorithm and key id
/// of its header, its claims, and what its signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactJws {
    pub alg: JwsAlgorithm,
    pub kid: Option<String>,
    /// The protected header, a JSON object (`typ`, `jwk`, … for whoever needs more than `alg`).
    pub header: Value,
    /// A JSON object.
    pub claims: Value,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Splits a compact JWS of at most `max_bytes`: the header's `alg` must be one of
/// [`JwsAlgorithm::ALL`] (never `none`, never an HMAC), `crit` is refused, and the claims must be
/// a JSON object.
pub fn parse_compact_jws(jwt: &str, max_bytes: usize) -> Result<CompactJws, AssertionError> {
    if jwt.len() > max_bytes {
        return Err(AssertionError::Malformed("the JWT is too long"));
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed(
            "the JWT must be signed and in compact form",
        ));
    };
    let header_json = decode_json(header, "the JWT header is not base64url JSON")?;
    let alg_name = header_json
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AssertionError::Malformed("the JWT header has no alg"))?;
    let alg = JwsAlgorithm::parse(alg_name)
        .ok_or_else(|| AssertionError::Algorithm(alg_name.chars().take(20).collect()))?;
    if header_json.get("crit").is_some() {
        return Err(AssertionError::Malformed(
            "the JWT header has crit extensions, which are not understood",
        ));
    }
    let kid = match header_json.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
        Some(_) => return Err(AssertionError::Malformed("the JWT kid is invalid")),
    };
    let claims = decode_json(payload, "the JWT claims are not base64url JSON")?;
    if !claims.is_object() {
        return Err(AssertionError::Malformed(
            "the JWT claims are not a JSON object",
        ));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AssertionError::Malformed("the JWT signature is not base64url"))?;
    Ok(CompactJws {
        alg,
        kid,
        header: header_json,
        claims,
        signing_input: format!("{header}.{payload}").into_bytes(),
        signature,
    })
}

/// The `aud` claim as a list (RFC 7519 §4.1.3: one string or an array of them).
pub fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses a compact JWS client assertion: its header (algorithm and key id) and claims.
pub fn parse_client_assertion(jwt: &str) -> Result<ClientAssertion, AssertionError> {
    let CompactJws {
        alg,
        kid,
        claims,
        signing_input,
        signature,
        ..
    } = parse_compact_jws(jwt, MAX_ASSERTION_BYTES)?;
    let jti = string_claim(&claims, "jti", "the client_assertion has no jti")?;
    if jti.chars().count() > MAX_JTI_CHARS {
        return Err(AssertionError::Claim(
            "the client_assertion jti is too long",
        ));
    }
    let parsed = AssertionClaims {
        iss: string_claim(&claims, "iss", "the client_assertion has no iss")?,
        sub: string_claim(&claims, "sub", "the client_assertion has no sub")?,
        aud: audiences(&claims),
        exp: int_claim(&claims, "exp")?
            .ok_or(AssertionError::Claim("the client_assertion has no exp"))?,
        iat: int_claim(&claims, "iat")?,
        nbf: int_claim(&claims, "nbf")?,
        jti,
    };
    Ok(ClientAssertion {
        alg,
        kid,
        claims: parsed,
        signing_input,
        signature,
    })
}

/// Checks the claims of a parsed assertion for `client_id` at `now`; `audiences` are the values
/// `aud` may hold (the token endpoint's URL, the issuer).
pub fn check_assertion_claims(
    claims: &AssertionClaims,
    client_id: &str,
    audiences: &[&str],
    now: i64,
) -> Result<(), AssertionError> {
    if claims.iss != client_id {
        return Err(AssertionError::Claim(
            "the client_assertion iss is not the client_id",
        ));
    }
    if claims.sub != client_id {
        return Err(AssertionError::Claim(
            "the client_assertion sub is not the client_id",
        ));
    }
    if !claims.aud.iter().any(|a| audiences.contains(&a.as_str())) {
        return Err(AssertionError::Claim(
            "the client_assertion aud must be the token endpoint URL or the issuer",
        ));
    }
    if claims.exp <= now - ASSERTION_LEEWAY_SECS {
        return Err(AssertionError::Claim("the client_assertion expired"));
    }
    let from = claims.iat.unwrap_or(now);
    // Checked, whatever the claims hold: a lifetime that cannot be computed is too long.
    if claims
        .exp
        .checked_sub(from)
        .is_none_or(|life| life > MAX_ASSERTION_LIFETIME_SECS + ASSERTION_LEEWAY_SECS)
    {
        return Err(AssertionError::Claim(
            "the client_assertion lives too long: at most 5 minutes from iat to exp",
        ));
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now + ASSERTION_LEEWAY_SECS)
    {
        return Err(AssertionError::Claim(
            "the client_assertion iat is in the future",
        ));
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY_SECS)
    {
        return Err(AssertionError::Claim(
            "the client_assertion is not valid yet (nbf)",
        ));
    }
    Ok(())
}

/// The key that must verify the assertion: by `kid` when it names one, else the only key that
/// fits the algorithm. The key's type decides what it can verify, never the header alone.
pub fn select_key<'k>(
    keys: &'k [PublicJwk],
    alg: JwsAlgorithm,
    kid: Option<&str>,
) -> Result<&'k PublicJwk, AssertionError> {
    let usable =
        |k: &&PublicJwk| alg.fits(k) && k.alg.as_deref().is_none_or(|own| own == alg.as_str());
    let no_key = || AssertionError::NoKey {
        kid: kid.map(str::to_string),
    };
    match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .find(usable)
            .ok_or_else(no_key),
        None => {
            let mut fitting = keys.iter().filter(usable);
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => Ok(only),
                _ => Err(no_key()),
            }
        }
    }
}

/// When a remembered `jti` may be forgotten: after the assertion can no longer be accepted.
pub fn jti_expires_at(claims: &AssertionClaims) -> i64 {
    claims.exp + ASSERTION_LEEWAY_SECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CLIENT: &str = "https://chatgpt.com/oauth/abc/client.json";
    const TOKEN_URL: &str = "https://todo.example.com/token";
    const ISSUER: &str = "https://todo.example.com";
    const NOW: i64 = 1_790_000_000;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jwt(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([1u8; 64])
        )
    }

    fn claims() -> Value {
        json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": NOW + 120, "iat": NOW, "jti": "j-1"})
    }

    fn rsa_key(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
               "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"})
    }

    fn check(c: Value) -> Result<(), AssertionError> {
        let parsed = parse_client_assertion(&jwt(json!({"alg": "RS256", "kid": "k1"}), c))?;
        check_assertion_claims(&parsed.claims, CLIENT, &[TOKEN_URL, ISSUER], NOW)
    }

    #[test]
    fn a_chatgpt_shaped_assertion_parses_and_its_claims_hold() {
        let a = parse_client_assertion(&jwt(
            json!({"alg": "RS256", "kid": "cimd-1", "typ": "JWT"}),
            claims(),
        ))
        .unwrap();
        assert_eq!(a.alg, JwsAlgorithm::Rs256);
        assert_eq!(a.kid.as_deref(), Some("cimd-1"));
        assert_eq!(a.signature.len(), 64);
        assert!(check_assertion_claims(&a.claims, CLIENT, &[TOKEN_URL, ISSUER], NOW).is_ok());
        let mut issuer_aud = claims();
        issuer_aud["aud"] = json!([ISSUER, "https://other.example"]);
        assert!(check(issuer_aud).is_ok());
    }

    #[test]
    fn none_hmac_and_unknown_algorithms_are_refused_before_any_key() {
        for alg in [
            "none", "HS256", "HS512", "RS512", "ES512", "ES256K", "", "rs256",
        ] {
            let e = parse_client_assertion(&jwt(json!({"alg": alg}), claims())).unwrap_err();
            assert!(matches!(e, AssertionError::Algorithm(_)), "{alg}: {e:?}");
            assert_eq!(e.to_oauth().code.as_str(), "invalid_client");
        }
        let no_alg = parse_client_assertion(&jwt(json!({"kid": "k"}), claims())).unwrap_err();
        assert!(matches!(no_alg, AssertionError::Malformed(_)));
        let crit = parse_client_assertion(&jwt(json!({"alg": "RS256", "crit": ["b64"]}), claims()));
        assert!(
            matches!(crit, Err(AssertionError::Malformed(why)) if why == "the JWT header has crit extensions, which are not understood")
        );
    }

    #[test]
    fn a_repeated_header_parameter_or_claim_is_refused() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let part = |text: &str| URL_SAFE_NO_PAD.encode(text);
        let payload = part(&claims().to_string());
        for header in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"alg":"RS256","\u0061lg":"HS256"}"#,
        ] {
            let token = format!("{}.{payload}.c2ln", part(header));
            let e = parse_client_assertion(&token).unwrap_err();
            assert!(matches!(e, AssertionError::Malformed(_)), "{header}: {e:?}");
        }
        let body = claims().to_string();
        let twice = format!("{},\"exp\":99999999999}}", &body[..body.len() - 1]);
        let token = format!("{}.{}.c2ln", part(r#"{"alg":"RS256"}"#), part(&twice));
        assert!(matches!(
            parse_client_assertion(&token),
            Err(AssertionError::Malformed(_))
        ));
    }

    #[test]
    fn one_refusal_per_claim() {
        let cases: Vec<(&str, Value)> = vec![
            ("iss", json!({"iss": "someone-else"})),
            ("sub", json!({"sub": "someone-else"})),
            ("aud", json!({"aud": "https://evil.example/token"})),
            ("aud missing", json!({"aud": null})),
            ("expired", json!({"exp": NOW - 61, "iat": NOW - 120})),
            ("too long", json!({"exp": NOW + 3600})),
            (
                "too long without iat",
                json!({"exp": NOW + 1000, "iat": null}),
            ),
            (
                "iat in the future",
                json!({"iat": NOW + 300, "exp": NOW + 400}),
            ),
            ("nbf in the future", json!({"nbf": NOW + 300})),
            ("exp not a number", json!({"exp": "soon"})),
        ];
        for (why, change) in cases {
            let mut c = claims();
            for (k, v) in change.as_object().unwrap() {
                c[k] = v.clone();
            }
            assert!(
                matches!(check(c), Err(AssertionError::Claim(why)) if ["a time claim of the JWT is not a number of seconds from 1970 to 9999", "the client_assertion aud must be the token endpoint URL or the issuer", "the client_assertion expired", "the client_assertion iat is in the future", "the client_assertion is not valid yet (nbf)", "the client_assertion iss is not the client_id", "the client_assertion lives too long: at most 5 minutes from iat to exp", "the client_assertion sub is not the client_id"].contains(&why)),
                "{why}"
            );
        }
        for missing in ["exp", "jti", "iss", "sub"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(missing);
            assert!(
                matches!(check(c), Err(AssertionError::Claim(why)) if ["the client_assertion has no exp", "the client_assertion has no iss", "the client_assertion has no jti", "the client_assertion has no sub"].contains(&why)),
                "no {missing}"
            );
        }
        // Within the leeway, skewed clocks still work.
        let mut skewed = claims();
        skewed["iat"] = json!(NOW + 30);
        skewed["exp"] = json!(NOW + 200);
        assert!(check(skewed).is_ok());
    }

    #[test]
    fn malformed_assertions_are_refused() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.sig",
            &format!("{}.!!.c", b64(&json!({"alg":"RS256"}))),
        ] {
            assert!(
                matches!(parse_client_assertion(bad), Err(AssertionError::Malformed(why)) if ["the JWT claims are not base64url JSON", "the JWT header is not base64url JSON", "the JWT must be signed and in compact form"].contains(&why)),
                "{bad}"
            );
        }
        let long = "a".repeat(MAX_ASSERTION_BYTES + 1);
        assert!(
            matches!(parse_client_assertion(&long), Err(AssertionError::Malformed(why)) if why == "the JWT is too long")
        );
        let array_claims = jwt(json!({"alg": "RS256"}), json!([1, 2]));
        assert!(
            matches!(parse_client_assertion(&array_claims), Err(AssertionError::Malformed(why)) if why == "the JWT claims are not a JSON object")
        );
    }

    #[test]
    fn jwks_keep_public_signature_keys_of_supported_types_only() {
        let doc = json!({"keys": [
            rsa_key("rsa-ok"),
            {"kty": "RSA", "kid": "rsa-small", "n": URL_SAFE_NO_PAD.encode([1u8; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": URL_SAFE_NO_PAD.encode([1u8; 256]), "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": URL_SAFE_NO_PAD.encode([2u8; 32]), "y": URL_SAFE_NO_PAD.encode([3u8; 32])},
            {"kty": "EC", "crv": "P-384", "kid": "ec384-short", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-384", "kid": "ec384", "x": URL_SAFE_NO_PAD.encode([5u8; 48]), "y": URL_SAFE_NO_PAD.encode([6u8; 48])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": URL_SAFE_NO_PAD.encode([4u8; 32])},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            "not an object"
        ]});
        let keys = parse_jwks(&doc).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["rsa-ok", "ec", "ec384", "ed"]);
        let private = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([4u8; 32]), "d": "x"}]});
        assert_eq!(
            parse_jwks(&private).err().as_deref(),
            Some("the JWKS holds a private key")
        );
        assert_eq!(
            parse_jwks(&json!({"no": "keys"})).err().as_deref(),
            Some("a JWKS must be an object with a \"keys\" array")
        );
    }

    #[test]
    fn the_key_is_chosen_by_kid_and_must_fit_the_algorithm() {
        let keys = parse_jwks(&json!({"keys": [
            rsa_key("r1"), rsa_key("r2"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": URL_SAFE_NO_PAD.encode([4u8; 32])}
        ]}))
        .unwrap();
        assert_eq!(
            select_key(&keys, JwsAlgorithm::Rs256, Some("r2"))
                .unwrap()
                .kid
                .as_deref(),
            Some("r2")
        );
        // The RSA key says RS256: PS256 with it is refused, as is EdDSA named with an RSA kid.
        assert!(
            matches!(select_key(&keys, JwsAlgorithm::Ps256, Some("r1")), Err(AssertionError::NoKey { kid: Some(ref kid) }) if kid == "r1")
        );
        assert!(
            matches!(select_key(&keys, JwsAlgorithm::EdDsa, Some("r1")), Err(AssertionError::NoKey { kid: Some(ref kid) }) if kid == "r1")
        );
        assert_eq!(
            select_key(&keys, JwsAlgorithm::Rs256, Some("unknown")),
            Err(AssertionError::NoKey {
                kid: Some("unknown".into())
            })
        );
        // Without kid: only when exactly one key fits.
        assert!(matches!(
            select_key(&keys, JwsAlgorithm::Rs256, None),
            Err(AssertionError::NoKey { kid: None })
        ));
        assert_eq!(
            select_key(&keys, JwsAlgorithm::EdDsa, None)
                .unwrap()
                .kid
                .as_deref(),
            Some("ed")
        );
        assert!(matches!(
            select_key(&keys, JwsAlgorithm::Es256, None),
            Err(AssertionError::NoKey { kid: None })
        ));
    }

    /// Issue 29, finding 8: every extreme value of each time claim is refused or read as an instant
    /// in 1970 ..= 9999, and none overflows (tests run with overflow checks).
    #[test]
    fn no_time_claim_overflows_or_is_read_outside_1970_to_9999() {
        use crate::primitives::time::{epoch_secs_json, extremes};
        for claim in ["exp", "iat", "nbf"] {
            for value in extremes() {
                let mut c = claims();
                c[claim] = value.clone();
                let outcome = check(c);
                assert!(
                    outcome.is_err() || epoch_secs_json(&value).is_some(),
                    "{claim} = {value}"
                );
            }
        }
        // As reported: signed for ten years from iat = i64::MIN, and exp = i64::MAX.
        let mut ten_years = claims();
        ten_years["iat"] = json!(i64::MIN);
        ten_years["exp"] = json!(NOW + 10 * 365 * 86_400);
        assert!(
            matches!(check(ten_years), Err(AssertionError::Claim(why)) if why == "a time claim of the JWT is not a number of seconds from 1970 to 9999")
        );
        let mut forever = claims();
        forever["exp"] = json!(i64::MAX);
        assert!(
            matches!(check(forever), Err(AssertionError::Claim(why)) if why == "a time claim of the JWT is not a number of seconds from 1970 to 9999")
        );
    }
}
