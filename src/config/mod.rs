//! Gateway configuration: parsed once per isolate from Worker vars and secrets, validated in full.
//!
//! Plain settings live in `wrangler.toml` `[vars]` (`PUBLIC_BASE_URL`, `ORIGIN_URL`, the `PLUGIN`
//! table); secrets come only from Worker secrets or `.dev.vars` (`SIGNING_KEY`, and
//! `SERVICE_TOKEN` for `service_http`). Every problem is a [`ConfigError`] that names the key and
//! says what was expected; nothing here panics. `docs/configuration.md` is the reference.

mod auth;
mod deployment;
mod plugin;
mod providers;
mod read;
mod shared;
mod site;
mod values;

pub use crate::proxy::auth::{AuthConfig, AuthorizationContentType, HttpAuthorizationType, IpLock};
use crate::quota::Quota;
use std::collections::BTreeMap;
use std::fmt;
use url::Url;

use crate::jose::keys::KeySet;
use crate::oauth::grant::RefreshPolicy;
use crate::primitives::secret::Secret;
use crate::proxy::rules::RouteTable;
use crate::request_log::SampleRate;
pub use deployment::{referenced_secret_names, Deployment};
pub use providers::{PasskeyPolicy, SignIn, SignUpPolicy, UserVerification};

/// ChatGPT gives up on a plugin call after 45 s; the default stays well inside that.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 30_000;

/// API keys looked up at the proxy are trusted for a minute per isolate: revocation takes effect
/// within that, and the hot path reads D1 at most once a minute per key and isolate.
pub const DEFAULT_API_KEY_CACHE_SECS: u64 = 60;

/// Manifest limits from OpenAI's plugin manifest schema (v1).
pub const NAME_FOR_HUMAN_MAX_CHARS: usize = 50;

pub const NAME_FOR_MODEL_MAX_CHARS: usize = 50;

pub const DESCRIPTION_FOR_HUMAN_MAX_CHARS: usize = 120;

pub const DESCRIPTION_FOR_MODEL_MAX_CHARS: usize = 8000;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, dotted for nested settings (`PLUGIN.name_for_model`).
    pub key: String,
    /// What the key must hold.
    pub expected: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}: {}", self.key, self.expected)
    }
}

impl std::error::Error for ConfigError {}

/// What the edge read from the environment, before validation.
/// Not `Debug`: it holds secrets as plain strings.
#[derive(Clone, Default)]
pub struct RawConfig {
    pub public_base_url: Option<String>,
    pub origin_url: Option<String>,
    pub origin_timeout_ms: Option<String>,
    pub plugin: Option<serde_json::Value>,
    /// Several plugins on one deployment, each on its own hosts (`PLUGINS`, an array of tables).
    pub plugins: Option<serde_json::Value>,
    /// Upstream identity providers users may sign in with (`IDENTITY_PROVIDERS`, an array of
    /// tables).
    pub identity_providers: Option<serde_json::Value>,
    /// Secret: the AES-256-GCM key upstream tokens are kept under (base64url, 32 bytes).
    pub upstream_token_key: Option<String>,
    /// Secret: Stripe's API key (`sk_…` or a restricted `rk_…`), for plugins with plans.
    pub stripe_secret_key: Option<String>,
    /// Secret: the webhook endpoint's signing secret(s) (`whsec_…`; several, comma-separated,
    /// while one is rolled).
    pub stripe_webhook_secret: Option<String>,
    /// Stripe's API base URL (a local stand-in in tests and the demo).
    pub stripe_api_base: Option<String>,
    /// How long an isolate trusts a user's plan, in seconds.
    pub plan_cache_secs: Option<String>,
    /// The sender of the mail accounts send (`Name <no-reply@your.domain>`).
    pub mail_from: Option<String>,
    /// `cloudflare` (the `send_email` binding `EMAIL`, the default) or `resend`.
    pub mail_provider: Option<String>,
    /// Secret: Resend's API key, with `MAIL_PROVIDER = "resend"`.
    pub resend_api_key: Option<String>,
    /// Resend's API base URL (a local stand-in in tests).
    pub resend_api_base: Option<String>,
    /// Secret: Cloudflare Turnstile's secret key, for plugins whose sign-up shows the widget.
    pub turnstile_secret_key: Option<String>,
    /// Where Turnstile's Siteverify is (a local stand-in in tests).
    pub turnstile_api_base: Option<String>,
    /// How often an isolate hands its usage counts to D1, in seconds.
    pub usage_flush_secs: Option<String>,
    /// Secrets named by plugin entries (`service_token_secret`, `origin_secret_name`), read by the
    /// edge after [`referenced_secret_names`] told it which.
    pub named_secrets: BTreeMap<String, String>,
    /// Secret: the current Ed25519 signing key (base64url of its 32-byte seed).
    pub signing_key: Option<String>,
    /// Secret: the key it replaced, still published in the JWKS until its tokens expire.
    pub previous_signing_key: Option<String>,
    /// Secret, optional: the current RSA signing key (a private JWK), for RS256 ID tokens and the
    /// access tokens of resources that ask for RS256.
    pub rsa_signing_key: Option<String>,
    /// Secret, optional: the RSA key it replaced, still published until its tokens expire.
    pub previous_rsa_signing_key: Option<String>,
    /// Secret: the shared bearer secret for `service_http` plugins.
    pub service_token: Option<String>,
    /// Secret: the HMAC key of portal sessions and CSRF tokens (`oauth` plugins).
    pub session_secret: Option<String>,
    /// Secret: the bearer credential of the admin API and console; without it they are off.
    pub admin_token: Option<String>,
    /// How long an isolate caches a looked-up API key, in seconds.
    pub api_key_cache_secs: Option<String>,
    /// The share of successful requests that write a log line (0 to 1; refusals and errors
    /// always do).
    pub request_log_sample_rate: Option<String>,
    /// Secret: shared with the origin to sign each forwarded request (HMAC).
    pub origin_secret: Option<String>,
    /// `true` lets client metadata documents be fetched over http from loopback addresses:
    /// for local development only, refused unless the base URL is itself http on loopback.
    pub client_metadata_allow_loopback: Option<String>,
    /// Optional lifetimes of the authorization server, in seconds.
    pub code_ttl_secs: Option<String>,
    pub access_token_ttl_secs: Option<String>,
    pub refresh_token_ttl_secs: Option<String>,
    pub refresh_token_absolute_ttl_secs: Option<String>,
}

/// The validated configuration of one deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer and public base URL, without a trailing slash (`https://todo.example.com`).
    pub public_base_url: String,
    pub origin: Url,
    pub origin_timeout_ms: u64,
    pub plugin: PluginConfig,
    pub keys: KeySet,
    pub service_token: Option<Secret>,
    /// The authorization server's settings; `None` unless the plugin's auth type is `oauth`.
    pub oauth: Option<OAuthSettings>,
    /// The sign-in and account pages' settings on a `user_http` plugin, where users sign in to
    /// make their own API keys: `Some` when the deployment has a `SESSION_SECRET`, else the
    /// plugin serves no portal (its keys are the administrator's to make). `None` for other
    /// auth types (an `oauth` plugin's portal is its authorization server's).
    pub account_portal: Option<OAuthSettings>,
    /// The admin API credential; `None` turns `/admin/` off (404).
    pub admin_token: Option<Secret>,
    /// How long an isolate trusts a looked-up API key (revocation takes effect within this).
    pub api_key_cache_secs: u64,
    /// The secret the origin shares to check `X-Portcullis-Signature`, if configured.
    pub origin_secret: Option<Secret>,
    /// Client metadata documents may be fetched from loopback over http (local development).
    pub allow_loopback_client_metadata: bool,
    /// The share of successful requests logged (see [`crate::request_log`]).
    pub request_log: SampleRate,
    /// How the portal signs users in: the upstream providers it offers, and passwords.
    pub sign_in: SignIn,
    /// The key upstream tokens are sealed with, when a provider keeps them.
    pub upstream_token_key: Option<crate::federation::TokenKey>,
    /// Stripe, when a plugin of the deployment sells plans.
    pub billing: Option<BillingSettings>,
    /// Where the mail accounts send goes out (`MAIL_FROM`); without it, nothing that needs a
    /// mail is offered (sign-up, email codes, password reset).
    pub mail: Option<crate::accounts::mail::MailSettings>,
    /// How often an isolate hands its usage counts to D1 (the console's charts), in seconds.
    pub usage_flush_secs: i64,
    /// The issuers (other plugins of this deployment) whose access tokens this plugin's
    /// `token_exchange` policies take as subject tokens: those whose resource a policy's `from`
    /// names. An MCP server behind one plugin exchanges its token at the plugin that owns the
    /// API it calls, which is the issuer of the token it gets back.
    pub exchange_issuers: Vec<String>,
    /// Whether API keys that name no plugin (issued before keys were bound to one, migration
    /// 0020) work here: only at the deployment's one `user_http` plugin, the one they can have
    /// been issued for. With two or more, such keys work nowhere and must be issued again.
    pub takes_unbound_api_keys: bool,
    /// The resource indicators of the deployment's other plugins: this plugin issues no token,
    /// code or consent for them (`invalid_target`), since each plugin issues only for the
    /// resources it owns. Its own resource, and resources registered in the directory that are
    /// no plugin's own (APIs outside the gateway), it may issue for.
    pub sibling_resources: Vec<String>,
}

/// How the gateway reaches Stripe and checks its webhooks.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub api_base: String,
    pub secret_key: Secret,
    pub webhook_secrets: Vec<Secret>,
    /// How long an isolate trusts a user's plan (a refusal reads it again first).
    pub plan_cache_secs: i64,
}

/// Settings of the OAuth authorization server.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub session_secret: Secret,
    pub code_ttl_secs: i64,
    /// Lifetime of access tokens for resources that set none, and of tokens without a resource.
    pub access_token_ttl_secs: i64,
    pub refresh: RefreshPolicy,
}

/// One plugin: its manifest, its auth type and the rules of its API.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub name_for_human: String,
    pub name_for_model: String,
    pub description_for_human: String,
    pub description_for_model: String,
    /// Absolute URL of the logo (a relative path in config is resolved against the base URL).
    pub logo_url: String,
    pub contact_email: String,
    pub legal_info_url: String,
    /// The path the OpenAPI document is served at; its extension picks JSON or YAML.
    pub openapi_path: String,
    /// Where the document comes from.
    pub openapi_source: OpenApiSource,
    /// How long a document fetched from the origin is served before it is fetched again, when
    /// the origin's `Cache-Control` does not say.
    pub openapi_cache_secs: u64,
    /// Paths of the plugin's own files under `static/` served as they are (the logo, when it is
    /// local), beside the ones every deployment serves.
    pub asset_paths: Vec<String>,
    pub auth: AuthConfig,
    /// The RFC 8707 resource indicator tokens for this plugin carry as `aud`.
    pub resource: String,
    pub routes: RouteTable,
    pub quota: Option<Quota>,
    /// The rules derived from the OpenAPI document (`routes_from_openapi`), as the console shows
    /// them; they are in `routes` after the explicit ones.
    pub derived_routes: Vec<crate::proxy::derived::DerivedRule>,
    /// Enterprise identity providers whose identity assertions (ID-JAG) the token endpoint takes.
    pub enterprise_idps: Vec<crate::oauth::id_jag::EnterpriseIdp>,
    /// Token-exchange policies (RFC 8693): who may exchange tokens for which resources.
    pub token_exchange: Vec<crate::oauth::exchange::ExchangePolicy>,
    /// The signed agents (Web Bot Auth) the plugin trusts, and what it asks of them.
    pub agents: crate::proxy::signed_agent::AgentPolicy,
    /// Paid plans (Stripe); a user without one is on the free plan (`quota`).
    pub plans: Vec<crate::billing::Plan>,
    /// The roles each plan gives, as the scope decision's query takes them (JSON,
    /// `[{"plugin", "plan", "role"}]`).
    pub plan_roles: String,
    /// `quota.exact`: every call is counted by the counter itself (a Durable Object round trip
    /// per call) instead of from calls leased to the isolate (see [`crate::quota::LeaseBook`]).
    pub quota_exact: bool,
    /// `forward_headers`: the caller's headers the origin may get besides
    /// [`crate::proxy::forward::ALWAYS_FORWARDED`] (canonical names); `None` forwards every
    /// header that is not reserved.
    pub forward_headers: Option<Vec<String>>,
    /// `origin_honors_method_override`: whether the origin may run a POST as the method a
    /// `_method` parameter (in its query or its form, multipart or JSON body) names, as Laravel,
    /// Symfony, Rails and Express's `method-override` do. While true (the default), such POSTs are
    /// refused, and POST bodies of those kinds are held to be read ([`crate::proxy::method_override`]).
    pub origin_honors_method_override: bool,
}

/// Where the OpenAPI document is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenApiSource {
    /// A file under `static/`, deployed with the Worker.
    Static(String),
    /// A path on the origin, fetched and cached per isolate.
    Origin(String),
}

impl Config {
    /// The plugin's DPoP policy (nothing required unless its auth type is `oauth` and it says so).
    pub fn dpop(&self) -> crate::oauth::dpop::DpopPolicy {
        match &self.plugin.auth {
            AuthConfig::OAuth { dpop, .. } => *dpop,
            _ => crate::oauth::dpop::DpopPolicy::default(),
        }
    }

    /// The settings the portal's pages run with: the authorization server's, or on a
    /// `user_http` plugin its account portal's.
    pub fn portal_settings(&self) -> Option<&OAuthSettings> {
        self.oauth.as_ref().or(self.account_portal.as_ref())
    }

    /// The key server nonces are made with: the session secret's bytes (`None` without OAuth).
    pub fn dpop_nonce_key(&self) -> Option<&[u8]> {
        self.oauth
            .as_ref()
            .map(|o| o.session_secret.expose().as_bytes())
    }

    /// The URL a request was addressed to, without its query: the public base URL's scheme, the
    /// authority the request came to (one of the plugin's hosts; else the base URL's) and its
    /// path. What a DPoP proof's `htu` names.
    pub fn request_url(&self, head: &crate::http::RequestHead) -> String {
        let (scheme, base_authority) = self
            .public_base_url
            .split_once("://")
            .unwrap_or(("https", &self.public_base_url));
        let authority = head.authority.as_deref().unwrap_or(base_authority);
        format!("{scheme}://{authority}{}", head.path)
    }

    /// The authority (`host[:port]`) a request was addressed to, as a signature covers it.
    pub fn request_authority<'h>(&'h self, head: &'h crate::http::RequestHead) -> &'h str {
        head.authority.as_deref().unwrap_or_else(|| {
            self.public_base_url
                .split_once("://")
                .map_or(self.public_base_url.as_str(), |(_, a)| a)
        })
    }

    /// Whether this plugin may issue for the resource `indicator`: not when it is another plugin's
    /// of the deployment (see [`Config::sibling_resources`]).
    pub fn issues_for(&self, indicator: &str) -> bool {
        !self.sibling_resources.iter().any(|r| r == indicator)
    }

    /// The RFC 9728 protected-resource metadata URL for this plugin's API.
    pub fn resource_metadata_url(&self) -> String {
        format!("{}{}", self.public_base_url, self.resource_metadata_path())
    }

    /// RFC 9728 §3.1: the well-known path, followed by the resource's own path when the resource
    /// is on this host and has one (`https://x.example.com/mcp` →
    /// `/.well-known/oauth-protected-resource/mcp`).
    pub fn resource_metadata_path(&self) -> String {
        let suffix = self
            .plugin
            .resource
            .strip_prefix(&self.public_base_url)
            .filter(|p| p.starts_with('/') && p.len() > 1)
            .map(|p| p.trim_end_matches('/'))
            .unwrap_or("");
        format!("/.well-known/oauth-protected-resource{suffix}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub const TEST_SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    pub fn plugin_json() -> serde_json::Value {
        json!({
            "name_for_human": "Todo Demo",
            "name_for_model": "todo_demo",
            "description_for_human": "Keep a todo list.",
            "description_for_model": "Manage the user's todo list.",
            "logo_url": "/logo.svg",
            "contact_email": "support@example.com",
            "legal_info_url": "https://example.com/legal",
            "auth": { "type": "oauth", "scope": "todos:read todos:write" },
            "routes": [
                { "path": "/todos", "methods": ["GET"], "scopes": ["todos:read"] },
                { "path": "/todos", "methods": ["POST"], "scopes": ["todos:write"] },
                { "path": "/public/*", "access": "public" }
            ]
        })
    }

    pub fn raw() -> RawConfig {
        RawConfig {
            public_base_url: Some("https://todo.example.com/".into()),
            origin_url: Some("http://127.0.0.1:9000".into()),
            origin_timeout_ms: None,
            plugin: Some(plugin_json()),
            signing_key: Some(TEST_SEED.into()),
            previous_signing_key: None,
            service_token: None,
            session_secret: Some("s".repeat(32)),
            ..RawConfig::default()
        }
    }

    fn error_for(mutate: impl FnOnce(&mut RawConfig)) -> ConfigError {
        let mut raw = raw();
        mutate(&mut raw);
        Config::parse(raw).expect_err("config should be refused")
    }

    fn selling(raw: &mut RawConfig) {
        raw.plugin.as_mut().unwrap()["plans"] = json!([
            {"id": "pro", "name": "Pro", "stripe_price": "price_pro", "roles": ["member"], "quota": {"limit": 10000, "period_secs": 86400}}
        ]);
        raw.stripe_secret_key = Some("sk_test_abc".into());
        raw.stripe_webhook_secret = Some("whsec_new, whsec_old".into());
    }

    #[test]
    fn forward_headers_is_an_allowlist_of_header_names_none_reserved() {
        let with = |names: serde_json::Value| {
            let mut r = raw();
            r.plugin.as_mut().unwrap()["forward_headers"] = names;
            Config::parse(r)
        };
        assert_eq!(Config::parse(raw()).unwrap().plugin.forward_headers, None);
        let listed = with(json!(["X-Tenant", "x_tenant", "Idempotency-Key"])).unwrap();
        assert_eq!(
            listed.plugin.forward_headers,
            Some(vec!["x-tenant".to_string(), "idempotency-key".to_string()])
        );
        assert_eq!(
            with(json!([])).unwrap().plugin.forward_headers,
            Some(vec![])
        );
        for bad in [
            json!(["Authorization"]),
            json!(["X_Forwarded_Host"]),
            json!(["x-portcullis-user"]),
            json!(["cookie"]),
            json!(["dpop"]),
            json!(["x-original-url"]),
            json!(["bad header"]),
            json!([""]),
            json!("x-tenant"),
        ] {
            let e = with(bad.clone()).expect_err("refused");
            assert_eq!(e.key, "PLUGIN.forward_headers", "{bad}");
        }
    }

    #[test]
    fn routes_come_from_the_documents_security_after_the_explicit_ones() {
        let mut r = raw();
        r.plugin.as_mut().unwrap()["routes_from_openapi"] = json!(true);
        let config = Config::parse(r).unwrap();
        let derived: Vec<String> = config
            .plugin
            .derived_routes
            .iter()
            .map(|d| {
                format!(
                    "{} {} {}",
                    d.method,
                    d.path,
                    crate::proxy::derived::describe(d.access, &d.scopes)
                )
            })
            .collect();
        assert_eq!(
            derived,
            [
                "GET /todos token todos:read",
                "POST /todos token todos:write",
                "GET /todos/{id} token todos:read",
                "DELETE /todos/{id} token todos:write",
                "PATCH /todos/{id} token todos:write",
            ]
        );
        let rules = config.plugin.routes.rules();
        assert_eq!(
            rules.len(),
            3 + 5,
            "the explicit rules, then the derived ones"
        );
        assert_eq!(rules[3].pattern, "/todos");
        // A document on the origin is not known when the configuration is read.
        let e = error_for(|r| {
            let plugin = r.plugin.as_mut().unwrap();
            plugin["routes_from_openapi"] = json!(true);
            plugin["openapi_origin_path"] = json!("/openapi.json");
        });
        assert_eq!(e.key, "PLUGIN.routes_from_openapi");
        // A none plugin cannot enforce the document's OAuth scopes: the error names an operation.
        let e = error_for(|r| {
            let plugin = r.plugin.as_mut().unwrap();
            plugin["routes_from_openapi"] = json!(true);
            plugin["auth"] = json!({"type": "none"});
        });
        assert_eq!(e.key, "PLUGIN.routes_from_openapi");
        assert!(e.expected.contains("GET /todos"), "{e}");
    }

    #[test]
    fn routes_come_from_the_owners_document_when_the_entry_module_provides_it() {
        // A Worker from the published package: the owner's document is provided, not compiled in.
        let owners = "openapi: 3.1.0\ninfo: {title: Notes, version: '1'}\ncomponents:\n  securitySchemes:\n    o: {type: oauth2, flows: {authorizationCode: {authorizationUrl: /authorize, tokenUrl: /token, scopes: {notes:read: Read}}}}\nsecurity: [{o: [notes:read]}]\npaths:\n  /notes:\n    get: {responses: {'200': {description: ok}}}\n  /status:\n    get: {security: [], responses: {'200': {description: ok}}}\n";
        let derive = |file: &str| {
            let mut r = raw();
            let plugin = r.plugin.as_mut().unwrap();
            plugin["routes_from_openapi"] = json!(true);
            plugin["openapi_file"] = json!(file);
            plugin["openapi_path"] = json!(file);
            Config::parse(r).map(|c| {
                c.plugin
                    .derived_routes
                    .iter()
                    .map(|d| format!("{} {}", d.method, d.path))
                    .collect::<Vec<_>>()
            })
        };
        let result = crate::assets::provide(vec![
            ("/notes.yaml".into(), owners.as_bytes().to_vec()),
            ("/openapi.json".into(), br#"{"openapi":"3.1.0","info":{"title":"x","version":"1"},"security":[],"paths":{"/mine":{"get":{"responses":{}}}}}"#.to_vec()),
        ])
        .map(|()| (derive("/notes.yaml"), derive("/openapi.json")));
        crate::assets::unprovide();
        let (notes, json) = result.unwrap();
        assert_eq!(notes.unwrap(), ["GET /notes", "GET /status"]);
        // The owner's /openapi.json stands in front of the demo's compiled-in one.
        assert_eq!(json.unwrap(), ["GET /mine"]);
        // Not provided any more: a document that is nowhere is a clear error.
        let e = derive("/notes.yaml").unwrap_err();
        assert_eq!(e.key, "PLUGIN.openapi_file");
        assert!(e.expected.contains("none at /notes.yaml"), "{e}");
    }

    #[test]
    fn a_document_the_table_cannot_take_is_refused_naming_the_operation() {
        let parse = |doc: &str| {
            crate::assets::provide(vec![("/api.json".into(), doc.as_bytes().to_vec())]).unwrap();
            let mut r = raw();
            let plugin = r.plugin.as_mut().unwrap();
            plugin["routes_from_openapi"] = json!(true);
            plugin["routes"] = json!([]);
            plugin["openapi_file"] = json!("/api.json");
            let parsed = Config::parse(r).map(|_| ());
            crate::assets::unprovide();
            parsed.unwrap_err()
        };
        // A path the rule table refuses: the error names the operation, not routes[N].
        let e = parse(r#"{"openapi":"3.1.0","security":[],"paths":{"/a%20b":{"get":{}}}}"#);
        assert_eq!(e.key, "PLUGIN.routes_from_openapi");
        assert!(e.expected.starts_with("GET /a%20b: path"), "{e}");
        // No operation at all: an empty table would fall back to its catch-all.
        let e = parse(r#"{"openapi":"3.1.0","paths":{"x-note":{}}}"#);
        assert_eq!(e.key, "PLUGIN.routes_from_openapi");
        assert!(e.expected.contains("describes none"), "{e}");
        // With routes of its own, a document without operations is fine.
        crate::assets::provide(vec![(
            "/api.json".into(),
            br#"{"openapi":"3.1.0","paths":{}}"#.to_vec(),
        )])
        .unwrap();
        let mut r = raw();
        let plugin = r.plugin.as_mut().unwrap();
        plugin["routes_from_openapi"] = json!(true);
        plugin["openapi_file"] = json!("/api.json");
        let parsed = Config::parse(r);
        crate::assets::unprovide();
        assert!(parsed.is_ok());
    }

    #[test]
    fn trusted_agents_are_origins_and_routes_name_only_them() {
        let mut r = raw();
        r.plugin.as_mut().unwrap()["agents"] = json!({"trusted": ["chatgpt.com", "https://chatgpt.com/", "http://127.0.0.1:8799"], "require": true});
        r.plugin.as_mut().unwrap()["routes"][0]["agents"] = json!(["ChatGPT.com"]);
        let config = Config::parse(r).unwrap();
        assert_eq!(
            config.plugin.agents.trusted,
            ["https://chatgpt.com", "http://127.0.0.1:8799"]
        );
        assert!(config.plugin.agents.require);
        assert_eq!(
            config.plugin.routes.rules()[0].agents,
            ["https://chatgpt.com"]
        );
        for (agents, route_agents, key) in [
            (
                json!({"trusted": ["ftp://x.example"]}),
                None,
                "PLUGIN.agents.trusted",
            ),
            (json!({"require": true}), None, "PLUGIN.agents.trusted"),
            (
                json!({"trusted": ["chatgpt.com"], "instead_of_ip": true}),
                None,
                "PLUGIN.agents.instead_of_ip",
            ),
            (
                json!({"trusted": ["chatgpt.com"], "sometimes": true}),
                None,
                "PLUGIN.agents",
            ),
            (
                json!({"trusted": ["chatgpt.com"]}),
                Some(json!(["claude.ai"])),
                "PLUGIN.routes[0].agents",
            ),
        ] {
            let e = error_for(|r| {
                let plugin = r.plugin.as_mut().unwrap();
                plugin["agents"] = agents.clone();
                if let Some(list) = &route_agents {
                    plugin["routes"][0]["agents"] = list.clone();
                }
            });
            assert!(e.key.starts_with(key), "{agents}: {e}");
        }
        // instead_of_ip stands in for an address lock only.
        let mut r = raw();
        let plugin = r.plugin.as_mut().unwrap();
        plugin["auth"] = json!({"type": "none", "openai_egress_only": true});
        plugin["agents"] = json!({"trusted": ["chatgpt.com"], "instead_of_ip": true});
        assert!(Config::parse(r).unwrap().plugin.agents.instead_of_ip);
    }

    #[test]
    fn plans_read_with_stripe_and_their_roles_go_to_the_scope_query() {
        let mut r = raw();
        selling(&mut r);
        r.plugin.as_mut().unwrap()["routes"][0]["plan"] = json!("pro");
        let config = Config::parse(r).unwrap();
        assert_eq!(config.plugin.plans[0].quota.unwrap().limit, 10000);
        assert_eq!(config.plugin.routes.rules()[0].plan.as_deref(), Some("pro"));
        let billing = config.billing.unwrap();
        assert_eq!(billing.api_base, "https://api.stripe.com");
        assert_eq!(billing.webhook_secrets.len(), 2, "two while one is rolled");
        assert_eq!(billing.plan_cache_secs, 30);
        let roles: serde_json::Value = serde_json::from_str(&config.plugin.plan_roles).unwrap();
        assert_eq!(
            roles,
            json!([{"plugin": "todo_demo", "plan": "pro", "role": "member"}])
        );
        assert!(
            Config::parse(raw()).unwrap().billing.is_none(),
            "no plans, no Stripe needed"
        );
    }

    #[test]
    fn plan_mistakes_name_their_key() {
        let with = |change: &dyn Fn(&mut RawConfig)| {
            error_for(|r| {
                selling(r);
                change(r);
            })
            .key
        };
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["plans"][0]["id"] = json!("free")),
            "PLUGIN.plans[0].id"
        );
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["plans"][0]["stripe_price"] = json!("pro")),
            "PLUGIN.plans[0].stripe_price"
        );
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["plans"][0]["quota"] =
                json!({"limit": 0, "period_secs": 1})),
            "PLUGIN.plans[0].quota"
        );
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["routes"][0]["plan"] = json!("gold")),
            "PLUGIN.routes[0].plan"
        );
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["routes"][2]["plan"] = json!("pro")),
            "PLUGIN.routes[2].plan",
            "not on a public rule"
        );
        assert_eq!(with(&|r| r.stripe_secret_key = None), "STRIPE_SECRET_KEY");
        assert_eq!(
            with(&|r| r.stripe_secret_key = Some("pk_live_123".into())),
            "STRIPE_SECRET_KEY",
            "a publishable key is not a secret key"
        );
        assert_eq!(
            with(&|r| r.stripe_webhook_secret = Some("not-a-whsec".into())),
            "STRIPE_WEBHOOK_SECRET"
        );
        assert_eq!(
            with(&|r| r.stripe_api_base = Some("http://api.stripe.com".into())),
            "STRIPE_API_BASE"
        );
        assert_eq!(
            with(&|r| r.plan_cache_secs = Some("301".into())),
            "PLAN_CACHE_SECS"
        );
        assert_eq!(
            with(&|r| r.plugin.as_mut().unwrap()["auth"] = json!({"type": "service_http"})),
            "PLUGIN.plans"
        );
    }

    fn plugin_error(field: &str, value: serde_json::Value) -> ConfigError {
        error_for(|raw| {
            raw.plugin.as_mut().unwrap()[field] = value;
        })
    }

    #[test]
    fn a_complete_config_parses_with_defaults() {
        let config = Config::parse(raw()).unwrap();
        assert_eq!(config.public_base_url, "https://todo.example.com");
        assert_eq!(config.plugin.resource, "https://todo.example.com");
        assert_eq!(config.plugin.logo_url, "https://todo.example.com/logo.svg");
        assert_eq!(config.plugin.openapi_path, "/openapi.json");
        assert_eq!(config.plugin.asset_paths, vec!["/logo.svg"]);
        assert_eq!(config.origin_timeout_ms, DEFAULT_ORIGIN_TIMEOUT_MS);
        assert_eq!(config.plugin.auth.type_name(), "oauth");
    }

    #[test]
    fn the_plugin_table_may_be_a_json_string() {
        let mut raw = raw();
        raw.plugin = Some(serde_json::Value::String(plugin_json().to_string()));
        assert!(Config::parse(raw).is_ok());
        let e = error_for(|r| r.plugin = Some(json!("{not json")));
        assert_eq!(e.key, "PLUGIN");
    }

    #[test]
    fn resource_metadata_is_path_aware() {
        let config = Config::parse(raw()).unwrap();
        assert_eq!(
            config.resource_metadata_url(),
            "https://todo.example.com/.well-known/oauth-protected-resource"
        );
        let mut with_path = raw();
        with_path.plugin.as_mut().unwrap()["resource"] = json!("https://todo.example.com/mcp");
        let config = Config::parse(with_path).unwrap();
        assert_eq!(
            config.resource_metadata_path(),
            "/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn a_missing_base_url_is_named() {
        let e = error_for(|r| r.public_base_url = None);
        assert_eq!(e.key, "PUBLIC_BASE_URL");
    }

    #[test]
    fn a_base_url_with_a_path_is_refused() {
        let e = error_for(|r| r.public_base_url = Some("https://x.example.com/api".into()));
        assert_eq!(e.key, "PUBLIC_BASE_URL");
        assert!(e.expected.contains("without path"));
    }

    #[test]
    fn a_non_http_origin_is_refused() {
        let e = error_for(|r| r.origin_url = Some("ftp://origin".into()));
        assert_eq!(e.key, "ORIGIN_URL");
    }

    #[test]
    fn an_origin_with_credentials_is_refused() {
        let e = error_for(|r| r.origin_url = Some("https://u:p@origin.example.com".into()));
        assert_eq!(e.key, "ORIGIN_URL");
    }

    #[test]
    fn an_out_of_range_timeout_is_refused() {
        let e = error_for(|r| r.origin_timeout_ms = Some("5".into()));
        assert_eq!(e.key, "ORIGIN_TIMEOUT_MS");
    }

    #[test]
    fn a_missing_plugin_table_is_named() {
        assert_eq!(error_for(|r| r.plugin = None).key, "PLUGIN");
    }

    #[test]
    fn unknown_plugin_keys_are_refused_so_typos_surface() {
        let e = plugin_error("name_for_humans", json!("x"));
        assert_eq!(e.key, "PLUGIN");
        assert!(e.expected.contains("name_for_humans"));
    }

    #[test]
    fn name_for_model_must_match_the_manifest_pattern() {
        let e = plugin_error("name_for_model", json!("todo-demo"));
        assert_eq!(e.key, "PLUGIN.name_for_model");
    }

    #[test]
    fn manifest_text_limits_are_enforced() {
        let cases = [
            ("name_for_human", NAME_FOR_HUMAN_MAX_CHARS),
            ("name_for_model", NAME_FOR_MODEL_MAX_CHARS),
            ("description_for_human", DESCRIPTION_FOR_HUMAN_MAX_CHARS),
            ("description_for_model", DESCRIPTION_FOR_MODEL_MAX_CHARS),
        ];
        for (field, max) in cases {
            let ok = plugin_error_or_ok(field, "a".repeat(max));
            assert!(ok.is_none(), "{field} at its limit should pass");
            let e = plugin_error(field, json!("a".repeat(max + 1)));
            assert_eq!(e.key, format!("PLUGIN.{field}"));
            assert!(e.expected.contains(&max.to_string()));
        }
    }

    fn plugin_error_or_ok(field: &str, value: String) -> Option<ConfigError> {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()[field] = json!(value);
        Config::parse(raw).err()
    }

    #[test]
    fn a_bad_contact_email_is_refused() {
        assert_eq!(
            plugin_error("contact_email", json!("nobody")).key,
            "PLUGIN.contact_email"
        );
    }

    #[test]
    fn an_unknown_auth_type_is_named() {
        let e = plugin_error("auth", json!({"type": "magic"}));
        assert_eq!(e.key, "PLUGIN.auth.type");
        assert!(e.expected.contains("magic"));
    }

    #[test]
    fn auth_type_errors_name_the_type_key() {
        let e = plugin_error("auth", json!({"type": "magic"}));
        assert_eq!(
            e.expected,
            r#""none", "service_http", "user_http" or "oauth", got "magic""#
        );
        let e = plugin_error("auth", json!({"scope": "read"}));
        assert_eq!(e.key, "PLUGIN.auth.type");
        let e = plugin_error("auth", json!("oauth"));
        assert_eq!(e.key, "PLUGIN.auth");
        assert!(e.expected.contains("type = \"oauth\""), "{e}");
    }

    #[test]
    fn an_unknown_authorization_type_is_named_for_both_http_types() {
        for kind in ["service_http", "user_http"] {
            let e = plugin_error(
                "auth",
                json!({"type": kind, "authorization_type": "digest"}),
            );
            assert_eq!(e.key, "PLUGIN.auth.authorization_type", "{kind}");
            assert_eq!(e.expected, r#""bearer" or "basic", got "digest""#);
            let e = plugin_error("auth", json!({"type": kind, "authorization_type": 1}));
            assert_eq!(e.key, "PLUGIN.auth.authorization_type", "{kind}");
            assert!(e.expected.contains("got integer"), "{e}");
        }
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["auth"] = json!({
            "type": "service_http",
            "verification_token": "t",
            "authorization_type": "Bearer",
        });
        let e = Deployment::parse(r).unwrap_err();
        assert_eq!(e.key, "PLUGINS[1].auth.authorization_type");
        assert!(e.expected.contains(r#"got "Bearer""#), "{e}");
    }

    #[test]
    fn an_unknown_content_type_says_what_is_allowed() {
        let e = plugin_error(
            "auth",
            json!({"type": "oauth", "scope": "read", "authorization_content_type": "text/plain"}),
        );
        assert_eq!(
            e.expected,
            r#""application/x-www-form-urlencoded" or "application/json", got "text/plain""#
        );
        let mut r = raw();
        r.plugin.as_mut().unwrap()["auth"] = json!({"type": "oauth", "scope": "read", "authorization_content_type": "application/json"});
        match Config::parse(r).unwrap().plugin.auth {
            AuthConfig::OAuth {
                authorization_content_type,
                ..
            } => assert_eq!(authorization_content_type, AuthorizationContentType::Json),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_of_another_auth_type_is_refused() {
        let e = plugin_error("auth", json!({"type": "service_http", "scope": "read"}));
        assert_eq!(e.key, "PLUGIN.auth");
        assert!(e.expected.contains(r#"got "scope""#), "{e}");
        let e = plugin_error("auth", json!({"type": "none", "openai_egress_only": "yes"}));
        assert_eq!(e.key, "PLUGIN.auth.openai_egress_only");
    }

    #[test]
    fn values_of_the_wrong_type_are_named_by_their_full_key() {
        assert_eq!(
            plugin_error("quota", json!({"limit": "x", "period_secs": 60})).key,
            "PLUGIN.quota.limit"
        );
        assert_eq!(
            plugin_error("quota", json!({"limit": 5})).key,
            "PLUGIN.quota.period_secs"
        );
        let e = plugin_error(
            "routes",
            json!([{ "path": "/a" }, { "path": "/b", "methods": "GET" }]),
        );
        assert_eq!(e.key, "PLUGIN.routes[1].methods");
        let e = plugin_error(
            "routes",
            json!([{ "path": "/a", "case_insensitive": "yes" }]),
        );
        assert_eq!(e.key, "PLUGIN.routes[0].case_insensitive");
        let e = plugin_error("openapi_cache_secs", json!(-1));
        assert_eq!(e.key, "PLUGIN.openapi_cache_secs");
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["hosts"] = json!(["weather.example.com", 7]);
        assert_eq!(Deployment::parse(r).unwrap_err().key, "PLUGINS[1].hosts[1]");
    }

    #[test]
    fn a_null_setting_reads_as_unset() {
        let mut r = raw();
        let plugin = r.plugin.as_mut().unwrap();
        plugin["openapi_path"] = json!(null);
        plugin["quota"] = json!(null);
        plugin["auth"] = json!({"type": "user_http", "authorization_type": null});
        let config = Config::parse(r).unwrap();
        assert_eq!(config.plugin.openapi_path, "/openapi.json");
        assert_eq!(config.plugin.quota, None);
        assert_eq!(
            config.plugin.auth,
            AuthConfig::UserHttp {
                authorization_type: HttpAuthorizationType::Bearer
            }
        );
    }

    #[test]
    fn none_plugins_may_be_locked_to_openai_and_cidrs() {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] = json!({"type": "none", "openai_egress_only": true, "allowed_cidrs": ["203.0.113.0/24"]});
        match Config::parse(raw).unwrap().plugin.auth {
            AuthConfig::None {
                ip_lock: Some(lock),
            } => {
                assert!(lock.openai);
                assert!(lock.extra.contains("203.0.113.9".parse().unwrap()));
            }
            other => panic!("{other:?}"),
        }
        let e = plugin_error(
            "auth",
            json!({"type": "none", "allowed_cidrs": ["203.0.113.0/33"]}),
        );
        assert_eq!(e.key, "PLUGIN.auth.allowed_cidrs");
    }

    #[test]
    fn user_http_parses_with_its_authorization_type() {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] =
            json!({"type": "user_http", "authorization_type": "basic"});
        assert_eq!(
            Config::parse(raw).unwrap().plugin.auth,
            AuthConfig::UserHttp {
                authorization_type: HttpAuthorizationType::Basic
            }
        );
        assert_eq!(
            error_for(|r| r.api_key_cache_secs = Some("900".into())).key,
            "API_KEY_CACHE_SECS"
        );
    }

    #[test]
    fn the_request_log_samples_one_success_in_a_hundred_unless_told() {
        assert_eq!(
            Config::parse(raw()).unwrap().request_log,
            SampleRate::DEFAULT
        );
        let mut all = raw();
        all.request_log_sample_rate = Some("1".into());
        assert_eq!(Config::parse(all).unwrap().request_log, SampleRate::ALL);
        let e = error_for(|r| r.request_log_sample_rate = Some("10%".into()));
        assert_eq!(e.key, "REQUEST_LOG_SAMPLE_RATE");
        assert!(e.expected.contains("got \"10%\""), "{e}");
    }

    #[test]
    fn service_http_needs_its_secret() {
        let e = plugin_error("auth", json!({"type": "service_http"}));
        assert_eq!(e.key, "SERVICE_TOKEN");
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] = json!({"type": "service_http"});
        raw.service_token = Some("s3cret-s3cret-s3cret".into());
        let config = Config::parse(raw).unwrap();
        assert!(config
            .service_token
            .unwrap()
            .matches("s3cret-s3cret-s3cret"));
    }

    #[test]
    fn a_bad_oauth_content_type_is_refused() {
        let e = plugin_error(
            "auth",
            json!({"type": "oauth", "scope": "read", "authorization_content_type": "text/plain"}),
        );
        assert_eq!(e.key, "PLUGIN.auth.authorization_content_type");
    }

    #[test]
    fn an_oauth_plugin_needs_a_scope() {
        for scope in [json!(null), json!(""), json!("a  b"), json!(" a")] {
            let e = plugin_error("auth", json!({"type": "oauth", "scope": scope}));
            assert_eq!(e.key, "PLUGIN.auth.scope", "{scope}");
        }
    }

    #[test]
    fn a_weak_or_malformed_rsa_key_is_named() {
        let weak = include_str!("../../tests/fixtures/rsa-1024.jwk.json");
        let e = error_for(|r| r.rsa_signing_key = Some(weak.into()));
        assert_eq!(e.key, "RSA_SIGNING_KEY");
        assert!(e.to_string().contains("2048"), "{e}");
        let e = error_for(|r| r.previous_rsa_signing_key = Some("{}".into()));
        assert_eq!(e.key, "PREVIOUS_RSA_SIGNING_KEY");
    }

    #[test]
    fn a_missing_signing_key_is_named() {
        assert_eq!(error_for(|r| r.signing_key = None).key, "SIGNING_KEY");
        assert_eq!(
            error_for(|r| r.signing_key = Some("short".into())).key,
            "SIGNING_KEY"
        );
    }

    #[test]
    fn a_bad_route_is_named_by_index_and_field() {
        let e = plugin_error("routes", json!([{ "path": "no-slash" }]));
        assert_eq!(e.key, "PLUGIN.routes[0].path");
    }

    #[test]
    fn path_case_matching_is_set_per_plugin_and_per_rule() {
        use crate::http::Method;
        use crate::proxy::rules::{normalize_path, RouteMatch};
        let parse = |plugin_default: Option<bool>| {
            let mut r = raw();
            let plugin = r.plugin.as_mut().unwrap();
            plugin["routes"] = json!([
                { "path": "/admin/*", "access": "deny" },
                { "path": "/todos", "methods": ["GET"] },
                { "path": "/exact", "case_insensitive": false },
            ]);
            if let Some(on) = plugin_default {
                plugin["case_insensitive_paths"] = json!(on);
            }
            Config::parse(r).unwrap()
        };
        let at = |config: &Config, path: &str| {
            config
                .plugin
                .routes
                .find(&Method::Get, &normalize_path(path).unwrap())
        };
        let default = parse(None);
        assert_eq!(at(&default, "/ADMIN/x"), RouteMatch::Rule(0));
        assert_eq!(at(&default, "/TODOS"), RouteMatch::NoRule);
        let everywhere = parse(Some(true));
        assert_eq!(at(&everywhere, "/TODOS"), RouteMatch::Rule(1));
        assert_eq!(at(&everywhere, "/EXACT"), RouteMatch::NoRule);
        let nowhere = parse(Some(false));
        assert_eq!(at(&nowhere, "/ADMIN/x"), RouteMatch::NoRule);
        assert_eq!(
            plugin_error("case_insensitive_paths", json!("yes")).key,
            "PLUGIN.case_insensitive_paths"
        );
        let e = plugin_error(
            "routes",
            json!([{ "path": "/a", "case_insensitive": "yes" }]),
        );
        assert!(
            e.expected.contains("case_insensitive is true or false"),
            "{e}"
        );
    }

    #[test]
    fn oauth_plugins_need_a_session_secret() {
        assert_eq!(error_for(|r| r.session_secret = None).key, "SESSION_SECRET");
        assert_eq!(
            error_for(|r| r.session_secret = Some("short".into())).key,
            "SESSION_SECRET"
        );
    }

    #[test]
    fn the_admin_token_is_optional_but_never_weak() {
        assert!(Config::parse(raw()).unwrap().admin_token.is_none());
        assert_eq!(
            error_for(|r| r.admin_token = Some("short".into())).key,
            "ADMIN_TOKEN"
        );
        let mut ok = raw();
        ok.admin_token = Some("a".repeat(32));
        assert!(Config::parse(ok).unwrap().admin_token.is_some());
    }

    #[test]
    fn lifetimes_default_and_are_bounded() {
        let oauth = Config::parse(raw()).unwrap().oauth.unwrap();
        assert_eq!(oauth.code_ttl_secs, 60);
        assert_eq!(oauth.access_token_ttl_secs, 3600);
        assert_eq!(oauth.refresh.ttl_secs, 30 * 86_400);
        assert_eq!(
            error_for(|r| r.code_ttl_secs = Some("5".into())).key,
            "CODE_TTL_SECS"
        );
        assert_eq!(
            error_for(|r| r.access_token_ttl_secs = Some("x".into())).key,
            "ACCESS_TOKEN_TTL_SECS"
        );
    }

    #[test]
    fn a_zero_quota_is_refused() {
        let e = plugin_error("quota", json!({"limit": 0, "period_secs": 60}));
        assert_eq!(e.key, "PLUGIN.quota");
    }

    #[test]
    fn quotas_are_counted_from_leases_unless_exact() {
        let parsed = |quota: serde_json::Value| {
            let mut raw = raw();
            let mut plugin = plugin_json();
            plugin["quota"] = quota;
            raw.plugin = Some(plugin);
            Config::parse(raw).unwrap().plugin
        };
        assert!(!parsed(json!({"limit": 10, "period_secs": 60})).quota_exact);
        assert!(parsed(json!({"limit": 10, "period_secs": 60, "exact": true})).quota_exact);
        assert_eq!(
            plugin_error(
                "quota",
                json!({"limit": 10, "period_secs": 60, "exact": "yes"})
            )
            .key,
            "PLUGIN.quota.exact"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        // Every secret the configuration holds, each a value no other field could print.
        let session = "session-secret-marker-0123456789abcdef";
        let admin = "admin-token-marker-0123456789abcdef";
        let origin = "origin-secret-marker-0123456789abcdef";
        let service = "service-token-marker-0123456789abcdef";
        let previous = "Bsh2MRr0bT3dNE6dXH5hmE8P0IQ2U-dV9vWzk8rW2oA";
        let mut raw = raw();
        raw.session_secret = Some(session.into());
        raw.admin_token = Some(admin.into());
        raw.origin_secret = Some(origin.into());
        raw.service_token = Some(service.into());
        raw.previous_signing_key = Some(previous.into());
        let config = Config::parse(raw).unwrap();
        assert!(config.admin_token.is_some() && config.origin_secret.is_some());
        let printed = format!("{config:?}");
        for value in [session, admin, origin, service, previous, TEST_SEED] {
            assert!(!printed.contains(value), "{value} is printed");
        }
    }

    fn two_plugins() -> RawConfig {
        let mut weather = plugin_json();
        weather["name_for_model"] = json!("weather");
        weather["hosts"] = json!(["weather.example.com"]);
        weather["origin_url"] = json!("https://weather.internal.example.com");
        weather["auth"] = json!({ "type": "service_http" });
        weather["service_token_secret"] = json!("WEATHER_TOKEN");
        let mut todo = plugin_json();
        todo["hosts"] = json!(["todo.example.com", "todo.example.com:8443"]);
        let mut raw = raw();
        raw.plugin = None;
        raw.public_base_url = None;
        raw.plugins = Some(json!([todo, weather]));
        raw.named_secrets
            .insert("WEATHER_TOKEN".into(), "w".repeat(20));
        raw
    }

    #[test]
    fn several_plugins_are_picked_by_host() {
        let d = Deployment::parse(two_plugins()).unwrap();
        assert_eq!(d.sites().len(), 2);
        let todo = d.site("todo.example.com").unwrap();
        assert_eq!(todo.public_base_url, "https://todo.example.com");
        assert_eq!(todo.origin.as_str(), "http://127.0.0.1:9000/");
        assert!(todo.oauth.is_some());
        // Host names are case-insensitive; a port not listed falls back to the bare host.
        assert_eq!(
            d.site("TODO.example.com:443")
                .unwrap()
                .plugin
                .name_for_model,
            "todo_demo"
        );
        let weather = d.site("weather.example.com").unwrap();
        assert_eq!(weather.public_base_url, "https://weather.example.com");
        assert_eq!(weather.plugin.resource, "https://weather.example.com");
        assert_eq!(
            weather.origin.host_str(),
            Some("weather.internal.example.com")
        );
        assert!(weather
            .service_token
            .as_ref()
            .unwrap()
            .matches(&"w".repeat(20)));
        assert!(weather.oauth.is_none());
        assert!(d.site("other.example.com").is_none());
        assert!(d.site("example.com").is_none());
    }

    #[test]
    fn a_plugin_takes_subject_tokens_from_the_siblings_its_exchange_policies_name() {
        let mut mcp = plugin_json();
        mcp["name_for_model"] = json!("mcp");
        mcp["hosts"] = json!(["mcp.example.com"]);
        mcp["resource"] = json!("https://mcp.example.com/mcp");
        let mut other = plugin_json();
        other["name_for_model"] = json!("other");
        other["hosts"] = json!(["other.example.com"]);
        let mut todo = plugin_json();
        todo["hosts"] = json!(["todo.example.com"]);
        todo["token_exchange"] = json!([{
            "client": "mcp-server", "from": ["https://mcp.example.com/mcp"],
            "to": "https://todo.example.com", "scopes": ["todos:read"]
        }]);
        let mut r = raw();
        r.plugin = None;
        r.public_base_url = None;
        r.plugins = Some(json!([todo, mcp, other]));
        let d = Deployment::parse(r).unwrap();
        let todo = d.site("todo.example.com").unwrap();
        assert_eq!(todo.exchange_issuers, vec!["https://mcp.example.com"]);
        // Nobody else takes another plugin's tokens: no policy of theirs names one.
        assert!(d
            .site("mcp.example.com")
            .unwrap()
            .exchange_issuers
            .is_empty());
        assert!(d
            .site("other.example.com")
            .unwrap()
            .exchange_issuers
            .is_empty());
    }

    #[test]
    fn a_plugin_issues_for_its_own_resource_and_shared_ones_but_never_a_siblings() {
        let mut mcp = plugin_json();
        mcp["name_for_model"] = json!("mcp");
        mcp["hosts"] = json!(["mcp.example.com"]);
        mcp["resource"] = json!("https://mcp.example.com/mcp");
        let mut todo = plugin_json();
        todo["hosts"] = json!(["todo.example.com"]);
        let mut r = raw();
        r.plugin = None;
        r.public_base_url = None;
        r.plugins = Some(json!([todo, mcp]));
        let d = Deployment::parse(r).unwrap();
        let todo = d.site("todo.example.com").unwrap();
        let mcp = d.site("mcp.example.com").unwrap();
        assert_eq!(todo.sibling_resources, ["https://mcp.example.com/mcp"]);
        assert_eq!(mcp.sibling_resources, ["https://todo.example.com"]);
        assert!(todo.issues_for("https://todo.example.com"));
        assert!(!todo.issues_for("https://mcp.example.com/mcp"));
        assert!(mcp.issues_for("https://mcp.example.com/mcp"));
        assert!(!mcp.issues_for("https://todo.example.com"));
        // An API in the directory that is no plugin's own: either may issue for it.
        assert!(todo.issues_for("https://api.example.com/notes"));
        assert!(mcp.issues_for("https://api.example.com/notes"));
        // One plugin alone has no siblings.
        assert!(Config::parse(raw()).unwrap().sibling_resources.is_empty());
    }

    #[test]
    fn a_single_plugin_answers_on_any_host_unless_it_lists_hosts() {
        let d = Deployment::parse(raw()).unwrap();
        assert!(d.site("anything.example:1234").is_some());
        let mut r = raw();
        r.plugin.as_mut().unwrap()["hosts"] = json!(["todo.example.com"]);
        let d = Deployment::parse(r).unwrap();
        assert!(d.site("todo.example.com").is_some());
        assert!(d.site("127.0.0.1:8787").is_none());
    }

    #[test]
    fn plugin_errors_name_their_entry() {
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["name_for_model"] = json!("bad name");
        let e = Deployment::parse(r).unwrap_err();
        assert_eq!(e.key, "PLUGINS[1].name_for_model");
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["routes"] = json!([{ "path": "no-slash" }]);
        assert_eq!(
            Deployment::parse(r).unwrap_err().key,
            "PLUGINS[1].routes[0].path"
        );
    }

    #[test]
    fn hosts_and_names_are_not_shared() {
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["hosts"] = json!(["Todo.Example.com"]);
        let e = Deployment::parse(r).unwrap_err();
        assert_eq!(e.key, "PLUGINS[1].hosts");
        assert!(e.expected.contains("PLUGINS[0]"), "{e}");
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[1]["name_for_model"] = json!("todo_demo");
        assert_eq!(
            Deployment::parse(r).unwrap_err().key,
            "PLUGINS[1].name_for_model"
        );
    }

    #[test]
    fn plugins_need_hosts_and_their_named_secrets() {
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[0]
            .as_object_mut()
            .unwrap()
            .remove("hosts");
        assert_eq!(Deployment::parse(r).unwrap_err().key, "PLUGINS[0].hosts");
        let mut r = two_plugins();
        r.plugins.as_mut().unwrap()[0]["hosts"] = json!(["https://todo.example.com/x"]);
        assert_eq!(Deployment::parse(r).unwrap_err().key, "PLUGINS[0].hosts");
        let mut r = two_plugins();
        r.named_secrets.clear();
        let e = Deployment::parse(r).unwrap_err();
        assert_eq!(e.key, "PLUGINS[1].service_token_secret");
        assert!(!e.to_string().contains("wwww"));
        let mut r = two_plugins();
        r.named_secrets
            .insert("WEATHER_TOKEN".into(), "short".into());
        assert_eq!(Deployment::parse(r).unwrap_err().key, "WEATHER_TOKEN");
    }

    #[test]
    fn plugin_and_plugins_exclude_each_other_and_empty_clears() {
        let mut r = two_plugins();
        r.plugin = Some(plugin_json());
        assert_eq!(Deployment::parse(r).unwrap_err().key, "PLUGINS");
        let mut r = two_plugins();
        r.plugin = Some(json!(""));
        assert!(Deployment::parse(r).is_ok());
        let mut r = two_plugins();
        r.plugins = Some(json!([]));
        assert_eq!(Deployment::parse(r).unwrap_err().key, "PLUGINS");
        let mut r = two_plugins();
        r.plugins = Some(json!(two_plugins().plugins.unwrap().to_string()));
        assert_eq!(Deployment::parse(r).unwrap().sites().len(), 2);
        assert!(
            matches!(Config::parse(two_plugins()), Err(ref e) if e.key == "PLUGINS" && e.expected.starts_with("one plugin where a single configuration is read"))
        );
    }

    #[test]
    fn the_edge_learns_which_secrets_to_read() {
        let r = two_plugins();
        let text = json!(r.plugins.as_ref().unwrap().to_string());
        assert_eq!(
            referenced_secret_names(None, Some(&text), None),
            vec!["WEATHER_TOKEN".to_string()]
        );
        assert!(referenced_secret_names(Some(&plugin_json()), None, None).is_empty());
        assert!(referenced_secret_names(Some(&json!("{not json")), None, None).is_empty());
    }

    #[test]
    fn ports_are_stripped_from_authorities() {
        use super::deployment::strip_port;
        assert_eq!(strip_port("a.example.com:8443"), "a.example.com");
        assert_eq!(strip_port("a.example.com"), "a.example.com");
        assert_eq!(strip_port("[::1]:8787"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn the_openapi_document_may_be_yaml_and_come_from_the_origin() {
        let c = Config::parse(raw()).unwrap();
        assert_eq!(
            c.plugin.openapi_source,
            OpenApiSource::Static("/openapi.json".into())
        );
        let mut r = raw();
        let p = r.plugin.as_mut().unwrap();
        p["openapi_path"] = json!("/openapi.yaml");
        p["openapi_origin_path"] = json!("/v1/spec?format=yaml");
        p["openapi_cache_secs"] = json!(60);
        let c = Config::parse(r).unwrap();
        assert_eq!(c.plugin.openapi_path, "/openapi.yaml");
        assert_eq!(
            c.plugin.openapi_source,
            OpenApiSource::Origin("/v1/spec?format=yaml".into())
        );
        assert_eq!(c.plugin.openapi_cache_secs, 60);
        let with_file = || {
            let mut r = raw();
            r.plugin.as_mut().unwrap()["openapi_file"] = json!("/specs/api.yml");
            Config::parse(r)
        };
        // A named file must be there (here, provided as an entry module would).
        assert_eq!(with_file().unwrap_err().key, "PLUGIN.openapi_file");
        crate::assets::provide(vec![("/specs/api.yml".into(), b"openapi: 3.1.0".to_vec())])
            .unwrap();
        let c = with_file();
        crate::assets::unprovide();
        assert_eq!(
            c.unwrap().plugin.openapi_source,
            OpenApiSource::Static("/specs/api.yml".into())
        );
    }

    #[test]
    fn bad_openapi_settings_are_named() {
        assert_eq!(
            plugin_error("openapi_path", json!("/openapi.txt")).key,
            "PLUGIN.openapi_path"
        );
        assert_eq!(
            plugin_error("openapi_path", json!("openapi.json")).key,
            "PLUGIN.openapi_path"
        );
        assert_eq!(
            plugin_error("openapi_file", json!("/a.xml")).key,
            "PLUGIN.openapi_file"
        );
        assert_eq!(
            plugin_error("openapi_origin_path", json!("https://elsewhere/x")).key,
            "PLUGIN.openapi_origin_path"
        );
        assert_eq!(
            plugin_error("openapi_cache_secs", json!(86_401)).key,
            "PLUGIN.openapi_cache_secs"
        );
        let e = error_for(|r| {
            let p = r.plugin.as_mut().unwrap();
            p["openapi_file"] = json!("/a.json");
            p["openapi_origin_path"] = json!("/a.json");
        });
        assert_eq!(e.key, "PLUGIN.openapi_origin_path");
    }

    #[test]
    fn loopback_client_metadata_is_for_local_development_only() {
        assert!(!Config::parse(raw()).unwrap().allow_loopback_client_metadata);
        let e = error_for(|r| r.client_metadata_allow_loopback = Some("true".into()));
        assert_eq!(e.key, "CLIENT_METADATA_ALLOW_LOOPBACK");
        let mut r = raw();
        r.public_base_url = Some("http://127.0.0.1:8787".into());
        r.client_metadata_allow_loopback = Some("true".into());
        assert!(Config::parse(r).unwrap().allow_loopback_client_metadata);
        let mut r = raw();
        r.public_base_url = Some("http://127.0.0.1.example.com".into());
        r.client_metadata_allow_loopback = Some("true".into());
        assert!(
            matches!(Config::parse(r), Err(ref e) if e.key == "CLIENT_METADATA_ALLOW_LOOPBACK")
        );
    }
}
