//! Outbound fetches with a deadline and a size cap: the origin, OpenAI's egress list, client
//! metadata documents.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{AbortController, Delay, Fetch, Request, Response};

/// Why a fetch produced no response.
pub enum FetchFailure {
    /// The connection failed (refused, reset, DNS).
    Failed(String),
    /// No response headers within the deadline; the request was aborted.
    TimedOut,
}

/// Sends `request`, aborting it if no response arrives within `timeout_ms`.
pub async fn send_within(request: Request, timeout_ms: u64) -> Result<Response, FetchFailure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let sending = Box::pin(async move { Fetch::Request(request).send_with_signal(&signal).await });
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    match select(sending, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => Err(FetchFailure::Failed(e.to_string())),
        Either::Right(((), _)) => {
            controller.abort();
            Err(FetchFailure::TimedOut)
        }
    }
}

/// Reads a response body, refusing one over `limit` bytes: a declared length is checked first,
/// and an undeclared one is read no further than the limit.
pub async fn read_capped(response: &mut Response, limit: usize) -> Result<Vec<u8>, String> {
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(format!("larger than {limit} bytes"));
    }
    let mut stream = response.stream().map_err(|e| format!("read failed: {e}"))?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("read failed: {e}"))?;
        if body.len() + chunk.len() > limit {
            return Err(format!("larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON document a caller named (a client metadata document, a client's JWKS) from a URL
/// already checked: no redirects (a redirect would fetch a URL nobody checked), within
/// `timeout_ms`, at most `limit` bytes. Returns the body and its `Cache-Control`.
pub async fn get_checked_json(
    url: &url::Url,
    timeout_ms: u64,
    limit: usize,
) -> Result<(Vec<u8>, Option<String>), String> {
    let headers = worker::Headers::new();
    headers.set("accept", "application/json").ok();
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Get)
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    let request = Request::new_with_init(url.as_str(), &init).map_err(|e| format!("{e}"))?;
    let mut response = send_within(request, timeout_ms)
        .await
        .map_err(|failure| match failure {
            FetchFailure::Failed(why) => format!("fetch failed: {why}"),
            FetchFailure::TimedOut => format!("no answer within {timeout_ms} ms"),
        })?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let body = read_capped(&mut response, limit).await?;
    Ok((body, cache_control))
}
