//! The scope decision: which of the requested scopes a user gets, on which API resource.
//!
//! Logto's model: the `resource` parameter (RFC 8707) names the API resource, or the default
//! resource applies when none is sent (ChatGPT plugins and GPT Actions never send one). Granted
//! scopes are the requested ones that the user's roles hold as permissions on that resource;
//! unknown and unheld scopes are dropped, not errors. OpenID Connect scopes are not resource
//! permissions and pass through when requested. An explicit resource we do not know is
//! `invalid_target`.

use serde::{Deserialize, Serialize};

use crate::jose::keys::SigningAlg;

/// Scopes that belong to the authorization server, not to any API resource.
pub const OPENID_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An API resource as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    /// The RFC 8707 indicator: the token's `aud`.
    pub indicator: String,
    pub access_token_ttl_secs: i64,
    /// What its access tokens are signed with; grants stored before the choice existed read as
    /// EdDSA, which is what they got.
    #[serde(default)]
    pub access_token_alg: SigningAlg,
}

/// What the policy store loads for one decision, in one round trip: the resource (the named one,
/// or the default) and the permissions the user's (or machine client's) roles hold on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeContext {
    pub resource: Option<Resource>,
    /// The resource's name in the directory, for the consent screen (empty when it has none).
    pub resource_name: String,
    pub permissions: Vec<String>,
    /// Human descriptions of those permissions, for the consent screen.
    pub descriptions: Vec<(String, String)>,
    /// The scopes this user already allowed this client on this resource (remembered consent);
    /// `None` when the user never consented to this client there.
    pub consented: Option<Vec<String>>,
}

impl ScopeContext {
    /// What the consent screen says of a scope: its description, or the scope itself.
    pub fn describe(&self, scope: &str) -> String {
        if let Some((_, d)) = self
            .descriptions
            .iter()
            .find(|(s, d)| s == scope && !d.is_empty())
        {
            return d.clone();
        }
        match scope {
            "openid" => "Know who you are".into(),
            "profile" => "See your name".into(),
            "email" => "See your email address".into(),
            "offline_access" => "Keep access while you are away".into(),
            other => other.to_string(),
        }
    }
}

/// The outcome of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeGrant {
    pub resource: Option<Resource>,
    /// The resource's name, for the consent screen (see [`ScopeContext::resource_name`]).
    pub resource_name: String,
    pub scopes: Vec<String>,
    /// `(scope, description)` for each granted scope.
    pub described: Vec<(String, String)>,
    /// Everything the user allowed this client on this resource before (not asked again);
    /// `None` when the user never consented to this client there.
    pub consented: Option<Vec<String>>,
}

impl ScopeGrant {
    /// The granted scopes the user has not yet allowed this client (incremental consent).
    pub fn new_scopes(&self) -> Vec<(String, String)> {
        let held = self.consented.as_deref().unwrap_or_default();
        self.described
            .iter()
            .filter(|(s, _)| !held.contains(s))
            .cloned()
            .collect()
    }

    /// Whether the user already allowed this client everything granted, so no consent page is
    /// needed (the user must have consented to the client at least once).
    pub fn already_consented(&self) -> bool {
        self.consented
            .as_ref()
            .is_some_and(|held| self.scopes.iter().all(|s| held.contains(s)))
    }

    /// What the user has allowed the client once they allow this grant: before ∪ now.
    pub fn consent_after_allowing(&self) -> Vec<String> {
        let mut all = self.consented.clone().unwrap_or_default();
        for scope in &self.scopes {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        all
    }
}

/// The requested resource is not one we know (RFC 8707 §2 `invalid_target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTarget;

/// Splits a `scope` parameter into distinct tokens, in request order.
pub fn parse_scope(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    out
}

/// Decides the granted scopes. `resource_param` is what the client sent; `context` is what the
/// store found for it (or for the default resource when `resource_param` is `None`).
pub fn decide_scopes(
    requested: &[String],
    resource_param: Option<&str>,
    context: &ScopeContext,
) -> Result<ScopeGrant, InvalidTarget> {
    if resource_param.is_some() && context.resource.is_none() {
        return Err(InvalidTarget);
    }
    let scopes: Vec<String> = requested
        .iter()
        .filter(|s| {
            OPENID_SCOPES.contains(&s.as_str())
                || (context.resource.is_some() && context.permissions.contains(s))
        })
        .cloned()
        .collect();
    let described = scopes
        .iter()
        .map(|s| (s.clone(), context.describe(s)))
        .collect();
    Ok(ScopeGrant {
        resource: context.resource.clone(),
        resource_name: context.resource_name.clone(),
        scopes,
        described,
        consented: context.consented.clone(),
    })
}

/// What a grant's next tokens carry (refresh, and the code's redemption): the scopes the user
/// allowed that their roles and plans still hold, as `held` (the permissions they hold now on the
/// grant's resource) says, and the OpenID Connect scopes, which no role gives. The grant stays
/// the ceiling (RFC 6749 §6: never wider than granted) and roles are read anew each time, as
/// Logto does on refresh: a role lost leaves the next token, a role given back within the grant
/// returns to it. Nothing held is no error: the token then carries no scope, as a user without
/// roles who signs in gets.
pub fn still_held(granted: &[String], held: &[String]) -> Vec<String> {
    granted
        .iter()
        .filter(|s| OPENID_SCOPES.contains(&s.as_str()) || held.contains(s))
        .cloned()
        .collect()
}

/// The decision for a machine client (`client_credentials`, RFC 6749 §4.4): the requested scopes
/// its roles hold on the resource, or all of them when it names none (as Auth0 and Logto do).
/// OpenID Connect scopes describe a user and are never granted to a machine.
/// A machine token is always for a resource: with none found (an unknown one named, or no
/// default), the answer is `invalid_target`.
pub fn decide_client_scopes(
    requested: Option<&[String]>,
    context: &ScopeContext,
) -> Result<ScopeGrant, InvalidTarget> {
    if context.resource.is_none() {
        return Err(InvalidTarget);
    }
    let held =
        |s: &&String| context.permissions.contains(s) && !OPENID_SCOPES.contains(&s.as_str());
    let scopes: Vec<String> = match requested {
        None => context.permissions.iter().filter(held).cloned().collect(),
        Some(requested) => requested.iter().filter(held).cloned().collect(),
    };
    let described = scopes
        .iter()
        .map(|s| (s.clone(), context.describe(s)))
        .collect();
    Ok(ScopeGrant {
        resource: context.resource.clone(),
        resource_name: context.resource_name.clone(),
        scopes,
        described,
        consented: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todos() -> Resource {
        Resource {
            id: "res_todos".into(),
            indicator: "https://todo.example.com".into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        }
    }

    fn context(perms: &[&str]) -> ScopeContext {
        ScopeContext {
            resource: Some(todos()),
            resource_name: "Todos".into(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            descriptions: vec![("todos:read".into(), "Read your todos".into())],
            consented: None,
        }
    }

    #[test]
    fn granted_scopes_carry_their_descriptions() {
        let g = decide_scopes(
            &parse_scope("todos:read openid"),
            None,
            &context(&["todos:read"]),
        )
        .unwrap();
        assert_eq!(
            g.described,
            vec![
                ("todos:read".to_string(), "Read your todos".to_string()),
                ("openid".to_string(), "Know who you are".to_string())
            ]
        );
    }

    #[test]
    fn granted_scopes_are_the_requested_ones_the_roles_allow() {
        let g = decide_scopes(
            &parse_scope("todos:read todos:write"),
            None,
            &context(&["todos:read"]),
        )
        .unwrap();
        assert_eq!(g.scopes, vec!["todos:read"]);
        assert_eq!(g.resource.unwrap().indicator, "https://todo.example.com");
    }

    #[test]
    fn unknown_scopes_are_dropped_not_errors() {
        let g = decide_scopes(
            &parse_scope("todos:read admin:all"),
            None,
            &context(&["todos:read"]),
        )
        .unwrap();
        assert_eq!(g.scopes, vec!["todos:read"]);
    }

    #[test]
    fn openid_scopes_pass_through() {
        let g = decide_scopes(
            &parse_scope("openid email todos:write"),
            None,
            &context(&[]),
        )
        .unwrap();
        assert_eq!(g.scopes, vec!["openid", "email"]);
    }

    #[test]
    fn an_explicit_unknown_resource_is_invalid_target() {
        let empty = ScopeContext::default();
        assert_eq!(
            decide_scopes(
                &parse_scope("todos:read"),
                Some("https://nope.example.com"),
                &empty
            ),
            Err(InvalidTarget)
        );
    }

    #[test]
    fn only_scopes_never_allowed_are_asked_again() {
        let mut c = context(&["todos:read", "todos:write"]);
        let asked = parse_scope("todos:read todos:write");
        let g = decide_scopes(&asked, None, &c).unwrap();
        assert!(!g.already_consented(), "never consented: ask");
        assert_eq!(g.new_scopes().len(), 2);
        c.consented = Some(vec!["todos:read".into()]);
        let g = decide_scopes(&asked, None, &c).unwrap();
        assert!(!g.already_consented());
        let new: Vec<_> = g.new_scopes().into_iter().map(|(s, _)| s).collect();
        assert_eq!(new, ["todos:write"], "incremental: just the new one");
        assert_eq!(g.consent_after_allowing(), ["todos:read", "todos:write"]);
        let g = decide_scopes(&parse_scope("todos:read"), None, &c).unwrap();
        assert!(g.already_consented(), "a subset of what was allowed");
        // Nothing granted yet a consent on record: nothing to ask.
        let g = decide_scopes(&parse_scope("unknown"), None, &c).unwrap();
        assert!(g.already_consented());
        c.consented = None;
        let g = decide_scopes(&parse_scope("unknown"), None, &c).unwrap();
        assert!(
            !g.already_consented(),
            "a first visit always asks, even for nothing"
        );
    }

    #[test]
    fn without_any_resource_only_openid_scopes_remain() {
        let empty = ScopeContext {
            resource: None,
            resource_name: String::new(),
            permissions: vec!["todos:read".into()],
            descriptions: Vec::new(),
            consented: None,
        };
        let g = decide_scopes(&parse_scope("openid todos:read"), None, &empty).unwrap();
        assert_eq!(g.scopes, vec!["openid"]);
        assert!(g.resource.is_none());
    }

    #[test]
    fn scope_parsing_drops_empties_and_repeats() {
        assert_eq!(parse_scope(" a  b a "), vec!["a", "b"]);
    }

    #[test]
    fn a_grants_next_tokens_carry_only_what_its_roles_still_hold() {
        let granted = parse_scope("openid todos:read todos:write");
        let held = parse_scope("todos:read reports:read");
        assert_eq!(still_held(&granted, &held), ["openid", "todos:read"]);
        assert_eq!(
            still_held(&granted, &[]),
            ["openid"],
            "OpenID scopes are no role's"
        );
        assert!(
            still_held(&parse_scope("todos:write"), &held).is_empty(),
            "nothing left is an empty scope, not an error"
        );
        assert_eq!(
            still_held(
                &parse_scope("todos:read"),
                &parse_scope("todos:read todos:write")
            ),
            ["todos:read"],
            "never wider than the grant"
        );
    }

    #[test]
    fn a_machine_client_gets_the_requested_scopes_its_roles_hold() {
        let requested = parse_scope("todos:read todos:write openid");
        let g =
            decide_client_scopes(Some(&requested), &context(&["todos:read", "openid"])).unwrap();
        assert_eq!(g.scopes, vec!["todos:read"]);
        assert_eq!(g.consented, None);
    }

    #[test]
    fn a_machine_client_naming_no_scope_gets_all_its_roles_hold() {
        let g = decide_client_scopes(None, &context(&["todos:read", "todos:write"])).unwrap();
        assert_eq!(g.scopes, vec!["todos:read", "todos:write"]);
        assert_eq!(g.described[0].1, "Read your todos");
    }

    #[test]
    fn a_machine_token_needs_a_resource() {
        let none = ScopeContext::default();
        assert_eq!(decide_client_scopes(None, &none), Err(InvalidTarget));
    }
}
