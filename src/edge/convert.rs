//! `worker::Request` → [`RequestHead`], [`Reply`] → `worker::Response`.

use worker::{Headers, Request, Response, ResponseBuilder};

use crate::http::{Method, Reply, RequestHead};

/// The request head, and the `host[:port]` the request was addressed to (which picks the
/// plugin), both from one read of the URL.
pub fn request_head(req: &Request) -> (RequestHead, String) {
    let url = req.inner().url();
    let (path, query) = split_url(&url);
    let head = RequestHead {
        method: Some(Method::parse(req.inner().method().as_str())),
        path: path.to_string(),
        query: query.map(str::to_string),
        headers: req.headers().entries().collect(),
    };
    (head, authority(&url).to_string())
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

pub fn response(reply: Reply) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    Ok(ResponseBuilder::new()
        .with_status(reply.status)
        .with_headers(headers)
        .fixed(reply.body))
}
