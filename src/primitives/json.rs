//! JSON from outside, read so that no key counts twice: serde_json's own maps keep the last of
//! repeated keys, so `{"alg":"none","alg":"ES256"}` or `{"grant_type":…,"grant\u005ftype":…}`
//! would mean one thing to the gateway and another to a parser that keeps the first. Keys are
//! compared as decoded, at every depth.

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not one well-formed JSON value (or nested past serde_json's depth limit).
    Syntax,
    /// An object names this key (decoded) more than once.
    Duplicate(String),
}

/// Parses one JSON value, refusing any object that repeats a key.
pub fn parse_unique(input: &[u8]) -> Result<Value, JsonError> {
    let mut reader = serde_json::Deserializer::from_slice(input);
    let parsed = Unique::deserialize(&mut reader).and_then(|Unique(v)| reader.end().map(|()| v));
    parsed.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE) {
            Some(rest) => Duplicate::read(rest),
            None => JsonError::Syntax,
        }
    })
}

const DUPLICATE: &str = "duplicate key: ";

struct Duplicate;

impl Duplicate {
    /// The key from serde_json's message (`duplicate key: "k" at line 1 column 9`).
    fn read(rest: &str) -> JsonError {
        let quoted = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
        serde_json::from_str::<String>(quoted).map_or(JsonError::Syntax, JsonError::Duplicate)
    }
}

struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Unique, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Unique(value) = access.next_value()?;
            if map.contains_key(&key) {
                let quoted = serde_json::to_string(&key).unwrap_or_default();
                return Err(A::Error::custom(format!("{DUPLICATE}{quoted}")));
            }
            map.insert(key, value);
        }
        Ok(Unique(Value::Object(map)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Unique, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = access.next_element()? {
            items.push(item);
        }
        Ok(Unique(Value::Array(items)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Unique, E> {
        Ok(Unique(Value::String(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Unique, E> {
        Ok(Unique(Value::String(s)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Unique, E> {
        Ok(Unique(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Unique, E> {
        Ok(Unique(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Unique, E> {
        Ok(Unique(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Unique, E> {
        Ok(Unique(
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_as_decoded() {
        for (text, key) in [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"alg":"none","\u0061lg":"ES256"}"#, "alg"),
            (r#"{"x":{"k":1,"k":1}}"#, "k"),
            (r#"[{"k":[{"q\"":1,"q\u0022":2}]}]"#, "q\""),
        ] {
            assert_eq!(
                parse_unique(text.as_bytes()),
                Err(JsonError::Duplicate(key.into())),
                "{text}"
            );
        }
    }

    #[test]
    fn other_json_parses_as_serde_json_parses_it() {
        for text in [
            r#"{"a":1,"b":[1,2,{"a":3}],"c":{"a":null}}"#,
            "[]",
            "\"x\"",
            "1.5",
            "-3",
            "true",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_unique(text.as_bytes()), Ok(expected), "{text}");
        }
        for text in ["", "{", "{\"a\":1}x", "{\"a\":1,}", "[1,]", "\"\\ud800\""] {
            assert_eq!(
                parse_unique(text.as_bytes()),
                Err(JsonError::Syntax),
                "{text}"
            );
        }
    }
}
