//! Instants read from outside: JWT time claims (`exp`, `iat`, `nbf` of client assertions, DPoP
//! proofs, ID-JAGs and ID tokens), a signed agent's `created` and `expires`, Stripe's signature
//! timestamp and event times. Each is whole seconds since the Unix epoch; one that falls outside
//! 1970 ..= 9999 is refused where it is read, so that no arithmetic on it (a lifetime, a leeway, a
//! replay store's TTL) can overflow, and nothing past what D1 and JavaScript hold exactly (2^53)
//! is stored.

/// 9999-12-31T23:59:59Z, the last instant a claim may name.
pub const LATEST_SECS: i64 = 253_402_300_799;

/// `secs` when it is an instant in 1970 ..= 9999.
pub fn epoch_secs(secs: i64) -> Option<i64> {
    (0..=LATEST_SECS).contains(&secs).then_some(secs)
}

/// A JSON number as an instant: an integer, or a finite number (RFC 7519's NumericDate may carry
/// a fraction, dropped here) in 1970 ..= 9999.
pub fn epoch_secs_json(value: &serde_json::Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return epoch_secs(n);
    }
    let f = value.as_f64().filter(|f| f.is_finite())?;
    // In range as a float first: `as` saturates, which would hide 1e300 as i64::MAX.
    (0.0..=LATEST_SECS as f64)
        .contains(&f)
        .then(|| f.trunc() as i64)
}

/// Decimal digits as an instant (Stripe's `t=`): no sign, no spaces, in 1970 ..= 9999.
pub fn epoch_secs_text(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().and_then(epoch_secs)
}

/// The extreme values every reader's property test feeds it, as JSON numbers.
#[cfg(test)]
pub fn extremes() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!(i64::MIN),
        json!(i64::MIN + 1),
        json!(-1),
        json!(0),
        json!(LATEST_SECS),
        json!(LATEST_SECS + 1),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(9.3e18),
        json!(-0.5),
        json!(1.5),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_instants_from_1970_to_9999_are_read() {
        assert_eq!(epoch_secs(0), Some(0));
        assert_eq!(epoch_secs(LATEST_SECS), Some(LATEST_SECS));
        for bad in [-1, LATEST_SECS + 1, i64::MIN, i64::MAX] {
            assert_eq!(epoch_secs(bad), None, "{bad}");
        }
        assert_eq!(epoch_secs_json(&json!(1.9)), Some(1));
        assert_eq!(epoch_secs_json(&json!(1_700_000_000)), Some(1_700_000_000));
        for bad in [
            json!(1e300),
            json!(-1e300),
            json!(u64::MAX),
            json!(-0.5),
            json!("1"),
            json!(null),
        ] {
            assert_eq!(epoch_secs_json(&bad), None, "{bad}");
        }
        assert_eq!(epoch_secs_text("1700000000"), Some(1_700_000_000));
        for bad in ["", "-1", "+1", " 1", "1e9", "9999999999999", "253402300800"] {
            assert_eq!(epoch_secs_text(bad), None, "{bad}");
        }
    }
}
