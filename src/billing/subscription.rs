//! What a Stripe event does to a user's subscription, and in which order events count.
//!
//! Stripe delivers events at least once and in no guaranteed order. Each is applied once (its id
//! is recorded in the same transaction that applies it), and a subscription's row only moves
//! forward in the subscription's own history: an event older than the one the row was last
//! written from changes nothing, and at the same second a cancellation stays. An event for
//! another (older) subscription of the same user does not replace an active one.

use super::stripe::SubscriptionFacts;
use super::{Plan, Standing};

/// Statuses under which the plan's benefits hold. `past_due` keeps them while Stripe retries the
/// payment (its smart retries take days); `unpaid`, `canceled`, `incomplete`,
/// `incomplete_expired` and `paused` do not.
pub const HOLDING_STATUSES: [&str; 3] = ["active", "trialing", "past_due"];

pub fn holds(status: &str) -> bool {
    HOLDING_STATUSES.contains(&status)
}

/// A subscription row as it should be written for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub plugin: String,
    pub user_id: String,
    /// The plan the subscription's price buys.
    pub plan: String,
    pub status: String,
    pub stripe_subscription: String,
    pub stripe_customer: String,
    pub current_period_end: Option<i64>,
    /// The `created` time of the event it is written from.
    pub event_created: i64,
}

/// A paid period is honoured this long past its end when no event has ended it: a
/// cancellation's event lost for good does not keep a plan forever.
pub const PERIOD_GRACE_SECS: i64 = 3 * 86_400;

/// Why an event changes no subscription row as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a subscription the gateway made (no user or plugin in its metadata).
    NotOurs,
    /// For another plugin of this deployment (its own webhook endpoint applies it).
    OtherPlugin,
    /// Its price is none of this plugin's plans.
    UnknownPrice,
}

/// The row a subscription event writes for `plugin`, whose plans are `plans`.
pub fn row_for(
    facts: &SubscriptionFacts,
    plugin: &str,
    plans: &[Plan],
    event_created: i64,
) -> Result<SubscriptionRow, Skip> {
    let (Some(user_id), Some(owner)) = (&facts.user_id, &facts.plugin) else {
        return Err(Skip::NotOurs);
    };
    if owner != plugin {
        return Err(Skip::OtherPlugin);
    }
    let plan = plans
        .iter()
        .find(|p| facts.prices.contains(&p.stripe_price))
        .ok_or(Skip::UnknownPrice)?;
    Ok(SubscriptionRow {
        plugin: plugin.to_string(),
        user_id: user_id.clone(),
        plan: plan.id.clone(),
        status: facts.status.clone(),
        stripe_subscription: facts.subscription.clone(),
        stripe_customer: facts.customer.clone(),
        current_period_end: facts.current_period_end,
        event_created,
    })
}

/// What one event changes, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing but the record that the event was seen.
    Nothing,
    /// The user is this customer at Stripe (`checkout.session.completed`).
    Customer { user_id: String, customer: String },
    /// The subscription row, with the customer (`customer.subscription.*`).
    Subscription(SubscriptionRow),
    /// `invoice.payment_failed`: an active subscription falls to `past_due`.
    PaymentFailed {
        stripe_subscription: String,
        event_created: i64,
    },
    /// A subscription event that names no plan of ours (its price was retired or changed in the
    /// billing portal, its metadata replaced): the row it once wrote still follows its status.
    Status {
        stripe_subscription: String,
        status: String,
        current_period_end: Option<i64>,
        event_created: i64,
    },
}

/// An event delivery as recorded: applied only by the delivery that first recorded its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The plugin whose webhook endpoint received it (each endpoint records its own).
    pub plugin: String,
    pub event_id: String,
    pub kind: String,
    /// Random per delivery.
    pub nonce: String,
    pub received_at: i64,
}

/// A user's subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub plan: String,
    pub status: String,
    pub stripe_customer: String,
    pub current_period_end: Option<i64>,
}

impl Subscription {
    /// Where the user stands at `now`: on the plan while its status holds and its paid period
    /// has not ended long ago, else free.
    pub fn standing(&self, now: i64) -> Standing {
        let lapsed = self
            .current_period_end
            .is_some_and(|end| now > end.saturating_add(PERIOD_GRACE_SECS));
        if holds(&self.status) && !lapsed {
            Standing::Paid(self.plan.clone())
        } else {
            Standing::Free
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans() -> Vec<Plan> {
        vec![Plan {
            id: "pro".into(),
            name: "Pro".into(),
            roles: vec![],
            quota: None,
            stripe_price: "price_pro".into(),
            includes: vec![],
        }]
    }

    fn facts() -> SubscriptionFacts {
        SubscriptionFacts {
            subscription: "sub_1".into(),
            customer: "cus_1".into(),
            status: "active".into(),
            prices: vec!["price_pro".into()],
            current_period_end: Some(2_000_000_000),
            user_id: Some("usr_1".into()),
            plugin: Some("todo".into()),
        }
    }

    #[test]
    fn a_subscription_event_names_its_user_plugin_and_plan() {
        let row = row_for(&facts(), "todo", &plans(), 10).unwrap();
        assert_eq!(
            (row.user_id.as_str(), row.plan.as_str(), row.event_created),
            ("usr_1", "pro", 10)
        );
        assert_eq!(
            row_for(&facts(), "weather", &plans(), 10),
            Err(Skip::OtherPlugin)
        );
        let foreign = SubscriptionFacts {
            user_id: None,
            ..facts()
        };
        assert_eq!(row_for(&foreign, "todo", &plans(), 10), Err(Skip::NotOurs));
        let other_price = SubscriptionFacts {
            prices: vec!["price_x".into()],
            ..facts()
        };
        assert_eq!(
            row_for(&other_price, "todo", &plans(), 10),
            Err(Skip::UnknownPrice)
        );
    }

    #[test]
    fn the_plan_holds_while_the_status_does() {
        let s = |status: &str| Subscription {
            plan: "pro".into(),
            status: status.into(),
            stripe_customer: "cus".into(),
            current_period_end: None,
        };
        for status in ["active", "trialing", "past_due"] {
            assert_eq!(
                s(status).standing(0),
                Standing::Paid("pro".into()),
                "{status}"
            );
        }
        for status in [
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
        ] {
            assert_eq!(s(status).standing(0), Standing::Free, "{status}");
        }
        // A period that ended long ago with no event to say so: the plan lapses.
        let ended = Subscription {
            current_period_end: Some(1_000),
            ..s("active")
        };
        assert_eq!(
            ended.standing(1_000 + PERIOD_GRACE_SECS),
            Standing::Paid("pro".into())
        );
        assert_eq!(ended.standing(1_001 + PERIOD_GRACE_SECS), Standing::Free);
    }
}
