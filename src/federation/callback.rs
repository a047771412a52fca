//! The upstream provider's callback (`GET /login/provider/{id}/callback`), the protocol half of
//! an upstream sign-in: the response is this browser's (`state`, and `iss` per RFC 9207), the
//! code is exchanged with the PKCE verifier, and what the provider says about the user is
//! verified (the ID token against its keys, or GitHub's user API). The account half is
//! [`crate::federation::finish`].

use crate::error::ApiError;
use crate::federation::flow::{flow_cookie, Flow};
use crate::federation::oidc::{
    check_id_token, merge_userinfo, parse_id_token, parse_token_response, Expected, TokenResponse,
};
use crate::federation::tokens::token_request;
use crate::federation::{github, IdentityProvider, ProviderKind, UpstreamError, UpstreamIdentity};
use crate::http::{Reply, RequestHead};
use crate::oauth::client_assertion::{select_key, AssertionError};
use crate::oauth::params::Params;
use crate::oauth::server::AuthServer;
use crate::ports::{Backend, UpstreamRequest};
use crate::primitives::secret::constant_time_eq;
use crate::web::session::{read_cookie, set_cookie};

impl<B: Backend> AuthServer<'_, B> {
    pub(super) async fn upstream_callback(
        &self,
        head: &RequestHead,
        provider: &IdentityProvider,
    ) -> Result<Reply, ApiError> {
        let secure = self.secure_cookies();
        let cleared = set_cookie(flow_cookie(secure), "", 0, secure);
        let flow = read_cookie(head, flow_cookie(secure))
            .and_then(|cookie| Flow::open(self.key(), cookie, &provider.id, self.now));
        let query =
            Params::from_urlencoded(head.query.as_deref().unwrap_or("")).unwrap_or_default();
        let outcome = match &flow {
            None => Err(UpstreamError::FlowExpired),
            Some(flow) => self.complete_upstream(provider, flow, &query).await,
        };
        let reply = match (outcome, flow) {
            (Ok((identity, tokens)), Some(flow)) => {
                match self
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
                }
            }
            (Err(error), flow) => {
                let status = match error {
                    UpstreamError::FlowExpired | UpstreamError::Mismatch(_) => 400,
                    UpstreamError::Refused { .. } => 403,
                    UpstreamError::Unavailable(_) | UpstreamError::Invalid(_) => 502,
                };
                let back = flow.as_ref().map(|f| f.return_to.as_str()).unwrap_or("");
                self.upstream_page(
                    status,
                    "Sign-in did not complete",
                    &error.message(&provider.name),
                    back,
                )
                .with_note(format!("upstream {}: {}", provider.id, error.reason()))
            }
            (Ok(_), None) => return Err(ApiError::Internal("an identity without a flow".into())),
        };
        Ok(reply.with_header("set-cookie", cleared))
    }

    /// The callback's protocol half: the response is this browser's, the code is exchanged, and
    /// what the provider says about the user is verified.
    async fn complete_upstream(
        &self,
        provider: &IdentityProvider,
        flow: &Flow,
        query: &Params,
    ) -> Result<(UpstreamIdentity, TokenResponse), UpstreamError> {
        let state_ok = query
            .get("state")
            .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
        if !state_ok {
            return Err(UpstreamError::Mismatch("state"));
        }
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
                // RFC 9207: a provider that names itself in the response must name itself. (An
                // Entra template issuer cannot be compared before the ID token says the tenant.)
                match query.get("iss") {
                    Some(iss) if !issuer.contains("{tenantid}") && iss != issuer => {
                        return Err(UpstreamError::Mismatch("iss"))
                    }
                    None if discovery.iss_parameter_supported => {
                        return Err(UpstreamError::Mismatch("iss missing"))
                    }
                    _ => {}
                }
                refused(query)?;
                let token = self
                    .exchange_upstream_code(
                        provider,
                        discovery.token_endpoint.as_str(),
                        query,
                        flow,
                    )
                    .await?;
                let id_token = token.id_token.as_deref().ok_or_else(|| {
                    UpstreamError::Invalid("the token response has no id_token".into())
                })?;
                let jws = parse_id_token(id_token, &discovery.id_token_algs)?;
                let key = {
                    let keys = self
                        .backend
                        .provider_jwks(&discovery.jwks_uri, false, self.now)
                        .await
                        .map_err(UpstreamError::Unavailable)?;
                    match select_key(&keys, jws.alg, jws.kid.as_deref()) {
                        Ok(key) => key.clone(),
                        // A key not seen before: the provider rotated; fetch its keys again.
                        Err(AssertionError::NoKey { .. }) => {
                            let keys = self
                                .backend
                                .provider_jwks(&discovery.jwks_uri, true, self.now)
                                .await
                                .map_err(UpstreamError::Unavailable)?;
                            select_key(&keys, jws.alg, jws.kid.as_deref())
                                .map_err(|_| {
                                    UpstreamError::Invalid(
                                        "no key of the provider verifies the ID token".into(),
                                    )
                                })?
                                .clone()
                        }
                        Err(e) => {
                            return Err(UpstreamError::Invalid(format!("ID token key: {e:?}")))
                        }
                    }
                };
                let verified = self
                    .backend
                    .verify_jws(jws.alg, &key, &jws.signing_input, &jws.signature)
                    .await
                    .map_err(|e| UpstreamError::Unavailable(e.0))?;
                if !verified {
                    return Err(UpstreamError::Invalid(
                        "ID token: the signature does not verify".into(),
                    ));
                }
                let identity = check_id_token(
                    &jws.claims,
                    &Expected {
                        issuer,
                        client_id: &provider.client_id,
                        nonce: &flow.nonce,
                        now: self.now,
                        allowed_tenants,
                    },
                )?;
                let identity = match (&discovery.userinfo_endpoint, identity.email.is_empty()) {
                    (Some(userinfo), true) => {
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
                            merge_userinfo(identity, &response.body)?
                        } else {
                            identity
                        }
                    }
                    _ => identity,
                };
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
                let (user, emails) =
                    futures_util::future::join(get("/user"), get("/user/emails")).await;
                let (user, emails) = (
                    user.map_err(UpstreamError::Unavailable)?,
                    emails.map_err(UpstreamError::Unavailable)?,
                );
                let identity =
                    github::identity((user.status, &user.body), (emails.status, &emails.body))?;
                Ok((identity, token))
            }
        }
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
