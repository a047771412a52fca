//! The upstream provider's callback (`GET /login/provider/{id}/callback`), the protocol half of
//! an upstream sign-in: the response is this browser's (`state`, and `iss` per RFC 9207), the
//! code is exchanged with the PKCE verifier, and what the provider says about the user is
//! verified (the ID token against its keys, or GitHub's user API). The account half is
//! [`crate::federation::finish`].

use crate::error::ApiError;
use crate::federation::flow::{flow_cookie, Flow};
use crate::federation::oidc::{
    check_id_token, merge_userinfo, parse_id_token, parse_token_response, Discovery, Expected,
    TokenResponse,
};
use crate::federation::tokens::token_request;
use crate::federation::{github, IdentityProvider, ProviderKind, UpstreamError, UpstreamIdentity};
use crate::http::{Reply, RequestHead};
use crate::jose::jwk::PublicJwk;
use crate::oauth::client_assertion::{select_key, AssertionError, CompactJws};
use crate::oauth::params::Params;
use crate::oauth::server::AuthServer;
use crate::ports::{Backend, UpstreamRequest};
use crate::primitives::secret::constant_time_eq;
use crate::web::session::{read_cookie, set_cookie, SealKey};

impl<B: Backend> AuthServer<'_, B> {
    pub(super) async fn upstream_callback(
        &self,
        head: &RequestHead,
        provider: &IdentityProvider,
    ) -> Result<Reply, ApiError> {
        let secure = self.secure_cookies();
        let cleared = set_cookie(flow_cookie(secure), "", 0, secure);
        let flow = open_flow(
            self.key(),
            read_cookie(head, flow_cookie(secure)),
            &provider.id,
            self.now,
        );
        let query =
            Params::from_urlencoded(head.query.as_deref().unwrap_or("")).unwrap_or_default();
        let reply = match flow {
            Err(error) => self.callback_failure(provider, &error, ""),
            Ok(flow) => match self.complete_upstream(provider, &flow, &query).await {
                Err(error) => self.callback_failure(provider, &error, &flow.return_to),
                Ok((identity, tokens)) => match self
                    .finish_upstream(head, provider, &flow, identity, &tokens)
                    .await
                {
                    Ok(reply) => reply,
                    // A store that failed mid-way: still a page, and the sign-in cookie still goes.
                    Err(e) => self
                        .upstream_page(
                            503,
                            "Sign-in did not complete",
                            "Something went wrong on our side. Try again in a moment.",
                            &flow.return_to,
                        )
                        .with_note(format!(
                            "upstream {}: {}",
                            provider.id,
                            e.internal_reason().unwrap_or(e.code())
                        )),
                },
            },
        };
        Ok(reply.with_header("set-cookie", cleared))
    }

    /// The page of a sign-in the protocol half refused, leading back to `back`.
    fn callback_failure(
        &self,
        provider: &IdentityProvider,
        error: &UpstreamError,
        back: &str,
    ) -> Reply {
        self.upstream_page(
            failure_status(error),
            "Sign-in did not complete",
            &error.message(&provider.name),
            back,
        )
        .with_note(format!("upstream {}: {}", provider.id, error.reason()))
    }

    /// The callback's protocol half: the response is this browser's, the code is exchanged, and
    /// what the provider says about the user is verified.
    async fn complete_upstream(
        &self,
        provider: &IdentityProvider,
        flow: &Flow,
        query: &Params,
    ) -> Result<(UpstreamIdentity, TokenResponse), UpstreamError> {
        check_state(query.get("state"), &flow.state)?;
        match &provider.kind {
            ProviderKind::Oidc {
                issuer,
                allowed_tenants,
            } => {
                let discovery = self
                    .backend
                    .discovery(issuer, false, self.now)
                    .await
                    .map_err(UpstreamError::Unavailable)?;
                check_iss(query.get("iss"), issuer, discovery.iss_parameter_supported)?;
                refused(query)?;
                let token = self
                    .exchange_upstream_code(
                        provider,
                        discovery.token_endpoint.as_str(),
                        query,
                        flow,
                    )
                    .await?;
                let expected = Expected {
                    issuer,
                    client_id: &provider.client_id,
                    nonce: &flow.nonce,
                    now: self.now,
                    allowed_tenants,
                };
                let identity = self.oidc_identity(&discovery, &token, &expected).await?;
                Ok((identity, token))
            }
            ProviderKind::GitHub {
                token_endpoint,
                api_base_url,
                ..
            } => {
                refused(query)?;
                let token = self
                    .exchange_upstream_code(provider, token_endpoint, query, flow)
                    .await?;
                let identity = self.github_identity(api_base_url, &token).await?;
                Ok((identity, token))
            }
        }
    }

    /// Who the ID token in `token` says the user is, its signature verified with the provider's
    /// keys; with the user information endpoint's email when the token carries none.
    async fn oidc_identity(
        &self,
        discovery: &Discovery,
        token: &TokenResponse,
        expected: &Expected<'_>,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let id_token = token
            .id_token
            .as_deref()
            .ok_or_else(|| UpstreamError::Invalid("the token response has no id_token".into()))?;
        let jws = parse_id_token(id_token, &discovery.id_token_algs)?;
        let key = self.id_token_key(discovery, &jws).await?;
        let verified = self
            .backend
            .verify_jws(jws.alg, &key, &jws.signing_input, &jws.signature)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        if !verified {
            return Err(UpstreamError::Invalid(
                "ID token: the signature does not verify".into(),
            ));
        }
        let identity = check_id_token(&jws.claims, expected)?;
        let Some(userinfo) = discovery.userinfo_endpoint.as_ref() else {
            return Ok(identity);
        };
        if !identity.email.is_empty() {
            return Ok(identity);
        }
        let response = self
            .backend
            .upstream(UpstreamRequest {
                method: "GET",
                url: userinfo.to_string(),
                headers: vec![
                    ("accept", "application/json".into()),
                    ("authorization", format!("Bearer {}", token.access_token)),
                ],
                form: None,
            })
            .await
            .map_err(UpstreamError::Unavailable)?;
        if response.status == 200 {
            merge_userinfo(identity, &response.body)
        } else {
            Ok(identity)
        }
    }

    /// The provider's key for the ID token; a key not seen before means the provider rotated,
    /// and its keys are fetched again.
    async fn id_token_key(
        &self,
        discovery: &Discovery,
        jws: &CompactJws,
    ) -> Result<PublicJwk, UpstreamError> {
        let keys = self
            .backend
            .provider_jwks(&discovery.jwks_uri, false, self.now)
            .await
            .map_err(UpstreamError::Unavailable)?;
        match select_key(&keys, jws.alg, jws.kid.as_deref()) {
            Ok(key) => Ok(key.clone()),
            Err(AssertionError::NoKey { .. }) => {
                let keys = self
                    .backend
                    .provider_jwks(&discovery.jwks_uri, true, self.now)
                    .await
                    .map_err(UpstreamError::Unavailable)?;
                select_key(&keys, jws.alg, jws.kid.as_deref())
                    .cloned()
                    .map_err(|_| {
                        UpstreamError::Invalid(
                            "no key of the provider verifies the ID token".into(),
                        )
                    })
            }
            Err(e) => Err(UpstreamError::Invalid(format!("ID token key: {e:?}"))),
        }
    }

    /// Who GitHub's user API says the user is: `/user` and `/user/emails`, read together.
    async fn github_identity(
        &self,
        api_base_url: &str,
        token: &TokenResponse,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let get = |path: &str| {
            let mut headers: Vec<(&'static str, String)> = github::API_HEADERS
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            headers.push(("authorization", format!("Bearer {}", token.access_token)));
            self.backend.upstream(UpstreamRequest {
                method: "GET",
                url: format!("{api_base_url}{path}"),
                headers,
                form: None,
            })
        };
        let (user, emails) = futures_util::future::join(get("/user"), get("/user/emails")).await;
        let (user, emails) = (
            user.map_err(UpstreamError::Unavailable)?,
            emails.map_err(UpstreamError::Unavailable)?,
        );
        github::identity((user.status, &user.body), (emails.status, &emails.body))
    }

    /// The authorization code for tokens, with the PKCE verifier and the client's credentials.
    async fn exchange_upstream_code(
        &self,
        provider: &IdentityProvider,
        token_endpoint: &str,
        query: &Params,
        flow: &Flow,
    ) -> Result<TokenResponse, UpstreamError> {
        let code = query
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(UpstreamError::Mismatch("the callback has no code"))?;
        let redirect_uri = self.redirect_uri(provider);
        let request = token_request(
            provider,
            token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &flow.verifier),
            ],
        );
        let response = self
            .backend
            .upstream(request)
            .await
            .map_err(UpstreamError::Unavailable)?;
        parse_token_response(response.status, &response.content_type, &response.body)
    }
}

/// The round trip this browser started with `provider`, from its sealed cookie: missing,
/// expired, tampered with or started for another provider, it is [`UpstreamError::FlowExpired`].
pub fn open_flow(
    key: SealKey<'_>,
    cookie: Option<&str>,
    provider: &str,
    now: i64,
) -> Result<Flow, UpstreamError> {
    cookie
        .and_then(|cookie| Flow::open(key, cookie, provider, now))
        .ok_or(UpstreamError::FlowExpired)
}

/// The response is this browser's: the `state` it carries is the one the round trip sent,
/// compared in constant time.
pub fn check_state(returned: Option<&str>, expected: &str) -> Result<(), UpstreamError> {
    match returned {
        Some(state) if constant_time_eq(state.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(UpstreamError::Mismatch("state")),
    }
}

/// RFC 9207: a provider that names itself in the response must name itself, and one whose
/// discovery says it always does must. (An Entra template issuer cannot be compared before the
/// ID token says the tenant.)
pub fn check_iss(
    returned: Option<&str>,
    issuer: &str,
    iss_parameter_supported: bool,
) -> Result<(), UpstreamError> {
    match returned {
        Some(iss) if !issuer.contains("{tenantid}") && iss != issuer => {
            Err(UpstreamError::Mismatch("iss"))
        }
        None if iss_parameter_supported => Err(UpstreamError::Mismatch("iss missing")),
        _ => Ok(()),
    }
}

/// The status of the page a refused callback shows: the browser's fault (a crossed or expired
/// round trip), the user's or provider's refusal, or the provider failing.
pub fn failure_status(error: &UpstreamError) -> u16 {
    match error {
        UpstreamError::FlowExpired | UpstreamError::Mismatch(_) => 400,
        UpstreamError::Refused { .. } => 403,
        UpstreamError::Unavailable(_) | UpstreamError::Invalid(_) => 502,
    }
}

/// An error the provider put in the authorization response (RFC 6749 §4.1.2.1); only after
/// `state` (and `iss`) showed the response is this sign-in's.
fn refused(query: &Params) -> Result<(), UpstreamError> {
    match query.get("error") {
        None => Ok(()),
        Some(error) => {
            let clean = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(200)
                    .collect()
            };
            Err(UpstreamError::Refused {
                error: clean(error),
                description: clean(query.get("error_description").unwrap_or("")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::FLOW_TTL_SECS;

    const KEY: SealKey<'static> = SealKey::new(
        b"0123456789abcdef0123456789abcdef",
        "https://todo.example.com",
    );
    const NOW: i64 = 1_790_000_000;

    fn sealed_flow() -> (Flow, String) {
        let random = ["state-1".to_string(), "nonce-1".into(), "verifier-1".into()];
        let flow = Flow::start("google", "/authorize?x=1", None, random, NOW);
        let sealed = flow.seal(KEY);
        (flow, sealed)
    }

    fn query(pairs: &str) -> Params {
        Params::from_urlencoded(pairs).unwrap()
    }

    #[test]
    fn the_round_trip_opens_while_it_lasts_for_its_provider() {
        let (flow, sealed) = sealed_flow();
        let opened = open_flow(KEY, Some(&sealed), "google", NOW + FLOW_TTL_SECS - 1).unwrap();
        assert_eq!(opened.state, flow.state);
        assert_eq!(opened.return_to, "/authorize?x=1");
    }

    #[test]
    fn an_expired_round_trip_is_flow_expired_and_a_400() {
        let (_, sealed) = sealed_flow();
        let expired = open_flow(KEY, Some(&sealed), "google", NOW + FLOW_TTL_SECS).unwrap_err();
        assert_eq!(expired, UpstreamError::FlowExpired);
        assert_eq!(failure_status(&expired), 400);
    }

    #[test]
    fn a_missing_crossed_or_forged_round_trip_is_flow_expired() {
        let (_, sealed) = sealed_flow();
        assert_eq!(
            open_flow(KEY, None, "google", NOW).unwrap_err(),
            UpstreamError::FlowExpired
        );
        assert_eq!(
            open_flow(KEY, Some(&sealed), "github", NOW).unwrap_err(),
            UpstreamError::FlowExpired
        );
        let other = SealKey::new(b"another key", "https://todo.example.com");
        assert_eq!(
            open_flow(other, Some(&sealed), "google", NOW).unwrap_err(),
            UpstreamError::FlowExpired
        );
    }

    #[test]
    fn a_state_that_is_not_the_round_trips_is_a_mismatch() {
        assert_eq!(check_state(Some("state-1"), "state-1"), Ok(()));
        assert_eq!(
            check_state(Some("state-2"), "state-1"),
            Err(UpstreamError::Mismatch("state"))
        );
        assert_eq!(
            check_state(Some(""), "state-1"),
            Err(UpstreamError::Mismatch("state"))
        );
        assert_eq!(
            check_state(None, "state-1"),
            Err(UpstreamError::Mismatch("state"))
        );
        assert_eq!(failure_status(&UpstreamError::Mismatch("state")), 400);
    }

    #[test]
    fn an_iss_naming_another_provider_or_missing_where_promised_is_a_mismatch() {
        let google = "https://accounts.google.com";
        assert_eq!(check_iss(Some(google), google, true), Ok(()));
        assert_eq!(check_iss(None, google, false), Ok(()));
        assert_eq!(
            check_iss(Some("https://evil.example"), google, false),
            Err(UpstreamError::Mismatch("iss"))
        );
        assert_eq!(
            check_iss(None, google, true),
            Err(UpstreamError::Mismatch("iss missing"))
        );
        // A template issuer is compared once the ID token names the tenant.
        let entra = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert_eq!(
            check_iss(
                Some("https://login.microsoftonline.com/t1/v2.0"),
                entra,
                true
            ),
            Ok(())
        );
    }

    #[test]
    fn a_refused_sign_in_carries_the_providers_error_cleaned_and_is_a_403() {
        assert_eq!(refused(&query("code=c&state=s")), Ok(()));
        let error = refused(&query(
            "error=access_denied&error_description=The%20user%0Asaid%20%3Cno%3E",
        ))
        .unwrap_err();
        assert_eq!(
            error,
            UpstreamError::Refused {
                error: "access_denied".into(),
                description: "The usersaid <no>".into(),
            }
        );
        assert_eq!(failure_status(&error), 403);
        let long = format!("error={}", "x".repeat(300));
        let Err(UpstreamError::Refused { error, description }) = refused(&query(&long)) else {
            panic!("a refusal");
        };
        assert_eq!((error.len(), description.as_str()), (200, ""));
    }

    #[test]
    fn a_provider_that_fails_is_a_502() {
        assert_eq!(
            failure_status(&UpstreamError::Unavailable("timeout".into())),
            502
        );
        assert_eq!(failure_status(&UpstreamError::Invalid("aud".into())), 502);
    }
}
