//! API keys at the proxy (`user_http` plugins): looked up in D1 by the SHA-256 of the presented
//! key, then held per isolate for `API_KEY_CACHE_SECS` (60 s by default) so the hot path reads D1
//! at most once a minute per key and isolate; a revocation takes effect within that window.
//! Unknown keys are cached too, so guessing cannot turn every request into a D1 read.
//! `last_used_at` is written at most once an hour per key, after the response, never on the
//! request's critical path.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;
use worker::{Context, Env};

use super::backend::D1Sql;
use crate::error::ApiError;
use crate::gateway::ApiKeyRecord;
use crate::sql::Sql;

/// Most keys an isolate remembers; past this the cache starts over (bounded memory).
const MAX_CACHED_KEYS: usize = 10_000;
/// How stale `last_used_at` may get before it is written again.
const LAST_USED_RESOLUTION_SECS: i64 = 3600;

type Entry = (Option<ApiKeyRecord>, u64);

thread_local! {
    static CACHE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
}

/// The record for a key hash, from the isolate's cache or D1.
pub async fn lookup(
    env: &Env,
    ctx: &Context,
    key_hash: &str,
    cache_secs: u64,
    now: i64,
) -> Result<Option<ApiKeyRecord>, ApiError> {
    let now_ms = worker::Date::now().as_millis();
    let cached = CACHE.with(|c| c.borrow().get(key_hash).cloned());
    let record = match cached {
        Some((record, at)) if now_ms.saturating_sub(at) < cache_secs * 1000 => record,
        _ => {
            let record = load(env, key_hash).await?;
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= MAX_CACHED_KEYS {
                    c.clear();
                }
                c.insert(key_hash.to_string(), (record.clone(), now_ms));
            });
            record
        }
    };
    if let Some(r) = &record {
        let stale = r
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_SECS);
        if stale && !r.revoked {
            touch(env, ctx, key_hash, &r.id, now);
        }
    }
    Ok(record)
}

async fn load(env: &Env, key_hash: &str) -> Result<Option<ApiKeyRecord>, ApiError> {
    let sql = D1Sql::new(env)?;
    let rows = sql
        .query(
            "SELECT k.id, k.user_id, k.scopes, k.revoked_at, k.last_used_at, u.disabled \
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
            vec![key_hash.into()],
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("api key lookup: {e:?}")))?;
    Ok(rows.first().map(|row| {
        let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let num = |k: &str| row.get(k).and_then(Value::as_f64).map(|f| f as i64);
        ApiKeyRecord {
            id: text("id"),
            user_id: text("user_id"),
            scopes: text("scopes")
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            revoked: num("revoked_at").is_some(),
            user_disabled: num("disabled").unwrap_or(0) != 0,
            last_used_at: num("last_used_at"),
        }
    }))
}

/// Records use in the background and in the cache, so this isolate will not write again for an
/// hour.
fn touch(env: &Env, ctx: &Context, key_hash: &str, key_id: &str, now: i64) {
    CACHE.with(|c| {
        if let Some((Some(record), _)) = c.borrow_mut().get_mut(key_hash) {
            record.last_used_at = Some(now);
        }
    });
    let Ok(sql) = D1Sql::new(env) else { return };
    let key_id = key_id.to_string();
    ctx.wait_until(async move {
        let written = sql
            .batch(vec![(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                vec![key_id.as_str().into(), now.into()],
            )])
            .await;
        if let Err(e) = written {
            worker::console_error!("api key last_used_at not recorded: {e:?}");
        }
    });
}
