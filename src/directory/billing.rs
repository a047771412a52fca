//! Subscriptions, Stripe customers and applied webhook events in D1 (migration 0016).
//!
//! An event is applied in one batch: its id is recorded with a random nonce (nothing if the id
//! is there already), and every statement that applies it runs only where that nonce is the
//! recorded one, so of two deliveries of one event exactly one changes anything. A subscription
//! row moves only forward in its subscription's history (`event_created`; at the same second a
//! cancellation stays), and an event for another subscription of the same user replaces the row
//! only when it holds the plan or the row does not.

use super::{n, opt_s, s, store_error, HasDirectory, SqlDirectory};
use crate::billing::subscription::{Change, Delivery, Subscription, SubscriptionRow};
use crate::ports::{BillingStore, StoreError};
use crate::sql::{Sql, SqlValue, Statement};

/// How long an applied event id is remembered: Stripe retries a delivery for three days.
pub const BILLING_EVENT_MEMORY_SECS: i64 = 30 * 86_400;

impl<S: Sql> SqlDirectory<'_, S> {
    /// Forgets applied event ids older than [`BILLING_EVENT_MEMORY_SECS`] (the cron); how many.
    pub async fn purge_billing_events(&self) -> Result<u64, StoreError> {
        let changed = self
            .sql
            .batch(vec![(
                "DELETE FROM billing_events WHERE received_at < ?1",
                vec![(self.now - BILLING_EVENT_MEMORY_SECS).into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0))
    }
}

impl<D: HasDirectory> BillingStore for D {
    async fn subscription_of(
        &self,
        plugin: &str,
        user_id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT plan, status, stripe_customer, current_period_end FROM subscriptions WHERE plugin = ?1 AND user_id = ?2",
                vec![plugin.into(), user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(|r| Subscription {
            plan: s(r, "plan"),
            status: s(r, "status"),
            stripe_customer: s(r, "stripe_customer"),
            current_period_end: n(r, "current_period_end"),
        }))
    }

    async fn customer_of(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT stripe_customer FROM billing_customers WHERE user_id = ?1",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(|r| opt_s(r, "stripe_customer")))
    }

    async fn apply_billing_event(
        &self,
        delivery: &Delivery,
        change: &Change,
        now: i64,
    ) -> Result<bool, StoreError> {
        let statements = billing_event_statements(delivery, change, now);
        let changed = self
            .directory()
            .sql
            .batch(statements)
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}

/// The batch that applies one delivery: the event's id recorded with the delivery's nonce
/// (nothing if the id is there already), then the statements of `change`, each of which runs
/// only where that nonce is the recorded one.
fn billing_event_statements(delivery: &Delivery, change: &Change, now: i64) -> Vec<Statement> {
    let once = Once {
        id: delivery.event_id.as_str().into(),
        nonce: delivery.nonce.as_str().into(),
    };
    let mut statements: Vec<Statement> = vec![(
        "INSERT INTO billing_events (plugin, id, nonce, type, received_at) VALUES (?5, ?1, ?2, ?3, ?4) ON CONFLICT (plugin, id) DO NOTHING",
        vec![
            once.id.clone(),
            once.nonce.clone(),
            delivery.kind.as_str().into(),
            delivery.received_at.into(),
            delivery.plugin.as_str().into(),
        ],
    )];
    match change {
        Change::Nothing => {}
        Change::Customer { user_id, customer } => {
            statements.push(once.customer(user_id, customer, now))
        }
        Change::Subscription(row) => {
            statements.push(once.customer(&row.user_id, &row.stripe_customer, now));
            statements.push(once.subscription(row, now));
        }
        Change::Status {
            stripe_subscription,
            status,
            current_period_end,
            event_created,
        } => statements.push((
            "UPDATE subscriptions SET status = ?4, current_period_end = COALESCE(?5, current_period_end), \
             event_created = ?6, updated_at = ?7 \
             WHERE stripe_subscription = ?3 \
             AND (event_created < ?6 OR (event_created = ?6 AND status <> 'canceled')) \
             AND EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2)",
            once.params(vec![
                stripe_subscription.as_str().into(),
                status.as_str().into(),
                (*current_period_end).into(),
                (*event_created).into(),
                now.into(),
            ]),
        )),
        Change::PaymentFailed {
            stripe_subscription,
            event_created,
        } => statements.push((
            "UPDATE subscriptions SET status = 'past_due', event_created = ?4, updated_at = ?5 \
             WHERE stripe_subscription = ?3 AND status IN ('active', 'trialing') AND event_created <= ?4 \
             AND EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2)",
            once.params(vec![
                stripe_subscription.as_str().into(),
                (*event_created).into(),
                now.into(),
            ]),
        )),
    }
    statements
}

/// The event's id and the delivery's nonce: `?1` and `?2` of every statement that applies it.
struct Once {
    id: SqlValue,
    nonce: SqlValue,
}

impl Once {
    /// `?1`, `?2`, then `rest` from `?3`.
    fn params(&self, rest: Vec<SqlValue>) -> Vec<SqlValue> {
        let mut all = vec![self.id.clone(), self.nonce.clone()];
        all.extend(rest);
        all
    }

    /// The user's Stripe customer, recorded (or replaced) if the user still exists.
    fn customer(&self, user_id: &str, customer: &str, now: i64) -> Statement {
        (
            "INSERT INTO billing_customers (user_id, stripe_customer, updated_at) \
         SELECT ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2) \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?3) \
         ON CONFLICT (user_id) DO UPDATE SET stripe_customer = excluded.stripe_customer, updated_at = excluded.updated_at",
            self.params(vec![user_id.into(), customer.into(), now.into()]),
        )
    }

    /// The subscription's row, moved only forward in its history, and replaced by another
    /// subscription of the same user only when that one holds the plan or the row does not.
    fn subscription(&self, row: &SubscriptionRow, now: i64) -> Statement {
        (
            "INSERT INTO subscriptions (plugin, user_id, plan, status, stripe_subscription, stripe_customer, current_period_end, event_created, updated_at) \
             SELECT ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
             WHERE EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2) AND EXISTS (SELECT 1 FROM users WHERE id = ?4) \
             ON CONFLICT (plugin, user_id) DO UPDATE SET plan = excluded.plan, status = excluded.status, \
               stripe_subscription = excluded.stripe_subscription, stripe_customer = excluded.stripe_customer, \
               current_period_end = excluded.current_period_end, event_created = excluded.event_created, updated_at = excluded.updated_at \
             WHERE (excluded.event_created > subscriptions.event_created \
                    OR (excluded.event_created = subscriptions.event_created AND subscriptions.status <> 'canceled' \
                        AND NOT (subscriptions.status IN ('active', 'trialing', 'past_due') \
                                 AND excluded.status IN ('incomplete', 'incomplete_expired')))) \
               AND (excluded.stripe_subscription = subscriptions.stripe_subscription \
                    OR excluded.status IN ('active', 'trialing', 'past_due') \
                    OR subscriptions.status NOT IN ('active', 'trialing', 'past_due'))",
            self.params(vec![
                row.plugin.as_str().into(),
                row.user_id.as_str().into(),
                row.plan.as_str().into(),
                row.status.as_str().into(),
                row.stripe_subscription.as_str().into(),
                row.stripe_customer.as_str().into(),
                row.current_period_end.into(),
                row.event_created.into(),
                now.into(),
            ]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            plugin: "todo".into(),
            event_id: "evt_1".into(),
            kind: "customer.subscription.updated".into(),
            nonce: "n1".into(),
            received_at: 100,
        }
    }

    #[test]
    fn every_statement_of_a_delivery_is_bound_to_its_event_and_nonce() {
        let change = Change::PaymentFailed {
            stripe_subscription: "sub_1".into(),
            event_created: 90,
        };
        let statements = billing_event_statements(&delivery(), &change, 100);
        assert_eq!(statements.len(), 2);
        assert!(statements[0].0.starts_with("INSERT INTO billing_events"));
        for (_, params) in &statements {
            assert_eq!(params[..2], [SqlValue::from("evt_1"), SqlValue::from("n1")]);
        }
        assert_eq!(
            statements[1].1[2..],
            [
                SqlValue::from("sub_1"),
                SqlValue::from(90i64),
                SqlValue::from(100i64)
            ]
        );
    }

    #[test]
    fn nothing_to_change_still_records_the_event() {
        let statements = billing_event_statements(&delivery(), &Change::Nothing, 100);
        assert_eq!(statements.len(), 1);
        assert!(statements[0].0.starts_with("INSERT INTO billing_events"));
    }

    #[test]
    fn a_subscription_records_its_customer_first() {
        let row = SubscriptionRow {
            plugin: "todo".into(),
            user_id: "usr_a".into(),
            plan: "pro".into(),
            status: "active".into(),
            stripe_subscription: "sub_1".into(),
            stripe_customer: "cus_1".into(),
            current_period_end: Some(200),
            event_created: 90,
        };
        let statements = billing_event_statements(&delivery(), &Change::Subscription(row), 100);
        let kinds: Vec<&str> = statements.iter().map(|(sql, _)| &sql[..28]).collect();
        assert_eq!(
            kinds,
            [
                "INSERT INTO billing_events (",
                "INSERT INTO billing_customer",
                "INSERT INTO subscriptions (p"
            ]
        );
        assert_eq!(
            statements[1].1[2..4],
            [SqlValue::from("usr_a"), SqlValue::from("cus_1")]
        );
    }
}
