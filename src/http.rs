//! Plain HTTP types the logic speaks: a request head and a reply.
//!
//! The edge converts `worker::Request` into a [`RequestHead`] and a [`Reply`] back into a
//! `worker::Response`; everything between is native Rust that `cargo test` exercises without a
//! runtime. Bodies that must stream (the proxy) never pass through here.

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
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: Option<Method>,
    /// The path exactly as received, still percent-encoded.
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn new(method: Method, path: &str) -> Self {
        RequestHead {
            method: Some(method),
            path: path.to_string(),
            query: None,
            headers: Vec::new(),
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
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
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
            },
            Err(_) => Reply::new(500),
        }
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

    #[test]
    fn json_replies_carry_their_content_type() {
        let reply = Reply::json(200, &serde_json::json!({"ok": true})).no_store();
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.json_body().unwrap()["ok"], true);
    }
}
