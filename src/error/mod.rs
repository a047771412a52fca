//! The gateway's one error type and its wire form.
//!
//! Every refusal the gateway writes goes through [`ApiError::to_reply`]: an RFC 6749 §5.2-shaped
//! JSON body (`error`, `error_description`), the right status, `Cache-Control: no-store`, and on
//! resource 401/403 a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). Variants that wrap an
//! internal reason keep it for the log line and send only a generic description.

use crate::http::Reply;
pub mod oauth;
mod store;

pub use store::StoreError;

use crate::primitives::duration::human_duration;
use oauth::OAuthError;

/// A `WWW-Authenticate` challenge: RFC 6750 §3 for `Bearer` (plus RFC 9728 §5.1's
/// `resource_metadata`), RFC 7617 for `Basic`, which carries the realm only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// `Bearer`, `DPoP` or `Basic`.
    pub scheme: &'static str,
    pub realm: String,
    /// RFC 9728: where the client finds the protected-resource metadata.
    pub resource_metadata: Option<String>,
    /// `invalid_request`, `invalid_token` or `insufficient_scope`; absent when the request
    /// carried no credential at all (RFC 6750 §3.1).
    pub error: Option<&'static str>,
    pub error_description: Option<String>,
    /// The scope the resource needs (RFC 6750 §3).
    pub scope: Option<String>,
    /// RFC 9449 §7.1: the proof algorithms a `DPoP` challenge accepts.
    pub algs: Option<String>,
    /// RFC 9449 §9: the nonce the next proof must carry, sent as `DPoP-Nonce`.
    pub dpop_nonce: Option<String>,
}

impl Challenge {
    pub fn header_value(&self) -> String {
        let mut params = vec![format!("realm=\"{}\"", quote_safe(&self.realm))];
        if self.scheme != "Bearer" && self.scheme != "DPoP" {
            return format!("{} {}", self.scheme, params.join(", "));
        }
        if let Some(algs) = &self.algs {
            params.push(format!("algs=\"{}\"", quote_safe(algs)));
        }
        if let Some(error) = self.error {
            params.push(format!("error=\"{error}\""));
        }
        if let Some(description) = &self.error_description {
            params.push(format!("error_description=\"{}\"", quote_safe(description)));
        }
        if let Some(scope) = &self.scope {
            params.push(format!("scope=\"{}\"", quote_safe(scope)));
        }
        if let Some(url) = &self.resource_metadata {
            params.push(format!("resource_metadata=\"{}\"", quote_safe(url)));
        }
        format!("{} {}", self.scheme, params.join(", "))
    }
}

/// RFC 6750 §3 limits these values to printable ASCII without `"` and `\`.
fn quote_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

/// Why a request was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No gateway endpoint and no route rule covers the path.
    NotFound,
    /// No plugin of this deployment answers on the request's host (RFC 9110 §15.5.20).
    MisdirectedRequest,
    /// The path exists but not for this method; `allow` lists the methods that do.
    MethodNotAllowed { allow: Vec<String> },
    /// Malformed input the client can fix; the text names what was wrong.
    BadRequest(String),
    /// A body over the limit of its route.
    PayloadTooLarge { limit_bytes: u64 },
    /// A capped route got a body without a declared length.
    LengthRequired,
    /// A missing or invalid credential on a protected route.
    Unauthorized(Box<Challenge>),
    /// A valid token without the scope the route needs (RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope(Box<Challenge>),
    /// A route rule denies the request, whoever asks.
    Forbidden(String),
    /// The caller's quota for the period is spent; `upgrade_url` says where more is sold.
    TooManyRequests {
        retry_after_secs: u64,
        limit: u64,
        period_secs: u64,
        upgrade_url: Option<String>,
    },
    /// The route needs a plan the caller does not hold (402): which, and where to get it.
    PaymentRequired {
        plan: String,
        plan_name: String,
        upgrade_url: String,
    },
    /// The origin refused the connection or failed mid-way (internal reason kept for the log).
    OriginUnreachable(String),
    /// The origin did not answer within the configured timeout.
    OriginTimeout { timeout_ms: u64 },
    /// A store the request needs (D1, a Durable Object) failed; nothing was half-written.
    Unavailable(String),
    /// A bug or a broken deployment; the reason goes to the log only.
    Internal(String),
    /// An error of an OAuth endpoint, in the RFC's own codes.
    OAuth(OAuthError),
    /// Too many attempts (failed logins, client authentications) from one source.
    Throttled { retry_after_secs: u64 },
    /// Fields of a request body that are missing or malformed: `(field, what is wrong)`.
    Validation(Vec<(String, String)>),
    /// A value that must be unique is taken.
    Conflict { field: String, message: String },
    /// `/register` refused: the registrant's network (or, with `everyone`, the deployment)
    /// holds as many unused self-registered clients as it may.
    RegistrationsFull { everyone: bool },
}

/// How long a refused registrant is told to wait: unused registrations expire continuously, each
/// a day after it was made, so an hour frees some.
pub const REGISTRATIONS_FULL_RETRY_SECS: u64 = 3600;

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        ApiError::OAuth(error)
    }
}

impl From<crate::http::BodyError> for ApiError {
    fn from(e: crate::http::BodyError) -> Self {
        match e {
            crate::http::BodyError::BadLength(why) => ApiError::BadRequest(why.into()),
            crate::http::BodyError::TooLarge { limit_bytes } => {
                ApiError::PayloadTooLarge { limit_bytes }
            }
        }
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::NotFound => 404,
            ApiError::MisdirectedRequest => 421,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::BadRequest(_) => 400,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::LengthRequired => 411,
            ApiError::Unauthorized(_) => 401,
            ApiError::InsufficientScope(_) | ApiError::Forbidden(_) => 403,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::PaymentRequired { .. } => 402,
            ApiError::OriginUnreachable(_) => 502,
            ApiError::OriginTimeout { .. } => 504,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
            ApiError::OAuth(e) => e.code.status(),
            ApiError::Throttled { .. } => 429,
            ApiError::Validation(_) => 400,
            ApiError::Conflict { .. } => 409,
            ApiError::RegistrationsFull { everyone: true } => 503,
            ApiError::RegistrationsFull { everyone: false } => 429,
        }
    }

    /// The `error` code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MisdirectedRequest => "misdirected_request",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::LengthRequired => "length_required",
            ApiError::Unauthorized(challenge) => challenge.error.unwrap_or("unauthorized"),
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::Forbidden(_) => "access_denied",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::PaymentRequired { .. } => "plan_required",
            ApiError::OriginUnreachable(_) => "bad_gateway",
            ApiError::OriginTimeout { .. } => "gateway_timeout",
            ApiError::Unavailable(_) => "temporarily_unavailable",
            ApiError::Internal(_) => "server_error",
            ApiError::OAuth(e) => e.code.as_str(),
            ApiError::Throttled { .. } => "temporarily_unavailable",
            ApiError::Validation(_) => "invalid_request",
            ApiError::Conflict { .. } => "conflict",
            ApiError::RegistrationsFull { .. } => "temporarily_unavailable",
        }
    }

    /// What the client is told. Never contains an internal reason.
    pub fn description(&self) -> String {
        match self {
            ApiError::NotFound => "no such resource".into(),
            ApiError::MisdirectedRequest => "no plugin is served on this host".into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("method not allowed here; allowed: {}", allow.join(", "))
            }
            ApiError::BadRequest(why) => why.clone(),
            ApiError::PayloadTooLarge { limit_bytes } => {
                format!("request body exceeds {limit_bytes} bytes")
            }
            ApiError::LengthRequired => {
                "this route caps the body size: send a Content-Length".into()
            }
            ApiError::Unauthorized(challenge) => challenge
                .error_description
                .clone()
                .unwrap_or_else(|| "a bearer token is required".into()),
            ApiError::InsufficientScope(challenge) => match &challenge.scope {
                Some(scope) => format!("the token lacks the scope this route needs: {scope}"),
                None => "the token lacks the scope this route needs".into(),
            },
            ApiError::Forbidden(why) => why.clone(),
            ApiError::TooManyRequests {
                retry_after_secs,
                upgrade_url: None,
                ..
            } => format!("quota exhausted; it resets in {}", human_duration(*retry_after_secs)),
            ApiError::TooManyRequests {
                retry_after_secs,
                upgrade_url: Some(url),
                ..
            } => format!(
                "quota exhausted; it resets in {}, or a larger plan gives more now: {url}",
                human_duration(*retry_after_secs)
            ),
            ApiError::PaymentRequired {
                plan_name,
                upgrade_url,
                ..
            } => format!("this needs the {plan_name} plan; subscribe at {upgrade_url}"),
            ApiError::OriginUnreachable(_) => "the upstream API could not be reached".into(),
            ApiError::OriginTimeout { timeout_ms } => {
                format!("the upstream API did not answer within {timeout_ms} ms")
            }
            ApiError::Unavailable(_) => {
                "a storage service is unavailable; nothing was changed, retry later".into()
            }
            ApiError::Internal(_) => "internal error".into(),
            ApiError::OAuth(e) => e.description.clone(),
            ApiError::Throttled { retry_after_secs } => {
                format!("too many attempts; retry in {}", human_duration(*retry_after_secs))
            }
            ApiError::Validation(errors) => errors
                .iter()
                .map(|(field, message)| format!("{field} {message}"))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Conflict { field, message } => format!("{field} {message}"),
            ApiError::RegistrationsFull { everyone: false } => {
                "this network has too many client registrations that were never used: use one of them, or retry when they expire (a day after registering)".into()
            }
            ApiError::RegistrationsFull { everyone: true } => {
                "the server holds as many unused client registrations as it allows; retry later".into()
            }
        }
    }

    /// The reason to log, when it differs from what the client sees.
    pub fn internal_reason(&self) -> Option<&str> {
        match self {
            ApiError::OriginUnreachable(why)
            | ApiError::Unavailable(why)
            | ApiError::Internal(why) => Some(why),
            _ => None,
        }
    }

    pub fn to_reply(&self) -> Reply {
        let mut body = serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        });
        match self {
            ApiError::Validation(errors) => {
                let fields: serde_json::Map<String, serde_json::Value> = errors
                    .iter()
                    .map(|(f, m)| (f.clone(), serde_json::Value::String(m.clone())))
                    .collect();
                body["fields"] = serde_json::Value::Object(fields);
            }
            ApiError::Conflict { field, message } => {
                body["fields"] = serde_json::json!({ field: message });
            }
            // What an assistant can relay to the user: the plan and the link.
            ApiError::PaymentRequired {
                plan,
                plan_name,
                upgrade_url,
            } => {
                body["plan"] = serde_json::Value::String(plan.clone());
                body["plan_name"] = serde_json::Value::String(plan_name.clone());
                body["upgrade_url"] = serde_json::Value::String(upgrade_url.clone());
            }
            ApiError::TooManyRequests {
                retry_after_secs,
                upgrade_url,
                ..
            } => {
                body["reset_in_secs"] = serde_json::json!(retry_after_secs);
                if let Some(url) = upgrade_url {
                    body["upgrade_url"] = serde_json::Value::String(url.clone());
                }
            }
            _ => {}
        }
        let mut reply = Reply::json(self.status(), &body).no_store();
        match self {
            ApiError::MethodNotAllowed { allow } => {
                reply = reply.with_header("allow", allow.join(", "));
            }
            ApiError::Unauthorized(challenge) | ApiError::InsufficientScope(challenge) => {
                reply = reply.with_header("www-authenticate", challenge.header_value());
                if let Some(nonce) = &challenge.dpop_nonce {
                    reply = reply.with_header("dpop-nonce", nonce.as_str());
                }
            }
            ApiError::OAuth(e) if e.basic_challenge => {
                reply = reply.with_header("www-authenticate", "Basic realm=\"token\"");
            }
            ApiError::Throttled { retry_after_secs } => {
                reply = reply.with_header("retry-after", retry_after_secs.to_string());
            }
            ApiError::RegistrationsFull { .. } => {
                reply = reply.with_header("retry-after", REGISTRATIONS_FULL_RETRY_SECS.to_string());
            }
            ApiError::TooManyRequests {
                retry_after_secs,
                limit,
                period_secs,
                ..
            } => {
                reply = reply
                    .with_header("retry-after", retry_after_secs.to_string())
                    .with_header("ratelimit-policy", format!("{limit};w={period_secs}"))
                    .with_header(
                        "ratelimit",
                        format!("limit={limit}, remaining=0, reset={retry_after_secs}"),
                    );
            }
            _ => {}
        }
        reply
    }
}

impl From<StoreError> for ApiError {
    /// A store that failed is 503 (`temporarily_unavailable`), its reason kept for the log; one
    /// that refused for now is 429 with its retry time.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            StoreError::Throttled { retry_after_secs } => ApiError::Throttled { retry_after_secs },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(error: Option<&'static str>) -> Challenge {
        Challenge {
            scheme: "Bearer",
            realm: "todo".into(),
            resource_metadata: Some(
                "https://api.example.com/.well-known/oauth-protected-resource".into(),
            ),
            error,
            error_description: error.map(|_| "token expired".into()),
            scope: None,
            ..Default::default()
        }
    }

    #[test]
    fn a_request_without_credentials_gets_a_challenge_without_error_code() {
        let reply = ApiError::Unauthorized(Box::new(challenge(None))).to_reply();
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"todo\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\"")
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.json_body().unwrap()["error"], "unauthorized");
    }

    #[test]
    fn an_invalid_token_is_named_in_the_challenge_and_the_body() {
        let reply = ApiError::Unauthorized(Box::new(challenge(Some("invalid_token")))).to_reply();
        let header = reply.header("www-authenticate").unwrap();
        assert!(header.contains("error=\"invalid_token\""));
        assert!(header.contains("error_description=\"token expired\""));
        assert_eq!(reply.json_body().unwrap()["error"], "invalid_token");
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let mut c = challenge(Some("insufficient_scope"));
        c.scope = Some("todos:write".into());
        let reply = ApiError::InsufficientScope(Box::new(c)).to_reply();
        assert_eq!(reply.status, 403);
        assert!(reply
            .header("www-authenticate")
            .unwrap()
            .contains("scope=\"todos:write\""));
        assert!(reply.json_body().unwrap()["error_description"]
            .as_str()
            .unwrap()
            .contains("todos:write"));
    }

    #[test]
    fn challenge_values_cannot_break_out_of_their_quotes() {
        let mut c = challenge(Some("invalid_token"));
        c.error_description = Some("bad\"\r\nSet-Cookie: x=y".into());
        let header = c.header_value();
        assert!(!header.contains('\r') && !header.contains('\n'));
        assert!(header.contains("error_description=\"badSet-Cookie: x=y\""));
    }

    #[test]
    fn method_not_allowed_lists_allow() {
        let reply = ApiError::MethodNotAllowed {
            allow: vec!["GET".into(), "HEAD".into()],
        }
        .to_reply();
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    }

    #[test]
    fn internal_reasons_never_reach_the_wire() {
        let error = ApiError::Unavailable("D1_ERROR: no such table: users".into());
        let reply = error.to_reply();
        let body = String::from_utf8(reply.body).unwrap();
        assert!(!body.contains("no such table"));
        assert_eq!(
            error.internal_reason(),
            Some("D1_ERROR: no such table: users")
        );
    }

    #[test]
    fn quota_refusals_say_when_to_come_back() {
        let reply = ApiError::TooManyRequests {
            retry_after_secs: 42,
            limit: 100,
            period_secs: 3600,
            upgrade_url: None,
        }
        .to_reply();
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("retry-after"), Some("42"));
        assert_eq!(reply.header("ratelimit-policy"), Some("100;w=3600"));
        let body = reply.json_body().unwrap();
        assert_eq!(body["reset_in_secs"], 42);
        assert!(body.get("upgrade_url").is_none());
        let more = ApiError::TooManyRequests {
            retry_after_secs: 42,
            limit: 100,
            period_secs: 3600,
            upgrade_url: Some("https://t.example/billing/upgrade?plan=pro".into()),
        }
        .to_reply();
        assert_eq!(
            more.json_body().unwrap()["upgrade_url"],
            "https://t.example/billing/upgrade?plan=pro"
        );
    }

    #[test]
    fn reset_times_read_as_people_read_them_and_headers_stay_in_seconds() {
        let reply = ApiError::TooManyRequests {
            retry_after_secs: 10_485,
            limit: 100,
            period_secs: 86_400,
            upgrade_url: Some("https://t.example/billing/upgrade?plan=pro".into()),
        }
        .to_reply();
        let body = reply.json_body().unwrap();
        assert_eq!(
            body["error_description"],
            "quota exhausted; it resets in 2 h 55 min, or a larger plan gives more now: https://t.example/billing/upgrade?plan=pro"
        );
        assert_eq!(body["reset_in_secs"], 10_485);
        assert_eq!(reply.header("retry-after"), Some("10485"));
        assert_eq!(
            reply.header("ratelimit"),
            Some("limit=100, remaining=0, reset=10485")
        );
        let throttled = ApiError::Throttled {
            retry_after_secs: 45,
        };
        assert_eq!(throttled.description(), "too many attempts; retry in 45 s");
        assert_eq!(throttled.to_reply().header("retry-after"), Some("45"));
    }

    #[test]
    fn a_plan_refusal_names_the_plan_and_where_to_get_it() {
        let reply = ApiError::PaymentRequired {
            plan: "pro".into(),
            plan_name: "Pro".into(),
            upgrade_url: "https://t.example/billing/upgrade?plan=pro".into(),
        }
        .to_reply();
        assert_eq!(reply.status, 402);
        let body = reply.json_body().unwrap();
        assert_eq!(
            (body["error"].as_str(), body["plan"].as_str()),
            (Some("plan_required"), Some("pro"))
        );
        assert_eq!(
            body["upgrade_url"],
            "https://t.example/billing/upgrade?plan=pro"
        );
        assert!(body["error_description"].as_str().unwrap().contains("Pro"));
    }
}
