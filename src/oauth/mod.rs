//! The OAuth 2.1 authorization server and the tokens it issues.

pub mod access_token;
