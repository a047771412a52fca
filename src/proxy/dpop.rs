//! DPoP at the proxy (RFC 9449 §7): whether the access token a call presents is bound, whether
//! it came with the scheme and proof its binding needs, and the `DPoP` challenge. The proof's own
//! claim checks, nonces and `accept` are `oauth::dpop`'s.

use crate::config::Config;
use crate::error::{ApiError, Challenge};
use crate::http::RequestHead;
use crate::oauth::dpop::{self, DpopError, Proof};

/// RFC 9449 §7: a token sent as `DPoP` must be bound and proved by the key it is bound to; a
/// bound token sent as `Bearer` is refused, as is any bearer token where the plugin, or the
/// route (`route_dpop`), requires DPoP. `Ok(Some)`: the proof's claims hold, its signature and
/// `jti` are to be checked.
pub(crate) fn dpop_binding(
    config: &Config,
    head: &RequestHead,
    (scheme, token): (&str, &str),
    verified: &crate::oauth::access_token::VerifiedAccessToken,
    route_dpop: bool,
    proved: Option<&Result<String, DpopError>>,
    now: i64,
) -> Result<Option<Box<Proof>>, ApiError> {
    let policy = config.dpop();
    let refuse = |error: &'static str, why: String| dpop_challenge(config, error, why, now);
    let Some(jkt) = &verified.jkt else {
        if scheme == "DPoP" {
            return Err(refuse(
                "invalid_token",
                "the access token is not DPoP-bound: send it as Bearer".into(),
            ));
        }
        if policy.required || route_dpop {
            return Err(refuse(
                "invalid_token",
                if policy.required {
                    "this API takes DPoP-bound access tokens only"
                } else {
                    "this route takes DPoP-bound access tokens only"
                }
                .into(),
            ));
        }
        return Ok(None);
    };
    if scheme != "DPoP" {
        return Err(refuse(
            "invalid_token",
            "the access token is DPoP-bound: send it with the DPoP scheme and a proof".into(),
        ));
    }
    match proved {
        Some(Ok(proved)) if proved == jkt => Ok(None),
        Some(Ok(_)) => Err(refuse(
            "invalid_dpop_proof",
            "the proof's key is not the one the access token is bound to".into(),
        )),
        Some(Err(refusal)) => Err(refuse(refusal.code(), refusal.description())),
        None => {
            let url = config.request_url(head);
            let header = dpop::proof_header(head)
                .map_err(|e| refuse(e.code(), e.description()))?
                .ok_or_else(|| {
                    refuse(
                        "invalid_dpop_proof",
                        "a DPoP-bound token needs a DPoP proof header".into(),
                    )
                })?;
            let expected = dpop::Expected {
                method: head.method.as_ref().map(|m| m.as_str()).unwrap_or(""),
                url: &url,
                access_token: Some(token),
                nonce: config
                    .dpop_nonce_key()
                    .filter(|_| policy.nonce)
                    .map(dpop::Nonce::Current),
                now,
            };
            let proof = dpop::check_proof(header, &expected)
                .map_err(|e| refuse(e.code(), e.description()))?;
            // Another key's proof is refused before its signature costs anything.
            if proof.jkt != *jkt {
                return Err(refuse(
                    "invalid_dpop_proof",
                    "the proof's key is not the one the access token is bound to".into(),
                ));
            }
            Ok(Some(Box::new(proof)))
        }
    }
}

/// A `DPoP` challenge (RFC 9449 §7.1): the error, the proof algorithms accepted, and a fresh
/// nonce when the plugin uses them.
pub fn dpop_challenge(config: &Config, error: &'static str, why: String, now: i64) -> ApiError {
    let algs = dpop::SIGNING_ALGS.join(" ");
    ApiError::Unauthorized(Box::new(Challenge {
        scheme: "DPoP",
        realm: config.plugin.name_for_model.clone(),
        resource_metadata: Some(config.resource_metadata_url()),
        error: Some(error),
        error_description: Some(why),
        scope: None,
        algs: Some(algs),
        dpop_nonce: config
            .dpop_nonce_key()
            .filter(|_| config.dpop().nonce)
            .and_then(|key| dpop::server_nonce(key, now)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::raw;
    use crate::config::AuthConfig;
    use crate::http::Method;
    use crate::oauth::access_token::{mint_access_token, AccessClaims};
    use crate::proxy::credential::tests::*;
    use crate::proxy::credential::{authorize, decide, Decision, Facts};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    const JKT_KEY: &str = "an EC key's thumbprint";

    fn ec_jwk() -> serde_json::Value {
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])})
    }

    /// The thumbprint of [`ec_jwk`], as the proofs below carry it.
    fn jkt() -> String {
        crate::oauth::client_assertion::parse_jwks(&json!({"keys": [ec_jwk()]})).unwrap()[0]
            .thumbprint()
    }

    fn bound(c: &Config) -> String {
        let claims = AccessClaims {
            cnf: Some(crate::oauth::access_token::Confirmation { jkt: jkt() }),
            ..claims(c, "todos:read", &c.plugin.resource)
        };
        mint_access_token(&c.keys, claims, NOW, 3600).unwrap()
    }

    /// A proof whose claims hold for `GET /todos` with `token` (its signature is the edge's
    /// to check, not this decision's).
    fn proof(token: &str, extra: serde_json::Value) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk()});
        let mut claims = json!({"jti": "p-1", "htm": "GET", "htu": "https://todo.example.com/todos", "iat": NOW, "ath": dpop::ath(token)});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    fn call(scheme: &str, token: &str, proof: Option<&str>) -> RequestHead {
        let h =
            head(Method::Get, "/todos").with_header("authorization", &format!("{scheme} {token}"));
        match proof {
            Some(p) => h.with_header("dpop", p),
            None => h,
        }
    }

    fn challenge(e: ApiError) -> (u16, String, Option<String>) {
        let reply = e.to_reply();
        (
            reply.status,
            reply.header("www-authenticate").unwrap_or("").to_string(),
            reply.header("dpop-nonce").map(str::to_string),
        )
    }

    fn with_policy(required: bool, nonce: bool) -> Config {
        let mut c = config();
        if let AuthConfig::OAuth { dpop, .. } = &mut c.plugin.auth {
            *dpop = crate::oauth::dpop::DpopPolicy { required, nonce };
        }
        c
    }

    #[test]
    fn a_bound_token_asks_for_its_proof_then_passes_only_with_its_key() {
        let c = config();
        let t = bound(&c);
        let h = call("DPoP", &t, Some(&proof(&t, json!({}))));
        let asked = match decide(&c, &h, 0, &facts()).unwrap() {
            Decision::NeedProof(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(asked.jkt, jkt());
        assert_eq!(asked.jti, "p-1");
        let proved = Ok(jkt());
        let with_proof = Facts {
            proof: Some(&proved),
            ..facts()
        };
        assert!(matches!(
            decide(&c, &h, 0, &with_proof).unwrap(),
            Decision::Allow(id) if id.subject.as_deref() == Some("user_1")
        ));
        // Another key's proof, or a refused one, is a DPoP challenge.
        let other = Ok(JKT_KEY.to_string());
        let replayed = Err(DpopError::Invalid("the proof was already used".into()));
        for (outcome, error) in [
            (&other, "invalid_dpop_proof"),
            (&replayed, "invalid_dpop_proof"),
        ] {
            let facts = Facts {
                proof: Some(outcome),
                ..facts()
            };
            let (status, header, _) = challenge(decide(&c, &h, 0, &facts).unwrap_err());
            assert_eq!(status, 401);
            assert!(header.starts_with("DPoP realm="), "{header}");
            assert!(header.contains(&format!("error=\"{error}\"")), "{header}");
            assert!(
                header.contains("algs=\"RS256 PS256 ES256 ES384 EdDSA\""),
                "{header}"
            );
        }
        // `authorize` alone cannot check a proof: it refuses rather than let the call by.
        assert!(
            matches!(authorize(&c, &h, 0, &facts()), Err(ApiError::Internal(ref why)) if *why == "a DPoP proof must be checked before the decision")
        );
    }

    #[test]
    fn htu_is_the_host_the_call_was_addressed_to() {
        let c = config();
        let t = bound(&c);
        let alias = |h: RequestHead| RequestHead {
            authority: Some("todo-alias.example.com".into()),
            ..h
        };
        let aliased = proof(&t, json!({"htu": "https://todo-alias.example.com/todos"}));
        let h = alias(call("DPoP", &t, Some(&aliased)));
        assert!(matches!(
            decide(&c, &h, 0, &facts()).unwrap(),
            Decision::NeedProof(_)
        ));
        // The base URL's host is not the one this call came to.
        let h = alias(call("DPoP", &t, Some(&proof(&t, json!({})))));
        assert!(
            matches!(decide(&c, &h, 0, &facts()), Err(ApiError::Unauthorized(ref c)) if c.error == Some("invalid_dpop_proof") && c.error_description.as_deref() == Some("htu is not the request's URL"))
        );
    }

    #[test]
    fn each_misuse_of_a_bound_token_is_refused_before_any_proof_is_checked() {
        let c = config();
        let t = bound(&c);
        let unbound = token(&c, "todos:read", &c.plugin.resource);
        for (why, h, error) in [
            (
                "bound as Bearer",
                call("Bearer", &t, Some(&proof(&t, json!({})))),
                "invalid_token",
            ),
            (
                "unbound as DPoP",
                call("DPoP", &unbound, Some(&proof(&unbound, json!({})))),
                "invalid_token",
            ),
            ("no proof", call("DPoP", &t, None), "invalid_dpop_proof"),
            (
                "wrong method",
                call("DPoP", &t, Some(&proof(&t, json!({"htm": "POST"})))),
                "invalid_dpop_proof",
            ),
            (
                "wrong URL",
                call(
                    "DPoP",
                    &t,
                    Some(&proof(&t, json!({"htu": "https://todo.example.com/other"}))),
                ),
                "invalid_dpop_proof",
            ),
            (
                "stale",
                call("DPoP", &t, Some(&proof(&t, json!({"iat": NOW - 301})))),
                "invalid_dpop_proof",
            ),
            (
                "no ath",
                call("DPoP", &t, Some(&proof(&t, json!({"ath": null})))),
                "invalid_dpop_proof",
            ),
            (
                "another token's ath",
                call("DPoP", &t, Some(&proof(&unbound, json!({})))),
                "invalid_dpop_proof",
            ),
        ] {
            let (status, header, _) = challenge(decide(&c, &h, 0, &facts()).unwrap_err());
            assert_eq!(status, 401, "{why}");
            assert!(header.starts_with("DPoP "), "{why}: {header}");
            assert!(
                header.contains(&format!("error=\"{error}\"")),
                "{why}: {header}"
            );
        }
        // Two DPoP headers are one too many.
        let twice = call("DPoP", &t, Some(&proof(&t, json!({})))).with_header("dpop", "x");
        assert_eq!(
            challenge(decide(&c, &twice, 0, &facts()).unwrap_err()).0,
            401
        );
    }

    #[test]
    fn a_route_that_requires_dpop_refuses_bearer_tokens_the_plugins_other_routes_take() {
        let mut r = raw();
        r.plugin.as_mut().unwrap()["routes"][0]["dpop"] = json!(true);
        let c = Config::parse(r).unwrap();
        let unbound = token(&c, "todos:read todos:write", &c.plugin.resource);
        let (status, header, _) =
            challenge(decide(&c, &call("Bearer", &unbound, None), 0, &facts()).unwrap_err());
        assert_eq!(status, 401);
        assert!(
            header.starts_with("DPoP ")
                && header.contains("this route takes DPoP-bound access tokens only"),
            "{header}"
        );
        // With no credential, the route's challenge is DPoP's; the plugin's other routes
        // still challenge with Bearer and take the bearer token.
        let (_, header, _) =
            challenge(decide(&c, &head(Method::Get, "/todos"), 0, &facts()).unwrap_err());
        assert!(header.starts_with("DPoP realm="), "{header}");
        let post =
            head(Method::Post, "/todos").with_header("authorization", &format!("Bearer {unbound}"));
        assert!(matches!(
            decide(&c, &post, 1, &facts()).unwrap(),
            Decision::Allow(_)
        ));
        let (_, header, _) =
            challenge(decide(&c, &head(Method::Post, "/todos"), 1, &facts()).unwrap_err());
        assert!(header.starts_with("Bearer realm="), "{header}");
        // A bound token with its key's proof passes the route.
        let t = bound(&c);
        let h = call("DPoP", &t, Some(&proof(&t, json!({}))));
        let proved = Ok(jkt());
        let with_proof = Facts {
            proof: Some(&proved),
            ..facts()
        };
        assert!(matches!(
            decide(&c, &h, 0, &with_proof).unwrap(),
            Decision::Allow(_)
        ));
        // Only token rules can ask for it.
        let mut r = raw();
        r.plugin.as_mut().unwrap()["routes"][2]["dpop"] = json!(true);
        let e = Config::parse(r).unwrap_err();
        assert_eq!(e.key, "PLUGIN.routes[2].dpop");
    }

    #[test]
    fn a_plugin_that_requires_dpop_refuses_bearer_tokens_and_one_with_nonces_names_the_next() {
        let c = with_policy(true, false);
        let unbound = token(&c, "todos:read", &c.plugin.resource);
        let (status, header, nonce) =
            challenge(decide(&c, &call("Bearer", &unbound, None), 0, &facts()).unwrap_err());
        assert_eq!(status, 401);
        assert!(
            header.starts_with("DPoP ") && header.contains("invalid_token"),
            "{header}"
        );
        assert_eq!(nonce, None);
        // Plain bearer tokens still pass where DPoP is not required.
        assert!(authorize(&config(), &call("Bearer", &unbound, None), 0, &facts()).is_ok());

        // With no credential at all, the challenge is DPoP's.
        let (status, header, _) =
            challenge(decide(&c, &head(Method::Get, "/todos"), 0, &facts()).unwrap_err());
        assert_eq!(status, 401);
        assert!(header.starts_with("DPoP realm="), "{header}");
        assert!(header.contains("algs=\""), "{header}");
        assert!(!header.contains("error="), "{header}");
        // Another key's proof is refused before its signature is checked.
        let t = bound(&config());
        let stranger = serde_json::json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([3u8; 32]), "y": URL_SAFE_NO_PAD.encode([4u8; 32])});
        let header_json = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": stranger});
        let claims = json!({"jti": "p-2", "htm": "GET", "htu": "https://todo.example.com/todos", "iat": NOW, "ath": dpop::ath(&t)});
        let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let foreign = format!(
            "{}.{}.{}",
            b64(&header_json),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        );
        let (status, header, _) = challenge(
            decide(&config(), &call("DPoP", &t, Some(&foreign)), 0, &facts()).unwrap_err(),
        );
        assert_eq!(status, 401);
        assert!(header.contains("invalid_dpop_proof"), "{header}");

        let c = with_policy(false, true);
        let t = bound(&c);
        let h = call("DPoP", &t, Some(&proof(&t, json!({}))));
        let (status, header, nonce) = challenge(decide(&c, &h, 0, &facts()).unwrap_err());
        assert_eq!(status, 401);
        assert!(header.contains("error=\"use_dpop_nonce\""), "{header}");
        let nonce = nonce.expect("a DPoP-Nonce header");
        let h = call("DPoP", &t, Some(&proof(&t, json!({ "nonce": nonce }))));
        assert!(matches!(
            decide(&c, &h, 0, &facts()).unwrap(),
            Decision::NeedProof(_)
        ));
    }
}
