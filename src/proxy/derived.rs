//! Route rules derived from the OpenAPI document: each operation's `security` requirement
//! becomes the gateway's rule for that method and path template, so an owner describes each
//! operation's scopes once, in the document the assistant reads.
//!
//! - A requirement naming an OAuth 2 or OpenID Connect scheme is a `token` rule with its scopes;
//!   an HTTP (bearer, basic) or API-key scheme is a `token` rule for the plugin's shared secret or
//!   users' keys (with the scopes it lists, OpenAPI 3.1 allowing roles on any scheme);
//! - `security: []`, or an empty requirement `{}` among the alternatives, is `public`;
//! - an operation without `security` takes the document's global `security`; one with neither is
//!   denied (a `deny` rule), as is anything the document does not describe (no rule: 404);
//! - a scheme the document does not define, one of a type the gateway cannot check (`mutualTLS`),
//!   one that does not fit the plugin's auth type, or alternatives that ask different things are
//!   refused with an error naming the operation: the owner decides, with an explicit rule.
//!
//! Explicit `routes` in configuration come first in the table, so they win.

use serde_json::{Map, Value};

use crate::config::AuthConfig;
use crate::http::Method;
use crate::proxy::rules::{Access, RouteMatch, RouteRule, RouteTable};

/// The methods an OpenAPI path item may describe.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Why a document's security could not become rules: the operation, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeriveError {
    /// `GET /todos/{id}`, or `security` for the document's global default.
    pub operation: String,
    pub why: String,
}

impl std::fmt::Display for DeriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.operation, self.why)
    }
}

/// One operation's derived rule, with where it came from (for the console and the check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedRule {
    pub method: String,
    pub path: String,
    pub access: Access,
    pub scopes: Vec<String>,
    /// `operation` (its own `security`), `document` (the global default) or `none` (neither:
    /// denied).
    pub source: &'static str,
}

impl DerivedRule {
    pub fn to_rule(&self) -> RouteRule {
        RouteRule {
            path: self.path.clone(),
            methods: vec![self.method.clone()],
            access: self.access,
            scopes: self.scopes.clone(),
            max_body_bytes: None,
            case_insensitive: None,
            upstream_token: None,
            plan: None,
            agents: Vec::new(),
        }
    }
}

/// The kind of scheme a requirement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemeKind {
    OAuth,
    Http,
    ApiKey,
}

/// The security schemes a document defines: OpenAPI 3's `components.securitySchemes`, or
/// Swagger 2.0's `securityDefinitions`.
fn schemes(doc: &Value) -> Option<&Map<String, Value>> {
    doc.pointer("/components/securitySchemes")
        .or_else(|| doc.get("securityDefinitions"))
        .and_then(Value::as_object)
}

fn scheme_kind(name: &str, schemes: Option<&Map<String, Value>>) -> Result<SchemeKind, String> {
    let scheme = schemes
        .and_then(|s| s.get(name))
        .ok_or_else(|| format!("the security scheme {name:?} is not defined in the document"))?;
    match scheme.get("type").and_then(Value::as_str) {
        Some("oauth2" | "openIdConnect") => Ok(SchemeKind::OAuth),
        Some("http" | "basic") => Ok(SchemeKind::Http),
        Some("apiKey") => Ok(SchemeKind::ApiKey),
        Some(other) => Err(format!(
            "the security scheme {name:?} is of type {other}, which the gateway cannot check"
        )),
        None => Err(format!("the security scheme {name:?} has no type")),
    }
}

/// Whether a scheme of `kind` is what the plugin's auth type checks.
fn fits(kind: SchemeKind, auth: &AuthConfig) -> bool {
    match auth {
        AuthConfig::OAuth { .. } => matches!(kind, SchemeKind::OAuth | SchemeKind::Http),
        AuthConfig::ServiceHttp { .. } => kind == SchemeKind::Http,
        AuthConfig::UserHttp { .. } => matches!(kind, SchemeKind::Http | SchemeKind::ApiKey),
        AuthConfig::None { .. } => false,
    }
}

/// The rule a `security` value (a list of alternative requirements) asks for.
fn rule_for(
    security: &Value,
    schemes: Option<&Map<String, Value>>,
    auth: &AuthConfig,
) -> Result<(Access, Vec<String>), String> {
    let alternatives = security
        .as_array()
        .ok_or("security is not a list of requirements")?;
    if alternatives.is_empty() {
        return Ok((Access::Public, Vec::new()));
    }
    let mut chosen: Option<Vec<String>> = None;
    let mut unfit = Vec::new();
    for requirement in alternatives {
        let requirement = requirement
            .as_object()
            .ok_or("a security requirement is not an object")?;
        if requirement.is_empty() {
            // `{}`: calling without credentials is one of the ways.
            return Ok((Access::Public, Vec::new()));
        }
        let mut scopes: Vec<String> = Vec::new();
        let mut all_fit = true;
        for (name, listed) in requirement {
            let kind = scheme_kind(name, schemes)?;
            if !fits(kind, auth) {
                all_fit = false;
                unfit.push(name.clone());
            }
            let listed = listed
                .as_array()
                .ok_or_else(|| format!("the scopes of {name:?} are not a list"))?;
            for scope in listed {
                let scope = scope
                    .as_str()
                    .filter(|s| {
                        !s.is_empty()
                            && !s.contains(' ')
                            && s.chars().all(crate::primitives::syntax::is_scope_char)
                    })
                    .ok_or_else(|| format!("{name:?} names a scope that is not a scope token"))?;
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_string());
                }
            }
        }
        if !all_fit {
            continue;
        }
        match &chosen {
            None => chosen = Some(scopes),
            Some(earlier) if sorted(earlier) == sorted(&scopes) => {}
            Some(_) => {
                return Err(
                    "its security alternatives ask for different scopes; the gateway enforces one: add a routes entry for it"
                        .into(),
                )
            }
        }
    }
    match chosen {
        Some(scopes) => Ok((Access::Token, scopes)),
        None => Err(format!(
            "it asks for {}, which the plugin's auth type ({}) does not check",
            unfit.join(" or "),
            auth.type_name()
        )),
    }
}

fn sorted(scopes: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = scopes.iter().collect();
    v.sort();
    v
}

/// Every operation's rule, in the document's order.
pub fn derive(doc: &Value, auth: &AuthConfig) -> Result<Vec<DerivedRule>, DeriveError> {
    let schemes = schemes(doc);
    // The global default is judged where an operation takes it, so an error names that
    // operation.
    let global = doc.get("security");
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| DeriveError {
            operation: "paths".into(),
            why: "the document has no paths".into(),
        })?;
    let mut out = Vec::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            return Err(DeriveError {
                operation: path.clone(),
                why: "a path must start with /".into(),
            });
        }
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get(method).and_then(Value::as_object) else {
                continue;
            };
            let name = format!("{} {path}", method.to_ascii_uppercase());
            let (security, source) = match (operation.get("security"), global) {
                (Some(own), _) => (Some(own), "operation"),
                (None, Some(global)) => (Some(global), "document"),
                (None, None) => (None, "none"),
            };
            let (access, scopes) = match security {
                Some(security) => rule_for(security, schemes, auth).map_err(|why| DeriveError {
                    operation: name.clone(),
                    why,
                })?,
                None => (Access::Deny, Vec::new()),
            };
            // A `none` plugin checks no credential: an operation that asks for one is a mistake.
            if matches!(auth, AuthConfig::None { .. }) && access == Access::Token {
                return Err(DeriveError {
                    operation: name,
                    why: "it asks for a credential, and the plugin's auth type is none".into(),
                });
            }
            out.push(DerivedRule {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                access,
                scopes,
                source,
            });
        }
    }
    Ok(out)
}

/// One operation as the document asks and as the gateway enforces it: the first rule of the
/// table that matches its method and path (an explicit rule may come first, or none may match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub method: String,
    pub path: String,
    /// What the document asks (`token todos:read`, `public`, `deny`).
    pub document: String,
    /// What the gateway does (the same words, or `no rule (404)`, or `method not allowed`).
    pub gateway: String,
    /// The index of the rule that decides, if one does.
    pub rule: Option<usize>,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.document == self.gateway
    }
}

/// Compares every operation's derived rule with what `table` does for it. A path template's
/// parameters are matched as one segment each (`{id}` as `x`), as a call would.
pub fn compare(derived: &[DerivedRule], table: &RouteTable) -> Vec<Comparison> {
    derived
        .iter()
        .map(|d| {
            let segments: Vec<String> = d
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        "x".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            let (gateway, rule) = match table.find(&Method::parse(&d.method), &segments) {
                RouteMatch::Rule(i) => match table.rule(i) {
                    Some(r) => (describe(r.access, &r.scopes), Some(i)),
                    None => ("no rule (404)".to_string(), None),
                },
                RouteMatch::MethodNotAllowed(_) => ("method not allowed (405)".to_string(), None),
                RouteMatch::NoRule => ("no rule (404)".to_string(), None),
            };
            Comparison {
                method: d.method.clone(),
                path: d.path.clone(),
                document: describe(d.access, &d.scopes),
                gateway,
                rule,
            }
        })
        .collect()
}

/// `token todos:read`, `public`, `deny`: a rule as the check prints it.
pub fn describe(access: Access, scopes: &[String]) -> String {
    match access {
        Access::Token if scopes.is_empty() => "token".into(),
        Access::Token => format!(
            "token {}",
            sorted(scopes)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Access::Public => "public".into(),
        Access::Deny => "deny".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpAuthorizationType;
    use serde_json::json;

    fn oauth() -> AuthConfig {
        AuthConfig::OAuth {
            scope: "todos:read".into(),
            authorization_content_type: Default::default(),
            verification_token: None,
            dpop: Default::default(),
        }
    }

    fn doc(global: Option<Value>, operations: Value) -> Value {
        let mut d = json!({
            "openapi": "3.1.0",
            "components": {"securitySchemes": {
                "oauth": {"type": "oauth2", "flows": {}},
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "mtls": {"type": "mutualTLS"}
            }},
            "paths": operations
        });
        if let Some(g) = global {
            d["security"] = g;
        }
        d
    }

    fn rules(d: &Value, auth: &AuthConfig) -> Vec<(String, String, String)> {
        derive(d, auth)
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.method.clone(),
                    r.path.clone(),
                    describe(r.access, &r.scopes),
                )
            })
            .collect()
    }

    #[test]
    fn operations_take_their_own_security_or_the_documents() {
        let d = doc(
            Some(json!([{"oauth": ["todos:read"]}])),
            json!({
                "/todos": {
                    "get": {},
                    "post": {"security": [{"oauth": ["todos:write"]}]}
                },
                "/todos/{id}": {"delete": {"security": [{"oauth": ["todos:write", "todos:read"]}]}},
                "/health": {"get": {"security": []}},
                "/maybe": {"get": {"security": [{"oauth": ["todos:read"]}, {}]}}
            }),
        );
        assert_eq!(
            rules(&d, &oauth()),
            [
                ("GET".into(), "/todos".into(), "token todos:read".into()),
                ("POST".into(), "/todos".into(), "token todos:write".into()),
                (
                    "DELETE".into(),
                    "/todos/{id}".into(),
                    "token todos:read todos:write".into()
                ),
                ("GET".into(), "/health".into(), "public".into()),
                ("GET".into(), "/maybe".into(), "public".into()),
            ]
        );
        let sources: Vec<&str> = derive(&d, &oauth())
            .unwrap()
            .iter()
            .map(|r| r.source)
            .collect();
        assert_eq!(
            sources,
            [
                "document",
                "operation",
                "operation",
                "operation",
                "operation"
            ]
        );
    }

    #[test]
    fn without_any_security_an_operation_is_denied() {
        let d = doc(None, json!({"/todos": {"get": {}, "parameters": []}}));
        let derived = derive(&d, &oauth()).unwrap();
        assert_eq!(derived.len(), 1);
        assert_eq!(derived[0].access, Access::Deny);
        assert_eq!(derived[0].source, "none");
    }

    #[test]
    fn api_keys_and_http_schemes_fit_their_auth_types() {
        let d = doc(
            None,
            json!({"/a": {"get": {"security": [{"key": []}]}}, "/b": {"get": {"security": [{"bearer": []}]}}}),
        );
        let user_http = AuthConfig::UserHttp {
            authorization_type: HttpAuthorizationType::Bearer,
        };
        assert_eq!(rules(&d, &user_http)[0].2, "token");
        let service = AuthConfig::ServiceHttp {
            authorization_type: HttpAuthorizationType::Bearer,
            verification_token: None,
        };
        let e = derive(&d, &service).unwrap_err();
        assert_eq!(e.operation, "GET /a");
        // Of alternatives, the one the plugin checks is taken.
        let either = doc(
            None,
            json!({"/c": {"get": {"security": [{"key": []}, {"oauth": ["todos:read"]}]}}}),
        );
        assert_eq!(rules(&either, &oauth())[0].2, "token todos:read");
    }

    #[test]
    fn what_cannot_be_derived_names_the_operation() {
        for (why, d, operation) in [
            (
                "an undefined scheme",
                doc(None, json!({"/x": {"get": {"security": [{"nope": []}]}}})),
                "GET /x",
            ),
            (
                "mutual TLS",
                doc(None, json!({"/x": {"put": {"security": [{"mtls": []}]}}})),
                "PUT /x",
            ),
            (
                "alternatives that differ",
                doc(
                    None,
                    json!({"/x": {"get": {"security": [{"oauth": ["a"]}, {"bearer": ["b"]}]}}}),
                ),
                "GET /x",
            ),
            (
                "a scope that is no token",
                doc(
                    None,
                    json!({"/x": {"get": {"security": [{"oauth": ["a b"]}]}}}),
                ),
                "GET /x",
            ),
            (
                "an undefined global scheme",
                doc(Some(json!([{"nope": []}])), json!({"/x": {"get": {}}})),
                "GET /x",
            ),
            ("no paths", json!({"openapi": "3.1.0"}), "paths"),
        ] {
            let e = derive(&d, &oauth()).unwrap_err();
            assert_eq!(e.operation, operation, "{why}: {e}");
        }
        let none = AuthConfig::None { ip_lock: None };
        let d = doc(
            None,
            json!({"/x": {"get": {"security": [{"oauth": []}]}}, "/y": {"get": {"security": []}}}),
        );
        assert_eq!(derive(&d, &none).unwrap_err().operation, "GET /x");
    }

    #[test]
    fn an_explicit_rule_that_comes_first_and_says_otherwise_is_a_disagreement() {
        let d = doc(
            Some(json!([{"oauth": ["todos:read"]}])),
            json!({"/todos": {"get": {}, "post": {"security": [{"oauth": ["todos:write"]}]}}, "/todos/{id}": {"delete": {}}}),
        );
        let derived = derive(&d, &oauth()).unwrap();
        let explicit = RouteRule {
            path: "/todos".into(),
            methods: vec!["POST".into()],
            access: Access::Token,
            scopes: vec!["todos:read".into()],
            ..derived[0].to_rule()
        };
        let mut rules = vec![explicit];
        rules.extend(derived.iter().map(DerivedRule::to_rule));
        let table = RouteTable::new(rules).unwrap();
        let seen: Vec<(String, bool)> = compare(&derived, &table)
            .iter()
            .map(|c| (format!("{} {}", c.method, c.path), c.agrees()))
            .collect();
        assert_eq!(
            seen,
            [
                ("GET /todos".to_string(), true),
                ("POST /todos".to_string(), false),
                ("DELETE /todos/{id}".to_string(), true),
            ]
        );
        // Against a table without the derived rules, an operation may find no rule at all.
        let bare = RouteTable::new(vec![derived[1].to_rule()]).unwrap();
        let compared = compare(&derived, &bare);
        assert_eq!(compared[0].gateway, "method not allowed (405)");
        assert_eq!(compared[2].gateway, "no rule (404)");
    }

    #[test]
    fn swagger_2_security_definitions_are_read_too() {
        let d = json!({
            "swagger": "2.0",
            "securityDefinitions": {"oauth": {"type": "oauth2", "flow": "accessCode"}},
            "security": [{"oauth": ["read"]}],
            "paths": {"/things": {"get": {}, "post": {"security": [{"oauth": ["write"]}]}}}
        });
        assert_eq!(
            rules(&d, &oauth()),
            [
                ("GET".into(), "/things".into(), "token read".into()),
                ("POST".into(), "/things".into(), "token write".into()),
            ]
        );
    }
}
