//! API keys at the proxy (`user_http` plugins): the isolate's [`ApiKeyCache`] (per plugin) first, then D1
//! through the directory (a read replica first, the primary when it has no such key); a use due
//! to be recorded (at most once per key per hour) is written beside the origin fetch through
//! `wait_until`, never awaited by the request.

use std::cell::RefCell;

use worker::{Context, Env};

use super::backend::D1Sql;
use crate::directory::{api_key_by_hash_replicated, SqlDirectory};
use crate::error::ApiError;
use crate::proxy::api_key_cache::ApiKeyCache;
use crate::proxy::api_key_cache::ApiKeyRecord;

thread_local! {
    static CACHE: RefCell<ApiKeyCache> = RefCell::new(ApiKeyCache::default());
}

/// The record for a key hash presented at `plugin`, from the isolate's cache or D1.
pub async fn lookup(
    env: &Env,
    ctx: &Context,
    plugin: &str,
    key_hash: &str,
    cache_secs: u64,
    now: i64,
) -> Result<Option<ApiKeyRecord>, ApiError> {
    let now_ms = worker::Date::now().as_millis();
    let record = match CACHE.with(|c| c.borrow().fresh(plugin, key_hash, now_ms, cache_secs)) {
        Some(record) => record,
        None => {
            let (replica, primary) = (D1Sql::replica(env)?, D1Sql::new(env)?);
            let record = api_key_by_hash_replicated(
                &SqlDirectory { sql: &replica, now },
                &SqlDirectory { sql: &primary, now },
                key_hash,
            )
            .await
            .map_err(|e| ApiError::Unavailable(format!("api key lookup: {e}")))?;
            CACHE.with(|c| {
                c.borrow_mut()
                    .insert(plugin, key_hash, record.clone(), now_ms)
            });
            record
        }
    };
    if let Some(r) = &record {
        if CACHE.with(|c| c.borrow_mut().note_use(plugin, key_hash, r, now)) {
            record_use(env, ctx, &r.id, now);
        }
    }
    Ok(record)
}

fn record_use(env: &Env, ctx: &Context, key_id: &str, now: i64) {
    let Ok(sql) = D1Sql::new(env) else { return };
    let key_id = key_id.to_string();
    ctx.wait_until(async move {
        let written = SqlDirectory { sql: &sql, now }
            .record_api_key_use(&key_id, now)
            .await;
        if let Err(e) = written {
            worker::console_error!("api key last_used_at not recorded: {e}");
        }
    });
}
