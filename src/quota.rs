//! Quota arithmetic: fixed windows aligned to the period, counted per user per plugin.
//!
//! The counting itself happens in a Durable Object (one per user and plugin), whose single-threaded
//! execution makes a read-and-increment exact under concurrency; this module is the pure part:
//! which window a moment falls in, and what a count means for the caller.
//!
//! A counter knows two numbers: the calls it counted against the limit (`used`: charged, or
//! leased to isolates in batches) and, of those, the calls known to have been made (`made`).
//! People are shown calls made ([`QuotaUsage::calls`]); the batches are how the limit is kept
//! without a round trip per call, and stay out of sight.

use serde::{Deserialize, Serialize};

/// Calls a user may make per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub period_secs: u64,
}

/// The counter state the Durable Object stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Window {
    /// Start of the window, seconds since the epoch.
    pub start: u64,
    /// Calls counted against the limit: charged, or leased to isolates and not given back.
    pub used: u64,
    /// Of `used`, the calls known to have been made: charged ones, and leased ones their isolate
    /// reported (see [`Report`]). Never more than `used`; 0 in counters stored before it was kept.
    #[serde(default)]
    pub made: u64,
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
pub fn charge(quota: Quota, window: Window, now: u64) -> (Window, QuotaDecision) {
    let start = now - now % quota.period_secs;
    let mut window = if window.start == start {
        window
    } else {
        Window {
            start,
            used: 0,
            made: 0,
        }
    };
    let allowed = window.used < quota.limit;
    if allowed {
        window.used += 1;
        window.made += 1;
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
pub fn peek(quota: Quota, window: Window, now: u64) -> QuotaDecision {
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
pub fn rate_limit_headers(quota: Quota, decision: &QuotaDecision) -> [(&'static str, String); 2] {
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

/// Whether a proxied call's outcome gives its quota back: the origin marked the response as not
/// counted, or the caller got no answer from the API (the gateway's 502 or 504 when the origin
/// could not be reached, answered with no final response or too slowly, or the same statuses
/// from the origin's own proxy in front of an API that is down).
pub fn gives_back(status: u16, origin_exempted: bool) -> bool {
    origin_exempted || matches!(status, 502 | 504)
}

/// Gives back one call (the origin marked the response as not counted).
pub fn refund(window: Window, start_of_charge: u64) -> Window {
    if window.start == start_of_charge && window.used > 0 {
        Window {
            start: window.start,
            used: window.used - 1,
            made: window.made.saturating_sub(1),
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
            made: 1,
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

/// What an isolate tells its counter about the calls it leased from the window `now` falls in:
/// how many it made since it last told (negative when calls it had told of were given back,
/// exempt), and how many it held unused and gives back (`released`), which it no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Report {
    #[serde(default)]
    pub made: i64,
    #[serde(default)]
    pub released: u64,
}

/// Applies an isolate's report to `window` at `now`; a report for a window that has passed
/// changes nothing (its calls went with it).
pub fn report(quota: Quota, window: Window, now: u64, report: Report) -> Window {
    let start = now - now % quota.period_secs;
    if window.start != start || report == Report::default() {
        return window;
    }
    let used = window.used.saturating_sub(report.released);
    let made = window.made.saturating_add_signed(report.made).min(used);
    Window { start, used, made }
}

/// A counter's window as people are shown it: the calls made, and the limit's reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub limit: u64,
    /// Calls known to have been made.
    pub made: u64,
    /// Calls counted against the limit: `made`, and calls leased to isolates that have not said
    /// whether they made them (a bound on what they made; more than `made` only then).
    pub counted: u64,
    pub reset_secs: u64,
}

/// The calls made in a window, as far as they can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Every call counted is known to have been made, or not.
    Exactly(u64),
    /// Some isolates hold calls they have not reported yet: the count is no larger than this.
    AtMost(u64),
}

impl Calls {
    pub fn count(self) -> u64 {
        match self {
            Calls::Exactly(n) | Calls::AtMost(n) => n,
        }
    }
}

impl std::fmt::Display for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Calls::Exactly(n) => write!(f, "{n}"),
            Calls::AtMost(n) => write!(f, "at most {n}"),
        }
    }
}

impl QuotaUsage {
    /// Calls made this window: exact once every isolate holding calls of it has reported.
    pub fn calls(&self) -> Calls {
        if self.made >= self.counted {
            Calls::Exactly(self.made)
        } else {
            Calls::AtMost(self.counted)
        }
    }

    /// Calls the window still gives, at least (isolates may hold a few more).
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.counted)
    }
}

/// What `window` means for people at `now`, without counting anything.
pub fn usage(quota: Quota, window: Window, now: u64) -> QuotaUsage {
    let seen = peek(quota, window, now);
    let current = window.start == now - now % quota.period_secs;
    QuotaUsage {
        limit: quota.limit,
        made: if current { window.made } else { 0 },
        counted: if current { window.used } else { 0 },
        reset_secs: seen.reset_secs,
    }
}

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
/// admitted across all isolates never exceed the limit; the first is the requester's, made now,
/// and counts as made. Calls an isolate leased and never used are lost to the window unless it
/// gives them back ([`Report`]; the bound is in [`LeaseBook`]).
pub fn lease(quota: Quota, window: Window, now: u64, max: u64) -> (Window, Lease) {
    let start = now - now % quota.period_secs;
    let mut window = if window.start == start {
        window
    } else {
        Window {
            start,
            used: 0,
            made: 0,
        }
    };
    let remaining = quota.limit.saturating_sub(window.used);
    let granted = if remaining == 0 {
        0
    } else {
        (remaining / LEASE_DIVISOR).clamp(1, max.max(1))
    };
    window.used += granted;
    window.made += granted.min(1);
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

/// The most counters one round of reports tells ([`LeaseBook::drain_reports`]); the rest wait
/// for the next round.
pub const MAX_REPORTS: usize = 64;

/// The calls an isolate holds, per counter, for the current window, and what it has not yet told
/// the counter.
///
/// Bound: leased calls count as used when leased, so a window never admits more than its limit
/// (no over-admission). Under-admission: a user can be refused while isolates hold calls they
/// leased and did not use; each isolate holds at most [`MAX_LEASE`] − 1 per counter, and at most
/// 1/[`LEASE_DIVISOR`] of what remained when it leased, so near the limit nothing is held; and it
/// gives what it holds back with its next reports.
///
/// Leases start at one call and double while they are used up (to [`MAX_LEASE`]), so a user who
/// makes a few calls leases no more than they make. What the isolate made of its leases it tells
/// the counter with its next lease, and in reports ([`LeaseBook::drain_reports`]) that also
/// give back what it holds: once they are in, the counter knows the calls made exactly.
#[derive(Debug, Default)]
pub struct LeaseBook {
    held: std::collections::HashMap<String, Held>,
    /// When the oldest thing not yet reported happened.
    since: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    quota: Quota,
    window_start: u64,
    /// Calls leased and not yet used.
    left: u64,
    /// What the counter had left after the last lease (other isolates' use since is unknown).
    remaining_at_counter: u64,
    /// Calls made from leases and not yet told to the counter (less calls given back).
    unreported: i64,
    /// What the next lease asks for.
    next_ask: u64,
    /// What the last lease granted.
    last_granted: u64,
}

fn window_start(quota: Quota, now: u64) -> u64 {
    now - now % quota.period_secs
}

impl LeaseBook {
    /// One call from the calls held for `key` in the window `now` falls in, if any.
    pub fn take(&mut self, key: &str, quota: Quota, now: u64) -> Option<QuotaDecision> {
        let start = window_start(quota, now);
        let held = self.held.get_mut(key).filter(|h| h.window_start == start)?;
        if held.left == 0 {
            return None;
        }
        held.left -= 1;
        held.unreported += 1;
        self.since.get_or_insert(now);
        Some(QuotaDecision {
            allowed: true,
            limit: quota.limit,
            remaining: held.remaining_at_counter + held.left,
            reset_secs: start + quota.period_secs - now,
        })
    }

    /// What the next lease of `key` asks for (the most calls) and tells (the calls made since
    /// the last word, which are then told). Give the report back with [`LeaseBook::untell`] if
    /// the lease fails.
    pub fn ask(&mut self, key: &str, quota: Quota, now: u64) -> (u64, Report) {
        let start = window_start(quota, now);
        match self.held.get_mut(key).filter(|h| h.window_start == start) {
            Some(held) => {
                let made = std::mem::take(&mut held.unreported);
                (
                    held.next_ask.clamp(1, MAX_LEASE),
                    Report { made, released: 0 },
                )
            }
            None => (1, Report::default()),
        }
    }

    /// Takes back a report that did not reach the counter: it goes with the next one.
    pub fn untell(&mut self, key: &str, quota: Quota, now: u64, report: Report) {
        let start = window_start(quota, now);
        if let Some(held) = self.held.get_mut(key).filter(|h| h.window_start == start) {
            held.unreported += report.made;
            held.left += report.released;
            self.since.get_or_insert(now);
        }
    }

    /// Keeps what a lease granted beyond the one call its requester makes now, and returns the
    /// decision for that call. `None` when the lease granted nothing.
    pub fn keep(
        &mut self,
        key: &str,
        quota: Quota,
        now: u64,
        lease: &Lease,
    ) -> Option<QuotaDecision> {
        if lease.granted == 0 {
            return None;
        }
        let start = window_start(quota, now);
        if !self.held.contains_key(key) && self.held.len() >= MAX_LEASE_KEYS {
            self.held
                .retain(|_, h| h.window_start == start && (h.left > 0 || h.unreported != 0));
            if self.held.len() >= MAX_LEASE_KEYS {
                self.held.clear();
            }
        }
        let fresh = Held {
            quota,
            window_start: start,
            left: 0,
            remaining_at_counter: 0,
            unreported: 0,
            next_ask: 1,
            last_granted: 0,
        };
        let held = self.held.entry(key.to_string()).or_insert(fresh);
        if held.window_start != start {
            *held = fresh;
        }
        held.quota = quota;
        held.left += lease.granted - 1;
        held.remaining_at_counter = lease.decision.remaining;
        held.last_granted = lease.granted;
        held.next_ask = lease.granted.saturating_mul(2).min(MAX_LEASE);
        if held.left > 0 {
            self.since.get_or_insert(now);
        }
        Some(QuotaDecision {
            allowed: true,
            limit: quota.limit,
            remaining: held.remaining_at_counter + held.left,
            reset_secs: lease.decision.reset_secs,
        })
    }

    /// Gives one call back (the origin marked it exempt) to the calls held for the window it was
    /// charged in. `false` when that window has passed: nothing to give back to.
    pub fn give_back(&mut self, key: &str, quota: Quota, charged_at: u64) -> bool {
        let start = window_start(quota, charged_at);
        match self.held.get_mut(key) {
            Some(held) if held.window_start == start => {
                held.left += 1;
                held.unreported -= 1;
                self.since.get_or_insert(charged_at);
                true
            }
            _ => false,
        }
    }

    /// Whether reports are due: the oldest call not yet told of is `after_secs` old.
    pub fn reports_due(&self, now: u64, after_secs: u64) -> bool {
        self.since
            .is_some_and(|since| now >= since.saturating_add(after_secs))
    }

    /// Up to [`MAX_REPORTS`] reports for counters of the current window, each telling the calls
    /// made since the last word and giving back the calls held, which the book then no longer
    /// holds; counters of past windows are forgotten. The next lease of a counter asks for what
    /// its last lease saw used.
    pub fn drain_reports(&mut self, now: u64) -> Vec<(String, Quota, Report)> {
        self.held
            .retain(|_, h| h.window_start == window_start(h.quota, now));
        let mut reports = Vec::new();
        let mut more = false;
        for (key, held) in &mut self.held {
            if held.unreported == 0 && held.left == 0 {
                continue;
            }
            if reports.len() == MAX_REPORTS {
                more = true;
                break;
            }
            let report = Report {
                made: std::mem::take(&mut held.unreported),
                released: std::mem::take(&mut held.left),
            };
            held.next_ask = held
                .last_granted
                .saturating_sub(report.released)
                .clamp(1, MAX_LEASE);
            held.remaining_at_counter += report.released;
            reports.push((key.clone(), held.quota, report));
        }
        self.since = more.then_some(now);
        reports
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

    const Q: Quota = Quota {
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

    fn leased_quota(limit: u64) -> super::Quota {
        super::Quota {
            limit,
            period_secs: 3600,
        }
    }

    fn at(start: u64, used: u64) -> Window {
        Window {
            start,
            used,
            made: used,
        }
    }

    #[test]
    fn a_lease_is_a_sixty_fourth_of_what_remains_and_single_calls_near_the_end() {
        let q = leased_quota(1_000_000);
        let (w, l) = lease(q, Window::default(), 7200, MAX_LEASE);
        assert_eq!((l.granted, w.used, l.decision.remaining), (64, 64, 999_936));
        assert_eq!(w.made, 1, "the requester's call is made; the rest are held");
        let small = leased_quota(100);
        let (_, l) = lease(small, Window::default(), 7200, MAX_LEASE);
        assert_eq!(
            l.granted, 1,
            "under 128 left, every call is counted on its own"
        );
        let (w, l) = lease(leased_quota(200), at(7200, 190), 7200, MAX_LEASE);
        assert_eq!((l.granted, w.used), (1, 191));
        let (w, l) = lease(small, at(7200, 100), 7300, MAX_LEASE);
        assert_eq!((l.granted, l.decision.allowed, w.used), (0, false, 100));
        assert_eq!(l.decision.reset_secs, 3500);
        let (w, l) = lease(small, at(3600, 100), 7300, MAX_LEASE);
        assert_eq!(
            (l.granted, w.start, w.used, w.made),
            (1, 7200, 1, 1),
            "a new window"
        );
        let (_, l) = lease(q, Window::default(), 7200, 1);
        assert_eq!(l.granted, 1, "max 1 is exact counting");
    }

    /// One isolate's side of a lease: ask, the counter applies the report and leases, the
    /// isolate keeps the lease (or takes a call leased alongside).
    fn lease_through(
        book: &mut LeaseBook,
        window: &mut Window,
        q: Quota,
        now: u64,
    ) -> Option<QuotaDecision> {
        if let Some(d) = book.take("k", q, now) {
            return Some(d);
        }
        let (max, told) = book.ask("k", q, now);
        let (next, l) = lease(q, report(q, *window, now, told), now, max);
        *window = next;
        book.keep("k", q, now, &l)
            .or_else(|| book.take("k", q, now))
    }

    #[test]
    fn leases_start_at_one_call_and_double_while_used_up() {
        let q = leased_quota(1_000_000);
        let mut book = LeaseBook::default();
        let mut window = Window::default();
        let mut grants = Vec::new();
        for _ in 0..200 {
            let before = window.used;
            lease_through(&mut book, &mut window, q, 7200).unwrap();
            if window.used != before {
                grants.push(window.used - before);
            }
        }
        assert_eq!(grants, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(book.held_calls(), 255 - 200);
        let mut one = LeaseBook::default();
        let mut w = Window::default();
        lease_through(&mut one, &mut w, q, 7200).unwrap();
        assert_eq!(
            (w.used, w.made),
            (1, 1),
            "one call is one call, known exactly"
        );
    }

    #[test]
    fn a_report_tells_the_calls_made_and_gives_back_the_calls_held() {
        let q = leased_quota(1_000_000);
        let mut book = LeaseBook::default();
        let mut window = Window::default();
        for _ in 0..5 {
            lease_through(&mut book, &mut window, q, 7200).unwrap();
        }
        // Leases of 1, 2 and 4: 7 counted, 4 told (each lease's first, and the take before the
        // third), 1 made and not yet told, 2 held.
        assert_eq!((window.used, window.made), (7, 4));
        assert_eq!(
            usage(q, window, 7200).calls(),
            Calls::AtMost(7),
            "isolates have not told all"
        );
        assert!(!book.reports_due(7229, 30));
        assert!(book.reports_due(7230, 30));
        let reports = book.drain_reports(7230);
        assert_eq!(
            reports,
            vec![(
                "k".to_string(),
                q,
                Report {
                    made: 1,
                    released: 2
                }
            )]
        );
        for (_, q, r) in reports {
            window = report(q, window, 7230, r);
        }
        assert_eq!((window.used, window.made), (5, 5));
        assert_eq!(usage(q, window, 7230).calls(), Calls::Exactly(5));
        assert!(book.drain_reports(7231).is_empty(), "nothing more to tell");
        assert!(!book.reports_due(100_000, 30));
        // The next lease asks for what the last saw used (2 of 4), then doubles.
        assert_eq!(book.ask("k", q, 7240), (2, Report::default()));
        // A report for a window that has passed changes nothing.
        let told = Report {
            made: 3,
            released: 1,
        };
        assert_eq!(report(q, window, 10_800, told), window);
    }

    #[test]
    fn a_call_given_back_after_it_was_told_is_taken_back_in_the_next_report() {
        let q = leased_quota(1_000_000);
        let mut book = LeaseBook::default();
        let mut window = Window::default();
        for _ in 0..3 {
            lease_through(&mut book, &mut window, q, 7200).unwrap();
        }
        for (_, q, r) in book.drain_reports(7200) {
            window = report(q, window, 7200, r);
        }
        assert_eq!((window.used, window.made), (3, 3));
        // The third call's origin answers "exempt" after the report went out.
        assert!(book.give_back("k", q, 7200));
        let reports = book.drain_reports(7201);
        assert_eq!(
            reports[0].2,
            Report {
                made: -1,
                released: 1
            }
        );
        window = report(q, window, 7201, reports[0].2);
        assert_eq!((window.used, window.made), (2, 2));
    }

    #[test]
    fn usage_is_exact_when_every_call_counted_is_known_and_else_at_most_the_count() {
        let q = leased_quota(100);
        let exact = usage(q, at(7200, 12), 7300);
        assert_eq!(
            (exact.calls(), exact.remaining(), exact.reset_secs),
            (Calls::Exactly(12), 88, 3500)
        );
        assert_eq!(exact.calls().to_string(), "12");
        let held = usage(
            q,
            Window {
                start: 7200,
                used: 64,
                made: 1,
            },
            7300,
        );
        assert_eq!(held.calls(), Calls::AtMost(64));
        assert_eq!(held.calls().to_string(), "at most 64");
        assert_eq!(
            usage(q, at(3600, 12), 7300).calls(),
            Calls::Exactly(0),
            "a new window"
        );
        let (charged, _) = charge(q, Window::default(), 7200);
        assert_eq!(usage(q, charged, 7200).calls(), Calls::Exactly(1));
        assert_eq!(
            usage(q, refund(charged, 7200), 7200).calls(),
            Calls::Exactly(0)
        );
    }

    /// Isolates leasing from one counter in any interleaving, some reporting now and then:
    /// never more admitted than the limit; once every isolate has asked and been refused, fewer
    /// only by what isolates still hold; and once every isolate has reported, the counter knows
    /// exactly the calls made.
    #[test]
    fn leases_never_over_admit_under_admit_only_what_isolates_hold_and_reports_make_it_exact() {
        for limit in [1, 2, 30, 127, 128, 1000, 5000, 100_000] {
            for isolates in [1usize, 2, 7, 30] {
                let q = leased_quota(limit);
                let mut window = Window::default();
                let mut books: Vec<LeaseBook> =
                    (0..isolates).map(|_| LeaseBook::default()).collect();
                let mut admitted = 0u64;
                let mut refused_everywhere = vec![false; isolates];
                // A deterministic but uneven arrival order: isolate i gets a request when the
                // sequence says so, some far more often than others; now and then one reports.
                let mut seed = limit ^ (isolates as u64) << 32 | 1;
                for _ in 0..(limit * 3 + 200) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = ((seed % 97) as usize * (seed % 97) as usize) % isolates;
                    if seed.is_multiple_of(89) {
                        for (_, q, r) in books[i].drain_reports(7200) {
                            window = report(q, window, 7200, r);
                        }
                    }
                    if lease_through(&mut books[i], &mut window, q, 7200).is_some() {
                        admitted += 1;
                        refused_everywhere[i] = false;
                    } else {
                        refused_everywhere[i] = true;
                    }
                    assert!(window.made <= admitted && admitted <= window.used);
                }
                let held: u64 = books.iter().map(LeaseBook::held_calls).sum();
                assert!(
                    admitted <= limit,
                    "limit {limit}, {isolates} isolates: admitted {admitted}"
                );
                assert!(
                    held <= isolates as u64 * (MAX_LEASE - 1),
                    "limit {limit}, {isolates} isolates: {held} held"
                );
                if refused_everywhere.iter().all(|r| *r) {
                    assert_eq!(window.used, limit, "the counter is spent");
                }
                for book in &mut books {
                    for (_, q, r) in book.drain_reports(7200) {
                        window = report(q, window, 7200, r);
                    }
                }
                assert_eq!(
                    (window.made, window.used),
                    (admitted, admitted),
                    "limit {limit}, {isolates} isolates: every call told, every held one back"
                );
                assert_eq!(usage(q, window, 7200).calls(), Calls::Exactly(admitted));
            }
        }
    }

    #[test]
    fn a_held_call_given_back_is_used_again_in_its_window_only() {
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
        assert!(
            book.drain_reports(10_800).is_empty(),
            "a past window's calls are not told"
        );
    }

    #[test]
    fn a_call_that_reached_no_api_is_given_back() {
        assert!(gives_back(502, false) && gives_back(504, false));
        assert!(gives_back(200, true));
        for status in [200, 201, 204, 400, 401, 404, 429, 500, 503] {
            assert!(!gives_back(status, false), "{status}");
        }
    }
}
