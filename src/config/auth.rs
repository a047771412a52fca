//! A plugin's `auth` table: read by serde into one variant per `type`, then checked.

use serde::Deserialize;

use super::{AuthConfig, AuthorizationContentType, ConfigError, HttpAuthorizationType, IpLock};
use crate::primitives::syntax::is_scope_char;
use crate::proxy::cidr::IpRanges;

/// The `auth` table as written. Each variant refuses the others' keys, so a key that means
/// nothing for the chosen type (`scope` on `service_http`) is a typo that surfaces, not a setting
/// silently ignored. Every field has a default: `read_with_tagged` relies on it to name the field
/// a failed read was about.
#[derive(Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    expecting = "a table such as { type = \"oauth\", scope = \"read\" }"
)]
pub(crate) enum AuthTable {
    None {
        #[serde(default)]
        openai_egress_only: bool,
        #[serde(default)]
        allowed_cidrs: Vec<String>,
    },
    ServiceHttp {
        #[serde(default)]
        authorization_type: HttpAuthorizationType,
        verification_token: Option<String>,
    },
    UserHttp {
        #[serde(default)]
        authorization_type: HttpAuthorizationType,
    },
    #[serde(rename = "oauth")]
    OAuth {
        /// Empty when left out, so the check names the key with what it must hold.
        #[serde(default)]
        scope: String,
        #[serde(default)]
        authorization_content_type: AuthorizationContentType,
        verification_token: Option<String>,
        /// RFC 9449: every token of the plugin must be DPoP-bound (a bearer token is refused).
        #[serde(default)]
        dpop_required: bool,
        /// RFC 9449 §8 and §9: proofs must carry the server's current nonce.
        #[serde(default)]
        dpop_nonce: bool,
    },
}

impl AuthTable {
    pub(crate) fn is_oauth(&self) -> bool {
        matches!(self, AuthTable::OAuth { .. })
    }
}

/// Checks what serde cannot: the CIDRs of a `none` lock and the syntax of an OAuth scope.
pub(crate) fn validate_auth(
    table: Option<AuthTable>,
    prefix: &str,
) -> Result<AuthConfig, ConfigError> {
    let table = table.ok_or_else(|| {
        ConfigError::new(
            format!("{prefix}.auth"),
            "a table with type = \"none\" | \"service_http\" | \"user_http\" | \"oauth\"",
        )
    })?;
    Ok(match table {
        AuthTable::None {
            openai_egress_only,
            allowed_cidrs,
        } => AuthConfig::None {
            ip_lock: ip_lock(openai_egress_only, &allowed_cidrs, prefix)?,
        },
        AuthTable::ServiceHttp {
            authorization_type,
            verification_token,
        } => AuthConfig::ServiceHttp {
            authorization_type,
            verification_token: published(verification_token),
        },
        AuthTable::UserHttp { authorization_type } => AuthConfig::UserHttp { authorization_type },
        AuthTable::OAuth {
            scope,
            authorization_content_type,
            verification_token,
            dpop_required,
            dpop_nonce,
        } => AuthConfig::OAuth {
            scope: checked_scope(scope, prefix)?,
            authorization_content_type,
            verification_token: published(verification_token),
            dpop: crate::oauth::dpop::DpopPolicy {
                required: dpop_required,
                nonce: dpop_nonce,
            },
        },
    })
}

/// `None` when neither is set: the API is then open to every caller.
fn ip_lock(openai: bool, cidrs: &[String], prefix: &str) -> Result<Option<IpLock>, ConfigError> {
    let extra = IpRanges::parse(cidrs.iter().map(String::as_str))
        .map_err(|e| ConfigError::new(format!("{prefix}.auth.allowed_cidrs"), e.0))?;
    Ok((openai || !cidrs.is_empty()).then_some(IpLock { openai, extra }))
}

/// An empty verification token is one left unset, so the manifest does not publish `""`.
fn published(token: Option<String>) -> Option<String> {
    token.filter(|t| !t.is_empty())
}

/// ChatGPT refuses a manifest whose OAuth scope is empty.
fn checked_scope(scope: String, prefix: &str) -> Result<String, ConfigError> {
    if scope.is_empty() || scope.split(' ').any(str::is_empty) || !scope.chars().all(is_scope_char)
    {
        return Err(ConfigError::new(
            format!("{prefix}.auth.scope"),
            format!("one or more space-separated scope tokens (RFC 6749 §3.3), got {scope:?}"),
        ));
    }
    Ok(scope)
}
