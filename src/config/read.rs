//! Reads a configuration table into its typed form with serde, each error naming its full key.
//!
//! serde's errors carry no key, and every configuration error names one (`PLUGINS[1].routes[2]
//! .path`). This deserializer walks the `serde_json::Value` the edge read and knows where it is,
//! so an error is given its key on the way out, and its messages read "what was expected, got
//! what" like the checks that run after reading. `serde_path_to_error` gives paths too, but
//! cannot tell an unknown key (named by its table) from a bad value (named by its key), and it
//! loses the path inside an internally tagged table just the same; this costs no dependency.
//!
//! A key set to `null` reads as left out: TOML has no null, and a JSON table (`--var PLUGIN:{…}`)
//! meant "unset" by it when every key was read as an `Option`.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ConfigError;

/// Reads `value`, the setting `key`, into `T`.
fn read_or_misread<'a, T: Deserialize<'a>>(key: &str, value: &'a Value) -> Result<T, Misread> {
    T::deserialize(Node { value, key }).map_err(|e| e.at(key))
}

/// Reads `value`, the setting `key`, into `T`, each error naming its full key.
pub(crate) fn read<'a, T: Deserialize<'a>>(key: &str, value: &'a Value) -> Result<T, ConfigError> {
    read_or_misread(key, value).map_err(ConfigError::from)
}

/// Reads `value`, the setting `key`, into `T`, whose `field` is an internally tagged table `U`
/// (its variant named by `tag`). serde reads such a table from a copy stripped of its keys, so an
/// error in one of its fields comes out naming only the table. Every field of a table read this
/// way has a default, so the one at fault is the one that fails when read beside the tag alone.
pub(crate) fn read_with_tagged<'a, T: Deserialize<'a>, U: DeserializeOwned>(
    key: &str,
    value: &'a Value,
    field: &str,
    tag: &str,
) -> Result<T, ConfigError> {
    read_or_misread(key, value).map_err(|error| {
        let table_key = format!("{key}.{field}");
        let located = match value.get(field) {
            Some(Value::Object(table)) if error.is_about_a_value_at(&table_key) => {
                field_at_fault::<U>(&table_key, table, tag)
            }
            _ => None,
        };
        located.unwrap_or_else(|| error.into())
    })
}

fn field_at_fault<U: DeserializeOwned>(
    table_key: &str,
    table: &Map<String, Value>,
    tag: &str,
) -> Option<ConfigError> {
    let tag_value = table.get(tag)?;
    table
        .iter()
        .filter(|(name, _)| *name != tag)
        .find_map(|(name, value)| {
            let alone: Map<String, Value> = [(tag, tag_value), (name.as_str(), value)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let error = read_or_misread::<U>(table_key, &Value::Object(alone)).err()?;
            error
                .is_about_a_value_at(table_key)
                .then(|| ConfigError::new(format!("{table_key}.{name}"), error.expected))
        })
}

/// A value serde could not read.
#[derive(Debug)]
struct Misread {
    /// The full key, set by the innermost value the error passed through on its way out.
    key: Option<String>,
    expected: String,
    fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The value at the key is not what it must be.
    Value,
    /// The table holds a key it does not know: the table is named, the key is in the message.
    UnknownKey,
    /// The table lacks a key it requires, named below the table.
    Missing(&'static str),
}

impl Misread {
    fn new(expected: String, fault: Fault) -> Misread {
        Misread {
            key: None,
            expected,
            fault,
        }
    }

    /// Names the key the error is about, unless a value nearer to it already has.
    fn at(mut self, key: &str) -> Misread {
        if self.key.is_none() {
            self.key = Some(match self.fault {
                Fault::Missing(field) => format!("{key}.{field}"),
                Fault::Value | Fault::UnknownKey => key.to_string(),
            });
        }
        self
    }

    fn is_about_a_value_at(&self, key: &str) -> bool {
        self.fault == Fault::Value && self.key.as_deref() == Some(key)
    }
}

impl From<Misread> for ConfigError {
    fn from(misread: Misread) -> ConfigError {
        ConfigError::new(misread.key.unwrap_or_default(), misread.expected)
    }
}

impl fmt::Display for Misread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key}: {}", self.expected),
            None => f.write_str(&self.expected),
        }
    }
}

impl std::error::Error for Misread {}

impl de::Error for Misread {
    fn custom<T: fmt::Display>(message: T) -> Misread {
        Misread::new(message.to_string(), Fault::Value)
    }

    fn invalid_type(got: de::Unexpected, expected: &dyn de::Expected) -> Misread {
        Misread::new(
            format!("{}, got {}", plain_expected(expected), plain_got(got)),
            Fault::Value,
        )
    }

    fn invalid_value(got: de::Unexpected, expected: &dyn de::Expected) -> Misread {
        Misread::invalid_type(got, expected)
    }

    fn invalid_length(len: usize, expected: &dyn de::Expected) -> Misread {
        Misread::new(
            format!("{}, got an array of {len}", plain_expected(expected)),
            Fault::Value,
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Misread {
        let names: Vec<String> = expected.iter().map(|n| format!("{n:?}")).collect();
        Misread::new(
            format!("{}, got {variant:?}", or_list(&names)),
            Fault::Value,
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Misread {
        Misread::new(
            format!("only the keys {}, got {field:?}", expected.join(", ")),
            Fault::UnknownKey,
        )
    }

    fn missing_field(field: &'static str) -> Misread {
        Misread::new("a value; the key is missing".into(), Fault::Missing(field))
    }
}

/// serde describes what it wanted in Rust's words (`u64`, `a sequence`); the configuration
/// reference speaks TOML's and JSON's.
fn plain_expected(expected: &dyn de::Expected) -> String {
    let expected = expected.to_string();
    match expected.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number ≥ 0".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        _ => expected,
    }
}

fn plain_got(got: de::Unexpected) -> String {
    match got {
        de::Unexpected::Unit => "null".into(),
        de::Unexpected::Seq => "an array".into(),
        de::Unexpected::Map => "a table".into(),
        other => other.to_string(),
    }
}

/// `"a", "b" or "c"`.
fn or_list(names: &[String]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// One value of the table being read, and its full key. Its errors are named by whoever made it
/// (the table or array holding it, or [`read_or_misread`]) after the read returns, so that an
/// error serde raises later, from a buffered copy of the value, is named too.
struct Node<'a, 'k> {
    value: &'a Value,
    key: &'k str,
}

impl<'de> Deserializer<'de> for Node<'de, '_> {
    type Error = Misread;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Misread> {
        let key = self.key;
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                (None, None, None) => Err(de::Error::custom(format!("a number, got {n}"))),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter().enumerate(),
                key,
            }),
            Value::Object(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                key,
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Misread> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Enums of the configuration are strings (`"bearer"`); anything else is refused by the
    /// enum's visitor with what it expected.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Misread> {
        match self.value {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Misread> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Entries<'a, 'k> {
    entries: serde_json::map::Iter<'a>,
    /// The table's key.
    key: &'k str,
    /// The entry whose key was just read.
    value: Option<(&'a str, &'a Value)>,
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Misread;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Misread> {
        let Some((name, value)) = self.entries.by_ref().find(|(_, v)| !v.is_null()) else {
            return Ok(None);
        };
        self.value = Some((name, value));
        seed.deserialize(BorrowedStrDeserializer::<Misread>::new(name))
            .map(Some)
            .map_err(|e| e.at(self.key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Misread> {
        let Some((name, value)) = self.value.take() else {
            return Err(de::Error::custom("a value after its key"));
        };
        let key = format!("{}.{name}", self.key);
        seed.deserialize(Node { value, key: &key })
            .map_err(|e| e.at(&key))
    }
}

struct Items<'a, 'k> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    /// The array's key.
    key: &'k str,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Misread;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Misread> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        let key = format!("{}[{index}]", self.key);
        seed.deserialize(Node { value, key: &key })
            .map(Some)
            .map_err(|e| e.at(&key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Table {
        name: Option<String>,
        #[serde(default)]
        list: Vec<u64>,
        inner: Option<Inner>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        limit: u64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        One,
        Two,
    }

    fn read(value: &serde_json::Value) -> Result<Table, ConfigError> {
        read_or_misread("T", value).map_err(ConfigError::from)
    }

    fn error(value: serde_json::Value) -> ConfigError {
        read(&value).expect_err("should be refused")
    }

    #[test]
    fn values_are_named_by_their_full_key() {
        let e = error(json!({"name": 1}));
        assert_eq!(
            (e.key.as_str(), e.expected.as_str()),
            ("T.name", "a string, got integer `1`")
        );
        assert_eq!(error(json!({"list": [1, "x"]})).key, "T.list[1]");
        assert_eq!(error(json!({"inner": {"limit": -1}})).key, "T.inner.limit");
        let e = error(json!({"kind": "three"}));
        assert_eq!(e.key, "T.kind");
        assert_eq!(e.expected, r#""one" or "two", got "three""#);
    }

    #[test]
    fn unknown_keys_name_their_table_and_missing_ones_themselves() {
        let e = error(json!({"inner": {"limit": 1, "limt": 2}}));
        assert_eq!(e.key, "T.inner");
        assert!(e.expected.contains("\"limt\""), "{e}");
        assert_eq!(error(json!({"inner": {}})).key, "T.inner.limit");
    }

    #[test]
    fn null_reads_as_left_out() {
        let table = read(&json!({"name": null, "list": null})).unwrap();
        assert_eq!(table.name, None);
        assert!(table.list.is_empty());
        assert_eq!(error(json!({"list": [null]})).key, "T.list[0]");
    }
}
