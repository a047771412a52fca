//! Field validation for the admin API: every problem names its field, all are reported at once.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::jose::keys::SigningAlg;
use crate::oauth::authorize::is_absolute_uri_without_fragment;
use crate::portal::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::primitives::syntax::{is_scope_char, looks_like_email};

/// Passwords so common that length alone does not make them acceptable.
const COMMON_PASSWORDS: [&str; 12] = [
    "password",
    "password1",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyui",
    "qwerty123",
    "iloveyou",
    "letmein1",
    "11111111",
    "00000000",
    "abcdefgh",
];

/// Collects field errors; `finish` turns them into one 400.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<(String, String)>,
}

impl Fields {
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push((field.to_string(), message.into()));
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }

    /// A required or optional string field of at most `max` characters.
    pub fn text(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        required: bool,
        max: usize,
    ) -> Option<String> {
        match body.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.error(field, "is required");
                }
                None
            }
            Some(Value::String(s)) => {
                let trimmed = s.trim();
                if required && trimmed.is_empty() {
                    self.error(field, "must not be empty");
                    None
                } else if trimmed.chars().count() > max {
                    self.error(field, format!("must be at most {max} characters"));
                    None
                } else if trimmed.chars().any(char::is_control) {
                    self.error(field, "must not contain control characters");
                    None
                } else {
                    Some(trimmed.to_string())
                }
            }
            Some(_) => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, body: &Map<String, Value>, field: &str) -> Option<bool> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(field, "must be true or false");
                None
            }
        }
    }

    pub fn integer(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    self.error(field, format!("must be a whole number from {min} to {max}"));
                    None
                }
            },
            Some(_) => {
                self.error(field, "must be a number");
                None
            }
        }
    }

    /// A token signing algorithm (`EdDSA` or `RS256`); RS256 only when an RSA key is configured.
    pub fn signing_alg(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        rsa_configured: bool,
    ) -> Option<SigningAlg> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => match SigningAlg::parse(name) {
                Some(SigningAlg::Rs256) if !rsa_configured => {
                    self.error(
                        field,
                        "RS256 needs the RSA_SIGNING_KEY secret, which is not set",
                    );
                    None
                }
                Some(alg) => Some(alg),
                None => {
                    self.error(field, "must be EdDSA or RS256");
                    None
                }
            },
            Some(_) => {
                self.error(field, "must be EdDSA or RS256");
                None
            }
        }
    }

    /// An array of strings, at most `max_items`, each at most `max_len` characters.
    pub fn strings(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        max_items: usize,
        max_len: usize,
    ) -> Option<Vec<String>> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                if items.len() > max_items {
                    self.error(field, format!("must have at most {max_items} entries"));
                    return None;
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(s) if !s.is_empty() && s.len() <= max_len => {
                            if !out.iter().any(|o: &String| o == s) {
                                out.push(s.to_string());
                            }
                        }
                        _ => {
                            self.error(
                                field,
                                format!("entries must be strings of 1 to {max_len} characters"),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.error(field, "must be an array");
                None
            }
        }
    }

    pub fn email(&mut self, field: &str, value: Option<&str>) {
        if value.is_some_and(|email| !looks_like_email(email)) {
            self.error(field, "must be an email address");
        }
    }

    pub fn password(&mut self, field: &str, password: Option<&str>, email: Option<&str>) {
        let Some(p) = password else { return };
        if p.chars().count() < MIN_PASSWORD_CHARS {
            self.error(
                field,
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            );
        } else if p.len() > MAX_PASSWORD_BYTES {
            self.error(field, format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
        } else if COMMON_PASSWORDS.contains(&p.to_lowercase().as_str())
            || p.chars().all(|c| p.starts_with(c))
            || email.is_some_and(|e| e.eq_ignore_ascii_case(p))
        {
            self.error(field, "is too easy to guess");
        }
    }

    /// RFC 8707: an absolute URI without a fragment.
    pub fn indicator(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value {
            if !is_absolute_uri_without_fragment(v) {
                self.error(field, "must be an absolute URI without a fragment");
            }
        }
    }

    /// One OAuth scope token (RFC 6749 §3.3), no spaces.
    pub fn scope_token(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value {
            if v.is_empty() || v.contains(' ') || !v.chars().all(is_scope_char) {
                self.error(
                    field,
                    "must be a scope token: printable ASCII without spaces, quotes or backslashes",
                );
            }
        }
    }

    /// A `private_key_jwt` client's keys: `jwks_uri` or an inline `jwks` (not both), by the
    /// same rules as self-registered clients.
    pub fn client_keys(
        &mut self,
        body: &Map<String, Value>,
    ) -> Option<crate::oauth::client::ClientKeySet> {
        match crate::oauth::registration::client_keys(body) {
            Ok((keys, _)) => keys,
            Err(e) => {
                let field = if body.contains_key("jwks") {
                    "jwks"
                } else {
                    "jwks_uri"
                };
                self.error(field, e.description);
                None
            }
        }
    }

    /// Redirect URIs: absolute https, or http on a loopback host (RFC 8252); no fragments.
    pub fn redirect_uris(&mut self, field: &str, uris: Option<&[String]>) {
        let Some(uris) = uris else { return };
        // The same rule as self-registered clients (RFC 8252 loopback, no fragments or wildcards).
        if let Some(why) = uris
            .iter()
            .find_map(|uri| crate::oauth::redirect_uri::check_redirect_uri(uri).err())
        {
            self.error(field, why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_field_error_is_reported_at_once() {
        let body = obj(json!({"email": 5, "name": "x".repeat(300)}));
        let mut f = Fields::default();
        f.text(&body, "email", true, 320);
        f.text(&body, "name", false, 200);
        f.text(&body, "missing", true, 10);
        match f.finish() {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
                assert_eq!(fields, vec!["email", "name", "missing"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["short", "password", "aaaaaaaaaa", "demo@example.com"] {
            let mut f = Fields::default();
            f.password("password", Some(weak), Some("demo@example.com"));
            assert!(
                matches!(f.finish(), Err(ApiError::Validation(ref fields)) if matches!(fields.as_slice(), [(field, why)] if field == "password" && ["is too easy to guess", "must be at least 8 characters"].contains(&why.as_str()))),
                "{weak}"
            );
        }
        let mut f = Fields::default();
        f.password("password", Some("correct horse battery"), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn indicators_must_be_absolute_uris() {
        for bad in ["api", "/api", "https://x.example.com/#f"] {
            let mut f = Fields::default();
            f.indicator("indicator", Some(bad));
            assert!(
                matches!(f.finish(), Err(ApiError::Validation(ref fields)) if matches!(fields.as_slice(), [(field, why)] if field == "indicator" && why == "must be an absolute URI without a fragment")),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        let ok = vec![
            "https://chatgpt.com/aip/x/oauth/callback".to_string(),
            "http://127.0.0.1/cb".into(),
        ];
        let mut f = Fields::default();
        f.redirect_uris("redirect_uris", Some(&ok));
        assert!(f.finish().is_ok());
        for bad in [
            "http://example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://x.example.com/cb#f",
            "https://*.example.com/cb",
        ] {
            let mut f = Fields::default();
            f.redirect_uris("redirect_uris", Some(&[bad.to_string()]));
            assert!(
                matches!(f.finish(), Err(ApiError::Validation(ref fields)) if matches!(fields.as_slice(), [(field, why)] if field == "redirect_uris" && why.ends_with("must be https (or http on a loopback address), without fragment, credentials or wildcard"))),
                "{bad}"
            );
        }
    }
}
