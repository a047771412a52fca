//! Where one plugin is served: its hosts, public base URL and origin, the secrets its entry
//! names, and the [`Config`] that puts these together with its checked table and the shared
//! settings.

use url::Url;

use super::plugin::{validate_plugin, RawPlugin};
use super::shared::Shared;
use super::values::{parse_absolute_http_url, parse_base_url};
use super::{AuthConfig, Config, ConfigError, RawConfig};
use crate::primitives::secret::Secret;

/// One plugin's full configuration, and the hosts it answers on.
pub(crate) fn build_site(
    raw: &RawConfig,
    shared: &Shared,
    prefix: &str,
    mut plugin: RawPlugin,
) -> Result<(Config, Vec<String>), ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let (public_base_url, hosts) = where_served(raw, prefix, &plugin)?;
    let origin = origin(&key("origin_url"), &plugin.origin_url, &raw.origin_url)?;
    let service_token = named_secret(
        raw,
        &key("service_token_secret"),
        &plugin.service_token_secret,
        ("SERVICE_TOKEN", &raw.service_token),
    )?;
    let origin_secret = named_secret(
        raw,
        &key("origin_secret_name"),
        &plugin.origin_secret_name,
        ("ORIGIN_SECRET", &raw.origin_secret),
    )?;
    let sign_in = super::providers::sign_in_for(
        prefix,
        plugin.sign_in.take(),
        &shared.providers,
        shared.mail.is_some(),
        shared.turnstile.as_ref(),
        &public_base_url,
    )?;
    let plugin = validate_plugin(plugin, &public_base_url, prefix)?;
    check_plans_and_upstream_tokens(prefix, &plugin, &sign_in)?;
    let config = Config {
        service_token: service_token_for(&plugin.auth, service_token)?,
        origin_secret: checked_origin_secret(origin_secret)?,
        oauth: match &plugin.auth {
            AuthConfig::OAuth { .. } => shared.oauth.clone(),
            _ => None,
        },
        account_portal: match &plugin.auth {
            AuthConfig::UserHttp { .. } => shared.oauth.clone(),
            _ => None,
        },
        allow_loopback_client_metadata: loopback_client_metadata(
            raw.client_metadata_allow_loopback.as_deref(),
            &public_base_url,
        )?,
        public_base_url,
        origin,
        origin_timeout_ms: shared.origin_timeout_ms,
        plugin,
        keys: shared.keys.clone(),
        admin_token: shared.admin_token.clone(),
        api_key_cache_secs: shared.api_key_cache_secs,
        request_log: shared.request_log,
        sign_in,
        upstream_token_key: shared.token_key.clone(),
        billing: shared.billing.clone(),
        mail: shared.mail.clone(),
        usage_flush_secs: shared.usage_flush_secs,
        // Filled in once every plugin is read (Deployment::parse).
        exchange_issuers: Vec::new(),
        takes_unbound_api_keys: false,
        sibling_resources: Vec::new(),
    };
    Ok((config, hosts))
}

/// The plugin's public base URL and the hosts it answers on. Each of several plugins has its own
/// host; a single `PLUGIN` may fall back to the vars.
fn where_served(
    raw: &RawConfig,
    prefix: &str,
    plugin: &RawPlugin,
) -> Result<(String, Vec<String>), ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let several = prefix != "PLUGIN";
    let listed = host_names(&key("hosts"), plugin.hosts.as_deref())?;
    let public_base_url =
        match (&plugin.public_base_url, listed.first()) {
            (Some(text), _) => parse_base_url(&key("public_base_url"), Some(text))?,
            (None, Some(host)) if several => {
                parse_base_url(&key("hosts"), Some(&format!("https://{host}")))?
            }
            (None, _) if several => return Err(ConfigError::new(
                key("hosts"),
                "the host names this plugin answers on (its public base URL is https:// the first)",
            )),
            (None, _) => parse_base_url("PUBLIC_BASE_URL", raw.public_base_url.as_deref())?,
        };
    let hosts = if listed.is_empty() && several {
        authority(&public_base_url).into_iter().collect()
    } else {
        listed
    };
    Ok((public_base_url, hosts))
}

/// Plans are sold only where users sign in; a route's plan is one of the plugin's, and a route's
/// upstream token one a provider of the plugin keeps.
fn check_plans_and_upstream_tokens(
    prefix: &str,
    plugin: &super::PluginConfig,
    sign_in: &super::SignIn,
) -> Result<(), ConfigError> {
    if !plugin.plans.is_empty() && !matches!(plugin.auth, AuthConfig::OAuth { .. }) {
        return Err(ConfigError::new(
            format!("{prefix}.plans"),
            "plans only on plugins with auth type oauth (subscribers sign in and pay in the portal)",
        ));
    }
    for (i, rule) in plugin.routes.rules().iter().enumerate() {
        if let Some(plan) = &rule.plan {
            if !plugin.plans.iter().any(|p| p.id == *plan) {
                return Err(ConfigError::new(
                    format!("{prefix}.routes[{i}].plan"),
                    format!("the id of one of this plugin's plans; {plan:?} is none"),
                ));
            }
        }
        let Some(id) = &rule.upstream_token else {
            continue;
        };
        if !sign_in.provider(id).is_some_and(|p| p.keep_tokens) {
            return Err(ConfigError::new(
                format!("{prefix}.routes[{i}].upstream_token"),
                format!("the id of a provider this plugin offers with keep_tokens = true; {id:?} is not"),
            ));
        }
    }
    Ok(())
}

/// Host names as requests carry them (lower case, an optional `:port`); `hosts = []` would
/// make a plugin no request can reach.
fn host_names(key: &str, list: Option<&[String]>) -> Result<Vec<String>, ConfigError> {
    let list = match list {
        None => return Ok(Vec::new()),
        Some([]) => return Err(ConfigError::new(key, "at least one host name")),
        Some(list) => list,
    };
    list.iter()
        .map(|h| {
            let host = h.trim().to_ascii_lowercase();
            let valid = !host.is_empty()
                && Url::parse(&format!("https://{host}/"))
                    .ok()
                    .is_some_and(|u| u.path() == "/" && u.username().is_empty());
            valid.then_some(host).ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!(
                        "host names such as todo.example.com (with an optional :port), got {h:?}"
                    ),
                )
            })
        })
        .collect()
}

/// A plugin of `PLUGINS` given a base URL but no hosts answers on its base URL's host.
fn authority(base_url: &str) -> Option<String> {
    let url = Url::parse(base_url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

fn origin(key: &str, own: &Option<String>, shared: &Option<String>) -> Result<Url, ConfigError> {
    match (own, shared) {
        (Some(text), _) => parse_absolute_http_url(key, text),
        (None, Some(text)) => parse_absolute_http_url("ORIGIN_URL", text),
        (None, None) => Err(ConfigError::new(
            "ORIGIN_URL",
            "the origin API's base URL, e.g. https://api.internal.example.com",
        )),
    }
}

/// A secret and the name its errors give it: the one the plugin entry names, which must be set,
/// or else the default secret (`(name, value)`), which may be unset.
struct NamedSecret {
    name: String,
    value: Option<String>,
}

fn named_secret(
    raw: &RawConfig,
    key: &str,
    name: &Option<String>,
    default: (&str, &Option<String>),
) -> Result<NamedSecret, ConfigError> {
    let Some(name) = name else {
        return Ok(NamedSecret {
            name: default.0.to_string(),
            value: default.1.clone(),
        });
    };
    match raw.named_secrets.get(name) {
        Some(value) => Ok(NamedSecret {
            name: name.clone(),
            value: Some(value.clone()),
        }),
        None => Err(ConfigError::new(
            key,
            format!("the name of a secret that is set; {name:?} is not"),
        )),
    }
}

/// Only `service_http` plugins use the shared token, and for them it is required.
fn service_token_for(
    auth: &AuthConfig,
    secret: NamedSecret,
) -> Result<Option<Secret>, ConfigError> {
    if !matches!(auth, AuthConfig::ServiceHttp { .. }) {
        return Ok(None);
    }
    match secret.value.filter(|t| t.len() >= 16) {
        Some(token) => Ok(Some(Secret::new(token))),
        None => Err(ConfigError::new(
            secret.name,
            "a secret of at least 16 characters for auth type service_http",
        )),
    }
}

/// Optional, but a short one would make the origin's signature check guessable.
fn checked_origin_secret(secret: NamedSecret) -> Result<Option<Secret>, ConfigError> {
    match secret.value.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.len() >= 32 => Ok(Some(Secret::new(t))),
        Some(_) => Err(ConfigError::new(
            secret.name,
            "a secret of at least 32 random characters (or unset)",
        )),
    }
}

/// Fetching client metadata from loopback over http is for local development only, so it is
/// refused unless the gateway itself is served over http on loopback.
fn loopback_client_metadata(setting: Option<&str>, base_url: &str) -> Result<bool, ConfigError> {
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| base_url == *p || base_url.starts_with(&format!("{p}:")));
    match setting {
        None | Some("") | Some("false") => Ok(false),
        Some("true") if local => Ok(true),
        Some(_) => Err(ConfigError::new(
            "CLIENT_METADATA_ALLOW_LOOPBACK",
            "unset, or true only for local development (the public base URL must be http on a loopback address)",
        )),
    }
}
