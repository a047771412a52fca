//! Portal sessions and CSRF tokens, both HMAC-SHA256 under the `SESSION_SECRET`.
//!
//! Every plugin of a deployment shares the secret, so every value sealed with it (sessions, CSRF
//! tokens, the upstream sign-in's round trip and pending link) is sealed for one plugin: the
//! plugin's issuer is part of what the MAC covers ([`SealKey`]), and a value made at one plugin
//! opens at no other. A session also says how the user signed in ([`SignInMethod`]); a plugin
//! takes only sessions made by a way in it offers.
//!
//! The session cookie carries `{user, issued, expires, nonce, epoch}` and its MAC: no server
//! state per session. The epoch is the user's session epoch at sign-in (a column of their row);
//! logout, "sign out everywhere", a password change and disabling move it on, so a copy of the
//! cookie kept from before is signed out ([`is_current`]), checked against the user row that every
//! use of a session loads anyway. A fresh session (with a fresh nonce) is issued at every login,
//! so a cookie planted before login is never promoted (session fixation).
//! CSRF tokens are the MAC of a per-browser random cookie and the form's purpose (the
//! double-submit pattern, signed): a cross-site form cannot read the cookie, so cannot forge the
//! token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::http::RequestHead;
use crate::primitives::secret::constant_time_eq;

pub const SESSION_COOKIE: &str = "portcullis_session";
pub const CSRF_COOKIE: &str = "portcullis_csrf";

/// The cookie names in use. On https they carry the `__Host-` prefix, which browsers only accept
/// with `Secure`, `Path=/` and no `Domain`: a sibling subdomain cannot plant them. Plain http
/// (local development) cannot use the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
}

pub fn cookie_names(secure: bool) -> CookieNames {
    if secure {
        CookieNames {
            session: "__Host-portcullis_session",
            csrf: "__Host-portcullis_csrf",
        }
    } else {
        CookieNames {
            session: SESSION_COOKIE,
            csrf: CSRF_COOKIE,
        }
    }
}
/// A portal session lasts 12 hours: long enough for a working day of consents.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// What a sealed value is sealed with: the deployment's `SESSION_SECRET` and the issuer of the
/// plugin it is sealed for. There is no way to seal or open without an issuer.
#[derive(Clone, Copy)]
pub struct SealKey<'a> {
    secret: &'a [u8],
    issuer: &'a str,
}

impl<'a> SealKey<'a> {
    pub const fn new(secret: &'a [u8], issuer: &'a str) -> Self {
        SealKey { secret, issuer }
    }
}

/// How the user signed in, as the session records it: with a password, or at an upstream
/// provider (its id). Linking a provider's identity to an account by its password counts as the
/// provider's sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Password,
    /// A code (or link) mailed to the account's address.
    EmailCode,
    Provider(String),
    /// A passkey (WebAuthn) registered to the account.
    Passkey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "i")]
    pub issued_at: i64,
    #[serde(rename = "e")]
    pub expires_at: i64,
    #[serde(rename = "n")]
    pub nonce: String,
    /// The user's session epoch when the session was issued. Cookies sealed before epochs
    /// existed carry none and read as 0, the epoch every user started at.
    #[serde(rename = "p", default)]
    pub epoch: i64,
    /// How the user signed in. Required: cookies sealed before it existed were sealed without an
    /// issuer too, and open nowhere.
    #[serde(rename = "m")]
    pub method: SignInMethod,
    /// How the user authenticated (RFC 8176 values, see [`crate::oauth::acr`]): the first
    /// factor's, then `otp` and `mfa` once a second factor was presented. Sessions sealed before
    /// it existed carry none and read as one factor.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// Whether a session still stands for its user: issued at the user's current session epoch, and
/// the user is not disabled. Anything else is treated as no session at all.
pub fn is_current(session: &Session, user_epoch: i64, user_disabled: bool) -> bool {
    !user_disabled && session.epoch == user_epoch
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    for p in parts {
        m.update(p);
        m.update(b"\x00");
    }
    m.finalize().into_bytes().to_vec()
}

/// A keyed digest of `value` (base64url HMAC-SHA256 under the session secret, bound to the
/// plugin's issuer and `purpose`): how a short secret (an emailed code) is kept, so the stored
/// digest alone cannot be searched for it.
pub fn keyed_digest(key: SealKey<'_>, purpose: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(
        key.secret,
        &[
            b"digest",
            key.issuer.as_bytes(),
            purpose.as_bytes(),
            value.as_bytes(),
        ],
    ))
}

/// `<payload b64url>.<mac b64url>`: `value` as JSON, under a MAC over the plugin's issuer and
/// `purpose`, so a value sealed for one cookie never opens as another's, nor at another plugin.
pub fn seal<T: Serialize>(key: SealKey<'_>, purpose: &str, value: &T) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());
    let tag = URL_SAFE_NO_PAD.encode(sealed_mac(key, purpose, &payload));
    format!("{payload}.{tag}")
}

fn sealed_mac(key: SealKey<'_>, purpose: &str, payload: &str) -> Vec<u8> {
    mac(
        key.secret,
        &[
            b"sealed",
            key.issuer.as_bytes(),
            purpose.as_bytes(),
            payload.as_bytes(),
        ],
    )
}

/// What [`seal`] sealed for `purpose` at this plugin, if its MAC holds.
pub fn open<T: serde::de::DeserializeOwned>(
    key: SealKey<'_>,
    purpose: &str,
    sealed: &str,
) -> Option<T> {
    let (payload, tag) = sealed.split_once('.')?;
    let expected = URL_SAFE_NO_PAD.encode(sealed_mac(key, purpose, payload));
    if !constant_time_eq(expected.as_bytes(), tag.as_bytes()) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

pub fn seal_session(key: SealKey<'_>, session: &Session) -> String {
    seal(key, "session", session)
}

/// The session in a cookie value, if its MAC holds (sealed at this plugin) and it has not
/// expired. Whether the plugin still offers the way the user signed in is the caller's check.
pub fn open_session(key: SealKey<'_>, value: &str, now: i64) -> Option<Session> {
    let session: Session = open(key, "session", value)?;
    (now < session.expires_at && session.issued_at <= now + 60).then_some(session)
}

/// The CSRF token for a form: bound to the plugin, the browser's CSRF cookie and the form's
/// purpose.
pub fn csrf_token(key: SealKey<'_>, csrf_cookie: &str, purpose: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(
        key.secret,
        &[
            b"csrf",
            key.issuer.as_bytes(),
            purpose.as_bytes(),
            csrf_cookie.as_bytes(),
        ],
    ))
}

pub fn verify_csrf(
    key: SealKey<'_>,
    csrf_cookie: Option<&str>,
    purpose: &str,
    token: Option<&str>,
) -> bool {
    match (csrf_cookie, token) {
        (Some(cookie), Some(token)) if !cookie.is_empty() => constant_time_eq(
            csrf_token(key, cookie, purpose).as_bytes(),
            token.as_bytes(),
        ),
        _ => false,
    }
}

/// A cookie value from the request's `Cookie` headers.
pub fn read_cookie<'a>(head: &'a RequestHead, name: &str) -> Option<&'a str> {
    // Pairs are trimmed of spaces and tabs only, as browsers trim them: a name with a no-break
    // space in front is another cookie.
    head.header_values("cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim_matches([' ', '\t']).split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` on https deployments.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Cookie` header a browser sends after storing `set_cookie` (RFC 6265bis §5.6-5.7): the
    /// name-value pair up to `;`, split at its first `=` (none: a nameless cookie, all value),
    /// both trimmed; a nameless cookie is sent as its value alone; a nameless one whose value
    /// starts `__Host-` or `__Secure-` is refused, as an empty pair is.
    fn browser_sends(set_cookie: &str) -> Option<String> {
        let pair = set_cookie.split(';').next().unwrap_or("");
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n.trim_matches([' ', '\t']), v.trim_matches([' ', '\t'])),
            None => ("", pair.trim_matches([' ', '\t'])),
        };
        if name.is_empty() {
            let lower = value.to_ascii_lowercase();
            if value.is_empty() || lower.starts_with("__host-") || lower.starts_with("__secure-") {
                return None;
            }
            return Some(value.to_string());
        }
        Some(format!("{name}={value}"))
    }

    /// Issue 29, by reading: no `Set-Cookie` the relay lets through from the origin makes the
    /// portal read one of its own cookies from what the browser sends back, whatever the spelling
    /// (nameless cookies, spaces and tabs, letter case, `=` in odd places), on generated values.
    #[test]
    fn no_cookie_the_origin_sets_is_read_back_as_the_portals() {
        use crate::primitives::cases::Cases;
        use crate::proxy::forward::keep_response_header;
        let portal = [
            SESSION_COOKIE,
            CSRF_COOKIE,
            "portcullis_upstream",
            "portcullis_link",
            "__Host-portcullis_session",
            "__Host-portcullis_csrf",
            "__Host-portcullis_upstream",
            "__Host-portcullis_link",
        ];
        let pieces = [
            "",
            "=",
            "==",
            " ",
            "\t",
            ";",
            "portcullis_session",
            "PORTCULLIS_SESSION",
            "portcullis_csrf",
            "__Host-",
            "__host-",
            "__Secure-",
            "portcullis_link",
            "x",
            "theme",
            "dark",
            "; Path=/",
            "portcullis_",
            "upstream",
            "\u{a0}",
            "\u{3000}",
            "\u{b}",
        ];
        let mut cases = Cases::new(0x5eed_0029_c00c);
        let mut let_through = 0;
        for _ in 0..50_000 {
            let value: String = (0..1 + cases.below(6))
                .map(|_| cases.pick(&pieces))
                .collect();
            if !keep_response_header("set-cookie", &value) {
                continue;
            }
            let_through += 1;
            let Some(sent) = browser_sends(&value) else {
                continue;
            };
            let head = RequestHead::new(crate::http::Method::Get, "/account")
                .with_header("cookie", &format!("other=1; {sent}"));
            for name in portal {
                assert_eq!(
                    read_cookie(&head, name),
                    None,
                    "Set-Cookie: {value:?} is read back as {name}"
                );
            }
        }
        assert!(let_through > 1_000, "the origin's other cookies pass");
        for kept in ["theme=dark", "portcullis=1", "x=portcullis_session"] {
            assert!(keep_response_header("set-cookie", kept), "{kept}");
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const KEY: SealKey<'static> = SealKey::new(SECRET, "https://todo.example.com");
    /// Another plugin of the same deployment: the same secret, another issuer.
    const SIBLING: SealKey<'static> = SealKey::new(SECRET, "https://mcp.example.com");
    const NOW: i64 = 1_790_000_000;

    fn session() -> Session {
        Session {
            user_id: "usr_demo".into(),
            issued_at: NOW,
            expires_at: NOW + SESSION_TTL_SECS,
            nonce: "n1".into(),
            epoch: 3,
            method: SignInMethod::Password,
            amr: vec!["pwd".into()],
        }
    }

    #[test]
    fn a_session_stands_only_at_the_epoch_it_was_issued_at() {
        let s = session();
        assert!(is_current(&s, 3, false));
        assert!(!is_current(&s, 4, false), "the epoch moved on: signed out");
        assert!(!is_current(&s, 2, false), "an epoch never goes back");
        assert!(!is_current(&s, 3, true), "a disabled user has no session");
    }

    #[test]
    fn the_epoch_is_sealed_with_the_session() {
        let sealed = seal_session(KEY, &session());
        assert_eq!(open_session(KEY, &sealed, NOW).map(|s| s.epoch), Some(3));
        // Another epoch under the same MAC does not open.
        let mut bumped = session();
        bumped.epoch = 4;
        let (payload, _) = seal_session(KEY, &bumped)
            .split_once('.')
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .unwrap();
        let (_, tag) = sealed.split_once('.').unwrap();
        assert_eq!(open_session(KEY, &format!("{payload}.{tag}"), NOW), None);
    }

    #[test]
    fn a_cookie_sealed_before_sessions_had_an_issuer_opens_nowhere() {
        // As they were sealed: a MAC over the purpose and the payload, no issuer, no method.
        let old = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"u": "usr_demo", "i": NOW, "e": NOW + 60, "n": "n1", "p": 0})
                .to_string(),
        );
        let tag = URL_SAFE_NO_PAD.encode(mac(SECRET, &[b"session", old.as_bytes()]));
        for key in [KEY, SIBLING] {
            assert_eq!(open_session(key, &format!("{old}.{tag}"), NOW), None);
        }
    }

    #[test]
    fn a_session_records_how_the_user_signed_in() {
        let mut s = session();
        s.method = SignInMethod::Provider("google".into());
        let opened = open_session(KEY, &seal_session(KEY, &s), NOW).unwrap();
        assert_eq!(opened.method, SignInMethod::Provider("google".into()));
    }

    /// Every kind of value sealed with the session secret, sealed at one plugin: none opens at
    /// another plugin of the deployment, and each still opens at its own.
    #[test]
    fn no_sealed_value_opens_at_another_plugin() {
        use crate::federation::flow::{Flow, PendingLink};
        let flow = Flow::start(
            "google",
            "/authorize?client_id=x",
            None,
            ["st".into(), "no".into(), "ve".into()],
            NOW,
        );
        let link = PendingLink {
            provider: "google".into(),
            subject: "sub-1".into(),
            email: "demo@example.com".into(),
            user_id: "usr_demo".into(),
            return_to: String::new(),
            expires_at: NOW + 60,
            tokens: None,
        };
        // (kind, opens at `key`?)
        type Opens = Box<dyn Fn(SealKey<'static>) -> bool>;
        let session_cookie = seal_session(KEY, &session());
        let flow_cookie = flow.seal(KEY);
        let link_cookie = link.seal(KEY);
        let mut kinds: Vec<(String, Opens)> = vec![
            (
                "session".into(),
                Box::new(move |k| open_session(k, &session_cookie, NOW).is_some()),
            ),
            (
                "upstream flow".into(),
                Box::new(move |k| Flow::open(k, &flow_cookie, "google", NOW).is_some()),
            ),
            (
                "pending link".into(),
                Box::new(move |k| PendingLink::open(k, &link_cookie, NOW).is_some()),
            ),
        ];
        // Every form's CSRF purpose.
        for purpose in ["login", "link", "consent:n1", "logout:n1", "account:n1"] {
            let token = csrf_token(KEY, "cookie-a", purpose);
            kinds.push((
                format!("CSRF token for {purpose}"),
                Box::new(move |k| verify_csrf(k, Some("cookie-a"), purpose, Some(&token))),
            ));
        }
        for (kind, opens) in &kinds {
            assert!(opens(KEY), "{kind}: opens where it was sealed");
            assert!(!opens(SIBLING), "{kind}: opens at another plugin");
            assert!(
                !opens(SealKey::new(b"another secret", "https://todo.example.com")),
                "{kind}: opens under another secret"
            );
        }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let sealed = seal_session(KEY, &session());
        assert_eq!(open_session(KEY, &sealed, NOW + 10), Some(session()));
        assert_eq!(open_session(KEY, &sealed, NOW + SESSION_TTL_SECS), None);
    }

    #[test]
    fn a_tampered_or_foreign_session_does_not_open() {
        let sealed = seal_session(KEY, &session());
        let mut other = session();
        other.user_id = "usr_admin".into();
        let forged_payload = seal_session(KEY, &other);
        let (payload, _) = forged_payload.split_once('.').unwrap();
        let (_, tag) = sealed.split_once('.').unwrap();
        assert_eq!(open_session(KEY, &format!("{payload}.{tag}"), NOW), None);
        assert_eq!(
            open_session(SealKey::new(b"another key", KEY.issuer), &sealed, NOW),
            None
        );
        assert_eq!(open_session(KEY, "garbage", NOW), None);
    }

    #[test]
    fn csrf_tokens_bind_cookie_and_purpose() {
        let token = csrf_token(KEY, "cookie-a", "login");
        assert!(verify_csrf(KEY, Some("cookie-a"), "login", Some(&token)));
        assert!(!verify_csrf(KEY, Some("cookie-b"), "login", Some(&token)));
        assert!(!verify_csrf(KEY, Some("cookie-a"), "consent", Some(&token)));
        assert!(!verify_csrf(KEY, None, "login", Some(&token)));
        assert!(!verify_csrf(KEY, Some("cookie-a"), "login", None));
        assert!(!verify_csrf(
            KEY,
            Some(""),
            "login",
            Some(&csrf_token(KEY, "", "login"))
        ));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let head = RequestHead::new(crate::http::Method::Get, "/").with_header(
            "cookie",
            "a=1; portcullis_session=xyz; portcullis_session_old=no",
        );
        assert_eq!(read_cookie(&head, SESSION_COOKIE), Some("xyz"));
        assert_eq!(read_cookie(&head, "missing"), None);
    }

    #[test]
    fn cookies_are_http_only_and_lax_and_secure_on_https() {
        let c = set_cookie(SESSION_COOKIE, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "v", 60, false).contains("Secure"));
    }
}
