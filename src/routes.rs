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

/// The authorization server's endpoints and the portal's pages, each a leaf: a path that carries
/// a parameter (an upstream provider's id) carries it here, read from the path once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEndpoint<'p> {
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
    /// `POST /login/provider/{id}`: sign in at an upstream provider.
    ProviderStart(&'p str),
    /// `GET /login/provider/{id}/callback`: the provider sends the user back.
    ProviderCallback(&'p str),
    /// `POST /login/link`.
    LinkAccount,
    /// `/signup`: the form, and the mail that proves its address.
    SignUp,
    /// `/signup/verify`: the code (or the mailed link) that finishes a sign-up.
    VerifySignUp,
    /// `/login/reset`: a reset link mailed, then a new password with it.
    ResetPassword,
    /// `/login/code`: sign-in by a mailed code.
    EmailCode,
    /// The account's own settings under `/account/`.
    OwnAccount(OwnAccountPage),
    /// `POST /login/passkey`: sign-in with a passkey.
    PasskeySignIn,
    /// `POST /account/passkeys`: add, rename or delete one of the signed-in user's passkeys.
    Passkeys,
    /// `POST /login/second-factor`: a TOTP or recovery code after the first factor.
    SecondFactor,
    /// `/account/second-factor`: setting up an authenticator app, and what follows.
    SecondFactorSetup,
    /// The plans' pages under `/billing/`.
    Billing(BillingPage),
    /// `POST /billing/stripe/webhook`.
    StripeWebhook,
}

/// A signed-in user's own settings: `/account/password`, `/account/email`, `/account/export`,
/// `/account/delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnAccountPage {
    Password,
    Email,
    Export,
    Delete,
}

/// The plans' pages: `GET /billing/upgrade`, `POST /billing/checkout`, `POST /billing/portal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingPage {
    Upgrade,
    Checkout,
    Portal,
}

impl<'p> AuthEndpoint<'p> {
    /// Whether the endpoint is one of the portal's own (signing in and out, at an upstream
    /// provider too, the account page, and making and recovering an account), which a
    /// `user_http` plugin's account portal serves: a stranger signs up there and makes the key
    /// they paste into ChatGPT.
    pub fn is_portal(&self) -> bool {
        matches!(
            self,
            AuthEndpoint::Login
                | AuthEndpoint::Logout
                | AuthEndpoint::Account
                | AuthEndpoint::ProviderStart(_)
                | AuthEndpoint::ProviderCallback(_)
                | AuthEndpoint::LinkAccount
                | AuthEndpoint::SignUp
                | AuthEndpoint::VerifySignUp
                | AuthEndpoint::ResetPassword
                | AuthEndpoint::EmailCode
                | AuthEndpoint::OwnAccount(_)
        )
    }

    pub fn from_path(path: &'p str) -> Option<AuthEndpoint<'p>> {
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
            SIGN_UP_PATH => AuthEndpoint::SignUp,
            SIGN_UP_VERIFY_PATH => AuthEndpoint::VerifySignUp,
            RESET_PATH => AuthEndpoint::ResetPassword,
            EMAIL_CODE_PATH => AuthEndpoint::EmailCode,
            ACCOUNT_PASSWORD_PATH => AuthEndpoint::OwnAccount(OwnAccountPage::Password),
            ACCOUNT_EMAIL_PATH => AuthEndpoint::OwnAccount(OwnAccountPage::Email),
            ACCOUNT_EXPORT_PATH => AuthEndpoint::OwnAccount(OwnAccountPage::Export),
            ACCOUNT_DELETE_PATH => AuthEndpoint::OwnAccount(OwnAccountPage::Delete),
            LOGIN_PASSKEY_PATH => AuthEndpoint::PasskeySignIn,
            ACCOUNT_PASSKEYS_PATH => AuthEndpoint::Passkeys,
            SECOND_FACTOR_PATH => AuthEndpoint::SecondFactor,
            SECOND_FACTOR_SETUP_PATH => AuthEndpoint::SecondFactorSetup,
            crate::billing::WEBHOOK_PATH => AuthEndpoint::StripeWebhook,
            crate::billing::UPGRADE_PATH => AuthEndpoint::Billing(BillingPage::Upgrade),
            crate::billing::CHECKOUT_PATH => AuthEndpoint::Billing(BillingPage::Checkout),
            crate::billing::PORTAL_PATH => AuthEndpoint::Billing(BillingPage::Portal),
            p => {
                let rest = p.strip_prefix(LOGIN_PROVIDER_PREFIX)?;
                match rest.strip_suffix("/callback") {
                    Some(id) => AuthEndpoint::ProviderCallback(id),
                    None => AuthEndpoint::ProviderStart(rest),
                }
            }
        })
    }

    pub fn allowed_methods(self) -> &'static [&'static str] {
        match self {
            AuthEndpoint::Authorize
            | AuthEndpoint::Login
            | AuthEndpoint::Account
            | AuthEndpoint::SignUp
            | AuthEndpoint::VerifySignUp
            | AuthEndpoint::ResetPassword
            | AuthEndpoint::EmailCode
            | AuthEndpoint::OwnAccount(
                OwnAccountPage::Password | OwnAccountPage::Email | OwnAccountPage::Delete,
            )
            | AuthEndpoint::SecondFactorSetup => &["GET", "HEAD", "POST"],
            AuthEndpoint::OwnAccount(OwnAccountPage::Export) => READ,
            AuthEndpoint::Logout
            | AuthEndpoint::SecondFactor
            | AuthEndpoint::LinkAccount
            | AuthEndpoint::PasskeySignIn
            | AuthEndpoint::Passkeys
            | AuthEndpoint::ProviderStart(_)
            | AuthEndpoint::Billing(BillingPage::Checkout | BillingPage::Portal)
            | AuthEndpoint::StripeWebhook => &["POST"],
            AuthEndpoint::ProviderCallback(_) => &["GET"],
            AuthEndpoint::Billing(BillingPage::Upgrade) => READ,
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
                | AuthEndpoint::ProviderStart(_)
                | AuthEndpoint::ProviderCallback(_)
                | AuthEndpoint::LinkAccount
                | AuthEndpoint::Billing(_)
                | AuthEndpoint::SignUp
                | AuthEndpoint::VerifySignUp
                | AuthEndpoint::ResetPassword
                | AuthEndpoint::EmailCode
                | AuthEndpoint::OwnAccount(_)
                | AuthEndpoint::PasskeySignIn
                | AuthEndpoint::Passkeys
                | AuthEndpoint::SecondFactor
                | AuthEndpoint::SecondFactorSetup
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
            AuthEndpoint::ProviderStart(_) | AuthEndpoint::ProviderCallback(_) => "login_provider",
            AuthEndpoint::LinkAccount => "login_link",
            AuthEndpoint::SignUp => "sign_up",
            AuthEndpoint::VerifySignUp => "sign_up_verify",
            AuthEndpoint::ResetPassword => "password_reset",
            AuthEndpoint::EmailCode => "email_code",
            AuthEndpoint::OwnAccount(_) => "own_account",
            AuthEndpoint::PasskeySignIn => "login_passkey",
            AuthEndpoint::Passkeys => "account_passkeys",
            AuthEndpoint::SecondFactor => "second_factor",
            AuthEndpoint::SecondFactorSetup => "second_factor_setup",
            AuthEndpoint::Billing(_) => "billing",
            AuthEndpoint::StripeWebhook => "stripe_webhook",
        }
    }
}

/// Whether a path is one of the portal's pages (for refusals made before routing finished).
pub fn is_portal_page(path: &str) -> bool {
    AuthEndpoint::from_path(path).is_some_and(AuthEndpoint::is_page)
}

/// Who serves a request: a leaf of the route table, with what its path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'p> {
    Health,
    PluginManifest,
    Jwks,
    ProtectedResourceMetadata,
    OpenApi,
    /// A file from `static/` (the logo, the portal's stylesheet, the admin console).
    Asset,
    AuthServer(AuthEndpoint<'p>),
    /// The admin API, under [`ADMIN_API_PREFIX`]: its methods are checked after the admin
    /// credential, so a caller without it learns nothing of the API's shape.
    Admin(AdminRoute<'p>),
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

impl Endpoint<'_> {
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
            Endpoint::Admin(_) => "admin",
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
                    | AuthEndpoint::ProviderStart(_)
                    | AuthEndpoint::ProviderCallback(_)
                    | AuthEndpoint::LinkAccount
                    | AuthEndpoint::Billing(_)
                    | AuthEndpoint::SignUp
                    | AuthEndpoint::VerifySignUp
                    | AuthEndpoint::ResetPassword
                    | AuthEndpoint::EmailCode
                    | AuthEndpoint::OwnAccount(_)
                    | AuthEndpoint::PasskeySignIn
                    | AuthEndpoint::Passkeys
                    | AuthEndpoint::SecondFactor
                    | AuthEndpoint::SecondFactorSetup,
                ),
                Method::Post,
            ) => Some(RateLimit::Login),
            (Endpoint::Admin(_), _) => Some(RateLimit::Admin),
            _ => None,
        }
    }

    /// Whether answers carry `Access-Control-Allow-Origin: *`: the authorization server's API
    /// endpoints and discovery documents, which browser-based clients call.
    pub fn answers_cors(self) -> bool {
        matches!(self, Endpoint::AuthServer(e) if !e.is_page())
    }

    /// The methods a fixed endpoint answers; `None` for the admin API (checked after its
    /// credential, [`AdminRoute::check_method`]) and the proxy (its rules are per method).
    pub fn allowed_methods(self) -> Option<&'static [&'static str]> {
        match self {
            Endpoint::AuthServer(endpoint) => Some(endpoint.allowed_methods()),
            Endpoint::Admin(_) | Endpoint::Proxy(_) => None,
            _ => Some(READ),
        }
    }

    /// `Ok` when the endpoint answers the request's method, else the 405 that lists what it does.
    pub fn check_method(self, method: &Method) -> Result<(), ApiError> {
        match self.allowed_methods() {
            Some(allowed) => allows(allowed, method),
            None => Ok(()),
        }
    }
}

fn allows(allowed: &[&str], method: &Method) -> Result<(), ApiError> {
    if allowed.contains(&method.as_str()) {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed {
        allow: allowed.iter().map(|m| m.to_string()).collect(),
    })
}

/// The admin API's paths under [`ADMIN_API_PREFIX`], each with the ids it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute<'p> {
    Routes,
    Usage,
    Subscribers,
    Users,
    User(&'p str),
    UserPassword(&'p str),
    /// A user's second factor and passkeys, which an administrator removes (a lost device).
    UserFactors(&'p str),
    UserRoles(&'p str),
    UserQuota(&'p str),
    UserIdentities(&'p str),
    /// A user's link to an upstream provider: the user, then the provider.
    UserIdentity(&'p str, &'p str),
    Resources,
    Resource(&'p str),
    ResourcePermissions(&'p str),
    /// One permission of a resource: the resource, then the permission's name.
    ResourcePermission(&'p str, &'p str),
    Roles,
    Role(&'p str),
    Clients,
    Client(&'p str),
    ClientRoles(&'p str),
    ClientSecret(&'p str),
    ApiKeys,
    ApiKey(&'p str),
    /// Invitations to make an account (plugins whose sign-up is by invitation, or open).
    Invitations,
    Invitation(&'p str),
    /// No such path: 404, once the admin credential has been checked.
    Unknown,
}

impl<'p> AdminRoute<'p> {
    /// The route for the path after [`ADMIN_API_PREFIX`].
    pub fn from_path(rest: &'p str) -> AdminRoute<'p> {
        use AdminRoute::*;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["routes"] => Routes,
            ["usage"] => Usage,
            ["subscribers"] => Subscribers,
            ["users"] => Users,
            ["users", id] => User(id),
            ["users", id, "password"] => UserPassword(id),
            ["users", id, "factors"] => UserFactors(id),
            ["users", id, "roles"] => UserRoles(id),
            ["users", id, "quota"] => UserQuota(id),
            ["users", id, "identities"] => UserIdentities(id),
            ["users", id, "identities", provider] => UserIdentity(id, provider),
            ["resources"] => Resources,
            ["resources", id] => Resource(id),
            ["resources", id, "permissions"] => ResourcePermissions(id),
            ["resources", id, "permissions", name] => ResourcePermission(id, name),
            ["roles"] => Roles,
            ["roles", id] => Role(id),
            ["clients"] => Clients,
            ["clients", id] => Client(id),
            ["clients", id, "roles"] => ClientRoles(id),
            ["clients", id, "secret"] => ClientSecret(id),
            ["api-keys"] => ApiKeys,
            ["api-keys", id] => ApiKey(id),
            ["invitations"] => Invitations,
            ["invitations", id] => Invitation(id),
            _ => Unknown,
        }
    }

    /// The methods the path answers (none for an unknown path).
    pub fn allowed_methods(self) -> &'static [&'static str] {
        use AdminRoute::*;
        match self {
            Routes | Usage | Subscribers | UserQuota(_) => &["GET"],
            Users | Resources | Roles | Clients | ApiKeys | UserIdentities(_) | Invitations => {
                &["GET", "POST"]
            }
            User(_) | Resource(_) | Role(_) | Client(_) => &["GET", "PATCH", "DELETE"],
            UserPassword(_) => &["PUT"],
            UserRoles(_) | ClientRoles(_) => &["PUT"],
            ResourcePermissions(_) | ClientSecret(_) => &["POST"],
            UserIdentity(..)
            | ResourcePermission(..)
            | ApiKey(_)
            | Invitation(_)
            | UserFactors(_) => &["DELETE"],
            Unknown => &[],
        }
    }

    /// `Ok` when the path answers the method; 404 for an unknown path, else 405 with `Allow`.
    pub fn check_method(self, method: &Method) -> Result<(), ApiError> {
        if self == AdminRoute::Unknown {
            return Err(ApiError::NotFound);
        }
        allows(self.allowed_methods(), method)
    }
}

/// Picks the endpoint for a request, or the 400/404/405 that answers it. The method is checked
/// here for the proxy (its rules are per method); fixed endpoints check theirs with
/// [`Endpoint::check_method`].
pub fn route<'p>(config: &Config, head: &'p RequestHead) -> Result<Endpoint<'p>, ApiError> {
    let method = head
        .method
        .clone()
        .ok_or_else(|| ApiError::BadRequest("the request method is invalid".into()))?;
    let path = head.path.as_str();
    if let Some(rest) = path.strip_prefix(ADMIN_API_PREFIX) {
        return Ok(Endpoint::Admin(AdminRoute::from_path(rest)));
    }
    if config.oauth.is_some() {
        if let Some(endpoint) = AuthEndpoint::from_path(path) {
            return Ok(Endpoint::AuthServer(endpoint));
        }
    } else if config.account_portal.is_some() {
        // A `user_http` plugin's portal: signing in and the account page, nothing of OAuth.
        if let Some(endpoint) = AuthEndpoint::from_path(path).filter(AuthEndpoint::is_portal) {
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

    /// A request head that lives as long as the test (an endpoint borrows its path).
    fn head(method: Method, path: &str) -> &'static RequestHead {
        Box::leak(Box::new(RequestHead::new(method, path)))
    }

    /// The endpoint and the method check together, as the edge applies them.
    fn serves(c: &Config, method: Method, path: &str) -> Result<Endpoint<'static>, ApiError> {
        let endpoint = route(c, head(method.clone(), path))?;
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
            Ok(Endpoint::Admin(AdminRoute::Users))
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
            let mut h = RequestHead::new(Method::Post, "/todos");
            h.query = Some(query.into());
            route(&c, &h).map(|e| e == Endpoint::Proxy(1))
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
            assert_eq!(with_query(query), Ok(true), "{query}");
        }
        // Only a POST is overridden by frameworks; the query of a GET is the origin's own.
        let mut get = RequestHead::new(Method::Get, "/todos");
        get.query = Some("_method=DELETE".into());
        assert_eq!(route(&c, &get), Ok(Endpoint::Proxy(0)));
        // An origin that never honors `_method` gets the query as sent.
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["origin_honors_method_override"] = serde_json::json!(false);
        let ignores = Config::parse(raw).unwrap();
        let mut post = RequestHead::new(Method::Post, "/todos");
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
            route(&c, head(Method::Post, TOKEN_PATH)),
            Err(ApiError::NotFound)
        );
    }

    #[test]
    fn a_user_http_plugin_with_a_session_secret_serves_the_portal_and_nothing_of_oauth() {
        let mut raw = raw();
        raw.plugin.as_mut().unwrap()["auth"] =
            serde_json::json!({"type": "user_http", "authorization_type": "bearer"});
        let c = Config::parse(raw.clone()).unwrap();
        assert!(c.oauth.is_none() && c.account_portal.is_some());
        for path in [
            LOGIN_PATH,
            LOGOUT_PATH,
            ACCOUNT_PATH,
            SIGN_UP_PATH,
            SIGN_UP_VERIFY_PATH,
            RESET_PATH,
            EMAIL_CODE_PATH,
        ] {
            assert!(
                matches!(
                    route(&c, head(Method::Get, path)),
                    Ok(Endpoint::AuthServer(_))
                ),
                "{path}"
            );
        }
        for path in [TOKEN_PATH, AUTHORIZE_PATH, REGISTER_PATH, AS_METADATA_PATH] {
            assert_eq!(
                route(&c, head(Method::Post, path)),
                Err(ApiError::NotFound),
                "{path}"
            );
        }
        // Without a session secret there is no portal: keys are the administrator's to make.
        raw.session_secret = None;
        let c = Config::parse(raw).unwrap();
        assert!(c.account_portal.is_none());
        assert_eq!(
            route(&c, head(Method::Get, ACCOUNT_PATH)),
            Err(ApiError::NotFound)
        );
    }

    #[test]
    fn the_token_login_and_admin_endpoints_are_rate_limited_per_ip() {
        let c = config();
        let limit = |method: Method, path: &str| {
            route(&c, head(method.clone(), path))
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
            limit(Method::Post, LOGIN_PASSKEY_PATH),
            Some("RATE_LIMIT_LOGIN")
        );
        assert_eq!(
            limit(Method::Post, ACCOUNT_PASSKEYS_PATH),
            Some("RATE_LIMIT_LOGIN")
        );
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
            route(&config(), head(Method::Get, "/nope")),
            Err(ApiError::NotFound)
        );
        assert!(matches!(
            route(&config(), head(Method::Get, "/todos/%2e%2e/x")),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn only_the_authorization_servers_api_answers_cross_origin() {
        let c = config();
        let cors = |path: &str| route(&c, head(Method::Get, path)).unwrap().answers_cors();
        assert!(cors(TOKEN_PATH) && cors(AS_METADATA_PATH) && cors(USERINFO_PATH));
        assert!(!cors(AUTHORIZE_PATH) && !cors(LOGIN_PATH) && !cors(ACCOUNT_PATH));
        assert!(!cors(HEALTH_PATH) && !cors("/admin/api/users"));
    }

    #[test]
    fn sub_paths_are_leaves_that_carry_what_their_path_names() {
        let c = config();
        let at = |method: Method, path: &str| serves(&c, method, path);
        assert_eq!(
            at(Method::Post, "/login/provider/github"),
            Ok(Endpoint::AuthServer(AuthEndpoint::ProviderStart("github")))
        );
        assert_eq!(
            at(Method::Get, "/login/provider/github/callback"),
            Ok(Endpoint::AuthServer(AuthEndpoint::ProviderCallback(
                "github"
            )))
        );
        // Each leaf answers only its own methods, and says which.
        let allow = |method: Method, path: &str| {
            at(method, path)
                .unwrap_err()
                .to_reply()
                .header("allow")
                .map(str::to_owned)
        };
        assert_eq!(
            allow(Method::Get, "/login/provider/github").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allow(Method::Post, "/login/provider/github/callback").as_deref(),
            Some("GET")
        );
        // The passkey ceremonies post; their options are in the pages that start them.
        assert_eq!(
            at(Method::Post, LOGIN_PASSKEY_PATH),
            Ok(Endpoint::AuthServer(AuthEndpoint::PasskeySignIn))
        );
        assert_eq!(
            allow(Method::Get, LOGIN_PASSKEY_PATH).as_deref(),
            Some("POST")
        );
        assert_eq!(
            allow(Method::Get, ACCOUNT_PASSKEYS_PATH).as_deref(),
            Some("POST")
        );
        assert!(is_portal_page(LOGIN_PASSKEY_PATH) && is_portal_page(ACCOUNT_PASSKEYS_PATH));
        assert_eq!(
            at(Method::Head, "/billing/upgrade"),
            Ok(Endpoint::AuthServer(AuthEndpoint::Billing(
                BillingPage::Upgrade
            )))
        );
        assert_eq!(
            allow(Method::Post, "/billing/upgrade").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(
            allow(Method::Get, "/billing/checkout").as_deref(),
            Some("POST")
        );
        assert_eq!(
            at(Method::Post, "/billing/portal"),
            Ok(Endpoint::AuthServer(AuthEndpoint::Billing(
                BillingPage::Portal
            )))
        );
    }

    #[test]
    fn admin_paths_name_their_ids_and_check_methods_after_the_credential() {
        let c = config();
        let admin = |path: &str| match route(&c, head(Method::Get, path)) {
            Ok(Endpoint::Admin(route)) => route,
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(admin("/admin/api/users/usr_1"), AdminRoute::User("usr_1"));
        assert_eq!(
            admin("/admin/api/users/usr_1/identities/github"),
            AdminRoute::UserIdentity("usr_1", "github")
        );
        assert_eq!(
            admin("/admin/api/resources/res_1/permissions/todos:read"),
            AdminRoute::ResourcePermission("res_1", "todos:read")
        );
        assert_eq!(
            admin("/admin/api/api-keys/key_1"),
            AdminRoute::ApiKey("key_1")
        );
        assert_eq!(admin("/admin/api/nope"), AdminRoute::Unknown);
        assert_eq!(admin("/admin/api/users/a/b/c/d"), AdminRoute::Unknown);
        // The route table lets every method through to the admin API, which checks the admin
        // credential first: a caller without it cannot tell a path from a method.
        assert_eq!(
            serves(&c, Method::Put, "/admin/api/users").map(|_| ()),
            Ok(())
        );
        assert_eq!(
            AdminRoute::Users.check_method(&Method::Put),
            Err(ApiError::MethodNotAllowed {
                allow: vec!["GET".into(), "POST".into()]
            })
        );
        assert_eq!(
            AdminRoute::Unknown.check_method(&Method::Get),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            AdminRoute::ClientSecret("c").check_method(&Method::Post),
            Ok(())
        );
    }
}
