//! Effects toward the origin: the streaming forward and the OpenAPI document (from the origin, or
//! compiled in from `static/`).

use std::cell::RefCell;

use crate::primitives::bounded_cache::BoundedCache;

use worker::{Headers, Method as WorkerMethod, Request, RequestInit, RequestRedirect, Response};

use crate::config::{Config, OpenApiSource};
use crate::edge::fetch::{read_capped, send_within, FetchFailure};
use crate::edge::js::{self, ForwardFailure};
use crate::edge::webcrypto::Platform;
use crate::error::ApiError;
use crate::http::{HeaderChanges, Method, Reply, RequestHead};
use crate::openapi::{
    freshness_secs, publish, DocFormat, DocumentCache, Lookup, Published, MAX_DOCUMENT_BYTES,
    STALE_IF_ERROR_SECS,
};
use crate::proxy::assertion::{
    identity_key, sign_assertion, sign_request, Call, ASSERTION_HEADER, ASSERTION_REUSE_SECS,
    SIGNATURE_HEADER,
};
use crate::proxy::forward::{
    origin_url, relay_changes, relay_decides_on, request_header_changes, Identity,
};
use crate::wire::{name_list, WireChanges};
use worker::worker_sys::web_sys;

/// Streams the request to the origin; the origin's answer comes back with the headers that
/// decide what the caller gets read ([`Answer`]), its body not yet touched.
pub async fn forward(
    req: &js::Incoming,
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
    identity: &Identity,
    request_id: &str,
    extra_headers: Vec<(String, String)>,
) -> Result<Answer, ApiError> {
    let rule = config
        .plugin
        .routes
        .rule(rule_index)
        .ok_or_else(|| ApiError::Internal(format!("no route rule {rule_index}")))?;
    let method = head.method();
    let may_have_body = !matches!(method, Method::Get | Method::Head);
    if let Some(limit) = rule.max_body_bytes {
        check_body_length(head, limit, may_have_body, req.has_body)?;
    }
    let mut changes = origin_header_changes(config, head, identity, request_id).await;
    changes.append.extend(extra_headers);
    let changes = WireChanges::new(&changes)
        .map_err(|name| ApiError::BadRequest(format!("the header {name} is malformed")))?;
    let url = origin_url(&config.origin, &head.path, head.query.as_deref());
    let with_body = may_have_body && req.has_body;
    let timeout_ms = config.origin_timeout_ms;
    let response = js::forward(
        &req.raw,
        &url,
        method.as_str(),
        &changes,
        with_body,
        req.held_body.as_deref(),
        timeout_ms,
    )
    .await
    .map_err(|failure| match failure {
        ForwardFailure::Failed(why) => ApiError::OriginUnreachable(why),
        ForwardFailure::TimedOut => ApiError::OriginTimeout { timeout_ms },
    })?;
    let origin_head = RELAY_NAMES.with(|names| {
        js::response_head(
            &response,
            names.get_or_init(|| name_list(relay_decides_on())),
        )
    });
    let (status, seen) = origin_head
        .ok_or_else(|| ApiError::OriginUnreachable("an unreadable response head".into()))?;
    crate::proxy::forward::final_status(status).map_err(ApiError::OriginUnreachable)?;
    let (changes, quota_exempt) = relay_changes(&seen, &config.origin, &config.public_base_url);
    Ok(Answer {
        response,
        status,
        changes,
        quota_exempt,
    })
}

thread_local! {
    /// The response headers the relay decides on, as the JavaScript side looks them up.
    static RELAY_NAMES: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
}

/// The origin's answer: its response (whose body is relayed as it streams), its status, the
/// changes that make its headers the caller's, and whether the origin asked for the call not to
/// count.
pub struct Answer {
    response: web_sys::Response,
    status: u16,
    changes: HeaderChanges,
    pub quota_exempt: bool,
}

impl Answer {
    /// The origin's status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sets a header of the gateway's on the relayed response, replacing any the origin sent.
    pub fn set_header(&mut self, name: &str, value: &str) {
        if !self
            .changes
            .remove
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            self.changes.remove.push(name.to_string());
        }
        self.changes
            .append
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.changes
            .append
            .push((name.to_string(), value.to_string()));
    }

    /// The response to the caller: the origin's status and body, its headers changed.
    pub fn relay(self) -> Result<web_sys::Response, ApiError> {
        let changes = WireChanges::new(&self.changes).map_err(|name| {
            ApiError::OriginUnreachable(format!("the origin's header {name} cannot be relayed"))
        })?;
        js::relay(&self.response, self.status, &changes).map_err(ApiError::OriginUnreachable)
    }
}

/// How the caller's headers become the origin's: filtered, with the gateway's identity headers,
/// assertion and (with `ORIGIN_SECRET`) signature.
async fn origin_header_changes(
    config: &Config,
    head: &RequestHead,
    identity: &Identity,
    request_id: &str,
) -> HeaderChanges {
    let (scheme, host) = config
        .public_base_url
        .split_once("://")
        .unwrap_or(("https", config.public_base_url.as_str()));
    let mut changes = request_header_changes(
        &head.headers,
        config.plugin.forward_headers.as_deref(),
        identity,
        request_id,
        host,
        scheme,
        head.client_ip(),
    );
    changes
        .append
        .extend(signed_headers(config, head, identity, request_id).await);
    changes
}

/// The signed assertion of who is calling and (with `ORIGIN_SECRET`) the request's signature.
async fn signed_headers(
    config: &Config,
    head: &RequestHead,
    identity: &Identity,
    request_id: &str,
) -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(2);
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let url = origin_url(&config.origin, &head.path, None);
    let method = head.method();
    let call = Call {
        method: method.as_str(),
        url: &url,
    };
    if let Some(assertion) = cached_assertion(config, identity, call, now).await {
        headers.push((ASSERTION_HEADER.to_string(), assertion));
    }
    if let Some(secret) = &config.origin_secret {
        let target = match &head.query {
            Some(q) => format!("{}?{q}", head.path),
            None => head.path.clone(),
        };
        let signature = sign_request(
            secret.expose().as_bytes(),
            now,
            head.method().as_str(),
            &target,
            request_id,
            identity.user(),
        );
        headers.push((SIGNATURE_HEADER.to_string(), signature));
    }
    headers
}

/// Sends a request to the origin, giving up (and aborting it) after `timeout_ms`.
async fn send(outbound: Request, timeout_ms: u64) -> Result<Response, ApiError> {
    send_within(outbound, timeout_ms)
        .await
        .map_err(|failure| match failure {
            FetchFailure::Failed(why) => ApiError::OriginUnreachable(why),
            FetchFailure::TimedOut => ApiError::OriginTimeout { timeout_ms },
        })
}

fn check_body_length(
    head: &RequestHead,
    limit: u64,
    may_have_body: bool,
    has_body: bool,
) -> Result<(), ApiError> {
    let length = head
        .single_header("content-length")
        .map_err(|_| ApiError::BadRequest("send one Content-Length header".into()))?;
    match length {
        Some(text) => {
            let n: u64 = text.trim().parse().map_err(|_| {
                ApiError::BadRequest("the Content-Length header is malformed".into())
            })?;
            if n > limit {
                return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
            }
            Ok(())
        }
        // A streamed body (chunked, or HTTP/2 without a length) cannot be checked up front.
        None if may_have_body && has_body => Err(ApiError::LengthRequired),
        None => Ok(()),
    }
}

thread_local! {
    /// Assertions by identity, reused for half their lifetime.
    static ASSERTIONS: RefCell<BoundedCache<String, String>> =
        RefCell::new(BoundedCache::new(MAX_CACHED_ASSERTIONS));
}

/// Most assertions an isolate keeps (see [`BoundedCache`] for what goes when full).
const MAX_CACHED_ASSERTIONS: usize = 10_000;

async fn cached_assertion(
    config: &Config,
    identity: &Identity,
    call: Call<'_>,
    now: i64,
) -> Option<String> {
    // Each plugin signs its own assertions (its issuer, its origin as audience), each for one
    // call (method and URL).
    let key = format!(
        "{} {} {} {}",
        config.public_base_url,
        call.method,
        call.url,
        identity_key(identity)
    );
    let hit = ASSERTIONS.with(|c| c.borrow().get(&key, now).cloned());
    if hit.is_some() {
        return hit;
    }
    let origin = config.origin.as_str().trim_end_matches('/');
    let issuer = &config.public_base_url;
    let jwt = sign_assertion(&config.keys, issuer, origin, identity, call, now, &Platform)
        .await
        .ok()?;
    ASSERTIONS.with(|c| {
        c.borrow_mut()
            .insert(key, jwt.clone(), now + ASSERTION_REUSE_SECS, now)
    });
    Some(jwt)
}

thread_local! {
    /// Each plugin's published OpenAPI document, per isolate.
    static DOCUMENTS: RefCell<DocumentCache> = RefCell::new(DocumentCache::default());
}

/// The OpenAPI document, with `servers` pointing at the gateway, in the format of its public
/// path. A copy fetched from the origin is reused while fresh, and served stale while the origin
/// fails to give a new one.
pub async fn openapi(config: &Config, request_id: &str) -> Result<Reply, ApiError> {
    let now = worker::Date::now().as_millis() / 1000;
    let name = config.plugin.name_for_model.as_str();
    let cached = DOCUMENTS.with(|c| match c.borrow().lookup(name, now) {
        Lookup::Fresh(published) => Ok(published.clone()),
        Lookup::Stale(copy) => Err(copy.cloned()),
    });
    let stale = match cached {
        Ok(published) => return Ok(document_reply(published)),
        Err(stale) => stale,
    };
    match read_document(config, request_id).await {
        Ok((published, fresh_secs)) => {
            DOCUMENTS.with(|c| {
                c.borrow_mut()
                    .store(name, published.clone(), now, fresh_secs)
            });
            Ok(document_reply(published))
        }
        Err(e) => match stale {
            Some(published) => {
                if let Some(reason) = e.internal_reason() {
                    worker::console_error!(
                        "request {request_id}: serving a stale OpenAPI document: {reason}"
                    );
                }
                Ok(document_reply(published))
            }
            None => Err(e),
        },
    }
}

fn document_reply(published: Published) -> Reply {
    Reply {
        body: published.body,
        ..Reply::new(200)
    }
    .with_header("content-type", published.content_type)
    .with_header("cache-control", "public, max-age=300")
    .with_header("access-control-allow-origin", "*")
}

/// The request for the document at the origin: as the gateway itself, with the headers the
/// origin is sent on every call (its secret, the signed assertion).
async fn document_request(
    config: &Config,
    path: &str,
    query: Option<&str>,
    request_id: &str,
) -> Result<Request, ApiError> {
    let document_head = RequestHead {
        method: Some(Method::Get),
        path: path.to_string(),
        query: query.map(str::to_string),
        headers: vec![(
            "accept".into(),
            "application/json, application/yaml;q=0.9, */*;q=0.1".into(),
        )],
        authority: None,
    };
    let identity = Identity {
        caller: crate::proxy::forward::Caller::Gateway,
        ..Identity::default()
    };
    let headers = Headers::new();
    let changes = origin_header_changes(config, &document_head, &identity, request_id).await;
    for (name, value) in changes.apply(&document_head.headers) {
        headers
            .append(&name, &value)
            .map_err(|_| ApiError::Internal(format!("openapi_origin_path: the header {name}")))?;
    }
    let mut init = RequestInit::new();
    init.with_method(WorkerMethod::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    let url = origin_url(&config.origin, path, query);
    Request::new_with_init(&url, &init)
        .map_err(|e| ApiError::Internal(format!("openapi_origin_path: {e}")))
}

/// Reads and publishes the document; returns it with how long it stays fresh.
async fn read_document(config: &Config, request_id: &str) -> Result<(Published, u64), ApiError> {
    let format = DocFormat::from_path(&config.plugin.openapi_path).unwrap_or(DocFormat::Json);
    match &config.plugin.openapi_source {
        OpenApiSource::Static(file) => {
            // Only the default path can be missing (a plugin without a document): a named
            // file is checked when the configuration is read.
            let static_file = crate::assets::file(file).ok_or(ApiError::NotFound)?;
            let published = publish(
                static_file.body,
                DocFormat::from_path(file),
                &config.public_base_url,
                format,
            )
            .map_err(|e| ApiError::Internal(format!("static{file}: {e}")))?;
            // A deployment's static files never change under it.
            Ok((published, STALE_IF_ERROR_SECS))
        }
        OpenApiSource::Origin(target) => {
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (target.as_str(), None),
            };
            let outbound = document_request(config, path, query, request_id).await?;
            let mut response = send(outbound, config.origin_timeout_ms).await?;
            let unusable = |why: String| {
                ApiError::OriginUnreachable(format!("the OpenAPI document at {target}: {why}"))
            };
            if response.status_code() != 200 {
                return Err(unusable(format!("status {}", response.status_code())));
            }
            let hint = response
                .headers()
                .get("content-type")
                .ok()
                .flatten()
                .and_then(|t| DocFormat::from_content_type(&t))
                .or_else(|| DocFormat::from_path(path));
            let fresh_secs = freshness_secs(
                response
                    .headers()
                    .get("cache-control")
                    .ok()
                    .flatten()
                    .as_deref(),
                config.plugin.openapi_cache_secs,
            );
            let bytes = read_capped(&mut response, MAX_DOCUMENT_BYTES)
                .await
                .map_err(unusable)?;
            let published = publish(&bytes, hint, &config.public_base_url, format)
                .map_err(|e| unusable(e.to_string()))?;
            Ok((published, fresh_secs))
        }
    }
}
