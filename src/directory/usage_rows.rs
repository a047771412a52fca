//! Usage rows (migration 0017): added in batches from the isolates' books, read as the admin
//! console's charts; and a plugin's subscribers by plan.

use super::{n, s, SqlDirectory};
use crate::sql::{Row, Sql, SqlError, Statement};
use crate::usage_book::UsageKey;

impl<S: Sql> SqlDirectory<'_, S> {
    /// Adds a book's counts to the day's rows, in one batch.
    pub async fn add_usage(&self, rows: &[(UsageKey, u64)]) -> Result<(), SqlError> {
        if rows.is_empty() {
            return Ok(());
        }
        let statements: Vec<Statement> = rows
            .iter()
            .map(|(k, calls)| {
                (
                    "INSERT INTO usage_daily (plugin, day, route, user_id, outcome, calls) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (plugin, day, route, user_id, outcome) DO UPDATE SET calls = calls + excluded.calls",
                    vec![
                        k.plugin.as_str().into(),
                        k.day.as_str().into(),
                        k.route.as_str().into(),
                        k.user.as_str().into(),
                        k.outcome.as_str().into(),
                        (*calls as i64).into(),
                    ],
                )
            })
            .collect();
        self.sql.batch(statements).await.map(drop)
    }

    /// Calls that reached the origin, per day and route, since `since_day`.
    pub async fn usage_by_day(&self, plugin: &str, since_day: &str) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT day, route, SUM(calls) AS calls FROM usage_daily \
                 WHERE plugin = ?1 AND day >= ?2 AND outcome = 'ok' GROUP BY day, route ORDER BY day, route",
                vec![plugin.into(), since_day.into()],
            )
            .await
    }

    /// The users with the most calls since `since_day`, with their emails.
    pub async fn top_users(
        &self,
        plugin: &str,
        since_day: &str,
        limit: i64,
    ) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT u.user_id, COALESCE(us.email, '') AS email, SUM(u.calls) AS calls FROM usage_daily u \
                 LEFT JOIN users us ON us.id = u.user_id \
                 WHERE u.plugin = ?1 AND u.day >= ?2 AND u.outcome = 'ok' AND u.user_id <> '' \
                 GROUP BY u.user_id ORDER BY calls DESC, u.user_id LIMIT ?3",
                vec![plugin.into(), since_day.into(), limit.into()],
            )
            .await
    }

    /// Refused calls by reason since `since_day`.
    pub async fn refusals(&self, plugin: &str, since_day: &str) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT outcome, SUM(calls) AS calls FROM usage_daily \
                 WHERE plugin = ?1 AND day >= ?2 AND outcome <> 'ok' GROUP BY outcome ORDER BY calls DESC, outcome",
                vec![plugin.into(), since_day.into()],
            )
            .await
    }

    /// The plugin's subscribers (every subscription row, newest change first), one page.
    pub async fn subscribers(&self, plugin: &str, limit: i64) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT s.user_id, COALESCE(u.email, '') AS email, s.plan, s.status, s.current_period_end, s.updated_at \
                 FROM subscriptions s LEFT JOIN users u ON u.id = s.user_id WHERE s.plugin = ?1 \
                 ORDER BY s.updated_at DESC, s.user_id LIMIT ?2",
                vec![plugin.into(), limit.into()],
            )
            .await
    }
}

/// A row's text and number columns, for the admin API's JSON.
pub fn text(row: &Row, key: &str) -> String {
    s(row, key)
}

pub fn number(row: &Row, key: &str) -> i64 {
    n(row, key).unwrap_or(0)
}
