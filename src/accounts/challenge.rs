//! Proofs of an email address: a six-digit code and a single-use link, sent together in one
//! mail, kept as hashes beside what they will do (an account to create, a password to reset, a
//! sign-in to finish), expiring, with few attempts.
//!
//! A code is short, so it is kept as a MAC under the deployment's session secret (a copy of the
//! table alone cannot be searched for it) and each challenge takes [`MAX_CODE_ATTEMPTS`] guesses
//! at most. A link carries 32 random bytes, kept as their SHA-256. A link opened with `GET` only
//! shows a button: mail scanners fetch links, and fetching must not use one up.

use serde::{Deserialize, Serialize};

use crate::primitives::hash::sha256_hex;
use crate::primitives::secret::constant_time_eq;
use crate::web::session::{keyed_digest, SealKey};

/// Guesses of one challenge's code; past them only its link (or a new challenge) works.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// How long a sign-up or sign-in code and link work.
pub const CODE_TTL_SECS: i64 = 15 * 60;
/// How long a password reset link works (issue 31: 30 minutes).
pub const RESET_TTL_SECS: i64 = 30 * 60;
/// How long an invitation works.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// Mails one address may be sent per [`MAIL_WINDOW_SECS`], whoever asks.
pub const MAILS_PER_RECIPIENT: u64 = 5;
/// Mails one source address (an IPv4 address, an IPv6 /64) may cause per window.
pub const MAILS_PER_SOURCE: u64 = 20;
pub const MAIL_WINDOW_SECS: u64 = 3600;
/// Accounts one source address may create per window (sign-ups that finished).
pub const SIGN_UPS_PER_SOURCE: u64 = 10;

/// What a challenge proves the address for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A new account: created once the address is proven.
    SignUp,
    /// A sign-in by email code, without a password.
    SignIn,
    /// A new password.
    Reset,
    /// An administrator's invitation: its link opens the sign-up form for that address.
    Invite,
    /// A new address for an account, proven before it replaces the old one.
    EmailChange,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignUp => "sign_up",
            Purpose::SignIn => "sign_in",
            Purpose::Reset => "reset",
            Purpose::Invite => "invite",
            Purpose::EmailChange => "email_change",
        }
    }

    pub fn parse(text: &str) -> Option<Purpose> {
        Some(match text {
            "sign_up" => Purpose::SignUp,
            "sign_in" => Purpose::SignIn,
            "reset" => Purpose::Reset,
            "invite" => Purpose::Invite,
            "email_change" => Purpose::EmailChange,
            _ => return None,
        })
    }
}

/// What a sign-up will create once its address is proven, kept with its challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The PBKDF2 hash of the password chosen (none for an email-code account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Where the browser goes after: the authorization it came from, or nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub return_to: String,
    /// The roles the account starts with (the plugin's defaults, or an invitation's).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The terms (and privacy policy) accepted, as the plugin linked them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub terms: String,
}

/// One challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChallenge {
    /// Random: the handle the code form carries.
    pub id: String,
    pub purpose: Purpose,
    /// Lower-cased.
    pub email: String,
    /// The account it is for (reset, sign-in); none for a sign-up or an address without one.
    pub user_id: Option<String>,
    /// The plugin that sent it: it works there only.
    pub issuer: String,
    pub code_hash: String,
    pub link_hash: String,
    pub attempts: i64,
    pub pending: Pending,
    /// A reset works only while the account's session epoch is still this one: a password
    /// changed (or every session ended) since makes every older link worthless.
    pub session_epoch: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl EmailChallenge {
    /// Whether it can still be used at `issuer` (and `now`), its guesses aside.
    pub fn is_open(&self, issuer: &str, now: i64) -> bool {
        self.used_at.is_none() && now < self.expires_at && self.issuer == issuer
    }
}

/// The code's keyed digest: bound to its challenge, so a code never works for another.
pub fn code_digest(key: SealKey<'_>, challenge_id: &str, code: &str) -> String {
    keyed_digest(key, "email-code", &format!("{challenge_id}:{code}"))
}

/// Whether `typed` is the challenge's code: six digits once spaces are gone, compared in
/// constant time.
pub fn code_matches(key: SealKey<'_>, challenge: &EmailChallenge, typed: &str) -> bool {
    let Some(code) = normalize_code(typed) else {
        return false;
    };
    let digest = code_digest(key, &challenge.id, &code);
    constant_time_eq(digest.as_bytes(), challenge.code_hash.as_bytes())
}

/// A typed code as six ASCII digits (spaces and dashes people type between groups dropped).
pub fn normalize_code(typed: &str) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A link's token as stored (its SHA-256), for looking it up; `None` for anything that cannot
/// be one of ours (so no query is spent on it).
pub fn link_digest(token: &str) -> Option<String> {
    (token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| sha256_hex(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_six_ascii_digits_or_nothing() {
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "١٢٣٤٥٦",
            "123 45x",
            "ｌ23456",
        ] {
            assert_eq!(normalize_code(bad), None, "{bad:?}");
        }
        assert_eq!(normalize_code("123-456").as_deref(), Some("123456"));
    }

    #[test]
    fn only_tokens_of_our_shape_are_looked_up() {
        assert_eq!(link_digest("short"), None);
        assert_eq!(link_digest(&"a".repeat(42)), None);
        assert_eq!(link_digest(&format!("{}=", "a".repeat(42))), None);
        assert!(link_digest(&"a".repeat(43)).is_some());
    }
}
