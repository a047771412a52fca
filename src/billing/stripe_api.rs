//! The handlers' calls to Stripe's API (see [`crate::billing::stripe`] for what is sent and read):
//! each with the plugin's secret key, shared by the billing pages and the webhook.

use crate::billing::stripe::{parse_subscription, SubscriptionFacts};
use crate::config::BillingSettings;
use crate::error::ApiError;
use crate::oauth::server::AuthServer;
use crate::ports::{Backend, UpstreamRequest};

impl<B: Backend> AuthServer<'_, B> {
    /// Stripe's settings, when this plugin sells plans.
    pub(super) fn billing_settings(&self) -> Option<&BillingSettings> {
        self.config
            .billing
            .as_ref()
            .filter(|_| !self.config.plugin.plans.is_empty())
    }

    /// `GET /v1/subscriptions/{id}`: the subscription as Stripe holds it now. A deleted one is
    /// still returned, with status `canceled`.
    pub(super) async fn current_subscription(
        &self,
        billing: &BillingSettings,
        id: &str,
    ) -> Result<SubscriptionFacts, ApiError> {
        let safe_id = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !safe_id {
            return Err(ApiError::BadRequest(
                "the subscription id is malformed".into(),
            ));
        }
        let response = self
            .backend
            .upstream(stripe_request(
                billing,
                "GET",
                &format!("/v1/subscriptions/{id}"),
                None,
            ))
            .await
            .map_err(|why| ApiError::Unavailable(format!("Stripe: {why}")))?;
        parse_subscription(response.status, &response.body)
            .map_err(|why| ApiError::Unavailable(format!("Stripe: {why}")))
    }
}

/// A call to Stripe's API with the secret key.
pub(super) fn stripe_request(
    billing: &BillingSettings,
    method: &'static str,
    path: &str,
    form: Option<String>,
) -> UpstreamRequest {
    UpstreamRequest {
        method,
        url: format!("{}{path}", billing.api_base),
        headers: vec![
            (
                "authorization",
                format!("Bearer {}", billing.secret_key.expose()),
            ),
            ("accept", "application/json".into()),
        ],
        form,
    }
}
