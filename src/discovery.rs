//! Documents the assistant discovers: the ChatGPT plugin manifest and the RFC 9728
//! protected-resource metadata. Both are built from configuration only: no secret is in scope
//! here, so none can leak into them.

use serde_json::{json, Value};

use crate::config::{AuthConfig, Config};
use crate::routes::{AUTHORIZE_PATH, TOKEN_PATH};

/// `/.well-known/ai-plugin.json`, schema v1.
pub fn plugin_manifest(config: &Config) -> Value {
    let plugin = &config.plugin;
    let base = &config.public_base_url;
    let auth = match &plugin.auth {
        AuthConfig::None { .. } => json!({ "type": "none" }),
        AuthConfig::ServiceHttp {
            authorization_type,
            verification_token,
        } => {
            let mut auth = json!({
                "type": "service_http",
                "authorization_type": authorization_type.manifest_name(),
            });
            if let Some(token) = verification_token {
                auth["verification_tokens"] = json!({ "openai": token });
            }
            auth
        }
        AuthConfig::UserHttp { authorization_type } => json!({
            "type": "user_http",
            "authorization_type": authorization_type.manifest_name(),
        }),
        AuthConfig::OAuth {
            scope,
            authorization_content_type,
            verification_token,
            ..
        } => {
            let mut auth = json!({
                "type": "oauth",
                "client_url": format!("{base}{AUTHORIZE_PATH}"),
                "authorization_url": format!("{base}{TOKEN_PATH}"),
                "scope": scope,
                "authorization_content_type": authorization_content_type,
            });
            if let Some(token) = verification_token {
                auth["verification_tokens"] = json!({ "openai": token });
            }
            auth
        }
    };
    json!({
        "schema_version": "v1",
        "name_for_human": plugin.name_for_human,
        "name_for_model": plugin.name_for_model,
        "description_for_human": plugin.description_for_human,
        "description_for_model": plugin.description_for_model,
        "auth": auth,
        "api": {
            "type": "openapi",
            "url": format!("{base}{}", plugin.openapi_path),
        },
        "logo_url": plugin.logo_url,
        "contact_email": plugin.contact_email,
        "legal_info_url": plugin.legal_info_url,
    })
}

/// RFC 9728 §2 protected-resource metadata for the plugin's API.
pub fn protected_resource_metadata(config: &Config) -> Value {
    let plugin = &config.plugin;
    let mut scopes: Vec<&str> = Vec::new();
    for index in 0.. {
        let Some(rule) = plugin.routes.rule(index) else {
            break;
        };
        for scope in &rule.scopes {
            // `offline_access` asks for a refresh token; it is no resource's scope.
            if scope != "offline_access" && !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
    }
    // In one order whatever the rules' (they may come from configuration and the document).
    scopes.sort_unstable();
    let mut doc = json!({
        "resource": plugin.resource,
        "resource_name": plugin.name_for_human,
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
    });
    if matches!(plugin.auth, AuthConfig::OAuth { .. }) {
        doc["authorization_servers"] = json!([config.public_base_url]);
        // RFC 9728 §2: the proofs this resource accepts, and whether it takes bound tokens only.
        doc["dpop_signing_alg_values_supported"] = json!(crate::oauth::dpop::SIGNING_ALGS);
        doc["dpop_bound_access_tokens_required"] = json!(config.dpop().required);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{raw, TEST_SEED};
    use crate::config::RawConfig;

    fn config_with(mutate: impl FnOnce(&mut RawConfig)) -> Config {
        let mut raw = raw();
        mutate(&mut raw);
        Config::parse(raw).unwrap()
    }

    #[test]
    fn the_oauth_manifest_points_at_our_endpoints() {
        let manifest = plugin_manifest(&config_with(|_| {}));
        assert_eq!(manifest["schema_version"], "v1");
        assert_eq!(manifest["auth"]["type"], "oauth");
        assert_eq!(
            manifest["auth"]["client_url"],
            "https://todo.example.com/authorize"
        );
        assert_eq!(
            manifest["auth"]["authorization_url"],
            "https://todo.example.com/token"
        );
        assert_eq!(manifest["auth"]["scope"], "todos:read todos:write");
        assert_eq!(
            manifest["auth"]["authorization_content_type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            manifest["api"]["url"],
            "https://todo.example.com/openapi.json"
        );
        assert_eq!(manifest["logo_url"], "https://todo.example.com/logo.svg");
    }

    #[test]
    fn verification_tokens_appear_only_when_configured() {
        let manifest = plugin_manifest(&config_with(|_| {}));
        assert!(manifest["auth"].get("verification_tokens").is_none());
        let manifest = plugin_manifest(&config_with(|r| {
            r.plugin.as_mut().unwrap()["auth"]["verification_token"] = "abc123".into();
        }));
        assert_eq!(manifest["auth"]["verification_tokens"]["openai"], "abc123");
    }

    #[test]
    fn service_http_manifests_carry_the_authorization_type_not_the_secret() {
        let secret = "the-shared-service-secret";
        let config = config_with(|r| {
            r.plugin.as_mut().unwrap()["auth"] =
                serde_json::json!({"type": "service_http", "authorization_type": "basic"});
            r.service_token = Some(secret.into());
        });
        let manifest = plugin_manifest(&config);
        assert_eq!(manifest["auth"]["type"], "service_http");
        assert_eq!(manifest["auth"]["authorization_type"], "basic");
        let text = manifest.to_string();
        assert!(!text.contains(secret));
        assert!(!text.contains(TEST_SEED));
    }

    #[test]
    fn none_manifests_say_none() {
        let config = config_with(|r| {
            r.plugin.as_mut().unwrap()["auth"] = serde_json::json!({"type": "none"});
        });
        assert_eq!(
            plugin_manifest(&config)["auth"],
            serde_json::json!({"type": "none"})
        );
    }

    #[test]
    fn resource_metadata_names_the_resource_scopes_and_issuer() {
        let doc = protected_resource_metadata(&config_with(|_| {}));
        assert_eq!(doc["resource"], "https://todo.example.com");
        assert_eq!(doc["authorization_servers"][0], "https://todo.example.com");
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["todos:read", "todos:write"])
        );
        assert_eq!(doc["bearer_methods_supported"][0], "header");
    }

    #[test]
    fn offline_access_is_never_a_resource_scope() {
        let c = config_with(|raw| {
            raw.plugin.as_mut().unwrap()["routes"] = serde_json::json!([
                { "path": "/a", "scopes": ["offline_access", "todos:read"] }
            ]);
        });
        let doc = protected_resource_metadata(&c);
        assert_eq!(doc["scopes_supported"], serde_json::json!(["todos:read"]));
    }
}
