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

/// The most calls one lease hands an isolate.
pub const MAX_LEASE: u64 = 64;

/// The share of what remains that one lease may take: a lease is at most 1/64 of the calls left
/// in the window, so it shrinks to single calls (exact counting) for the last 128, and for
/// quotas under 128 a window.
pub const LEASE_DIVISOR: u64 = 64;

/// Calls a counter hands out at once to an isolate, counted as used when handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Calls handed out: 0 when the window has none left.
    pub granted: u64,
    /// The counter after the lease: `remaining` excludes the calls just leased.
    pub decision: QuotaDecision,
}

/// Leases calls from `window` at `now`: up to `max`, and never more than 1/[`LEASE_DIVISOR`] of
/// what remains (at least one while any remain). Every call leased counts as used, so the calls
/// admitted across all isolates never exceed the limit; calls an isolate leased and never used
/// are lost to the window (the bound is in [`LeaseBook`]).
pub fn lease(quota: QuotaConfig, window: Window, now: u64, max: u64) -> (Window, Lease) {
    let start = now - now % quota.period_secs;
    let mut window = if window.start == start {
        window
    } else {
        Window { start, used: 0 }
    };
    let remaining = quota.limit.saturating_sub(window.used);
    let granted = if remaining == 0 {
        0
    } else {
        (remaining / LEASE_DIVISOR).clamp(1, max.max(1))
    };
    window.used += granted;
    let decision = QuotaDecision {
        allowed: granted > 0,
        limit: quota.limit,
        remaining: quota.limit.saturating_sub(window.used),
        reset_secs: start + quota.period_secs - now,
    };
    (window, Lease { granted, decision })
}

/// Most counters one isolate holds leases for; past this, leases of past windows are dropped,
/// then all of them (their calls are lost to their windows, never over-admitted).
pub const MAX_LEASE_KEYS: usize = 10_000;

/// The calls an isolate holds, per counter, for the current window.
///
/// Bound: leased calls count as used when leased, so a window never admits more than its limit
/// (no over-admission). Under-admission: a user can be refused while isolates hold calls they
/// leased and did not use; each isolate holds at most [`MAX_LEASE`] − 1 per counter, and at most
/// 1/[`LEASE_DIVISOR`] of what remained when it leased, so near the limit nothing is held.
#[derive(Debug, Default)]
pub struct LeaseBook {
    held: std::collections::HashMap<String, Held>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    window_start: u64,
    /// Calls leased and not yet used.
    left: u64,
    /// What the counter had left after the last lease (other isolates' use since is unknown).
    remaining_at_counter: u64,
}

impl LeaseBook {
    /// One call from the calls held for `key` in the window `now` falls in, if any.
    pub fn take(&mut self, key: &str, quota: QuotaConfig, now: u64) -> Option<QuotaDecision> {
        let start = now - now % quota.period_secs;
        let held = self.held.get_mut(key).filter(|h| h.window_start == start)?;
        if held.left == 0 {
            return None;
        }
        held.left -= 1;
        Some(QuotaDecision {
            allowed: true,
            limit: quota.limit,
            remaining: held.remaining_at_counter + held.left,
            reset_secs: start + quota.period_secs - now,
        })
    }

    /// Keeps what a lease granted beyond the one call its requester makes now, and returns the
    /// decision for that call. `None` when the lease granted nothing.
    pub fn keep(
        &mut self,
        key: &str,
        quota: QuotaConfig,
        now: u64,
        lease: &Lease,
    ) -> Option<QuotaDecision> {
        if lease.granted == 0 {
            return None;
        }
        let start = now - now % quota.period_secs;
        if !self.held.contains_key(key) && self.held.len() >= MAX_LEASE_KEYS {
            self.held
                .retain(|_, h| h.window_start == start && h.left > 0);
            if self.held.len() >= MAX_LEASE_KEYS {
                self.held.clear();
            }
        }
        let held = self.held.entry(key.to_string()).or_insert(Held {
            window_start: start,
            left: 0,
            remaining_at_counter: 0,
        });
        if held.window_start != start {
            *held = Held {
                window_start: start,
                left: 0,
                remaining_at_counter: 0,
            };
        }
        held.left += lease.granted - 1;
        held.remaining_at_counter = lease.decision.remaining;
        Some(QuotaDecision {
            allowed: true,
            limit: quota.limit,
            remaining: held.remaining_at_counter + held.left,
            reset_secs: lease.decision.reset_secs,
        })
    }

    /// Gives one call back (the origin marked it exempt) to the calls held for the window it was
    /// charged in. `false` when that window has passed: nothing to give back to.
    pub fn give_back(&mut self, key: &str, quota: QuotaConfig, charged_at: u64) -> bool {
        let start = charged_at - charged_at % quota.period_secs;
        match self.held.get_mut(key) {
            Some(held) if held.window_start == start => {
                held.left += 1;
                true
            }
            _ => false,
        }
    }

    /// Calls held, across counters: what this isolate could still admit without asking.
    pub fn held_calls(&self) -> u64 {
        self.held.values().map(|h| h.left).sum()
    }
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

    fn leased_quota(limit: u64) -> super::QuotaConfig {
        super::QuotaConfig {
            limit,
            period_secs: 3600,
        }
    }

    #[test]
    fn a_lease_is_a_sixty_fourth_of_what_remains_and_single_calls_near_the_end() {
        use super::{lease, Window, MAX_LEASE};
        let q = leased_quota(1_000_000);
        let (w, l) = lease(q, Window::default(), 7200, MAX_LEASE);
        assert_eq!((l.granted, w.used, l.decision.remaining), (64, 64, 999_936));
        let small = leased_quota(100);
        let (_, l) = lease(small, Window::default(), 7200, MAX_LEASE);
        assert_eq!(
            l.granted, 1,
            "under 128 left, every call is counted on its own"
        );
        let (w, l) = lease(
            leased_quota(200),
            Window {
                start: 7200,
                used: 190,
            },
            7200,
            MAX_LEASE,
        );
        assert_eq!((l.granted, w.used), (1, 191));
        let (w, l) = lease(
            small,
            Window {
                start: 7200,
                used: 100,
            },
            7300,
            MAX_LEASE,
        );
        assert_eq!((l.granted, l.decision.allowed, w.used), (0, false, 100));
        assert_eq!(l.decision.reset_secs, 3500);
        let (w, l) = lease(
            small,
            Window {
                start: 3600,
                used: 100,
            },
            7300,
            MAX_LEASE,
        );
        assert_eq!((l.granted, w.start, w.used), (1, 7200, 1), "a new window");
        let (_, l) = lease(q, Window::default(), 7200, 1);
        assert_eq!(l.granted, 1, "max 1 is exact counting");
    }

    /// Isolates leasing from one counter in any interleaving: never more admitted than the limit,
    /// and once every isolate has asked and been refused, fewer only by what isolates still hold.
    #[test]
    fn leases_never_over_admit_and_under_admit_only_what_isolates_hold() {
        use super::{lease, LeaseBook, Window, MAX_LEASE};
        for limit in [1, 2, 30, 127, 128, 1000, 5000, 100_000] {
            for isolates in [1usize, 2, 7, 30] {
                let q = leased_quota(limit);
                let mut window = Window::default();
                let mut books: Vec<LeaseBook> =
                    (0..isolates).map(|_| LeaseBook::default()).collect();
                let mut admitted = 0u64;
                let mut refused_everywhere = vec![false; isolates];
                // A deterministic but uneven arrival order: isolate i gets a request when the
                // sequence says so, some far more often than others.
                let mut seed = limit ^ (isolates as u64) << 32 | 1;
                for _ in 0..(limit * 3 + 200) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = ((seed % 97) as usize * (seed % 97) as usize) % isolates;
                    if books[i].take("k", q, 7200).is_some() {
                        admitted += 1;
                        continue;
                    }
                    let (next, l) = lease(q, window, 7200, MAX_LEASE);
                    window = next;
                    if books[i].keep("k", q, 7200, &l).is_some() {
                        admitted += 1;
                    } else {
                        refused_everywhere[i] = true;
                    }
                }
                let held: u64 = books.iter().map(LeaseBook::held_calls).sum();
                assert!(
                    admitted <= limit,
                    "limit {limit}, {isolates} isolates: admitted {admitted}"
                );
                assert_eq!(
                    window.used,
                    admitted + held,
                    "every leased call is admitted or held"
                );
                assert!(
                    held <= isolates as u64 * (MAX_LEASE - 1),
                    "limit {limit}, {isolates} isolates: {held} held"
                );
                if refused_everywhere.iter().all(|r| *r) {
                    assert_eq!(window.used, limit, "the counter is spent");
                }
            }
        }
    }

    #[test]
    fn a_held_call_given_back_is_used_again_in_its_window_only() {
        use super::{lease, LeaseBook, Window, MAX_LEASE};
        let q = leased_quota(10_000);
        let mut book = LeaseBook::default();
        let (_, l) = lease(q, Window::default(), 7200, MAX_LEASE);
        let first = book.keep("k", q, 7200, &l).unwrap();
        assert_eq!(first.remaining, 10_000 - 1);
        assert_eq!(book.held_calls(), l.granted - 1);
        assert!(book.give_back("k", q, 7200));
        assert_eq!(book.held_calls(), l.granted);
        assert_eq!(book.take("k", q, 7201).unwrap().remaining, 10_000 - 1);
        assert!(!book.give_back("k", q, 3600), "a past window");
        assert_eq!(
            book.take("k", q, 10_800),
            None,
            "the next window holds nothing"
        );
        assert!(!book.give_back("other", q, 7200));
    }
}
