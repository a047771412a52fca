//! Stripe, as far as the gateway speaks it: the webhook signature, the events that change a
//! subscription, and the Checkout and billing-portal sessions it creates (form-encoded, as
//! Stripe's API takes them).
//!
//! The webhook signature (`Stripe-Signature: t=…,v1=…[,v1=…]`) is HMAC-SHA256 with the
//! endpoint's signing secret over `{t}.{raw body}`, compared in constant time; the timestamp must
//! be within five minutes of now (Stripe's own libraries' tolerance), and any of several `v1`
//! values may match (Stripe signs with both secrets while one is rolled). Several configured
//! secrets are tried as well, for the same rotation on our side.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::primitives::secret::{constant_time_eq, Secret};

/// How far the signature's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// The largest webhook body read (Stripe's events are a few KiB).
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
/// Stripe's API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Why a webhook was refused (every one is 400 and changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Stale,
    NoMatch,
}

impl SignatureError {
    pub fn describe(self) -> &'static str {
        match self {
            SignatureError::Missing => "no Stripe-Signature header",
            SignatureError::Malformed => "the Stripe-Signature header is malformed",
            SignatureError::Stale => "the signature's timestamp is more than five minutes from now",
            SignatureError::NoMatch => "no signature matches",
        }
    }
}

/// Checks a webhook's `Stripe-Signature` against the body and the configured secrets.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secrets: &[Secret],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    // As Stripe's own libraries read it: parts that are not `key=value`, and `v1` values that
    // are not a SHA-256 in hex, are skipped, not fatal.
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "t" => return Err(SignatureError::Malformed),
            "v1" => signatures.extend(hex_decode(value)),
            _ => {} // v0 (test mode's legacy scheme) and anything newer are not ours to check.
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds = crate::primitives::time::epoch_secs_text(t).ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    if now.abs_diff(seconds) > SIGNATURE_TOLERANCE_SECS as u64 {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            continue;
        };
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        if signatures.iter().any(|s| constant_time_eq(s, &expected)) {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The signature Stripe would send for `body` at `t` (for the demo's stand-in and tests).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// Metadata keys the gateway puts on what it creates at Stripe, so events name their user.
pub const META_USER: &str = "portcullis_user";
pub const META_PLUGIN: &str = "portcullis_plugin";

/// What an event says about a subscription, as the gateway applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFacts {
    pub subscription: String,
    pub customer: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …).
    pub status: String,
    /// The prices it is for.
    pub prices: Vec<String>,
    pub current_period_end: Option<i64>,
    /// From the metadata the gateway set at Checkout.
    pub user_id: Option<String>,
    pub plugin: Option<String>,
}

/// A webhook event the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `checkout.session.completed` of a subscription session the gateway made (its metadata
    /// names the user and the plugin): who paid, as which customer.
    CheckoutCompleted {
        user_id: String,
        plugin: String,
        customer: String,
        subscription: Option<String>,
    },
    /// `customer.subscription.created|updated|deleted`.
    Subscription(SubscriptionFacts),
    /// `invoice.payment_failed`: the subscription, which Stripe also moves to `past_due`.
    PaymentFailed { subscription: String },
    /// Any other type: acknowledged, not acted on.
    Ignored,
}

/// An event as received: its id (applied once), when Stripe created it, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub event: Event,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An id field that may be a string or an expanded object (`{"id": …}`).
fn id_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(id_value)
}

fn id_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Reads a webhook body (already verified).
pub fn parse_event(body: &[u8]) -> Result<Received, &'static str> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "the event is not JSON")?;
    let id = text(&v, "id").ok_or("the event has no id")?.to_string();
    if id.len() > 255 {
        return Err("the event id is too long");
    }
    let kind = text(&v, "type").ok_or("the event has no type")?.to_string();
    let created = v
        .get("created")
        .and_then(crate::primitives::time::epoch_secs_json)
        .ok_or("the event has no created time")?;
    let object = v
        .get("data")
        .and_then(|d| d.get("object"))
        .ok_or("the event has no data.object")?;
    let event = match kind.as_str() {
        "checkout.session.completed" => {
            let metadata = object.get("metadata");
            match (
                text(object, "mode"),
                metadata.and_then(|m| text(m, META_USER)),
                metadata.and_then(|m| text(m, META_PLUGIN)),
                id_of(object, "customer"),
            ) {
                (Some("subscription"), Some(user), Some(plugin), Some(customer))
                    if text(object, "client_reference_id") == Some(user) =>
                {
                    Event::CheckoutCompleted {
                        user_id: user.to_string(),
                        plugin: plugin.to_string(),
                        customer,
                        subscription: id_of(object, "subscription"),
                    }
                }
                // A session the gateway did not make (a Payment Link or a pricing table, where
                // anyone may set `client_reference_id`): not ours.
                _ => Event::Ignored,
            }
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let mut facts = subscription_facts(object)?;
            if kind == "customer.subscription.deleted" {
                facts.status = "canceled".into();
            }
            Event::Subscription(facts)
        }
        "invoice.payment_failed" => {
            // Newer API versions name the subscription under parent.subscription_details.
            let subscription = id_of(object, "subscription").or_else(|| {
                object
                    .get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| id_of(d, "subscription"))
            });
            match subscription {
                Some(subscription) => Event::PaymentFailed { subscription },
                None => Event::Ignored,
            }
        }
        _ => Event::Ignored,
    };
    Ok(Received {
        id,
        kind,
        created,
        event,
    })
}

/// What a subscription object says (an event's, or `GET /v1/subscriptions/{id}`'s).
pub fn subscription_facts(object: &Value) -> Result<SubscriptionFacts, &'static str> {
    let items = object
        .get("items")
        .and_then(|i| i.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let prices = items
        .iter()
        .filter_map(|item| item.get("price").and_then(id_value))
        .collect();
    // Since API version 2025-03-31 the period is per item; before, on the subscription.
    let period_end = items
        .iter()
        .filter_map(|i| {
            i.get("current_period_end")
                .and_then(crate::primitives::time::epoch_secs_json)
        })
        .max()
        .or_else(|| {
            object
                .get("current_period_end")
                .and_then(crate::primitives::time::epoch_secs_json)
        });
    let metadata = object.get("metadata");
    Ok(SubscriptionFacts {
        subscription: text(object, "id")
            .ok_or("the subscription has no id")?
            .to_string(),
        customer: id_of(object, "customer").ok_or("the subscription has no customer")?,
        status: text(object, "status").unwrap_or("incomplete").to_string(),
        prices,
        current_period_end: period_end,
        user_id: metadata
            .and_then(|m| text(m, META_USER))
            .map(str::to_string),
        plugin: metadata
            .and_then(|m| text(m, META_PLUGIN))
            .map(str::to_string),
    })
}

/// The subscription as Stripe holds it now (`GET /v1/subscriptions/{id}`): what an event about
/// it is applied as, since events of one second arrive in any order.
pub fn parse_subscription(status: u16, body: &[u8]) -> Result<SubscriptionFacts, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| format!("Stripe answered {status}, not JSON"))?;
    if status != 200 {
        return Err(format!(
            "Stripe answered {status}: {}",
            v.get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
        ));
    }
    subscription_facts(&v).map_err(str::to_string)
}

/// The form that creates a Checkout Session for a subscription to `price`, naming the user on
/// the session (`client_reference_id`) and on the subscription it makes (metadata).
pub fn checkout_form(
    price: &str,
    user_id: &str,
    email: &str,
    customer: Option<&str>,
    plugin: &str,
    success_url: &str,
    cancel_url: &str,
) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("mode", "subscription")
        .append_pair("line_items[0][price]", price)
        .append_pair("line_items[0][quantity]", "1")
        .append_pair("success_url", success_url)
        .append_pair("cancel_url", cancel_url)
        .append_pair("client_reference_id", user_id)
        .append_pair(&format!("metadata[{META_USER}]"), user_id)
        .append_pair(&format!("metadata[{META_PLUGIN}]"), plugin)
        .append_pair(
            &format!("subscription_data[metadata][{META_USER}]"),
            user_id,
        )
        .append_pair(
            &format!("subscription_data[metadata][{META_PLUGIN}]"),
            plugin,
        );
    match customer {
        Some(c) => form.append_pair("customer", c),
        None => form.append_pair("customer_email", email),
    };
    form.finish()
}

/// The form that opens the billing portal for `customer`.
pub fn portal_form(customer: &str, return_url: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("customer", customer)
        .append_pair("return_url", return_url)
        .finish()
}

/// The `url` of a session Stripe created, or why there is none. Only https, unless the API is
/// itself a local stand-in (`loopback`), whose pages are http on loopback.
pub fn session_url(status: u16, body: &[u8], loopback: bool) -> Result<String, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| format!("Stripe answered {status}, not JSON"))?;
    if let Some(error) = v.get("error") {
        return Err(format!(
            "Stripe refused ({status}): {}",
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
        ));
    }
    let local =
        |url: &str| url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:");
    match text(&v, "url") {
        Some(url) if status == 200 && (url.starts_with("https://") || (loopback && local(url))) => {
            Ok(url.to_string())
        }
        _ => Err(format!("Stripe answered {status} without a session URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_790_000_000;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new(SECRET.into())]
    }

    #[test]
    fn a_signature_holds_for_its_body_and_time_only() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, NOW, body);
        assert_eq!(
            verify_signature(Some(&header), body, &secrets(), NOW + 10),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&header), br#"{"id":"evt_2"}"#, &secrets(), NOW),
            Err(SignatureError::NoMatch),
            "tampered"
        );
        assert_eq!(
            verify_signature(Some(&header), body, &secrets(), NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(Some(&header), body, &secrets(), NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(None, body, &secrets(), NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(
                Some(&header),
                body,
                &[Secret::new("whsec_other".into())],
                NOW
            ),
            Err(SignatureError::NoMatch)
        );
        for bad in ["", "t=abc,v1=00", "v1=zz", "t=1,t=2,v1=00", "garbage"] {
            assert!(
                verify_signature(Some(bad), body, &secrets(), NOW).is_err(),
                "{bad}"
            );
        }
        // Unparseable parts are skipped, as Stripe's libraries do; a huge timestamp is stale.
        assert_eq!(
            verify_signature(
                Some(&format!("{header},v1=zz,junk,")),
                body,
                &secrets(),
                NOW
            ),
            Ok(())
        );
        assert!(
            verify_signature(Some("t=-9223372036854775808,v1=00"), body, &secrets(), NOW).is_err()
        );
        // A timestamp re-signed by someone without the secret does not match.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 5).to_string(), 1);
        assert_eq!(
            verify_signature(Some(&moved), body, &secrets(), NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn rotation_works_both_ways() {
        let body = b"{}";
        // Stripe rolling its secret sends two v1 values; one matches.
        let ours = sign(SECRET, NOW, body);
        let theirs = sign("whsec_new", NOW, body);
        let both = format!(
            "{ours},v1={},v0=deadbeef",
            theirs.split("v1=").nth(1).unwrap()
        );
        assert_eq!(verify_signature(Some(&both), body, &secrets(), NOW), Ok(()));
        // We rolling ours: either configured secret verifies.
        let two = vec![Secret::new("whsec_new".into()), Secret::new(SECRET.into())];
        assert_eq!(verify_signature(Some(&ours), body, &two, NOW), Ok(()));
    }

    fn event(kind: &str, object: serde_json::Value) -> Vec<u8> {
        json!({"id": "evt_1", "object": "event", "type": kind, "created": NOW, "data": {"object": object}}).to_string().into_bytes()
    }

    #[test]
    fn the_events_that_matter_are_read_in_every_shape_stripe_sends() {
        let done = parse_event(&event("checkout.session.completed", json!({
            "id": "cs_1", "mode": "subscription", "client_reference_id": "usr_1", "customer": "cus_1", "subscription": "sub_1",
            "metadata": {"portcullis_plugin": "todo", "portcullis_user": "usr_1"}}))).unwrap();
        assert_eq!(
            done.event,
            Event::CheckoutCompleted {
                user_id: "usr_1".into(),
                plugin: "todo".into(),
                customer: "cus_1".into(),
                subscription: Some("sub_1".into())
            }
        );
        let sub = parse_event(&event(
            "customer.subscription.updated",
            json!({
            "id": "sub_1", "customer": {"id": "cus_1"}, "status": "past_due",
            "items": {"data": [{"price": {"id": "price_pro"}, "current_period_end": NOW + 100}]},
            "metadata": {"portcullis_user": "usr_1", "portcullis_plugin": "todo"}}),
        ))
        .unwrap();
        let Event::Subscription(facts) = sub.event else {
            panic!()
        };
        assert_eq!(
            (
                facts.status.as_str(),
                facts.prices.as_slice(),
                facts.current_period_end
            ),
            ("past_due", &["price_pro".to_string()][..], Some(NOW + 100))
        );
        assert_eq!(facts.customer, "cus_1");
        let old_api = parse_event(&event(
            "customer.subscription.created",
            json!({
            "id": "sub_1", "customer": "cus_1", "status": "active", "current_period_end": NOW + 7,
            "items": {"data": [{"price": "price_pro"}]}}),
        ))
        .unwrap();
        let Event::Subscription(facts) = old_api.event else {
            panic!()
        };
        assert_eq!(
            (facts.current_period_end, facts.prices.len(), facts.user_id),
            (Some(NOW + 7), 1, None)
        );
        let deleted = parse_event(&event(
            "customer.subscription.deleted",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active"}),
        ))
        .unwrap();
        let Event::Subscription(facts) = deleted.event else {
            panic!()
        };
        assert_eq!(facts.status, "canceled");
        let failed = parse_event(&event(
            "invoice.payment_failed",
            json!({"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_1"}}}),
        ))
        .unwrap();
        assert_eq!(
            failed.event,
            Event::PaymentFailed {
                subscription: "sub_1".into()
            }
        );
        assert_eq!(
            parse_event(&event("charge.succeeded", json!({"id": "ch_1"})))
                .unwrap()
                .event,
            Event::Ignored
        );
        assert_eq!(
            parse_event(&event(
                "checkout.session.completed",
                json!({"id": "cs_2", "customer": "cus_9"})
            ))
            .unwrap()
            .event,
            Event::Ignored,
            "not made by the gateway"
        );
        assert_eq!(parse_event(b"[]").err(), Some("the event has no id"));
        assert_eq!(
            parse_event(br#"{"id":"evt","type":"x","created":1}"#).err(),
            Some("the event has no data.object")
        );
    }

    #[test]
    fn sessions_are_asked_for_with_the_user_named_everywhere() {
        let form = checkout_form(
            "price_pro",
            "usr_1",
            "a@b.c",
            None,
            "todo",
            "https://t/ok",
            "https://t/no",
        );
        let pairs: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(form.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(pairs["mode"], "subscription");
        assert_eq!(pairs["line_items[0][price]"], "price_pro");
        assert_eq!(pairs["client_reference_id"], "usr_1");
        assert_eq!(
            pairs["subscription_data[metadata][portcullis_user]"],
            "usr_1"
        );
        assert_eq!(pairs["customer_email"], "a@b.c");
        let again = checkout_form(
            "price_pro",
            "usr_1",
            "a@b.c",
            Some("cus_1"),
            "todo",
            "https://t/ok",
            "https://t/no",
        );
        assert!(again.contains("customer=cus_1") && !again.contains("customer_email"));
        assert_eq!(
            session_url(
                200,
                br#"{"id":"cs_1","url":"https://checkout.stripe.com/c/pay/cs_1"}"#,
                true
            )
            .unwrap(),
            "https://checkout.stripe.com/c/pay/cs_1"
        );
        assert!(
            session_url(400, br#"{"error":{"message":"No such price"}}"#, true)
                .unwrap_err()
                .contains("No such price")
        );
        assert_eq!(
            session_url(200, br#"{"url":"javascript:alert(1)"}"#, true)
                .err()
                .as_deref(),
            Some("Stripe answered 200 without a session URL")
        );
        assert_eq!(
            session_url(502, b"<html>", true).err().as_deref(),
            Some("Stripe answered 502, not JSON")
        );
        let local = br#"{"url":"http://127.0.0.1:1/checkout/cs_1"}"#;
        assert!(
            session_url(200, local, false).is_err(),
            "loopback only from a local stand-in"
        );
        assert!(session_url(200, local, true).is_ok());
    }

    #[test]
    fn only_the_gateways_own_checkout_sessions_name_a_user() {
        let session = |object: serde_json::Value| {
            parse_event(&event("checkout.session.completed", object))
                .unwrap()
                .event
        };
        // A Payment Link: anyone may set client_reference_id to a victim's id.
        assert_eq!(
            session(
                json!({"id": "cs_2", "mode": "payment", "client_reference_id": "usr_victim", "customer": "cus_x"})
            ),
            Event::Ignored
        );
        assert_eq!(
            session(
                json!({"id": "cs_3", "mode": "subscription", "client_reference_id": "usr_victim", "customer": "cus_x"})
            ),
            Event::Ignored
        );
        // Metadata naming another user than client_reference_id: not ours either.
        assert_eq!(
            session(
                json!({"id": "cs_4", "mode": "subscription", "client_reference_id": "usr_victim", "customer": "cus_x",
            "metadata": {"portcullis_user": "usr_other", "portcullis_plugin": "todo"}})
            ),
            Event::Ignored
        );
    }

    #[test]
    fn the_subscription_as_stripe_holds_it_now() {
        let fetched = parse_subscription(
            200,
            json!({"id": "sub_1", "customer": "cus_1", "status": "active",
            "items": {"data": [{"price": "price_pro", "current_period_end": 9}]}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (fetched.status.as_str(), fetched.current_period_end),
            ("active", Some(9))
        );
        assert!(parse_subscription(
            404,
            br#"{"error":{"message":"No such subscription: sub_x"}}"#
        )
        .unwrap_err()
        .contains("No such subscription"));
        assert_eq!(
            parse_subscription(200, b"nope").err().as_deref(),
            Some("Stripe answered 200, not JSON")
        );
    }

    /// Issue 29, finding 8: Stripe's `t=` is an instant in 1970 ..= 9999 or the signature is
    /// malformed; no spelling of an extreme overflows.
    #[test]
    fn no_signature_time_overflows_or_is_read_outside_1970_to_9999() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(SECRET, NOW, body);
        let v1 = good.split_once(",v1=").unwrap().1;
        for t in [
            i64::MIN.to_string(),
            i64::MAX.to_string(),
            u64::MAX.to_string(),
            "-1".into(),
            "+1790000000".into(),
            " 1790000000".into(),
            "1e9".into(),
            "253402300800".into(),
            "99999999999999999999999".into(),
        ] {
            let header = format!("t={t},v1={v1}");
            assert!(
                verify_signature(Some(&header), body, &secrets(), NOW).is_err(),
                "t={t}"
            );
        }
        assert!(verify_signature(Some(&good), body, &secrets(), NOW).is_ok());
    }
}
