//! Enterprise-managed authorization: the Identity Assertion JWT Authorization Grant (ID-JAG,
//! draft-ietf-oauth-identity-assertion-authz-grant; the MCP extension for enterprise-managed
//! authorization). An enterprise's identity provider, which the plugin's owner trusts, tells this
//! server in a signed JWT (`typ: oauth-id-jag+jwt`) that one of its users may use one client
//! against one resource. The client presents it at `/token` as an RFC 7523 JWT-bearer grant and
//! gets an access token with no browser and no consent screen: the enterprise decided.
//!
//! The pure half: the trusted providers as configured, the assertion's claims, whose account it
//! is, and the scopes.

use serde::Deserialize;
use serde_json::Value;

use crate::federation::Provisioning;
use crate::oauth::client_assertion::{int_claim, CompactJws};
use crate::ports::User;
use crate::rbac::scope::{parse_scope, ScopeContext, OPENID_SCOPES};

/// The grant type the assertion is presented with (RFC 7523 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The assertion's media type (its header's `typ`).
pub const TYP: &str = "oauth-id-jag+jwt";
/// The profile metadata advertises in `authorization_grant_profiles_supported`.
pub const PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
/// Clock skew tolerated on `iat` and `exp`.
pub const LEEWAY_SECS: i64 = 60;
/// The longest an assertion may be valid: they are meant to be used at once, and their `jti`
/// is remembered this long at most.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// The largest assertion read.
pub const MAX_BYTES: usize = 16 * 1024;

/// An enterprise identity provider the plugin trusts (`enterprise_idps` in its configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseIdp {
    /// Short name; identities are kept as `enterprise:<id>`.
    pub id: String,
    /// The assertions' `iss`.
    pub issuer: String,
    /// Where its signing keys are.
    pub jwks_uri: String,
    /// The clients it may speak for (their ids here); an assertion for any other is refused.
    pub clients: Vec<String>,
    /// Whether its users without an account here get one at their first assertion.
    #[serde(default)]
    pub provision: bool,
    /// Roles every provisioned user gets.
    #[serde(default)]
    pub default_roles: Vec<String>,
    /// When not empty, only emails in these domains are provisioned or matched.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Whether an assertion whose email is an existing user's (in `allowed_domains`) links to
    /// that user: for an enterprise that owns the domain.
    #[serde(default)]
    pub link_by_email: bool,
}

impl EnterpriseIdp {
    /// The provider name its identities are kept under: its issuer, so that two plugins' providers
    /// that share a short name, or an entry given another issuer, never share identities.
    pub fn provider(&self) -> String {
        format!("enterprise:{}", self.issuer)
    }

    pub fn provisioning(&self) -> Provisioning {
        Provisioning {
            enabled: self.provision,
            allowed_domains: self.allowed_domains.clone(),
            default_roles: self.default_roles.clone(),
            domain_roles: Vec::new(),
        }
    }
}

/// An assertion whose claims hold, for `client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub subject: String,
    pub jti: String,
    pub expires_at: i64,
    /// The resource the token is for, when the assertion names one (else the request's, or the
    /// plugin's own).
    pub resource: Option<String>,
    /// The scopes the enterprise allows; `None` when it names none.
    pub scopes: Option<Vec<String>>,
    /// Lower-cased; empty when the assertion carries none.
    pub email: String,
    pub name: String,
}

fn text<'c>(claims: &'c Value, name: &str) -> Option<&'c str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The trusted provider an assertion's `iss` names (read before its signature is checked, to
/// know whose keys check it).
pub fn provider_for<'a>(idps: &'a [EnterpriseIdp], jws: &CompactJws) -> Option<&'a EnterpriseIdp> {
    let iss = text(&jws.claims, "iss")?;
    idps.iter().find(|p| p.issuer == iss)
}

/// Checks an assertion's header and claims (its signature is the caller's to check with the
/// provider's keys): `typ`, `iss`, `aud` naming this server, `client_id` the authenticated
/// client and one the provider speaks for, `sub`, `jti`, `resource`, and the times.
pub fn check_claims(
    jws: &CompactJws,
    idp: &EnterpriseIdp,
    issuer: &str,
    token_endpoint: &str,
    client_id: &str,
    now: i64,
) -> Result<Assertion, String> {
    let typ = jws.header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case(TYP) && !typ.eq_ignore_ascii_case("application/oauth-id-jag+jwt") {
        return Err(format!("the assertion's typ is not {TYP}"));
    }
    let claims = &jws.claims;
    if text(claims, "iss") != Some(idp.issuer.as_str()) {
        return Err("the assertion's issuer is not a trusted provider".into());
    }
    let ours = |a: &str| a == issuer || a == token_endpoint;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => ours(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(ours),
        _ => false,
    };
    if !audience_ok {
        return Err("the assertion is not for this authorization server (aud)".into());
    }
    let asserted_client = text(claims, "client_id").ok_or("the assertion names no client_id")?;
    if asserted_client != client_id {
        return Err("the assertion is for another client".into());
    }
    if !idp.clients.iter().any(|c| c == client_id) {
        return Err("this provider does not speak for this client".into());
    }
    let subject = text(claims, "sub").ok_or("the assertion has no sub")?;
    if subject.len() > 255 {
        return Err("the assertion's sub is too long".into());
    }
    let jti = text(claims, "jti").ok_or("the assertion has no jti")?;
    if jti.len() > 255 {
        return Err("the assertion's jti is too long".into());
    }
    // Optional; a string, or a list of one (draft-ietf-oauth-identity-assertion-authz-grant).
    let resource = match claims.get("resource") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
        Some(Value::Array(list)) if list.len() == 1 && list[0].is_string() => {
            list[0].as_str().map(str::to_string)
        }
        Some(_) => return Err("the assertion's resource is not one URI".into()),
    };
    let expires_at = lifetime(claims, now)?;
    let scopes = match claims.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_scope(s)),
        Some(_) => return Err("the assertion's scope is not a string".into()),
    };
    Ok(Assertion {
        subject: subject.to_string(),
        jti: jti.to_string(),
        expires_at,
        resource,
        scopes,
        email: text(claims, "email").unwrap_or("").to_ascii_lowercase(),
        name: text(claims, "name").unwrap_or("").to_string(),
    })
}

/// The assertion's `exp`, once its times (`iat`, `nbf`, `exp`) hold at `now` and its lifetime is
/// at most [`MAX_LIFETIME_SECS`]. Times are kept to 1970 ..= 9999 as they are read, so no
/// arithmetic on them can overflow.
fn lifetime(claims: &Value, now: i64) -> Result<i64, String> {
    let time = |name| int_claim(claims, name).map_err(|_| format!("{name} is not a time"));
    let expires_at = time("exp")?.ok_or("the assertion has no exp")?;
    let issued_at = time("iat")?.ok_or("the assertion has no iat")?;
    if expires_at + LEEWAY_SECS <= now {
        return Err("the assertion expired".into());
    }
    if issued_at > now + LEEWAY_SECS {
        return Err("the assertion was issued in the future".into());
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err("the assertion is not valid yet (nbf)".into());
    }
    if expires_at - issued_at > MAX_LIFETIME_SECS || expires_at < issued_at {
        return Err(format!(
            "an assertion may be valid for at most {MAX_LIFETIME_SECS} seconds"
        ));
    }
    Ok(expires_at)
}

/// Whose account an assertion is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// Linked already.
    Known(User),
    /// An existing user the provider may claim by email: link, then go on as them.
    LinkByEmail(User),
    /// Nobody yet: create a user with these roles.
    Provision(Vec<String>),
    /// No account can be used, and why (the `invalid_grant` description).
    Refused(&'static str),
}

/// Decides from the user the identity is linked to and the user its email belongs to.
pub fn account(
    idp: &EnterpriseIdp,
    assertion: &Assertion,
    linked: Option<User>,
    by_email: Option<User>,
) -> Account {
    if let Some(user) = linked {
        return if user.disabled {
            Account::Refused("the user is disabled")
        } else {
            Account::Known(user)
        };
    }
    let domain_allowed = assertion.email.rsplit_once('@').is_some_and(|(_, d)| {
        idp.allowed_domains
            .iter()
            .any(|a| a.eq_ignore_ascii_case(d))
    });
    if let Some(user) = by_email.filter(|_| !assertion.email.is_empty()) {
        return if !idp.link_by_email || !domain_allowed {
            Account::Refused("an account with this email exists and is not linked to this provider")
        } else if user.disabled {
            Account::Refused("the user is disabled")
        } else {
            Account::LinkByEmail(user)
        };
    }
    if !idp.provision {
        return Account::Refused("the user has no account here");
    }
    if assertion.email.is_empty() {
        return Account::Refused("a new account needs the assertion's email");
    }
    match idp.provisioning().roles_for(&assertion.email) {
        Some(roles) => Account::Provision(roles),
        None => Account::Refused("the email's domain is not one this provider provisions"),
    }
}

/// The token's scopes: those asked for (or, asking none, those asserted; or, with neither, all
/// the user holds there) that the assertion allows and the user's roles hold on the resource.
pub fn decide_scopes(
    asked: Option<&[String]>,
    asserted: Option<&[String]>,
    context: &ScopeContext,
) -> Vec<String> {
    let candidates: &[String] = asked.or(asserted).unwrap_or(&context.permissions);
    let mut out: Vec<String> = Vec::new();
    for scope in candidates {
        if !OPENID_SCOPES.contains(&scope.as_str())
            && asserted.is_none_or(|a| a.contains(scope))
            && context.permissions.contains(scope)
            && !out.contains(scope)
        {
            out.push(scope.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_assertion::JwsAlgorithm;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000;
    const AS: &str = "https://todo.example.com";

    fn idp() -> EnterpriseIdp {
        EnterpriseIdp {
            id: "acme".into(),
            issuer: "https://acme.okta.example".into(),
            jwks_uri: "https://acme.okta.example/keys".into(),
            clients: vec!["mcp-client".into()],
            provision: true,
            default_roles: vec!["member".into()],
            allowed_domains: vec!["acme.com".into()],
            link_by_email: false,
        }
    }

    fn jws(header: Value, claims: Value) -> CompactJws {
        CompactJws {
            alg: JwsAlgorithm::Rs256,
            kid: None,
            header,
            claims,
            signing_input: Vec::new(),
            signature: Vec::new(),
        }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://acme.okta.example", "sub": "00u1", "aud": AS, "client_id": "mcp-client",
            "jti": "j1", "iat": NOW, "exp": NOW + 300, "resource": "https://todo.example.com",
            "scope": "todos:read", "email": "Ann@Acme.com",
        })
    }

    fn header() -> Value {
        json!({"typ": "oauth-id-jag+jwt", "alg": "RS256"})
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

    fn check(header: Value, claims: Value) -> Result<Assertion, String> {
        check_claims(
            &jws(header, claims),
            &idp(),
            AS,
            &format!("{AS}/token"),
            "mcp-client",
            NOW,
        )
    }

    #[test]
    fn a_good_assertion_names_its_user_resource_and_scopes() {
        let a = check(header(), claims()).unwrap();
        assert_eq!(a.subject, "00u1");
        assert_eq!(a.resource.as_deref(), Some("https://todo.example.com"));
        let listed = check(
            header(),
            with(json!({"resource": ["https://todo.example.com"]})),
        )
        .unwrap();
        assert_eq!(listed.resource.as_deref(), Some("https://todo.example.com"));
        assert_eq!(
            check(header(), with(json!({"resource": null})))
                .unwrap()
                .resource,
            None
        );
        assert_eq!(a.scopes.as_deref(), Some(&["todos:read".to_string()][..]));
        assert_eq!(a.email, "ann@acme.com");
        assert!(check(header(), with(json!({"aud": [format!("{AS}/token")]}))).is_ok());
        assert_eq!(
            provider_for(&[idp()], &jws(header(), claims())).map(|p| p.id.as_str()),
            Some("acme")
        );
        assert!(provider_for(
            &[idp()],
            &jws(header(), with(json!({"iss": "https://evil.example"})))
        )
        .is_none());
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let mut jwt_typ = header();
        jwt_typ["typ"] = json!("JWT");
        assert_eq!(
            check(jwt_typ, claims()).err().as_deref(),
            Some("the assertion's typ is not oauth-id-jag+jwt"),
            "typ"
        );
        for (why, change) in [
            ("issuer", json!({"iss": "https://other.example"})),
            ("audience", json!({"aud": "https://elsewhere.example.com"})),
            ("another client", json!({"client_id": "other"})),
            ("no client", json!({"client_id": null})),
            ("no sub", json!({"sub": null})),
            ("no jti", json!({"jti": null})),
            (
                "two resources",
                json!({"resource": ["https://a.example", "https://b.example"]}),
            ),
            ("not yet", json!({"nbf": NOW + 120})),
            ("exp overflowing", json!({"exp": i64::MAX})),
            ("iat far back", json!({"iat": i64::MIN + 10})),
            ("exp before iat", json!({"iat": NOW, "exp": NOW - 10})),
            ("expired", json!({"exp": NOW - 61, "iat": NOW - 300})),
            ("future", json!({"iat": NOW + 120, "exp": NOW + 300})),
            ("too long", json!({"exp": NOW + MAX_LIFETIME_SECS + 1})),
            ("no exp", json!({"exp": null})),
            ("scope list", json!({"scope": ["todos:read"]})),
        ] {
            assert!(
                matches!(
                    check(header(), with(change)).err().as_deref(),
                    Some(
                        "an assertion may be valid for at most 3600 seconds"
                            | "exp is not a time"
                            | "iat is not a time"
                            | "the assertion expired"
                            | "the assertion has no exp"
                            | "the assertion has no jti"
                            | "the assertion has no sub"
                            | "the assertion is for another client"
                            | "the assertion is not for this authorization server (aud)"
                            | "the assertion is not valid yet (nbf)"
                            | "the assertion names no client_id"
                            | "the assertion was issued in the future"
                            | "the assertion's issuer is not a trusted provider"
                            | "the assertion's resource is not one URI"
                            | "the assertion's scope is not a string"
                    )
                ),
                "{why}"
            );
        }
        // A provider that does not speak for the client.
        let narrow = EnterpriseIdp {
            clients: vec!["someone-else".into()],
            ..idp()
        };
        let e = check_claims(&jws(header(), claims()), &narrow, AS, AS, "mcp-client", NOW);
        assert_eq!(
            e.err().as_deref(),
            Some("this provider does not speak for this client")
        );
    }

    fn user(id: &str, disabled: bool) -> User {
        User {
            id: id.into(),
            email: format!("{id}@acme.com"),
            name: String::new(),
            password_hash: None,
            disabled,
            session_epoch: 0,
        }
    }

    #[test]
    fn accounts_are_found_by_identity_linked_by_email_only_when_allowed_and_made_in_the_domain() {
        let a = check(header(), claims()).unwrap();
        assert_eq!(
            account(&idp(), &a, Some(user("u1", false)), None),
            Account::Known(user("u1", false))
        );
        assert!(matches!(
            account(&idp(), &a, Some(user("u1", true)), None),
            Account::Refused(_)
        ));
        assert!(
            matches!(
                account(&idp(), &a, None, Some(user("u2", false))),
                Account::Refused(_)
            ),
            "linking is off"
        );
        let linking = EnterpriseIdp {
            link_by_email: true,
            ..idp()
        };
        assert_eq!(
            account(&linking, &a, None, Some(user("u2", false))),
            Account::LinkByEmail(user("u2", false))
        );
        let other_domain = check(header(), with(json!({"email": "ann@gmail.com"}))).unwrap();
        assert!(matches!(
            account(&linking, &other_domain, None, Some(user("u2", false))),
            Account::Refused(_)
        ));
        assert_eq!(
            account(&idp(), &a, None, None),
            Account::Provision(vec!["member".into()])
        );
        assert!(matches!(
            account(&idp(), &other_domain, None, None),
            Account::Refused(_)
        ));
        let no_email = check(header(), with(json!({"email": null}))).unwrap();
        assert!(matches!(
            account(&idp(), &no_email, None, None),
            Account::Refused(_)
        ));
        let closed = EnterpriseIdp {
            provision: false,
            ..idp()
        };
        assert!(matches!(
            account(&closed, &a, None, None),
            Account::Refused(_)
        ));
    }

    #[test]
    fn scopes_are_the_intersection_of_asked_asserted_and_held() {
        let context = ScopeContext {
            permissions: vec!["todos:read".into(), "todos:write".into()],
            ..ScopeContext::default()
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            decide_scopes(None, Some(&s(&["todos:read", "admin"])), &context),
            ["todos:read"]
        );
        assert_eq!(
            decide_scopes(
                Some(&s(&["todos:write"])),
                Some(&s(&["todos:read"])),
                &context
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            decide_scopes(Some(&s(&["todos:write", "openid"])), None, &context),
            ["todos:write"]
        );
        assert_eq!(
            decide_scopes(None, None, &context),
            ["todos:read", "todos:write"]
        );
    }

    /// Issue 29, finding 8: every extreme value of each time claim is refused or read as an instant
    /// in 1970 ..= 9999, and none overflows (tests run with overflow checks).
    #[test]
    fn no_time_claim_overflows_or_is_read_outside_1970_to_9999() {
        use crate::primitives::time::{epoch_secs_json, extremes};
        for claim in ["exp", "iat", "nbf"] {
            for value in extremes() {
                let outcome = check(header(), with(json!({ claim: value.clone() })));
                assert!(
                    outcome.is_err() || epoch_secs_json(&value).is_some(),
                    "{claim} = {value}"
                );
            }
        }
    }
}
