//! Token exchange (RFC 8693), for a resource server behind the gateway (an MCP server, say) that
//! calls another API of the same deployment for the user who called it: it sends the access
//! token it was called with and gets one for the other resource, for the same user, with the
//! scopes the user's roles hold there and the owner's exchange policy allows, and an `act` claim
//! naming it. The pure half: reading the request, choosing the policy, deciding the scopes.
//!
//! Policies are configuration (`token_exchange` in the plugin): which client may exchange tokens
//! for which resource (`from`, the subject token's audience) into which (`to`), for at most which
//! scopes. Nothing else may be exchanged.

use serde::Deserialize;

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::oauth::access_token::{Actor, Audience};
use crate::oauth::params::Params;
use crate::rbac::scope::{parse_scope, ScopeContext, OPENID_SCOPES};

/// The grant type of token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of access tokens (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type of JWTs, which this gateway's access tokens also are.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// How deep `act` claims nest before a further exchange is refused.
pub const MAX_ACTOR_DEPTH: usize = 4;

/// One rule of who may exchange what (`token_exchange` in a plugin's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangePolicy {
    /// The client id of the resource server that exchanges.
    pub client: String,
    /// The resources (indicators) whose tokens it may exchange: its own.
    pub from: Vec<String>,
    /// The resource (indicator) it may get tokens for.
    pub to: String,
    /// The most the exchanged token may carry there.
    pub scopes: Vec<String>,
}

/// A token-exchange request, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest<'p> {
    pub subject_token: &'p str,
    /// The resource asked for (`resource`, or `audience` naming one).
    pub target: &'p str,
    /// `scope`, split; `None` asks for everything the policy allows.
    pub scopes: Option<Vec<String>>,
}

/// Reads the request's parameters (RFC 8693 §2.1). The caller is the client the token endpoint
/// authenticated; an `actor_token` is refused, since that client is the actor.
pub fn read_request(params: &Params) -> Result<ExchangeRequest<'_>, OAuthError> {
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    match params.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "subject_token_type is required",
            ))
        }
    }
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not taken: the authenticated client is the actor",
        ));
    }
    if params
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE && t != JWT_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(
            "only access tokens are issued (requested_token_type)",
        ));
    }
    let target = match (params.get("resource"), params.get("audience")) {
        (Some(r), Some(a)) if r != a => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "resource and audience name different targets",
            ))
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "name the resource the token is for (resource or audience)",
            ))
        }
    };
    let scopes = match params.get("scope") {
        None => None,
        Some(s) if !s.chars().all(crate::primitives::syntax::is_scope_char) => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "scope has invalid characters",
            ))
        }
        Some(s) => Some(parse_scope(s)),
    };
    Ok(ExchangeRequest {
        subject_token,
        target,
        scopes,
    })
}

/// The policy that lets `client` exchange a token for `audience` into one for `target`.
/// `Err` says which refusal: the client may exchange nothing (`unauthorized_client`), or not
/// this (`invalid_target`).
pub fn policy_for<'a>(
    policies: &'a [ExchangePolicy],
    client: &str,
    audience: &Audience,
    target: &str,
) -> Result<&'a ExchangePolicy, OAuthError> {
    let mine: Vec<&ExchangePolicy> = policies.iter().filter(|p| p.client == client).collect();
    if mine.is_empty() {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not exchange tokens",
        ));
    }
    mine.into_iter()
        .find(|p| p.to == target && p.from.iter().any(|f| audience.contains(f)))
        .ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "no exchange policy lets this client exchange this token for that resource",
            )
        })
}

/// The scopes of the exchanged token: those asked for (or, asking none, all the policy names)
/// that the policy allows and the user's roles hold on the target. OpenID scopes never pass: the
/// token is for an API.
pub fn decide_scopes(
    asked: Option<&[String]>,
    policy: &ExchangePolicy,
    context: &ScopeContext,
) -> Vec<String> {
    let candidates: &[String] = asked.unwrap_or(&policy.scopes);
    let mut out: Vec<String> = Vec::new();
    for scope in candidates {
        if !OPENID_SCOPES.contains(&scope.as_str())
            && policy.scopes.contains(scope)
            && context.permissions.contains(scope)
            && !out.contains(scope)
        {
            out.push(scope.clone());
        }
    }
    out
}

/// The `act` claim of the exchanged token: the exchanging client, and before it whoever acted
/// on the subject token. `None` when the chain is already [`MAX_ACTOR_DEPTH`] deep.
pub fn actor(client: &str, before: Option<&Actor>) -> Option<Actor> {
    let mut depth = 0;
    let mut cursor = before;
    while let Some(a) = cursor {
        depth += 1;
        cursor = a.act.as_deref();
    }
    (depth < MAX_ACTOR_DEPTH).then(|| Actor {
        sub: client.to_string(),
        act: before.cloned().map(Box::new),
    })
}

/// The lifetime of the exchanged token: the target resource's, but never past the subject
/// token's expiry, so an exchange cannot extend a user's access.
pub fn lifetime(resource_ttl: i64, subject_expires_at: i64, now: i64) -> i64 {
    resource_ttl.min(subject_expires_at - now).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
    }

    fn policy() -> ExchangePolicy {
        ExchangePolicy {
            client: "mcp".into(),
            from: vec!["https://mcp.example.com/mcp".into()],
            to: "https://reports.example.com".into(),
            scopes: vec!["reports:read".into(), "reports:write".into()],
        }
    }

    const SUBJECT: (&str, &str) = ("subject_token_type", ACCESS_TOKEN_TYPE);

    #[test]
    fn a_request_names_its_subject_token_and_one_target() {
        let p = params(&[
            ("subject_token", "t"),
            SUBJECT,
            ("resource", "https://reports.example.com"),
            ("scope", "reports:read"),
        ]);
        let r = read_request(&p).unwrap();
        assert_eq!(r.target, "https://reports.example.com");
        assert_eq!(r.scopes.as_deref(), Some(&["reports:read".to_string()][..]));
        let by_audience = params(&[
            ("subject_token", "t"),
            SUBJECT,
            ("audience", "https://reports.example.com"),
        ]);
        assert_eq!(
            read_request(&by_audience).unwrap().target,
            "https://reports.example.com"
        );
        for (why, bad, code) in [
            (
                "no subject",
                params(&[SUBJECT, ("resource", "r")]),
                "invalid_request",
            ),
            (
                "no type",
                params(&[("subject_token", "t"), ("resource", "r")]),
                "invalid_request",
            ),
            (
                "an ID token",
                params(&[
                    ("subject_token", "t"),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                    ("resource", "r"),
                ]),
                "invalid_request",
            ),
            (
                "an actor token",
                params(&[
                    ("subject_token", "t"),
                    SUBJECT,
                    ("resource", "r"),
                    ("actor_token", "a"),
                    ("actor_token_type", ACCESS_TOKEN_TYPE),
                ]),
                "invalid_request",
            ),
            (
                "a refresh token asked",
                params(&[
                    ("subject_token", "t"),
                    SUBJECT,
                    ("resource", "r"),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:refresh_token",
                    ),
                ]),
                "invalid_request",
            ),
            (
                "no target",
                params(&[("subject_token", "t"), SUBJECT]),
                "invalid_target",
            ),
            (
                "two targets",
                params(&[
                    ("subject_token", "t"),
                    SUBJECT,
                    ("resource", "a"),
                    ("audience", "b"),
                ]),
                "invalid_target",
            ),
            (
                "bad scope",
                params(&[
                    ("subject_token", "t"),
                    SUBJECT,
                    ("resource", "r"),
                    ("scope", "a\"b"),
                ]),
                "invalid_scope",
            ),
        ] {
            assert_eq!(read_request(&bad).unwrap_err().code.as_str(), code, "{why}");
        }
    }

    #[test]
    fn only_a_policy_for_this_client_source_and_target_allows_an_exchange() {
        let policies = [policy()];
        let from_mcp = Audience::One("https://mcp.example.com/mcp".into());
        assert!(policy_for(&policies, "mcp", &from_mcp, "https://reports.example.com").is_ok());
        let e =
            policy_for(&policies, "other", &from_mcp, "https://reports.example.com").unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::UnauthorizedClient);
        let e = policy_for(&policies, "mcp", &from_mcp, "https://billing.example.com").unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::InvalidTarget);
        let from_elsewhere = Audience::One("https://todo.example.com".into());
        let e = policy_for(
            &policies,
            "mcp",
            &from_elsewhere,
            "https://reports.example.com",
        )
        .unwrap_err();
        assert_eq!(
            e.code,
            OAuthErrorCode::InvalidTarget,
            "a token for another resource"
        );
    }

    #[test]
    fn scopes_are_what_was_asked_that_the_policy_allows_and_the_user_holds() {
        let context = ScopeContext {
            permissions: vec!["reports:read".into(), "reports:admin".into()],
            ..ScopeContext::default()
        };
        let asked = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(decide_scopes(None, &policy(), &context), ["reports:read"]);
        assert_eq!(
            decide_scopes(
                Some(&asked(&[
                    "reports:admin",
                    "reports:write",
                    "openid",
                    "reports:read"
                ])),
                &policy(),
                &context
            ),
            ["reports:read"],
            "admin is held but not allowed, write allowed but not held"
        );
        assert!(decide_scopes(Some(&asked(&["reports:write"])), &policy(), &context).is_empty());
    }

    #[test]
    fn actors_nest_to_a_bound_and_lifetimes_never_outlast_the_subject() {
        let first = actor("mcp", None).unwrap();
        assert_eq!(
            first,
            Actor {
                sub: "mcp".into(),
                act: None
            }
        );
        let second = actor("reports-svc", Some(&first)).unwrap();
        assert_eq!(second.act.as_deref(), Some(&first));
        let mut chain = None;
        for i in 0..MAX_ACTOR_DEPTH {
            chain = actor(&format!("c{i}"), chain.as_ref());
            assert!(chain.is_some());
        }
        assert_eq!(actor("one-too-many", chain.as_ref()), None);
        assert_eq!(lifetime(3600, 1_000 + 600, 1_000), 600);
        assert_eq!(lifetime(300, 1_000 + 600, 1_000), 300);
        assert_eq!(lifetime(300, 900, 1_000), 0);
    }
}
