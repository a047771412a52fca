//! The isolate's usage book (see [`crate::usage_book`]): calls are added as they are answered, and
//! the book goes to D1 in one batch, after the response (`waitUntil`), once its oldest call is
//! `USAGE_FLUSH_SECS` old or it is full.

use std::cell::RefCell;

use worker::{Context, Env};

use crate::config::Config;
use crate::usage_book::{day_of, UsageBook, UsageKey};

thread_local! {
    static BOOK: RefCell<UsageBook> = RefCell::new(UsageBook::default());
    /// Today's date as the rows name it, formatted once a day, not once a call.
    static DAY: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

fn today(now: i64) -> String {
    DAY.with(|d| {
        let mut d = d.borrow_mut();
        let index = now.div_euclid(86_400);
        if d.0 != index {
            *d = (index, day_of(now));
        }
        d.1.clone()
    })
}

/// Counts one call on the rule `rule` of the plugin.
pub fn record(config: &Config, rule: usize, user: &str, outcome: &str, now: i64) {
    let Some(route) = config.plugin.routes.rule(rule).map(|r| r.pattern.clone()) else {
        return;
    };
    let key = UsageKey {
        plugin: config.plugin.name_for_model.clone(),
        day: today(now),
        route,
        user: user.to_string(),
        outcome: outcome.to_string(),
    };
    BOOK.with(|b| b.borrow_mut().add(key, now));
}

/// Hands the book to D1 after the response when it is due. A failed write loses those counts
/// (they are approximate by design) and is logged.
pub fn flush_if_due(env: &Env, ctx: &Context, config: &Config, now: i64) {
    let rows = BOOK.with(|b| {
        let mut book = b.borrow_mut();
        if book.due(now, config.usage_flush_secs) {
            book.drain()
        } else {
            Vec::new()
        }
    });
    if rows.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let written = match super::backend::D1Sql::new(&env) {
            Ok(sql) => crate::directory::SqlDirectory { sql: &sql, now }
                .add_usage(&rows)
                .await
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = written {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "usage_flush_failed", "rows": rows.len(), "reason": why})
            );
        }
    });
}
