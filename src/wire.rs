//! How a request head and a header list cross between wasm and JavaScript: as one string.
//!
//! Each call across the boundary costs far more than the work inside it, and reading a header
//! list through `Headers.entries()` makes several calls per header. The edge's JavaScript side
//! (`src/edge/js.rs`) joins what it reads into one string and splits what it is given, so a
//! request takes a fixed handful of calls whatever its number of headers. Lines are separated by
//! `\n` and a header is `name:value`: neither can appear inside the other (a header name is a
//! token, without `:`; the Fetch standard's `Headers` refuses a value with CR, LF or NUL).

use crate::http::{Method, RequestHead};

/// A request as the edge reads it in one call: its head, the `host[:port]` it was addressed to
/// (which picks the plugin), and whether it carries a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    pub head: RequestHead,
    pub authority: String,
    pub has_body: bool,
}

/// Reads `METHOD\nBODY\nURL\nname:value\n…` (BODY is `1` or `0`), as `requestHead` in
/// `src/edge/js.rs` writes it. `None` for a string that is not of that shape.
pub fn parse_incoming(block: &str) -> Option<IncomingRequest> {
    let mut lines = block.split('\n');
    let method = Method::parse(lines.next()?);
    let has_body = match lines.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let url = lines.next()?;
    let headers = lines
        .map(|line| {
            line.split_once(':')
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    let (path, query) = split_url(url);
    Some(IncomingRequest {
        head: RequestHead {
            method: Some(method),
            path: path.to_string(),
            query: query.map(str::to_string),
            headers,
            authority: Some(authority(url).to_ascii_lowercase()),
        },
        authority: authority(url).to_string(),
        has_body,
    })
}

/// Reads `STATUS\nname:value\n…`, a response's status and headers as `responseHead` writes them.
pub fn parse_response_head(block: &str) -> Option<(u16, Vec<(String, String)>)> {
    let mut lines = block.split('\n');
    let status = lines.next()?.parse().ok()?;
    let headers = lines
        .map(|line| {
            line.split_once(':')
                .map(|(name, value)| (name.to_string(), value.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((status, headers))
}

/// Joins headers as `name:value` lines, for the JavaScript side to append in order. A header that
/// could not be carried (a name that is empty or holds `:` or a line break, a value with a line
/// break) is returned as the error: `Headers.append` would refuse it anyway.
pub fn header_block<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, String> {
    let mut block = String::with_capacity(512);
    for (name, value) in headers {
        let bad_name = name.is_empty() || name.contains([':', '\n', '\r', '\0']);
        if bad_name || value.contains(['\n', '\r', '\0']) {
            return Err(name.to_string());
        }
        if !block.is_empty() {
            block.push('\n');
        }
        block.push_str(name);
        block.push(':');
        block.push_str(value);
    }
    Ok(block)
}

/// [`HeaderChanges`](crate::http::HeaderChanges) as they cross: the names to delete,
/// one per line, and the headers to append, as a [`header_block`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChanges {
    pub remove: String,
    pub append: String,
}

impl WireChanges {
    /// `Err` names a header that cannot be carried (see [`header_block`]).
    pub fn new(changes: &crate::http::HeaderChanges) -> Result<WireChanges, String> {
        let unfit = |n: &&String| n.is_empty() || n.contains(['\n', '\r', '\0', ':']);
        if let Some(name) = changes.remove.iter().find(unfit) {
            return Err(name.clone());
        }
        Ok(WireChanges {
            remove: changes.remove.join("\n"),
            append: header_block(changes.append.iter().map(|(n, v)| (n.as_str(), v.as_str())))?,
        })
    }
}

/// Names as the JavaScript side looks them up: each between line breaks, lower case.
pub fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut list = String::from("\n");
    for name in names {
        list.push_str(&name.to_ascii_lowercase());
        list.push('\n');
    }
    list
}

/// `scheme://host:port/path` → `host:port`.
fn authority(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| &url[i + 3..]).unwrap_or(url);
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    &after_scheme[..end]
}

/// Splits `scheme://authority/path?query#fragment` into its path and query.
fn split_url(url: &str) -> (&str, Option<&str>) {
    let after_scheme = url.find("://").map(|i| &url[i + 3..]).unwrap_or(url);
    let path_and_query = after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("/");
    let path_and_query = path_and_query
        .split_once('#')
        .map(|(p, _)| p)
        .unwrap_or(path_and_query);
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incoming_request_is_read_in_full() {
        let read = parse_incoming(
            "POST\n1\nhttps://todo.example.com:8443/api/todos?x=1&y=:\nHost:todo.example.com\ncontent-type:application/json; a=b:c\nx-empty:",
        )
        .unwrap();
        assert_eq!(read.head.method, Some(Method::Post));
        assert_eq!(read.head.path, "/api/todos");
        assert_eq!(read.head.query.as_deref(), Some("x=1&y=:"));
        assert_eq!(read.authority, "todo.example.com:8443");
        assert!(read.has_body);
        assert_eq!(
            read.head.headers,
            vec![
                ("host".to_string(), "todo.example.com".to_string()),
                (
                    "content-type".to_string(),
                    "application/json; a=b:c".to_string()
                ),
                ("x-empty".to_string(), String::new()),
            ],
            "names lower-cased, values kept whole, colons and all"
        );
        let bare = parse_incoming("GET\n0\nhttp://h").unwrap();
        assert_eq!((bare.head.path.as_str(), bare.has_body), ("/", false));
        assert!(bare.head.headers.is_empty());
    }

    #[test]
    fn a_malformed_block_is_refused_not_guessed() {
        for bad in [
            "",
            "GET",
            "GET\n2\nhttp://h/",
            "GET\n0\nhttp://h/\nno-colon",
        ] {
            assert_eq!(parse_incoming(bad), None, "{bad:?}");
        }
        assert_eq!(parse_response_head("abc\nx:y"), None);
        assert_eq!(parse_response_head("200\nbroken"), None);
    }

    #[test]
    fn header_lists_survive_the_crossing_in_order_with_duplicates() {
        let headers = [
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2"),
            ("location", "https://x.example/?q=a:b"),
            ("x-empty", ""),
        ];
        let block = header_block(headers.iter().copied()).unwrap();
        let (status, read) = parse_response_head(&format!("302\n{block}")).unwrap();
        assert_eq!(status, 302);
        let read: Vec<(&str, &str)> = read.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(read, headers);
        assert_eq!(header_block([]), Ok(String::new()));
    }

    #[test]
    fn what_cannot_cross_is_named_not_smuggled() {
        for (name, value) in [
            ("x-a", "one\ntwo:injected"),
            ("x-b", "carriage\rreturn"),
            ("x-c", "nul\0"),
            ("bad:name", "v"),
            ("", "v"),
        ] {
            assert_eq!(
                header_block([("ok", "fine"), (name, value)]),
                Err(name.to_string())
            );
        }
    }
}
