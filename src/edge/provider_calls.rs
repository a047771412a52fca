//! Calls to upstream identity providers: one request shape for the token exchange, userinfo and
//! GitHub's API, each within [`UPSTREAM_TIMEOUT_MS`], never following a redirect, reading at most
//! [`MAX_UPSTREAM_RESPONSE_BYTES`]; and each provider's discovery document, cached per isolate for
//! five minutes, a failure for ten seconds only, so a provider that was down is tried again soon.

use std::cell::RefCell;

use crate::primitives::bounded_cache::BoundedCache;

use super::backend::EdgeBackend;
use crate::edge::fetch::{read_capped, send_within, FetchFailure};
use crate::federation::oidc::{discovery_url, parse_discovery, Discovery};
use crate::federation::{check_provider_url, MAX_UPSTREAM_RESPONSE_BYTES, UPSTREAM_TIMEOUT_MS};
use crate::oauth::client_assertion::PublicJwk;
use crate::oauth::registration::metadata_cache_secs;
use crate::ports::{Upstream, UpstreamRequest, UpstreamResponse};

/// A failed discovery is remembered this long.
const FAILURE_CACHE_SECS: i64 = 10;
/// A refresh asked for within this long of the last fetch is answered from the cache.
const MIN_REFETCH_SECS: i64 = 60;
/// Providers an isolate keeps (see [`BoundedCache`] for what goes when full).
const MAX_CACHED: usize = 64;

struct Cached {
    discovery: Result<Discovery, String>,
    fetched_at: i64,
}

thread_local! {
    static DISCOVERY: RefCell<BoundedCache<String, Cached>> = RefCell::new(BoundedCache::new(MAX_CACHED));
}

/// Sends a request to a provider; see [`crate::ports::Upstream::upstream`].
pub async fn send(request: UpstreamRequest) -> Result<UpstreamResponse, String> {
    let url = check_provider_url(&request.url)?;
    let headers = worker::Headers::new();
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(|e| format!("header {name}: {e}"))?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(if request.method == "POST" {
        worker::Method::Post
    } else {
        worker::Method::Get
    })
    .with_redirect(worker::RequestRedirect::Manual);
    if let Some(form) = &request.form {
        headers
            .set("content-type", "application/x-www-form-urlencoded")
            .map_err(|e| format!("{e}"))?;
        init.with_body(Some(wasm_bindgen::JsValue::from_str(form)));
    }
    init.with_headers(headers);
    let outgoing =
        worker::Request::new_with_init(url.as_str(), &init).map_err(|e| format!("{e}"))?;
    let mut response = send_within(outgoing, UPSTREAM_TIMEOUT_MS)
        .await
        .map_err(|failure| match failure {
            FetchFailure::Failed(why) => format!("fetch failed: {why}"),
            FetchFailure::TimedOut => format!("no answer within {UPSTREAM_TIMEOUT_MS} ms"),
        })?;
    let status = response.status_code();
    let content_type = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = read_capped(&mut response, MAX_UPSTREAM_RESPONSE_BYTES).await?;
    Ok(UpstreamResponse {
        status,
        content_type,
        body,
    })
}

/// The provider's discovery document; see [`crate::ports::Upstream::discovery`].
pub async fn discovery(issuer: &str, refresh: bool, now: i64) -> Result<Discovery, String> {
    let cached = DISCOVERY.with(|c| {
        let c = c.borrow();
        if refresh {
            // Fetched within the last minute: answered as held, fresh or not (a failure is
            // fresh for only 10 s).
            c.held(issuer)
                .filter(|entry| now < entry.fetched_at + MIN_REFETCH_SECS)
        } else {
            c.get(issuer, now)
        }
        .map(|entry| entry.discovery.clone())
    });
    if let Some(discovery) = cached {
        return discovery;
    }
    let (discovery, fresh_secs) = match fetch_discovery(issuer).await {
        Ok((d, secs)) => (Ok(d), secs),
        Err(why) => {
            worker::console_log!(
                "{}",
                serde_json::json!({"event": "provider_discovery_failed", "issuer": issuer, "reason": why})
            );
            (Err(why), FAILURE_CACHE_SECS)
        }
    };
    DISCOVERY.with(|c| {
        c.borrow_mut().insert(
            issuer.to_string(),
            Cached {
                discovery: discovery.clone(),
                fetched_at: now,
            },
            now + fresh_secs,
            now,
        )
    });
    discovery
}

async fn fetch_discovery(issuer: &str) -> Result<(Discovery, i64), String> {
    // Entra's multi-tenant issuers are templates; their documents live at the `common` or
    // `organizations` path the template came from, which the operator configures as the issuer
    // with `{tenantid}` in place: the document is fetched from the tenant-independent path.
    let url = discovery_url(&issuer.replace("{tenantid}", "common"));
    let response = send(UpstreamRequest {
        method: "GET",
        url,
        headers: vec![("accept", "application/json".into())],
        form: None,
    })
    .await?;
    if response.status != 200 {
        return Err(format!(
            "the discovery document answered {}",
            response.status
        ));
    }
    let discovery = parse_discovery(issuer, &response.body)?;
    Ok((discovery, metadata_cache_secs(None) as i64))
}

/// Upstream providers: calls, discovery documents, their signing keys.
impl Upstream for EdgeBackend<'_> {
    async fn upstream(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        send(request).await
    }
    async fn discovery(
        &self,
        issuer: &str,
        refresh: bool,
        now: i64,
    ) -> Result<crate::federation::oidc::Discovery, String> {
        discovery(issuer, refresh, now).await
    }
    async fn provider_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Vec<PublicJwk>, String> {
        super::client_jwks::provider_keys(jwks_uri, refresh, now).await
    }
}
