//! Quota arithmetic: fixed windows aligned to the period, counted per user per plugin.
//!
//! The counting itself happens in a Durable Object (one per user and plugin), whose single-threaded
//! execution makes a read-and-increment exact under concurrency; this module is the pure part:
//! which window a moment falls in, and what a count means for the caller.

use serde::{Deserialize, Serialize};

use crate::config::QuotaConfig;

/// The counter state the Durable Object stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Window {
    /// Start of the window, seconds since the epoch.
    pub start: u64,
    pub used: u64,
}

/// The answer to one request for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaDecision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

impl QuotaDecision {
    /// The decision as the caller sees it once its call is given back (the origin marked it
    /// exempt): one more call remaining, never more than the limit.
    pub fn refunded(self) -> QuotaDecision {
        QuotaDecision {
            remaining: (self.remaining + 1).min(self.limit),
            ..self
        }
    }
}

/// Charges one call against `window` at `now`, returning the new state and the decision.
/// A refused call does not count.
pub fn charge(quota: QuotaConfig, window: Window, now: u64) -> (Window, QuotaDecision) {
    let start = now - now % quota.period_secs;
    let mut window = if window.start == start {
        window
    } else {
        Window { start, used: 0 }
    };
    let allowed = window.used < quota.limit;
    if allowed {
        window.used += 1;
    }
    let decision = QuotaDecision {
        allowed,
        limit: quota.limit,
        remaining: quota.limit.saturating_sub(window.used),
        reset_secs: start + quota.period_secs - now,
    };
    (window, decision)
}

/// The name of a user's quota counter for a plugin.
pub fn counter_key(plugin: &str, subject: &str) -> String {
    format!("quota:{plugin}:{subject}")
}

/// What a charge would see at `now`, without counting anything.
pub fn peek(quota: QuotaConfig, window: Window, now: u64) -> QuotaDecision {
    let start = now - now % quota.period_secs;
    let used = if window.start == start {
        window.used
    } else {
        0
    };
    QuotaDecision {
        allowed: used < quota.limit,
        limit: quota.limit,
        remaining: quota.limit.saturating_sub(used),
        reset_secs: start + quota.period_secs - now,
    }
}

/// The origin's response header that asks for a call not to count against the user's quota
/// (`X-Portcullis-Quota: exempt`), for calls that failed on the origin's side, say.
pub const QUOTA_EXEMPT_HEADER: &str = "x-portcullis-quota";

/// `RateLimit-Policy` and `RateLimit` response headers (IETF draft-ietf-httpapi-ratelimit-headers).
pub fn rate_limit_headers(
    quota: QuotaConfig,
    decision: &QuotaDecision,
) -> [(&'static str, String); 2] {
    [
        (
            "ratelimit-policy",
            format!("{};w={}", quota.limit, quota.period_secs),
        ),
        (
            "ratelimit",
            format!(
                "limit={}, remaining={}, reset={}",
                decision.limit, decision.remaining, decision.reset_secs
            ),
        ),
    ]
}

/// Gives back one call (the origin marked the response as not counted).
pub fn refund(window: Window, start_of_charge: u64) -> Window {
    if window.start == start_of_charge && window.used > 0 {
        Window {
            start: window.start,
            used: window.used - 1,
        }
    } else {
        window
    }
}

/// Records a one-time key (a client assertion's `jti`) until `now + ttl_secs`, in a counter's
/// state: `start` is then when the key may be forgotten. `false` when the key is already
/// recorded and not yet forgotten: a replay.
pub fn remember_once(window: Window, ttl_secs: u64, now: u64) -> (Window, bool) {
    if window.used > 0 && now < window.start {
        return (window, false);
    }
    (
        Window {
            start: now.saturating_add(ttl_secs),
            used: 1,
        },
        true,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_refunded_call_is_remaining_again_within_the_limit() {
        let d = QuotaDecision {
            allowed: true,
            limit: 3,
            remaining: 1,
            reset_secs: 10,
        };
        assert_eq!(d.refunded().remaining, 2);
        let full = QuotaDecision { remaining: 3, ..d };
        assert_eq!(full.refunded().remaining, 3);
    }

    use super::*;

    #[test]
    fn a_remembered_key_is_a_replay_until_its_time_is_up() {
        let (w, first) = remember_once(Window::default(), 360, 1_000);
        assert!(first);
        assert_eq!(remember_once(w, 360, 1_359), (w, false));
        let (_, later) = remember_once(w, 360, 1_360);
        assert!(
            later,
            "forgotten once the assertion could no longer be used"
        );
    }

    const Q: QuotaConfig = QuotaConfig {
        limit: 3,
        period_secs: 60,
    };

    #[test]
    fn calls_count_down_then_are_refused_until_the_window_turns() {
        let mut w = Window::default();
        let mut remaining = Vec::new();
        for _ in 0..4 {
            let (next, d) = charge(Q, w, 1_000);
            w = next;
            remaining.push((d.allowed, d.remaining));
        }
        assert_eq!(remaining, vec![(true, 2), (true, 1), (true, 0), (false, 0)]);
        assert_eq!(w.used, 3, "a refused call is not counted");
        let (_, d) = charge(Q, w, 1_020);
        assert!(d.allowed, "1020 starts a new 60 s window");
    }

    #[test]
    fn reset_is_the_time_left_in_the_window() {
        let (_, d) = charge(Q, Window::default(), 1_000);
        assert_eq!(d.reset_secs, 20);
    }

    #[test]
    fn peeking_counts_nothing() {
        let (w, _) = charge(Q, Window::default(), 1_000);
        let d = peek(Q, w, 1_001);
        assert_eq!((d.allowed, d.remaining), (true, 2));
        assert_eq!(peek(Q, w, 1_100).remaining, 3, "a new window is empty");
    }

    #[test]
    fn a_refund_only_applies_to_the_window_it_was_charged_in() {
        let (w, _) = charge(Q, Window::default(), 1_000);
        assert_eq!(refund(w, w.start).used, 0);
        assert_eq!(refund(w, w.start + 60).used, 1);
    }
}
