//! Stripe's webhook (`POST /billing/stripe/webhook`): what actually changes a user's plan. The
//! signature is checked first; the event is read ([`crate::billing::stripe`]), turned into a
//! change of the subscription's row ([`crate::billing::subscription`]) and applied once.

use serde_json::json;

use crate::billing::stripe::{parse_event, verify_signature, Event, Received};
use crate::billing::subscription::{row_for, Change, Delivery, Skip};
use crate::config::BillingSettings;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::AuthServer;
use crate::ports::Backend;

impl<B: Backend> AuthServer<'_, B> {
    /// `POST /billing/stripe/webhook`: the signature first (400 and nothing stored without a good
    /// one), then the event, applied once.
    pub async fn stripe_webhook(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let Some(billing) = self.billing_settings() else {
            return Err(ApiError::NotFound);
        };
        let header = head
            .single_header("stripe-signature")
            .map_err(|_| ApiError::BadRequest("send one Stripe-Signature header".into()))?;
        verify_signature(header, body, &billing.webhook_secrets, self.now)
            .map_err(|e| ApiError::BadRequest(e.describe().into()))?;
        // Signed, so Stripe's: one this gateway cannot read is acknowledged and logged, or Stripe
        // would retry it for days and turn the endpoint off.
        let received = match parse_event(body) {
            Ok(received) => received,
            Err(why) => {
                return Ok(
                    Reply::json(200, &json!({ "received": true, "applied": false }))
                        .no_store()
                        .with_note(format!("stripe event not understood: {why}")),
                )
            }
        };
        let plugin = &self.config.plugin.name_for_model;
        let change = self.change_for(billing, &received).await?;
        let delivery = Delivery {
            plugin: plugin.clone(),
            event_id: received.id.clone(),
            kind: received.kind.clone(),
            nonce: self.random_b64(16)?,
            received_at: self.now,
        };
        let first = self
            .backend
            .apply_billing_event(&delivery, &change, self.now)
            .await?;
        Ok(
            Reply::json(200, &json!({ "received": true, "duplicate": !first }))
                .no_store()
                .with_note(format!(
                    "stripe {} {}{}",
                    received.kind,
                    received.id,
                    if first { "" } else { " (duplicate)" }
                )),
        )
    }

    /// What `received` changes: a checkout names the customer, a subscription event applies the
    /// subscription as Stripe holds it now, a failed payment marks it; anything else nothing.
    async fn change_for(
        &self,
        billing: &BillingSettings,
        received: &Received,
    ) -> Result<Change, ApiError> {
        let plugin = &self.config.plugin.name_for_model;
        Ok(match &received.event {
            Event::CheckoutCompleted {
                user_id,
                plugin: owner,
                customer,
                ..
            } if owner == plugin => Change::Customer {
                user_id: user_id.clone(),
                customer: customer.clone(),
            },
            Event::Subscription(facts) => {
                // Events of one second arrive in any order (`created` then `updated` of one
                // checkout): the subscription is applied as Stripe holds it now. If Stripe cannot
                // say, nothing is stored and the 503 makes it deliver the event again.
                let current = self
                    .current_subscription(billing, &facts.subscription)
                    .await?;
                match row_for(
                    &current,
                    plugin,
                    &self.config.plugin.plans,
                    received.created,
                ) {
                    Ok(row) => Change::Subscription(row),
                    Err(Skip::OtherPlugin) => Change::Nothing,
                    // No plan of ours named (a retired price, metadata replaced): the row it
                    // once wrote, if any, still follows its status.
                    Err(Skip::NotOurs | Skip::UnknownPrice) => Change::Status {
                        stripe_subscription: current.subscription.clone(),
                        status: current.status.clone(),
                        current_period_end: current.current_period_end,
                        event_created: received.created,
                    },
                }
            }
            Event::PaymentFailed { subscription } => Change::PaymentFailed {
                stripe_subscription: subscription.clone(),
                event_created: received.created,
            },
            _ => Change::Nothing,
        })
    }
}
