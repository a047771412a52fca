//! The OAuth 2.1 authorization server and the tokens it issues.

pub mod access_token;
pub mod acr;
pub mod assertion_auth;
pub mod authorize;
pub mod client;
pub mod client_assertion;
pub mod display;
pub mod dpop;
pub mod exchange;
pub mod grant;
pub mod grant_stores;
pub mod id_jag;
pub mod params;
pub mod pkce;
pub mod presented;
pub mod redirect_uri;
pub mod registration;
pub mod server;
