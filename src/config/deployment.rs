//! A deployment: the shared settings, then each plugin (`PLUGIN`, or each entry of `PLUGINS`)
//! built into its site, with what each must know of the others; and which host picks which.

use super::plugin::plugin_entries;
use super::providers;
use super::shared::Shared;
use super::site::build_site;
use super::{AuthConfig, Config, ConfigError, RawConfig};

impl Config {
    /// A single-plugin configuration; [`Deployment::parse`] reads the general form.
    pub fn parse(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut deployment = Deployment::parse(raw)?;
        match deployment.sites.len() {
            1 => deployment
                .sites
                .pop()
                .ok_or_else(|| ConfigError::new("PLUGIN", "one plugin")),
            n => Err(ConfigError::new(
                "PLUGINS",
                format!("one plugin where a single configuration is read, got {n}"),
            )),
        }
    }
}

/// Every plugin one deployment serves, and which host picks which.
#[derive(Debug, Clone)]
pub struct Deployment {
    sites: Vec<Config>,
    /// `(host, site index)`, hosts lower-cased as `name[:port]`; empty for a single `PLUGIN`
    /// without `hosts`, which answers on any host.
    hosts: Vec<(String, usize)>,
}

impl Deployment {
    /// Validates the whole deployment: the shared settings, then each plugin (`PLUGIN`, or each
    /// entry of `PLUGINS`) with its own base URL, origin and secrets.
    pub fn parse(raw: RawConfig) -> Result<Deployment, ConfigError> {
        let entries = plugin_entries(raw.plugin.clone(), raw.plugins.clone())?;
        let shared = Shared::parse(
            &raw,
            entries.iter().any(|(_, p)| p.is_oauth()),
            entries.iter().any(|(_, p)| p.sells_plans()),
        )?;
        let mut sites = Vec::with_capacity(entries.len());
        let mut hosts = Vec::new();
        for (index, (prefix, plugin)) in entries.into_iter().enumerate() {
            let (site, site_hosts) = build_site(&raw, &shared, &prefix, plugin)?;
            if let Some(taken) = sites
                .iter()
                .position(|s: &Config| s.plugin.name_for_model == site.plugin.name_for_model)
            {
                return Err(ConfigError::new(
                    format!("{prefix}.name_for_model"),
                    format!("a name no other plugin uses; PLUGINS[{taken}] has it"),
                ));
            }
            for host in site_hosts {
                if let Some((_, other)) = hosts.iter().find(|(h, _)| *h == host) {
                    return Err(ConfigError::new(
                        format!("{prefix}.hosts"),
                        format!("hosts no other plugin serves; {host:?} is PLUGINS[{other}]'s"),
                    ));
                }
                hosts.push((host, index));
            }
            sites.push(site);
        }
        let issuers: Vec<Vec<String>> = sites.iter().map(|s| sibling_issuers(s, &sites)).collect();
        let resources: Vec<Vec<String>> =
            sites.iter().map(|s| sibling_resources(s, &sites)).collect();
        for ((site, issuers), resources) in sites.iter_mut().zip(issuers).zip(resources) {
            site.exchange_issuers = issuers;
            site.sibling_resources = resources;
        }
        let takes_keys = |s: &Config| matches!(s.plugin.auth, AuthConfig::UserHttp { .. });
        if sites.iter().filter(|s| takes_keys(s)).count() == 1 {
            for site in sites.iter_mut().filter(|s| takes_keys(s)) {
                site.takes_unbound_api_keys = true;
            }
        }
        Ok(Deployment { sites, hosts })
    }

    /// The plugin that serves `authority` (the request URL's `host[:port]`); `None` when no
    /// plugin is configured for it.
    pub fn site(&self, authority: &str) -> Option<&Config> {
        if self.hosts.is_empty() {
            return self.sites.first();
        }
        let authority = authority.to_ascii_lowercase();
        let without_port = strip_port(&authority);
        self.hosts
            .iter()
            .find(|(h, _)| *h == authority)
            .or_else(|| self.hosts.iter().find(|(h, _)| h == without_port))
            .and_then(|(_, i)| self.sites.get(*i))
    }

    pub fn sites(&self) -> &[Config] {
        &self.sites
    }
}

/// The other plugins whose resource one of `site`'s exchange policies takes tokens from, by issuer.
fn sibling_issuers(site: &Config, sites: &[Config]) -> Vec<String> {
    let mut issuers: Vec<String> = sites
        .iter()
        .filter(|other| other.public_base_url != site.public_base_url)
        .filter(|other| {
            site.plugin
                .token_exchange
                .iter()
                .any(|p| p.from.contains(&other.plugin.resource))
        })
        .map(|other| other.public_base_url.clone())
        .collect();
    issuers.sort();
    issuers.dedup();
    issuers
}

/// The resources of `site`'s siblings that are not also its own.
fn sibling_resources(site: &Config, sites: &[Config]) -> Vec<String> {
    let mut resources: Vec<String> = sites
        .iter()
        .filter(|other| other.public_base_url != site.public_base_url)
        .map(|other| other.plugin.resource.clone())
        .filter(|r| *r != site.plugin.resource)
        .collect();
    resources.sort();
    resources.dedup();
    resources
}

/// `host[:port]` → `host`, leaving bracketed IPv6 literals whole.
pub(super) fn strip_port(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') && authority[..i].matches(':').count() == 0 => {
            &authority[..i]
        }
        Some(i) if authority.starts_with('[') && authority[..i].ends_with(']') => &authority[..i],
        _ => authority,
    }
}

/// The names of the secrets the plugin entries refer to, so the edge can read exactly those.
pub fn referenced_secret_names(
    plugin: Option<&serde_json::Value>,
    plugins: Option<&serde_json::Value>,
    identity_providers: Option<&serde_json::Value>,
) -> Vec<String> {
    let parse = |v: &serde_json::Value| match v {
        serde_json::Value::String(text) => serde_json::from_str(text).ok(),
        other => Some(other.clone()),
    };
    let mut tables = Vec::new();
    if let Some(value) = plugin.and_then(parse) {
        tables.push(value);
    }
    if let Some(serde_json::Value::Array(list)) = plugins.and_then(parse) {
        tables.extend(list);
    }
    let mut names: Vec<String> = tables
        .iter()
        .flat_map(|t| ["service_token_secret", "origin_secret_name"].map(|k| t.get(k)))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    names.extend(providers::provider_secret_names(identity_providers));
    names.sort();
    names.dedup();
    names
}
