//! Which plan each user is on, as the proxy sees it: read from D1 and kept per isolate for
//! `PLAN_CACHE_SECS` (30 s by default). A refusal the plan decides (402 on a plan's route, 429 at
//! the free quota) reads it again first, so an upgrade counts at once; a cancellation counts
//! within the cache time. Such a read serves the rest of its second, so a client looping on
//! a refusal costs D1 one read per user and second, not one per call.

use std::cell::RefCell;

use crate::primitives::bounded_cache::BoundedCache;

use worker::Env;

use crate::billing::Standing;
use crate::error::ApiError;
use crate::ports::BillingStore;

/// Users an isolate remembers (see [`BoundedCache`] for what goes when full).
const MAX_CACHED: usize = 10_000;
/// A re-read before a refusal is answered from a read this recent.
const FRESH_SECS: i64 = 1;

thread_local! {
    /// By plugin and user: the standing and when it was read, for `PLAN_CACHE_SECS`.
    static STANDINGS: RefCell<BoundedCache<(String, String), (Standing, i64)>> =
        RefCell::new(BoundedCache::new(MAX_CACHED));
}

/// The user's plan at `plugin`: cached, or (`fresh`) read at most [`FRESH_SECS`] ago.
pub async fn standing(
    env: &Env,
    config: &crate::config::Config,
    user: &str,
    now: i64,
    fresh: bool,
) -> Result<Standing, ApiError> {
    let plugin = config.plugin.name_for_model.as_str();
    let ttl = config.billing.as_ref().map_or(0, |b| b.plan_cache_secs);
    let key = (plugin.to_string(), user.to_string());
    let max_age = if fresh { FRESH_SECS.min(ttl) } else { ttl };
    let cached = STANDINGS.with(|c| {
        c.borrow()
            .get(&key, now)
            .filter(|(_, at)| now < at + max_age)
            .map(|(s, _)| s.clone())
    });
    if let Some(standing) = cached {
        return Ok(standing);
    }
    let backend = super::backend::EdgeBackend::new(env, now)?;
    let standing = backend
        .subscription_of(plugin, user)
        .await?
        .map(|s| s.standing(now))
        .unwrap_or(Standing::Free);
    STANDINGS.with(|c| {
        c.borrow_mut()
            .insert(key, (standing.clone(), now), now + ttl, now)
    });
    Ok(standing)
}

/// Forgets every plan this isolate read: a Stripe webhook it applied may have changed any.
pub fn forget_all() {
    STANDINGS.with(|c| c.borrow_mut().clear());
}
