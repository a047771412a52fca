//! Plans and payments (issue 17): what a plugin sells, who holds which plan, and Stripe.
//!
//! - A plugin's **plans** (`plans` in its table) each name the roles a subscriber gets, the quota
//!   per period, and the Stripe price that buys it; a user with no paid plan is on the free plan
//!   (the plugin's own `quota`). A route rule with `plan = "pro"` needs that plan (402 without).
//! - **Stripe** sells them: the gateway creates Checkout and billing-portal sessions through
//!   Stripe's HTTP API ([`stripe`]), and applies its webhook events once each, in the order of the
//!   subscription's own history ([`subscription`]).
//!
//! `mod.rs`, [`stripe`] and [`subscription`] are pure; storage is the [`crate::ports::BillingStore`]
//! port's, Stripe's API the [`crate::ports::Upstream`] port's. The handlers that perform them are
//! endpoints (`docs/architecture.md`, "Layers"): [`webhook`] (Stripe's webhook), [`pages`] (upgrade,
//! Checkout, billing portal) and [`stripe_api`] (their calls to Stripe).

pub mod pages;
pub mod stripe;
pub mod stripe_api;
pub mod subscription;
pub mod webhook;

use crate::quota::Quota;

/// The plan every user without a paid one is on.
pub const FREE_PLAN: &str = "free";

/// A paid plan of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Lower-case letters, digits and `-` (`pro`); never `free`.
    pub id: String,
    /// What the account page and the upgrade page call it.
    pub name: String,
    /// Role names a subscriber holds while the plan is active (in the next token).
    pub roles: Vec<String>,
    /// The subscriber's quota; `None`: the plugin's own.
    pub quota: Option<Quota>,
    /// The Stripe price (`price_…`) Checkout sells it with.
    pub stripe_price: String,
    /// Other plans whose routes this one opens too (a `team` plan that includes `pro`).
    pub includes: Vec<String>,
}

/// Which plan a user is on for the proxy's decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Free,
    Paid(String),
}

impl Standing {
    pub fn plan_id(&self) -> &str {
        match self {
            Standing::Free => FREE_PLAN,
            Standing::Paid(id) => id,
        }
    }

    /// Whether a route that needs `plan` lets this user through: their plan is it, or includes
    /// it.
    pub fn holds(&self, plan: &str, plans: &[Plan]) -> bool {
        let mine = self.plan_id();
        mine == plan
            || plans
                .iter()
                .any(|p| p.id == mine && p.includes.iter().any(|i| i == plan))
    }
}

/// The quota that applies to a user with `standing`: their plan's, else the plugin's.
pub fn quota_for(plans: &[Plan], standing: &Standing, free: Option<Quota>) -> Option<Quota> {
    match standing {
        Standing::Paid(id) => plans
            .iter()
            .find(|p| p.id == *id)
            .and_then(|p| p.quota)
            .or(free),
        Standing::Free => free,
    }
}

/// The path a user is sent to for a plan (`/billing/upgrade?plan=pro`).
pub const UPGRADE_PATH: &str = "/billing/upgrade";
pub const CHECKOUT_PATH: &str = "/billing/checkout";
pub const PORTAL_PATH: &str = "/billing/portal";
pub const WEBHOOK_PATH: &str = "/billing/stripe/webhook";

pub fn upgrade_url(base_url: &str, plan: &str) -> String {
    format!("{base_url}{UPGRADE_PATH}?plan={plan}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pro() -> Plan {
        Plan {
            id: "pro".into(),
            name: "Pro".into(),
            roles: vec!["member".into()],
            quota: Some(Quota {
                limit: 10_000,
                period_secs: 86_400,
            }),
            stripe_price: "price_pro".into(),
            includes: vec![],
        }
    }

    #[test]
    fn the_quota_is_the_plans_or_else_the_plugins() {
        let free = Some(Quota {
            limit: 100,
            period_secs: 86_400,
        });
        let plans = [pro()];
        assert_eq!(
            quota_for(&plans, &Standing::Paid("pro".into()), free)
                .unwrap()
                .limit,
            10_000
        );
        assert_eq!(quota_for(&plans, &Standing::Free, free).unwrap().limit, 100);
        assert_eq!(
            quota_for(&plans, &Standing::Paid("gone".into()), free)
                .unwrap()
                .limit,
            100
        );
        let no_quota = Plan {
            quota: None,
            ..pro()
        };
        assert_eq!(
            quota_for(&[no_quota], &Standing::Paid("pro".into()), free)
                .unwrap()
                .limit,
            100
        );
        let team = Plan {
            id: "team".into(),
            stripe_price: "price_team".into(),
            includes: vec!["pro".into()],
            ..pro()
        };
        let plans = [pro(), team];
        assert!(Standing::Paid("pro".into()).holds("pro", &plans));
        assert!(
            Standing::Paid("team".into()).holds("pro", &plans),
            "team includes pro"
        );
        assert!(!Standing::Paid("pro".into()).holds("team", &plans));
        assert!(!Standing::Free.holds("pro", &plans));
    }
}
