//! Cloudflare Turnstile on the sign-up form, optional (`sign_in.turnstile_site_key` and the
//! secret `TURNSTILE_SECRET_KEY`): the widget's token is verified server-side at Siteverify
//! before anything is stored or mailed. The request and the reading of its answer, pure.

use serde::Deserialize;

/// Where Siteverify is (a local stand-in in tests).
pub const SITEVERIFY_BASE: &str = "https://challenges.cloudflare.com";
pub const SITEVERIFY_PATH: &str = "/turnstile/v0/siteverify";
/// The form field the widget fills in.
pub const RESPONSE_FIELD: &str = "cf-turnstile-response";
/// Turnstile's tokens are at most 2048 characters.
pub const MAX_TOKEN_CHARS: usize = 2048;
/// The widget's script and frame origin, which the sign-up page's CSP lets in.
pub const WIDGET_ORIGIN: &str = "https://challenges.cloudflare.com";

/// What a plugin's sign-up asks of Turnstile.
#[derive(Debug, Clone)]
pub struct TurnstileSettings {
    pub site_key: String,
    pub secret_key: crate::primitives::secret::Secret,
    pub api_base: String,
}

/// The Siteverify form: the secret, the token, and the visitor's address.
pub fn siteverify_form(secret: &str, token: &str, remote_ip: &str) -> String {
    use crate::oauth::params::form_encode;
    let mut form = format!(
        "secret={}&response={}",
        form_encode(secret),
        form_encode(token)
    );
    if !remote_ip.is_empty() && remote_ip != "unknown" {
        form.push_str(&format!("&remoteip={}", form_encode(remote_ip)));
    }
    form
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    hostname: String,
}

/// Whether Siteverify's answer says the token is good, for a widget on `host` (a token solved on
/// another site's widget with the same key, or replayed, fails).
pub fn passed(status: u16, body: &[u8], host: &str) -> bool {
    if status != 200 {
        return false;
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) => a.success && (a.hostname.is_empty() || a.hostname.eq_ignore_ascii_case(host)),
        Err(_) => false,
    }
}

/// A token worth sending: present, not too long, printable.
pub fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_successful_answer_for_our_host_passes() {
        assert!(passed(
            200,
            br#"{"success":true,"hostname":"todo.example.com"}"#,
            "todo.example.com"
        ));
        assert!(passed(200, br#"{"success":true}"#, "todo.example.com"));
        assert!(!passed(
            200,
            br#"{"success":true,"hostname":"evil.example"}"#,
            "todo.example.com"
        ));
        assert!(!passed(
            200,
            br#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#,
            "todo.example.com"
        ));
        assert!(!passed(500, br#"{"success":true}"#, "todo.example.com"));
        assert!(!passed(200, b"not json", "todo.example.com"));
    }

    #[test]
    fn the_form_carries_the_secret_the_token_and_a_real_address() {
        assert_eq!(
            siteverify_form("s&1", "t=2", "203.0.113.9"),
            "secret=s%261&response=t%3D2&remoteip=203.0.113.9"
        );
        assert_eq!(siteverify_form("s", "t", "unknown"), "secret=s&response=t");
        assert!(
            !plausible("")
                && !plausible(&"a".repeat(2049))
                && !plausible("a b")
                && plausible("0.abc-_")
        );
    }
}
