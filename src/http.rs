//! Plain HTTP types the logic speaks: a request head and a reply.
//!
//! The edge converts `worker::Request` into a [`RequestHead`] and a [`Reply`] back into a
//! `worker::Response`; everything between is native Rust that `cargo test` exercises without a
//! runtime. Bodies that must stream (the proxy) never pass through here; small ones (forms, JSON)
//! are read through a [`BodyReader`] that holds no more than their cap.

use serde::Serialize;

/// An HTTP method, as far as routing cares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    /// Any other token (`TRACE`, `CONNECT`, extension methods): routable only by rules that
    /// allow every method, refused everywhere else with 405.
    Other(String),
}

impl Method {
    /// Parses a method token; matching is case-sensitive as RFC 9110 §9.1 says.
    pub fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(token) => token,
        }
    }
}

/// What the logic needs to know of a request before it decides: never the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Option<Method>,
    /// The path exactly as received, still percent-encoded.
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The `host[:port]` the request was addressed to (its URL's), when the edge knows it.
    pub authority: Option<String>,
}

impl RequestHead {
    pub fn new(method: Method, path: &str) -> Self {
        RequestHead {
            method: Some(method),
            path: path.to_string(),
            query: None,
            headers: Vec::new(),
            authority: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn method(&self) -> Method {
        self.method.clone().unwrap_or(Method::Get)
    }

    /// The values of one header, by case-insensitive name.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The single value of a header; `Err` when it was sent more than once, since a repeated
    /// credential or content type is ambiguous and must be refused, not guessed at.
    pub fn single_header<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, DuplicateHeader> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(DuplicateHeader(name.to_string()));
        }
        Ok(first)
    }

    /// The `Authorization` header, read once with one strictness for every endpoint: `None` when
    /// absent; refused when sent twice or longer than [`MAX_AUTHORIZATION_BYTES`].
    pub fn authorization(&self) -> Result<Option<Authorization<'_>>, AuthorizationError> {
        let value = self
            .single_header("authorization")
            .map_err(|_| AuthorizationError::Several)?;
        let Some(value) = value else {
            return Ok(None);
        };
        if value.len() > MAX_AUTHORIZATION_BYTES {
            return Err(AuthorizationError::TooLong);
        }
        Ok(Some(Authorization::parse(value)))
    }

    /// The client address Cloudflare saw (`CF-Connecting-IP`); never the caller's own claims
    /// (`X-Forwarded-For` and kin). `None` when absent or sent twice.
    pub fn client_ip(&self) -> Option<&str> {
        self.single_header("cf-connecting-ip").ok().flatten()
    }
}

/// Longest `Authorization` header accepted; a JWT of ours is well under 1 KiB.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// An `Authorization` header: its scheme, and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization<'a> {
    scheme: &'a str,
    credentials: &'a str,
}

impl<'a> Authorization<'a> {
    /// Splits a header value into its scheme and what follows the spaces after it.
    pub fn parse(value: &'a str) -> Authorization<'a> {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        Authorization {
            scheme,
            credentials: rest.trim_start_matches(' '),
        }
    }

    /// Whether the scheme is `scheme` (schemes are case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// Everything after the scheme, as sent (only leading spaces dropped). For a secret an
    /// operator chose (the admin token), which need not be token68; everywhere else
    /// [`Authorization::token68`].
    pub fn credentials(&self) -> &'a str {
        self.credentials
    }

    /// The credentials if they are one RFC 9110 §11.2 token68 (how every scheme the gateway
    /// takes writes them: bearer tokens, base64 Basic pairs); `None` when empty or malformed.
    pub fn token68(&self) -> Option<&'a str> {
        let c = self.credentials;
        (!c.is_empty() && crate::primitives::syntax::is_token68(c)).then_some(c)
    }
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationError {
    Several,
    TooLong,
}

/// Why a request body was refused before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Several `Content-Length` headers, or one that is not a number.
    BadLength(&'static str),
    /// More than the endpoint reads (413).
    TooLarge { limit_bytes: u64 },
}

/// A small request body read chunk by chunk against its cap: a declared `Content-Length` over the
/// cap is refused before anything is read, and a body without one (chunked) is refused at the
/// chunk that passes the cap, so no more than the cap is ever held.
#[derive(Debug)]
pub struct BodyReader {
    limit: usize,
    body: Vec<u8>,
}

impl BodyReader {
    /// Checks the declared length: at most one `Content-Length`, a number, within `limit`.
    pub fn start(head: &RequestHead, limit: usize) -> Result<BodyReader, BodyError> {
        let declared = head
            .single_header("content-length")
            .map_err(|_| BodyError::BadLength("send one Content-Length header"))?;
        if let Some(text) = declared {
            let n: u64 = text
                .trim()
                .parse()
                .map_err(|_| BodyError::BadLength("the Content-Length header is malformed"))?;
            if n > limit as u64 {
                return Err(BodyError::TooLarge {
                    limit_bytes: limit as u64,
                });
            }
        }
        Ok(BodyReader {
            limit,
            body: Vec::new(),
        })
    }

    /// Adds the next chunk, or refuses the body if it would pass the cap.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if chunk.len() > self.limit - self.body.len() {
            return Err(BodyError::TooLarge {
                limit_bytes: self.limit as u64,
            });
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes held so far.
    pub fn held(&self) -> usize {
        self.body.len()
    }

    pub fn finish(self) -> Vec<u8> {
        self.body
    }
}

/// A header that must appear at most once appeared more often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateHeader(pub String);

/// A complete response with a buffered body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Why, for the request's log line (a refusal's cause the page words for people); never
    /// sent, and never a secret.
    pub note: Option<String>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            note: None,
        }
    }

    /// A JSON body. Serializing plain data structs cannot fail; if it ever did, the reply says
    /// so as a 500 instead of panicking.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                headers: vec![("content-type".to_string(), "application/json".to_string())],
                body,
                note: None,
            },
            Err(_) => Reply::new(500),
        }
    }

    /// Sets the log line's reason (see [`Reply::note`]).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// `Cache-Control: no-store`, for anything carrying credentials or errors (RFC 6749 §5.1).
    pub fn no_store(self) -> Self {
        self.with_header("cache-control", "no-store")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, for tests and logs.
    pub fn json_body(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Changes that make one header list into another, in the order a `Headers` object applies them:
/// every header named in `remove` deleted (all its values, any letter case), then `append` added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderChanges {
    pub remove: Vec<String>,
    pub append: Vec<(String, String)>,
}

impl HeaderChanges {
    /// The list the changes make of `list` (what a `Headers` object applying them holds).
    pub fn apply(&self, list: &[(String, String)]) -> Vec<(String, String)> {
        list.iter()
            .filter(|(n, _)| !self.remove.iter().any(|r| r.eq_ignore_ascii_case(n)))
            .chain(self.append.iter())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_and_are_case_sensitive() {
        for token in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert_eq!(Method::parse(token).as_str(), token);
        }
        assert_eq!(Method::parse("get"), Method::Other("get".into()));
    }

    #[test]
    fn a_repeated_header_is_reported_not_guessed() {
        let head = RequestHead::new(Method::Get, "/")
            .with_header("Authorization", "Bearer a")
            .with_header("authorization", "Bearer b");
        assert_eq!(
            head.single_header("authorization"),
            Err(DuplicateHeader("authorization".into()))
        );
        assert_eq!(head.single_header("x-none"), Ok(None));
    }

    fn read_in_chunks(
        head: &RequestHead,
        limit: usize,
        chunks: &[&[u8]],
    ) -> Result<Vec<u8>, BodyError> {
        let mut reader = BodyReader::start(head, limit)?;
        for chunk in chunks {
            reader.push(chunk)?;
        }
        Ok(reader.finish())
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_any_byte_is_read() {
        let head = RequestHead::new(Method::Post, "/token").with_header("content-length", "16385");
        assert_eq!(
            BodyReader::start(&head, 16384).unwrap_err(),
            BodyError::TooLarge { limit_bytes: 16384 }
        );
        let head = RequestHead::new(Method::Post, "/token").with_header("content-length", "16384");
        assert!(BodyReader::start(&head, 16384).is_ok());
        for bad in [vec!["1", "2"], vec!["x"], vec!["-1"]] {
            let mut head = RequestHead::new(Method::Post, "/token");
            for value in &bad {
                head = head.with_header("content-length", value);
            }
            assert!(
                matches!(
                    BodyReader::start(&head, 16384),
                    Err(BodyError::BadLength(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_undeclared_body_is_refused_at_the_chunk_that_passes_the_cap() {
        let head = RequestHead::new(Method::Post, "/token");
        let mut reader = BodyReader::start(&head, 10).unwrap();
        reader.push(b"12345").unwrap();
        reader.push(b"67890").unwrap();
        assert_eq!(
            reader.push(b"1").unwrap_err(),
            BodyError::TooLarge { limit_bytes: 10 }
        );
        // What was pushed before the refusal is all that was ever held.
        assert_eq!(reader.held(), 10);
    }

    #[test]
    fn any_split_of_a_body_is_accepted_exactly_when_it_fits() {
        let head = RequestHead::new(Method::Post, "/register");
        let body: Vec<u8> = (0..64u8).collect();
        for limit in [0, 1, 31, 63, 64, 65] {
            for size in 1..=body.len() {
                let chunks: Vec<&[u8]> = body.chunks(size).collect();
                let read = read_in_chunks(&head, limit, &chunks);
                if body.len() <= limit {
                    assert_eq!(read.unwrap(), body, "limit {limit} chunks of {size}");
                } else {
                    assert_eq!(
                        read.unwrap_err(),
                        BodyError::TooLarge {
                            limit_bytes: limit as u64
                        },
                        "limit {limit} chunks of {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_authorization_header_is_read_one_way() {
        let head = |v: &str| RequestHead::new(Method::Get, "/").with_header("authorization", v);
        let bearer = head("bearer  abc.DEF-_~+/=");
        let a = bearer.authorization().unwrap().unwrap();
        assert!(a.is("Bearer") && !a.is("Basic"));
        assert_eq!(a.token68(), Some("abc.DEF-_~+/="));
        for malformed in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer é"] {
            let h = head(malformed);
            assert_eq!(
                h.authorization().unwrap().unwrap().token68(),
                None,
                "{malformed}"
            );
        }
        let twice = head("Bearer a").with_header("Authorization", "Bearer b");
        assert_eq!(twice.authorization(), Err(AuthorizationError::Several));
        let long = head(&format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES)));
        assert_eq!(long.authorization(), Err(AuthorizationError::TooLong));
        assert_eq!(RequestHead::new(Method::Get, "/").authorization(), Ok(None));
    }

    #[test]
    fn json_replies_carry_their_content_type() {
        let reply = Reply::json(200, &serde_json::json!({"ok": true})).no_store();
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.json_body().unwrap()["ok"], true);
    }
}
