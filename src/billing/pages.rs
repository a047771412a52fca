//! The billing pages' handlers (see [`crate::billing`]): the upgrade page (`GET /billing/upgrade`),
//! Checkout (`POST /billing/checkout`) and the billing portal (`POST /billing/portal`), both
//! through Stripe's API, and the account page's plan section. Stripe's webhook, which is what
//! actually changes a user's plan, is [`crate::billing::webhook`].

use crate::billing::stripe::{checkout_form, portal_form, session_url};
use crate::billing::stripe_api::stripe_request;
use crate::billing::{Plan, Standing, CHECKOUT_PATH, PORTAL_PATH, UPGRADE_PATH};
use crate::config::BillingSettings;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, redirect, with_cookie, AuthServer};
use crate::ports::{Backend, User};
use crate::quota::Quota;
use crate::routes::{BillingPage, ACCOUNT_PATH};
use crate::web::pages::{escape_html, message_with_link, page};
use crate::web::session::{csrf_token, read_cookie, verify_csrf, Session};

/// "10,000 calls a day".
pub(crate) fn describe_quota(quota: Option<Quota>) -> String {
    let Some(q) = quota else {
        return "no call limit".into();
    };
    let per = match q.period_secs {
        3600 => "an hour".to_string(),
        86_400 => "a day".to_string(),
        604_800 => "a week".to_string(),
        s if s % 86_400 == 0 => format!("every {} days", s / 86_400),
        s => format!("every {s} seconds"),
    };
    format!("{} calls {per}", q.limit)
}

impl<B: Backend> AuthServer<'_, B> {
    /// The user's subscription to this plugin's plans and their Stripe customer, read together.
    pub(crate) async fn billing_of(
        &self,
        user_id: &str,
    ) -> (
        Result<Option<crate::billing::subscription::Subscription>, crate::ports::StoreError>,
        Result<Option<String>, crate::ports::StoreError>,
    ) {
        futures_util::future::join(
            self.backend
                .subscription_of(&self.config.plugin.name_for_model, user_id),
            self.backend.customer_of(user_id),
        )
        .await
    }

    /// `/billing/upgrade`, `/billing/checkout`, `/billing/portal` (routed and their methods
    /// checked by [`crate::routes::route`]): 404 where the plugin sells no plans.
    pub async fn billing(
        &self,
        page: BillingPage,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let Some(billing) = self.billing_settings() else {
            return Err(ApiError::NotFound);
        };
        match page {
            BillingPage::Upgrade => self.upgrade_page(head).await,
            BillingPage::Checkout => self.checkout(head, body, billing).await,
            BillingPage::Portal => self.billing_portal(head, body, billing).await,
        }
    }

    /// The signed-in user and their session, or the sign-in page coming back to `return_to`.
    async fn signed_in(
        &self,
        head: &RequestHead,
        return_to: &str,
    ) -> Result<Result<(User, Session), Reply>, ApiError> {
        let session = self.session(head);
        let user = match &session {
            Some(s) => self.session_user(s).await?,
            None => None,
        };
        match (session, user) {
            (Some(s), Some(u)) => Ok(Ok((u, s))),
            _ => {
                let (csrf, set) = self.csrf_cookie(head)?;
                Ok(Err(with_cookie(
                    self.sign_in_page(&csrf, return_to, None),
                    set,
                )))
            }
        }
    }

    async fn upgrade_page(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let wanted = head
            .query
            .as_deref()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "plan"))
            .map(|(_, v)| v.into_owned())
            .filter(|p| self.config.plugin.plans.iter().any(|plan| plan.id == *p));
        let return_to = match &wanted {
            Some(p) => format!("{UPGRADE_PATH}?plan={p}"),
            None => UPGRADE_PATH.to_string(),
        };
        let (user, session) = match self.signed_in(head, &return_to).await? {
            Ok(found) => found,
            Err(sign_in) => return Ok(sign_in),
        };
        let (subscription, customer) = self.billing_of(&user.id).await;
        let standing = subscription?
            .map(|s| s.standing(self.now))
            .unwrap_or(Standing::Free);
        let customer = customer?;
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let token = csrf_token(self.key(), &csrf, &format!("account:{}", session.nonce));
        let mut body = format!(
            "<p class=\"muted\">Signed in as {}. You are on the <strong>{}</strong> plan ({}).</p>",
            escape_html(&user.email),
            escape_html(&self.plan_name(&standing)),
            escape_html(&describe_quota(crate::billing::quota_for(
                &self.config.plugin.plans,
                &standing,
                self.config.plugin.quota
            ))),
        );
        body.push_str("<ul class=\"items\">");
        for plan in &self.config.plugin.plans {
            // A subscriber changes plans in Stripe's billing portal (which prorates), never with
            // a second subscription.
            let action = if standing.plan_id() == plan.id {
                "<span class=\"status\">your plan</span>".to_string()
            } else if matches!(standing, Standing::Paid(_)) {
                "<span class=\"status\">change it in Manage billing</span>".to_string()
            } else {
                format!(
                    "<form method=\"post\" action=\"{CHECKOUT_PATH}\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"plan\" value=\"{}\"><button type=\"submit\">Subscribe</button></form>",
                    escape_html(&token),
                    escape_html(&plan.id)
                )
            };
            let marked = if wanted.as_deref() == Some(plan.id.as_str()) {
                " class=\"wanted\""
            } else {
                ""
            };
            body.push_str(&format!(
                "<li{marked} data-plan=\"{}\"><span><strong>{}</strong><br><span class=\"status\">{}</span></span>{action}</li>",
                escape_html(&plan.id),
                escape_html(&plan.name),
                escape_html(&describe_quota(plan.quota.or(self.config.plugin.quota))),
            ));
        }
        body.push_str("</ul>");
        if customer.is_some() {
            body.push_str(&format!(
                "<form method=\"post\" action=\"{PORTAL_PATH}\" class=\"inline\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><button type=\"submit\" class=\"link\">Manage billing</button></form>",
                escape_html(&token)
            ));
        }
        body.push_str(&format!(
            "<p><a href=\"{ACCOUNT_PATH}\">Your account</a></p>"
        ));
        Ok(with_cookie(
            page(200, self.brand(), "Plans", &body),
            csrf_set,
        ))
    }

    pub(crate) fn plan_name(&self, standing: &Standing) -> String {
        match standing {
            Standing::Free => "Free".into(),
            Standing::Paid(id) => self
                .config
                .plugin
                .plans
                .iter()
                .find(|p| p.id == *id)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| id.clone()),
        }
    }

    /// The form's session-bound CSRF check, and the user.
    async fn billing_form(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Result<(User, crate::oauth::params::Params), Reply>, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(Err(self.local_error(400, &e.description))),
        };
        let Some(session) = self.session(head) else {
            return Ok(Err(
                self.local_error(401, "Your session ended. Sign in again.")
            ));
        };
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &format!("account:{}", session.nonce),
            params.get("csrf_token"),
        ) {
            return Ok(Err(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            )));
        }
        match self.session_user(&session).await? {
            Some(user) => Ok(Ok((user, params))),
            None => Ok(Err(
                self.local_error(401, "Your session ended. Sign in again.")
            )),
        }
    }

    /// Asks Stripe for a session and sends the browser there; a Stripe that fails is a page, and
    /// nothing is stored (the webhook is what changes a plan).
    async fn stripe_session(
        &self,
        billing: &BillingSettings,
        path: &str,
        form: String,
        back: &str,
    ) -> Result<Reply, ApiError> {
        let sent = self
            .backend
            .upstream(stripe_request(billing, "POST", path, Some(form)))
            .await;
        let outcome = match sent {
            Ok(response) => session_url(
                response.status,
                &response.body,
                billing.api_base.starts_with("http://127.0.0.1:")
                    || billing.api_base.starts_with("http://localhost:"),
            ),
            Err(why) => Err(format!("Stripe could not be reached: {why}")),
        };
        match outcome {
            Ok(url) => Ok(redirect(303, &url)),
            Err(why) => Ok(message_with_link(
                502,
                self.brand(),
                "Payments are unavailable",
                "Payments could not be started just now. Nothing was charged. Try again in a moment.",
                back,
                "Back",
            )
            .with_note(format!("stripe {path}: {why}"))),
        }
    }

    async fn checkout(
        &self,
        head: &RequestHead,
        body: &[u8],
        billing: &BillingSettings,
    ) -> Result<Reply, ApiError> {
        let (user, params) = match self.billing_form(head, body).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        let Some(plan) = params
            .get("plan")
            .and_then(|id| self.config.plugin.plans.iter().find(|p| p.id == id))
        else {
            return Ok(self.local_error(400, "There is no such plan."));
        };
        let (subscription, customer) = self.billing_of(&user.id).await;
        // One subscription per user and plugin: a subscriber changes plans in the billing
        // portal, so a second checkout never bills them twice.
        if let Some(Standing::Paid(current)) = subscription?.map(|s| s.standing(self.now)) {
            return Ok(message_with_link(
                409,
                self.brand(),
                "You already have a plan",
                &format!(
                    "You are on the {} plan. Change or cancel it with Manage billing on the plans page.",
                    self.plan_name(&Standing::Paid(current))
                ),
                crate::billing::UPGRADE_PATH,
                "Plans",
            ));
        }
        let customer = customer?;
        let base = self.issuer();
        let form = checkout_form(
            &plan.stripe_price,
            &user.id,
            &user.email,
            customer.as_deref(),
            &self.config.plugin.name_for_model,
            &format!("{base}{ACCOUNT_PATH}?billing=done"),
            &format!("{base}{UPGRADE_PATH}?plan={}", plan.id),
        );
        let back = format!("{UPGRADE_PATH}?plan={}", plan.id);
        self.stripe_session(billing, "/v1/checkout/sessions", form, &back)
            .await
    }

    async fn billing_portal(
        &self,
        head: &RequestHead,
        body: &[u8],
        billing: &BillingSettings,
    ) -> Result<Reply, ApiError> {
        let (user, _) = match self.billing_form(head, body).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        let Some(customer) = self.backend.customer_of(&user.id).await? else {
            return Ok(self.local_error(
                404,
                "You have no billing account yet: subscribe to a plan first.",
            ));
        };
        let form = portal_form(&customer, &format!("{}{ACCOUNT_PATH}", self.issuer()));
        self.stripe_session(billing, "/v1/billing_portal/sessions", form, ACCOUNT_PATH)
            .await
    }
}

/// The account page's plan section: the plan, this period's use, and the ways to change it.
pub(crate) fn plan_section(
    plan_name: &str,
    status: Option<&str>,
    usage: Option<crate::quota::QuotaUsage>,
    plans: &[Plan],
    standing: &Standing,
    csrf: &str,
    has_customer: bool,
) -> String {
    let mut html = format!(
        "<h2>Plan</h2><p>You are on the <strong>{}</strong> plan",
        escape_html(plan_name)
    );
    if let Some(status) = status.filter(|s| *s != "active") {
        html.push_str(&format!(" ({})", escape_html(&status.replace('_', " "))));
    }
    html.push_str(".</p>");
    if let Some(usage) = usage {
        // Calls made, as people count them; "at most" while isolates have not told all.
        html.push_str(&format!(
            "<p class=\"muted\">This period: {} of {} calls; it resets in {}.</p>",
            usage.calls(),
            usage.limit,
            crate::primitives::duration::human_duration(usage.reset_secs)
        ));
    }
    // Subscribers change plans in the billing portal; the free plan is offered every paid one.
    for plan in plans.iter().filter(|_| *standing == Standing::Free) {
        html.push_str(&format!(
            "<p><a href=\"{UPGRADE_PATH}?plan={}\">Upgrade to {}</a></p>",
            escape_html(&plan.id),
            escape_html(&plan.name)
        ));
    }
    if has_customer {
        html.push_str(&format!(
            "<form method=\"post\" action=\"{PORTAL_PATH}\" class=\"inline\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><button type=\"submit\" class=\"link\">Manage billing</button></form>",
            escape_html(csrf)
        ));
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(made: u64, counted: u64, reset_secs: u64) -> String {
        plan_section(
            "Pro",
            Some("active"),
            Some(crate::quota::QuotaUsage {
                limit: 10_000,
                made,
                counted,
                reset_secs,
            }),
            &[],
            &Standing::Paid("pro".into()),
            "csrf",
            false,
        )
    }

    #[test]
    fn the_plan_section_says_when_the_period_resets_as_people_read_it() {
        for (reset_secs, shown) in [
            (10_485, "it resets in 2 h 55 min."),
            (45, "it resets in 45 s."),
            (150, "it resets in 3 min."),
        ] {
            let html = section(1, 1, reset_secs);
            assert!(html.contains(shown), "{reset_secs}: {html}");
        }
    }

    #[test]
    fn the_plan_section_shows_calls_made_never_the_calls_leased() {
        let html = section(1, 1, 60);
        assert!(html.contains("This period: 1 of 10000 calls;"), "{html}");
        let html = section(1, 64, 60);
        assert!(
            html.contains("This period: at most 64 of 10000 calls;"),
            "{html}"
        );
    }
}
