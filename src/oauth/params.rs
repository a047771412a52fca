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

    /// A flat JSON object of strings (numbers and booleans are taken as their text). Keys are
    /// compared as decoded, so `"grant\u005ftype"` repeats `"grant_type"`.
    pub fn from_json(input: &[u8]) -> Result<Params, ParamsError> {
        use crate::primitives::json::{parse_unique, JsonError};
        if input.len() > MAX_FORM_BYTES {
            return Err(ParamsError::TooLarge);
        }
        let value = parse_unique(input).map_err(|e| match e {
            JsonError::Duplicate(name) => ParamsError::Duplicate(name),
            JsonError::Syntax => ParamsError::Malformed("the body is not valid JSON"),
        })?;
        let serde_json::Value::Object(object) = value else {
            return Err(ParamsError::Malformed("the JSON body must be an object"));
        };
        let mut map = BTreeMap::new();
        for (name, value) in object {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => return Err(ParamsError::Malformed("JSON parameters must be strings")),
            };
            if !value.is_empty() {
                map.insert(name, value);
            }
        }
        Ok(Params(map))
    }
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
        // Issue 29, finding 9: the escaped copy was a second key to the text search and won.
        assert_eq!(
            Params::from_json(br#"{"grant_type":"a","grant\u005ftype":"b"}"#),
            Err(ParamsError::Duplicate("grant_type".into()))
        );
        assert_eq!(
            Params::from_json(br#"{"client_id":"a","\u0063lient_id":"b"}"#),
            Err(ParamsError::Duplicate("client_id".into()))
        );
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

    /// An object's members as a reference parser reads them, in order.
    type Members = Vec<(String, Option<String>)>;

    /// What a second JSON parser (jiter, pydantic's) reads: the top-level object's members in
    /// order, every copy of a repeated key kept, each value as text (`None`: not a string,
    /// number, boolean or null); `Err` where it refuses the document.
    fn reference_json(body: &[u8]) -> Result<Option<Members>, ()> {
        use jiter::{Jiter, Peek};
        let mut j = Jiter::new(body);
        if j.peek().map_err(|_| ())? != Peek::Object {
            j.next_skip().map_err(|_| ())?;
            j.finish().map_err(|_| ())?;
            return Ok(None);
        }
        let mut pairs = Vec::new();
        let mut key = j.next_object().map_err(|_| ())?.map(String::from);
        while let Some(name) = key {
            let value = match j.peek().map_err(|_| ())? {
                Peek::String => Some(j.known_str().map_err(|_| ())?.to_string()),
                Peek::Null => j
                    .known_null()
                    .map(|()| Some(String::new()))
                    .map_err(|_| ())?,
                p @ (Peek::True | Peek::False) => {
                    Some(j.known_bool(p).map_err(|_| ())?.to_string())
                }
                p if p.is_num() => {
                    j.known_skip(p).map_err(|_| ())?;
                    Some("<number>".into())
                }
                p => {
                    j.known_skip(p).map_err(|_| ())?;
                    None
                }
            };
            pairs.push((name, value));
            key = j.next_key().map_err(|_| ())?.map(String::from);
        }
        j.finish().map_err(|_| ())?;
        Ok(Some(pairs))
    }

    /// A key as a client might write it: each character perhaps as a `\u` escape (in either
    /// hex case), or a surrogate pair where it needs one.
    fn escaped(cases: &mut crate::primitives::cases::Cases, text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            if cases.one_in(3) {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if cases.one_in(2) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            } else if c == '"' || c == '\\' {
                out.push('\\');
                out.push(c);
            } else {
                out.push(c);
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn json_bodies_read_as_a_second_parser_reads_them_duplicates_by_decoded_key() {
        let names = ["grant_type", "client_id", "code", "ré", "a\u{1F600}"];
        let values = [
            "\"x\"",
            "\"\"",
            "null",
            "true",
            "12",
            "-1.5e3",
            "{}",
            "[1]",
            "\"\\u00e9\"",
            "\"\\ud800\"",
            "\"\\ud83d\\ude00\"",
            "\"a\\\"b\"",
        ];
        let mut cases = crate::primitives::cases::Cases::new(29);
        let mut seen = [0usize; 3];
        for round in 0..4000 {
            let count = cases.below(5);
            let mut body = String::from("{");
            for i in 0..count {
                if i > 0 {
                    body.push_str(cases.pick(&[",", " ,", ",\n\t"]));
                }
                let name = cases.pick(&names);
                body.push_str(&escaped(&mut cases, name));
                body.push_str(cases.pick(&[":", " : ", ":\r\n"]));
                body.push_str(cases.pick(&values));
            }
            body.push_str(cases.pick(&["}", "}", "}", " } ", "},", "", "}}"]));
            if cases.one_in(40) {
                body = cases
                    .pick(&["[]", "\"s\"", "7", "null", "[{\"a\":1}]"])
                    .to_string();
            }
            let ours = Params::from_json(body.as_bytes());
            match (reference_json(body.as_bytes()), &ours) {
                // Refused either way (a repeat may be met before the syntax error).
                (Err(()), Err(ParamsError::Malformed(_) | ParamsError::Duplicate(_))) => {
                    seen[0] += 1
                }
                (Ok(None), Err(ParamsError::Malformed(_))) => seen[0] += 1,
                (Ok(Some(pairs)), _) => {
                    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
                    names.sort_unstable();
                    let repeated = names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
                    let nested = pairs.iter().any(|(_, v)| v.is_none());
                    match (&ours, repeated) {
                        (Err(ParamsError::Duplicate(n)), Some(_)) => {
                            assert!(pairs.iter().filter(|(m, _)| m == n).count() > 1, "{body}");
                            seen[1] += 1;
                        }
                        (Err(ParamsError::Malformed(_)), None) if nested => seen[0] += 1,
                        // A nested value may be met before the repeat: refused either way.
                        (Err(ParamsError::Malformed(_)), Some(_)) if nested => seen[0] += 1,
                        (Ok(params), None) if !nested => {
                            for (name, value) in &pairs {
                                let value = value.as_deref().unwrap_or_default();
                                match params.get(name) {
                                    None => assert!(value.is_empty(), "round {round}: {body}"),
                                    Some(got) if value == "<number>" => {
                                        assert!(got.parse::<f64>().is_ok(), "{body}")
                                    }
                                    Some(got) => assert_eq!(got, value, "round {round}: {body}"),
                                }
                            }
                            seen[2] += 1;
                        }
                        _ => {
                            panic!("round {round}: {body}: ours {ours:?}, the reference {pairs:?}")
                        }
                    }
                }
                (reference, _) => {
                    panic!("round {round}: {body}: ours {ours:?}, the reference {reference:?}")
                }
            }
        }
        // Every outcome was met often: refusals, duplicates and accepted bodies.
        assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
    }

    #[test]
    fn form_bodies_read_as_the_whatwg_parser_reads_them_duplicates_by_decoded_name() {
        let names = ["grant_type", "client_id", "code", "a b", "ré"];
        let mut cases = crate::primitives::cases::Cases::new(9);
        let mut seen = [0usize; 2];
        for round in 0..4000 {
            let mut body = String::new();
            for i in 0..cases.below(5) {
                if i > 0 {
                    body.push_str(cases.pick(&["&", "&", "&&"]));
                }
                let name = cases.pick(&names);
                body.push_str(&spelled(&mut cases, name));
                if !cases.one_in(8) {
                    body.push('=');
                    let value = cases.pick(&["", "x", "a b", "é=&"]);
                    body.push_str(&spelled(&mut cases, value));
                }
            }
            let reference: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            let mut sorted: Vec<&str> = reference.iter().map(|(n, _)| n.as_str()).collect();
            sorted.sort_unstable();
            let repeated = sorted.windows(2).any(|w| w[0] == w[1]);
            match Params::from_urlencoded(&body) {
                Err(ParamsError::Duplicate(n)) => {
                    assert!(repeated, "round {round}: {body}");
                    assert!(reference.iter().filter(|(m, _)| *m == n).count() > 1);
                    seen[0] += 1;
                }
                Ok(params) => {
                    assert!(!repeated, "round {round}: {body}: {reference:?}");
                    for (name, value) in &reference {
                        let got = params.get(name).unwrap_or_default();
                        assert_eq!(got, value, "round {round}: {body}");
                    }
                    assert_eq!(
                        params.iter().count(),
                        reference.iter().filter(|(_, v)| !v.is_empty()).count()
                    );
                    seen[1] += 1;
                }
                other => panic!("round {round}: {body}: {other:?}"),
            }
        }
        assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
    }

    /// Text as a form writes it: each byte perhaps percent-encoded (either hex case), a space
    /// as `+` or `%20`, and the form's own `&`, `=`, `+` and `%` always encoded.
    fn spelled(cases: &mut crate::primitives::cases::Cases, text: &str) -> String {
        let mut out = String::new();
        for b in text.bytes() {
            match b {
                b' ' if cases.one_in(2) => out.push('+'),
                b'&' | b'=' | b'+' | b'%' | b' ' => out.push_str(&format!("%{b:02X}")),
                _ if !b.is_ascii() || cases.one_in(3) => {
                    if cases.one_in(2) {
                        out.push_str(&format!("%{b:02x}"))
                    } else {
                        out.push_str(&format!("%{b:02X}"))
                    }
                }
                _ => out.push(b as char),
            }
        }
        out
    }
}
