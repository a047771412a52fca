//! `/admin/api/usage` (the console's charts) and `/admin/api/subscribers`.

use serde_json::{json, Value};

use super::{ok, sql_error, Admin};
use crate::directory::usage_rows::{number, text};
use crate::directory::SqlDirectory;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::Sql;

/// The longest span the charts read, in days.
pub const MAX_USAGE_DAYS: i64 = 90;

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    fn usage_store(&self) -> SqlDirectory<'_, S> {
        SqlDirectory {
            sql: self.sql,
            now: self.now,
        }
    }

    /// `GET /admin/api/usage?days=14`: calls per day and route, the top users, refusals by
    /// reason, over the last `days` (1 to 90) UTC days.
    pub(crate) async fn usage(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let days = head
            .query
            .as_deref()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "days"))
            .map(|(_, v)| {
                v.parse::<i64>()
                    .ok()
                    .filter(|d| (1..=MAX_USAGE_DAYS).contains(d))
            })
            .unwrap_or(Some(14))
            .ok_or_else(|| {
                ApiError::Validation(vec![(
                    "days".into(),
                    format!("a whole number from 1 to {MAX_USAGE_DAYS}"),
                )])
            })?;
        let since = crate::usage_book::day_of(self.now - (days - 1) * 86_400);
        let store = self.usage_store();
        let by_day = store
            .usage_by_day(self.plugin, &since)
            .await
            .map_err(sql_error)?;
        let top = store
            .top_users(self.plugin, &since, 10)
            .await
            .map_err(sql_error)?;
        let refused = store
            .refusals(self.plugin, &since)
            .await
            .map_err(sql_error)?;
        let by_day: Vec<Value> = by_day
            .iter()
            .map(|r| json!({"day": text(r, "day"), "route": text(r, "route"), "calls": number(r, "calls")}))
            .collect();
        let top: Vec<Value> = top
            .iter()
            .map(|r| json!({"user_id": text(r, "user_id"), "email": text(r, "email"), "calls": number(r, "calls")}))
            .collect();
        let refused: Vec<Value> = refused
            .iter()
            .map(|r| json!({"reason": text(r, "outcome"), "calls": number(r, "calls")}))
            .collect();
        ok(
            200,
            json!({"since": since, "days": days, "by_day": by_day, "top_users": top, "refused": refused}),
        )
    }

    /// `GET /admin/api/subscribers`: the plugin's subscriptions (up to 500, newest change first)
    /// and how many hold each plan now.
    pub(crate) async fn subscribers(&self) -> Result<Reply, ApiError> {
        let rows = self
            .usage_store()
            .subscribers(self.plugin, 500)
            .await
            .map_err(sql_error)?;
        let mut by_plan: std::collections::BTreeMap<String, i64> =
            std::collections::BTreeMap::new();
        let items: Vec<Value> = rows
            .iter()
            .map(|r| {
                let status = text(r, "status");
                if crate::billing::subscription::holds(&status) {
                    *by_plan.entry(text(r, "plan")).or_insert(0) += 1;
                }
                json!({
                    "user_id": text(r, "user_id"),
                    "email": text(r, "email"),
                    "plan": text(r, "plan"),
                    "status": status,
                    "current_period_end": r.get("current_period_end").cloned().unwrap_or(Value::Null),
                    "updated_at": number(r, "updated_at"),
                })
            })
            .collect();
        ok(200, json!({"items": items, "holding_by_plan": by_plan}))
    }
}
