//! The Workers runtime glue: the only code that names `worker`. It converts requests and replies,
//! reads configuration from the environment, and performs the effects the logic decides on
//! (origin fetches, D1 queries, Durable Object calls). It makes no OAuth or policy decisions.

mod api_keys;
mod backend;
mod client_jwks;
mod client_metadata;
mod egress;
mod fetch;
mod grant_ledger;
mod health;
mod js;
mod mail;
mod origin;
mod provider_calls;
mod quota_counter;
mod sealing;
mod standing;
mod usage_flush;
mod webcrypto;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, Request};

use crate::app::{self, Outcome};
use crate::config::{Config, ConfigError, Deployment, RawConfig};
use crate::error::ApiError;
use crate::http::Reply;
use crate::oauth::grant_stores::Grants;
use crate::proxy::call::{Input, ProxiedCall, Refund, Step};
use crate::request_log::{RequestLine, SampleRate};
use crate::routes::{route, Endpoint};
use crate::wire::header_block;
use js::Incoming;

thread_local! {
    /// Configuration is parsed once per isolate: vars and secrets cannot change under it.
    static CONFIG: RefCell<Option<Rc<Result<Deployment, ConfigError>>>> = const { RefCell::new(None) };
    /// Access tokens this isolate has verified (bounded): a reused token skips the signature.
    static VERIFIED_TOKENS: RefCell<crate::oauth::access_token::VerifiedTokenCache> =
        RefCell::new(Default::default());
}

fn config(env: &Env) -> Rc<Result<Deployment, ConfigError>> {
    CONFIG.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                // Files are provided only by the entry module `portcullis init` writes; this
                // crate's own build has all of its files compiled in.
                let parsed = provided_files()
                    .and_then(|files| files.map_or(Ok(()), crate::assets::provide))
                    .map_err(|e| ConfigError::new(PROVIDED_FILES, e))
                    .and_then(|()| Deployment::parse(read_raw_config(env)));
                if let Err(e) = &parsed {
                    worker::console_error!("{e}");
                }
                Rc::new(parsed)
            })
            .clone()
    })
}

/// Where the entry module `portcullis init` writes for a deployment from the published package
/// puts its owner's files: an object of URL paths (`/openapi.json`) to their bytes.
const PROVIDED_FILES: &str = "__PORTCULLIS_FILES";

/// The owner's files the entry module provided (`None` when the Worker is this crate's own build).
fn provided_files() -> Result<Option<crate::assets::Provided>, String> {
    use worker::js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
    let expected = "an object of URL paths to ArrayBuffers (Data modules)";
    let value = Reflect::get(&worker::js_sys::global(), &PROVIDED_FILES.into())
        .map_err(|_| expected.to_string())?;
    if value.is_undefined() {
        return Ok(None);
    }
    let object = value
        .dyn_into::<Object>()
        .map_err(|_| expected.to_string())?;
    Object::entries(&object)
        .iter()
        .map(|entry| {
            let pair = Array::from(&entry);
            let path = pair.get(0).as_string().unwrap_or_default();
            let body = pair.get(1);
            if body.is_instance_of::<ArrayBuffer>() {
                Ok((path, Uint8Array::new(&body).to_vec()))
            } else {
                Err(format!("{expected}; {path} is not one"))
            }
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn read_raw_config(env: &Env) -> RawConfig {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    let secret = |name: &str| env.secret(name).ok().map(|v| v.to_string());
    // A `[vars.PLUGIN]` table arrives as an object; `--var PLUGIN:{...}` as a JSON string.
    let table = |name: &str| {
        env.object_var::<serde_json::Value>(name)
            .ok()
            .or_else(|| var(name).map(serde_json::Value::String))
    };
    let plugin = table("PLUGIN");
    let plugins = table("PLUGINS");
    let identity_providers = table("IDENTITY_PROVIDERS");
    let named_secrets = crate::config::referenced_secret_names(
        plugin.as_ref(),
        plugins.as_ref(),
        identity_providers.as_ref(),
    )
    .into_iter()
    .filter_map(|name| secret(&name).map(|value| (name, value)))
    .collect();
    RawConfig {
        public_base_url: var("PUBLIC_BASE_URL"),
        origin_url: var("ORIGIN_URL"),
        origin_timeout_ms: var("ORIGIN_TIMEOUT_MS"),
        plugin,
        plugins,
        identity_providers,
        upstream_token_key: secret("UPSTREAM_TOKEN_KEY"),
        stripe_secret_key: secret("STRIPE_SECRET_KEY"),
        stripe_webhook_secret: secret("STRIPE_WEBHOOK_SECRET"),
        stripe_api_base: var("STRIPE_API_BASE"),
        mail_from: var("MAIL_FROM"),
        mail_provider: var("MAIL_PROVIDER"),
        resend_api_key: secret("RESEND_API_KEY"),
        resend_api_base: var("RESEND_API_BASE"),
        turnstile_secret_key: secret("TURNSTILE_SECRET_KEY"),
        turnstile_api_base: var("TURNSTILE_API_BASE"),
        plan_cache_secs: var("PLAN_CACHE_SECS"),
        usage_flush_secs: var("USAGE_FLUSH_SECS"),
        named_secrets,
        signing_key: secret("SIGNING_KEY"),
        previous_signing_key: secret("PREVIOUS_SIGNING_KEY"),
        rsa_signing_key: secret("RSA_SIGNING_KEY"),
        previous_rsa_signing_key: secret("PREVIOUS_RSA_SIGNING_KEY"),
        service_token: secret("SERVICE_TOKEN"),
        session_secret: secret("SESSION_SECRET"),
        code_ttl_secs: var("CODE_TTL_SECS"),
        access_token_ttl_secs: var("ACCESS_TOKEN_TTL_SECS"),
        refresh_token_ttl_secs: var("REFRESH_TOKEN_TTL_SECS"),
        refresh_token_absolute_ttl_secs: var("REFRESH_TOKEN_ABSOLUTE_TTL_SECS"),
        admin_token: secret("ADMIN_TOKEN"),
        api_key_cache_secs: var("API_KEY_CACHE_SECS"),
        request_log_sample_rate: var("REQUEST_LOG_SAMPLE_RATE"),
        origin_secret: secret("ORIGIN_SECRET"),
        client_metadata_allow_loopback: var("CLIENT_METADATA_ALLOW_LOOPBACK"),
    }
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The cron trigger: refresh OpenAI's egress list when a URL for it is configured.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    purge_unused_registrations(&env).await;
    finish_interrupted_revocations(&env).await;
    purge_ended_grants(&env).await;
    let Some(url) = env.var("OPENAI_EGRESS_URL").ok().map(|v| v.to_string()) else {
        return;
    };
    if url.is_empty() {
        return;
    }
    match egress::refresh(&env, &url).await {
        Ok(count) => worker::console_log!(
            "{}",
            serde_json::json!({"event": "egress_refresh", "source": url, "prefixes": count})
        ),
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"event": "egress_refresh_failed", "source": url, "reason": e})
        ),
    }
}

/// Finishes revocations a failure interrupted between D1 and a grant's Durable Object.
async fn finish_interrupted_revocations(env: &Env) {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let repaired = match backend::EdgeBackend::new(env, now) {
        Ok(stores) => Grants::new(&stores, &stores).finish_interrupted(now).await,
        Err(e) => Err(e),
    };
    match repaired {
        Ok(r) if r.finished == 0 && r.failed == 0 => {}
        Ok(r) => worker::console_log!(
            "{}",
            serde_json::json!({"event": "revocations_finished", "finished": r.finished, "failed": r.failed})
        ),
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"event": "revocation_repair_failed", "reason": e.to_string()})
        ),
    }
}

/// Index rows the cron deletes per statement, and statements per run: 20,000 rows every six
/// hours keeps up with 80,000 grants a day; a backlog drains over the next runs.
const GRANT_PURGE_BATCH: u32 = 1_000;
const GRANT_PURGE_BATCHES: u32 = 20;

/// Deletes the index rows of grants old enough that nothing in them can be used.
async fn purge_ended_grants(env: &Env) {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let parsed = config(env);
    let Ok(deployment) = parsed.as_ref() else {
        return;
    };
    // Sites share these settings; the earliest time any of them allows is the one used. A
    // deployment with no OAuth plugin has no grants.
    let Some(created_before) = deployment
        .sites()
        .iter()
        .filter_map(|c| c.oauth.as_ref())
        .map(|o| crate::oauth::grant::index_row_ended_before(now, o.code_ttl_secs, o.refresh))
        .min()
    else {
        return;
    };
    let purged = match backend::D1Sql::new(env) {
        Ok(sql) => {
            crate::directory::SqlDirectory { sql: &sql, now }
                .purge_ended_grants(created_before, GRANT_PURGE_BATCH, GRANT_PURGE_BATCHES)
                .await
        }
        Err(e) => Err(e),
    };
    // Applied Stripe event ids past any redelivery go the same way.
    if let Ok(sql) = backend::D1Sql::new(env) {
        let directory = crate::directory::SqlDirectory { sql: &sql, now };
        if let Err(e) = directory.purge_billing_events().await {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "billing_events_purge_failed", "reason": e.to_string()})
            );
        }
    }
    match purged {
        Ok(0) => {}
        Ok(count) => worker::console_log!(
            "{}",
            serde_json::json!({"event": "grant_index_purged", "count": count})
        ),
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"event": "grant_index_purge_failed", "reason": e.to_string()})
        ),
    }
}

/// Deletes self-registered clients that never started a grant.
async fn purge_unused_registrations(env: &Env) {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let purged = match backend::D1Sql::new(env) {
        Ok(sql) => {
            crate::directory::SqlDirectory { sql: &sql, now }
                .purge_expired_clients()
                .await
        }
        Err(e) => Err(e),
    };
    match purged {
        Ok(count) => worker::console_log!(
            "{}",
            serde_json::json!({"event": "client_registrations_purged", "count": count})
        ),
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"event": "client_registration_purge_failed", "reason": e.to_string()})
        ),
    }
    purge_expired_challenges(env, now).await;
}

/// Deletes email challenges (codes and links) a day past their expiry.
async fn purge_expired_challenges(env: &Env, now: i64) {
    let purged = match backend::D1Sql::new(env) {
        Ok(sql) => {
            crate::directory::SqlDirectory { sql: &sql, now }
                .purge_expired_challenges()
                .await
        }
        Err(e) => Err(e),
    };
    match purged {
        Ok(count) => worker::console_log!(
            "{}",
            serde_json::json!({"event": "email_challenges_purged", "count": count})
        ),
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"event": "email_challenge_purge_failed", "reason": e.to_string()})
        ),
    }
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let started = worker::Date::now().as_millis();
    let request_id = random_id();
    let Some(incoming) = js::incoming(&req) else {
        let refusal = ApiError::BadRequest("the request could not be read".into()).to_reply();
        return respond(refusal, &request_id, false);
    };
    let head = &incoming.head;
    let deployment = config(&env);
    let site = match deployment.as_ref() {
        Ok(deployment) => deployment
            .site(&incoming.authority)
            .ok_or(ApiError::MisdirectedRequest),
        Err(_) => Err(ApiError::Internal("invalid configuration".into())),
    };
    let (outcome, endpoint) = match &site {
        Ok(config) => {
            let request = Incoming {
                raw: req,
                has_body: incoming.has_body,
                held_body: None,
            };
            handle(request, &env, &ctx, config, head, &request_id).await
        }
        Err(e) => (Err(e.clone()), None),
    };
    let route_name = match (&site, endpoint) {
        (Err(_), _) => "config",
        (Ok(_), None) => "none",
        (Ok(_), Some(endpoint)) => endpoint.name(),
    };
    let cors = endpoint.is_some_and(Endpoint::answers_cors);
    if let Ok(config) = &site {
        count_usage(&env, &ctx, config, endpoint, &outcome);
    }
    let (response, status, decision, reason) = answer(outcome, &request_id, cors)?;
    let method = head.method();
    let line = RequestLine {
        request_id: &request_id,
        plugin: site
            .as_ref()
            .map(|c| c.plugin.name_for_model.as_str())
            .unwrap_or(""),
        method: method.as_str(),
        route: route_name,
        decision,
        status,
        latency_ms: worker::Date::now().as_millis().saturating_sub(started),
        reason: reason.as_deref(),
    };
    let rate = site
        .as_ref()
        .map(|c| c.request_log)
        .unwrap_or(SampleRate::ALL);
    if let Some(line) = line.render(rate) {
        worker::console_log!("{line}");
    }
    Ok(response)
}

/// Usage for the console's charts: a refused proxied call by its reason (a forwarded one is
/// counted in `proxy`, which knows its user); then the usage and quota reports, when due.
fn count_usage(
    env: &Env,
    ctx: &Context,
    config: &Config,
    endpoint: Option<Endpoint>,
    outcome: &Result<Handled, ApiError>,
) {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    if let (Some(Endpoint::Proxy(rule)), Err(error)) = (endpoint, outcome) {
        usage_flush::record(config, rule, "", error.code(), now);
    }
    usage_flush::flush_if_due(env, ctx, config, now);
    quota_counter::report_if_due(env, ctx, config.usage_flush_secs, now);
}

/// The response for an endpoint's outcome, with what the request line says of it: its status,
/// the decision (`served`, `forwarded`, or the refusal's code) and a page's reason.
fn answer(
    outcome: Result<Handled, ApiError>,
    request_id: &str,
    cors: bool,
) -> worker::Result<(web_sys::Response, u16, &'static str, Option<String>)> {
    Ok(match outcome {
        Ok(Handled::Reply(mut reply)) => {
            let (status, reason) = (reply.status, reply.note.take());
            (respond(reply, request_id, cors)?, status, "served", reason)
        }
        Ok(Handled::Relayed(response)) => {
            let status = response.status();
            (response, status, "forwarded", None)
        }
        Err(error) => {
            if let Some(reason) = error.internal_reason() {
                worker::console_error!("request {request_id}: {reason}");
            }
            let code = error.code();
            let reply = error.to_reply();
            let status = reply.status;
            (respond(reply, request_id, cors)?, status, code, None)
        }
    })
}

/// A reply as the response to return, with the request id (and, for the endpoints browser-based
/// clients call, `Access-Control-Allow-Origin: *`), made in one call into JavaScript.
fn respond(reply: Reply, request_id: &str, cors: bool) -> worker::Result<web_sys::Response> {
    let extra = [("x-request-id", request_id)]
        .into_iter()
        .chain(cors.then_some(("access-control-allow-origin", "*")));
    let headers = reply
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(extra);
    let block = header_block(headers).map_err(|name| {
        worker::Error::RustError(format!("the reply's header {name} cannot be sent"))
    })?;
    js::reply(reply.status, &block, &reply.body).map_err(worker::Error::RustError)
}

/// What an endpoint produced: a reply built by the logic, or a proxied response (its headers
/// already final, the request id among them).
enum Handled {
    Reply(Reply),
    Relayed(web_sys::Response),
}

/// Routes a request and serves it: the endpoint is `None` when routing itself refused it.
async fn handle<'p>(
    req: Incoming,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &'p crate::http::RequestHead,
    request_id: &str,
) -> (Result<Handled, ApiError>, Option<Endpoint<'p>>) {
    let endpoint = match route(config, head) {
        Ok(endpoint) => endpoint,
        Err(e) => return (Err(e), None),
    };
    let outcome = dispatch(req, env, ctx, config, head, request_id, endpoint).await;
    (outcome, Some(endpoint))
}

async fn dispatch(
    req: Incoming,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &crate::http::RequestHead,
    request_id: &str,
    endpoint: Endpoint<'_>,
) -> Result<Handled, ApiError> {
    if let Some(limit) = endpoint.rate_limit(&head.method()) {
        rate_limit(env, limit.binding(), head).await?;
    }
    let outcome = match app::without_stores(config, endpoint, head) {
        Some(outcome) => {
            endpoint.check_method(&head.method())?;
            outcome?
        }
        None => {
            // The same JavaScript request (not its `clone()`), whose body is read once.
            let raw = Request::from(Clone::clone(&req.raw));
            serve_with_stores(raw, env, ctx, config, endpoint, head).await?
        }
    };
    let reply = match outcome {
        Outcome::Reply(reply) => reply,
        Outcome::Health => health::check(env).await?,
        Outcome::OpenApi => origin::openapi(config, request_id).await?,
        Outcome::Proxy(rule) => {
            return proxy(req, env, ctx, config, head, request_id, rule)
                .await
                .map(Handled::Relayed)
        }
    };
    Ok(Handled::Reply(reply))
}

/// Performs what the proxied call's steps ask for ([`crate::proxy::call`]) and feeds the
/// answers back, until the origin's answer is relayed or the call is refused.
async fn proxy(
    mut req: Incoming,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &crate::http::RequestHead,
    request_id: &str,
    rule: usize,
) -> Result<web_sys::Response, ApiError> {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let mut call = ProxiedCall::new(config, head, rule, req.has_body, now);
    let mut input = Input::Start;
    let mut answer = None;
    let rate_limit = loop {
        let next = &mut call;
        let step = VERIFIED_TOKENS.with(move |cache| next.advance(input, Some(cache)));
        input = match step {
            Step::NeedEgressRanges => Input::EgressRanges(egress::openai_ranges(env).await),
            Step::NeedApiKey(hash) => {
                let plugin = &config.plugin.name_for_model;
                let cache_secs = config.api_key_cache_secs;
                Input::ApiKey(api_keys::lookup(env, ctx, plugin, &hash, cache_secs, now).await?)
            }
            Step::NeedSignature(token, key) => {
                verify_signature(config, token, key, now).await;
                Input::SignatureAsked
            }
            Step::NeedProof(proof) => Input::Proof(accept_proof(env, &proof, now).await?),
            Step::NeedAgent(signed) => Input::Agent(check_agent(env, config, &signed, now).await?),
            Step::NeedStanding { user, fresh } => {
                Input::Standing(standing::standing(env, config, user, now, fresh).await)
            }
            Step::NeedUpstreamToken {
                provider,
                key,
                user,
            } => Input::UpstreamToken(upstream_token(env, provider, key, user, now).await?),
            Step::NeedBody { limit } => {
                // The same JavaScript request (not its `clone()`): its body is read here, once.
                let mut raw = Request::from(Clone::clone(&req.raw));
                Input::Body(read_body(&mut raw, head, limit).await)
            }
            Step::NeedCharge { key, quota, exact } => {
                Input::Charged(charge(env, &key, quota, exact, now).await)
            }
            Step::Forward(forward) => {
                req.held_body = forward.held_body;
                let (identity, headers) = (forward.identity, forward.headers);
                let sent =
                    origin::forward(&req, config, head, rule, identity, request_id, headers).await;
                if sent.is_ok() {
                    usage_flush::record(config, rule, identity.user().unwrap_or(""), "ok", now);
                }
                answered(sent, request_id, &mut answer)
            }
            Step::NeedRefund(refund) => {
                give_back(env, ctx, refund);
                Input::Refunded
            }
            Step::Done { rate_limit } => break rate_limit,
            Step::Refuse(e) => return Err(e),
        };
    };
    let mut answer = answer.ok_or_else(|| ApiError::Internal("no answer to relay".into()))?;
    for (name, value) in rate_limit.into_iter().flatten() {
        answer.set_header(name, &value);
    }
    answer.relay()
}

/// The origin's answer (kept in `answer` to relay, with the request id) as the call's next input.
fn answered(
    sent: Result<origin::Answer, ApiError>,
    request_id: &str,
    answer: &mut Option<origin::Answer>,
) -> Input {
    match sent {
        Ok(mut relayed) => {
            relayed.set_header("x-request-id", request_id);
            let (status, quota_exempt) = (relayed.status(), relayed.quota_exempt);
            *answer = Some(relayed);
            Input::Answered {
                status,
                quota_exempt,
            }
        }
        Err(e) => Input::Unanswered(e),
    }
}

/// Charges one call: from the isolate's leased calls, or (`exact`) at the counter.
async fn charge(
    env: &Env,
    key: &str,
    quota: crate::quota::Quota,
    exact: bool,
    now: i64,
) -> Result<crate::quota::QuotaDecision, ApiError> {
    if exact {
        quota_counter::charge(env, key, quota, now as u64).await
    } else {
        quota_counter::charge_leased(env, key, quota, now as u64).await
    }
}

/// The user's token at `provider` for the origin (see [`crate::federation::tokens`]).
async fn upstream_token(
    env: &Env,
    provider: &crate::federation::IdentityProvider,
    key: &crate::federation::TokenKey,
    user: &str,
    now: i64,
) -> Result<Result<String, crate::federation::tokens::NoToken>, ApiError> {
    let backend = backend::EdgeBackend::new(env, now)?;
    Ok(crate::federation::tokens::access_token_for(&backend, provider, key, user, now).await)
}

/// Has WebCrypto (native in workerd) check a token this isolate has not seen, keeping a yes in
/// the verified-token cache; if it cannot say, the call's next step falls back to wasm for an
/// Ed25519 token and refuses an RS256 one.
async fn verify_signature(
    config: &Config,
    token: &str,
    key: crate::oauth::access_token::TokenKey,
    now: i64,
) {
    if let Ok(pending) = crate::oauth::access_token::prepare_signature_check(token, &config.keys) {
        match webcrypto::verify_access_token(&pending).await {
            Ok(true) => {
                VERIFIED_TOKENS.with(|c| c.borrow_mut().insert_verified_keyed(key, pending, now))
            }
            Ok(false) => {}
            Err(e) => webcrypto::report_unavailable(&e),
        }
    }
}

/// A DPoP-bound token's proof: its signature (WebCrypto), then its `jti` in the counter Durable
/// Object, one round trip per call.
async fn accept_proof(
    env: &Env,
    proof: &crate::oauth::dpop::Proof,
    now: i64,
) -> Result<Result<(), crate::oauth::dpop::DpopError>, ApiError> {
    let store = backend::EdgeBackend::new(env, now).map_err(ApiError::from)?;
    crate::oauth::dpop::accept(&store, proof, now)
        .await
        .map_err(|e| ApiError::Unavailable(format!("DPoP proof: {e}")))
}

/// A signed agent: its key from a trusted agent's directory (cached), the signature, then its
/// nonce in the counter Durable Object.
async fn check_agent(
    env: &Env,
    config: &Config,
    call: &crate::proxy::signed_agent::SignedCall,
    now: i64,
) -> Result<crate::proxy::signed_agent::AgentCheck, ApiError> {
    let mut store = backend::EdgeBackend::new(env, now).map_err(ApiError::from)?;
    store.allow_loopback_client_metadata = config.allow_loopback_client_metadata;
    let policy = &config.plugin.agents;
    crate::proxy::signed_agent::check(&store, call, policy, now)
        .await
        .map_err(|e| ApiError::Unavailable(format!("agent signature: {e}")))
}

/// Gives a charged call back: to the isolate's leased calls, or (with `quota.exact`) to the
/// counter after responding.
fn give_back(env: &Env, ctx: &Context, refund: Refund) {
    if !refund.exact {
        quota_counter::give_back_leased(&refund.key, refund.quota, refund.charged_at);
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let refunded = quota_counter::call(
            &env,
            &refund.key,
            refund.quota,
            refund.charged_at,
            quota_counter::CounterOp::Refund,
        )
        .await;
        if let Err(e) = refunded {
            worker::console_error!("quota refund failed: {e}");
        }
    });
}

/// The authorization server and the admin API: the body read as [`app::body_to_read`] says, then
/// served through the stores.
async fn serve_with_stores(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    endpoint: Endpoint<'_>,
    head: &crate::http::RequestHead,
) -> Result<Outcome, ApiError> {
    let body = match app::body_to_read(config, endpoint, head)? {
        Some(limit) => match read_body(&mut req, head, limit).await {
            Ok(body) => body,
            Err(e) => return app::unreadable_body(config, endpoint, head, e),
        },
        None => Vec::new(),
    };
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let mut backend = backend::EdgeBackend::new(env, now)?;
    backend.allow_loopback_client_metadata = config.allow_loopback_client_metadata;
    backend.client_ip = head.client_ip().unwrap_or("unknown").to_string();
    let app = app::App {
        config,
        backend: &backend,
        sql: &backend.sql,
        now,
    };
    let outcome = app.serve(endpoint, head, &body).await;
    mail::deliver_later(env, ctx, config.mail.as_ref(), backend.outbox.take());
    if app::changes_plans(endpoint) && outcome.is_ok() {
        // A plan may have changed: this isolate reads plans again (others within their cache
        // time, or before a refusal).
        standing::forget_all();
    }
    outcome
}

/// Applies a Workers rate-limit binding keyed by the client IP. A missing binding or a failing
/// limiter lets the request through: the limits are a coarse shield, not a security boundary.
async fn rate_limit(
    env: &Env,
    binding: &str,
    head: &crate::http::RequestHead,
) -> Result<(), ApiError> {
    let Ok(limiter) = env.rate_limiter(binding) else {
        return Ok(());
    };
    let ip = head.client_ip().unwrap_or("unknown").to_string();
    match limiter.limit(ip).await {
        Ok(outcome) if !outcome.success => Err(ApiError::Throttled {
            retry_after_secs: 60,
        }),
        _ => Ok(()),
    }
}

/// Reads a small request body as it streams in, refusing it at `limit` bytes: a declared length
/// is checked before anything is read, and a chunked body is never held past the cap.
async fn read_body(
    req: &mut Request,
    head: &crate::http::RequestHead,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut reader = crate::http::BodyReader::start(head, limit)?;
    if req.inner().body().is_none() {
        return Ok(reader.finish());
    }
    let unreadable =
        |e: worker::Error| ApiError::BadRequest(format!("the request body could not be read: {e}"));
    // At a refusal the stream is dropped, which cancels the rest of the body.
    let mut stream = req.stream().map_err(unreadable)?;
    while let Some(chunk) = stream.next().await {
        reader.push(&chunk.map_err(unreadable)?)?;
    }
    Ok(reader.finish())
}

/// Discovery documents: public, cacheable for a few minutes, readable cross-origin.
/// 128 random bits in hex, for request ids.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return "unavailable".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
