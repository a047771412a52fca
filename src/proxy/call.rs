//! One proxied call as a step machine: who the caller is ([`credential`]), then the plan the
//! route needs (with the stored plan read again before a refusal, so an upgrade counts at once),
//! the user's token at an upstream provider, the POST body held to look for `_method`, the quota
//! (leased or exact, and charged again after an upgrade when the quota is spent), the forward,
//! and the refund when the call should not count. Each [`Step`] says what the call needs next or
//! what it decided; the edge performs the need and feeds the answer back ([`Input`]), in a fixed
//! loop with no policy of its own.
//!
//! The order is part of the contract: a plan refusal, an upstream-token refusal and a refused
//! `_method` body cost no quota; no answer from the origin (502, 504) and an answer the origin
//! marked exempt give the call back ([`quota::gives_back`]).
//!
//! [`credential`]: crate::proxy::credential

use std::cell::RefCell;
use std::rc::Rc;

use crate::billing::Standing;
use crate::config::Config;
use crate::error::ApiError;
use crate::federation::tokens::{NoToken, PROVIDER_HEADER, TOKEN_HEADER};
use crate::federation::{IdentityProvider, TokenKey as UpstreamKey};
use crate::http::RequestHead;
use crate::oauth::access_token::{TokenKey, VerifiedTokenCache};
use crate::oauth::dpop::{DpopError, Proof};
use crate::proxy::api_key_cache::ApiKeyRecord;
use crate::proxy::cidr::IpRanges;
use crate::proxy::credential::{self, unauthorized, Known};
use crate::proxy::forward::Identity;
use crate::proxy::method_override::{self, BodyKind};
use crate::proxy::signed_agent::{AgentCheck, SignedCall};
use crate::quota::{self, Quota, QuotaDecision};

/// What the call needs next, or what it decided.
#[derive(Debug)]
pub enum Step<'a> {
    /// Load OpenAI's egress ranges.
    NeedEgressRanges,
    /// Look up the API key whose SHA-256 this is.
    NeedApiKey(String),
    /// Have the platform verify this token's signature, recording it in the verified-token cache
    /// under this key if it holds; then answer [`Input::SignatureAsked`] whatever it said.
    NeedSignature(&'a str, TokenKey),
    /// Check this DPoP proof's signature and remember its `jti` ([`crate::oauth::dpop::accept`]).
    NeedProof(Box<Proof>),
    /// Check this agent signature against the trusted agents' directories
    /// ([`crate::proxy::signed_agent::check`]).
    NeedAgent(Box<SignedCall>),
    /// The plan `user` is on: as cached, or (`fresh`) as stored now.
    NeedStanding {
        user: &'a str,
        fresh: bool,
    },
    /// The user's token at this provider, sealed with `key`
    /// ([`crate::federation::tokens::access_token_for`]).
    NeedUpstreamToken {
        provider: &'a IdentityProvider,
        key: &'a UpstreamKey,
        user: &'a str,
    },
    /// Read the request's body, refusing it past `limit` bytes; it is held, then sent on.
    NeedBody {
        limit: usize,
    },
    /// Charge one call to the counter `key`: from the isolate's leased calls, or (`exact`) at
    /// the counter itself.
    NeedCharge {
        key: String,
        quota: Quota,
        exact: bool,
    },
    /// Send the call to the origin.
    Forward(Forward<'a>),
    /// Give the charged call back: to the isolate's leased calls, or (`exact`) to the counter.
    NeedRefund(Refund),
    /// The origin's answer goes back to the caller, with these quota headers.
    Done {
        rate_limit: Option<[(&'static str, String); 2]>,
    },
    Refuse(ApiError),
}

/// The call as the origin gets it.
#[derive(Debug)]
pub struct Forward<'a> {
    pub identity: &'a Identity,
    /// Headers the origin gets besides the identity's (the user's upstream token).
    pub headers: Vec<(String, String)>,
    /// The body, when it was read to look for `_method` (else it streams from the caller).
    pub held_body: Option<Vec<u8>>,
}

/// A charged call to give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub key: String,
    pub quota: Quota,
    /// The moment it was charged at, which names its window.
    pub charged_at: u64,
    pub exact: bool,
}

/// What the edge learned doing what the last [`Step`] asked.
#[derive(Debug)]
pub enum Input {
    /// Nothing yet: the first call of [`ProxiedCall::advance`].
    Start,
    EgressRanges(Rc<IpRanges>),
    /// The API key's record (`None`: no such key).
    ApiKey(Option<ApiKeyRecord>),
    /// The platform was asked about the signature; its yes is in the verified-token cache.
    SignatureAsked,
    /// The proof's signature and `jti`, checked.
    Proof(Result<(), DpopError>),
    Agent(AgentCheck),
    Standing(Result<Standing, ApiError>),
    UpstreamToken(Result<String, NoToken>),
    Body(Result<Vec<u8>, ApiError>),
    Charged(Result<QuotaDecision, ApiError>),
    /// The origin answered with this status (`quota_exempt`: it asked for the call not to count).
    Answered {
        status: u16,
        quota_exempt: bool,
    },
    /// The origin could not be reached, or did not answer in time.
    Unanswered(ApiError),
    Refunded,
}

/// One proxied call, from its request head to the origin's answer.
pub struct ProxiedCall<'c> {
    config: &'c Config,
    head: &'c RequestHead,
    rule: usize,
    now: i64,
    has_body: bool,
    stage: Stage<'c>,
    known: Known,
    identity: Option<Identity>,
    /// The plan the user is on, for a plugin that sells plans.
    standing: Option<Standing>,
    headers: Vec<(String, String)>,
    held_body: Option<Vec<u8>>,
    charged: Option<Charged>,
}

/// Where the call is: what its last step asked for, with what the answer is read against.
#[derive(Debug)]
enum Stage<'c> {
    /// Finding out who the caller is; what the credential step asked last.
    Credential(Asked),
    /// The cached plan was asked for.
    Standing,
    /// The route needs a plan the cached standing does not hold: the stored plan was asked for.
    PlanStanding,
    /// The user's token at this provider was asked for.
    UpstreamToken(&'c IdentityProvider),
    Body(BodyKind),
    Charge {
        key: String,
        quota: Quota,
    },
    /// The quota was spent: the stored plan was asked for, in case an upgrade raised it.
    SpentStanding {
        key: String,
        spent: ApiError,
    },
    /// Charged again at the quota of the plan the user upgraded to.
    Recharge {
        key: String,
        quota: Quota,
        standing: Standing,
    },
    Forwarded,
    /// The call was given back; then this outcome.
    Refunding(Result<Option<[(&'static str, String); 2]>, ApiError>),
    Finished,
}

#[derive(Debug)]
enum Asked {
    Nothing,
    Signature(TokenKey),
    /// The proof of the key with this thumbprint.
    Proof(String),
    Other,
}

#[derive(Debug)]
struct Charged {
    key: String,
    quota: Quota,
    decision: QuotaDecision,
}

impl<'c> ProxiedCall<'c> {
    /// A call to the route rule at `rule`; `has_body`: the request carries a body.
    pub fn new(
        config: &'c Config,
        head: &'c RequestHead,
        rule: usize,
        has_body: bool,
        now: i64,
    ) -> Self {
        ProxiedCall {
            config,
            head,
            rule,
            now,
            has_body,
            stage: Stage::Credential(Asked::Nothing),
            known: Known::default(),
            identity: None,
            standing: None,
            headers: Vec::new(),
            held_body: None,
            charged: None,
        }
    }

    /// Takes what the last step asked for and says what comes next. `verified_tokens`: the
    /// isolate's cache of verified access tokens.
    pub fn advance(
        &mut self,
        input: Input,
        verified_tokens: Option<&RefCell<VerifiedTokenCache>>,
    ) -> Step<'_> {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        // A refusal leaves the call finished: each stage is set only as its step is asked.
        self.answered(stage, input, verified_tokens)
            .unwrap_or_else(Step::Refuse)
    }

    /// The answer read against the stage that asked for it, and the step after.
    fn answered(
        &mut self,
        stage: Stage<'c>,
        input: Input,
        verified_tokens: Option<&RefCell<VerifiedTokenCache>>,
    ) -> Result<Step<'_>, ApiError> {
        match (stage, input) {
            (Stage::Credential(asked), input) => {
                self.learn(asked, input)?;
                self.credential(verified_tokens)
            }
            (Stage::Standing, Input::Standing(read)) => {
                self.standing = Some(read?);
                self.plan()
            }
            (Stage::PlanStanding, Input::Standing(read)) => {
                // If the stored plan cannot be read, the refusal stands.
                if let Ok(read) = read {
                    self.standing = Some(read);
                }
                self.plan_decided()
            }
            (Stage::UpstreamToken(provider), Input::UpstreamToken(token)) => {
                self.headers = upstream_headers(self.config, provider, token)?;
                self.body()
            }
            (Stage::Body(kind), Input::Body(body)) => {
                let body = body?;
                method_override::check_body(&kind, &body)?;
                self.held_body = Some(body);
                self.charge()
            }
            (Stage::Charge { key, quota }, Input::Charged(charged)) => {
                self.charged(key, quota, charged)
            }
            (Stage::SpentStanding { key, spent }, Input::Standing(read)) => {
                self.spent(key, spent, read)
            }
            (
                Stage::Recharge {
                    key,
                    quota,
                    standing,
                },
                Input::Charged(charged),
            ) => {
                let decision = charged.map_err(|e| with_upgrade_link(self.config, &standing, e))?;
                self.charged = Some(Charged {
                    key,
                    quota,
                    decision,
                });
                self.forward()
            }
            (
                Stage::Forwarded,
                Input::Answered {
                    status,
                    quota_exempt,
                },
            ) => Ok(self.answer(status, quota_exempt)),
            (Stage::Forwarded, Input::Unanswered(error)) => self.unanswered(error),
            (Stage::Refunding(outcome), Input::Refunded) => {
                outcome.map(|rate_limit| Step::Done { rate_limit })
            }
            (stage, _) => Err(ApiError::Internal(format!(
                "the proxied call was fed an answer its step ({stage:?}) did not ask for"
            ))),
        }
    }

    /// Records what the credential step asked for.
    fn learn(&mut self, asked: Asked, input: Input) -> Result<(), ApiError> {
        let known = &mut self.known;
        match (asked, input) {
            (Asked::Nothing, Input::Start) => {}
            (_, Input::EgressRanges(ranges)) => known.openai_ranges = Some(ranges),
            (_, Input::ApiKey(record)) => known.api_key = Some(record),
            (Asked::Signature(key), Input::SignatureAsked) => known.signature_checked = Some(key),
            (Asked::Proof(jkt), Input::Proof(outcome)) => known.proof = Some(outcome.map(|()| jkt)),
            (_, Input::Agent(check)) => known.agent = Some(check),
            (asked, _) => {
                return Err(ApiError::Internal(format!(
                    "the credential step was fed an answer it did not ask for ({asked:?})"
                )))
            }
        }
        Ok(())
    }

    /// Who the caller is: the credential step until it allows or refuses.
    fn credential(
        &mut self,
        verified_tokens: Option<&RefCell<VerifiedTokenCache>>,
    ) -> Result<Step<'_>, ApiError> {
        let (config, head) = (self.config, self.head);
        let next = credential::step(
            config,
            head,
            self.rule,
            &self.known,
            self.now,
            verified_tokens,
        );
        let (asked, step) = match next {
            credential::Step::NeedEgressRanges => (Asked::Other, Step::NeedEgressRanges),
            credential::Step::NeedApiKey(hash) => (Asked::Other, Step::NeedApiKey(hash)),
            credential::Step::NeedSignature(token, key) => {
                (Asked::Signature(key), Step::NeedSignature(token, key))
            }
            credential::Step::NeedProof(proof) => {
                (Asked::Proof(proof.jkt.clone()), Step::NeedProof(proof))
            }
            credential::Step::NeedAgent(call) => (Asked::Other, Step::NeedAgent(call)),
            credential::Step::Allow(identity) => {
                self.identity = Some(identity);
                return self.standing();
            }
            credential::Step::Refuse(refusal) => return Err(refusal),
        };
        self.stage = Stage::Credential(asked);
        Ok(step)
    }

    fn identity(&self) -> Result<&Identity, ApiError> {
        self.identity.as_ref().ok_or_else(|| {
            ApiError::Internal("the proxied call went on before its caller was known".into())
        })
    }

    /// The plan a user is on, where the plugin sells plans (a machine client holds none).
    fn standing(&mut self) -> Result<Step<'_>, ApiError> {
        if self.config.plugin.plans.is_empty() || self.identity()?.user().is_none() {
            return self.plan();
        }
        self.stage = Stage::Standing;
        self.need_standing(false)
    }

    fn need_standing(&self, fresh: bool) -> Result<Step<'_>, ApiError> {
        let user = self.identity()?.user().unwrap_or_default();
        Ok(Step::NeedStanding { user, fresh })
    }

    /// The plan the route needs, if any: a user who does not hold it by the cached standing is
    /// asked about again before the refusal.
    fn plan(&mut self) -> Result<Step<'_>, ApiError> {
        let Some(plan) = self.required_plan() else {
            return self.upstream_token();
        };
        if self.identity()?.user().is_none() {
            // A machine client or a shared secret holds no plan: nothing to upgrade.
            return Err(ApiError::Forbidden(format!(
                "this route needs the {plan} plan, which only a signed-in user can hold"
            )));
        }
        if self.holds(plan) {
            return self.upstream_token();
        }
        self.stage = Stage::PlanStanding;
        self.need_standing(true)
    }

    fn required_plan(&self) -> Option<&'c str> {
        let config = self.config;
        config.plugin.routes.rule(self.rule)?.plan.as_deref()
    }

    fn holds(&self, plan: &str) -> bool {
        let plans = &self.config.plugin.plans;
        self.standing.as_ref().is_some_and(|s| s.holds(plan, plans))
    }

    /// The plan check once the stored plan was read again.
    fn plan_decided(&mut self) -> Result<Step<'_>, ApiError> {
        match self.required_plan() {
            Some(plan) if !self.holds(plan) => Err(plan_required(self.config, plan)),
            _ => self.upstream_token(),
        }
    }

    /// A route that forwards the user's token at a provider: had (and refreshed) before the call
    /// is counted, so a refusal here costs no quota.
    fn upstream_token(&mut self) -> Result<Step<'_>, ApiError> {
        let config = self.config;
        let Some(id) = config
            .plugin
            .routes
            .rule(self.rule)
            .and_then(|r| r.upstream_token.as_deref())
        else {
            return self.body();
        };
        let (Some(provider), Some(key)) = (config.sign_in.provider(id), &config.upstream_token_key)
        else {
            return Err(ApiError::Internal(format!(
                "route names upstream provider {id}, which keeps no tokens"
            )));
        };
        // A machine client (or a shared secret) has no account at the provider to forward.
        if self.identity()?.user().is_none() {
            return Err(ApiError::Forbidden(format!(
                "this route forwards a user's {} token: call it as a signed-in user",
                provider.name
            )));
        }
        self.stage = Stage::UpstreamToken(provider);
        Ok(Step::NeedUpstreamToken {
            provider,
            key,
            user: self.identity()?.user().unwrap_or_default(),
        })
    }

    /// A POST body a framework would read `_method` from: held and read before it costs quota.
    fn body(&mut self) -> Result<Step<'_>, ApiError> {
        let config = self.config;
        let cap = config
            .plugin
            .routes
            .rule(self.rule)
            .and_then(|r| r.max_body_bytes);
        let honors = config.plugin.origin_honors_method_override;
        match method_override::body_to_check(self.head, self.has_body, honors, cap)? {
            Some((kind, limit)) => {
                self.stage = Stage::Body(kind);
                Ok(Step::NeedBody { limit })
            }
            None => self.charge(),
        }
    }

    /// The quota of the plan the user is on (else the plugin's), charged to whoever holds it.
    fn charge(&mut self) -> Result<Step<'_>, ApiError> {
        let quota = self.quota_of(self.standing.as_ref());
        let (Some(quota), Some(holder)) = (quota, self.identity()?.quota_holder()) else {
            return self.forward();
        };
        let key = quota::counter_key(&self.config.plugin.name_for_model, &holder);
        Ok(self.need_charge(
            Stage::Charge {
                key: key.clone(),
                quota,
            },
            key,
            quota,
        ))
    }

    fn need_charge(&mut self, stage: Stage<'c>, key: String, quota: Quota) -> Step<'_> {
        self.stage = stage;
        Step::NeedCharge {
            key,
            quota,
            exact: self.config.plugin.quota_exact,
        }
    }

    fn quota_of(&self, standing: Option<&Standing>) -> Option<Quota> {
        let plugin = &self.config.plugin;
        match standing {
            Some(s) => crate::billing::quota_for(&plugin.plans, s, plugin.quota),
            None => plugin.quota,
        }
    }

    fn charged(
        &mut self,
        key: String,
        quota: Quota,
        charged: Result<QuotaDecision, ApiError>,
    ) -> Result<Step<'_>, ApiError> {
        match charged {
            Ok(decision) => {
                self.charged = Some(Charged {
                    key,
                    quota,
                    decision,
                });
                self.forward()
            }
            // Spent: if the user's plan changed meanwhile (an upgrade), its quota decides.
            Err(spent @ ApiError::TooManyRequests { .. }) if self.standing.is_some() => {
                self.stage = Stage::SpentStanding { key, spent };
                self.need_standing(true)
            }
            Err(e) => Err(e),
        }
    }

    /// The stored plan after the quota was spent: a changed plan's quota is charged; else the
    /// refusal says where a larger quota is sold.
    fn spent(
        &mut self,
        key: String,
        spent: ApiError,
        read: Result<Standing, ApiError>,
    ) -> Result<Step<'_>, ApiError> {
        let Ok(now) = read else {
            return Err(spent);
        };
        match self.quota_of(Some(&now)) {
            Some(quota) if Some(&now) != self.standing.as_ref() => {
                let stage = Stage::Recharge {
                    key: key.clone(),
                    quota,
                    standing: now,
                };
                Ok(self.need_charge(stage, key, quota))
            }
            _ => Err(with_upgrade_link(self.config, &now, spent)),
        }
    }

    fn forward(&mut self) -> Result<Step<'_>, ApiError> {
        self.stage = Stage::Forwarded;
        let headers = std::mem::take(&mut self.headers);
        let held_body = self.held_body.take();
        Ok(Step::Forward(Forward {
            identity: self.identity()?,
            headers,
            held_body,
        }))
    }

    /// The origin answered: the quota headers, after the call is given back if it does not count.
    fn answer(&mut self, status: u16, quota_exempt: bool) -> Step<'_> {
        let Some(charged) = self.charged.take() else {
            return Step::Done { rate_limit: None };
        };
        if !quota::gives_back(status, quota_exempt) {
            let headers = quota::rate_limit_headers(charged.quota, &charged.decision);
            return Step::Done {
                rate_limit: Some(headers),
            };
        }
        let headers = quota::rate_limit_headers(charged.quota, &charged.decision.refunded());
        self.refund(charged, Ok(Some(headers)))
    }

    /// No answer from the API (502, 504): the call does not count.
    fn unanswered(&mut self, error: ApiError) -> Result<Step<'_>, ApiError> {
        match self.charged.take() {
            Some(charged) if quota::gives_back(error.status(), false) => {
                Ok(self.refund(charged, Err(error)))
            }
            _ => Err(error),
        }
    }

    fn refund(
        &mut self,
        charged: Charged,
        then: Result<Option<[(&'static str, String); 2]>, ApiError>,
    ) -> Step<'_> {
        self.stage = Stage::Refunding(then);
        Step::NeedRefund(Refund {
            key: charged.key,
            quota: charged.quota,
            charged_at: self.now as u64,
            exact: self.config.plugin.quota_exact,
        })
    }
}

/// The headers that carry the user's upstream token, or the refusal when none can be had.
fn upstream_headers(
    config: &Config,
    provider: &IdentityProvider,
    token: Result<String, NoToken>,
) -> Result<Vec<(String, String)>, ApiError> {
    match token {
        Ok(token) => Ok(vec![
            (TOKEN_HEADER.to_string(), token),
            (PROVIDER_HEADER.to_string(), provider.id.clone()),
        ]),
        Err(why) => Err(upstream_token_refusal(config, &provider.name, &why)),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::raw;
    use crate::http::Method;
    use crate::oauth::access_token::{mint_access_token, AccessClaims, MACHINE_GRANT};
    use crate::proxy::credential::tests::{claims, head, token, NOW};
    use serde_json::json;

    const FREE: Quota = Quota {
        limit: 10,
        period_secs: 86_400,
    };
    const PRO: Quota = Quota {
        limit: 1_000,
        period_secs: 86_400,
    };

    /// A plugin that sells the `pro` plan (a larger quota, and `/reports`), with a free quota.
    fn selling() -> Config {
        let mut r = raw();
        let plugin = r.plugin.as_mut().unwrap();
        plugin["plans"] = json!([{"id": "pro", "name": "Pro", "stripe_price": "price_pro",
            "roles": ["member"], "quota": {"limit": PRO.limit, "period_secs": PRO.period_secs}}]);
        plugin["quota"] = json!({"limit": FREE.limit, "period_secs": FREE.period_secs});
        plugin["routes"] = json!([
            {"path": "/todos", "methods": ["GET", "POST"], "scopes": ["todos:read"]},
            {"path": "/reports", "methods": ["GET"], "scopes": ["todos:read"], "plan": "pro"}
        ]);
        r.stripe_secret_key = Some("sk_test_abc".into());
        r.stripe_webhook_secret = Some("whsec_new".into());
        Config::parse(r).unwrap()
    }

    const TODOS: usize = 0;
    const REPORTS: usize = 1;

    fn as_user(c: &Config, method: Method, path: &str) -> RequestHead {
        let t = token(c, "todos:read", &c.plugin.resource);
        head(method, path).with_header("authorization", &format!("Bearer {t}"))
    }

    fn as_machine(c: &Config, path: &str) -> RequestHead {
        let machine = AccessClaims {
            sub: "cli_reports".into(),
            gty: Some(MACHINE_GRANT.into()),
            ..claims(c, "todos:read", &c.plugin.resource)
        };
        let t = mint_access_token(&c.keys, machine, NOW, 3600).unwrap();
        head(Method::Get, path).with_header("authorization", &format!("Bearer {t}"))
    }

    /// The call past its credential: the token's signature asked for once (the platform could
    /// not say, so it is verified in wasm), then the first step after.
    fn admitted<'a>(call: &'a mut ProxiedCall<'_>) -> Step<'a> {
        assert!(matches!(
            call.advance(Input::Start, None),
            Step::NeedSignature(..)
        ));
        call.advance(Input::SignatureAsked, None)
    }

    fn allowed(remaining: u64, limit: u64) -> QuotaDecision {
        QuotaDecision {
            allowed: true,
            limit,
            remaining,
            reset_secs: 600,
        }
    }

    fn spent(quota: Quota) -> ApiError {
        ApiError::TooManyRequests {
            retry_after_secs: 600,
            limit: quota.limit,
            period_secs: quota.period_secs,
            upgrade_url: None,
        }
    }

    fn user_key() -> String {
        quota::counter_key("todo_demo", "user_1")
    }

    fn paid() -> Standing {
        Standing::Paid("pro".into())
    }

    /// Asserts the step is the (leased) charge of `quota` to `key`.
    fn assert_charge(step: Step<'_>, key: &str, quota: Quota) {
        match step {
            Step::NeedCharge {
                key: asked,
                quota: q,
                exact: false,
            } => assert_eq!((asked.as_str(), q), (key, quota)),
            other => panic!("{other:?}"),
        }
    }

    fn assert_forwards(step: Step<'_>, subject: &str) {
        match step {
            Step::Forward(forward) => {
                assert_eq!(forward.identity.subject.as_deref(), Some(subject));
                assert!(forward.headers.is_empty());
                assert_eq!(forward.held_body, None);
            }
            other => panic!("{other:?}"),
        }
    }

    fn assert_standing(step: Step<'_>, fresh: bool) {
        match step {
            Step::NeedStanding { user, fresh: f } => assert_eq!((user, f), ("user_1", fresh)),
            other => panic!("{other:?}"),
        }
    }

    fn refused(step: Step<'_>) -> ApiError {
        match step {
            Step::Refuse(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plan_route_reads_the_stored_plan_again_so_an_upgrade_counts_at_once() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/reports");
        let mut call = ProxiedCall::new(&c, &h, REPORTS, false, NOW);
        assert_standing(admitted(&mut call), false);
        // Free by the isolate's cache; paid as stored now.
        let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
        assert_standing(step, true);
        let step = call.advance(Input::Standing(Ok(paid())), None);
        // Charged at the plan's quota, not the free one.
        assert_charge(step, &user_key(), PRO);
        let step = call.advance(Input::Charged(Ok(allowed(999, 1000))), None);
        assert_forwards(step, "user_1");
        let step = call.advance(
            Input::Answered {
                status: 200,
                quota_exempt: false,
            },
            None,
        );
        match step {
            Step::Done {
                rate_limit: Some(headers),
            } => assert_eq!(headers, quota::rate_limit_headers(PRO, &allowed(999, 1000))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plan_route_refuses_402_when_the_stored_plan_lacks_it_too_and_costs_no_quota() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/reports");
        let payment_required = ApiError::PaymentRequired {
            plan: "pro".into(),
            plan_name: "Pro".into(),
            upgrade_url: crate::billing::upgrade_url(&c.public_base_url, "pro"),
        };
        // The stored plan is free too; or it cannot be read, and the refusal stands.
        for stored in [Ok(Standing::Free), Err(ApiError::Unavailable("D1".into()))] {
            let mut call = ProxiedCall::new(&c, &h, REPORTS, false, NOW);
            assert_standing(admitted(&mut call), false);
            assert_standing(
                call.advance(Input::Standing(Ok(Standing::Free)), None),
                true,
            );
            let step = call.advance(Input::Standing(stored), None);
            assert_eq!(refused(step), payment_required);
        }
        // A cached paid plan goes straight on, without a second read.
        let mut call = ProxiedCall::new(&c, &h, REPORTS, false, NOW);
        assert_standing(admitted(&mut call), false);
        let step = call.advance(Input::Standing(Ok(paid())), None);
        assert!(
            matches!(step, Step::NeedCharge { quota: PRO, .. }),
            "{step:?}"
        );
    }

    #[test]
    fn a_machine_client_on_a_plan_route_is_403_before_any_plan_or_quota() {
        let c = selling();
        let h = as_machine(&c, "/reports");
        let mut call = ProxiedCall::new(&c, &h, REPORTS, false, NOW);
        assert_eq!(
            refused(admitted(&mut call)),
            ApiError::Forbidden(
                "this route needs the pro plan, which only a signed-in user can hold".into()
            )
        );
        // On a route without a plan it passes, charged to its own counter, no plan read.
        let h = as_machine(&c, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        let step = admitted(&mut call);
        let key = quota::counter_key("todo_demo", "client:cli_reports");
        assert_charge(step, &key, FREE);
        let step = call.advance(Input::Charged(Ok(allowed(9, 10))), None);
        assert_forwards(step, "cli_reports");
    }

    #[test]
    fn a_spent_quota_after_an_upgrade_is_charged_again_at_the_new_plans_quota() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_standing(admitted(&mut call), false);
        let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
        assert_charge(step, &user_key(), FREE);
        let step = call.advance(Input::Charged(Err(spent(FREE))), None);
        assert_standing(step, true);
        let step = call.advance(Input::Standing(Ok(paid())), None);
        assert_charge(step, &user_key(), PRO);
        let step = call.advance(Input::Charged(Ok(allowed(990, 1000))), None);
        assert_forwards(step, "user_1");
        let step = call.advance(
            Input::Answered {
                status: 201,
                quota_exempt: false,
            },
            None,
        );
        match step {
            Step::Done {
                rate_limit: Some(headers),
            } => assert_eq!(headers, quota::rate_limit_headers(PRO, &allowed(990, 1000))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_spent_quota_without_an_upgrade_names_the_upgrade_page() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/todos");
        let with_link = ApiError::TooManyRequests {
            retry_after_secs: 600,
            limit: FREE.limit,
            period_secs: FREE.period_secs,
            upgrade_url: Some(crate::billing::upgrade_url(&c.public_base_url, "pro")),
        };
        for (stored, refusal) in [
            // Still free: where a larger quota is sold.
            (Ok(Standing::Free), with_link.clone()),
            // The stored plan cannot be read: the refusal as the counter made it.
            (Err(ApiError::Unavailable("D1".into())), spent(FREE)),
        ] {
            let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
            assert_standing(admitted(&mut call), false);
            let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
            assert_charge(step, &user_key(), FREE);
            let step = call.advance(Input::Charged(Err(spent(FREE))), None);
            assert_standing(step, true);
            assert_eq!(
                refused(call.advance(Input::Standing(stored), None)),
                refusal
            );
        }
        // Upgraded, and the new quota spent as well: the refusal, with the link the plan gives.
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_standing(admitted(&mut call), false);
        let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
        assert_charge(step, &user_key(), FREE);
        let step = call.advance(Input::Charged(Err(spent(FREE))), None);
        assert_standing(step, true);
        let step = call.advance(Input::Standing(Ok(paid())), None);
        assert_charge(step, &user_key(), PRO);
        let step = call.advance(Input::Charged(Err(spent(PRO))), None);
        assert_eq!(refused(step), spent(PRO));
        // A counter that fails is no spent quota: its 503 stands, with no plan read.
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_standing(admitted(&mut call), false);
        let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
        let down = ApiError::Unavailable("quota counter: down".into());
        assert_charge(step, &user_key(), FREE);
        let step = call.advance(Input::Charged(Err(down.clone())), None);
        assert_eq!(refused(step), down);
    }

    /// A call on `/todos` charged at the free quota, forwarded.
    fn forwarded<'c>(c: &'c Config, h: &'c RequestHead) -> ProxiedCall<'c> {
        let mut call = ProxiedCall::new(c, h, TODOS, false, NOW);
        assert_standing(admitted(&mut call), false);
        let step = call.advance(Input::Standing(Ok(Standing::Free)), None);
        assert_charge(step, &user_key(), FREE);
        let step = call.advance(Input::Charged(Ok(allowed(4, 10))), None);
        assert_forwards(step, "user_1");
        call
    }

    fn the_refund(exact: bool) -> Refund {
        Refund {
            key: user_key(),
            quota: FREE,
            charged_at: NOW as u64,
            exact,
        }
    }

    #[test]
    fn no_answer_from_the_origin_gives_the_call_back_and_refuses() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/todos");
        for error in [
            ApiError::OriginUnreachable("connection refused".into()),
            ApiError::OriginTimeout { timeout_ms: 10_000 },
        ] {
            let mut call = forwarded(&c, &h);
            match call.advance(Input::Unanswered(error.clone()), None) {
                Step::NeedRefund(refund) => assert_eq!(refund, the_refund(false)),
                other => panic!("{other:?}"),
            }
            assert_eq!(refused(call.advance(Input::Refunded, None)), error);
        }
        // A request the gateway would not send (a header it cannot write) still counts.
        let mut call = forwarded(&c, &h);
        let bad = ApiError::BadRequest("the header x is malformed".into());
        assert_eq!(
            refused(call.advance(Input::Unanswered(bad.clone()), None)),
            bad
        );
    }

    #[test]
    fn an_exempt_answer_or_a_502_from_the_origin_is_given_back_with_one_more_call_left() {
        let c = selling();
        let h = as_user(&c, Method::Get, "/todos");
        for (status, quota_exempt) in [(200, true), (502, false), (504, false)] {
            let mut call = forwarded(&c, &h);
            let answer = Input::Answered {
                status,
                quota_exempt,
            };
            match call.advance(answer, None) {
                Step::NeedRefund(refund) => assert_eq!(refund, the_refund(false)),
                other => panic!("{status}: {other:?}"),
            }
            match call.advance(Input::Refunded, None) {
                Step::Done {
                    rate_limit: Some(headers),
                } => assert_eq!(headers, quota::rate_limit_headers(FREE, &allowed(5, 10))),
                other => panic!("{status}: {other:?}"),
            }
        }
        // Any other answer counts: no refund.
        let mut call = forwarded(&c, &h);
        let answer = Input::Answered {
            status: 500,
            quota_exempt: false,
        };
        match call.advance(answer, None) {
            Step::Done {
                rate_limit: Some(headers),
            } => assert_eq!(headers, quota::rate_limit_headers(FREE, &allowed(4, 10))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_exact_quota_is_charged_and_given_back_at_the_counter_a_leased_one_in_the_isolate() {
        let mut c = selling();
        c.plugin.plans.clear();
        let h = as_user(&c, Method::Get, "/todos");
        for exact in [false, true] {
            c.plugin.quota_exact = exact;
            let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
            // No plans sold: no plan is read.
            match admitted(&mut call) {
                Step::NeedCharge {
                    key,
                    quota: FREE,
                    exact: e,
                } => assert_eq!((key, e), (user_key(), exact)),
                other => panic!("{other:?}"),
            }
            let step = call.advance(Input::Charged(Ok(allowed(4, 10))), None);
            assert_forwards(step, "user_1");
            let answer = Input::Answered {
                status: 200,
                quota_exempt: true,
            };
            match call.advance(answer, None) {
                Step::NeedRefund(refund) => assert_eq!(refund, the_refund(exact)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn without_a_quota_the_call_is_forwarded_uncharged_and_answered_without_quota_headers() {
        let mut c = selling();
        c.plugin.plans.clear();
        c.plugin.quota = None;
        let h = as_user(&c, Method::Get, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_forwards(admitted(&mut call), "user_1");
        let answer = Input::Answered {
            status: 200,
            quota_exempt: true,
        };
        assert!(matches!(
            call.advance(answer, None),
            Step::Done { rate_limit: None }
        ));
    }

    #[test]
    fn a_post_body_is_held_and_checked_for_method_before_it_costs_quota() {
        let mut c = selling();
        c.plugin.plans.clear();
        c.plugin.origin_honors_method_override = true;
        let h = as_user(&c, Method::Post, "/todos")
            .with_header("content-type", "application/x-www-form-urlencoded");
        let limit = method_override::held_bytes(None);
        // A body that asks for another method: refused, nothing charged.
        let mut call = ProxiedCall::new(&c, &h, TODOS, true, NOW);
        assert!(matches!(admitted(&mut call), Step::NeedBody { limit: l } if l == limit));
        let step = call.advance(Input::Body(Ok(b"_method=DELETE".to_vec())), None);
        assert_eq!(
            refused(step),
            ApiError::BadRequest(
                "_method in the body would make the origin run another method than the POST \
                 the gateway checked; send that method itself"
                    .into()
            )
        );
        // A body too large to hold: its refusal, nothing charged.
        let mut call = ProxiedCall::new(&c, &h, TODOS, true, NOW);
        assert!(matches!(admitted(&mut call), Step::NeedBody { .. }));
        let too_large = ApiError::PayloadTooLarge {
            limit_bytes: limit as u64,
        };
        let step = call.advance(Input::Body(Err(too_large.clone())), None);
        assert_eq!(refused(step), too_large);
        // A plain one: charged, then sent on as held.
        let mut call = ProxiedCall::new(&c, &h, TODOS, true, NOW);
        assert!(matches!(admitted(&mut call), Step::NeedBody { .. }));
        let step = call.advance(Input::Body(Ok(b"title=milk".to_vec())), None);
        assert_charge(step, &user_key(), FREE);
        let step = call.advance(Input::Charged(Ok(allowed(9, 10))), None);
        match step {
            Step::Forward(forward) => {
                assert_eq!(forward.held_body.as_deref(), Some(&b"title=milk"[..]))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A plugin whose `/todos` forwards the user's GitHub token, with a free quota.
    fn forwarding_github() -> Config {
        let mut r = raw();
        r.identity_providers =
            Some(json!([{"id": "gh", "kind": "github", "client_id": "c", "keep_tokens": true}]));
        r.named_secrets = [("GH_CLIENT_SECRET".to_string(), "s".to_string())].into();
        r.upstream_token_key = Some(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            [7u8; 32],
        ));
        let plugin = r.plugin.as_mut().unwrap();
        plugin["sign_in"] = json!({"providers": ["gh"]});
        plugin["quota"] = json!({"limit": FREE.limit, "period_secs": FREE.period_secs});
        plugin["routes"] = json!([{"path": "/todos", "methods": ["GET"], "scopes": ["todos:read"], "upstream_token": "gh"}]);
        Config::parse(r).unwrap()
    }

    #[test]
    fn the_users_upstream_token_is_had_before_the_charge_and_its_refusal_costs_none() {
        let c = forwarding_github();
        let h = as_user(&c, Method::Get, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        match admitted(&mut call) {
            Step::NeedUpstreamToken { provider, user, .. } => {
                assert_eq!((provider.id.as_str(), user), ("gh", "user_1"))
            }
            other => panic!("{other:?}"),
        }
        let step = call.advance(Input::UpstreamToken(Ok("gho_abc".into())), None);
        assert_charge(step, &user_key(), FREE);
        match call.advance(Input::Charged(Ok(allowed(9, 10))), None) {
            Step::Forward(forward) => assert_eq!(
                forward.headers,
                [
                    (TOKEN_HEADER.to_string(), "gho_abc".to_string()),
                    (PROVIDER_HEADER.to_string(), "gh".to_string())
                ]
            ),
            other => panic!("{other:?}"),
        }
        // None kept: 401, so the client authorizes again; the provider down: 503. No charge.
        for (why, status) in [
            (NoToken::NotKept, 401),
            (NoToken::Unavailable("github: timeout".into()), 503),
        ] {
            let refusal = upstream_token_refusal(&c, "GitHub", &why);
            let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
            assert!(matches!(
                admitted(&mut call),
                Step::NeedUpstreamToken { .. }
            ));
            let step = call.advance(Input::UpstreamToken(Err(why)), None);
            assert_eq!(refused(step), refusal);
            assert_eq!(refusal.status(), status);
        }
        // A machine client has no account at the provider.
        let h = as_machine(&c, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_eq!(
            refused(admitted(&mut call)),
            ApiError::Forbidden(
                "this route forwards a user's GitHub token: call it as a signed-in user".into()
            )
        );
    }

    #[test]
    fn a_refused_credential_asks_for_nothing_more() {
        let c = selling();
        let h = head(Method::Get, "/todos");
        let mut call = ProxiedCall::new(&c, &h, TODOS, false, NOW);
        assert_eq!(
            refused(call.advance(Input::Start, None)).status(),
            401,
            "no token, no plan read, no charge"
        );
        // Fed something nobody asked for, the call refuses rather than guess.
        assert!(matches!(
            refused(call.advance(Input::Refunded, None)),
            ApiError::Internal(why) if why.contains("did not ask for")
        ));
    }
}
