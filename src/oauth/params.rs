//! OAuth request parameters from a query string, a form body or a JSON body.
//!
//! RFC 6749 §3.1 and §3.2: parameters sent without a value are treated as omitted, and request
//! and response parameters must not be included more than once; a repeated parameter is refused,
//! never resolved by picking one. ChatGPT sends token requests as form or JSON depending on the
//! manifest's `authorization_content_type`, so both bodies parse to the same map.

use std::collections::BTreeMap;

use crate::proxy::rules::percent_decode;

/// Largest token, revocation or introspection body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Parameters by name, each seen exactly once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

/// Why parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    Duplicate(String),
    Malformed(&'static str),
    TooLarge,
}

impl ParamsError {
    pub fn description(&self) -> String {
        match self {
            ParamsError::Duplicate(name) => format!("the parameter {name} was sent more than once"),
            ParamsError::Malformed(why) => why.to_string(),
            ParamsError::TooLarge => format!("the request body exceeds {MAX_FORM_BYTES} bytes"),
        }
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_string(), value.to_string());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `application/x-www-form-urlencoded`, as in a query string or a form body.
    pub fn from_urlencoded(input: &str) -> Result<Params, ParamsError> {
        if input.len() > MAX_FORM_BYTES {
            return Err(ParamsError::TooLarge);
        }
        let mut map = BTreeMap::new();
        for pair in input.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name).ok_or(ParamsError::Malformed(
                "a parameter name is not valid percent-encoding",
            ))?;
            let value = form_decode(value).ok_or(ParamsError::Malformed(
                "a parameter value is not valid percent-encoding",
            ))?;
            if map.contains_key(&name) {
                return Err(ParamsError::Duplicate(name));
            }
            if !value.is_empty() {
                map.insert(name, value);
            } else {
                // Remember that it was sent, so a second copy is still a duplicate.
                map.insert(name, String::new());
            }
        }
        map.retain(|_, v| !v.is_empty());
        Ok(Params(map))
    }

    /// A flat JSON object of strings (numbers and booleans are taken as their text).
    pub fn from_json(input: &[u8]) -> Result<Params, ParamsError> {
        if input.len() > MAX_FORM_BYTES {
            return Err(ParamsError::TooLarge);
        }
        // serde_json keeps the last of duplicate keys; detect them first.
        let value: serde_json::Value = serde_json::from_slice(input)
            .map_err(|_| ParamsError::Malformed("the body is not valid JSON"))?;
        let object = value
            .as_object()
            .ok_or(ParamsError::Malformed("the JSON body must be an object"))?;
        let text = std::str::from_utf8(input)
            .map_err(|_| ParamsError::Malformed("the body is not UTF-8"))?;
        let mut map = BTreeMap::new();
        for (name, value) in object {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => return Err(ParamsError::Malformed("JSON parameters must be strings")),
            };
            if count_key(text, name) > 1 {
                return Err(ParamsError::Duplicate(name.clone()));
            }
            if !value.is_empty() {
                map.insert(name.clone(), value);
            }
        }
        Ok(Params(map))
    }
}

/// How often `"name":` occurs as a key in a JSON text (a conservative duplicate check: a string
/// value equal to a key followed by a colon cannot occur in valid JSON outside a key position).
fn count_key(text: &str, name: &str) -> usize {
    let needle = serde_json::to_string(name).unwrap_or_default();
    let mut count = 0;
    let mut rest = text;
    while let Some(i) = rest.find(&needle) {
        let after = rest[i + needle.len()..].trim_start();
        if after.starts_with(':') {
            count += 1;
        }
        rest = &rest[i + needle.len()..];
    }
    count
}

/// Form decoding: `+` is a space, then percent-decoding.
pub fn form_decode(input: &str) -> Option<String> {
    if input.contains('+') {
        percent_decode(&input.replace('+', " "))
    } else {
        percent_decode(input)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn form_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_decode_plus_and_percent() {
        let p = Params::from_urlencoded("a=1+2&b=%2Fx%3D&c=").unwrap();
        assert_eq!(p.get("a"), Some("1 2"));
        assert_eq!(p.get("b"), Some("/x="));
        assert_eq!(p.get("c"), None, "an empty value counts as omitted");
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            Params::from_urlencoded("code=a&code=b"),
            Err(ParamsError::Duplicate("code".into()))
        );
        assert_eq!(
            Params::from_urlencoded("state=&state=x"),
            Err(ParamsError::Duplicate("state".into()))
        );
    }

    #[test]
    fn bad_percent_encoding_is_refused() {
        assert!(matches!(
            Params::from_urlencoded("a=%zz"),
            Err(ParamsError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let big = "a=".to_string() + &"x".repeat(MAX_FORM_BYTES);
        assert_eq!(Params::from_urlencoded(&big), Err(ParamsError::TooLarge));
    }

    #[test]
    fn json_bodies_parse_like_forms() {
        let p = Params::from_json(br#"{"grant_type":"authorization_code","code":"abc","n":5}"#)
            .unwrap();
        assert_eq!(p.get("grant_type"), Some("authorization_code"));
        assert_eq!(p.get("n"), Some("5"));
    }

    #[test]
    fn duplicate_json_keys_are_refused() {
        assert_eq!(
            Params::from_json(br#"{"code":"a", "code" : "b"}"#),
            Err(ParamsError::Duplicate("code".into()))
        );
        assert!(Params::from_json(br#"{"code":"code:"}"#).is_ok());
    }

    #[test]
    fn json_that_is_not_a_flat_object_is_refused() {
        for body in [&b"[1]"[..], b"{\"a\":{}}", b"nope"] {
            assert!(matches!(
                Params::from_json(body),
                Err(ParamsError::Malformed(_))
            ));
        }
    }

    #[test]
    fn encoding_round_trips() {
        let text = "a b/c?d=e&f";
        assert_eq!(form_decode(&form_encode(text)).unwrap(), text);
    }
}
