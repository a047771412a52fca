//! `_method`: the parameter with which Laravel, Symfony, Rails (`Rack::MethodOverride`) and
//! Express's `method-override` run a POST as another method. The gateway decided the POST's rule;
//! the origin would run, say, a DELETE under it. So a POST whose query or parsed body names
//! another method is refused (issue 29, finding 5).
//!
//! Names are read as the most lenient of those parsers reads them: decoded, in any case, with
//! PHP's renaming of a leading space and of `.` and ` ` to `_` (`.method` is `$_POST['_method']`),
//! and with an array suffix (`_method[]`) dropped. A value that is not `POST` (or not a string)
//! counts as asking for another method.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::ApiError;
use crate::http::{Method, RequestHead};

/// The most of a POST body the gateway holds to look for `_method` in it when its rule sets no
/// `max_body_bytes`: form and JSON bodies past this are refused (413) unless the plugin says its
/// origin never honors `_method` (`origin_honors_method_override = false`).
pub const MAX_CHECKED_BODY_BYTES: usize = 1 << 20;

/// The most a rule's own `max_body_bytes` may make the gateway hold (a Worker has 128 MiB).
pub const MAX_HELD_BODY_BYTES: usize = 16 << 20;

/// How many bytes of a POST body to hold and check, under a rule whose cap is `rule_cap`.
pub fn held_bytes(rule_cap: Option<u64>) -> usize {
    rule_cap
        .map(|cap| usize::try_from(cap).unwrap_or(usize::MAX))
        .unwrap_or(MAX_CHECKED_BODY_BYTES)
        .min(MAX_HELD_BODY_BYTES)
}

/// Whether a request's body must be read before it is forwarded, and up to how many bytes: a POST
/// with a body of a kind frameworks read `_method` from, to an origin that may honor it.
/// `rule_cap` is the rule's `max_body_bytes`.
pub fn body_to_check(
    head: &RequestHead,
    has_body: bool,
    origin_honors: bool,
    rule_cap: Option<u64>,
) -> Result<Option<(BodyKind, usize)>, ApiError> {
    if head.method() != Method::Post || !has_body || !origin_honors {
        return Ok(None);
    }
    let content_type = head
        .single_header("content-type")
        .map_err(|_| ApiError::BadRequest("send one Content-Type header".into()))?;
    Ok(match body_kind(content_type) {
        BodyKind::Opaque => None,
        kind => Some((kind, held_bytes(rule_cap))),
    })
}

/// The refusal of a body that asks for another method through `_method`.
pub fn check_body(kind: &BodyKind, body: &[u8]) -> Result<(), ApiError> {
    match in_body(kind, body) {
        Some(_) => Err(ApiError::BadRequest(
            "_method in the body would make the origin run another method than the POST the \
             gateway checked; send that method itself"
                .into(),
        )),
        None => Ok(()),
    }
}

/// Whether a parameter name is `_method` to some framework.
fn is_method_name(name: &str) -> bool {
    // PHP drops leading spaces and turns ` `, `.` and an unclosed `[` into `_`; a `[…]` suffix
    // makes an array of the name before it.
    let name = name.trim_start_matches(' ');
    let mut chars = name.chars();
    let head_matches = "_method".chars().all(|m| {
        chars.next().is_some_and(|c| {
            c.eq_ignore_ascii_case(&m) || (m == '_' && matches!(c, ' ' | '.' | '['))
        })
    });
    let rest = chars.as_str();
    head_matches && (rest.is_empty() || rest.starts_with('['))
}

/// The method `value` asks for, upper-cased, when it is not POST.
fn other_than_post(value: &str) -> Option<String> {
    let method = value.trim().to_ascii_uppercase();
    (method != "POST").then_some(method)
}

/// The method a `_method` pair in `query` (or a form body, which has the same syntax) asks a POST
/// to become, when it names one other than POST.
pub fn in_query(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !is_method_name(&decode_leniently(name)) {
            return None;
        }
        other_than_post(&decode_leniently(value))
    })
}

/// A form component decoded as PHP's `urldecode` and the WHATWG parser decode it: `+` is a
/// space, a malformed escape stays as written, bytes that are not UTF-8 become U+FFFD.
fn decode_leniently(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How frameworks parse a POST body of a content type into parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`, or no content type at all (Rack parses those as
    /// forms).
    Form,
    /// `multipart/form-data` (or another `multipart/` type, which Rack reads alike) with its
    /// boundary.
    Multipart(String),
    /// A JSON media type (`/json` or `+json`, as Laravel's `isJson`).
    Json,
    /// A body no framework reads parameters from.
    Opaque,
}

/// The kind of a body with this `Content-Type`.
pub fn body_kind(content_type: Option<&str>) -> BodyKind {
    let Some(content_type) = content_type else {
        return BodyKind::Form;
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "" | "application/x-www-form-urlencoded" => BodyKind::Form,
        // Rack parses `multipart/mixed` and `multipart/related` as forms too.
        m if m.starts_with("multipart/") => {
            let boundary = parts.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("boundary")
                    .then(|| v.trim().trim_matches('"').to_string())
            });
            match boundary {
                Some(b) if !b.is_empty() => BodyKind::Multipart(b),
                // Without a boundary no parser finds a part.
                _ => BodyKind::Opaque,
            }
        }
        m if m.contains("/json") || m.contains("+json") => BodyKind::Json,
        _ => BodyKind::Opaque,
    }
}

/// The method a POST body of `kind` asks to become through `_method`, when not POST.
pub fn in_body(kind: &BodyKind, body: &[u8]) -> Option<String> {
    match kind {
        BodyKind::Form => in_query(Some(&String::from_utf8_lossy(body))),
        BodyKind::Multipart(boundary) => in_multipart(boundary, body),
        BodyKind::Json => in_json(body),
        BodyKind::Opaque => None,
    }
}

/// `_method` among a multipart body's parts: each part's `Content-Disposition` name, its value
/// the part's content. Bare `\n` line ends are taken as PHP takes them.
fn in_multipart(boundary: &str, body: &[u8]) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = split_on(body, delimiter).skip(1);
    parts.find_map(|part| {
        if part.starts_with(b"--") {
            return None;
        }
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        let (headers, content) = split_once(part, b"\r\n\r\n")
            .or_else(|| split_once(part, b"\n\n"))
            .unwrap_or((part, b""));
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let headers = String::from_utf8_lossy(headers);
        let named = headers.lines().any(|line| {
            let Some((name, value)) = line.split_once(':') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("content-disposition")
                && value.split(';').skip(1).any(|param| {
                    param.split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("name")
                            && is_method_name(v.trim().trim_matches('"'))
                    })
                })
        });
        if !named {
            return None;
        }
        other_than_post(&String::from_utf8_lossy(content))
    })
}

fn split_once<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = haystack.windows(needle.len()).position(|w| w == needle)?;
    Some((&haystack[..at], &haystack[at + needle.len()..]))
}

fn split_on<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(haystack);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_once(current, needle) {
            Some((before, after)) => {
                rest = Some(after);
                Some(before)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `_method` among a JSON object's top-level members, every occurrence (a parser that keeps the
/// last of two is caught as one that keeps the first).
fn in_json(body: &[u8]) -> Option<String> {
    struct Members(Option<String>);
    impl<'de> Visitor<'de> for &mut Members {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if is_method_name(&key) {
                    let value: serde_json::Value = map.next_value()?;
                    let asked = match &value {
                        serde_json::Value::String(s) => other_than_post(s),
                        other => Some(other.to_string()),
                    };
                    if self.0.is_none() {
                        self.0 = asked;
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    let mut members = Members(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    // Not an object, or not JSON: no framework reads parameters from it either (a parse error
    // past a `_method` still counts what was read).
    let _ = (&mut reader).deserialize_map(&mut members);
    members.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::cases::Cases;

    #[test]
    fn every_spelling_of_the_name_frameworks_read_is_caught() {
        for query in [
            "_method=DELETE",
            "a=1&_method=delete",
            "%5Fmethod=PUT",
            "_METHOD=patch",
            "_method[]=DELETE",
            "_method[x]=DELETE",
            ".method=DELETE",
            "[method=DELETE",
            "%20_method=DELETE",
            "_method=POST&_method=DELETE",
            "_method=DELETE%ZZ",
            "_method[]%=DELETE",
        ] {
            assert!(in_query(Some(query)).is_some(), "{query}");
        }
        for query in [
            "_method=POST",
            "_method=%20post%20",
            "method=DELETE",
            "x=_method%3DDELETE",
            "_methods=DELETE",
            "a_method=DELETE",
            "+method=DELETE",
            "",
        ] {
            assert_eq!(in_query(Some(query)), None, "{query}");
        }
        assert_eq!(in_query(None), None);
    }

    #[test]
    fn content_types_are_read_as_frameworks_read_them() {
        assert_eq!(body_kind(None), BodyKind::Form);
        assert_eq!(
            body_kind(Some("Application/X-WWW-Form-Urlencoded; charset=utf-8")),
            BodyKind::Form
        );
        assert_eq!(
            body_kind(Some("multipart/form-data; boundary=\"ab c\"")),
            BodyKind::Multipart("ab c".into())
        );
        assert_eq!(body_kind(Some("multipart/form-data")), BodyKind::Opaque);
        assert_eq!(
            body_kind(Some("multipart/mixed; boundary=b")),
            BodyKind::Multipart("b".into())
        );
        assert_eq!(body_kind(Some("application/json")), BodyKind::Json);
        assert_eq!(
            body_kind(Some("application/merge-patch+json")),
            BodyKind::Json
        );
        assert_eq!(body_kind(Some("text/plain")), BodyKind::Opaque);
        assert_eq!(
            body_kind(Some("application/octet-stream")),
            BodyKind::Opaque
        );
    }

    #[test]
    fn form_and_json_bodies_are_read_for_the_name() {
        assert_eq!(
            in_body(&BodyKind::Form, b"title=x&_method=DELETE"),
            Some("DELETE".into())
        );
        assert_eq!(in_body(&BodyKind::Form, b"title=_method"), None);
        for json in [
            &br#"{"_method":"DELETE"}"#[..],
            br#"{"title":"x","_method":"put"}"#,
            br#"{"_method":"POST","_method":"DELETE"}"#,
            br#"{"\u005fmethod":"DELETE"}"#,
            br#"{"_method":["DELETE"]}"#,
            br#"{"_method":"DELETE", broken"#,
        ] {
            assert!(
                in_body(&BodyKind::Json, json).is_some(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        for json in [
            &br#"{"_method":"POST"}"#[..],
            br#"{"nested":{"_method":"DELETE"}}"#,
            br#"["_method","DELETE"]"#,
            br#"{"title":"_method"}"#,
            b"not json",
        ] {
            assert_eq!(
                in_body(&BodyKind::Json, json),
                None,
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        assert_eq!(in_body(&BodyKind::Opaque, b"_method=DELETE"), None);
    }

    fn multipart(boundary: &str, parts: &[(&str, &str)], eol: &str) -> Vec<u8> {
        let mut body = String::new();
        for (disposition, content) in parts {
            body.push_str(&format!(
                "--{boundary}{eol}Content-Disposition: {disposition}{eol}{eol}{content}{eol}"
            ));
        }
        body.push_str(&format!("--{boundary}--{eol}"));
        body.into_bytes()
    }

    #[test]
    fn a_multipart_part_named_method_is_caught_wherever_it_is() {
        let kind = BodyKind::Multipart("XyZ".into());
        for eol in ["\r\n", "\n"] {
            for name in [
                "name=\"_method\"",
                "name=_method",
                "NAME=\"_METHOD\"",
                "name=\".method\"",
            ] {
                let body = multipart(
                    "XyZ",
                    &[
                        ("form-data; name=\"title\"", "x"),
                        (&format!("form-data; {name}"), "DELETE"),
                    ],
                    eol,
                );
                assert_eq!(in_body(&kind, &body), Some("DELETE".into()), "{name}");
            }
            let harmless = multipart(
                "XyZ",
                &[
                    ("form-data; name=\"_method\"", "POST"),
                    ("form-data; name=\"note\"", "_method DELETE"),
                    ("form-data; name=\"file\"; filename=\"_method\"", "DELETE"),
                ],
                eol,
            );
            assert_eq!(in_body(&kind, &harmless), None);
        }
    }

    /// The form parser PHP, Rack and Express stand in for here: every pair `form_urlencoded`
    /// (the WHATWG parser) finds whose name is `_method` and value not POST is found here, on
    /// generated bodies, and nothing else is.
    #[test]
    fn form_bodies_agree_with_the_whatwg_parser() {
        let mut cases = Cases::new(0x5eed_0029_0005);
        let pieces = [
            "_method",
            "%5Fmethod",
            "%5fMETHOD",
            "_meth",
            "od",
            "=",
            "&",
            "DELETE",
            "POST",
            "post",
            "+",
            "%20",
            "[]",
            "%",
            "%ZZ",
            "%+5",
            "x",
            ".",
            "%2E",
            "%C3",
            "%A9",
        ];
        for _ in 0..20_000 {
            let body: String = (0..cases.below(8)).map(|_| cases.pick(&pieces)).collect();
            let expected = form_urlencoded::parse(body.as_bytes()).any(|(name, value)| {
                is_method_name(&name) && !value.trim().eq_ignore_ascii_case("POST")
            });
            let found = in_body(&BodyKind::Form, body.as_bytes()).is_some();
            assert_eq!(found, expected, "{body:?}");
        }
    }

    #[test]
    fn only_posts_with_bodies_frameworks_parse_are_read_and_only_where_the_origin_may_honor_it() {
        let post = |content_type: Option<&str>| {
            let head = RequestHead::new(Method::Post, "/todos");
            match content_type {
                Some(t) => head.with_header("content-type", t),
                None => head,
            }
        };
        let json = post(Some("application/json"));
        assert_eq!(
            body_to_check(&json, true, true, Some(4096)),
            Ok(Some((BodyKind::Json, 4096)))
        );
        assert_eq!(
            body_to_check(&post(None), true, true, None),
            Ok(Some((BodyKind::Form, MAX_CHECKED_BODY_BYTES)))
        );
        assert_eq!(body_to_check(&json, false, true, None), Ok(None));
        assert_eq!(body_to_check(&json, true, false, None), Ok(None));
        assert_eq!(
            body_to_check(&post(Some("image/png")), true, true, None),
            Ok(None)
        );
        let put =
            RequestHead::new(Method::Put, "/todos").with_header("content-type", "application/json");
        assert_eq!(body_to_check(&put, true, true, None), Ok(None));
        let twice = json.with_header("content-type", "text/plain");
        assert!(matches!(
            body_to_check(&twice, true, true, None),
            Err(ApiError::BadRequest(_))
        ));
        assert!(
            matches!(check_body(&BodyKind::Json, br#"{"_method":"DELETE"}"#), Err(ApiError::BadRequest(ref why)) if *why == "_method in the body would make the origin run another method than the POST the gateway checked; send that method itself")
        );
        assert_eq!(check_body(&BodyKind::Json, br#"{"title":"x"}"#), Ok(()));
    }

    #[test]
    fn the_held_bytes_follow_the_rules_cap_within_the_bound() {
        assert_eq!(held_bytes(None), MAX_CHECKED_BODY_BYTES);
        assert_eq!(held_bytes(Some(4096)), 4096);
        assert_eq!(held_bytes(Some(u64::MAX)), MAX_HELD_BODY_BYTES);
    }
}
