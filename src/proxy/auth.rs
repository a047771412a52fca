//! The plugin's auth type (the manifest's `auth`): how callers authenticate to its API, and
//! who may call a `none` plugin. Configuration reads it (`config::auth`); the proxy decides by it.

use serde::{Deserialize, Serialize};

use crate::proxy::cidr::IpRanges;

/// How callers authenticate to the plugin's API (the manifest's `auth.type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// No credential: every allowed route is open, optionally only to callers from OpenAI's
    /// published egress ranges and/or listed CIDRs (checked against `CF-Connecting-IP` only).
    None { ip_lock: Option<IpLock> },
    /// One shared secret for the whole assistant (`SERVICE_TOKEN`).
    ServiceHttp {
        authorization_type: HttpAuthorizationType,
        verification_token: Option<String>,
    },
    /// Each user sends their own API key (created in the admin API, hashed in D1).
    UserHttp {
        authorization_type: HttpAuthorizationType,
    },
    /// Users sign in through our OAuth server; the proxy checks our access tokens.
    OAuth {
        scope: String,
        authorization_content_type: AuthorizationContentType,
        verification_token: Option<String>,
        /// What the plugin asks of DPoP-bound tokens.
        dpop: crate::oauth::dpop::DpopPolicy,
    },
}

impl AuthConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthConfig::None { .. } => "none",
            AuthConfig::ServiceHttp { .. } => "service_http",
            AuthConfig::UserHttp { .. } => "user_http",
            AuthConfig::OAuth { .. } => "oauth",
        }
    }
}

/// Who may call a `none` plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpLock {
    /// Allow OpenAI's egress ranges (the shipped snapshot, refreshed by the scheduled event).
    pub openai: bool,
    /// Further ranges allowed.
    pub extra: IpRanges,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"bearer\" or \"basic\"")]
pub enum HttpAuthorizationType {
    #[default]
    Bearer,
    Basic,
}

impl HttpAuthorizationType {
    /// The `Authorization` scheme as sent and challenged (`Bearer`, `Basic`).
    pub fn scheme(self) -> &'static str {
        match self {
            HttpAuthorizationType::Bearer => "Bearer",
            HttpAuthorizationType::Basic => "Basic",
        }
    }

    /// As configuration and the plugin manifest name it (`bearer`, `basic`).
    pub fn manifest_name(self) -> &'static str {
        match self {
            HttpAuthorizationType::Bearer => "bearer",
            HttpAuthorizationType::Basic => "basic",
        }
    }
}

/// The body ChatGPT sends to an `oauth` plugin's token endpoint; the manifest publishes it, so it
/// serializes as the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(expecting = "\"application/x-www-form-urlencoded\" or \"application/json\"")]
pub enum AuthorizationContentType {
    #[default]
    #[serde(rename = "application/x-www-form-urlencoded")]
    FormUrlencoded,
    #[serde(rename = "application/json")]
    Json,
}
