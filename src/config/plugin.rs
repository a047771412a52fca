//! One plugin's table (`PLUGIN`, or an entry of `PLUGINS`): the manifest fields, its resource,
//! auth type, route rules and quota. Where the plugin is served (hosts, base URL, origin,
//! secrets) is `site.rs`'s.

use serde::Deserialize;

use super::values::{bounded, parse_absolute_http_url, required, resolve_public_url};
use super::{
    AuthConfig, ConfigError, HttpAuthorizationType, IpLock, OpenApiSource, PluginConfig,
    QuotaConfig, DESCRIPTION_FOR_HUMAN_MAX_CHARS, DESCRIPTION_FOR_MODEL_MAX_CHARS,
    NAME_FOR_HUMAN_MAX_CHARS, NAME_FOR_MODEL_MAX_CHARS,
};
use crate::primitives::syntax::{is_scope_char, looks_like_email};
use crate::proxy::cidr::IpRanges;
use crate::proxy::rules::{RouteRule, RouteTable, RuleError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugin {
    name_for_human: Option<String>,
    name_for_model: Option<String>,
    description_for_human: Option<String>,
    description_for_model: Option<String>,
    logo_url: Option<String>,
    contact_email: Option<String>,
    legal_info_url: Option<String>,
    openapi_path: Option<String>,
    openapi_file: Option<String>,
    openapi_origin_path: Option<String>,
    openapi_cache_secs: Option<u64>,
    auth: Option<RawAuth>,
    resource: Option<String>,
    #[serde(default)]
    routes: Vec<RouteRule>,
    /// The letter-case matching of rules that do not set their own `case_insensitive`.
    case_insensitive_paths: Option<serde_json::Value>,
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
}

impl RawPlugin {
    pub(crate) fn is_oauth(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.kind == "oauth")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    #[serde(rename = "type")]
    kind: String,
    openai_egress_only: Option<bool>,
    allowed_cidrs: Option<Vec<String>>,
    authorization_type: Option<String>,
    scope: Option<String>,
    authorization_content_type: Option<String>,
    verification_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    limit: u64,
    period_secs: u64,
}

/// The plugin tables to build, each with the key prefix its errors name.
pub(crate) fn plugin_entries(
    plugin: Option<serde_json::Value>,
    plugins: Option<serde_json::Value>,
) -> Result<Vec<(String, RawPlugin)>, ConfigError> {
    // A table arrives as an object; `--var NAME:{...}` or a dashboard text variable as a JSON
    // string. An empty string counts as unset, so a command line can clear wrangler.toml's table.
    fn value(
        key: &str,
        v: Option<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, ConfigError> {
        match v {
            None => Ok(None),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ConfigError::new(key, format!("JSON: {e}"))),
            Some(other) => Ok(Some(other)),
        }
    }
    let table = |key: String, v: serde_json::Value| {
        serde_json::from_value::<RawPlugin>(v)
            .map(|p| (key.clone(), p))
            .map_err(|e| ConfigError::new(key, format!("a valid plugin table: {e}")))
    };
    match (value("PLUGIN", plugin)?, value("PLUGINS", plugins)?) {
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

pub(crate) fn validate_plugin(
    raw: RawPlugin,
    base: &str,
    prefix: &str,
) -> Result<PluginConfig, ConfigError> {
    let name_for_human = bounded(
        &format!("{prefix}.name_for_human"),
        raw.name_for_human,
        NAME_FOR_HUMAN_MAX_CHARS,
    )?;
    let name_for_model = bounded(
        &format!("{prefix}.name_for_model"),
        raw.name_for_model,
        NAME_FOR_MODEL_MAX_CHARS,
    )?;
    if !name_for_model
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ConfigError::new(
            format!("{prefix}.name_for_model"),
            format!(
                "only letters, digits and underscores (^[a-zA-Z0-9_]+$), got {name_for_model:?}"
            ),
        ));
    }
    let description_for_human = bounded(
        &format!("{prefix}.description_for_human"),
        raw.description_for_human,
        DESCRIPTION_FOR_HUMAN_MAX_CHARS,
    )?;
    let description_for_model = bounded(
        &format!("{prefix}.description_for_model"),
        raw.description_for_model,
        DESCRIPTION_FOR_MODEL_MAX_CHARS,
    )?;
    let logo_url = resolve_public_url(
        &format!("{prefix}.logo_url"),
        &required(
            &format!("{prefix}.logo_url"),
            raw.logo_url,
            "a logo URL or a path under the base URL",
        )?,
        base,
    )?;
    let contact_email = required(
        &format!("{prefix}.contact_email"),
        raw.contact_email,
        "an email address for safety and support contact",
    )?;
    if !looks_like_email(&contact_email) {
        return Err(ConfigError::new(
            format!("{prefix}.contact_email"),
            format!("an email address, got {contact_email:?}"),
        ));
    }
    let legal_info_url = resolve_public_url(
        &format!("{prefix}.legal_info_url"),
        &required(
            &format!("{prefix}.legal_info_url"),
            raw.legal_info_url,
            "a URL to the plugin's legal information",
        )?,
        base,
    )?;
    let openapi_path = raw.openapi_path.unwrap_or_else(|| "/openapi.json".into());
    let openapi_path_error = |key: &str, text: &str, what: &str| {
        ConfigError::new(
            format!("{prefix}.{key}"),
            format!("{what} ending in .json, .yaml or .yml, such as /openapi.json, got {text:?}"),
        )
    };
    let is_document_path = |p: &str| {
        p.starts_with('/')
            && !p.contains(['?', '#', ' '])
            && crate::openapi::DocFormat::from_path(p).is_some()
    };
    if !is_document_path(&openapi_path) {
        return Err(openapi_path_error(
            "openapi_path",
            &openapi_path,
            "the path the OpenAPI document is served at,",
        ));
    }
    let openapi_source = match (raw.openapi_file, raw.openapi_origin_path) {
        (Some(_), Some(_)) => return Err(ConfigError::new(
            format!("{prefix}.openapi_origin_path"),
            "either openapi_file (under static/) or openapi_origin_path (on the origin), not both",
        )),
        (Some(file), None) if is_document_path(&file) => OpenApiSource::Static(file),
        (Some(file), None) => {
            return Err(openapi_path_error(
                "openapi_file",
                &file,
                "a file under static/",
            ))
        }
        (None, Some(path)) if path.starts_with('/') && !path.contains(['#', ' ']) => {
            OpenApiSource::Origin(path)
        }
        (None, Some(path)) => {
            return Err(ConfigError::new(
                format!("{prefix}.openapi_origin_path"),
                format!("a path on the origin starting with /, got {path:?}"),
            ))
        }
        (None, None) => OpenApiSource::Static(openapi_path.clone()),
    };
    let openapi_cache_secs = match raw.openapi_cache_secs {
        None => crate::openapi::DEFAULT_CACHE_SECS,
        Some(secs) if secs <= crate::openapi::STALE_IF_ERROR_SECS => secs,
        Some(secs) => {
            return Err(ConfigError::new(
                format!("{prefix}.openapi_cache_secs"),
                format!("seconds between 0 and 86400, got {secs}"),
            ))
        }
    };
    let mut asset_paths: Vec<String> = Vec::new();
    if let Some(local_logo) = logo_url.strip_prefix(base).filter(|p| p.starts_with('/')) {
        asset_paths.push(local_logo.to_string());
    }
    let auth = validate_auth(raw.auth, prefix)?;
    let resource = match raw.resource {
        None => base.to_string(),
        Some(text) => {
            let url = parse_absolute_http_url(&format!("{prefix}.resource"), &text)?;
            url.as_str().to_string()
        }
    };
    let case_insensitive_paths = match raw.case_insensitive_paths {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(on)) => Some(on),
        Some(other) => {
            return Err(ConfigError::new(
                format!("{prefix}.case_insensitive_paths"),
                format!("true or false, got {other}"),
            ))
        }
    };
    let routes = RouteTable::with_path_case(raw.routes, case_insensitive_paths).map_err(
        |RuleError {
             index,
             field,
             expected,
         }| { ConfigError::new(format!("{prefix}.routes[{index}].{field}"), expected) },
    )?;
    let quota = match raw.quota {
        None => None,
        Some(q) if q.limit == 0 || q.period_secs == 0 || q.period_secs > 31 * 86_400 => {
            return Err(ConfigError::new(
                format!("{prefix}.quota"),
                "limit ≥ 1 and period_secs between 1 and 2678400 (31 days)",
            ))
        }
        Some(q) => Some(QuotaConfig {
            limit: q.limit,
            period_secs: q.period_secs,
        }),
    };
    Ok(PluginConfig {
        name_for_human,
        name_for_model,
        description_for_human,
        description_for_model,
        logo_url,
        contact_email,
        legal_info_url,
        openapi_path,
        openapi_source,
        openapi_cache_secs,
        asset_paths,
        auth,
        resource,
        routes,
        quota,
    })
}

pub(crate) fn validate_auth(raw: Option<RawAuth>, prefix: &str) -> Result<AuthConfig, ConfigError> {
    let raw = raw.ok_or_else(|| {
        ConfigError::new(
            format!("{prefix}.auth"),
            "a table with type = \"none\" | \"service_http\" | \"user_http\" | \"oauth\"",
        )
    })?;
    let verification_token = raw.verification_token.filter(|t| !t.is_empty());
    match raw.kind.as_str() {
        "none" => {
            let openai = raw.openai_egress_only.unwrap_or(false);
            let cidrs = raw.allowed_cidrs.unwrap_or_default();
            let extra = IpRanges::parse(cidrs.iter().map(String::as_str))
                .map_err(|e| ConfigError::new(format!("{prefix}.auth.allowed_cidrs"), e.0))?;
            let ip_lock = (openai || !cidrs.is_empty()).then_some(IpLock { openai, extra });
            Ok(AuthConfig::None { ip_lock })
        }
        "service_http" => {
            let authorization_type = match raw.authorization_type.as_deref() {
                None | Some("bearer") => HttpAuthorizationType::Bearer,
                Some("basic") => HttpAuthorizationType::Basic,
                Some(other) => {
                    return Err(ConfigError::new(
                        format!("{prefix}.auth.authorization_type"),
                        format!("\"bearer\" or \"basic\", got {other:?}"),
                    ))
                }
            };
            Ok(AuthConfig::ServiceHttp {
                authorization_type,
                verification_token,
            })
        }
        "oauth" => {
            let scope = raw.scope.unwrap_or_default();
            // ChatGPT refuses a manifest whose OAuth scope is empty.
            if scope.is_empty()
                || scope.split(' ').any(str::is_empty)
                || !scope.chars().all(is_scope_char)
            {
                return Err(ConfigError::new(
                    format!("{prefix}.auth.scope"),
                    format!(
                        "one or more space-separated scope tokens (RFC 6749 §3.3), got {scope:?}"
                    ),
                ));
            }
            let authorization_content_type = raw
                .authorization_content_type
                .unwrap_or_else(|| "application/x-www-form-urlencoded".into());
            if !matches!(
                authorization_content_type.as_str(),
                "application/x-www-form-urlencoded" | "application/json"
            ) {
                return Err(ConfigError::new(
                    format!("{prefix}.auth.authorization_content_type"),
                    format!(
                        "\"application/x-www-form-urlencoded\" or \"application/json\", got {authorization_content_type:?}"
                    ),
                ));
            }
            Ok(AuthConfig::OAuth {
                scope,
                authorization_content_type,
                verification_token,
            })
        }
        "user_http" => match raw.authorization_type.as_deref() {
            None | Some("bearer") => Ok(AuthConfig::UserHttp {
                authorization_type: HttpAuthorizationType::Bearer,
            }),
            Some("basic") => Ok(AuthConfig::UserHttp {
                authorization_type: HttpAuthorizationType::Basic,
            }),
            Some(other) => Err(ConfigError::new(
                format!("{prefix}.auth.authorization_type"),
                format!("\"bearer\" or \"basic\", got {other:?}"),
            )),
        },
        other => Err(ConfigError::new(
            format!("{prefix}.auth.type"),
            format!("\"none\", \"service_http\", \"user_http\" or \"oauth\", got {other:?}"),
        )),
    }
}
