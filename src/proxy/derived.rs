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

use crate::http::Method;
use crate::proxy::auth::AuthConfig;
use crate::proxy::rules::{Access, RouteMatch, RouteRule, RouteTable};

/// The methods an OpenAPI path item may describe, HEAD before GET: a HEAD call takes a GET
/// rule's access when no rule of its own comes first. TRACE is left out: the gateway never
/// forwards it (with no rule, it is refused).
const METHODS: [&str; 7] = ["head", "get", "put", "post", "delete", "options", "patch"];

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
            dpop: false,
        }
    }
}

/// The security schemes a document defines: OpenAPI 3's `components.securitySchemes`, or
/// Swagger 2.0's `securityDefinitions`.
fn schemes(doc: &Value) -> Option<&Map<String, Value>> {
    doc.pointer("/components/securitySchemes")
        .or_else(|| doc.get("securityDefinitions"))
        .and_then(Value::as_object)
}

/// How a scheme asks for its credential, as far as the gateway can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    /// OAuth 2 or OpenID Connect: an access token.
    OAuth,
    /// `Authorization: <scheme> …` (an `http` scheme, Swagger's `basic`, or an API key sent in the
    /// `Authorization` header, whose scheme the plugin's `authorization_type` says).
    Authorization(Option<String>),
    /// Anywhere else (an API key in another header, the query or a cookie): the gateway reads
    /// only `Authorization`.
    Elsewhere(String),
}

fn credential(name: &str, schemes: Option<&Map<String, Value>>) -> Result<Credential, String> {
    let scheme = schemes
        .and_then(|s| s.get(name))
        .ok_or_else(|| format!("the security scheme {name:?} is not defined in the document"))?;
    let field = |key: &str| scheme.get(key).and_then(Value::as_str);
    match field("type") {
        Some("oauth2" | "openIdConnect") => Ok(Credential::OAuth),
        Some("http") => Ok(Credential::Authorization(
            field("scheme").map(str::to_ascii_lowercase),
        )),
        Some("basic") => Ok(Credential::Authorization(Some("basic".into()))),
        Some("apiKey")
            if field("in") == Some("header")
                && field("name").is_some_and(|n| n.eq_ignore_ascii_case("authorization")) =>
        {
            Ok(Credential::Authorization(None))
        }
        Some("apiKey") => Ok(Credential::Elsewhere(format!(
            "an API key in {} {:?}",
            field("in").unwrap_or("an unnamed place"),
            field("name").unwrap_or_default()
        ))),
        Some(other) => Err(format!(
            "the security scheme {name:?} is of type {other}, which the gateway cannot check"
        )),
        None => Err(format!("the security scheme {name:?} has no type")),
    }
}

/// Whether the plugin's auth type checks a credential asked for this way: its own tokens (sent
/// as Bearer) for `oauth`; its `Authorization` scheme for the HTTP types.
fn fits(credential: &Credential, auth: &AuthConfig) -> bool {
    match (auth, credential) {
        (AuthConfig::OAuth { .. }, Credential::OAuth) => true,
        (AuthConfig::OAuth { .. }, Credential::Authorization(Some(s))) => s == "bearer",
        (
            AuthConfig::ServiceHttp {
                authorization_type, ..
            }
            | AuthConfig::UserHttp { authorization_type },
            Credential::Authorization(scheme),
        ) => scheme
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(authorization_type.scheme())),
        _ => false,
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
            let credential = credential(name, schemes)?;
            if !fits(&credential, auth) {
                all_fit = false;
                unfit.push(match credential {
                    Credential::Elsewhere(place) => format!("{name} ({place})"),
                    _ => name.clone(),
                });
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
        Some(scopes) if !scopes.is_empty() && matches!(auth, AuthConfig::ServiceHttp { .. }) => {
            Err(format!(
                "it asks for the scopes {}, and service_http checks one shared secret, not scopes: drop them, or add a routes entry for it",
                scopes.join(" ")
            ))
        }
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

/// A path item: itself, or what its `$ref` names within the document
/// (`#/components/pathItems/…`), with its own fields over the referenced ones.
fn path_item<'a>(
    doc: &'a Value,
    path: &str,
    item: &'a Map<String, Value>,
) -> Result<Map<String, Value>, DeriveError> {
    let Some(reference) = item.get("$ref") else {
        return Ok(item.clone());
    };
    // A fragment may be percent-encoded (RFC 6901 §6).
    let referenced = reference
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .and_then(crate::proxy::rules::percent_decode)
        .and_then(|pointer| doc.pointer(&pointer))
        .and_then(Value::as_object)
        .ok_or_else(|| DeriveError {
            operation: path.to_string(),
            why: format!("its $ref {reference} names no path item in this document; inline it"),
        })?;
    if referenced.contains_key("$ref") {
        return Err(DeriveError {
            operation: path.to_string(),
            why: "its $ref names another $ref; inline one of them".into(),
        });
    }
    let mut merged = referenced.clone();
    merged.extend(
        item.iter()
            .filter(|(k, _)| *k != "$ref")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    Ok(merged)
}

/// A path template as the gateway matches it: no trailing slash (a call's is dropped too), and
/// each segment a literal or a whole `{parameter}`. A segment mixing the two
/// (`{name}.json`, `report.{fmt}`) cannot be matched as the document means it.
fn template(path: &str) -> Result<String, String> {
    let trimmed = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    for segment in trimmed.split('/').skip(1) {
        let whole = segment.len() > 2
            && segment.starts_with('{')
            && segment.ends_with('}')
            && !segment[1..segment.len() - 1].contains(['{', '}']);
        if !whole && segment.contains(['{', '}']) {
            return Err(format!(
                "its path segment {segment:?} mixes text and a parameter, which the gateway cannot match: add a routes entry for it"
            ));
        }
        // In a rule, `*` matches any rest of the path: never what a document's path means.
        if segment.contains('*') {
            return Err(format!(
                "its path segment {segment:?} holds *, which a rule reads as any rest of the path: add a routes entry for it"
            ));
        }
    }
    Ok(trimmed.to_string())
}

/// Every operation's rule, ordered as OpenAPI matches paths: at the first segment where two
/// templates differ in kind, the concrete one comes first (`/users/me` before `/users/{id}`);
/// otherwise in the document's order.
pub fn derive(doc: &Value, auth: &AuthConfig) -> Result<Vec<DerivedRule>, DeriveError> {
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| DeriveError {
            operation: "paths".into(),
            why: "the document has no paths".into(),
        })?;
    let mut out = Vec::new();
    for (path, item) in paths {
        // Specification extensions (`x-…`) are not paths.
        if path.starts_with("x-") {
            continue;
        }
        if !path.starts_with('/') {
            return Err(DeriveError {
                operation: path.clone(),
                why: "a path must start with /".into(),
            });
        }
        let Some(item) = item.as_object() else {
            continue;
        };
        let item = path_item(doc, path, item)?;
        for method in METHODS {
            if let Some(operation) = item.get(method).and_then(Value::as_object) {
                out.push(derive_operation(doc, auth, path, method, operation)?);
            }
        }
    }
    // Stable: the document's order among templates of the same shape.
    out.sort_by_cached_key(|r| {
        r.path
            .split('/')
            .map(|s| s.starts_with('{'))
            .collect::<Vec<bool>>()
    });
    check_alike_paths_agree(&out)?;
    Ok(out)
}

/// One operation's rule, from its own `security` or else the document's (the global default is
/// judged where an operation takes it, so an error names that operation).
fn derive_operation(
    doc: &Value,
    auth: &AuthConfig,
    path: &str,
    method: &str,
    operation: &Map<String, Value>,
) -> Result<DerivedRule, DeriveError> {
    let name = format!("{} {path}", method.to_ascii_uppercase());
    let named = |why| DeriveError {
        operation: name.clone(),
        why,
    };
    let rule_path = template(path).map_err(named)?;
    let (security, source) = match (operation.get("security"), doc.get("security")) {
        (Some(own), _) => (Some(own), "operation"),
        (None, Some(global)) => (Some(global), "document"),
        (None, None) => (None, "none"),
    };
    let (access, scopes) = match security {
        Some(security) => rule_for(security, schemes(doc), auth).map_err(named)?,
        None => (Access::Deny, Vec::new()),
    };
    // A `none` plugin checks no credential: an operation that asks for one is a mistake.
    if matches!(auth, AuthConfig::None { .. }) && access == Access::Token {
        return Err(named(
            "it asks for a credential, and the plugin's auth type is none".into(),
        ));
    }
    Ok(DerivedRule {
        method: method.to_ascii_uppercase(),
        path: rule_path,
        access,
        scopes,
        source,
    })
}

/// Two paths the gateway matches alike (`/a` and `/a/`, `/u/{id}` and `/u/{name}`): the first
/// would decide for both, so they must ask the same. Once per operation, at configuration
/// time: a map from each method and shape to the first rule of it.
fn check_alike_paths_agree(rules: &[DerivedRule]) -> Result<(), DeriveError> {
    let mut first: std::collections::HashMap<(&str, Vec<&str>), &DerivedRule> =
        std::collections::HashMap::new();
    for later in rules {
        let shape = later
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect();
        let earlier = *first.entry((&later.method, shape)).or_insert(later);
        if earlier.access != later.access || sorted(&earlier.scopes) != sorted(&later.scopes) {
            return Err(DeriveError {
                operation: format!("{} {}", later.method, later.path),
                why: format!(
                    "the gateway matches it as {} {}, which asks for something else: make them agree, or add a routes entry",
                    earlier.method, earlier.path
                ),
            });
        }
    }
    Ok(())
}

/// Why the rules of a document deployed with the Worker could not be had.
#[derive(Debug)]
pub enum StaticDocumentError {
    /// No file at the path.
    Missing,
    /// The file is not a readable OpenAPI document.
    Unreadable(crate::openapi::DocumentError),
    /// Its operations' security cannot become rules.
    Underivable(DeriveError),
}

/// The rules of the document at `path` among the Worker's files (compiled in, or provided by the
/// entry module): for the configuration, and for the console's comparison.
pub fn from_static(path: &str, auth: &AuthConfig) -> Result<Vec<DerivedRule>, StaticDocumentError> {
    let file = crate::assets::file(path).ok_or(StaticDocumentError::Missing)?;
    let doc = crate::openapi::parse(file.body, crate::openapi::DocFormat::from_path(path))
        .map_err(StaticDocumentError::Unreadable)?;
    derive(&doc, auth).map_err(StaticDocumentError::Underivable)
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
            // As the gateway reads a call's path, with each parameter a plain segment.
            let call: String = d
                .path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        "x"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let segments = crate::proxy::rules::normalize_path(&call).unwrap_or_default();
            let (gateway, rule) = match table.find(&Method::parse(&d.method), &segments) {
                RouteMatch::Rule(i) => match table.rule(i) {
                    Some(r) => (describe(r.access, &r.scopes), Some(i)),
                    None => ("no rule (404)".to_string(), None),
                },
                RouteMatch::MethodNotAllowed(_) => ("method not allowed (405)".to_string(), None),
                RouteMatch::NoRule => ("no rule (404)".to_string(), None),
                RouteMatch::CaseConflict => ("refused: letter case (400)".to_string(), None),
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
                ("GET".into(), "/health".into(), "public".into()),
                ("GET".into(), "/maybe".into(), "public".into()),
                (
                    "DELETE".into(),
                    "/todos/{id}".into(),
                    "token todos:read todos:write".into()
                ),
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
            ],
            "in the table's order: /todos/{{id}} after the concrete paths"
        );
        assert_eq!(derive(&d, &oauth()).unwrap()[4].path, "/todos/{id}");
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
    fn a_scheme_fits_when_the_gateway_reads_its_credential_where_the_document_puts_it() {
        let d = json!({
            "openapi": "3.1.0",
            "components": {"securitySchemes": {
                "oauth": {"type": "oauth2", "flows": {}},
                "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://idp.example/.well-known/openid-configuration"},
                "bearer": {"type": "http", "scheme": "Bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "authorization": {"type": "apiKey", "in": "header", "name": "Authorization"},
                "header": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "query": {"type": "apiKey", "in": "query", "name": "key"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "key"}
            }},
            "paths": {}
        });
        let user_http = |t| AuthConfig::UserHttp {
            authorization_type: t,
        };
        let service = AuthConfig::ServiceHttp {
            authorization_type: HttpAuthorizationType::Bearer,
            verification_token: None,
        };
        let fit = |scheme: &str, auth: &AuthConfig| {
            let mut d = d.clone();
            d["paths"] = json!({"/x": {"get": {"security": [{scheme: []}]}}});
            derive(&d, auth).map(|r| describe(r[0].access, &r[0].scopes))
        };
        for (scheme, oauth_fits, bearer_fits, basic_fits) in [
            ("oauth", true, false, false),
            ("oidc", true, false, false),
            ("bearer", true, true, false),
            ("basic", false, false, true),
            ("authorization", false, true, true),
            ("header", false, false, false),
            ("query", false, false, false),
            ("cookie", false, false, false),
        ] {
            assert_eq!(
                fit(scheme, &oauth()).is_ok(),
                oauth_fits,
                "{scheme} on oauth"
            );
            assert_eq!(
                fit(scheme, &user_http(HttpAuthorizationType::Bearer)).is_ok(),
                bearer_fits,
                "{scheme} on user_http bearer"
            );
            assert_eq!(
                fit(scheme, &service).is_ok(),
                bearer_fits,
                "{scheme} on service_http"
            );
            assert_eq!(
                fit(scheme, &user_http(HttpAuthorizationType::Basic)).is_ok(),
                basic_fits,
                "{scheme} on user_http basic"
            );
        }
        // The refusal says where the document puts the key.
        let e = fit("query", &user_http(HttpAuthorizationType::Bearer)).unwrap_err();
        assert!(e.why.contains("an API key in query \"key\""), "{e}");
        // Of alternatives, the one the plugin checks is taken.
        let mut either = d.clone();
        either["paths"] =
            json!({"/c": {"get": {"security": [{"header": []}, {"oauth": ["todos:read"]}]}}});
        assert_eq!(rules(&either, &oauth())[0].2, "token todos:read");
        // service_http checks one secret: scopes the document lists would go unchecked.
        let mut scoped = d.clone();
        scoped["paths"] = json!({"/s": {"get": {"security": [{"bearer": ["admin"]}]}}});
        assert!(derive(&scoped, &service)
            .unwrap_err()
            .why
            .contains("service_http"));
        assert_eq!(
            rules(&scoped, &user_http(HttpAuthorizationType::Bearer))[0].2,
            "token admin"
        );
    }

    #[test]
    fn concrete_paths_come_before_templates_whatever_the_documents_order() {
        let d = doc(
            None,
            json!({
                "/users/{id}": {"get": {"security": []}},
                "/users/me": {"get": {"security": [{"oauth": ["profile"]}]}},
                "/files/{id}": {"get": {"security": [{"oauth": ["r"]}]}},
                "/files/export": {"get": {}}
            }),
        );
        let derived = derive(&d, &oauth()).unwrap();
        let table = RouteTable::new(derived.iter().map(DerivedRule::to_rule).collect()).unwrap();
        let decide = |path: &str| {
            let segments: Vec<String> = path[1..].split('/').map(String::from).collect();
            match table.find(&Method::Get, &segments) {
                RouteMatch::Rule(i) => {
                    let r = table.rule(i).unwrap();
                    describe(r.access, &r.scopes)
                }
                _ => "none".into(),
            }
        };
        assert_eq!(decide("/users/me"), "token profile");
        assert_eq!(decide("/users/42"), "public");
        assert_eq!(decide("/files/export"), "deny");
        assert_eq!(decide("/files/7"), "token r");
        assert!(compare(&derived, &table).iter().all(Comparison::agrees));
    }

    #[test]
    fn what_real_documents_hold_beside_operations_is_read_as_the_specification_says() {
        let d = json!({
            "openapi": "3.1.0",
            "components": {
                "securitySchemes": {"oauth": {"type": "oauth2", "flows": {}}},
                "pathItems": {"Todos": {"get": {"security": [{"oauth": ["todos:read"]}]}}}
            },
            "security": [{"oauth": ["read"]}],
            "paths": {
                "x-internal": {"get": {}},
                "/": {"get": {"security": []}},
                "/todos": {"$ref": "#/components/pathItems/To%64os", "post": {}},
                "/trailing/": {"get": {}},
                "/probe": {"head": {"security": []}, "get": {}, "trace": {}}
            }
        });
        let derived: Vec<String> = derive(&d, &oauth())
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, describe(r.access, &r.scopes)))
            .collect();
        assert_eq!(
            derived,
            [
                "GET / public",
                "GET /todos token todos:read",
                "POST /todos token read",
                "GET /trailing token read",
                "HEAD /probe public",
                "GET /probe token read",
            ]
        );
        // HEAD's own rule comes before GET's, so a HEAD call takes it.
        let table = RouteTable::new(
            derive(&d, &oauth())
                .unwrap()
                .iter()
                .map(DerivedRule::to_rule)
                .collect(),
        )
        .unwrap();
        match table.find(&Method::Head, &["probe".to_string()]) {
            RouteMatch::Rule(i) => assert_eq!(table.rule(i).unwrap().access, Access::Public),
            other => panic!("{other:?}"),
        }
        // The root path compares as a call to / matches.
        let derived_rules = derive(&d, &oauth()).unwrap();
        assert!(compare(&derived_rules, &table)
            .iter()
            .all(Comparison::agrees));
        // TRACE has no rule: refused, never forwarded.
        assert!(matches!(
            table.find(&Method::parse("TRACE"), &["probe".to_string()]),
            RouteMatch::MethodNotAllowed(_)
        ));
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
            (
                "a segment mixing text and a parameter",
                doc(
                    None,
                    json!({"/files/{name}.json": {"get": {"security": []}}}),
                ),
                "GET /files/{name}.json",
            ),
            (
                "two parameters in one segment",
                doc(
                    None,
                    json!({"/files/{name}.{ext}": {"get": {"security": []}}}),
                ),
                "GET /files/{name}.{ext}",
            ),
            (
                "a * in a path",
                doc(
                    None,
                    json!({"/files/{id}": {"get": {"security": [{"oauth": ["r"]}]}}, "/files/*": {"get": {"security": []}}}),
                ),
                "GET /files/*",
            ),
            (
                "two paths matched alike that ask differently",
                doc(
                    None,
                    json!({"/a": {"get": {"security": []}}, "/a/": {"get": {"security": [{"oauth": ["admin"]}]}}}),
                ),
                "GET /a",
            ),
            (
                "two parameter names in one place that ask differently",
                doc(
                    None,
                    json!({"/u/{id}": {"get": {"security": []}}, "/u/{name}": {"delete": {"security": []}, "get": {"security": [{"oauth": ["r"]}]}}}),
                ),
                "GET /u/{name}",
            ),
            (
                "a $ref to another file",
                doc(None, json!({"/x": {"$ref": "other.yaml#/paths/x"}})),
                "/x",
            ),
            (
                "a $ref to nothing",
                doc(None, json!({"/x": {"$ref": "#/components/pathItems/Nope"}})),
                "/x",
            ),
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
