//! The settings every plugin of a deployment shares: signing keys, the session secret, the admin
//! token, the authorization server's lifetimes, cache times.

use super::values::seconds;
use super::{
    ConfigError, OAuthSettings, RawConfig, DEFAULT_API_KEY_CACHE_SECS, DEFAULT_ORIGIN_TIMEOUT_MS,
};
use crate::accounts::mail::{Delivery, MailSettings, RESEND_API_BASE};
use crate::federation::IdentityProvider;
use crate::jose::keys::{KeyError, KeySet};
use crate::oauth::access_token::DEFAULT_ACCESS_TOKEN_TTL_SECS;
use crate::oauth::grant::{RefreshPolicy, DEFAULT_CODE_TTL_SECS};
use crate::primitives::secret::Secret;
use crate::request_log::SampleRate;

/// Settings every plugin of a deployment shares.
pub(crate) struct Shared {
    pub(crate) keys: KeySet,
    pub(crate) origin_timeout_ms: u64,
    pub(crate) oauth: Option<OAuthSettings>,
    pub(crate) admin_token: Option<Secret>,
    pub(crate) api_key_cache_secs: u64,
    pub(crate) request_log: SampleRate,
    pub(crate) providers: Vec<IdentityProvider>,
    pub(crate) token_key: Option<crate::federation::TokenKey>,
    pub(crate) billing: Option<super::BillingSettings>,
    pub(crate) usage_flush_secs: i64,
    pub(crate) mail: Option<MailSettings>,
    /// Turnstile's secret and Siteverify's base, when the secret is set.
    pub(crate) turnstile: Option<(Secret, String)>,
}

impl Shared {
    /// The authorization server's settings are read only when a plugin uses it (`any_oauth`), so
    /// a deployment without one needs no session secret.
    pub(crate) fn parse(
        raw: &RawConfig,
        any_oauth: bool,
        any_plans: bool,
    ) -> Result<Shared, ConfigError> {
        let providers = super::providers::parse_providers(raw)?;
        Ok(Shared {
            mail: mail_settings(raw)?,
            turnstile: turnstile_secret(raw)?,
            usage_flush_secs: seconds(
                "USAGE_FLUSH_SECS",
                raw.usage_flush_secs.as_deref(),
                30,
                0,
                300,
            )?,
            billing: if any_plans {
                Some(billing_settings(raw)?)
            } else {
                None
            },
            token_key: super::providers::token_key(raw, &providers)?,
            origin_timeout_ms: origin_timeout_ms(raw.origin_timeout_ms.as_deref())?,
            keys: signing_keys(raw)?,
            // Without an OAuth plugin, a SESSION_SECRET still gives `user_http` plugins their
            // sign-in and account pages (where users make their own API keys).
            oauth: if any_oauth || raw.session_secret.as_deref().is_some_and(|s| !s.is_empty()) {
                Some(oauth_settings(raw)?)
            } else {
                None
            },
            admin_token: admin_token(raw.admin_token.as_deref())?,
            api_key_cache_secs: seconds(
                "API_KEY_CACHE_SECS",
                raw.api_key_cache_secs.as_deref(),
                DEFAULT_API_KEY_CACHE_SECS as i64,
                0,
                300,
            )? as u64,
            request_log: match raw.request_log_sample_rate.as_deref() {
                None | Some("") => SampleRate::DEFAULT,
                Some(text) => SampleRate::parse(text)
                    .map_err(|e| ConfigError::new("REQUEST_LOG_SAMPLE_RATE", e))?,
            },
            providers,
        })
    }
}

fn origin_timeout_ms(value: Option<&str>) -> Result<u64, ConfigError> {
    let Some(text) = value.filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_ORIGIN_TIMEOUT_MS);
    };
    text.parse::<u64>()
        .ok()
        .filter(|ms| (100..=300_000).contains(ms))
        .ok_or_else(|| {
            ConfigError::new(
                "ORIGIN_TIMEOUT_MS",
                format!("milliseconds between 100 and 300000, got {text:?}"),
            )
        })
}

fn signing_keys(raw: &RawConfig) -> Result<KeySet, ConfigError> {
    KeySet::from_secrets(
        raw.signing_key.as_deref(),
        raw.previous_signing_key.as_deref(),
    )
    .and_then(|keys| {
        keys.with_rsa(
            raw.rsa_signing_key.as_deref(),
            raw.previous_rsa_signing_key.as_deref(),
        )
    })
    .map_err(|e| match e {
        KeyError::Missing => ConfigError::new(
            "SIGNING_KEY",
            "a secret holding a base64url Ed25519 seed (32 bytes); `npx portcullis dev` (or `npm start` in a clone) writes one to .dev.vars locally, `wrangler secret put SIGNING_KEY` sets it in production",
        ),
        KeyError::Malformed { which } => ConfigError::new(
            which,
            "base64url (no padding) of a 32-byte Ed25519 seed",
        ),
        KeyError::Rsa { which, reason } => ConfigError::new(which, reason),
    })
}

fn oauth_settings(raw: &RawConfig) -> Result<OAuthSettings, ConfigError> {
    Ok(OAuthSettings {
        session_secret: session_secret(raw.session_secret.as_deref())?,
        code_ttl_secs: seconds(
            "CODE_TTL_SECS",
            raw.code_ttl_secs.as_deref(),
            DEFAULT_CODE_TTL_SECS,
            10,
            600,
        )?,
        access_token_ttl_secs: seconds(
            "ACCESS_TOKEN_TTL_SECS",
            raw.access_token_ttl_secs.as_deref(),
            DEFAULT_ACCESS_TOKEN_TTL_SECS,
            60,
            86_400,
        )?,
        refresh: refresh_policy(raw)?,
    })
}

/// The HMAC key of portal sessions and CSRF tokens: short keys are guessable.
fn session_secret(value: Option<&str>) -> Result<Secret, ConfigError> {
    match value.filter(|s| s.len() >= 32) {
        Some(secret) => Ok(Secret::new(secret.to_string())),
        None => Err(ConfigError::new(
            "SESSION_SECRET",
            "a secret of at least 32 characters (random) for portal sessions, required by auth type oauth (and by user_http's account page)",
        )),
    }
}

/// A family lives at least as long as one of its tokens, so the absolute lifetime's default and
/// lower bound follow the idle lifetime.
fn refresh_policy(raw: &RawConfig) -> Result<RefreshPolicy, ConfigError> {
    let defaults = RefreshPolicy::default();
    let ttl_secs = seconds(
        "REFRESH_TOKEN_TTL_SECS",
        raw.refresh_token_ttl_secs.as_deref(),
        defaults.ttl_secs,
        300,
        365 * 86_400,
    )?;
    let absolute_secs = seconds(
        "REFRESH_TOKEN_ABSOLUTE_TTL_SECS",
        raw.refresh_token_absolute_ttl_secs.as_deref(),
        defaults.absolute_secs.max(ttl_secs),
        ttl_secs,
        3 * 365 * 86_400,
    )?;
    Ok(RefreshPolicy {
        ttl_secs,
        absolute_secs,
    })
}

/// Optional (unset turns the admin API off), but never short enough to guess.
fn admin_token(value: Option<&str>) -> Result<Option<Secret>, ConfigError> {
    match value.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.len() >= 32 => Ok(Some(Secret::new(t.to_string()))),
        Some(_) => Err(ConfigError::new(
            "ADMIN_TOKEN",
            "a secret of at least 32 random characters (or unset, to turn the admin API off)",
        )),
    }
}

/// Stripe's settings, read when a plugin sells plans: the API key and the webhook secrets are
/// required then.
fn billing_settings(raw: &RawConfig) -> Result<super::BillingSettings, ConfigError> {
    let secret_key = raw
        .stripe_secret_key
        .as_deref()
        .filter(|k| k.starts_with("sk_") || k.starts_with("rk_"))
        .ok_or_else(|| {
            ConfigError::new(
                "STRIPE_SECRET_KEY",
                "a secret holding Stripe's API key (sk_… or a restricted rk_…): a plugin sells plans",
            )
        })?;
    let webhook_secrets: Vec<Secret> = raw
        .stripe_webhook_secret
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.to_string()))
        .collect();
    if webhook_secrets.is_empty()
        || webhook_secrets
            .iter()
            .any(|s| !s.expose().starts_with("whsec_"))
    {
        return Err(ConfigError::new(
            "STRIPE_WEBHOOK_SECRET",
            "a secret holding the webhook endpoint's signing secret (whsec_…; two, comma-separated, while rolling one)",
        ));
    }
    let api_base = match raw.stripe_api_base.as_deref().filter(|b| !b.is_empty()) {
        None => crate::billing::stripe::DEFAULT_API_BASE.to_string(),
        Some(base) => crate::federation::check_provider_url(base)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .map_err(|why| ConfigError::new("STRIPE_API_BASE", why))?,
    };
    Ok(super::BillingSettings {
        api_base,
        secret_key: Secret::new(secret_key.to_string()),
        webhook_secrets,
        plan_cache_secs: seconds(
            "PLAN_CACHE_SECS",
            raw.plan_cache_secs.as_deref(),
            30,
            0,
            300,
        )?,
    })
}

/// The mail settings, when `MAIL_FROM` names a sender.
fn mail_settings(raw: &RawConfig) -> Result<Option<MailSettings>, ConfigError> {
    let Some(from) = raw.mail_from.as_deref().filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let (from_name, from_address) =
        MailSettings::parse_from(from).map_err(|why| ConfigError::new("MAIL_FROM", why))?;
    let delivery = match raw.mail_provider.as_deref().map(str::trim) {
        None | Some("") | Some("cloudflare") => Delivery::Binding,
        Some("resend") => {
            let api_key = raw
                .resend_api_key
                .as_deref()
                .map(str::trim)
                .filter(|k| k.starts_with("re_"))
                .ok_or_else(|| {
                    ConfigError::new(
                        "RESEND_API_KEY",
                        "a secret holding Resend's API key (re_…), with MAIL_PROVIDER = \"resend\"",
                    )
                })?;
            let api_base = match raw.resend_api_base.as_deref().filter(|b| !b.is_empty()) {
                None => RESEND_API_BASE.to_string(),
                Some(base) => crate::federation::check_provider_url(base)
                    .map(|u| u.as_str().trim_end_matches('/').to_string())
                    .map_err(|why| ConfigError::new("RESEND_API_BASE", why))?,
            };
            Delivery::Resend {
                api_key: Secret::new(api_key.to_string()),
                api_base,
            }
        }
        Some(_) => {
            return Err(ConfigError::new(
                "MAIL_PROVIDER",
                "\"cloudflare\" (the send_email binding EMAIL) or \"resend\"",
            ))
        }
    };
    Ok(Some(MailSettings {
        from_address,
        from_name,
        delivery,
    }))
}

/// Turnstile's secret key (`TURNSTILE_SECRET_KEY`) and where Siteverify is.
fn turnstile_secret(raw: &RawConfig) -> Result<Option<(Secret, String)>, ConfigError> {
    let Some(secret) = raw
        .turnstile_secret_key
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let base = match raw.turnstile_api_base.as_deref().filter(|b| !b.is_empty()) {
        None => crate::accounts::turnstile::SITEVERIFY_BASE.to_string(),
        Some(base) => crate::federation::check_provider_url(base)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .map_err(|why| ConfigError::new("TURNSTILE_API_BASE", why))?,
    };
    Ok(Some((Secret::new(secret.to_string()), base)))
}
