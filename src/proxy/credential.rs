//! Who the proxied call is from: the credential its route and the plugin's auth type ask for
//! (access token, API key, shared secret, the address lock), the signed agent, and `step`, the
//! step function over what the edge has looked up so far. Pure functions of configuration, the
//! request head and the clock.

use std::cell::RefCell;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::config::{AuthConfig, Config};
use crate::error::{ApiError, Challenge};
use crate::http::{AuthorizationError, RequestHead};
use crate::oauth::access_token::{
    verify_access_token, TokenKey, TokenRejection, VerifiedTokenCache, VerifyPolicy,
};
use crate::oauth::dpop::{self, DpopError, Proof};
use crate::proxy::api_key_cache::ApiKeyRecord;
use crate::proxy::cidr::IpRanges;
use crate::proxy::forward::{Caller, Identity};
use crate::proxy::rules::Access;
use crate::proxy::signed_agent::{self, AgentCheck, SignedCall, Target};

/// What the edge holds in memory for a decision: the clock, OpenAI's egress ranges, and for
/// `user_http` plugins the record of the presented API key (`None`: no such key).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub now: i64,
    pub openai_ranges: &'a IpRanges,
    pub api_key: Option<&'a ApiKeyRecord>,
    /// The isolate's cache of verified access tokens; without one every token is verified in full.
    pub verified_tokens: Option<&'a RefCell<VerifiedTokenCache>>,
    /// A token already looked up in that cache, with its key, so it is not hashed again.
    pub looked_up: Option<(&'a str, TokenKey)>,
    /// The request's DPoP proof, once its signature and `jti` were checked: the thumbprint of
    /// its key, or why it was refused.
    pub proof: Option<&'a Result<String, DpopError>>,
    /// The request's agent signature, once checked (`None`: the call carries none, or the plugin
    /// trusts no agent).
    pub agent: Option<&'a AgentCheck>,
}

/// The SHA-256 of the API key in the request, for a `user_http` plugin; the edge looks it up
/// before calling [`authorize`]. `Ok(None)` when the plugin or route needs no key.
pub fn presented_api_key_hash(
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
) -> Result<Option<String>, ApiError> {
    let AuthConfig::UserHttp { authorization_type } = &config.plugin.auth else {
        return Ok(None);
    };
    let needs_key = config
        .plugin
        .routes
        .rule(rule_index)
        .is_some_and(|r| r.access == Access::Token);
    if !needs_key {
        return Ok(None);
    }
    let scheme = authorization_type.scheme();
    let key = credential(head, scheme, config)?;
    Ok(Some(crate::primitives::hash::sha256_hex(key)))
}

/// The access token the proxy will verify for this rule (sent as `Bearer` or `DPoP`), if the
/// plugin takes our access tokens and the rule needs one: the edge checks its signature ahead of
/// [`authorize`].
pub fn bearer_to_verify<'a>(
    config: &Config,
    head: &'a RequestHead,
    rule_index: usize,
) -> Option<&'a str> {
    let needs_token = matches!(config.plugin.auth, AuthConfig::OAuth { .. })
        && config
            .plugin
            .routes
            .rule(rule_index)
            .is_some_and(|r| r.access == Access::Token);
    if !needs_token {
        return None;
    }
    let dpop = config
        .plugin
        .routes
        .rule(rule_index)
        .is_some_and(|r| r.dpop);
    access_token_credential(head, config, dpop)
        .ok()
        .map(|(_, t)| t)
}

/// The access token in the `Authorization` header and its scheme: `DPoP` (RFC 9449 §7.1), or
/// else `Bearer`. `route_dpop`: the route takes bound tokens only ([`RouteRule::dpop`]).
///
/// [`RouteRule::dpop`]: crate::proxy::rules::RouteRule::dpop
fn access_token_credential<'a>(
    head: &'a RequestHead,
    config: &Config,
    route_dpop: bool,
) -> Result<(&'static str, &'a str), ApiError> {
    let sent = head.authorization().ok().flatten();
    // Without a credential, a plugin or route that takes bound tokens only challenges with DPoP.
    let required = config.dpop().required || route_dpop;
    let dpop = sent.as_ref().is_some_and(|h| h.is("dpop")) || (sent.is_none() && required);
    let scheme = if dpop { "DPoP" } else { "Bearer" };
    credential(head, scheme, config).map(|token| (scheme, token))
}

/// What the proxy has learned about one request so far, beyond its head and the configuration.
#[derive(Debug, Default)]
pub struct Known {
    /// OpenAI's egress ranges, once loaded (only plugins locked to OpenAI need them).
    pub openai_ranges: Option<std::rc::Rc<IpRanges>>,
    /// The presented API key's record, once looked up (`Some(None)`: no such key).
    pub api_key: Option<Option<ApiKeyRecord>>,
    /// Once the platform has been asked to verify the token's signature, the token's key in the
    /// verified-token cache (where its answer is, if yes), so it is not hashed again.
    pub signature_checked: Option<TokenKey>,
    /// The DPoP proof's outcome once its signature and `jti` were checked: its key's thumbprint,
    /// or the refusal.
    pub proof: Option<Result<String, DpopError>>,
    /// The agent signature's outcome once checked ([`crate::proxy::signed_agent::check`]).
    pub agent: Option<AgentCheck>,
}

/// The proxy's next step for a request: fetch something it needs, or decide.
#[derive(Debug)]
pub enum Step<'h> {
    /// Load OpenAI's egress ranges.
    NeedEgressRanges,
    /// Look up the API key whose SHA-256 this is.
    NeedApiKey(String),
    /// Have the platform verify this token's signature, recording it in the cache under this key
    /// if it holds.
    NeedSignature(&'h str, TokenKey),
    /// Check this DPoP proof's signature and remember its `jti` ([`crate::oauth::dpop::accept`]).
    NeedProof(Box<Proof>),
    /// Check this agent signature against the trusted agents' directories
    /// ([`crate::proxy::signed_agent::check`]).
    NeedAgent(Box<SignedCall>),
    Allow(Identity),
    Refuse(ApiError),
}

/// The proxy's decision as one step function over what is known so far: the edge performs the
/// step it asks for, records what it learned, and asks again, until it gets an allow with the
/// identity or a refusal. The policy lives here; the edge's loop is fixed.
pub fn step<'h>(
    config: &Config,
    head: &'h RequestHead,
    rule: usize,
    known: &Known,
    now: i64,
    verified_tokens: Option<&RefCell<VerifiedTokenCache>>,
) -> Step<'h> {
    let locked_to_openai = matches!(
        &config.plugin.auth,
        AuthConfig::None { ip_lock: Some(lock) } if lock.openai
    );
    if locked_to_openai && known.openai_ranges.is_none() {
        return Step::NeedEgressRanges;
    }
    match presented_api_key_hash(config, head, rule) {
        Err(e) => return Step::Refuse(e),
        Ok(Some(hash)) if known.api_key.is_none() => return Step::NeedApiKey(hash),
        Ok(_) => {}
    }
    let mut looked_up = None;
    if let Some(token) = bearer_to_verify(config, head, rule) {
        let key = match known.signature_checked {
            Some(key) => key,
            None => {
                let key = VerifiedTokenCache::key(token);
                if !verified_tokens.is_some_and(|c| c.borrow().contains_key(&key)) {
                    return Step::NeedSignature(token, key);
                }
                key
            }
        };
        looked_up = Some((token, key));
    }
    // A signed agent: read when the plugin trusts some and the call carries a signature, and
    // checked once (its directory, its signature, its nonce).
    let mut unreadable = None;
    if !config.plugin.agents.trusted.is_empty() && known.agent.is_none() {
        let scheme = config
            .public_base_url
            .split_once("://")
            .map_or("https", |(s, _)| s);
        let target = Target {
            method: head.method.as_ref().map_or("", |m| m.as_str()),
            scheme,
            authority: config.request_authority(head),
        };
        match signed_agent::read(head, &target, now) {
            Ok(None) => {}
            Ok(Some(call)) => return Step::NeedAgent(Box::new(call)),
            Err(why) => unreadable = Some(AgentCheck::Refused(why)),
        }
    }
    static NO_RANGES: IpRanges = IpRanges::EMPTY;
    let facts = Facts {
        now,
        openai_ranges: known.openai_ranges.as_deref().unwrap_or(&NO_RANGES),
        api_key: known.api_key.as_ref().and_then(Option::as_ref),
        verified_tokens,
        looked_up,
        proof: known.proof.as_ref(),
        agent: known.agent.as_ref().or(unreadable.as_ref()),
    };
    match decide(config, head, rule, &facts) {
        Ok(Decision::Allow(identity)) => Step::Allow(identity),
        Ok(Decision::NeedProof(proof)) => Step::NeedProof(proof),
        Err(e) => Step::Refuse(e),
    }
}

/// What [`decide`] concluded: the caller passes, or its DPoP proof must be checked first.
#[derive(Debug)]
pub enum Decision {
    Allow(Identity),
    NeedProof(Box<Proof>),
}

/// Decides whether the caller may pass the rule at `rule_index`, and as whom. No I/O: access
/// tokens are verified against the keys in config, and everything else comes in `facts`. A
/// DPoP-bound token needs its proof checked first ([`step`] does that); here it is refused.
pub fn authorize(
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
    facts: &Facts<'_>,
) -> Result<Identity, ApiError> {
    match decide(config, head, rule_index, facts)? {
        Decision::Allow(identity) => Ok(identity),
        Decision::NeedProof(_) => Err(ApiError::Internal(
            "a DPoP proof must be checked before the decision".into(),
        )),
    }
}

/// [`authorize`], telling apart a DPoP proof still to be checked. A call a trusted agent signed
/// names the agent to the origin; a route (or plugin) that requires one refuses a call without.
pub fn decide(
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
    facts: &Facts<'_>,
) -> Result<Decision, ApiError> {
    let decision = decide_credential(config, head, rule_index, facts)?;
    let Decision::Allow(mut identity) = decision else {
        return Ok(decision);
    };
    let verified = facts.agent.and_then(AgentCheck::agent);
    if let Some(rule) = config.plugin.routes.rule(rule_index) {
        let policy = &config.plugin.agents;
        let needed: &[String] = if !rule.agents.is_empty() {
            &rule.agents
        } else if policy.require && rule.access != Access::Public {
            &policy.trusted
        } else {
            &[]
        };
        if !needed.is_empty() && !verified.is_some_and(|a| needed.iter().any(|n| n == a)) {
            let why = match (facts.agent, verified) {
                (None, _) => "this API only accepts calls signed by its assistant's agent (HTTP message signatures, Web Bot Auth)".to_string(),
                (Some(AgentCheck::Refused(why)), _) => format!("the call's agent signature does not count: {why}"),
                (Some(_), Some(agent)) => format!("this route does not accept calls signed by {agent}"),
                (Some(_), None) => "the call's agent signature does not count".to_string(),
            };
            return Err(ApiError::Forbidden(why));
        }
    }
    identity.agent = verified.map(str::to_string);
    Ok(Decision::Allow(identity))
}

/// The decision on the caller's credential (the auth type's, and the IP lock).
fn decide_credential(
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
    facts: &Facts<'_>,
) -> Result<Decision, ApiError> {
    let rule = config
        .plugin
        .routes
        .rule(rule_index)
        .ok_or_else(|| ApiError::Internal(format!("no route rule {rule_index}")))?;
    if rule.access == Access::Deny {
        return Err(ApiError::Forbidden("this route is not available".into()));
    }
    // A `none` plugin's IP lock is its only credential: it holds on public routes too.
    if let AuthConfig::None {
        ip_lock: Some(lock),
    } = &config.plugin.auth
    {
        check_address_lock(config, head, lock, facts)?;
    }
    let anonymous = || {
        Ok(Decision::Allow(Identity {
            caller: Caller::Anonymous,
            ..Identity::default()
        }))
    };
    if rule.access == Access::Public {
        return anonymous();
    }
    match &config.plugin.auth {
        AuthConfig::None { .. } => anonymous(),
        AuthConfig::ServiceHttp {
            authorization_type, ..
        } => check_shared_secret(config, head, authorization_type.scheme()),
        AuthConfig::UserHttp { authorization_type } => {
            check_api_key(config, rule, authorization_type.scheme(), facts.api_key)
        }
        AuthConfig::OAuth { .. } => check_access_token(config, head, rule, facts),
    }
}

/// A `none` plugin locked to addresses: the caller's must be in OpenAI's egress ranges or the
/// listed CIDRs, or (where the plugin allows it) a trusted agent signed the call.
fn check_address_lock(
    config: &Config,
    head: &RequestHead,
    lock: &crate::proxy::auth::IpLock,
    facts: &Facts<'_>,
) -> Result<(), ApiError> {
    // Only the address Cloudflare saw: X-Forwarded-For and kin are the caller's words.
    let ip: Option<IpAddr> = head.client_ip().and_then(|v| v.trim().parse().ok());
    let allowed = ip.is_some_and(|ip| {
        (lock.openai && facts.openai_ranges.contains(ip)) || lock.extra.contains(ip)
    }) || (config.plugin.agents.instead_of_ip
        && facts.agent.and_then(AgentCheck::agent).is_some());
    if !allowed {
        return Err(ApiError::Forbidden(
            "this API only accepts calls from its assistant's published addresses".into(),
        ));
    }
    Ok(())
}

/// `service_http`: the plugin's one shared secret, compared in constant time.
fn check_shared_secret(
    config: &Config,
    head: &RequestHead,
    scheme: &'static str,
) -> Result<Decision, ApiError> {
    let credential = credential(head, scheme, config)?;
    let ok = config
        .service_token
        .as_ref()
        .is_some_and(|secret| secret.matches(credential));
    if !ok {
        return Err(unauthorized(
            config,
            scheme,
            Some("invalid_token"),
            "the service credential is not valid",
        ));
    }
    Ok(Decision::Allow(Identity {
        caller: Caller::SharedSecret,
        ..Identity::default()
    }))
}

/// `user_http`: the presented API key's record (`None`: no such key), for this plugin, live, with
/// the rule's scopes.
fn check_api_key(
    config: &Config,
    rule: &crate::proxy::rules::CompiledRule,
    scheme: &'static str,
    key: Option<&ApiKeyRecord>,
) -> Result<Decision, ApiError> {
    let invalid = |why: &str| unauthorized(config, scheme, Some("invalid_token"), why);
    let key = key.ok_or_else(|| invalid("the API key is not valid"))?;
    // A key works only at the plugin it was issued for; one from before keys named
    // their plugin, only where it can have been issued.
    let issued_here = match &key.plugin {
        Some(plugin) => *plugin == config.plugin.name_for_model,
        None => config.takes_unbound_api_keys,
    };
    if !issued_here {
        return Err(invalid("the API key was not issued for this plugin"));
    }
    if key.revoked {
        return Err(invalid("the API key was revoked"));
    }
    if key.user_disabled {
        return Err(invalid("the API key's user is disabled"));
    }
    if let Some(missing) = rule.scopes.iter().find(|s| !key.scopes.contains(s)) {
        return Err(ApiError::InsufficientScope(Box::new(Challenge {
            scheme,
            realm: config.plugin.name_for_model.clone(),
            resource_metadata: None,
            error: Some("insufficient_scope"),
            error_description: Some(format!("the API key lacks the scope {missing}")),
            scope: Some(rule.scopes.join(" ")),
            ..Default::default()
        })));
    }
    Ok(Decision::Allow(Identity {
        subject: Some(key.user_id.clone()),
        client_id: Some(format!("api-key:{}", key.id)),
        scopes: key.scopes.clone(),
        caller: Caller::ApiKey,
        agent: None,
    }))
}

/// `oauth`: our access token, verified (from the isolate's cache where it was seen), with the
/// rule's scopes and, for a bound token, its DPoP proof.
fn check_access_token(
    config: &Config,
    head: &RequestHead,
    rule: &crate::proxy::rules::CompiledRule,
    facts: &Facts<'_>,
) -> Result<Decision, ApiError> {
    // A 401 names the scope the route needs, so a client (an MCP client, say) can ask
    // for it; `offline_access` is never a resource's scope.
    let with_scope = |e: ApiError| match e {
        ApiError::Unauthorized(mut challenge) => {
            let needed = challenge_scope(&rule.scopes);
            challenge.scope = (!needed.is_empty()).then_some(needed);
            ApiError::Unauthorized(challenge)
        }
        other => other,
    };
    let (scheme, token) = access_token_credential(head, config, rule.dpop).map_err(with_scope)?;
    let policy = VerifyPolicy {
        issuer: &config.public_base_url,
        audience: Some(&config.plugin.resource),
        now: facts.now,
    };
    let verified = match (facts.verified_tokens, facts.looked_up) {
        (Some(cache), Some((seen, key))) if seen == token => {
            cache
                .borrow_mut()
                .verify_keyed(key, token, &config.keys, &policy)
        }
        (Some(cache), _) => cache.borrow_mut().verify(token, &config.keys, &policy),
        (None, _) => verify_access_token(token, &config.keys, &policy),
    };
    let verified = verified.map_err(|rejection: TokenRejection| {
        with_scope(unauthorized(
            config,
            scheme,
            Some("invalid_token"),
            rejection.description(),
        ))
    })?;
    if let Some(missing) = verified.missing_scope(&rule.scopes) {
        return Err(ApiError::InsufficientScope(Box::new(Challenge {
            scheme: "Bearer",
            realm: config.plugin.name_for_model.clone(),
            resource_metadata: Some(config.resource_metadata_url()),
            error: Some("insufficient_scope"),
            error_description: Some(format!("the token lacks the scope {missing}")),
            scope: Some(challenge_scope(&rule.scopes)),
            ..Default::default()
        })));
    }
    if let Some(proof) = crate::proxy::dpop::dpop_binding(
        config,
        head,
        (scheme, token),
        &verified,
        rule.dpop,
        facts.proof,
        facts.now,
    )? {
        return Ok(Decision::NeedProof(proof));
    }
    Ok(Decision::Allow(Identity {
        subject: Some(verified.subject),
        client_id: Some(verified.client_id),
        scopes: verified.scopes,
        caller: if verified.machine {
            Caller::MachineClient
        } else {
            Caller::UserToken
        },
        agent: None,
    }))
}

/// The scopes a challenge names: the route's, without `offline_access` (a grant property, not a
/// resource's scope).
pub fn challenge_scope(scopes: &[String]) -> String {
    scopes
        .iter()
        .filter(|s| *s != "offline_access")
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn unauthorized(
    config: &Config,
    scheme: &'static str,
    error: Option<&'static str>,
    description: &str,
) -> ApiError {
    ApiError::Unauthorized(Box::new(Challenge {
        scheme,
        realm: config.plugin.name_for_model.clone(),
        resource_metadata: matches!(scheme, "Bearer" | "DPoP")
            .then(|| config.resource_metadata_url()),
        error,
        error_description: error.map(|_| description.to_string()),
        scope: None,
        // RFC 9449 §7.1: a DPoP challenge names the proof algorithms accepted.
        algs: (scheme == "DPoP").then(|| dpop::SIGNING_ALGS.join(" ")),
        ..Default::default()
    }))
}

/// The credential after `scheme` in the one `Authorization` header (RFC 6750 §2.1, RFC 7617).
fn credential<'a>(
    head: &'a RequestHead,
    scheme: &'static str,
    config: &Config,
) -> Result<&'a str, ApiError> {
    let header = head
        .authorization()
        .map_err(|e| {
            ApiError::BadRequest(
                match e {
                    AuthorizationError::Several => "send one Authorization header, not several",
                    AuthorizationError::TooLong => "the Authorization header is too long",
                }
                .into(),
            )
        })?
        .filter(|h| h.is(scheme))
        .ok_or_else(|| unauthorized(config, scheme, None, ""))?;
    let credential = header.token68().ok_or_else(|| {
        unauthorized(
            config,
            scheme,
            Some("invalid_request"),
            "the Authorization header is malformed",
        )
    })?;
    if scheme == "Basic" && STANDARD.decode(credential).is_err() {
        return Err(unauthorized(
            config,
            scheme,
            Some("invalid_request"),
            "the Basic credential is not base64",
        ));
    }
    Ok(credential)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::raw;
    use crate::http::Method;
    use crate::oauth::access_token::{mint_access_token, AccessClaims, Audience};

    pub(crate) const NOW: i64 = 1_790_000_000;
    static NO_RANGES: std::sync::LazyLock<IpRanges> = std::sync::LazyLock::new(IpRanges::default);

    pub(crate) fn facts() -> Facts<'static> {
        Facts {
            now: NOW,
            openai_ranges: &NO_RANGES,
            api_key: None,
            verified_tokens: None,
            looked_up: None,
            proof: None,
            agent: None,
        }
    }

    pub(crate) fn config() -> Config {
        Config::parse(raw()).unwrap()
    }

    pub(crate) fn claims(config: &Config, scope: &str, aud: &str) -> AccessClaims {
        AccessClaims {
            iss: config.public_base_url.clone(),
            sub: "user_1".into(),
            aud: Audience::One(aud.into()),
            jti: "j1".into(),
            client_id: "chatgpt".into(),
            scope: scope.into(),
            gid: None,
            gty: None,
            cnf: None,
            act: None,
        }
    }

    pub(crate) fn token(config: &Config, scope: &str, aud: &str) -> String {
        mint_access_token(&config.keys, claims(config, scope, aud), NOW, 3600).unwrap()
    }

    pub(crate) fn head(method: Method, path: &str) -> RequestHead {
        RequestHead::new(method, path)
    }

    #[test]
    fn a_protected_route_without_a_token_gets_a_bare_challenge() {
        let c = config();
        let e = authorize(&c, &head(Method::Get, "/todos"), 0, &facts()).unwrap_err();
        let reply = e.to_reply();
        assert_eq!(reply.status, 401);
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("Bearer realm=\"todo_demo\""));
        assert!(!challenge.contains("error="));
        assert!(challenge.contains("scope=\"todos:read\""), "{challenge}");
        assert!(challenge.contains(
            "resource_metadata=\"https://todo.example.com/.well-known/oauth-protected-resource\""
        ));
    }

    #[test]
    fn challenges_never_name_offline_access() {
        let scopes = vec!["offline_access".to_string(), "todos:read".to_string()];
        assert_eq!(challenge_scope(&scopes), "todos:read");
        assert_eq!(challenge_scope(&scopes[..1]), "");
    }

    #[test]
    fn a_valid_token_with_the_scope_passes_as_its_user() {
        let c = config();
        let t = token(&c, "todos:read", &c.plugin.resource);
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("Bearer {t}"));
        let id = authorize(&c, &h, 0, &facts()).unwrap();
        assert_eq!(id.subject.as_deref(), Some("user_1"));
        assert_eq!(id.client_id.as_deref(), Some("chatgpt"));
        assert_eq!(id.caller, Caller::UserToken);
    }

    #[test]
    fn a_machine_clients_token_passes_as_that_client() {
        let c = config();
        let machine = AccessClaims {
            sub: "chatgpt".into(),
            gty: Some(crate::oauth::access_token::MACHINE_GRANT.into()),
            ..claims(&c, "todos:read", &c.plugin.resource)
        };
        let t = mint_access_token(&c.keys, machine, NOW, 3600).unwrap();
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("Bearer {t}"));
        let id = authorize(&c, &h, 0, &facts()).unwrap();
        assert_eq!(id.caller, Caller::MachineClient);
        assert_eq!(id.user(), None);
        assert_eq!(id.client_id.as_deref(), Some("chatgpt"));
        let user = authorize(
            &c,
            &head(Method::Get, "/todos").with_header(
                "authorization",
                &format!("Bearer {}", token(&c, "todos:read", &c.plugin.resource)),
            ),
            0,
            &facts(),
        )
        .unwrap();
        assert_eq!(user.caller, Caller::UserToken);
    }

    #[test]
    fn a_cached_token_is_still_checked_against_each_plugin() {
        let c = config();
        let cache = RefCell::new(VerifiedTokenCache::default());
        let with_cache = Facts {
            verified_tokens: Some(&cache),
            ..facts()
        };
        let t = token(&c, "todos:read", &c.plugin.resource);
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("Bearer {t}"));
        assert!(authorize(&c, &h, 0, &with_cache).is_ok());
        assert_eq!(cache.borrow().len(), 1);
        assert_eq!(
            authorize(&c, &h, 0, &with_cache)
                .unwrap()
                .subject
                .as_deref(),
            Some("user_1")
        );
        // Another plugin (another issuer and resource) refuses the cached token.
        let mut other = raw();
        other.public_base_url = Some("https://notes.example.com".into());
        let other = Config::parse(other).unwrap();
        let e = authorize(&other, &h, 0, &with_cache).unwrap_err();
        assert_eq!(e.status(), 401);
        // And a cached token without the route's scope is still 403.
        let write =
            head(Method::Post, "/todos").with_header("authorization", &format!("Bearer {t}"));
        assert_eq!(
            authorize(&c, &write, 1, &with_cache).unwrap_err().status(),
            403
        );
    }

    #[test]
    fn only_oauth_token_routes_have_a_bearer_to_verify() {
        let c = config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer abc");
        assert_eq!(bearer_to_verify(&c, &h, 0), Some("abc"));
        assert_eq!(bearer_to_verify(&c, &head(Method::Get, "/todos"), 0), None);
        // Rule 2 is public.
        assert_eq!(bearer_to_verify(&c, &h, 2), None);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let c = config();
        let t = token(&c, "todos:read", &c.plugin.resource);
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("bearer {t}"));
        assert!(authorize(&c, &h, 0, &facts()).is_ok());
    }

    #[test]
    fn a_token_without_the_rules_scope_is_403_naming_it() {
        let c = config();
        let t = token(&c, "todos:read", &c.plugin.resource);
        let h = head(Method::Post, "/todos").with_header("authorization", &format!("Bearer {t}"));
        let reply = authorize(&c, &h, 1, &facts()).unwrap_err().to_reply();
        assert_eq!(reply.status, 403);
        assert!(reply
            .header("www-authenticate")
            .unwrap()
            .contains("scope=\"todos:write\""));
    }

    #[test]
    fn a_token_for_another_resource_is_401_invalid_token() {
        let c = config();
        let t = token(&c, "todos:read", "https://other.example.com");
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("Bearer {t}"));
        let reply = authorize(&c, &h, 0, &facts()).unwrap_err().to_reply();
        assert_eq!(reply.status, 401);
        assert!(reply
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }

    #[test]
    fn two_authorization_headers_are_400() {
        let c = config();
        let h = head(Method::Get, "/todos")
            .with_header("authorization", "Bearer a")
            .with_header("authorization", "Bearer b");
        assert_eq!(authorize(&c, &h, 0, &facts()).unwrap_err().status(), 400);
    }

    #[test]
    fn another_scheme_gets_the_bare_challenge() {
        let c = config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Basic dXNlcjpwYXNz");
        let e = authorize(&c, &h, 0, &facts()).unwrap_err();
        assert_eq!(e.code(), "unauthorized");
    }

    #[test]
    fn a_malformed_credential_is_invalid_request() {
        let c = config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer a b\"c");
        let reply = authorize(&c, &h, 0, &facts()).unwrap_err().to_reply();
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json_body().unwrap()["error"], "invalid_request");
    }

    #[test]
    fn public_rules_pass_anyone_and_deny_rules_refuse_everyone() {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["routes"] = serde_json::json!([
            {"path": "/open", "access": "public"},
            {"path": "/closed", "access": "deny"}
        ]);
        let c = Config::parse(raw).unwrap();
        assert_eq!(
            authorize(&c, &head(Method::Get, "/open"), 0, &facts())
                .unwrap()
                .caller,
            Caller::Anonymous
        );
        assert_eq!(
            authorize(&c, &head(Method::Get, "/closed"), 1, &facts())
                .unwrap_err()
                .status(),
            403
        );
    }

    fn service_config(kind: &str) -> Config {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] =
            serde_json::json!({"type": "service_http", "authorization_type": kind});
        raw.service_token = Some("0123456789abcdef-service".into());
        Config::parse(raw).unwrap()
    }

    fn locked_config() -> Config {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] =
            serde_json::json!({"type": "none", "openai_egress_only": true});
        Config::parse(raw).unwrap()
    }

    #[test]
    fn an_openai_locked_plugin_admits_only_openai_addresses() {
        let c = locked_config();
        let openai = IpRanges::parse(["23.102.140.112/28"]).unwrap();
        let from = |ip: &str| head(Method::Get, "/todos").with_header("cf-connecting-ip", ip);
        assert!(authorize(
            &c,
            &from("23.102.140.113"),
            0,
            &Facts {
                now: NOW,
                openai_ranges: &openai,
                api_key: None,
                verified_tokens: None,
                looked_up: None,
                proof: None,
                agent: None,
            }
        )
        .is_ok());
        assert_eq!(
            authorize(
                &c,
                &from("8.8.8.8"),
                0,
                &Facts {
                    now: NOW,
                    openai_ranges: &openai,
                    api_key: None,
                    verified_tokens: None,
                    looked_up: None,
                    proof: None,
                    agent: None,
                }
            )
            .unwrap_err()
            .status(),
            403
        );
        assert_eq!(
            authorize(
                &c,
                &head(Method::Get, "/todos"),
                0,
                &Facts {
                    now: NOW,
                    openai_ranges: &openai,
                    api_key: None,
                    verified_tokens: None,
                    looked_up: None,
                    proof: None,
                    agent: None,
                }
            )
            .unwrap_err()
            .status(),
            403
        );
    }

    #[test]
    fn x_forwarded_for_cannot_spoof_the_allowlist() {
        let c = locked_config();
        let openai = IpRanges::parse(["23.102.140.112/28"]).unwrap();
        let spoofed = head(Method::Get, "/todos")
            .with_header("cf-connecting-ip", "198.51.100.7")
            .with_header("x-forwarded-for", "23.102.140.113")
            .with_header("x-real-ip", "23.102.140.113");
        assert_eq!(
            authorize(
                &c,
                &spoofed,
                0,
                &Facts {
                    now: NOW,
                    openai_ranges: &openai,
                    api_key: None,
                    verified_tokens: None,
                    looked_up: None,
                    proof: None,
                    agent: None,
                }
            )
            .unwrap_err()
            .status(),
            403
        );
    }

    fn user_http_config() -> Config {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] = serde_json::json!({"type": "user_http"});
        Config::parse(raw).unwrap()
    }

    fn key(scopes: &[&str]) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "key_1".into(),
            plugin: Some("todo_demo".into()),
            user_id: "usr_demo".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            revoked: false,
            user_disabled: false,
            last_used_at: None,
        }
    }

    #[test]
    fn user_http_passes_a_live_key_as_its_user() {
        let c = user_http_config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer pk_abc");
        assert_eq!(
            presented_api_key_hash(&c, &h, 0).unwrap(),
            Some(crate::primitives::hash::sha256_hex("pk_abc"))
        );
        let record = key(&["todos:read"]);
        let id = authorize(
            &c,
            &h,
            0,
            &Facts {
                api_key: Some(&record),
                ..facts()
            },
        )
        .unwrap();
        assert_eq!(id.subject.as_deref(), Some("usr_demo"));
        assert_eq!(id.caller, Caller::ApiKey);
    }

    #[test]
    fn user_http_refuses_unknown_revoked_and_disabled_keys_and_missing_scopes() {
        let c = user_http_config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer pk_abc");
        assert_eq!(authorize(&c, &h, 0, &facts()).unwrap_err().status(), 401);
        let mut revoked = key(&["todos:read"]);
        revoked.revoked = true;
        let e = authorize(
            &c,
            &h,
            0,
            &Facts {
                api_key: Some(&revoked),
                ..facts()
            },
        )
        .unwrap_err();
        assert_eq!(e.description(), "the API key was revoked");
        let mut disabled = key(&["todos:read"]);
        disabled.user_disabled = true;
        assert_eq!(
            authorize(
                &c,
                &h,
                0,
                &Facts {
                    api_key: Some(&disabled),
                    ..facts()
                }
            )
            .unwrap_err()
            .status(),
            401
        );
        let narrow = key(&[]);
        assert_eq!(
            authorize(
                &c,
                &h,
                0,
                &Facts {
                    api_key: Some(&narrow),
                    ..facts()
                }
            )
            .unwrap_err()
            .status(),
            403
        );
        let none = head(Method::Get, "/todos");
        assert_eq!(
            presented_api_key_hash(&c, &none, 0).unwrap_err().status(),
            401
        );
    }

    /// Two `user_http` plugins on one deployment: `todo_demo` and `notes`, each on its host.
    fn two_key_plugins() -> crate::config::Deployment {
        let mut todo = crate::config::tests::plugin_json();
        todo["auth"] = serde_json::json!({"type": "user_http"});
        todo["hosts"] = serde_json::json!(["todo.example.com"]);
        let mut notes = todo.clone();
        notes["name_for_model"] = serde_json::json!("notes");
        notes["hosts"] = serde_json::json!(["notes.example.com"]);
        let mut raw = raw();
        raw.plugin = None;
        raw.public_base_url = None;
        raw.plugins = Some(serde_json::json!([todo, notes]));
        crate::config::Deployment::parse(raw).unwrap()
    }

    #[test]
    fn an_api_key_issued_at_one_plugin_is_refused_at_another_cached_or_not() {
        use crate::proxy::api_key_cache::ApiKeyCache;
        let d = two_key_plugins();
        let todo = d.site("todo.example.com").unwrap();
        let notes = d.site("notes.example.com").unwrap();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer pk_abc");
        // The directory's answer for this key, whichever plugin asks: issued at `todo_demo`.
        let stored = key(&["todos:read"]);
        // The edge's loop over one isolate's cache: a miss reads the directory and keeps it.
        let mut cache = ApiKeyCache::default();
        let mut reads = 0;
        let mut call = |site: &Config| {
            let Step::NeedApiKey(hash) = step(site, &h, 0, &Known::default(), NOW, None) else {
                panic!("a user_http route asks for the key first");
            };
            let plugin = &site.plugin.name_for_model;
            let record = cache.fresh(plugin, &hash, 0, 60).unwrap_or_else(|| {
                reads += 1;
                cache.insert(plugin, &hash, Some(stored.clone()), 0);
                Some(stored.clone())
            });
            let known = Known {
                api_key: Some(record),
                ..Known::default()
            };
            step(site, &h, 0, &known, NOW, None)
        };
        assert!(matches!(call(todo), Step::Allow(id) if id.caller == Caller::ApiKey));
        assert!(matches!(call(todo), Step::Allow(_)));
        // At the other plugin the key is read again, not served from the first one's entry, and
        // refused as RFC 6750 says: 401, `invalid_token`, a Bearer challenge in its realm.
        for _ in 0..2 {
            let Step::Refuse(e) = call(notes) else {
                panic!("a key issued at todo_demo passed at notes");
            };
            let reply = e.to_reply();
            assert_eq!(reply.status, 401);
            assert_eq!(reply.json_body().unwrap()["error"], "invalid_token");
            let challenge = reply.header("www-authenticate").unwrap();
            assert!(
                challenge.starts_with("Bearer realm=\"notes\""),
                "{challenge}"
            );
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        }
        assert_eq!(reads, 2, "one read per plugin, then the cache");
    }

    #[test]
    fn a_key_that_names_no_plugin_works_only_where_one_plugin_takes_keys() {
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer pk_abc");
        let unbound = ApiKeyRecord {
            plugin: None,
            ..key(&["todos:read"])
        };
        let with = |site: &Config| {
            authorize(
                site,
                &h,
                0,
                &Facts {
                    api_key: Some(&unbound),
                    ..facts()
                },
            )
        };
        // One user_http plugin: the only one such a key can have been issued for.
        assert!(with(&user_http_config()).is_ok());
        // Two: it works at neither.
        let d = two_key_plugins();
        for host in ["todo.example.com", "notes.example.com"] {
            let e = with(d.site(host).unwrap()).unwrap_err();
            assert_eq!((e.status(), e.code()), (401, "invalid_token"), "{host}");
        }
    }

    #[test]
    fn service_http_accepts_exactly_the_shared_secret() {
        let c = service_config("bearer");
        let good = head(Method::Get, "/todos")
            .with_header("authorization", "Bearer 0123456789abcdef-service");
        assert_eq!(
            authorize(&c, &good, 0, &facts()).unwrap().caller,
            Caller::SharedSecret
        );
        let bad = head(Method::Get, "/todos")
            .with_header("authorization", "Bearer 0123456789abcdef-servicX");
        assert_eq!(authorize(&c, &bad, 0, &facts()).unwrap_err().status(), 401);
    }

    #[test]
    fn service_http_basic_challenges_with_basic() {
        let c = service_config("basic");
        let e = authorize(&c, &head(Method::Get, "/todos"), 0, &facts()).unwrap_err();
        assert_eq!(
            e.to_reply().header("www-authenticate"),
            Some("Basic realm=\"todo_demo\"")
        );
    }

    #[test]
    fn the_step_function_asks_for_each_fact_once_then_decides() {
        // An OpenAI-locked plugin: the ranges first, then the decision.
        let c = locked_config();
        let h = head(Method::Get, "/todos").with_header("cf-connecting-ip", "23.102.140.113");
        let mut known = Known::default();
        assert!(matches!(
            step(&c, &h, 0, &known, NOW, None),
            Step::NeedEgressRanges
        ));
        known.openai_ranges = Some(std::rc::Rc::new(
            IpRanges::parse(["23.102.140.112/28"]).unwrap(),
        ));
        assert!(matches!(step(&c, &h, 0, &known, NOW, None), Step::Allow(_)));

        // A user_http plugin: the key by its hash, then the decision, either way.
        let c = user_http_config();
        let h = head(Method::Get, "/todos").with_header("authorization", "Bearer pk_abc");
        let mut known = Known::default();
        match step(&c, &h, 0, &known, NOW, None) {
            Step::NeedApiKey(hash) => {
                assert_eq!(hash, crate::primitives::hash::sha256_hex("pk_abc"))
            }
            other => panic!("{other:?}"),
        }
        known.api_key = Some(Some(key(&["todos:read"])));
        assert!(
            matches!(step(&c, &h, 0, &known, NOW, None), Step::Allow(id) if id.caller == Caller::ApiKey)
        );
        known.api_key = Some(None);
        assert!(matches!(
            step(&c, &h, 0, &known, NOW, None),
            Step::Refuse(ApiError::Unauthorized(_))
        ));
        // A malformed credential is refused before any lookup.
        let bad = head(Method::Get, "/todos").with_header("authorization", "Bearer a b");
        assert!(matches!(
            step(&c, &bad, 0, &Known::default(), NOW, None),
            Step::Refuse(_)
        ));
    }

    #[test]
    fn a_token_is_sent_to_the_platform_once_and_a_cached_one_never() {
        let c = config();
        let t = token(&c, "todos:read", &c.plugin.resource);
        let h = head(Method::Get, "/todos").with_header("authorization", &format!("Bearer {t}"));
        let cache = RefCell::new(VerifiedTokenCache::default());
        let mut known = Known::default();
        match step(&c, &h, 0, &known, NOW, Some(&cache)) {
            Step::NeedSignature(token, _) => assert_eq!(token, t),
            other => panic!("{other:?}"),
        }
        // Asked once: whatever the platform said, the decision follows (here the platform could
        // not say, so the token is verified in wasm).
        known.signature_checked = Some(VerifiedTokenCache::key(&t));
        assert!(matches!(
            step(&c, &h, 0, &known, NOW, Some(&cache)),
            Step::Allow(_)
        ));
        // Once the cache holds it, no signature is asked for.
        assert_eq!(cache.borrow().len(), 1);
        assert!(matches!(
            step(&c, &h, 0, &Known::default(), NOW, Some(&cache)),
            Step::Allow(_)
        ));
        // A public route needs nothing.
        let open = head(Method::Get, "/public/hello");
        let rule = match crate::routes::route(&c, &open) {
            Ok(crate::routes::Endpoint::Proxy(rule)) => rule,
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(step(&c, &open, rule, &Known::default(), NOW, None), Step::Allow(id) if id.caller == Caller::Anonymous)
        );
    }

    mod signed_agents {
        use super::*;
        use crate::config::tests::raw;
        use serde_json::json;

        const CHATGPT: &str = "https://chatgpt.com";

        fn with_agents(
            auth: serde_json::Value,
            agents: serde_json::Value,
            route: Option<serde_json::Value>,
        ) -> Config {
            let mut r = raw();
            let plugin = r.plugin.as_mut().unwrap();
            plugin["auth"] = auth;
            plugin["agents"] = agents;
            if let Some(list) = route {
                plugin["routes"][0]["agents"] = list;
            }
            Config::parse(r).unwrap()
        }

        fn facts_with(agent: Option<&AgentCheck>) -> Facts<'_> {
            Facts { agent, ..facts() }
        }

        #[test]
        fn a_verified_agent_is_named_to_the_origin_and_a_route_that_needs_one_refuses_others() {
            let c = with_agents(
                json!({"type": "none"}),
                json!({"trusted": ["chatgpt.com", "claude.ai"]}),
                Some(json!(["chatgpt.com"])),
            );
            let h = head(Method::Get, "/todos");
            let chatgpt = AgentCheck::Verified(CHATGPT.into());
            let id = authorize(&c, &h, 0, &facts_with(Some(&chatgpt))).unwrap();
            assert_eq!(id.agent.as_deref(), Some(CHATGPT));
            let claude = AgentCheck::Verified("https://claude.ai".into());
            let refused = AgentCheck::Refused("the signature expired".into());
            for (why, agent) in [
                ("unsigned", None),
                ("another agent", Some(&claude)),
                ("refused", Some(&refused)),
            ] {
                let e = authorize(&c, &h, 0, &facts_with(agent)).unwrap_err();
                assert_eq!(e.status(), 403, "{why}");
            }
            // A route without its own list, on a plugin that does not require: anyone, and the
            // agent named when one signed.
            let post = head(Method::Post, "/todos");
            assert_eq!(authorize(&c, &post, 1, &facts()).unwrap().agent, None);
            assert_eq!(
                authorize(&c, &post, 1, &facts_with(Some(&claude)))
                    .unwrap()
                    .agent
                    .as_deref(),
                Some("https://claude.ai")
            );
            // A refused signature names nobody.
            assert_eq!(
                authorize(&c, &post, 1, &facts_with(Some(&refused)))
                    .unwrap()
                    .agent,
                None
            );
        }

        #[test]
        fn a_plugin_that_requires_agents_refuses_unsigned_calls_but_not_on_public_routes() {
            let c = with_agents(
                json!({"type": "none"}),
                json!({"trusted": ["chatgpt.com"], "require": true}),
                None,
            );
            assert_eq!(
                authorize(&c, &head(Method::Get, "/todos"), 0, &facts())
                    .unwrap_err()
                    .status(),
                403
            );
            let chatgpt = AgentCheck::Verified(CHATGPT.into());
            assert!(authorize(
                &c,
                &head(Method::Get, "/todos"),
                0,
                &facts_with(Some(&chatgpt))
            )
            .is_ok());
            assert!(authorize(&c, &head(Method::Get, "/public/x"), 2, &facts()).is_ok());
        }

        #[test]
        fn a_signature_stands_in_for_the_address_lock_only_when_asked_to() {
            let from = |ip: &str| head(Method::Get, "/todos").with_header("cf-connecting-ip", ip);
            let chatgpt = AgentCheck::Verified(CHATGPT.into());
            let refused =
                AgentCheck::Refused("no trusted agent's directory holds the signing key".into());
            let instead = with_agents(
                json!({"type": "none", "allowed_cidrs": ["203.0.113.0/24"]}),
                json!({"trusted": ["chatgpt.com"], "instead_of_ip": true}),
                None,
            );
            assert!(authorize(
                &instead,
                &from("198.51.100.1"),
                0,
                &facts_with(Some(&chatgpt))
            )
            .is_ok());
            assert!(authorize(&instead, &from("203.0.113.9"), 0, &facts()).is_ok());
            assert_eq!(
                authorize(
                    &instead,
                    &from("198.51.100.1"),
                    0,
                    &facts_with(Some(&refused))
                )
                .unwrap_err()
                .status(),
                403
            );
            assert_eq!(
                authorize(&instead, &from("198.51.100.1"), 0, &facts())
                    .unwrap_err()
                    .status(),
                403
            );
            // Both: the address and the signature.
            let both = with_agents(
                json!({"type": "none", "allowed_cidrs": ["203.0.113.0/24"]}),
                json!({"trusted": ["chatgpt.com"], "require": true}),
                None,
            );
            assert_eq!(
                authorize(&both, &from("198.51.100.1"), 0, &facts_with(Some(&chatgpt)))
                    .unwrap_err()
                    .status(),
                403
            );
            assert_eq!(
                authorize(&both, &from("203.0.113.9"), 0, &facts())
                    .unwrap_err()
                    .status(),
                403
            );
            assert!(authorize(&both, &from("203.0.113.9"), 0, &facts_with(Some(&chatgpt))).is_ok());
        }

        #[test]
        fn the_step_asks_for_a_check_only_when_agents_are_trusted_and_the_call_is_signed() {
            let signed = head(Method::Get, "/todos")
                .with_header("signature-agent", "\"https://chatgpt.com\"")
                .with_header("signature-input", &format!(r#"sig1=("@authority" "@method" "@path" "signature-agent");created={NOW};expires={};keyid="k""#, NOW + 60))
                .with_header("signature", "sig1=:AAAA:");
            let trusting = with_agents(
                json!({"type": "none"}),
                json!({"trusted": ["chatgpt.com"]}),
                None,
            );
            match step(&trusting, &signed, 0, &Known::default(), NOW, None) {
                Step::NeedAgent(call) => {
                    assert_eq!(call.agent.as_deref(), Some(CHATGPT));
                    assert!(String::from_utf8_lossy(&call.base)
                        .starts_with("\"@authority\": todo.example.com\n"));
                }
                other => panic!("{other:?}"),
            }
            let known = Known {
                agent: Some(AgentCheck::Verified(CHATGPT.into())),
                ..Known::default()
            };
            assert!(
                matches!(step(&trusting, &signed, 0, &known, NOW, None), Step::Allow(id) if id.agent.as_deref() == Some(CHATGPT))
            );
            // A plugin that trusts no agent ignores signatures: no I/O for them.
            let plain = with_agents(json!({"type": "none"}), json!({}), None);
            assert!(
                matches!(step(&plain, &signed, 0, &Known::default(), NOW, None), Step::Allow(id) if id.agent.is_none())
            );
            // An unreadable signature is refused without I/O.
            let broken = head(Method::Get, "/todos").with_header("signature", "sig1=:AAAA:");
            let requiring = with_agents(
                json!({"type": "none"}),
                json!({"trusted": ["chatgpt.com"], "require": true}),
                None,
            );
            match step(&requiring, &broken, 0, &Known::default(), NOW, None) {
                Step::Refuse(e) => assert_eq!(e.status(), 403),
                other => panic!("{other:?}"),
            }
        }
    }
}
