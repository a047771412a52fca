//! Route rules: which paths of the origin API are reachable, by which methods, with what access.
//!
//! A rule is `path` (`/todos`, `/todos/{id}`, `/files/*`), optional `methods`, an `access`
//! (`token`, the default; `public`; `deny`), the `scopes` a token must hold and an optional body
//! cap. The first rule whose path and method match decides; a path no rule covers is 404, so the
//! origin only ever sees what a rule let through. Paths are normalised before matching and any
//! encoding that could make the origin see a different path than the rule did (encoded `/`,
//! dot segments, backslashes, control characters) is refused outright. A rule may match paths in
//! any letter case (deny rules do unless configured otherwise), since many origins route
//! `/ADMIN/x` to the same handler as `/admin/x`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::http::Method;

/// A rule as written in configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub path: String,
    /// Methods the rule covers; empty means every method.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub access: Access,
    /// Scopes a token must hold (all of them), for `access = "token"`.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub max_body_bytes: Option<u64>,
    /// Whether the path matches in any letter case. Unset: the plugin's `case_insensitive_paths`,
    /// else on for `deny` rules (an origin that routes `/ADMIN` like `/admin` must not get it)
    /// and off for the others.
    #[serde(default, deserialize_with = "case_setting")]
    pub case_insensitive: Option<bool>,
    /// The upstream identity provider (its id) whose access token for the user is forwarded to
    /// the origin on this route (the provider must keep tokens: `keep_tokens`).
    #[serde(default)]
    pub upstream_token: Option<String>,
    /// The plugin's plan (its id) a caller must hold: 402 with an upgrade link otherwise.
    #[serde(default)]
    pub plan: Option<String>,
    /// Signed agents (their origins, among the plugin's trusted ones) one of which must have
    /// signed the call (Web Bot Auth); empty: the plugin's own `agents.require` decides.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Whether a token on this route must be DPoP-bound and sent with a proof of its key (RFC
    /// 9449), as the plugin's `dpop_required` asks of every route. For `access = "token"`.
    #[serde(default)]
    pub dpop: bool,
}

/// `case_insensitive`: `true`, `false` or absent; anything else is named in the error.
fn case_setting<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(on)) => Ok(Some(on)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "a rule's case_insensitive is true or false, got {other}"
        ))),
    }
}

/// What a matching rule lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// A valid credential for the plugin's auth type (and the rule's scopes) is required.
    #[default]
    Token,
    /// Forwarded without a credential (the caller's identity is still stripped).
    Public,
    /// Refused for everyone with 403.
    Deny,
}

/// A rule that failed validation: which one and which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub index: usize,
    pub field: &'static str,
    pub expected: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

/// A validated rule, ready to match.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub pattern: String,
    segments: Vec<Segment>,
    methods: Option<Vec<Method>>,
    pub access: Access,
    pub scopes: Vec<String>,
    pub max_body_bytes: Option<u64>,
    /// Literal segments match in any letter case.
    pub case_insensitive: bool,
    /// The rule matches exactly, but other letter cases of its path may not take a weaker rule:
    /// nobody said the origin routes case-sensitively (neither the rule nor the plugin set
    /// `case_insensitive` to false), and Express, ASP.NET Core and IIS route case-insensitively.
    guards_case: bool,
    /// The provider whose token for the user is forwarded (see [`RouteRule::upstream_token`]).
    pub upstream_token: Option<String>,
    /// The plan a caller must hold (see [`RouteRule::plan`]).
    pub plan: Option<String>,
    /// The signed agents one of which must have signed the call (see [`RouteRule::agents`]).
    pub agents: Vec<String>,
    /// Tokens here must be DPoP-bound and proved (see [`RouteRule::dpop`]).
    pub dpop: bool,
}

/// A path segment with its letter case folded, as case-insensitive origins compare them: each
/// character upper-cased, then lower-cased (so `ı` and `I` meet `i`, `ſ` meets `s`).
pub fn fold_case(segment: &str) -> String {
    if segment.is_ascii() {
        return segment.to_ascii_lowercase();
    }
    segment.to_uppercase().to_lowercase()
}

impl CompiledRule {
    /// The methods the rule covers, by name; empty when it covers every method.
    pub fn method_names(&self) -> Vec<&str> {
        self.methods.iter().flatten().map(Method::as_str).collect()
    }

    /// The rule's path match on its own: the reference the trie is tested against.
    #[cfg(test)]
    fn matches_path(&self, path: &[String]) -> bool {
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::Param => match path.get(i) {
                    Some(s) if !s.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(lit) => match path.get(i) {
                    Some(s) if s == lit => {}
                    Some(s) if self.case_insensitive && fold_case(s) == fold_case(lit) => {}
                    _ => return false,
                },
            }
            i += 1;
        }
        i == path.len()
    }

    /// The rule's path match in any letter case, whatever the rule's own setting.
    #[cfg(test)]
    fn matches_folded(&self, path: &[String]) -> bool {
        let folded = CompiledRule {
            case_insensitive: true,
            ..self.clone()
        };
        folded.matches_path(path)
    }

    /// A rule without `methods` covers the seven usual methods; any other is covered only where
    /// a rule lists it, and TRACE and CONNECT by none (they are refused in configuration).
    fn allows(&self, method: &Method) -> bool {
        match &self.methods {
            None => !matches!(method, Method::Other(_)),
            Some(list) => {
                list.contains(method) || (*method == Method::Head && list.contains(&Method::Get))
            }
        }
    }
}

/// All rules of a plugin, in order, and a segment trie over their paths so a lookup costs the
/// path's depth, not the number of rules.
#[derive(Debug, Clone)]
pub struct RouteTable {
    rules: Vec<CompiledRule>,
    trie: Node,
    /// The rules that guard their other letter cases ([`CompiledRule::guards_case`]), every
    /// literal folded: what a case-insensitive origin would route a path to besides its match.
    guarded: Node,
}

/// One position in the trie of rule paths.
#[derive(Debug, Clone, Default)]
struct Node {
    literals: HashMap<String, Node>,
    /// Literal segments of case-insensitive rules, by their folded form.
    folded: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Rules whose path ends here.
    ends: Vec<usize>,
    /// Rules whose path is this prefix followed by `*` (anything, or nothing, after it).
    rest: Vec<usize>,
}

impl Node {
    fn insert(&mut self, segments: &[Segment], index: usize, case_insensitive: bool) {
        match segments.split_first() {
            None => self.ends.push(index),
            Some((Segment::Rest, _)) => self.rest.push(index),
            Some((Segment::Param, tail)) => self.param.get_or_insert_with(Default::default).insert(
                tail,
                index,
                case_insensitive,
            ),
            Some((Segment::Literal(lit), tail)) => {
                let (children, key) = if case_insensitive {
                    (&mut self.folded, fold_case(lit))
                } else {
                    (&mut self.literals, lit.clone())
                };
                children
                    .entry(key)
                    .or_default()
                    .insert(tail, index, case_insensitive)
            }
        }
    }

    /// Every rule whose path matches `path`, in no particular order.
    fn matching(&self, path: &[String], out: &mut Vec<usize>) {
        out.extend_from_slice(&self.rest);
        let Some((segment, tail)) = path.split_first() else {
            out.extend_from_slice(&self.ends);
            return;
        };
        if let Some(child) = self.literals.get(segment.as_str()) {
            child.matching(tail, out);
        }
        if !self.folded.is_empty() {
            if let Some(child) = self.folded.get(&fold_case(segment)) {
                child.matching(tail, out);
            }
        }
        if !segment.is_empty() {
            if let Some(child) = &self.param {
                child.matching(tail, out);
            }
        }
    }
}

/// The outcome of matching a request against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Rule(usize),
    /// Rules cover the path but not this method.
    MethodNotAllowed(Vec<String>),
    NoRule,
    /// The path matches one rule as spelled and, in another letter case, another rule that asks
    /// for something the first does not (a scope, a plan, an agent, a proof), and neither rule
    /// asks for all the other does: the origin may route it to either, so it is refused.
    CaseConflict,
}

impl RouteTable {
    /// Validates and compiles the rules, deny rules matching in any case, the others exactly.
    /// An empty list protects everything: one `token` rule on `/*`, so a gateway put in front of
    /// an API with no rules written fails closed.
    pub fn new(rules: Vec<RouteRule>) -> Result<RouteTable, RuleError> {
        RouteTable::with_path_case(rules, None)
    }

    /// As [`RouteTable::new`], with the plugin's `case_insensitive_paths`: when set, the letter
    /// case matching of every rule that does not set its own `case_insensitive`.
    pub fn with_path_case(
        rules: Vec<RouteRule>,
        case_insensitive_paths: Option<bool>,
    ) -> Result<RouteTable, RuleError> {
        let rules = if rules.is_empty() {
            vec![RouteRule {
                path: "/*".into(),
                methods: Vec::new(),
                access: Access::Token,
                scopes: Vec::new(),
                max_body_bytes: None,
                case_insensitive: None,
                upstream_token: None,
                plan: None,
                agents: Vec::new(),
                dpop: false,
            }]
        } else {
            rules
        };
        let compiled = rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| compile(index, rule, case_insensitive_paths))
            .collect::<Result<Vec<_>, _>>()?;
        let mut trie = Node::default();
        let mut guarded = Node::default();
        for (index, rule) in compiled.iter().enumerate() {
            trie.insert(&rule.segments, index, rule.case_insensitive);
            if rule.guards_case {
                guarded.insert(&rule.segments, index, true);
            }
        }
        Ok(RouteTable {
            rules: compiled,
            trie,
            guarded,
        })
    }

    /// Every rule, in configuration order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn rule(&self, index: usize) -> Option<&CompiledRule> {
        self.rules.get(index)
    }

    /// The first rule (in configuration order) whose path and method match; where another letter
    /// case of the path names a rule that asks for more, the rule that asks for everything either
    /// asks decides, and without one the path is a [`RouteMatch::CaseConflict`].
    pub fn find(&self, method: &Method, path: &[String]) -> RouteMatch {
        let mut candidates = Vec::new();
        self.trie.matching(path, &mut candidates);
        candidates.sort_unstable();
        let mut allow: Vec<String> = Vec::new();
        for &index in &candidates {
            let Some(rule) = self.rules.get(index) else {
                continue;
            };
            if rule.allows(method) {
                return self.guard_case(index, method, path, &candidates);
            }
            rule.add_methods_to(&mut allow);
        }
        no_rule_for(allow)
    }

    /// `matched` decides `path`, unless a rule that matches it only in another letter case (and
    /// takes the method) asks for more: then the one of them that asks for at least what every
    /// other asks decides, or none does.
    fn guard_case(
        &self,
        matched: usize,
        method: &Method,
        path: &[String],
        exact: &[usize],
    ) -> RouteMatch {
        let mut folded = Vec::new();
        self.guarded.matching(path, &mut folded);
        folded
            .retain(|i| !exact.contains(i) && self.rules.get(*i).is_some_and(|r| r.allows(method)));
        if folded.is_empty() {
            return RouteMatch::Rule(matched);
        }
        folded.sort_unstable();
        folded.dedup();
        folded.insert(0, matched);
        let rule = |i: usize| &self.rules[i];
        folded
            .iter()
            .copied()
            .find(|&d| folded.iter().all(|&o| rule(d).asks_at_least(rule(o))))
            .map_or(RouteMatch::CaseConflict, RouteMatch::Rule)
    }
}

impl CompiledRule {
    /// Whether a call this rule lets through meets everything `other` asks of it: access (deny
    /// over token over public), every scope, the plan, the signed agents, a DPoP proof, the body
    /// cap, and no upstream token `other` would not forward.
    pub fn asks_at_least(&self, other: &CompiledRule) -> bool {
        fn rank(access: Access) -> u8 {
            match access {
                Access::Public => 0,
                Access::Token => 1,
                Access::Deny => 2,
            }
        }
        if self.access == Access::Deny {
            return true;
        }
        if rank(self.access) < rank(other.access) {
            return false;
        }
        let body = match (self.max_body_bytes, other.max_body_bytes) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => mine <= theirs,
            (None, Some(_)) => false,
        };
        // A rule's agents replace the plugin's own requirement, so only a narrower list of the
        // same kind compares; none against some is not comparable.
        let agents = if other.agents.is_empty() {
            self.agents.is_empty()
        } else {
            !self.agents.is_empty() && self.agents.iter().all(|a| other.agents.contains(a))
        };
        body && agents
            && other.scopes.iter().all(|s| self.scopes.contains(s))
            && (other.plan.is_none() || self.plan == other.plan)
            && (self.dpop || !other.dpop)
            && (self.upstream_token.is_none() || self.upstream_token == other.upstream_token)
    }

    /// Adds the methods this rule covers to an `Allow` list.
    fn add_methods_to(&self, allow: &mut Vec<String>) {
        if let Some(methods) = &self.methods {
            for m in methods {
                push_unique(allow, m.as_str());
                if *m == Method::Get {
                    push_unique(allow, "HEAD");
                }
            }
        }
    }
}

/// The answer when no rule takes the method: 405 with `Allow` if rules cover the path, else 404.
/// `Allow` lists the methods in one order (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, then the
/// others), whatever the order of the rules that cover the path.
fn no_rule_for(mut allow: Vec<String>) -> RouteMatch {
    if allow.is_empty() {
        return RouteMatch::NoRule;
    }
    const ORDER: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    allow.sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
    RouteMatch::MethodNotAllowed(allow)
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|m| m == item) {
        list.push(item.to_string());
    }
}

fn compile(
    index: usize,
    rule: RouteRule,
    case_insensitive_paths: Option<bool>,
) -> Result<CompiledRule, RuleError> {
    let err = |field: &'static str, expected: String| RuleError {
        index,
        field,
        expected,
    };
    let segments = compile_path(&rule.path).map_err(|e| err("path", e))?;
    let methods = compile_methods(&rule.methods).map_err(|e| err("methods", e))?;
    check_token_only_fields(&rule).map_err(|(field, e)| err(field, e))?;
    let case_setting = rule.case_insensitive.or(case_insensitive_paths);
    let case_insensitive = case_setting.unwrap_or(rule.access == Access::Deny);
    Ok(CompiledRule {
        pattern: rule.path,
        segments,
        methods,
        access: rule.access,
        scopes: rule.scopes,
        max_body_bytes: rule.max_body_bytes,
        case_insensitive,
        guards_case: case_setting.is_none() && !case_insensitive,
        upstream_token: rule.upstream_token,
        plan: rule.plan,
        agents: rule.agents,
        dpop: rule.dpop,
    })
}

/// A rule's path as segments: literals, `{name}` parameters and a final `*`.
fn compile_path(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "a path starting with / (e.g. /todos/{{id}} or /files/*), got {path:?}"
        ));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let segment = match *part {
            "*" if i == parts.len() - 1 => Segment::Rest,
            "*" => return Err(format!("* only as the last segment, got {path:?}")),
            p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Segment::Param,
            p if p.contains(['{', '}', '*', '%', '?', '#', '\\']) || p == "." || p == ".." => {
                return Err(format!(
                    "literal segments, {{name}} or a final *, got {path:?}"
                ))
            }
            "" if i != parts.len() - 1 => {
                return Err(format!("no empty segments (//), got {path:?}"))
            }
            p => Segment::Literal(p.to_string()),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// A rule's methods (`None`: any), as listed.
fn compile_methods(methods: &[String]) -> Result<Option<Vec<Method>>, String> {
    if methods.is_empty() || methods.iter().any(|m| m == "*") {
        return Ok(None);
    }
    let mut list = Vec::new();
    for m in methods {
        let upper = m.to_ascii_uppercase();
        match Method::parse(&upper) {
            // An origin that echoes TRACE hands the caller what the gateway added (the
            // identity assertion); CONNECT would tunnel past every rule.
            Method::Other(_) if upper == "TRACE" || upper == "CONNECT" => {
                return Err(format!(
                    "{upper} is never forwarded; list the methods the origin serves"
                ))
            }
            // An extension method (WebDAV's MOVE, say) as written: methods are
            // case-sensitive (RFC 9110 §9.1), and only a rule that lists one forwards it.
            Method::Other(_) if !m.is_empty() && m.bytes().all(is_tchar) => {
                list.push(Method::Other(m.clone()))
            }
            Method::Other(_) => {
                return Err(format!(
                    "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, another method token, or *, got {m:?}"
                ))
            }
            parsed => list.push(parsed),
        }
    }
    Ok(Some(list))
}

/// Scopes, a body cap, a plan, an upstream token and DPoP: what only a rule that takes a
/// credential may set, each well formed. `Err`: the field, and what it expects.
fn check_token_only_fields(rule: &RouteRule) -> Result<(), (&'static str, String)> {
    if rule.access != Access::Token && !rule.scopes.is_empty() {
        return Err((
            "scopes",
            "scopes only on rules with access = \"token\"".into(),
        ));
    }
    if let Some(bad) = rule.scopes.iter().find(|s| {
        s.is_empty() || s.contains(' ') || !s.chars().all(crate::primitives::syntax::is_scope_char)
    }) {
        return Err((
            "scopes",
            format!("scope tokens without spaces (RFC 6749 §3.3), got {bad:?}"),
        ));
    }
    if rule.max_body_bytes == Some(0) {
        return Err(("max_body_bytes", "a positive byte count".into()));
    }
    let token_only = [
        (
            rule.plan.is_some(),
            "plan",
            "only on rules with access = \"token\" (a plan is a signed-in user's)",
        ),
        (
            rule.upstream_token.is_some(),
            "upstream_token",
            "only on rules with access = \"token\" (the token is the signed-in user's)",
        ),
        (
            rule.dpop,
            "dpop",
            "only on rules with access = \"token\" (it binds the access token)",
        ),
    ];
    match token_only
        .iter()
        .find(|(set, ..)| *set && rule.access != Access::Token)
    {
        Some((_, field, expected)) => Err((field, expected.to_string())),
        None => Ok(()),
    }
}

/// RFC 9110 §5.6.2: a character of a token (a method name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why a request path was refused before matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRejection(pub &'static str);

/// Splits a raw request path into decoded segments, refusing every encoding that could make the
/// origin resolve a different path than the one matched here.
pub fn normalize_path(raw: &str) -> Result<Vec<String>, PathRejection> {
    let rest = raw
        .strip_prefix('/')
        .ok_or(PathRejection("the path must start with /"))?;
    if raw.contains('\\') {
        return Err(PathRejection("backslashes are not allowed in paths"));
    }
    let mut parts: Vec<&str> = rest.split('/').collect();
    // `/todos/` is the same resource as `/todos` to most origin routers: match it the same way,
    // so a trailing slash cannot slip past a rule written without one.
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() && !(i == 0 && parts.len() == 1) {
            return Err(PathRejection("empty path segments (//) are not allowed"));
        }
        if part.contains(';') {
            // Path parameters (`/admin;x`) are stripped by some origins before routing.
            return Err(PathRejection("semicolons are not allowed in paths"));
        }
        let decoded = percent_decode(part)
            .ok_or(PathRejection("the path has an invalid percent-encoding"))?;
        if decoded.contains(['/', '\\']) {
            return Err(PathRejection("encoded slashes are not allowed in paths"));
        }
        if decoded.contains(';') {
            return Err(PathRejection("semicolons are not allowed in paths"));
        }
        if decoded.chars().any(char::is_control) {
            return Err(PathRejection("control characters are not allowed in paths"));
        }
        if decoded == "." || decoded == ".." {
            return Err(PathRejection("dot segments are not allowed in paths"));
        }
        segments.push(decoded);
    }
    Ok(segments)
}

/// Decodes `%XX` escapes; `None` on a bad escape or a result that is not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_string());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, methods: &[&str], access: Access, scopes: &[&str]) -> RouteRule {
        RouteRule {
            path: path.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            access,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            max_body_bytes: None,
            case_insensitive: None,
            upstream_token: None,
            plan: None,
            agents: Vec::new(),
            dpop: false,
        }
    }

    fn folding(mut r: RouteRule, case_insensitive: Option<bool>) -> RouteRule {
        r.case_insensitive = case_insensitive;
        r
    }

    fn table() -> RouteTable {
        RouteTable::new(vec![
            rule("/admin/*", &[], Access::Deny, &[]),
            rule("/todos", &["GET"], Access::Token, &["todos:read"]),
            rule("/todos", &["POST"], Access::Token, &["todos:write"]),
            rule("/todos/{id}", &["GET"], Access::Token, &["todos:read"]),
            rule(
                "/todos/{id}",
                &["DELETE", "PATCH"],
                Access::Token,
                &["todos:write"],
            ),
            rule("/public/*", &[], Access::Public, &[]),
        ])
        .unwrap()
    }

    fn find(method: Method, path: &str) -> RouteMatch {
        table().find(&method, &normalize_path(path).unwrap())
    }

    #[test]
    fn the_first_rule_matching_path_and_method_decides() {
        assert_eq!(find(Method::Get, "/todos"), RouteMatch::Rule(1));
        assert_eq!(find(Method::Post, "/todos"), RouteMatch::Rule(2));
        assert_eq!(find(Method::Delete, "/todos/42"), RouteMatch::Rule(4));
        assert_eq!(find(Method::Get, "/public/a/b/c"), RouteMatch::Rule(5));
        assert_eq!(find(Method::Get, "/admin/users"), RouteMatch::Rule(0));
    }

    #[test]
    fn trace_connect_and_extension_methods_pass_only_where_a_rule_lists_them() {
        let path = |p: &str| -> Vec<String> { p.split('/').skip(1).map(str::to_string).collect() };
        let passes = |t: &RouteTable, m: &str| {
            matches!(
                t.find(&Method::parse(m), &path("/files/a")),
                RouteMatch::Rule(_)
            )
        };
        // A rule without methods: the seven usual ones, never another.
        let any = RouteTable::new(vec![rule("/*", &[], Access::Public, &[])]).unwrap();
        for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert!(passes(&any, m), "{m}");
        }
        for m in [
            "TRACE", "CONNECT", "MOVE", "PROPFIND", "TRACK", "get", "Trace",
        ] {
            assert!(!passes(&any, m), "{m} passed a rule that names no method");
        }
        // Listed, an extension method passes, in its own case only.
        let dav =
            RouteTable::new(vec![rule("/files/*", &["GET", "MOVE"], Access::Token, &[])]).unwrap();
        assert!(passes(&dav, "MOVE"));
        assert!(!passes(&dav, "move"));
        assert!(!passes(&dav, "PROPFIND"));
        // TRACE and CONNECT cannot be listed, in any case; nor can what is no method token.
        for bad in [
            "TRACE", "trace", "CONNECT", "Connect", "MO VE", "", "GET,POST",
        ] {
            assert!(
                RouteTable::new(vec![rule("/files/*", &[bad], Access::Token, &[])]).is_err(),
                "{bad:?} was taken"
            );
        }
    }

    #[test]
    fn head_rides_on_get() {
        assert_eq!(find(Method::Head, "/todos"), RouteMatch::Rule(1));
    }

    #[test]
    fn a_covered_path_with_another_method_is_405_with_allow() {
        assert_eq!(
            find(Method::Put, "/todos"),
            RouteMatch::MethodNotAllowed(vec!["GET".into(), "HEAD".into(), "POST".into()])
        );
    }

    #[test]
    fn allow_lists_methods_in_one_order_whatever_the_rules_order() {
        let reversed = RouteTable::new(vec![
            rule("/todos", &["POST"], Access::Token, &["todos:write"]),
            rule("/todos", &["DELETE", "GET"], Access::Token, &["todos:read"]),
        ])
        .unwrap();
        assert_eq!(
            reversed.find(&Method::Put, &["todos".to_string()]),
            RouteMatch::MethodNotAllowed(vec![
                "GET".into(),
                "HEAD".into(),
                "POST".into(),
                "DELETE".into()
            ])
        );
    }

    #[test]
    fn an_uncovered_path_matches_no_rule() {
        assert_eq!(find(Method::Get, "/secrets"), RouteMatch::NoRule);
        assert_eq!(find(Method::Get, "/todos/1/extra"), RouteMatch::NoRule);
    }

    #[test]
    fn a_trailing_slash_matches_like_the_path_without_it() {
        assert_eq!(find(Method::Get, "/todos/"), RouteMatch::Rule(1));
        assert_eq!(find(Method::Get, "/admin/"), RouteMatch::Rule(0));
        assert_eq!(normalize_path("/").unwrap(), vec![String::new()]);
    }

    #[test]
    fn encoded_letters_match_what_the_origin_will_decode() {
        assert_eq!(find(Method::Get, "/%61dmin/x"), RouteMatch::Rule(0));
        assert_eq!(find(Method::Get, "/todo%73"), RouteMatch::Rule(1));
    }

    #[test]
    fn a_deny_rule_refuses_every_case_of_its_path() {
        for raw in [
            "/admin/x",
            "/ADMIN/x",
            "/Admin/users",
            "/aDmIn",
            "/%41DMIN/x",
            "/%41dmin/",
            // Unicode case: the dotless ı upper-cases to I, as case-insensitive origins compare.
            "/adm%C4%B1n/x",
        ] {
            assert_eq!(find(Method::Get, raw), RouteMatch::Rule(0), "{raw}");
            assert_eq!(find(Method::Delete, raw), RouteMatch::Rule(0), "{raw}");
        }
        assert_eq!(find(Method::Get, "/admins/x"), RouteMatch::NoRule);
    }

    #[test]
    fn other_rules_stay_case_sensitive_unless_configured() {
        assert_eq!(find(Method::Get, "/TODOS"), RouteMatch::NoRule);
        assert_eq!(find(Method::Get, "/Public/a"), RouteMatch::NoRule);
        let table = RouteTable::new(vec![folding(
            rule("/Todos/{id}", &["GET"], Access::Token, &[]),
            Some(true),
        )])
        .unwrap();
        for raw in ["/todos/1", "/TODOS/1", "/Todos/1"] {
            assert_eq!(
                table.find(&Method::Get, &normalize_path(raw).unwrap()),
                RouteMatch::Rule(0),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_deny_rule_may_be_made_case_sensitive() {
        let table = RouteTable::new(vec![
            folding(rule("/admin/*", &[], Access::Deny, &[]), Some(false)),
            rule("/*", &[], Access::Public, &[]),
        ])
        .unwrap();
        let at = |raw: &str| table.find(&Method::Get, &normalize_path(raw).unwrap());
        assert_eq!(at("/admin/x"), RouteMatch::Rule(0));
        assert_eq!(at("/ADMIN/x"), RouteMatch::Rule(1));
    }

    #[test]
    fn the_plugin_setting_changes_the_default_and_a_rule_overrides_it() {
        let rules = || {
            vec![
                rule("/admin/*", &[], Access::Deny, &[]),
                rule("/todos", &[], Access::Token, &[]),
                folding(rule("/raw", &[], Access::Token, &[]), Some(false)),
            ]
        };
        let on = RouteTable::with_path_case(rules(), Some(true)).unwrap();
        let at = |t: &RouteTable, raw: &str| t.find(&Method::Get, &normalize_path(raw).unwrap());
        assert_eq!(at(&on, "/TODOS"), RouteMatch::Rule(1));
        assert_eq!(at(&on, "/ADMIN/x"), RouteMatch::Rule(0));
        assert_eq!(at(&on, "/RAW"), RouteMatch::NoRule);
        let off = RouteTable::with_path_case(rules(), Some(false)).unwrap();
        assert_eq!(at(&off, "/ADMIN/x"), RouteMatch::NoRule);
        assert_eq!(at(&off, "/admin/x"), RouteMatch::Rule(0));
        assert_eq!(at(&off, "/TODOS"), RouteMatch::NoRule);
    }

    #[test]
    fn path_tricks_are_refused() {
        for raw in [
            "/todos/%2e%2e/admin",
            "/todos/../admin",
            "/todos/./1",
            "/todos%2f1",
            "/todos%2F1",
            "//todos",
            "/todos//1",
            "/todos\\1",
            "/todos/%5c1",
            "/todos/%00",
            "/todos/%0d%0aX-Injected:%201",
            "/admin;x",
            "/todos/1%3bx",
            "/todos/%zz",
            "/todos/%c3",
            "todos",
        ] {
            assert!(
                matches!(normalize_path(raw), Err(PathRejection(why)) if ["backslashes are not allowed in paths", "control characters are not allowed in paths", "dot segments are not allowed in paths", "empty path segments (//) are not allowed", "encoded slashes are not allowed in paths", "semicolons are not allowed in paths", "the path has an invalid percent-encoding", "the path must start with /"].contains(&why)),
                "{raw} should be refused"
            );
        }
    }

    #[test]
    fn no_rules_means_everything_needs_a_token() {
        let table = RouteTable::new(Vec::new()).unwrap();
        let found = table.find(&Method::Post, &normalize_path("/anything/at/all").unwrap());
        assert_eq!(found, RouteMatch::Rule(0));
        assert_eq!(table.rule(0).unwrap().access, Access::Token);
    }

    #[test]
    fn bad_rules_are_named_by_field() {
        let cases = [
            (rule("todos", &[], Access::Token, &[]), "path"),
            (rule("/a/*/b", &[], Access::Token, &[]), "path"),
            (rule("/a//b", &[], Access::Token, &[]), "path"),
            (rule("/a/../b", &[], Access::Token, &[]), "path"),
            (rule("/a", &["TRACE"], Access::Token, &[]), "methods"),
            (rule("/a", &["GET POST"], Access::Token, &[]), "methods"),
            (rule("/a", &[], Access::Public, &["x"]), "scopes"),
            (rule("/a", &[], Access::Token, &["a b"]), "scopes"),
        ];
        for (bad, field) in cases {
            let error = RouteTable::new(vec![bad]).unwrap_err();
            assert_eq!(error.field, field);
        }
    }

    #[test]
    fn methods_are_case_insensitive_in_config() {
        let table = RouteTable::new(vec![rule("/a", &["get"], Access::Token, &[])]).unwrap();
        assert_eq!(
            table.find(&Method::Get, &normalize_path("/a").unwrap()),
            RouteMatch::Rule(0)
        );
    }

    /// The first-match-wins scan the trie replaces, with the letter-case guard done by scanning
    /// too, for comparison.
    fn find_by_scan(table: &RouteTable, method: &Method, path: &[String]) -> RouteMatch {
        let mut allow: Vec<String> = Vec::new();
        for (index, rule) in table.rules.iter().enumerate() {
            if !rule.matches_path(path) {
                continue;
            }
            if rule.allows(method) {
                let mut others: Vec<usize> = vec![index];
                others.extend((0..table.rules.len()).filter(|&o| {
                    let r = &table.rules[o];
                    r.guards_case
                        && r.allows(method)
                        && r.matches_folded(path)
                        && !r.matches_path(path)
                }));
                return others
                    .iter()
                    .copied()
                    .find(|&d| {
                        others
                            .iter()
                            .all(|&o| table.rules[d].asks_at_least(&table.rules[o]))
                    })
                    .map_or(RouteMatch::CaseConflict, RouteMatch::Rule);
            }
            rule.add_methods_to(&mut allow);
        }
        no_rule_for(allow)
    }

    #[test]
    fn the_trie_decides_exactly_as_a_first_match_scan() {
        let patterns = [
            "/a",
            "/a/*",
            "/a/{x}",
            "/a/b",
            "/a/{x}/c",
            "/{x}/b",
            "/*",
            "/a/b/",
            "/{x}",
            "/a/{x}/*",
            "/b/{y}/{z}",
            "/b/c/d",
            "/A/b",
            "/B/C/*",
        ];
        let accesses = [Access::Public, Access::Deny, Access::Token];
        let folds = [None, Some(true), None, Some(false)];
        let methods = [
            vec![],
            vec!["GET".to_string()],
            vec!["POST".to_string(), "PUT".to_string()],
        ];
        let paths = [
            "/", "/a", "/a/", "/a/b", "/a/b/", "/a/c", "/a/b/c", "/a/x/c", "/b", "/b/b", "/b/c/d",
            "/b/c/e", "/a/b/c/d", "/z/b", "/z", "/b/c", "/A", "/A/B", "/a/B", "/A/b/C", "/B/c/D",
            "/b/C/d", "/Z/B",
        ];
        // A family of rule sets: rotations of the patterns with varied methods and access.
        for shift in 0..patterns.len() {
            for take in [1, 3, 6, patterns.len()] {
                for plugin_default in [None, Some(true), Some(false)] {
                    let rules: Vec<RouteRule> = (0..take)
                        .map(|i| {
                            let p = patterns[(shift + i) % patterns.len()];
                            RouteRule {
                                path: p.to_string(),
                                methods: methods[(shift + i) % methods.len()].clone(),
                                access: accesses[(shift + i) % accesses.len()],
                                scopes: Vec::new(),
                                max_body_bytes: None,
                                case_insensitive: folds[(shift + i) % folds.len()],
                                upstream_token: None,
                                plan: None,
                                agents: Vec::new(),
                                dpop: false,
                            }
                        })
                        .collect();
                    let table = RouteTable::with_path_case(rules, plugin_default).unwrap();
                    for path in paths {
                        let segments = normalize_path(path).unwrap();
                        for method in [Method::Get, Method::Head, Method::Post, Method::Delete] {
                            assert_eq!(
                                table.find(&method, &segments),
                                find_by_scan(&table, &method, &segments),
                                "shift {shift} take {take} {plugin_default:?} {method:?} {path}"
                            );
                        }
                    }
                }
            }
        }
    }

    fn export_and_item(export_scopes: &[&str], export_case: Option<bool>) -> RouteTable {
        let mut export = rule("/todos/export", &["GET"], Access::Token, export_scopes);
        export.plan = Some("pro".into());
        RouteTable::new(vec![
            folding(export, export_case),
            rule("/todos/{id}", &["GET"], Access::Token, &["todos:read"]),
        ])
        .unwrap()
    }

    #[test]
    fn a_paid_route_holds_in_every_spelling_an_origin_routes_alike() {
        // Issue 29, finding 1: the weaker `{id}` rule took `/todos/Export`, which Express, ASP.NET
        // Core and IIS route to the export.
        let table = export_and_item(&["todos:read"], None);
        let at = |raw: &str| table.find(&Method::Get, &normalize_path(raw).unwrap());
        for raw in [
            "/todos/export",
            "/todos/Export",
            "/todos/EXPORT",
            "/todos/%45xport",
            "/todos/%65xport",
            "/todos/eXpOrT/",
        ] {
            assert_eq!(at(raw), RouteMatch::Rule(0), "{raw}");
        }
        // No rule takes these as spelled, so nothing reaches the origin.
        assert_eq!(at("/TODOS/export"), RouteMatch::NoRule);
        assert_eq!(at("/Todos/%45XPORT/"), RouteMatch::NoRule);
        assert_eq!(at("/todos/42"), RouteMatch::Rule(1));
        assert_eq!(at("/todos/exports"), RouteMatch::Rule(1));
        // HEAD rides on GET there too; another method is no route at all.
        assert_eq!(
            table.find(&Method::Head, &normalize_path("/todos/EXPORT").unwrap()),
            RouteMatch::Rule(0)
        );
        assert_eq!(
            table.find(&Method::Post, &normalize_path("/todos/EXPORT").unwrap()),
            RouteMatch::MethodNotAllowed(vec!["GET".into(), "HEAD".into()])
        );
    }

    #[test]
    fn spellings_whose_rules_ask_for_different_things_are_refused() {
        // The export asks for a plan and `todos:export`, the item for `todos:read`: neither asks
        // for all the other does, so only the route's own spellings pass.
        let table = export_and_item(&["todos:export"], None);
        let at = |raw: &str| table.find(&Method::Get, &normalize_path(raw).unwrap());
        assert_eq!(at("/todos/export"), RouteMatch::Rule(0));
        assert_eq!(at("/todos/EXPORT"), RouteMatch::CaseConflict);
        assert_eq!(at("/todos/%45xport"), RouteMatch::CaseConflict);
        assert_eq!(at("/todos/1"), RouteMatch::Rule(1));
    }

    #[test]
    fn an_owner_who_says_the_origin_is_case_sensitive_is_taken_at_their_word() {
        let table = export_and_item(&["todos:read"], Some(false));
        let at = |raw: &str| table.find(&Method::Get, &normalize_path(raw).unwrap());
        assert_eq!(at("/todos/export"), RouteMatch::Rule(0));
        assert_eq!(at("/todos/EXPORT"), RouteMatch::Rule(1));
        let plugin_wide = {
            let mut export = rule("/todos/export", &["GET"], Access::Token, &[]);
            export.plan = Some("pro".into());
            RouteTable::with_path_case(
                vec![export, rule("/todos/{id}", &["GET"], Access::Token, &[])],
                Some(false),
            )
            .unwrap()
        };
        assert_eq!(
            plugin_wide.find(&Method::Get, &normalize_path("/todos/EXPORT").unwrap()),
            RouteMatch::Rule(1)
        );
    }

    #[test]
    fn what_a_rule_asks_orders_rules() {
        let base = || rule("/x", &[], Access::Token, &["a"]);
        let compiled = |r: RouteRule| compile(0, r, None).unwrap();
        let token = compiled(base());
        let mut more = base();
        more.scopes.push("b".into());
        let more = compiled(more);
        let public = compiled(rule("/x", &[], Access::Public, &[]));
        let deny = compiled(rule("/x", &[], Access::Deny, &[]));
        let with = |f: &dyn Fn(&mut RouteRule)| {
            let mut r = base();
            f(&mut r);
            compiled(r)
        };
        let planned = with(&|r| r.plan = Some("pro".into()));
        let other_plan = with(&|r| r.plan = Some("team".into()));
        let proved = with(&|r| r.dpop = true);
        let capped = with(&|r| r.max_body_bytes = Some(10));
        let signed = with(&|r| r.agents = vec!["https://a.example".into()]);
        let upstream = with(&|r| r.upstream_token = Some("github".into()));
        for r in [&token, &more, &public, &planned, &proved, &capped, &signed] {
            assert!(r.asks_at_least(r));
            assert!(deny.asks_at_least(r));
            assert!(!r.asks_at_least(&deny));
        }
        assert!(more.asks_at_least(&token) && !token.asks_at_least(&more));
        assert!(token.asks_at_least(&public) && !public.asks_at_least(&token));
        assert!(planned.asks_at_least(&token) && !token.asks_at_least(&planned));
        assert!(!planned.asks_at_least(&other_plan) && !other_plan.asks_at_least(&planned));
        assert!(proved.asks_at_least(&token) && !token.asks_at_least(&proved));
        assert!(capped.asks_at_least(&token) && !token.asks_at_least(&capped));
        assert!(!signed.asks_at_least(&token) && !token.asks_at_least(&signed));
        assert!(token.asks_at_least(&upstream) && !upstream.asks_at_least(&token));
    }

    /// Another spelling of `segments` that case-insensitive, decoding origins route alike: each
    /// letter in either case, some percent-encoded, perhaps a trailing slash.
    fn respell(cases: &mut crate::primitives::cases::Cases, segments: &[&str]) -> String {
        let mut raw = String::new();
        for segment in segments {
            raw.push('/');
            for c in segment.chars() {
                let c = if cases.below(2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                if c.is_ascii_alphabetic() && cases.below(5) == 0 {
                    raw.push_str(&format!("%{:02X}", c as u8));
                } else {
                    raw.push(c);
                }
            }
        }
        if cases.below(4) == 0 {
            raw.push('/');
        }
        raw
    }

    #[test]
    fn no_spelling_of_a_route_gets_a_weaker_rule_than_the_routes_own() {
        // Generated rule tables over a few words, each rule with its own demands; for every path
        // and every other spelling of it, the rule that decides a spelling asks for at least what
        // the rule of each other spelling asks (where that rule does not match this spelling as
        // written, and nobody declared the origin case-sensitive), or the call is refused.
        let words = ["todos", "export", "Export", "me", "files"];
        let scopes = ["a", "b"];
        let plans = [None, None, Some("pro"), Some("team")];
        let mut cases = crate::primitives::cases::Cases::new(0x9e37_79b9_7f4a_7c15);
        for round in 0..400 {
            let count = 1 + cases.below(6);
            let rules: Vec<RouteRule> = (0..count)
                .map(|_| {
                    let depth = 1 + cases.below(3);
                    let mut path = String::new();
                    for d in 0..depth {
                        path.push('/');
                        match cases.below(6) {
                            0 => path.push_str("{p}"),
                            1 if d == depth - 1 => path.push('*'),
                            _ => path.push_str(cases.pick(&words)),
                        }
                    }
                    let access =
                        cases.pick(&[Access::Token, Access::Token, Access::Public, Access::Deny]);
                    let mut r = rule(
                        &path,
                        cases.pick::<&[&str]>(&[&[], &["GET"], &["GET", "POST"]]),
                        access,
                        &[],
                    );
                    r.case_insensitive = cases.pick(&[None, None, None, Some(true), Some(false)]);
                    if access == Access::Token {
                        r.scopes = scopes
                            .iter()
                            .filter(|_| cases.below(2) == 0)
                            .map(|s| s.to_string())
                            .collect();
                        r.plan = cases.pick(&plans).map(String::from);
                        r.dpop = cases.below(5) == 0;
                    }
                    r
                })
                .collect();
            let table =
                RouteTable::with_path_case(rules, cases.pick(&[None, None, Some(false)])).unwrap();
            for _ in 0..12 {
                let depth = 1 + cases.below(3);
                let base: Vec<&str> = (0..depth).map(|_| cases.pick(&words)).collect();
                let spellings: Vec<Vec<String>> = (0..6)
                    .map(|_| normalize_path(&respell(&mut cases, &base)).unwrap())
                    .collect();
                for method in [Method::Get, Method::Post, Method::Head] {
                    for v in &spellings {
                        let found = table.find(&method, v);
                        assert_eq!(
                            found,
                            find_by_scan(&table, &method, v),
                            "round {round} {v:?}"
                        );
                        let RouteMatch::Rule(d) = found else {
                            continue;
                        };
                        for w in &spellings {
                            let RouteMatch::Rule(own) = find_by_scan_exact(&table, &method, w)
                            else {
                                continue;
                            };
                            let theirs = &table.rules[own];
                            if theirs.matches_path(v) || !theirs.guards_case {
                                continue;
                            }
                            assert!(
                                table.rules[d].asks_at_least(theirs),
                                "round {round}: {v:?} took rule {d} ({}), weaker than rule {own} ({}) of {w:?}",
                                table.rules[d].pattern,
                                theirs.pattern
                            );
                        }
                    }
                }
            }
        }
    }

    /// Which rule a spelling names as written: the first that matches it and the method.
    fn find_by_scan_exact(table: &RouteTable, method: &Method, path: &[String]) -> RouteMatch {
        table
            .rules
            .iter()
            .position(|r| r.matches_path(path) && r.allows(method))
            .map_or(RouteMatch::NoRule, RouteMatch::Rule)
    }
}
