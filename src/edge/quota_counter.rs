//! The `QuotaCounter` Durable Object: one instance per user and plugin, counting calls in fixed
//! windows. Its SQLite storage is read and written synchronously inside one request, and a
//! Durable Object runs one request at a time between awaits, so each charge is an atomic
//! read-modify-write: counts stay exact under any concurrency
//! (<https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/>).

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, SqlStorageValue,
    State,
};

use crate::config::QuotaConfig;
use crate::error::ApiError;
use crate::quota::{charge as charge_window, QuotaDecision, Window};

const BINDING: &str = "QUOTA";

#[derive(Serialize, Deserialize)]
struct ChargeRequest {
    limit: u64,
    period_secs: u64,
    now: u64,
    /// Read the counter without counting (throttles check before they charge).
    #[serde(default)]
    peek: bool,
}

#[durable_object(fetch)]
pub struct QuotaCounter {
    state: State,
}

impl DurableObject for QuotaCounter {
    fn new(state: State, _env: Env) -> Self {
        QuotaCounter { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS quota_window (id INTEGER PRIMARY KEY CHECK (id = 1), start INTEGER NOT NULL, used INTEGER NOT NULL)",
            None,
        )?;
        if req.method() == Method::Get {
            return Response::ok("ok");
        }
        let ask: ChargeRequest = req.json().await?;
        let quota = QuotaConfig {
            limit: ask.limit,
            period_secs: ask.period_secs.max(1),
        };
        let rows: Vec<Window> = sql
            .exec("SELECT start, used FROM quota_window WHERE id = 1", None)?
            .to_array()?;
        let current = rows.into_iter().next().unwrap_or_default();
        let (next, decision) = charge_window(quota, current, ask.now);
        if ask.peek {
            // What a charge would see, without keeping it: `remaining` counts the calls left.
            let start = ask.now - ask.now % quota.period_secs;
            let used = if current.start == start {
                current.used
            } else {
                0
            };
            return Response::from_json(&QuotaDecision {
                allowed: used < quota.limit,
                limit: quota.limit,
                remaining: quota.limit.saturating_sub(used),
                reset_secs: decision.reset_secs,
            });
        }
        if next != current {
            sql.exec(
                "INSERT INTO quota_window (id, start, used) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET start = excluded.start, used = excluded.used",
                vec![
                    SqlStorageValue::Integer(next.start as i64),
                    SqlStorageValue::Integer(next.used as i64),
                ],
            )?;
        }
        Response::from_json(&decision)
    }
}

/// Charges one call to `key`'s counter; `Err` is the 429 (or 503 when the object fails).
pub async fn charge(env: &Env, key: &str, quota: QuotaConfig, now: u64) -> Result<(), ApiError> {
    let decision = call(env, key, quota, now, false)
        .await
        .map_err(|e| ApiError::Unavailable(format!("quota counter: {e}")))?;
    if decision.allowed {
        Ok(())
    } else {
        Err(ApiError::TooManyRequests {
            retry_after_secs: decision.reset_secs,
            limit: decision.limit,
            period_secs: quota.period_secs,
        })
    }
}

/// One counter operation, for throttles: `peek` reads, otherwise one event is counted.
pub async fn call(
    env: &Env,
    key: &str,
    quota: QuotaConfig,
    now: u64,
    peek: bool,
) -> worker::Result<QuotaDecision> {
    let stub = env.durable_object(BINDING)?.get_by_name(key)?;
    let body = serde_json::to_string(&ChargeRequest {
        limit: quota.limit,
        period_secs: quota.period_secs,
        now,
        peek,
    })?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://quota/charge", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "status {}",
            resp.status_code()
        )));
    }
    resp.json().await
}

/// For `/healthz`: does a Durable Object answer?
pub async fn ping(env: &Env) -> &'static str {
    let Ok(namespace) = env.durable_object(BINDING) else {
        return "unbound";
    };
    let Ok(stub) = namespace.get_by_name("healthcheck") else {
        return "unavailable";
    };
    match stub.fetch_with_str("https://quota/ping").await {
        Ok(resp) if resp.status_code() == 200 => "ok",
        _ => "unavailable",
    }
}
