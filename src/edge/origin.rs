//! Effects toward the origin and the bundled static assets: the streaming forward, the OpenAPI
//! document, and files under `static/`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{
    AbortController, Delay, Env, Fetch, Headers, Method as WorkerMethod, Request, RequestInit,
    RequestRedirect, Response, ResponseBuilder,
};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::proxy::assertion::{
    identity_key, sign_assertion, sign_request, ASSERTION_HEADER, ASSERTION_REUSE_SECS,
    SIGNATURE_HEADER,
};
use crate::proxy::forward::{
    keep_response_header, origin_url, request_headers, rewrite_location, Identity,
    PROXIED_RESPONSE_HEADERS,
};
use crate::quota::QUOTA_EXEMPT_HEADER;

/// Streams the request to the origin and the origin's answer back; neither body is buffered.
pub async fn forward(
    req: Request,
    config: &Config,
    head: &RequestHead,
    rule_index: usize,
    identity: &Identity,
    request_id: &str,
) -> Result<Relayed, ApiError> {
    let rule = config
        .plugin
        .routes
        .rule(rule_index)
        .ok_or_else(|| ApiError::Internal(format!("no route rule {rule_index}")))?;
    let method = head.method();
    let may_have_body = !matches!(method, Method::Get | Method::Head);
    if let Some(limit) = rule.max_body_bytes {
        check_body_length(head, limit, may_have_body, req.inner().body().is_some())?;
    }

    let (scheme, host) = config
        .public_base_url
        .split_once("://")
        .unwrap_or(("https", config.public_base_url.as_str()));
    let headers = Headers::new();
    for (name, value) in request_headers(&head.headers, identity, request_id, host, scheme) {
        headers
            .append(&name, &value)
            .map_err(|_| ApiError::BadRequest(format!("the header {name} is malformed")))?;
    }
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    if let Some(assertion) = cached_assertion(config, identity, now) {
        headers.set(ASSERTION_HEADER, &assertion).ok();
    }
    if let Some(secret) = &config.origin_secret {
        let target = match &head.query {
            Some(q) => format!("{}?{q}", head.path),
            None => head.path.clone(),
        };
        let signature = sign_request(
            secret.expose().as_bytes(),
            now,
            method.as_str(),
            &target,
            request_id,
            identity.subject.as_deref(),
        );
        headers.set(SIGNATURE_HEADER, &signature).ok();
    }
    let mut init = RequestInit::new();
    init.with_method(WorkerMethod::from(method.as_str().to_string()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if may_have_body {
        if let Some(body) = req.inner().body() {
            init.with_body(Some(body.into()));
        }
    }
    let url = origin_url(&config.origin, &head.path, head.query.as_deref());
    let outbound = Request::new_with_init(&url, &init)
        .map_err(|e| ApiError::BadRequest(format!("the request cannot be forwarded: {e}")))?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let timeout_ms = config.origin_timeout_ms;
    let sending = Box::pin(async move { Fetch::Request(outbound).send_with_signal(&signal).await });
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    match select(sending, timer).await {
        Either::Left((Ok(response), _)) => relay(response, config),
        Either::Left((Err(e), _)) => Err(ApiError::OriginUnreachable(e.to_string())),
        Either::Right(((), _)) => {
            controller.abort();
            Err(ApiError::OriginTimeout { timeout_ms })
        }
    }
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
    /// Assertions by identity, reused for half their lifetime (bounded).
    static ASSERTIONS: RefCell<HashMap<String, (String, i64)>> = RefCell::new(HashMap::new());
}

/// Most assertions an isolate keeps; past this the cache starts over.
const MAX_CACHED_ASSERTIONS: usize = 10_000;

fn cached_assertion(config: &Config, identity: &Identity, now: i64) -> Option<String> {
    let key = identity_key(identity);
    let hit = ASSERTIONS.with(|c| {
        c.borrow()
            .get(&key)
            .filter(|(_, made)| now - made < ASSERTION_REUSE_SECS)
            .map(|(jwt, _)| jwt.clone())
    });
    if hit.is_some() {
        return hit;
    }
    let origin = config.origin.as_str().trim_end_matches('/');
    let jwt = sign_assertion(&config.keys, &config.public_base_url, origin, identity, now)?;
    ASSERTIONS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED_ASSERTIONS {
            c.clear();
        }
        c.insert(key, (jwt.clone(), now));
    });
    Some(jwt)
}

/// A relayed origin response, and whether the origin asked for the call not to count.
pub struct Relayed {
    pub response: Response,
    pub quota_exempt: bool,
}

/// The origin's response with hop-by-hop headers and portal cookies removed, redirects to the
/// origin's own URL rewritten, and the body streamed as it arrives.
fn relay(response: Response, config: &Config) -> Result<Relayed, ApiError> {
    let status = response.status_code();
    let headers = Headers::new();
    let mut quota_exempt = false;
    for (name, value) in response.headers().entries() {
        if name.eq_ignore_ascii_case(QUOTA_EXEMPT_HEADER) {
            quota_exempt = value.trim().eq_ignore_ascii_case("exempt");
            continue;
        }
        if !keep_response_header(&name, &value) {
            continue;
        }
        if name.eq_ignore_ascii_case("location") {
            let rewritten = rewrite_location(&value, &config.origin, &config.public_base_url);
            headers.append(&name, &rewritten).ok();
        } else {
            headers.append(&name, &value).ok();
        }
    }
    for (name, value) in PROXIED_RESPONSE_HEADERS {
        if name == "content-security-policy" || !headers.has(name).unwrap_or(false) {
            headers.append(name, value).ok();
        }
    }
    let (_, body) = response.into_parts();
    Ok(Relayed {
        response: ResponseBuilder::new()
            .with_status(status)
            .with_headers(headers)
            .body(body),
        quota_exempt,
    })
}

/// The OpenAPI document from `static/`, with `servers` pointing at the gateway.
pub async fn openapi(env: &Env, config: &Config) -> Result<Reply, ApiError> {
    let mut response = fetch_asset(env, &config.plugin.openapi_path).await?;
    if response.status_code() != 200 {
        return Err(ApiError::NotFound);
    }
    let mut document: serde_json::Value = response
        .json()
        .await
        .map_err(|e| ApiError::Internal(format!("openapi document is not JSON: {e}")))?;
    document["servers"] = serde_json::json!([{ "url": config.public_base_url }]);
    Ok(Reply::json(200, &document)
        .with_header("cache-control", "public, max-age=300")
        .with_header("access-control-allow-origin", "*"))
}

/// Content-Security-Policy of the admin console: its own script and styles, calls to its own
/// API, nothing else, never framed.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A file from `static/`, as the assets binding serves it; the console's files carry its
/// security headers.
pub async fn asset(env: &Env, path: &str) -> Result<Response, ApiError> {
    let response = fetch_asset(env, path).await?;
    if response.status_code() == 404 {
        return Err(ApiError::NotFound);
    }
    if !path.starts_with("/admin/") {
        return Ok(response);
    }
    let status = response.status_code();
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value).ok();
    }
    for (name, value) in [
        ("content-security-policy", CONSOLE_CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.set(name, value).ok();
    }
    let (_, body) = response.into_parts();
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}

async fn fetch_asset(env: &Env, path: &str) -> Result<Response, ApiError> {
    let assets = env
        .assets("ASSETS")
        .map_err(|e| ApiError::Internal(format!("assets binding: {e}")))?;
    assets
        .fetch(format!("https://assets.invalid{path}"), None)
        .await
        .map_err(|e| ApiError::Unavailable(format!("assets: {e}")))
}
