//! OpenID Connect at a provider: its discovery document, its token response, and the checks on
//! the ID token it returns (OpenID Connect Core §3.1.3.7), with what real providers do beside
//! the specification:
//! - Google's ID tokens carry `iss` as `https://accounts.google.com` or `accounts.google.com`;
//! - Microsoft Entra's multi-tenant documents publish `iss` as a template with `{tenantid}`,
//!   which the token's own `tid` fills in;
//! - `email_verified` arrives as a boolean or the string `"true"` (Cognito, Apple, LinkedIn);
//!   Entra sends none, and its optional `xms_edov` claim says the email's domain is verified;
//! - a provider may leave email out of the ID token (scope claims only at userinfo, as
//!   `oidc-provider` does by default), so userinfo is asked when it did.
//!
//! Signature algorithms are the ones the provider lists and this gateway verifies (RS256, PS256,
//! ES256, ES384, EdDSA): never `none` or an HMAC. The key is picked by `kid` from the provider's
//! JWKS, and fits the algorithm by its type, never by the header alone.

use serde_json::Value;
use url::Url;

use super::{
    check_provider_url, UpstreamError, UpstreamIdentity, ID_TOKEN_LEEWAY_SECS,
    ID_TOKEN_MAX_AGE_SECS,
};
use crate::oauth::client_assertion::{
    audiences, int_claim, parse_compact_jws, CompactJws, JwsAlgorithm,
};

/// The largest ID token read.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// The well-known path of a provider's discovery document (OpenID Connect Discovery §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Google's ID tokens may name their issuer without the scheme.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// A provider's endpoints and abilities, from its discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Exactly the configured issuer (checked).
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<Url>,
    /// The ID-token algorithms it signs with that this gateway verifies.
    pub id_token_algs: Vec<JwsAlgorithm>,
    /// Whether it sends `iss` with the authorization response (RFC 9207), which then must match.
    pub iss_parameter_supported: bool,
}

/// The discovery document URL for an issuer (its path kept: Okta's and Entra's have one).
pub fn discovery_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'))
}

/// Reads a discovery document fetched for `issuer`.
pub fn parse_discovery(issuer: &str, body: &[u8]) -> Result<Discovery, String> {
    let doc = crate::primitives::json::parse_unique(body)
        .map_err(|_| "the discovery document is not JSON, or repeats a key")?;
    let text = |name: &str| doc.get(name).and_then(Value::as_str);
    // OpenID Connect Discovery §4.3: the issuer it names must be the one asked for, exactly.
    if text("issuer") != Some(issuer) {
        return Err(format!(
            "the discovery document's issuer is {:?}, not the configured {issuer:?}",
            text("issuer").unwrap_or("")
        ));
    }
    let endpoint = |name: &str| -> Result<Url, String> {
        let value = text(name).ok_or_else(|| format!("the discovery document has no {name}"))?;
        check_provider_url(value).map_err(|why| format!("{name}: {why}"))
    };
    let algs: Vec<JwsAlgorithm> = match doc.get("id_token_signing_alg_values_supported") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .filter_map(JwsAlgorithm::parse)
            .collect(),
        // Discovery §3 makes the list required and RS256 a member of it.
        _ => vec![JwsAlgorithm::Rs256],
    };
    if algs.is_empty() {
        return Err("the provider signs ID tokens with no algorithm this gateway verifies".into());
    }
    Ok(Discovery {
        issuer: issuer.to_string(),
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?.to_string(),
        userinfo_endpoint: match text("userinfo_endpoint") {
            Some(_) => Some(endpoint("userinfo_endpoint")?),
            None => None,
        },
        id_token_algs: algs,
        iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// What a token endpoint returned, on success.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("id_token", &self.id_token.as_ref().map(|_| ".."))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Reads a token endpoint's answer: JSON (or, as GitHub sends without `Accept`, a form), an
/// error in either shape (GitHub answers errors with 200 and an `error` field), or something else.
pub fn parse_token_response(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<TokenResponse, UpstreamError> {
    let fields = token_fields(content_type, body).ok_or_else(|| {
        UpstreamError::Unavailable(format!("the token endpoint answered {status}, not JSON"))
    })?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_string);
    if let Some(error) = text("error") {
        // An invalid code, a wrong secret, a redirect URI mismatch: not the user's doing, and
        // not worth a retry with the same code.
        return Err(UpstreamError::Invalid(format!(
            "the token endpoint refused the code: {error} {}",
            text("error_description").unwrap_or_default()
        )));
    }
    if status != 200 {
        return Err(UpstreamError::Unavailable(format!(
            "the token endpoint answered {status}"
        )));
    }
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| UpstreamError::Invalid("the token response has no access_token".into()))?;
    let token_type = text("token_type").unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(UpstreamError::Invalid(format!(
            "the token type is {token_type:?}, not Bearer"
        )));
    }
    Ok(TokenResponse {
        access_token,
        id_token: text("id_token"),
        refresh_token: text("refresh_token"),
        expires_in: fields.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        }),
        scope: text("scope"),
    })
}

/// A token endpoint's answer as fields: JSON, or a form (GitHub's default).
fn token_fields(content_type: &str, body: &[u8]) -> Option<Value> {
    if content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Some(Value::Object(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        ));
    }
    serde_json::from_slice(body).ok()
}

/// The `error` code of a token endpoint's answer, if it is an error.
pub fn token_error_code(content_type: &str, body: &[u8]) -> Option<String> {
    token_fields(content_type, body)?
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// What the ID token of one sign-in must say.
pub struct Expected<'a> {
    /// The configured issuer (which may hold Entra's `{tenantid}`).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The flow's nonce.
    pub nonce: &'a str,
    pub now: i64,
    /// For an Entra `{tenantid}` issuer: the tenants allowed (empty: any).
    pub allowed_tenants: &'a [String],
}

/// Splits the ID token and checks its algorithm is one the provider lists; the signature is
/// checked by the caller with the key [`crate::oauth::client_assertion::select_key`] picks.
pub fn parse_id_token(jwt: &str, allowed: &[JwsAlgorithm]) -> Result<CompactJws, UpstreamError> {
    let jws = parse_compact_jws(jwt, MAX_ID_TOKEN_BYTES)
        .map_err(|e| UpstreamError::Invalid(format!("ID token: {e:?}")))?;
    if !allowed.contains(&jws.alg) {
        return Err(UpstreamError::Invalid(format!(
            "the ID token is signed with {}, which the provider does not list",
            jws.alg.as_str()
        )));
    }
    Ok(jws)
}

fn invalid(why: &str) -> UpstreamError {
    UpstreamError::Invalid(format!("ID token: {why}"))
}

/// Checks an ID token's claims (its signature already verified) and reads the identity from it.
pub fn check_id_token(
    claims: &Value,
    expected: &Expected<'_>,
) -> Result<UpstreamIdentity, UpstreamError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let iss = text("iss").ok_or_else(|| invalid("no iss"))?;
    let issuer = match (expected.issuer.contains("{tenantid}"), text("tid")) {
        (true, Some(tid))
            if is_tenant_id(tid)
                && (expected.allowed_tenants.is_empty()
                    || expected
                        .allowed_tenants
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(tid))) =>
        {
            expected.issuer.replace("{tenantid}", tid)
        }
        (true, _) => {
            return Err(invalid(
                "no tenant id (tid) for the issuer's {tenantid}, or a tenant not allowed",
            ))
        }
        (false, _) => expected.issuer.to_string(),
    };
    let google_short = issuer == GOOGLE_ISSUER && iss == "accounts.google.com";
    if iss != issuer && !google_short {
        return Err(invalid(&format!("iss {iss:?} is not {issuer:?}")));
    }
    let aud = audiences(claims);
    if !aud.iter().any(|a| a == expected.client_id) {
        return Err(invalid("aud does not name this client"));
    }
    match text("azp") {
        Some(azp) if azp != expected.client_id => {
            return Err(invalid("azp is another client"));
        }
        None if aud.len() > 1 => return Err(invalid("several audiences and no azp")),
        _ => {}
    }
    let time =
        |name: &str| int_claim(claims, name).map_err(|_| invalid("a time claim is not a number"));
    let exp = time("exp")?.ok_or_else(|| invalid("no exp"))?;
    let iat = time("iat")?.ok_or_else(|| invalid("no iat"))?;
    let now = expected.now;
    if exp <= now - ID_TOKEN_LEEWAY_SECS {
        return Err(invalid("expired"));
    }
    if iat > now + ID_TOKEN_LEEWAY_SECS {
        return Err(invalid("issued in the future"));
    }
    if iat < now - ID_TOKEN_MAX_AGE_SECS - ID_TOKEN_LEEWAY_SECS {
        return Err(invalid("issued too long ago for this sign-in"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + ID_TOKEN_LEEWAY_SECS) {
        return Err(invalid("not valid yet (nbf)"));
    }
    if text("nonce") != Some(expected.nonce) {
        return Err(invalid("the nonce is not this sign-in's"));
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| invalid("no usable sub"))?;
    Ok(identity(subject, claims))
}

/// The identity's email and name from a claims object (the ID token's, or userinfo's).
fn identity(subject: &str, claims: &Value) -> UpstreamIdentity {
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| crate::primitives::syntax::looks_like_email(e) && e.len() <= 320)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let verified = match claims.get("email_verified") {
        Some(v) => truthy(v),
        // Entra sends no email_verified; `xms_edov` says the domain owner verified the email.
        None => claims.get("xms_edov").is_some_and(truthy),
    };
    UpstreamIdentity {
        subject: subject.to_string(),
        email_verified: verified && !email.is_empty(),
        email,
        name: claims
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
    }
}

/// `true`, `"true"`, `1` or `"1"`: the spellings providers use for a true claim.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true" || s == "1",
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn is_tenant_id(tid: &str) -> bool {
    tid.len() == 36
        && tid.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Fills in what the ID token left out (email, its verification, the name) from the userinfo
/// response, whose `sub` must be the ID token's (Core §5.3.2).
pub fn merge_userinfo(
    identity: UpstreamIdentity,
    body: &[u8],
) -> Result<UpstreamIdentity, UpstreamError> {
    let claims = crate::primitives::json::parse_unique(body)
        .map_err(|_| UpstreamError::Invalid("userinfo is not JSON, or repeats a key".into()))?;
    if claims.get("sub").and_then(Value::as_str) != Some(identity.subject.as_str()) {
        return Err(UpstreamError::Invalid(
            "userinfo is about another subject".into(),
        ));
    }
    let info = self::identity(&identity.subject, &claims);
    Ok(UpstreamIdentity {
        subject: identity.subject,
        email: if identity.email.is_empty() {
            info.email.clone()
        } else {
            identity.email.clone()
        },
        email_verified: if identity.email.is_empty() {
            info.email_verified
        } else {
            identity.email_verified || (info.email == identity.email && info.email_verified)
        },
        name: if identity.name.is_empty() {
            info.name
        } else {
            identity.name
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.com";
    const NOW: i64 = 1_790_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: "gateway",
            nonce: "n-1",
            now: NOW,
            allowed_tenants: &[],
        }
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "sub": "u-42", "aud": "gateway", "exp": NOW + 300, "iat": NOW - 5,
               "nonce": "n-1", "email": "Ada@Example.com", "email_verified": true, "name": "Ada"})
    }

    fn with(change: Value) -> Value {
        let mut c = claims();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn a_good_id_token_gives_its_subject_and_verified_email() {
        let id = check_id_token(&claims(), &expected()).unwrap();
        assert_eq!(id.subject, "u-42");
        assert_eq!(id.email, "ada@example.com");
        assert!(id.email_verified);
        assert_eq!(id.name, "Ada");
    }

    #[test]
    fn each_claim_rule_refuses_on_its_own() {
        let cases = [
            ("another issuer", json!({"iss": "https://evil.example.com"})),
            ("no iss", json!({"iss": null})),
            ("another audience", json!({"aud": "someone-else"})),
            (
                "several audiences, no azp",
                json!({"aud": ["gateway", "other"]}),
            ),
            ("azp another client", json!({"azp": "other"})),
            ("expired", json!({"exp": NOW - 61})),
            ("no exp", json!({"exp": null})),
            ("no iat", json!({"iat": null})),
            ("iat in the future", json!({"iat": NOW + 120})),
            ("iat too old", json!({"iat": NOW - 3600, "exp": NOW + 60})),
            ("nbf in the future", json!({"nbf": NOW + 120})),
            ("wrong nonce", json!({"nonce": "n-2"})),
            ("no nonce", json!({"nonce": null})),
            ("empty nonce (Slack sends one)", json!({"nonce": ""})),
            ("no sub", json!({"sub": null})),
            ("empty sub", json!({"sub": ""})),
            ("exp a string", json!({"exp": "tomorrow"})),
        ];
        for (why, change) in cases {
            assert!(
                matches!(check_id_token(&with(change), &expected()), Err(crate::federation::UpstreamError::Invalid(ref why)) if ["ID token: a time claim is not a number", "ID token: aud does not name this client", "ID token: azp is another client", "ID token: expired", "ID token: iss \"https://evil.example.com\" is not \"https://idp.example.com\"", "ID token: issued in the future", "ID token: issued too long ago for this sign-in", "ID token: no exp", "ID token: no iat", "ID token: no iss", "ID token: no usable sub", "ID token: not valid yet (nbf)", "ID token: several audiences and no azp", "ID token: the nonce is not this sign-in's"].contains(&&**why)),
                "{why}"
            );
        }
        // Skew within the leeway passes; several audiences with our azp pass.
        assert!(check_id_token(
            &with(json!({"iat": NOW + 30, "exp": NOW - 30})),
            &expected()
        )
        .is_ok());
        assert!(check_id_token(
            &with(json!({"aud": ["other", "gateway"], "azp": "gateway"})),
            &expected()
        )
        .is_ok());
    }

    #[test]
    fn email_verification_is_read_the_ways_providers_write_it() {
        let verified = |change: Value| {
            check_id_token(&with(change), &expected())
                .unwrap()
                .email_verified
        };
        assert!(verified(json!({"email_verified": "true"})));
        assert!(!verified(json!({"email_verified": "false"})));
        assert!(!verified(json!({"email_verified": false})));
        assert!(
            !verified(json!({"email_verified": null})),
            "absent is unverified"
        );
        assert!(
            verified(json!({"email_verified": null, "xms_edov": "1"})),
            "Entra"
        );
        assert!(verified(json!({"email_verified": null, "xms_edov": true})));
        assert!(!verified(json!({"email_verified": "yes"})));
        assert!(
            !verified(json!({"email": "not-an-email"})),
            "no email, nothing verified"
        );
    }

    #[test]
    fn googles_short_issuer_and_entras_template_are_understood() {
        let google = Expected {
            issuer: GOOGLE_ISSUER,
            ..expected()
        };
        assert!(check_id_token(&with(json!({"iss": "accounts.google.com"})), &google).is_ok());
        assert!(check_id_token(&with(json!({"iss": GOOGLE_ISSUER})), &google).is_ok());
        assert!(
            matches!(check_id_token(&with(json!({"iss": "accounts.google.com"})), &expected()), Err(crate::federation::UpstreamError::Invalid(ref why)) if *why == "ID token: iss \"accounts.google.com\" is not \"https://idp.example.com\"")
        );

        let entra = Expected {
            issuer: "https://login.microsoftonline.com/{tenantid}/v2.0",
            ..expected()
        };
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let iss = format!("https://login.microsoftonline.com/{tid}/v2.0");
        assert!(check_id_token(&with(json!({"iss": iss, "tid": tid})), &entra).is_ok());
        let other = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert!(
            matches!(check_id_token(&with(json!({"iss": iss, "tid": other})), &entra), Err(crate::federation::UpstreamError::Invalid(ref why)) if *why == "ID token: iss \"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0\" is not \"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0\"")
        );
        assert!(
            matches!(check_id_token(&with(json!({"iss": iss})), &entra), Err(crate::federation::UpstreamError::Invalid(ref why)) if *why == "ID token: no tenant id (tid) for the issuer's {tenantid}, or a tenant not allowed")
        );
        let only = [other.to_string()];
        let pinned = Expected {
            allowed_tenants: &only,
            ..entra
        };
        assert!(
            check_id_token(&with(json!({"iss": iss, "tid": tid})), &pinned).is_err(),
            "a tenant not allowed"
        );
        assert!(check_id_token(
            &with(json!({"iss": "https://login.microsoftonline.com/x/v2.0", "tid": "x"})),
            &entra
        )
        .is_err());
    }

    #[test]
    fn discovery_must_name_the_configured_issuer_and_usable_endpoints() {
        let doc = json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://idp.example.com/auth",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "userinfo_endpoint": "https://idp.example.com/me",
            "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256", "none"],
            "authorization_response_iss_parameter_supported": true
        });
        let d = parse_discovery(ISSUER, doc.to_string().as_bytes()).unwrap();
        assert_eq!(d.id_token_algs, [JwsAlgorithm::Es256, JwsAlgorithm::Rs256]);
        assert!(d.iss_parameter_supported);
        assert_eq!(
            d.userinfo_endpoint.unwrap().as_str(),
            "https://idp.example.com/me"
        );

        let mut other = doc.clone();
        other["issuer"] = json!("https://idp.example.com/");
        assert!(
            parse_discovery(ISSUER, other.to_string().as_bytes()).is_err(),
            "trailing slash"
        );
        let mut private = doc.clone();
        private["token_endpoint"] = json!("https://169.254.169.254/token");
        assert_eq!(
            parse_discovery(ISSUER, private.to_string().as_bytes())
                .err()
                .as_deref(),
            Some("token_endpoint: \"https://169.254.169.254/token\" is not on a public host")
        );
        let mut only_hmac = doc.clone();
        only_hmac["id_token_signing_alg_values_supported"] = json!(["HS256"]);
        assert_eq!(
            parse_discovery(ISSUER, only_hmac.to_string().as_bytes())
                .err()
                .as_deref(),
            Some("the provider signs ID tokens with no algorithm this gateway verifies")
        );
        let mut unlisted = doc;
        unlisted
            .as_object_mut()
            .unwrap()
            .remove("id_token_signing_alg_values_supported");
        let d = parse_discovery(ISSUER, unlisted.to_string().as_bytes()).unwrap();
        assert_eq!(d.id_token_algs, [JwsAlgorithm::Rs256]);
        assert_eq!(
            parse_discovery(ISSUER, b"<html>").err().as_deref(),
            Some("the discovery document is not JSON, or repeats a key")
        );
        assert_eq!(
            discovery_url("https://x.okta.com/oauth2/default/"),
            "https://x.okta.com/oauth2/default/.well-known/openid-configuration"
        );
    }

    #[test]
    fn token_responses_in_every_shape_providers_send() {
        let ok =
            br#"{"access_token":"at","token_type":"Bearer","id_token":"a.b.c","expires_in":3599}"#;
        let t = parse_token_response(200, "application/json; charset=utf-8", ok).unwrap();
        assert_eq!(
            (t.access_token.as_str(), t.id_token.as_deref(), t.expires_in),
            ("at", Some("a.b.c"), Some(3599))
        );
        let form = b"access_token=gho_x&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer";
        let t = parse_token_response(200, "application/x-www-form-urlencoded", form).unwrap();
        assert_eq!(t.scope.as_deref(), Some("read:user,user:email"));
        // GitHub: an error with status 200.
        let e = parse_token_response(200, "application/json", br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#);
        assert!(matches!(e, Err(UpstreamError::Invalid(_))));
        assert!(matches!(
            parse_token_response(400, "application/json", br#"{"error":"invalid_grant"}"#),
            Err(UpstreamError::Invalid(_))
        ));
        assert!(matches!(
            parse_token_response(502, "text/html", b"<html>"),
            Err(UpstreamError::Unavailable(_))
        ));
        assert!(parse_token_response(
            200,
            "application/json",
            br#"{"access_token":"at","token_type":"mac"}"#
        )
        .is_err());
        assert!(
            parse_token_response(200, "application/json", br#"{"token_type":"Bearer"}"#).is_err()
        );
    }

    #[test]
    fn userinfo_fills_what_the_id_token_left_out_for_the_same_subject_only() {
        let bare = check_id_token(
            &with(json!({"email": null, "email_verified": null, "name": null})),
            &expected(),
        )
        .unwrap();
        assert_eq!(bare.email, "");
        let merged = merge_userinfo(
            bare.clone(),
            br#"{"sub":"u-42","email":"a@b.example","email_verified":true,"name":"A"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                merged.email.as_str(),
                merged.email_verified,
                merged.name.as_str()
            ),
            ("a@b.example", true, "A")
        );
        assert!(
            matches!(merge_userinfo(bare.clone(), br#"{"sub":"u-43","email":"a@b.example"}"#), Err(crate::federation::UpstreamError::Invalid(ref why)) if *why == "userinfo is about another subject")
        );
        assert!(
            matches!(merge_userinfo(bare, b"nope"), Err(crate::federation::UpstreamError::Invalid(ref why)) if *why == "userinfo is not JSON, or repeats a key")
        );
    }

    /// Issue 29, finding 8: every extreme value of each time claim is refused or read as an instant
    /// in 1970 ..= 9999, and none overflows (tests run with overflow checks).
    #[test]
    fn no_time_claim_overflows_or_is_read_outside_1970_to_9999() {
        use crate::primitives::time::{epoch_secs_json, extremes};
        for claim in ["exp", "iat", "nbf"] {
            for value in extremes() {
                let outcome = check_id_token(&with(json!({ claim: value.clone() })), &expected());
                assert!(
                    outcome.is_err() || epoch_secs_json(&value).is_some(),
                    "{claim} = {value}"
                );
            }
        }
    }
}
