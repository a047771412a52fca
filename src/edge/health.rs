//! `/healthz`: the gateway is up, D1 holds the schema this build expects, and Durable Objects answer.

use worker::Env;

use crate::directory::SqlDirectory;
use crate::error::ApiError;
use crate::http::Reply;

use crate::LATEST_MIGRATION;

pub async fn check(env: &Env) -> Result<Reply, ApiError> {
    let d1 = d1_status(env).await;
    let durable_objects = super::quota_counter::ping(env).await;
    let healthy = d1 == "ok" && durable_objects == "ok";
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "degraded" },
        "d1": d1,
        "durable_objects": durable_objects,
    });
    Ok(Reply::json(if healthy { 200 } else { 503 }, &body).no_store())
}

async fn d1_status(env: &Env) -> &'static str {
    let Ok(sql) = super::backend::D1Sql::new(env) else {
        return "unbound";
    };
    let latest = SqlDirectory { sql: &sql, now: 0 }.latest_migration().await;
    match latest {
        Ok(Some(name)) if name.as_str() >= LATEST_MIGRATION => "ok",
        Ok(_) => "migrations_pending",
        Err(e) => {
            worker::console_error!("health: D1 check failed: {e}");
            "unavailable"
        }
    }
}
