//! RFC 8414 authorization-server metadata, also served as OpenID Connect discovery.

use serde_json::{json, Value};

use crate::config::{AuthConfig, Config};
use crate::oauth::access_token::MACHINE_GRANT;
use crate::oauth::client_assertion::JwsAlgorithm;
use crate::rbac::scope::{parse_scope, OPENID_SCOPES};
use crate::routes::{
    AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH,
    USERINFO_PATH,
};

/// RFC 8414 authorization-server metadata (also served as OpenID Connect discovery).
pub fn metadata(config: &Config) -> Value {
    let base = &config.public_base_url;
    let mut scopes: Vec<String> = OPENID_SCOPES.iter().map(|s| s.to_string()).collect();
    if let AuthConfig::OAuth { scope, .. } = &config.plugin.auth {
        for s in parse_scope(scope) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
    }
    let assertion_algs: Vec<&str> = JwsAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    // Only the algorithm ID tokens are signed with: no client can ask for another.
    let id_token_algs = [config.keys.id_token_alg().as_str()];
    let mut grant_types = vec!["authorization_code", "refresh_token", MACHINE_GRANT];
    if !config.plugin.token_exchange.is_empty() {
        grant_types.push(crate::oauth::exchange::GRANT_TYPE);
    }
    let enterprise = !config.plugin.enterprise_idps.is_empty();
    if enterprise {
        grant_types.push(crate::oauth::id_jag::GRANT_TYPE);
    }
    let mut doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
        "userinfo_endpoint": format!("{base}{USERINFO_PATH}"),
        "registration_endpoint": format!("{base}{REGISTER_PATH}"),
        "client_id_metadata_document_supported": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": crate::oauth::dpop::SIGNING_ALGS,
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "email", "name"],
        "acr_values_supported": crate::oauth::acr::ACR_VALUES,
        "prompt_values_supported": ["none", "login", "consent"],
    });
    if enterprise {
        // The MCP extension for enterprise-managed authorization looks for this.
        doc["authorization_grant_profiles_supported"] = json!([crate::oauth::id_jag::PROFILE]);
    }
    doc
}
