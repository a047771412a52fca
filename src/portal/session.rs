//! Portal sessions and CSRF tokens, both HMAC-SHA256 under the `SESSION_SECRET`.
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

/// `<payload b64url>.<mac b64url>`: `value` as JSON, under a MAC keyed for `purpose`, so a
/// value sealed for one cookie never opens as another's.
pub fn seal<T: Serialize>(key: &[u8], purpose: &str, value: &T) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());
    let tag = URL_SAFE_NO_PAD.encode(mac(key, &[purpose.as_bytes(), payload.as_bytes()]));
    format!("{payload}.{tag}")
}

/// What [`seal`] sealed for `purpose`, if its MAC holds.
pub fn open<T: serde::de::DeserializeOwned>(key: &[u8], purpose: &str, sealed: &str) -> Option<T> {
    let (payload, tag) = sealed.split_once('.')?;
    let expected = URL_SAFE_NO_PAD.encode(mac(key, &[purpose.as_bytes(), payload.as_bytes()]));
    if !constant_time_eq(expected.as_bytes(), tag.as_bytes()) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

pub fn seal_session(key: &[u8], session: &Session) -> String {
    seal(key, "session", session)
}

/// The session in a cookie value, if its MAC holds and it has not expired.
pub fn open_session(key: &[u8], value: &str, now: i64) -> Option<Session> {
    let session: Session = open(key, "session", value)?;
    (now < session.expires_at && session.issued_at <= now + 60).then_some(session)
}

/// The CSRF token for a form: bound to the browser's CSRF cookie and the form's purpose.
pub fn csrf_token(key: &[u8], csrf_cookie: &str, purpose: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(
        key,
        &[b"csrf", purpose.as_bytes(), csrf_cookie.as_bytes()],
    ))
}

pub fn verify_csrf(
    key: &[u8],
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
    head.header_values("cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
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

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_790_000_000;

    fn session() -> Session {
        Session {
            user_id: "usr_demo".into(),
            issued_at: NOW,
            expires_at: NOW + SESSION_TTL_SECS,
            nonce: "n1".into(),
            epoch: 3,
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
    fn a_cookie_sealed_before_epochs_existed_reads_as_epoch_zero() {
        let old = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"u": "usr_demo", "i": NOW, "e": NOW + 60, "n": "n1"}).to_string(),
        );
        let tag = URL_SAFE_NO_PAD.encode(mac(KEY, &[b"session", old.as_bytes()]));
        let opened = open_session(KEY, &format!("{old}.{tag}"), NOW).unwrap();
        assert_eq!(opened.epoch, 0);
        assert!(is_current(&opened, 0, false));
        assert!(!is_current(&opened, 1, false));
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
        assert_eq!(open_session(b"another key", &sealed, NOW), None);
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
