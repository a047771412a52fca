//! Every path the gateway answers, and which endpoint serves a request: the one route table.
//!
//! A request is routed once, here: the admin API by its prefix; the authorization server's
//! endpoints and the portal's pages when the plugin is an OAuth one; then the discovery documents
//! and static assets; then the plugin's own route rules, which send it to the origin. Each endpoint
//! knows its methods, whether it answers cross-origin calls, how large a body it reads and which
//! rate limit guards it, so the edge only converts, routes, dispatches and logs.

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Method, RequestHead};
use crate::proxy::rules::{normalize_path, RouteMatch};

pub use crate::paths::*;

const READ: &[&str] = &["GET", "HEAD"];

/// The authorization server's endpoints and the portal's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEndpoint {
    /// RFC 8414 metadata, also served as OpenID Connect discovery.
    Metadata,
    Authorize,
    Token,
    Revoke,
    Introspect,
    Userinfo,
    Register,
    Login,
    Logout,
    Account,
    /// An upstream provider's sign-in (`/login/provider/{id}[/callback]`).
    Provider,
    /// `POST /login/link`.
    LinkAccount,
    /// Plans: `GET /billing/upgrade`, `POST /billing/checkout`, `POST /billing/portal`.
    Billing,
    /// `POST /billing/stripe/webhook`.
    StripeWebhook,
}

impl AuthEndpoint {
    pub fn from_path(path: &str) -> Option<AuthEndpoint> {
        Some(match path {
            AS_METADATA_PATH | OIDC_METADATA_PATH => AuthEndpoint::Metadata,
            AUTHORIZE_PATH => AuthEndpoint::Authorize,
            TOKEN_PATH => AuthEndpoint::Token,
            REVOKE_PATH => AuthEndpoint::Revoke,
            INTROSPECT_PATH => AuthEndpoint::Introspect,
            USERINFO_PATH => AuthEndpoint::Userinfo,
            REGISTER_PATH => AuthEndpoint::Register,
            LOGIN_PATH => AuthEndpoint::Login,
            LOGOUT_PATH => AuthEndpoint::Logout,
            ACCOUNT_PATH => AuthEndpoint::Account,
            LOGIN_LINK_PATH => AuthEndpoint::LinkAccount,
            crate::billing::WEBHOOK_PATH => AuthEndpoint::StripeWebhook,
            crate::billing::UPGRADE_PATH
            | crate::billing::CHECKOUT_PATH
            | crate::billing::PORTAL_PATH => AuthEndpoint::Billing,
            p if p.starts_with(LOGIN_PROVIDER_PREFIX) => AuthEndpoint::Provider,
            _ => return None,
        })
    }

    pub fn allowed_methods(self) -> &'static [&'static str] {
        match self {
            AuthEndpoint::Authorize | AuthEndpoint::Login | AuthEndpoint::Account => {
                &["GET", "HEAD", "POST"]
            }
            AuthEndpoint::Logout | AuthEndpoint::LinkAccount => &["POST"],
            AuthEndpoint::Provider => &["GET", "POST"],
            AuthEndpoint::Billing => &["GET", "HEAD", "POST"],
            AuthEndpoint::StripeWebhook => &["POST"],
            AuthEndpoint::Token
            | AuthEndpoint::Revoke
            | AuthEndpoint::Introspect
            | AuthEndpoint::Register => &["POST", "OPTIONS"],
            AuthEndpoint::Userinfo => &["GET", "HEAD", "POST", "OPTIONS"],
            AuthEndpoint::Metadata => &["GET", "HEAD", "OPTIONS"],
        }
    }

    /// Pages a browser shows: their refusals are pages, not JSON, and they never answer
    /// cross-origin calls.
    pub fn is_page(self) -> bool {
        matches!(
            self,
            AuthEndpoint::Authorize
                | AuthEndpoint::Login
                | AuthEndpoint::Logout
                | AuthEndpoint::Account
                | AuthEndpoint::Provider
                | AuthEndpoint::LinkAccount
                | AuthEndpoint::Billing
        )
    }

    /// The largest request body the endpoint reads (413 past it).
    pub fn max_body_bytes(self) -> usize {
        match self {
            AuthEndpoint::Register => crate::oauth::registration::MAX_REGISTRATION_BYTES,
            AuthEndpoint::StripeWebhook => crate::billing::stripe::MAX_WEBHOOK_BYTES,
            _ => crate::oauth::params::MAX_FORM_BYTES,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AuthEndpoint::Metadata => "as_metadata",
            AuthEndpoint::Authorize => "authorize",
            AuthEndpoint::Token => "token",
            AuthEndpoint::Revoke => "revoke",
            AuthEndpoint::Introspect => "introspect",
            AuthEndpoint::Userinfo => "userinfo",
            AuthEndpoint::Register => "register",
            AuthEndpoint::Login => "login",
            AuthEndpoint::Logout => "logout",
            AuthEndpoint::Account => "account",
            AuthEndpoint::Provider => "login_provider",
            AuthEndpoint::LinkAccount => "login_link",
            AuthEndpoint::Billing => "billing",
            AuthEndpoint::StripeWebhook => "stripe_webhook",
        }
    }
}

/// Whether a path is one of the portal's pages (for refusals made before routing finished).
pub fn is_portal_page(path: &str) -> bool {
    AuthEndpoint::from_path(path).is_some_and(AuthEndpoint::is_page)
}

/// Who serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    PluginManifest,
    Jwks,
    ProtectedResourceMetadata,
    OpenApi,
    /// A file from `static/` (the logo, the portal's stylesheet, the admin console).
    Asset,
    AuthServer(AuthEndpoint),
    /// The admin API, under [`ADMIN_API_PREFIX`].
    Admin,
    /// Forward to the origin under the rule at this index of the plugin's route table.
    Proxy(usize),
}

/// The Workers rate-limit bindings, each keyed by the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    Token,
    Register,
    Login,
    Admin,
}

impl RateLimit {
    pub fn binding(self) -> &'static str {
        match self {
            RateLimit::Token => "RATE_LIMIT_TOKEN",
            RateLimit::Register => "RATE_LIMIT_REGISTER",
            RateLimit::Login => "RATE_LIMIT_LOGIN",
            RateLimit::Admin => "RATE_LIMIT_ADMIN",
        }
    }
}

impl Endpoint {
    /// The name the request log gives the route.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
            Endpoint::PluginManifest => "manifest",
            Endpoint::Jwks => "jwks",
            Endpoint::ProtectedResourceMetadata => "resource_metadata",
            Endpoint::OpenApi => "openapi",
            Endpoint::Asset => "asset",
            Endpoint::AuthServer(endpoint) => endpoint.name(),
            Endpoint::Admin => "admin",
            Endpoint::Proxy(_) => "proxy",
        }
    }

    /// The rate limit that guards a request here: the token, revocation, introspection and
    /// registration endpoints, sign-in attempts, and the admin API.
    pub fn rate_limit(self, method: &Method) -> Option<RateLimit> {
        match (self, method) {
            (
                Endpoint::AuthServer(
                    AuthEndpoint::Token | AuthEndpoint::Revoke | AuthEndpoint::Introspect,
                ),
                Method::Post,
            ) => Some(RateLimit::Token),
            (Endpoint::AuthServer(AuthEndpoint::Register), Method::Post) => {
                Some(RateLimit::Register)
            }
            (
                Endpoint::AuthServer(
                    AuthEndpoint::Login
                    | AuthEndpoint::Provider
                    | AuthEndpoint::LinkAccount
                    | AuthEndpoint::Billing,
                ),
                Method::Post,
            ) => Some(RateLimit::Login),
            (Endpoint::Admin, _) => Some(RateLimit::Admin),
            _ => None,
        }
    }

    /// Whether answers carry `Access-Control-Allow-Origin: *`: the authorization server's API
    /// endpoints and discovery documents, which browser-based clients call.
    pub fn answers_cors(self) -> bool {
        matches!(self, Endpoint::AuthServer(e) if !e.is_page())
    }

    /// The methods a fixed endpoint answers; `None` for the admin API and the proxy, whose own
    /// tables decide.
    pub fn allowed_methods(self) -> Option<&'static [&'static str]> {
        match self {
            Endpoint::AuthServer(endpoint) => Some(endpoint.allowed_methods()),
            Endpoint::Admin | Endpoint::Proxy(_) => None,
            _ => Some(READ),
        }
    }

    /// `Ok` when the endpoint answers the request's method, else the 405 that lists what it does.
    pub fn check_method(self, method: &Method) -> Result<(), ApiError> {
        match self.allowed_methods() {
            Some(allowed) if !allowed.contains(&method.as_str()) => {
                Err(ApiError::MethodNotAllowed {
                    allow: allowed.iter().map(|m| m.to_string()).collect(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Picks the endpoint for a request, or the 400/404/405 that answers it. The method is checked
/// here for the proxy (its rules are per method); fixed endpoints check theirs with
/// [`Endpoint::check_method`].
pub fn route(config: &Config, head: &RequestHead) -> Result<Endpoint, ApiError> {
    let method = head
        .method
        .clone()
        .ok_or_else(|| ApiError::BadRequest("the request method is invalid".into()))?;
    let path = head.path.as_str();
    if path.starts_with(ADMIN_API_PREFIX) {
        return Ok(Endpoint::Admin);
    }
    if config.oauth.is_some() {
        if let Some(endpoint) = AuthEndpoint::from_path(path) {
            return Ok(Endpoint::AuthServer(endpoint));
        }
    }
    let fixed = match path {
        HEALTH_PATH => Some(Endpoint::Health),
        MANIFEST_PATH => Some(Endpoint::PluginManifest),
        JWKS_PATH => Some(Endpoint::Jwks),
        PROTECTED_RESOURCE_PATH => Some(Endpoint::ProtectedResourceMetadata),
        p if p == config.plugin.openapi_path => Some(Endpoint::OpenApi),
        // Path-aware metadata (RFC 9728 §3.1) lives under the well-known path: only requests
        // there pay for computing it.
        p if p.starts_with(PROTECTED_RESOURCE_PATH) && p == config.resource_metadata_path() => {
            Some(Endpoint::ProtectedResourceMetadata)
        }
        p if BUILT_IN_ASSETS.contains(&p) || config.plugin.asset_paths.iter().any(|a| a == p) => {
            Some(Endpoint::Asset)
        }
        _ => None,
    };
    if let Some(endpoint) = fixed {
        return Ok(endpoint);
    }
    let segments = normalize_path(path).map_err(|e| ApiError::BadRequest(e.0.into()))?;
    match config.plugin.routes.find(&method, &segments) {
        RouteMatch::Rule(index) => {
            if method == Method::Post
                && config.plugin.origin_honors_method_override
                && crate::proxy::method_override::in_query(head.query.as_deref()).is_some()
            {
                return Err(ApiError::BadRequest(
                    "_method in the query would make the origin run another method than the one \
                     the gateway checked; send that method itself"
                        .into(),
                ));
            }
            Ok(Endpoint::Proxy(index))
        }
        RouteMatch::MethodNotAllowed(allow) => Err(ApiError::MethodNotAllowed { allow }),
        RouteMatch::NoRule => Err(ApiError::NotFound),
        RouteMatch::CaseConflict => Err(ApiError::BadRequest(
            "this path matches routes with different rules in another letter case; \
             spell it as the API documents it"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::raw;

    fn config() -> Config {
        Config::parse(raw()).unwrap()
    }

    fn head(method: Method, path: &str) -> RequestHead {
        RequestHead::new(method, path)
    }

    /// The endpoint and the method check together, as the edge applies them.
    fn serves(c: &Config, method: Method, path: &str) -> Result<Endpoint, ApiError> {
        let endpoint = route(c, &head(method.clone(), path))?;
        endpoint.check_method(&method)?;
        Ok(endpoint)
    }

    #[test]
    fn fixed_endpoints_route_by_exact_path() {
        let c = config();
        assert_eq!(serves(&c, Method::Get, "/healthz"), Ok(Endpoint::Health));
        assert_eq!(
            serves(&c, Method::Head, MANIFEST_PATH),
            Ok(Endpoint::PluginManifest)
        );
        assert_eq!(
            serves(&c, Method::Get, "/openapi.json"),
            Ok(Endpoint::OpenApi)
        );
        assert_eq!(serves(&c, Method::Get, "/logo.svg"), Ok(Endpoint::Asset));
        assert_eq!(
            serves(&c, Method::Get, "/admin/admin.js"),
            Ok(Endpoint::Asset)
        );
        assert_eq!(serves(&c, Method::Get, JWKS_PATH), Ok(Endpoint::Jwks));
        assert_eq!(
            serves(&c, Method::Get, "/admin/api/users"),
            Ok(Endpoint::Admin)
        );
        assert_eq!(
            serves(&c, Method::Post, TOKEN_PATH),
            Ok(Endpoint::AuthServer(AuthEndpoint::Token))
        );
        assert_eq!(
            serves(&c, Method::Get, OIDC_METADATA_PATH),
            Ok(Endpoint::AuthServer(AuthEndpoint::Metadata))
        );
    }

    #[test]
    fn a_post_whose_query_asks_for_another_method_is_refused() {
        // Issue 29, finding 5: Laravel, Symfony and Rails run `POST /todos?_method=DELETE` as a
        // DELETE, which no rule here allows.
        let c = config();
        let with_query = |query: &str| {
            let mut h = head(Method::Post, "/todos");
            h.query = Some(query.into());
            route(&c, &h)
        };
        for query in [
            "_method=DELETE",
            "a=1&_method=delete",
            "%5Fmethod=PUT",
            "_METHOD=patch",
            "_method[]=DELETE",
        ] {
            assert!(
                matches!(with_query(query), Err(ApiError::BadRequest(_))),
                "{query}"
            );
        }
        for query in ["_method=POST", "method=DELETE", "x=_method%3DDELETE"] {
            assert_eq!(with_query(query), Ok(Endpoint::Proxy(1)), "{query}");
        }
        // Only a POST is overridden by frameworks; the query of a GET is the origin's own.
        let mut get = head(Method::Get, "/todos");
        get.query = Some("_method=DELETE".into());
        assert_eq!(route(&c, &get), Ok(Endpoint::Proxy(0)));
        // An origin that never honors `_method` gets the query as sent.
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["origin_honors_method_override"] = serde_json::json!(false);
        let ignores = Config::parse(raw).unwrap();
        let mut post = head(Method::Post, "/todos");
        post.query = Some("_method=DELETE".into());
        assert_eq!(route(&ignores, &post), Ok(Endpoint::Proxy(1)));
    }

    #[test]
    fn without_an_authorization_server_its_paths_are_the_plugins() {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] = serde_json::json!({"type": "none"});
        let c = Config::parse(raw).unwrap();
        assert!(c.oauth.is_none());
        assert_eq!(
            route(&c, &head(Method::Post, TOKEN_PATH)),
            Err(ApiError::NotFound)
        );
    }

    #[test]
    fn the_token_login_and_admin_endpoints_are_rate_limited_per_ip() {
        let c = config();
        let limit = |method: Method, path: &str| {
            route(&c, &head(method.clone(), path))
                .ok()
                .and_then(|e| e.rate_limit(&method))
                .map(RateLimit::binding)
        };
        assert_eq!(limit(Method::Post, "/token"), Some("RATE_LIMIT_TOKEN"));
        assert_eq!(limit(Method::Post, "/revoke"), Some("RATE_LIMIT_TOKEN"));
        assert_eq!(
            limit(Method::Post, "/register"),
            Some("RATE_LIMIT_REGISTER")
        );
        assert_eq!(limit(Method::Post, "/login"), Some("RATE_LIMIT_LOGIN"));
        assert_eq!(limit(Method::Get, "/login"), None);
        assert_eq!(
            limit(Method::Get, "/admin/api/users"),
            Some("RATE_LIMIT_ADMIN")
        );
        assert_eq!(limit(Method::Get, "/todos"), None);
    }

    #[test]
    fn posting_to_a_document_is_405_with_allow() {
        let e = serves(&config(), Method::Post, MANIFEST_PATH).unwrap_err();
        assert_eq!(e.to_reply().header("allow"), Some("GET, HEAD"));
        let e = serves(&config(), Method::Get, TOKEN_PATH).unwrap_err();
        assert_eq!(e.to_reply().header("allow"), Some("POST, OPTIONS"));
    }

    #[test]
    fn unknown_paths_are_404_and_tricks_are_400() {
        assert_eq!(
            route(&config(), &head(Method::Get, "/nope")),
            Err(ApiError::NotFound)
        );
        assert!(matches!(
            route(&config(), &head(Method::Get, "/todos/%2e%2e/x")),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn only_the_authorization_servers_api_answers_cross_origin() {
        let c = config();
        let cors = |path: &str| route(&c, &head(Method::Get, path)).unwrap().answers_cors();
        assert!(cors(TOKEN_PATH) && cors(AS_METADATA_PATH) && cors(USERINFO_PATH));
        assert!(!cors(AUTHORIZE_PATH) && !cors(LOGIN_PATH) && !cors(ACCOUNT_PATH));
        assert!(!cors(HEALTH_PATH) && !cors("/admin/api/users"));
    }
}
