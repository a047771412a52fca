//! One proxied call, after its caller is known: the refusals its plan, quota and upstream
//! token make.

use crate::config::Config;
use crate::error::ApiError;
use crate::proxy::credential::unauthorized;

/// A route that needs `plan`, called by someone without it: 402, naming the plan and where to get
/// it, in a body an assistant can relay.
pub fn plan_required(config: &Config, plan: &str) -> ApiError {
    let name = config
        .plugin
        .plans
        .iter()
        .find(|p| p.id == plan)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| plan.to_string());
    ApiError::PaymentRequired {
        plan: plan.to_string(),
        plan_name: name,
        upgrade_url: crate::billing::upgrade_url(&config.public_base_url, plan),
    }
}

/// A spent quota, told where more is sold: the upgrade page, when a plan the user is not on
/// gives a larger quota than theirs.
pub fn with_upgrade_link(
    config: &Config,
    standing: &crate::billing::Standing,
    error: ApiError,
) -> ApiError {
    let ApiError::TooManyRequests {
        retry_after_secs,
        limit,
        period_secs,
        ..
    } = error
    else {
        return error;
    };
    let better = config.plugin.plans.iter().find(|p| {
        // Only the free plan is offered more here: a subscriber changes plans in the billing
        // portal. A larger quota is one with a higher rate.
        *standing == crate::billing::Standing::Free
            && p.quota.is_some_and(|q| {
                u128::from(q.limit) * u128::from(period_secs)
                    > u128::from(limit) * u128::from(q.period_secs)
            })
    });
    ApiError::TooManyRequests {
        retry_after_secs,
        limit,
        period_secs,
        upgrade_url: better.map(|p| crate::billing::upgrade_url(&config.public_base_url, &p.id)),
    }
}

/// A route that forwards the user's token at a provider, when none can be had: 401 with
/// `invalid_token` when none is kept (the client's new authorization sends the user through the
/// provider's sign-in again), 503 when the provider could not be reached to refresh it.
pub fn upstream_token_refusal(
    config: &Config,
    provider_name: &str,
    why: &crate::federation::tokens::NoToken,
) -> ApiError {
    match why {
        crate::federation::tokens::NoToken::NotKept => unauthorized(
            config,
            "Bearer",
            Some("invalid_token"),
            &format!("this call needs the user's {provider_name} account: authorize again and sign in with {provider_name}"),
        ),
        crate::federation::tokens::NoToken::Unavailable(reason) => {
            ApiError::Unavailable(format!("upstream token refresh: {reason}"))
        }
    }
}
