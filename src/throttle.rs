//! Throttling of failed credentials (passwords at sign-in, client secrets at the token,
//! revocation and introspection endpoints): the keys counters are kept under, the limits, and the
//! delay a limit past its threshold asks for.
//!
//! Refusals are per *(account or client, source address)*: an address that keeps failing is
//! refused, right credential or not, and nobody else is. What is counted across all addresses is
//! never refused, only slowed: past its threshold each answer waits a little longer, up to
//! [`MAX_DELAY_MS`]. So no one can lock a user or a client out by failing on purpose, and a
//! guesser spread over many addresses still pays in time.

use std::net::IpAddr;

use crate::quota::QuotaDecision;

pub const WINDOW_SECS: u64 = 15 * 60;

/// Failed sign-ins per account and source address, after which the address is refused.
pub const LOGIN_FAILURES_PER_SOURCE: u64 = 5;
/// Failed sign-ins per source address over all accounts, after which the address is refused.
pub const LOGIN_FAILURES_PER_IP: u64 = 30;
/// Sign-in attempts on one account from anywhere, past which every attempt on it is delayed.
pub const LOGIN_ATTEMPTS_BEFORE_DELAY: u64 = 20;

/// Failed authentications per client and source address, after which the address is refused.
pub const CLIENT_FAILURES_PER_SOURCE: u64 = 20;
/// Failed authentications per client from anywhere, past which each failure is answered late.
pub const CLIENT_FAILURES_BEFORE_DELAY: u64 = 100;

/// Each count past a threshold adds this much delay…
pub const DELAY_STEP_MS: u64 = 250;
/// …up to this bound: no answer waits longer.
pub const MAX_DELAY_MS: u64 = 2000;

/// The limit to charge a delaying counter with: it stops counting once the delay is at its bound.
pub const fn delaying_limit(threshold: u64) -> u64 {
    threshold + MAX_DELAY_MS.div_ceil(DELAY_STEP_MS)
}

/// How long to wait before answering, given the charge of a delaying counter (charged with
/// [`delaying_limit`]`(threshold)`): nothing up to the threshold, then [`DELAY_STEP_MS`] per
/// count past it, never more than [`MAX_DELAY_MS`].
pub fn delay_ms(decision: &QuotaDecision, threshold: u64) -> u64 {
    let used = if decision.allowed {
        decision.limit.saturating_sub(decision.remaining)
    } else {
        decision.limit
    };
    used.saturating_sub(threshold)
        .saturating_mul(DELAY_STEP_MS)
        .min(MAX_DELAY_MS)
}

/// The source address counters are kept per: the client address as Cloudflare reports it, an
/// IPv6 address cut to its /64 (one subscriber's block: counting single IPv6 addresses would
/// give one attacker 2^64 fresh counters), and `unknown` for anything that is not an address.
pub fn source(cf_connecting_ip: Option<&str>) -> String {
    match cf_connecting_ip.and_then(|v| v.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

// Keys: the source (which has no spaces) comes first and a space ends it, so no account or client
// name can make two keys collide.

/// Failed sign-ins on one account from one source.
pub fn login_source_key(source: &str, email: &str) -> String {
    format!("login-source:{source} {}", email.to_lowercase())
}

/// Failed sign-ins from one source, any account.
pub fn login_ip_key(source: &str) -> String {
    format!("login-ip:{source}")
}

/// Sign-in attempts on one account, any source.
pub fn login_account_key(email: &str) -> String {
    format!("login-account:{}", email.to_lowercase())
}

/// Failed authentications of one client from one source.
pub fn client_source_key(source: &str, client_id: &str) -> String {
    format!("client-auth-source:{source} {client_id}")
}

/// Failed authentications of one client, any source.
pub fn client_key(client_id: &str) -> String {
    format!("client-auth:{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;
    use crate::quota::{charge, Window};

    fn delays(threshold: u64, attempts: usize) -> Vec<u64> {
        let quota = Quota {
            limit: delaying_limit(threshold),
            period_secs: WINDOW_SECS,
        };
        let mut window = Window::default();
        (0..attempts)
            .map(|_| {
                let (next, d) = charge(quota, window, 1_000);
                window = next;
                delay_ms(&d, threshold)
            })
            .collect()
    }

    #[test]
    fn there_is_no_delay_up_to_the_threshold_then_it_grows_to_its_bound_and_stays() {
        let d = delays(3, 20);
        assert_eq!(d[..3], [0, 0, 0]);
        assert_eq!(d[3..8], [250, 500, 750, 1000, 1250]);
        assert!(d[10..].iter().all(|ms| *ms == MAX_DELAY_MS), "{d:?}");
        assert!(d.iter().all(|ms| *ms <= MAX_DELAY_MS));
    }

    #[test]
    fn no_count_however_large_delays_past_the_bound() {
        for limit in [0, 1, 20, u64::MAX] {
            for remaining in [0, 1, limit] {
                for allowed in [true, false] {
                    let d = QuotaDecision {
                        allowed,
                        limit,
                        remaining,
                        reset_secs: 1,
                    };
                    assert!(delay_ms(&d, 0) <= MAX_DELAY_MS);
                }
            }
        }
    }

    #[test]
    fn ipv4_addresses_are_their_own_source() {
        assert_eq!(source(Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(source(Some(" 203.0.113.9 ")), "203.0.113.9");
        assert_ne!(source(Some("203.0.113.9")), source(Some("203.0.113.10")));
    }

    #[test]
    fn ipv6_addresses_in_one_64_are_one_source_however_they_are_spelled() {
        let spellings = [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:0db8:0001:0002:0000:0000:0000:0001",
            "2001:DB8:1:2::abcd",
        ];
        for s in spellings {
            assert_eq!(source(Some(s)), "2001:db8:1:2::/64", "{s}");
        }
        assert_ne!(
            source(Some("2001:db8:1:3::1")),
            source(Some("2001:db8:1:2::1"))
        );
        assert_eq!(
            source(Some("::ffff:203.0.113.9")),
            "203.0.113.9",
            "v4-mapped is the v4 address"
        );
    }

    #[test]
    fn anything_that_is_not_an_address_is_one_unknown_source() {
        for v in [
            None,
            Some(""),
            Some("unknown"),
            Some("1.2.3.4, 5.6.7.8"),
            Some("1.2.3.4:80"),
            Some("x y"),
        ] {
            assert_eq!(source(v), "unknown", "{v:?}");
        }
    }

    #[test]
    fn keys_of_different_sources_or_names_never_collide() {
        let sources = ["1.2.3.4", "unknown", "2001:db8::/64"];
        let names = ["a", "a b", "1.2.3.4 a", "", "A"];
        let mut seen = std::collections::HashSet::new();
        for s in sources {
            for n in names {
                assert!(seen.insert(client_source_key(s, n)), "{s} {n}");
            }
        }
        assert_eq!(
            login_source_key("1.2.3.4", "Ann@Example.com"),
            login_source_key("1.2.3.4", "ann@example.com")
        );
    }
}
