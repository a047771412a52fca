//! The validating reverse proxy: route rules, credential checks and what is forwarded.

pub mod api_key_cache;
pub mod assertion;
pub mod auth;
pub mod call;
pub mod cidr;
pub mod credential;
pub mod derived;
pub mod dpop;
pub mod forward;
pub mod method_override;
pub mod rules;
pub mod signed_agent;
