//! A browser for flow tests: a cookie jar, and requests sent the way the edge takes them (the
//! route table, then the app).

use std::collections::HashMap;

use portcullis::app::{App, Outcome};
use portcullis::config::Config;
use portcullis::http::{Method, Reply, RequestHead};
use portcullis::oauth::params::{form_encode, Params};
use portcullis::ports::Backend;
use portcullis::routes::{route, Endpoint};

use super::{block_on, MemoryBackend};

/// The clock flow tests start at.
pub const NOW: i64 = 1_790_000_000;

/// A browser: a cookie jar and the requests it sends.
pub struct Browser<'a, B: Backend = MemoryBackend> {
    pub config: &'a Config,
    pub backend: &'a B,
    pub cookies: HashMap<String, String>,
    pub now: i64,
}

impl<'a, B: Backend> Browser<'a, B> {
    pub fn new(config: &'a Config, backend: &'a B) -> Self {
        Browser {
            config,
            backend,
            cookies: HashMap::new(),
            now: NOW,
        }
    }

    pub fn send(
        &mut self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (target, None),
        };
        let mut head = RequestHead::new(method, path);
        head.query = query;
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            head = head.with_header("cookie", &jar.join("; "));
        }
        for (n, v) in headers {
            head = head.with_header(n, v);
        }
        // The way the edge takes: the route table, then the app (the admin API is not reached).
        let app = App {
            config: self.config,
            backend: self.backend,
            sql: &super::NoSql,
            now: self.now,
        };
        let outcome = route(self.config, &head).and_then(|endpoint| {
            assert!(
                matches!(endpoint, Endpoint::AuthServer(_)),
                "{target} is not an authorization-server path"
            );
            block_on(app.serve(endpoint, &head, body))
        });
        let reply = match outcome {
            Ok(Outcome::Reply(r)) => r,
            Ok(other) => panic!("{target}: {other:?}"),
            Err(e) => e.to_reply(),
        };
        for (name, value) in &reply.headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                if value.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.into(), v.into());
                }
            }
        }
        reply
    }

    pub fn get(&mut self, target: &str) -> Reply {
        self.send(Method::Get, target, &[], b"")
    }

    pub fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let body = encode(pairs);
        self.send(
            Method::Post,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn html(reply: &Reply) -> String {
    String::from_utf8(reply.body.clone()).unwrap()
}

/// The value of a hidden input in a page.
pub fn hidden(reply: &Reply, name: &str) -> String {
    let page = html(reply);
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

pub fn location_params(reply: &Reply) -> Params {
    let location = reply.header("location").unwrap();
    Params::from_urlencoded(location.split_once('?').map(|(_, q)| q).unwrap_or("")).unwrap()
}
