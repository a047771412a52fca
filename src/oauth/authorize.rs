//! The authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).
//!
//! Validation runs in two phases, as RFC 6749 §4.1.2.1 requires. Until the client and its
//! redirect URI are established, an error is shown on our own page and never redirected (or the
//! authorization server becomes an open redirector). After that, errors go back to the client's
//! redirect URI with `error`, `error_description`, `state` and `iss`.

use crate::error::oauth::OAuthErrorCode;
use crate::oauth::client::{Client, ClientKind};
use crate::oauth::params::{form_encode, Params};
use crate::oauth::pkce::validate_code_challenge;
use crate::oauth::redirect_uri::resolve_redirect_uri;
use crate::primitives::syntax::is_scope_char;
use crate::rbac::scope::parse_scope;

/// Longest `state` or `nonce` accepted: enough for any client, bounded for storage.
pub const MAX_STATE_BYTES: usize = 2048;

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is to be bound to.
    pub dpop_jkt: Option<String>,
    /// `prompt=none`: fail instead of showing any page.
    pub prompt_none: bool,
    /// `prompt=login`: sign in again even with a session.
    pub prompt_login: bool,
    /// `prompt=consent`: show the consent page even to first-party clients.
    pub prompt_consent: bool,
    /// OpenID Connect Core §3.1.2.1 `max_age`: the most seconds since the user last signed in
    /// that the client accepts; an older session signs in again.
    pub max_age: Option<i64>,
    /// `acr_values`: the authentication classes asked for, space-separated, in order of
    /// preference (see [`crate::oauth::acr::meets_acr_values`]).
    pub acr_values: String,
}

/// Why an authorization request failed, and where the failure is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown on our page: the redirect URI is not (yet) trusted.
    Local { message: String },
    /// Sent back to the client.
    Redirect {
        redirect_uri: String,
        code: OAuthErrorCode,
        description: String,
        state: Option<String>,
    },
}

/// Phase 1: the client and the redirect URI. `client` is the registry's answer for `client_id`.
pub fn check_client_and_redirect(
    params: &Params,
    client: Option<Client>,
) -> Result<(Client, String, bool), AuthorizeError> {
    let local = |m: &str| AuthorizeError::Local {
        message: m.to_string(),
    };
    if params.get("client_id").is_none() {
        return Err(local("The request has no client_id."));
    }
    let client =
        client.ok_or_else(|| local("The application asking for access is not registered."))?;
    let requested = params.get("redirect_uri");
    let redirect_uri = resolve_redirect_uri(&client, requested).ok_or_else(|| {
        local(if requested.is_none() {
            "The request has no redirect_uri and the application has several registered."
        } else {
            "The redirect_uri is not registered for this application."
        })
    })?;
    Ok((client, redirect_uri, requested.is_some()))
}

/// Phase 2: everything else, with errors redirected. `default_scope` applies when none is sent.
pub fn validate_authorize_request(
    params: &Params,
    client: Client,
    redirect_uri: String,
    redirect_uri_sent: bool,
    default_scope: &str,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let state = params.get("state").map(str::to_string);
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_BYTES) {
        return Err(AuthorizeError::Local {
            message: "The state parameter is too long.".into(),
        });
    }
    let checked = redirected_checks(params, client.kind, default_scope);
    let Checked {
        code_challenge,
        scope_text,
        resource,
        nonce,
        dpop_jkt,
        prompts,
        max_age,
        acr_values,
    } = match checked {
        Ok(checked) => checked,
        Err((code, description)) => {
            return Err(AuthorizeError::Redirect {
                redirect_uri,
                code,
                description: description.to_string(),
                state,
            })
        }
    };
    Ok(AuthorizeRequest {
        client,
        redirect_uri,
        redirect_uri_sent,
        state,
        scopes: parse_scope(scope_text),
        resource,
        code_challenge,
        nonce,
        dpop_jkt,
        prompt_none: prompts.none,
        prompt_login: prompts.login,
        prompt_consent: prompts.consent,
        max_age,
        acr_values: acr_values.to_string(),
    })
}

/// A refusal sent back to the client's redirect URI: its error code and description.
type Redirected = (OAuthErrorCode, &'static str);

/// What phase 2 reads, in the order it is checked.
struct Checked<'a> {
    code_challenge: Option<String>,
    scope_text: &'a str,
    resource: Option<String>,
    nonce: Option<String>,
    dpop_jkt: Option<String>,
    prompts: Prompts,
    max_age: Option<i64>,
    acr_values: &'a str,
}

fn redirected_checks<'a>(
    params: &'a Params,
    kind: ClientKind,
    default_scope: &'a str,
) -> Result<Checked<'a>, Redirected> {
    match params.get("response_type") {
        None => return Err((OAuthErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err((
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return Err((
            OAuthErrorCode::InvalidRequest,
            "request objects are not supported",
        ));
    }
    let code_challenge = code_challenge(params, kind)?;
    let scope_text = params.get("scope").unwrap_or(default_scope);
    if !scope_text.chars().all(is_scope_char) {
        return Err((OAuthErrorCode::InvalidScope, "scope has invalid characters"));
    }
    let resource = match params.get("resource") {
        Some(r) if !is_absolute_uri_without_fragment(r) => {
            return Err((
                OAuthErrorCode::InvalidTarget,
                "resource must be an absolute URI without a fragment",
            ))
        }
        r => r.map(str::to_string),
    };
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_STATE_BYTES) {
        return Err((OAuthErrorCode::InvalidRequest, "nonce is too long"));
    }
    // A SHA-256 thumbprint is 43 base64url characters.
    let dpop_jkt = params.get("dpop_jkt").map(str::to_string);
    if dpop_jkt.as_ref().is_some_and(|j| {
        j.len() != 43
            || !j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err((
            OAuthErrorCode::InvalidRequest,
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
    let prompts = prompts(params.get("prompt").unwrap_or(""))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(secs) => Some(i64::from(secs)),
            Err(_) => {
                return Err((
                    OAuthErrorCode::InvalidRequest,
                    "max_age must be a number of seconds",
                ))
            }
        },
    };
    let acr_values = params.get("acr_values").unwrap_or("");
    if acr_values.len() > MAX_STATE_BYTES {
        return Err((OAuthErrorCode::InvalidRequest, "acr_values is too long"));
    }
    Ok(Checked {
        code_challenge,
        scope_text,
        resource,
        nonce,
        dpop_jkt,
        prompts,
        max_age,
        acr_values,
    })
}

/// PKCE: an S256 challenge, required of public clients.
fn code_challenge(params: &Params, kind: ClientKind) -> Result<Option<String>, Redirected> {
    match params.get("code_challenge") {
        Some(challenge) => {
            validate_code_challenge(challenge, params.get("code_challenge_method"))
                .map_err(|why| (OAuthErrorCode::InvalidRequest, why))?;
            Ok(Some(challenge.to_string()))
        }
        None if params.get("code_challenge_method").is_some() => Err((
            OAuthErrorCode::InvalidRequest,
            "code_challenge_method sent without code_challenge",
        )),
        None if kind == ClientKind::Public => Err((
            OAuthErrorCode::InvalidRequest,
            "PKCE is required for public clients: send code_challenge with S256",
        )),
        None => Ok(None),
    }
}

/// The `prompt` values understood: `none` (alone), `login`, `consent`.
#[derive(Debug, Clone, Copy, Default)]
struct Prompts {
    none: bool,
    login: bool,
    consent: bool,
}

fn prompts(text: &str) -> Result<Prompts, Redirected> {
    let values: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    if values
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent"))
    {
        return Err((OAuthErrorCode::InvalidRequest, "unsupported prompt value"));
    }
    let none = values.contains(&"none");
    if none && values.len() > 1 {
        return Err((
            OAuthErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(Prompts {
        none,
        login: values.contains(&"login"),
        consent: values.contains(&"consent"),
    })
}

/// RFC 8707 §2: an absolute URI, no fragment.
pub fn is_absolute_uri_without_fragment(uri: &str) -> bool {
    match url::Url::parse(uri) {
        Ok(u) => u.fragment().is_none() && !uri.contains('#') && !u.cannot_be_a_base(),
        Err(_) => false,
    }
}

fn append_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = base.to_string();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in pairs {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&form_encode(v));
        sep = '&';
    }
    out
}

/// Where an authorization error is sent (RFC 6749 §4.1.2.1 plus RFC 9207's `iss`).
pub fn error_redirect(
    redirect_uri: &str,
    code: OAuthErrorCode,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut pairs = vec![("error", code.as_str()), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    append_query(redirect_uri, &pairs)
}

/// Where a successful authorization is sent.
pub fn code_redirect(redirect_uri: &str, code: &str, state: Option<&str>, issuer: &str) -> String {
    let mut pairs = vec![("code", code)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    append_query(redirect_uri, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::ClientOrigin;
    use crate::primitives::hash::sha256_hex;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(kind: ClientKind) -> Client {
        Client {
            id: "c1".into(),
            name: "Client".into(),
            secret_hash: (kind == ClientKind::Confidential).then(|| sha256_hex("s")),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            kind,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", "https://app.example.com/cb"),
            ("state", "xyz"),
            ("scope", "todos:read"),
        ]
    }

    fn validate(
        pairs: &[(&str, &str)],
        kind: ClientKind,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let p = params(pairs);
        let (c, uri, sent) = check_client_and_redirect(&p, Some(client(kind)))?;
        validate_authorize_request(&p, c, uri, sent, "todos:read todos:write")
    }

    fn redirect_code(result: Result<AuthorizeRequest, AuthorizeError>) -> &'static str {
        match result {
            Err(AuthorizeError::Redirect { code, .. }) => code.as_str(),
            other => panic!("expected a redirected error, got {other:?}"),
        }
    }

    #[test]
    fn a_confidential_client_may_omit_pkce() {
        let r = validate(&base(), ClientKind::Confidential).unwrap();
        assert_eq!(r.code_challenge, None);
        assert_eq!(r.scopes, vec!["todos:read"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
    }

    #[test]
    fn a_public_client_must_send_pkce() {
        assert_eq!(
            redirect_code(validate(&base(), ClientKind::Public)),
            "invalid_request"
        );
        let mut p = base();
        p.extend([
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        assert!(validate(&p, ClientKind::Public).is_ok());
    }

    #[test]
    fn plain_pkce_is_refused() {
        let mut p = base();
        p.extend([
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ]);
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "invalid_request"
        );
    }

    #[test]
    fn unknown_clients_and_redirects_stay_local() {
        let p = params(&base());
        assert!(matches!(
            check_client_and_redirect(&p, None),
            Err(AuthorizeError::Local { .. })
        ));
        let mut pairs = base();
        pairs[2] = ("redirect_uri", "https://evil.example.com/cb");
        let p = params(&pairs);
        assert!(matches!(
            check_client_and_redirect(&p, Some(client(ClientKind::Confidential))),
            Err(AuthorizeError::Local { .. })
        ));
        let no_client = params(&[("response_type", "code")]);
        assert!(matches!(
            check_client_and_redirect(&no_client, None),
            Err(AuthorizeError::Local { .. })
        ));
    }

    #[test]
    fn a_wrong_response_type_is_redirected_as_unsupported() {
        let mut p = base();
        p[0] = ("response_type", "token");
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "unsupported_response_type"
        );
        p.remove(0);
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "invalid_request"
        );
    }

    #[test]
    fn a_malformed_resource_is_invalid_target() {
        let mut p = base();
        p.push(("resource", "https://api.example.com/#frag"));
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "invalid_target"
        );
        let mut p = base();
        p.push(("resource", "not a uri"));
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "invalid_target"
        );
    }

    #[test]
    fn bad_scope_characters_are_invalid_scope() {
        let mut p = base();
        p[4] = ("scope", "todos\"read");
        assert_eq!(
            redirect_code(validate(&p, ClientKind::Confidential)),
            "invalid_scope"
        );
    }

    #[test]
    fn the_default_scope_applies_when_none_is_sent() {
        let mut p = base();
        p.remove(4);
        assert_eq!(
            validate(&p, ClientKind::Confidential).unwrap().scopes,
            vec!["todos:read", "todos:write"]
        );
    }

    #[test]
    fn redirects_carry_state_and_iss_encoded() {
        let url = error_redirect(
            "https://app.example.com/cb?x=1",
            OAuthErrorCode::AccessDenied,
            "the user said no",
            Some("a b&c"),
            "https://as.example.com",
        );
        assert_eq!(
            url,
            "https://app.example.com/cb?x=1&error=access_denied&error_description=the%20user%20said%20no&state=a%20b%26c&iss=https%3A%2F%2Fas.example.com"
        );
        assert_eq!(
            code_redirect("https://app.example.com/cb", "g.s", None, "https://as"),
            "https://app.example.com/cb?code=g.s&iss=https%3A%2F%2Fas"
        );
    }
}
