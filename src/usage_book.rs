//! Usage counted for the admin console's charts without a storage write per request: each
//! isolate adds calls to a small book (by day, route, user and outcome) and hands the whole book
//! to D1 in one batch when it is old enough or full. Counts held by an isolate that stops are
//! lost; quotas, which must be exact, are counted elsewhere.

use std::collections::HashMap;

/// What one row counts: the plugin, the UTC day (`YYYY-MM-DD`), the route (the rule's path
/// pattern), the user (empty when unknown, as for a refusal before the credential was read) and
/// the outcome (`ok`, or the refusal's code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub plugin: String,
    pub day: String,
    pub route: String,
    pub user: String,
    pub outcome: String,
}

/// The most rows a book holds before it is handed over whatever its age.
pub const MAX_ROWS: usize = 500;

/// An isolate's uncounted calls.
#[derive(Debug, Default)]
pub struct UsageBook {
    rows: HashMap<UsageKey, u64>,
    /// When the oldest uncounted call was added.
    since: Option<i64>,
}

impl UsageBook {
    pub fn add(&mut self, key: UsageKey, now: i64) {
        *self.rows.entry(key).or_insert(0) += 1;
        self.since.get_or_insert(now);
    }

    /// Whether the book should be handed over now: its oldest call is `flush_secs` old, or it
    /// is full.
    pub fn due(&self, now: i64, flush_secs: i64) -> bool {
        self.rows.len() >= MAX_ROWS || self.since.is_some_and(|since| now >= since + flush_secs)
    }

    /// Empties the book: its rows, in a stable order.
    pub fn drain(&mut self) -> Vec<(UsageKey, u64)> {
        self.since = None;
        let mut rows: Vec<_> = self.rows.drain().collect();
        rows.sort();
        rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The UTC day of a Unix time, as the rows name it.
pub fn day_of(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(route: &str, outcome: &str) -> UsageKey {
        UsageKey {
            plugin: "todo".into(),
            day: day_of(1_790_000_000),
            route: route.into(),
            user: "usr_1".into(),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn calls_add_up_and_are_handed_over_when_old_or_full() {
        let mut book = UsageBook::default();
        assert!(!book.due(100, 30), "empty");
        book.add(key("/todos", "ok"), 100);
        book.add(key("/todos", "ok"), 110);
        book.add(key("/todos", "rate_limited"), 120);
        assert!(!book.due(129, 30));
        assert!(book.due(130, 30), "the oldest call is 30 s old");
        assert!(book.due(100, 0), "0: every call");
        let rows = book.drain();
        assert_eq!(
            rows,
            vec![(key("/todos", "ok"), 2), (key("/todos", "rate_limited"), 1)]
        );
        assert!(book.is_empty() && !book.due(1_000, 30));
        for i in 0..MAX_ROWS {
            book.add(key(&format!("/r{i}"), "ok"), 100);
        }
        assert!(book.due(100, 30), "full");
        assert_eq!(day_of(1_790_000_000), "2026-09-21");
    }
}
