//! One plugin's table (`PLUGIN`, or an entry of `PLUGINS`): read by serde into [`RawPlugin`],
//! then checked into a [`PluginConfig`] (the manifest fields, the OpenAPI document, auth, routes
//! and quota). Where the plugin is served (hosts, base URL, origin, secrets) is `site.rs`'s.

use crate::quota::Quota;
use serde::Deserialize;

use super::auth::{validate_auth, AuthTable};
use super::read::read_with_tagged;
use super::values::{bounded, parse_absolute_http_url, required, resolve_public_url, table_value};
use super::{
    ConfigError, OpenApiSource, PluginConfig, DESCRIPTION_FOR_HUMAN_MAX_CHARS,
    DESCRIPTION_FOR_MODEL_MAX_CHARS, NAME_FOR_HUMAN_MAX_CHARS, NAME_FOR_MODEL_MAX_CHARS,
};
use crate::billing::Plan;
use crate::primitives::syntax::looks_like_email;
use crate::proxy::derived::DerivedRule;
use crate::proxy::rules::{RouteRule, RouteTable, RuleError};
use crate::proxy::signed_agent::AgentPolicy;

/// A plugin table as written. The manifest texts stay `Option` so that a missing one is named
/// by its check with the limits it must meet, not only as missing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of plugin settings")]
pub(crate) struct RawPlugin {
    name_for_human: Option<String>,
    name_for_model: Option<String>,
    description_for_human: Option<String>,
    description_for_model: Option<String>,
    logo_url: Option<String>,
    contact_email: Option<String>,
    legal_info_url: Option<String>,
    #[serde(default = "default_openapi_path")]
    openapi_path: String,
    openapi_file: Option<String>,
    openapi_origin_path: Option<String>,
    #[serde(default = "default_openapi_cache_secs")]
    openapi_cache_secs: u64,
    auth: Option<AuthTable>,
    resource: Option<String>,
    #[serde(default)]
    routes: Vec<RouteRule>,
    /// The letter-case matching of rules that do not set their own `case_insensitive`.
    case_insensitive_paths: Option<bool>,
    /// An allowlist of the caller's headers the origin gets (the common ones always pass).
    forward_headers: Option<Vec<String>>,
    /// Whether the origin may run a POST as the method a `_method` parameter names (default:
    /// assumed so, and such POSTs are refused).
    origin_honors_method_override: Option<bool>,
    /// Rules for the OpenAPI document's operations from their `security` (after `routes`).
    #[serde(default)]
    routes_from_openapi: bool,
    quota: Option<RawQuota>,
    /// The host names this plugin answers on (`PLUGINS`; optional for a single `PLUGIN`).
    pub(super) hosts: Option<Vec<String>>,
    /// Overrides `PUBLIC_BASE_URL` (default in `PLUGINS`: `https://` + the first host).
    pub(super) public_base_url: Option<String>,
    /// Overrides `ORIGIN_URL`.
    pub(super) origin_url: Option<String>,
    /// The name of the secret holding this plugin's `service_http` token (default `SERVICE_TOKEN`).
    pub(super) service_token_secret: Option<String>,
    /// The name of the secret this plugin's origin checks signatures with (default `ORIGIN_SECRET`).
    pub(super) origin_secret_name: Option<String>,
    /// Which upstream providers the sign-in page offers, and whether passwords too.
    pub(super) sign_in: Option<super::providers::RawSignIn>,
    /// Paid plans (Stripe).
    #[serde(default)]
    plans: Vec<RawPlan>,
    /// Signed agents (Web Bot Auth) this plugin trusts.
    agents: Option<RawAgents>,
    /// Who may exchange tokens (RFC 8693) for which resources.
    #[serde(default)]
    token_exchange: Vec<crate::oauth::exchange::ExchangePolicy>,
    /// Enterprise identity providers whose identity assertions (ID-JAG) are taken.
    #[serde(default)]
    enterprise_idps: Vec<crate::oauth::id_jag::EnterpriseIdp>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { trusted = [\"chatgpt.com\"], require = false, instead_of_ip = false }"
)]
pub(crate) struct RawAgents {
    #[serde(default)]
    trusted: Vec<String>,
    #[serde(default)]
    require: bool,
    #[serde(default)]
    instead_of_ip: bool,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { id = \"pro\", name = \"Pro\", stripe_price = \"price_…\", roles = [\"member\"], quota = { limit = 10000, period_secs = 2592000 } }"
)]
struct RawPlan {
    id: String,
    name: Option<String>,
    stripe_price: String,
    #[serde(default)]
    roles: Vec<String>,
    quota: Option<RawQuota>,
    #[serde(default)]
    includes: Vec<String>,
}

fn default_openapi_path() -> String {
    "/openapi.json".into()
}

fn default_openapi_cache_secs() -> u64 {
    crate::openapi::DEFAULT_CACHE_SECS
}

impl RawPlugin {
    pub(crate) fn is_oauth(&self) -> bool {
        self.auth.as_ref().is_some_and(AuthTable::is_oauth)
    }

    pub(crate) fn sells_plans(&self) -> bool {
        !self.plans.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { limit = 1000, period_secs = 3600 }"
)]
pub(crate) struct RawQuota {
    limit: u64,
    period_secs: u64,
    #[serde(default)]
    exact: bool,
}

/// The plugin tables to build, each with the key prefix its errors name.
pub(crate) fn plugin_entries(
    plugin: Option<serde_json::Value>,
    plugins: Option<serde_json::Value>,
) -> Result<Vec<(String, RawPlugin)>, ConfigError> {
    let table = |key: String, v: serde_json::Value| {
        read_with_tagged::<RawPlugin, AuthTable>(&key, &v, "auth", "type").map(|p| (key, p))
    };
    match (
        table_value("PLUGIN", plugin)?,
        table_value("PLUGINS", plugins)?,
    ) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "PLUGINS",
            "either PLUGIN (one plugin) or PLUGINS (several), not both",
        )),
        (Some(v), None) => Ok(vec![table("PLUGIN".into(), v)?]),
        (None, Some(serde_json::Value::Array(list))) if !list.is_empty() => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| table(format!("PLUGINS[{i}]"), v))
            .collect(),
        (None, Some(_)) => Err(ConfigError::new(
            "PLUGINS",
            "a non-empty array of plugin tables ([[vars.PLUGINS]] in wrangler.toml)",
        )),
        (None, None) => Err(ConfigError::new(
            "PLUGIN",
            "a table of plugin settings ([vars.PLUGIN] in wrangler.toml)",
        )),
    }
}

/// Checks a plugin table read by serde; `base` is the plugin's public base URL, against which
/// relative URLs resolve. Each step names its key under `prefix`.
///
/// Longer than most functions here on purpose: it is one line per setting, each checked by its
/// own function, in the order a deployment's errors are reported; split, that order would be
/// spread over several places.
pub(crate) fn validate_plugin(
    raw: RawPlugin,
    base: &str,
    prefix: &str,
) -> Result<PluginConfig, ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let name_for_human = bounded(
        &key("name_for_human"),
        raw.name_for_human,
        NAME_FOR_HUMAN_MAX_CHARS,
    )?;
    let name_for_model = model_name(&key("name_for_model"), raw.name_for_model)?;
    let description_for_human = bounded(
        &key("description_for_human"),
        raw.description_for_human,
        DESCRIPTION_FOR_HUMAN_MAX_CHARS,
    )?;
    let description_for_model = bounded(
        &key("description_for_model"),
        raw.description_for_model,
        DESCRIPTION_FOR_MODEL_MAX_CHARS,
    )?;
    let logo_url = public_url(
        &key("logo_url"),
        raw.logo_url,
        "a logo URL or a path under the base URL",
        base,
    )?;
    let contact_email = contact_email(&key("contact_email"), raw.contact_email)?;
    let legal_info_url = public_url(
        &key("legal_info_url"),
        raw.legal_info_url,
        "a URL to the plugin's legal information",
        base,
    )?;
    let openapi_path = served_document_path(prefix, raw.openapi_path)?;
    let openapi_source = openapi_source(
        prefix,
        &openapi_path,
        raw.openapi_file,
        raw.openapi_origin_path,
    )?;
    let plans = plans(prefix, raw.plans)?;
    let auth = validate_auth(raw.auth, prefix)?;
    let agents = agents(prefix, raw.agents, &auth)?;
    let (routes, derived_routes) = plugin_routes(
        prefix,
        RouteSettings {
            rules: raw.routes,
            from_openapi: raw.routes_from_openapi,
            case_insensitive: raw.case_insensitive_paths,
        },
        &openapi_source,
        &auth,
        &agents,
    )?;
    let plan_roles = plan_roles(&plans, &name_for_model);
    Ok(PluginConfig {
        plans,
        plan_roles,
        openapi_cache_secs: openapi_cache_secs(&key("openapi_cache_secs"), raw.openapi_cache_secs)?,
        asset_paths: local_path(&logo_url, base).into_iter().collect(),
        token_exchange: exchange_policies(prefix, raw.token_exchange, &auth)?,
        enterprise_idps: enterprise_idps(prefix, raw.enterprise_idps, &auth)?,
        auth,
        agents,
        derived_routes,
        resource: resource(&key("resource"), raw.resource, base)?,
        routes,
        quota_exact: raw.quota.as_ref().is_some_and(|q| q.exact),
        origin_honors_method_override: raw.origin_honors_method_override.unwrap_or(true),
        forward_headers: raw
            .forward_headers
            .map(|names| forward_headers(&key("forward_headers"), names))
            .transpose()?,
        quota: raw.quota.map(|q| quota(&key("quota"), q)).transpose()?,
        name_for_human,
        name_for_model,
        description_for_human,
        description_for_model,
        logo_url,
        contact_email,
        legal_info_url,
        openapi_path,
        openapi_source,
    })
}

/// The route settings of a plugin table.
struct RouteSettings {
    rules: Vec<RouteRule>,
    from_openapi: bool,
    case_insensitive: Option<bool>,
}

/// The plugin's route table: its own rules first (the first rule matching a call decides, so they
/// win), then those derived from the OpenAPI document's `security`.
fn plugin_routes(
    prefix: &str,
    settings: RouteSettings,
    openapi_source: &OpenApiSource,
    auth: &super::AuthConfig,
    agents: &AgentPolicy,
) -> Result<(RouteTable, Vec<DerivedRule>), ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let mut rules = settings.rules;
    for (i, rule) in rules.iter_mut().enumerate() {
        rule.agents = route_agents(&key(&format!("routes[{i}].agents")), &rule.agents, agents)?;
        if rule.dpop && !matches!(auth, super::AuthConfig::OAuth { .. }) {
            return Err(ConfigError::new(
                key(&format!("routes[{i}].dpop")),
                "only on plugins with auth type oauth (it binds the gateway's access tokens)",
            ));
        }
    }
    let derived_routes = if settings.from_openapi {
        derived_routes(prefix, openapi_source, auth)?
    } else {
        Vec::new()
    };
    // With no rule at all, the table would fall back to its catch-all.
    if settings.from_openapi && derived_routes.is_empty() && rules.is_empty() {
        return Err(ConfigError::new(
            key("routes_from_openapi"),
            "a document that describes operations (or routes of your own); this one describes none",
        ));
    }
    rules.extend(derived_routes.iter().map(DerivedRule::to_rule));
    let routes = route_table(prefix, rules, &derived_routes, settings.case_insensitive)?;
    Ok((routes, derived_routes))
}

/// Which role each plan grants, as the JSON the SQL that reads plans binds.
fn plan_roles(plans: &[Plan], plugin: &str) -> String {
    serde_json::Value::Array(
        plans
            .iter()
            .flat_map(|p| {
                p.roles
                    .iter()
                    .map(|role| serde_json::json!({"plugin": plugin, "plan": p.id, "role": role}))
            })
            .collect(),
    )
    .to_string()
}

/// The signed agents a plugin trusts, as origins; `require` and `instead_of_ip` need some, and
/// `instead_of_ip` a `none` plugin with an address lock for them to stand in for.
fn agents(
    prefix: &str,
    raw: Option<RawAgents>,
    auth: &super::AuthConfig,
) -> Result<crate::proxy::signed_agent::AgentPolicy, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Default::default());
    };
    let key = |field: &str| format!("{prefix}.agents.{field}");
    let mut trusted = Vec::new();
    for name in &raw.trusted {
        let origin = crate::proxy::signed_agent::agent_origin(name).ok_or_else(|| {
            ConfigError::new(
                key("trusted"),
                format!("agent origins such as chatgpt.com or https://chatgpt.com, got {name:?}"),
            )
        })?;
        if !trusted.contains(&origin) {
            trusted.push(origin);
        }
    }
    if trusted.len() > 20 {
        return Err(ConfigError::new(
            key("trusted"),
            "at most 20 agents (a call without Signature-Agent may search each one's directory)",
        ));
    }
    if trusted.is_empty() && (raw.require || raw.instead_of_ip) {
        return Err(ConfigError::new(
            key("trusted"),
            "the agents to trust, when require or instead_of_ip is set",
        ));
    }
    let ip_locked = matches!(auth, super::AuthConfig::None { ip_lock: Some(_) });
    if raw.instead_of_ip && !ip_locked {
        return Err(ConfigError::new(
            key("instead_of_ip"),
            "only on a none plugin with openai_egress_only or allowed_cidrs (a signature then stands in for the address)",
        ));
    }
    Ok(crate::proxy::signed_agent::AgentPolicy {
        trusted,
        require: raw.require,
        instead_of_ip: raw.instead_of_ip,
    })
}

/// The rules the OpenAPI document's `security` gives its operations. The document must be one
/// deployed with the Worker (`static/`), so the table is known when the configuration is read.
fn derived_routes(
    prefix: &str,
    source: &OpenApiSource,
    auth: &super::AuthConfig,
) -> Result<Vec<crate::proxy::derived::DerivedRule>, ConfigError> {
    let key = format!("{prefix}.routes_from_openapi");
    let OpenApiSource::Static(path) = source else {
        return Err(ConfigError::new(
            key,
            "an OpenAPI document deployed with the Worker (openapi_file, under static/); one read from the origin is known only later",
        ));
    };
    use crate::proxy::derived::{from_static, StaticDocumentError};
    from_static(path, auth).map_err(|e| match e {
        StaticDocumentError::Missing => {
            ConfigError::new(&key, format!("the OpenAPI document {path} under static/"))
        }
        StaticDocumentError::Unreadable(e) => {
            ConfigError::new(&key, format!("a readable OpenAPI document: {e:?}"))
        }
        StaticDocumentError::Underivable(e) => ConfigError::new(
            &key,
            format!("a document whose operations' security the gateway can enforce; {e}"),
        ),
    })
}

/// Token-exchange policies: each names a client, the resources whose tokens it may exchange,
/// the resource it may get tokens for, and at most which scopes. Only for `oauth` plugins.
fn exchange_policies(
    prefix: &str,
    policies: Vec<crate::oauth::exchange::ExchangePolicy>,
    auth: &super::AuthConfig,
) -> Result<Vec<crate::oauth::exchange::ExchangePolicy>, ConfigError> {
    use crate::oauth::authorize::is_absolute_uri_without_fragment;
    if !policies.is_empty() && !matches!(auth, super::AuthConfig::OAuth { .. }) {
        return Err(ConfigError::new(
            format!("{prefix}.token_exchange"),
            "token exchange only on plugins with auth type oauth",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        let key = |field: &str| format!("{prefix}.token_exchange[{i}].{field}");
        if p.client.trim().is_empty() {
            return Err(ConfigError::new(
                key("client"),
                "the exchanging client's id",
            ));
        }
        if p.from.is_empty() || !p.from.iter().all(|f| is_absolute_uri_without_fragment(f)) {
            return Err(ConfigError::new(
                key("from"),
                "the resource indicators (absolute URIs) whose tokens the client may exchange",
            ));
        }
        if !is_absolute_uri_without_fragment(&p.to) {
            return Err(ConfigError::new(
                key("to"),
                "the resource indicator (an absolute URI) the client may get tokens for",
            ));
        }
        let scope_ok = |s: &String| {
            !s.is_empty()
                && !s.contains(' ')
                && s.chars().all(crate::primitives::syntax::is_scope_char)
                && !crate::rbac::scope::OPENID_SCOPES.contains(&s.as_str())
        };
        if p.scopes.is_empty() || !p.scopes.iter().all(scope_ok) {
            return Err(ConfigError::new(
                key("scopes"),
                "the scopes (at most) the exchanged token may carry",
            ));
        }
    }
    Ok(policies)
}

/// Enterprise identity providers: unique ids, an http(s) issuer and JWKS, the clients each
/// speaks for. Only for `oauth` plugins.
fn enterprise_idps(
    prefix: &str,
    idps: Vec<crate::oauth::id_jag::EnterpriseIdp>,
    auth: &super::AuthConfig,
) -> Result<Vec<crate::oauth::id_jag::EnterpriseIdp>, ConfigError> {
    if !idps.is_empty() && !matches!(auth, super::AuthConfig::OAuth { .. }) {
        return Err(ConfigError::new(
            format!("{prefix}.enterprise_idps"),
            "enterprise identity providers only on plugins with auth type oauth",
        ));
    }
    for (i, idp) in idps.iter().enumerate() {
        enterprise_idp(&format!("{prefix}.enterprise_idps[{i}]"), idp, &idps[..i])?;
    }
    Ok(idps)
}

/// One enterprise identity provider's entry, at `prefix`, beside the entries `before` it.
fn enterprise_idp(
    prefix: &str,
    idp: &crate::oauth::id_jag::EnterpriseIdp,
    before: &[crate::oauth::id_jag::EnterpriseIdp],
) -> Result<(), ConfigError> {
    let http_url = |u: &str| {
        url::Url::parse(u)
            .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
    };
    let key = |field: &str| format!("{prefix}.{field}");
    let id_ok = !idp.id.is_empty()
        && idp.id.len() <= 40
        && idp
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok || before.iter().any(|o| o.id == idp.id) {
        return Err(ConfigError::new(
            key("id"),
            "a unique short name (letters, digits, - and _)",
        ));
    }
    if !http_url(&idp.issuer) {
        return Err(ConfigError::new(
            key("issuer"),
            "the assertions' iss, an https URL",
        ));
    }
    if !http_url(&idp.jwks_uri) {
        return Err(ConfigError::new(
            key("jwks_uri"),
            "the URL of the provider's signing keys",
        ));
    }
    if idp.clients.is_empty() || idp.clients.iter().any(|c| c.trim().is_empty()) {
        return Err(ConfigError::new(
            key("clients"),
            "the ids of the clients the provider speaks for",
        ));
    }
    if before.iter().any(|o| o.issuer == idp.issuer) {
        return Err(ConfigError::new(
            key("issuer"),
            "an issuer no other entry names",
        ));
    }
    if idp.provision && idp.allowed_domains.is_empty() {
        return Err(ConfigError::new(
            key("allowed_domains"),
            "the email domains the provider owns, when it provisions accounts (it may not make accounts for others' addresses)",
        ));
    }
    let domain_ok =
        |d: &String| !d.is_empty() && !d.contains(['@', '/', ' ']) && *d == d.to_ascii_lowercase();
    if !idp.allowed_domains.iter().all(domain_ok) {
        return Err(ConfigError::new(
            key("allowed_domains"),
            "domain names in lower case, such as acme.com",
        ));
    }
    if idp.provision && idp.default_roles.is_empty() {
        return Err(ConfigError::new(
            key("default_roles"),
            "the roles provisioned users get",
        ));
    }
    if idp.link_by_email && idp.allowed_domains.is_empty() {
        return Err(ConfigError::new(
            key("allowed_domains"),
            "the email domains the provider owns, when it links accounts by email",
        ));
    }
    Ok(())
}

/// A route's `agents`: origins among the plugin's trusted agents, normalized.
fn route_agents(
    key: &str,
    listed: &[String],
    policy: &crate::proxy::signed_agent::AgentPolicy,
) -> Result<Vec<String>, ConfigError> {
    listed
        .iter()
        .map(|name| {
            crate::proxy::signed_agent::agent_origin(name)
                .filter(|origin| policy.trusted.contains(origin))
                .ok_or_else(|| {
                    ConfigError::new(
                        key,
                        format!("agents among the plugin's agents.trusted; {name:?} is not"),
                    )
                })
        })
        .collect()
}

/// The manifest schema's pattern for `name_for_model`, within its length limit.
fn model_name(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    let name = bounded(key, value, NAME_FOR_MODEL_MAX_CHARS)?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ConfigError::new(
            key,
            format!("only letters, digits and underscores (^[a-zA-Z0-9_]+$), got {name:?}"),
        ));
    }
    Ok(name)
}

/// A required URL, absolute or a path under the base URL, as the manifest publishes it.
fn public_url(
    key: &str,
    value: Option<String>,
    expected: &str,
    base: &str,
) -> Result<String, ConfigError> {
    resolve_public_url(key, &required(key, value, expected)?, base)
}

fn contact_email(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    let email = required(
        key,
        value,
        "an email address for safety and support contact",
    )?;
    if !looks_like_email(&email) {
        return Err(ConfigError::new(
            key,
            format!("an email address, got {email:?}"),
        ));
    }
    Ok(email)
}

/// A URL on this plugin's own host names a file under `static/` the gateway must serve.
fn local_path(url: &str, base: &str) -> Option<String> {
    url.strip_prefix(base)
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
}

/// The extension picks how the document is served, so a path without a known one is refused.
fn is_document_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains(['?', '#', ' '])
        && crate::openapi::DocFormat::from_path(path).is_some()
}

fn document_path_error(key: String, path: &str, what: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("{what} ending in .json, .yaml or .yml, such as /openapi.json, got {path:?}"),
    )
}

fn served_document_path(prefix: &str, path: String) -> Result<String, ConfigError> {
    if !is_document_path(&path) {
        return Err(document_path_error(
            format!("{prefix}.openapi_path"),
            &path,
            "the path the OpenAPI document is served at,",
        ));
    }
    Ok(path)
}

/// The document is a file under `static/` (by default the one at the served path, which a plugin
/// without a document, such as an MCP server, need not have) or a path on the origin, never both.
fn openapi_source(
    prefix: &str,
    served_path: &str,
    file: Option<String>,
    origin_path: Option<String>,
) -> Result<OpenApiSource, ConfigError> {
    let origin_key = format!("{prefix}.openapi_origin_path");
    match (file, origin_path) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            origin_key,
            "either openapi_file (under static/) or openapi_origin_path (on the origin), not both",
        )),
        (Some(file), None) if is_document_path(&file) && crate::assets::file(&file).is_none() => {
            Err(ConfigError::new(
                format!("{prefix}.openapi_file"),
                format!("a file under static/; there is none at {file}"),
            ))
        }
        (Some(file), None) if is_document_path(&file) => Ok(OpenApiSource::Static(file)),
        (Some(file), None) => Err(document_path_error(
            format!("{prefix}.openapi_file"),
            &file,
            "a file under static/",
        )),
        (None, Some(path)) if path.starts_with('/') && !path.contains(['#', ' ']) => {
            Ok(OpenApiSource::Origin(path))
        }
        (None, Some(path)) => Err(ConfigError::new(
            origin_key,
            format!("a path on the origin starting with /, got {path:?}"),
        )),
        (None, None) => Ok(OpenApiSource::Static(served_path.to_string())),
    }
}

/// No longer than a stale copy may be served while the origin fails (a day).
/// `forward_headers`: header names (RFC 9110 tokens), none of them one the gateway reserves
/// (credentials, forwarding and rewrite headers, its own identity headers).
fn forward_headers(key: &str, names: Vec<String>) -> Result<Vec<String>, ConfigError> {
    use crate::proxy::forward::{canonical_header_name, is_reserved_header};
    let mut canonical = Vec::with_capacity(names.len());
    for name in names {
        let token = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ConfigError::new(
                key,
                format!("header names (letters, digits, - and the like), got {name:?}"),
            ));
        }
        let name = canonical_header_name(&name);
        if is_reserved_header(&name) {
            return Err(ConfigError::new(
                key,
                format!("{name} is the gateway's to set or drop, never the caller's to forward"),
            ));
        }
        if !canonical.contains(&name) {
            canonical.push(name);
        }
    }
    Ok(canonical)
}

fn openapi_cache_secs(key: &str, secs: u64) -> Result<u64, ConfigError> {
    if secs > crate::openapi::STALE_IF_ERROR_SECS {
        return Err(ConfigError::new(
            key,
            format!("seconds between 0 and 86400, got {secs}"),
        ));
    }
    Ok(secs)
}

/// The resource indicator defaults to the base URL, the audience tokens for the plugin carry.
fn resource(key: &str, value: Option<String>, base: &str) -> Result<String, ConfigError> {
    match value {
        None => Ok(base.to_string()),
        Some(text) => Ok(parse_absolute_http_url(key, &text)?.as_str().to_string()),
    }
}

/// The table of the explicit rules then the derived ones (the last `derived.len()`); an error
/// in a derived rule names its operation, not an entry the owner never wrote.
fn route_table(
    prefix: &str,
    rules: Vec<RouteRule>,
    derived: &[crate::proxy::derived::DerivedRule],
    case_insensitive_paths: Option<bool>,
) -> Result<RouteTable, ConfigError> {
    let explicit = rules.len() - derived.len();
    RouteTable::with_path_case(rules, case_insensitive_paths).map_err(
        |RuleError {
             index,
             field,
             expected,
         }| match index.checked_sub(explicit).and_then(|i| derived.get(i)) {
            Some(d) => ConfigError::new(
                format!("{prefix}.routes_from_openapi"),
                format!("{} {}: {field}: {expected}", d.method, d.path),
            ),
            None => ConfigError::new(format!("{prefix}.routes[{index}].{field}"), expected),
        },
    )
}

/// A plugin's paid plans: unique ids (never `free`, the plan of everyone else), Stripe prices.
fn plans(prefix: &str, raw: Vec<RawPlan>) -> Result<Vec<crate::billing::Plan>, ConfigError> {
    let mut out: Vec<crate::billing::Plan> = Vec::with_capacity(raw.len());
    for (i, plan) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("{prefix}.plans[{i}].{field}");
        let id_ok = (1..=32).contains(&plan.id.len())
            && plan
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && plan.id != crate::billing::FREE_PLAN;
        if !id_ok || out.iter().any(|p| p.id == plan.id) {
            return Err(ConfigError::new(
                key("id"),
                format!(
                    "1 to 32 lower-case letters, digits and '-', unique, not \"free\"; got {:?}",
                    plan.id
                ),
            ));
        }
        if !plan.stripe_price.starts_with("price_")
            || out.iter().any(|p| p.stripe_price == plan.stripe_price)
        {
            return Err(ConfigError::new(
                key("stripe_price"),
                format!(
                    "a Stripe price id (price_…) no other plan uses, got {:?}",
                    plan.stripe_price
                ),
            ));
        }
        if plan.roles.iter().any(|r| r.trim().is_empty()) {
            return Err(ConfigError::new(key("roles"), "role names"));
        }
        out.push(crate::billing::Plan {
            name: plan.name.unwrap_or_else(|| plan.id.clone()),
            quota: plan.quota.map(|q| quota(&key("quota"), q)).transpose()?,
            id: plan.id,
            roles: plan.roles,
            stripe_price: plan.stripe_price,
            includes: plan.includes,
        });
    }
    for (i, plan) in out.iter().enumerate() {
        if let Some(bad) = plan
            .includes
            .iter()
            .find(|inc| **inc == plan.id || !out.iter().any(|p| p.id == **inc))
        {
            return Err(ConfigError::new(
                format!("{prefix}.plans[{i}].includes"),
                format!("ids of this plugin's other plans; {bad:?} is not one"),
            ));
        }
    }
    Ok(out)
}

fn quota(key: &str, raw: RawQuota) -> Result<Quota, ConfigError> {
    if raw.limit == 0 || raw.period_secs == 0 || raw.period_secs > 31 * 86_400 {
        return Err(ConfigError::new(
            key,
            "limit ≥ 1 and period_secs between 1 and 2678400 (31 days)",
        ));
    }
    Ok(Quota {
        limit: raw.limit,
        period_secs: raw.period_secs,
    })
}
