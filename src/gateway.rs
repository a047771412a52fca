//! The refusals the gateway makes before an endpoint runs: a body over its cap or a throttled
//! client metadata fetch at the authorization server, rendered as the path's readers expect.
//! The proxied call's decisions are in `proxy/` (`call`, `credential`, `dpop`).

use crate::config::Config;
use crate::error::ApiError;
use crate::http::Reply;

/// A refusal that stops an authorization-server request before it changes anything (a body
/// over its cap, a throttled client metadata fetch): a readable page on the portal's pages,
/// RFC-shaped JSON on the API endpoints, in RFC 7591's terms on `/register`.
pub fn early_refusal(config: &Config, path: &str, error: &ApiError) -> Reply {
    if crate::routes::is_portal_page(path) {
        let brand = crate::web::pages::Brand {
            plugin_name: &config.plugin.name_for_human,
            logo_url: &config.plugin.logo_url,
        };
        let (title, message) = match error {
            ApiError::PayloadTooLarge { limit_bytes } => (
                "Request too large",
                format!("The form sent more than {limit_bytes} bytes. Go back and try again."),
            ),
            ApiError::Throttled { retry_after_secs } => (
                "Too many requests",
                format!(
                    "Too many requests came from your network. Try again in {}.",
                    crate::primitives::duration::human_duration(*retry_after_secs)
                ),
            ),
            other => ("Cannot continue", other.description()),
        };
        let page = crate::web::pages::message_page(error.status(), brand, title, &message);
        return match error {
            ApiError::Throttled { retry_after_secs } => {
                page.with_header("retry-after", retry_after_secs.to_string())
            }
            _ => page,
        };
    }
    match error {
        ApiError::PayloadTooLarge { limit_bytes } if path == crate::routes::REGISTER_PATH => {
            ApiError::OAuth(crate::error::oauth::OAuthError::new(
                crate::error::oauth::OAuthErrorCode::InvalidClientMetadata,
                format!("the registration request is larger than {limit_bytes} bytes"),
            ))
            .to_reply()
            .with_status(413)
        }
        other => other.to_reply(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::raw;

    fn config() -> Config {
        Config::parse(raw()).unwrap()
    }

    #[test]
    fn a_body_over_the_cap_is_a_page_on_portal_pages_and_json_elsewhere() {
        let c = config();
        let too_large = ApiError::PayloadTooLarge { limit_bytes: 16384 };
        for path in ["/login", "/authorize", "/logout", "/account"] {
            let reply = early_refusal(&c, path, &too_large);
            assert_eq!(reply.status, 413, "{path}");
            assert_eq!(
                reply.header("content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(reply.header("x-frame-options"), Some("DENY"));
            assert!(String::from_utf8_lossy(&reply.body).contains("16384 bytes"));
        }
        for (path, code) in [
            ("/token", "payload_too_large"),
            ("/revoke", "payload_too_large"),
            ("/introspect", "payload_too_large"),
            ("/userinfo", "payload_too_large"),
            ("/register", "invalid_client_metadata"),
        ] {
            let reply = early_refusal(&c, path, &too_large);
            assert_eq!(reply.status, 413, "{path}");
            assert_eq!(reply.header("cache-control"), Some("no-store"));
            let body = reply.json_body().unwrap();
            assert_eq!(body["error"], code, "{path}");
            assert!(body["error_description"]
                .as_str()
                .unwrap()
                .contains("16384"));
        }
    }

    #[test]
    fn a_throttle_is_a_page_with_retry_after_on_portal_pages() {
        let c = config();
        let throttled = ApiError::Throttled {
            retry_after_secs: 60,
        };
        let page = early_refusal(&c, "/authorize", &throttled);
        assert_eq!(page.status, 429);
        assert_eq!(page.header("retry-after"), Some("60"));
        assert!(
            String::from_utf8_lossy(&page.body).contains("Try again in 1 min."),
            "a person reads minutes, not seconds"
        );
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let json = early_refusal(&c, "/token", &throttled);
        assert_eq!(json.status, 429);
        assert_eq!(json.header("retry-after"), Some("60"));
        assert_eq!(
            json.json_body().unwrap()["error"],
            "temporarily_unavailable"
        );
    }
}
