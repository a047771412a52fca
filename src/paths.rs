//! Every fixed path the gateway answers on, named once. Which endpoint serves a request is
//! `routes`' decision; these names are what the pages, redirects and documents link to.

pub const HEALTH_PATH: &str = "/healthz";
pub const MANIFEST_PATH: &str = "/.well-known/ai-plugin.json";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";
pub const AS_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const OIDC_METADATA_PATH: &str = "/.well-known/openid-configuration";
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const REVOKE_PATH: &str = "/revoke";
pub const INTROSPECT_PATH: &str = "/introspect";
pub const USERINFO_PATH: &str = "/userinfo";
/// RFC 7591 dynamic client registration.
pub const REGISTER_PATH: &str = "/register";
pub const LOGIN_PATH: &str = "/login";
pub const LOGOUT_PATH: &str = "/logout";
pub const ACCOUNT_PATH: &str = "/account";
/// Upstream sign-in: `POST /login/provider/{id}` starts it, `GET …/{id}/callback` finishes it.
pub const LOGIN_PROVIDER_PREFIX: &str = "/login/provider/";
/// Making an account (`GET` the form, `POST` it), then proving its address.
pub const SIGN_UP_PATH: &str = "/signup";
pub const SIGN_UP_VERIFY_PATH: &str = "/signup/verify";
/// A password reset: the address to mail a link to, then (with the link's token) a new password.
pub const RESET_PATH: &str = "/login/reset";
/// The account's own settings: a new password, a new address, the data, deleting it.
pub const ACCOUNT_PASSWORD_PATH: &str = "/account/password";
pub const ACCOUNT_EMAIL_PATH: &str = "/account/email";
pub const ACCOUNT_EXPORT_PATH: &str = "/account/export";
pub const ACCOUNT_DELETE_PATH: &str = "/account/delete";
/// Signing in with a code mailed to the address.
pub const EMAIL_CODE_PATH: &str = "/login/code";
/// Signing in with a passkey: the sign-in page's ceremony posts here.
pub const LOGIN_PASSKEY_PATH: &str = "/login/passkey";
/// The account page's passkeys: adding (the registration ceremony posts here), renaming,
/// deleting.
pub const ACCOUNT_PASSKEYS_PATH: &str = "/account/passkeys";
/// The second step of a sign-in (or a step up) for users with an authenticator app: its code,
/// or a recovery code.
pub const SECOND_FACTOR_PATH: &str = "/login/second-factor";
/// Setting up, removing and renewing the recovery codes of an authenticator app.
pub const SECOND_FACTOR_SETUP_PATH: &str = "/account/second-factor";
/// Proving an existing account to link an upstream identity to it.
pub const LOGIN_LINK_PATH: &str = "/login/link";
pub const ADMIN_API_PREFIX: &str = "/admin/api/";
/// The admin console's files (served with its security headers).
pub const ADMIN_CONSOLE_PREFIX: &str = crate::assets::CONSOLE_PREFIX;
/// The static files every deployment serves: the portal's stylesheet, the passkey pages' script
/// and the admin console.
pub const PORTAL_STYLESHEET_PATH: &str = "/portal/portal.css";
/// The one script of the portal, on the pages with a passkey ceremony only.
pub const PASSKEY_SCRIPT_PATH: &str = "/portal/passkey.js";
pub const BUILT_IN_ASSETS: [&str; 5] = [
    PORTAL_STYLESHEET_PATH,
    PASSKEY_SCRIPT_PATH,
    "/admin/",
    "/admin/admin.js",
    "/admin/admin.css",
];
