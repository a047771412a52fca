//! Subscriptions, Stripe customers and applied webhook events in D1 (migration 0016).
//!
//! An event is applied in one batch: its id is recorded with a random nonce (nothing if the id
//! is there already), and every statement that applies it runs only where that nonce is the
//! recorded one, so of two deliveries of one event exactly one changes anything. A subscription
//! row moves only forward in its subscription's history (`event_created`; at the same second a
//! cancellation stays), and an event for another subscription of the same user replaces the row
//! only when it holds the plan or the row does not.

use super::{n, opt_s, s, store_error, SqlDirectory};
use crate::billing::subscription::{Change, Delivery, Subscription};
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

impl<S: Sql> BillingStore for SqlDirectory<'_, S> {
    async fn subscription_of(
        &self,
        plugin: &str,
        user_id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let rows = self
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
        let id: SqlValue = delivery.event_id.as_str().into();
        let nonce: SqlValue = delivery.nonce.as_str().into();
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO billing_events (plugin, id, nonce, type, received_at) VALUES (?5, ?1, ?2, ?3, ?4) ON CONFLICT (plugin, id) DO NOTHING",
            vec![
                id.clone(),
                nonce.clone(),
                delivery.kind.as_str().into(),
                delivery.received_at.into(),
                delivery.plugin.as_str().into(),
            ],
        )];
        let customer = |user_id: &str, customer: &str| -> Statement {
            (
                "INSERT INTO billing_customers (user_id, stripe_customer, updated_at) \
                 SELECT ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2) \
                 AND EXISTS (SELECT 1 FROM users WHERE id = ?3) \
                 ON CONFLICT (user_id) DO UPDATE SET stripe_customer = excluded.stripe_customer, updated_at = excluded.updated_at",
                vec![id.clone(), nonce.clone(), user_id.into(), customer.into(), now.into()],
            )
        };
        match change {
            Change::Nothing => {}
            Change::Customer { user_id, customer: c } => statements.push(customer(user_id, c)),
            Change::Subscription(row) => {
                statements.push(customer(&row.user_id, &row.stripe_customer));
                statements.push((
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
                    vec![
                        id.clone(),
                        nonce.clone(),
                        row.plugin.as_str().into(),
                        row.user_id.as_str().into(),
                        row.plan.as_str().into(),
                        row.status.as_str().into(),
                        row.stripe_subscription.as_str().into(),
                        row.stripe_customer.as_str().into(),
                        row.current_period_end.into(),
                        row.event_created.into(),
                        now.into(),
                    ],
                ));
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
                vec![
                    id.clone(),
                    nonce.clone(),
                    stripe_subscription.as_str().into(),
                    status.as_str().into(),
                    (*current_period_end).into(),
                    (*event_created).into(),
                    now.into(),
                ],
            )),
            Change::PaymentFailed {
                stripe_subscription,
                event_created,
            } => statements.push((
                "UPDATE subscriptions SET status = 'past_due', event_created = ?4, updated_at = ?5 \
                 WHERE stripe_subscription = ?3 AND status IN ('active', 'trialing') AND event_created <= ?4 \
                 AND EXISTS (SELECT 1 FROM billing_events WHERE id = ?1 AND nonce = ?2)",
                vec![id.clone(), nonce.clone(), stripe_subscription.as_str().into(), (*event_created).into(), now.into()],
            )),
        }
        let changed = self.sql.batch(statements).await.map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}
