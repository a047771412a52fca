//! Passkeys in the portal: the account page's section (list, add, rename, delete:
//! `POST /account/passkeys`) and sign-in with one (`POST /login/passkey`), around the pure
//! verifier in [`crate::accounts::webauthn`].
//!
//! A ceremony's options are put in the page that starts it, with its state sealed
//! ([`crate::web::session::seal`]) into the form the script posts back: the challenge, when it
//! expires (five minutes), and for a registration the user and the user handle. The seal is bound
//! to the plugin's issuer and to the browser (its CSRF cookie for a sign-in, its session's nonce
//! for a registration), so state from another browser or plugin opens nowhere. A challenge is
//! used once: `Throttle::remember_once` records it (a sign-in's as soon as its response is read,
//! before it is checked; a registration's once it verified, before it is stored), and a second
//! response to it (a replay) is refused.
//!
//! The relying party is the plugin's public base URL: its host is the RP ID, its origin the one
//! origin a response may come from (see [`crate::config::PasskeyPolicy`]). The user handle is a
//! random 16 bytes per user, kept with each of their passkeys (the first one's is reused), never
//! their email or id.

use serde::{Deserialize, Serialize};

use crate::accounts::webauthn::{
    verify_authentication, verify_registration, AssertionResponse, AuthenticationExpectation,
    RegistrationExpectation, RegistrationResponse, WebAuthnError, SUPPORTED_ALGORITHMS,
};
use crate::config::{PasskeyPolicy, UserVerification};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, redirect, AuthServer};
use crate::portal::account::date;
use crate::ports::{Backend, Passkey, User};
use crate::routes::ACCOUNT_PATH;
use crate::web::passkey_pages::{section, sign_in_fragment, PasskeyItem};
use crate::web::session::{open, read_cookie, seal, verify_csrf, SignInMethod};

/// How long a ceremony's challenge may be answered: WebAuthn's recommended timeout for a
/// ceremony with user verification is five minutes (§15.1).
pub const CEREMONY_TTL_SECS: i64 = 300;
/// The most passkeys one user may have: enough for every device they own.
pub const MAX_PASSKEYS_PER_USER: usize = 20;
/// The longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// A ceremony's state, sealed into its form.
#[derive(Debug, Serialize, Deserialize)]
struct Ceremony {
    /// The challenge, base64url of 32 random bytes.
    #[serde(rename = "c")]
    challenge: String,
    #[serde(rename = "e")]
    expires_at: i64,
    /// A registration's user and the handle its options named.
    #[serde(rename = "u", default, skip_serializing_if = "String::is_empty")]
    user_id: String,
    #[serde(rename = "h", default, skip_serializing_if = "String::is_empty")]
    user_handle: String,
}

fn sign_in_purpose(csrf_cookie: &str) -> String {
    format!("passkey-sign-in:{csrf_cookie}")
}

fn register_purpose(session_nonce: &str) -> String {
    format!("passkey-register:{session_nonce}")
}

/// The key that records a challenge as used.
fn used_key(challenge: &str) -> String {
    format!("passkey-challenge:{challenge}")
}

/// The sign-in options (§5.5): a discoverable credential (none listed), the plugin's RP ID.
pub fn request_options(policy: &PasskeyPolicy, challenge: &str) -> serde_json::Value {
    serde_json::json!({
        "challenge": challenge,
        "rpId": policy.rp_id,
        "timeout": CEREMONY_TTL_SECS * 1000,
        "userVerification": policy.user_verification.as_str(),
        "allowCredentials": [],
    })
}

/// Whose passkey a registration makes, as its options name them.
pub struct RegisteringUser<'a> {
    /// The user handle, base64url.
    pub handle: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
}

/// The registration options (§5.4): a discoverable credential, no attestation, the algorithms
/// the verifier takes, the user's passkeys excluded (an authenticator holding one says so
/// rather than making a second).
pub fn creation_options(
    policy: &PasskeyPolicy,
    rp_name: &str,
    user: &RegisteringUser<'_>,
    challenge: &str,
    existing: &[Passkey],
) -> serde_json::Value {
    let exclude: Vec<serde_json::Value> = existing
        .iter()
        .map(|p| {
            serde_json::json!({
                "type": "public-key",
                "id": p.credential.id,
                "transports": p.credential.transports,
            })
        })
        .collect();
    let algorithms: Vec<serde_json::Value> = SUPPORTED_ALGORITHMS
        .iter()
        .map(|a| serde_json::json!({"type": "public-key", "alg": a.cose()}))
        .collect();
    serde_json::json!({
        "rp": {"id": policy.rp_id, "name": rp_name},
        "user": {"id": user.handle, "name": user.email, "displayName": user.display_name},
        "challenge": challenge,
        "pubKeyCredParams": algorithms,
        "timeout": CEREMONY_TTL_SECS * 1000,
        "excludeCredentials": exclude,
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": policy.user_verification.as_str(),
        },
        "attestation": "none",
    })
}

/// A passkey's name as the user typed it: trimmed, "Passkey" when empty; `None` when too long or
/// holding control characters.
pub fn passkey_name(typed: &str) -> Option<String> {
    let name = typed.trim();
    if name.is_empty() {
        return Some("Passkey".into());
    }
    (name.chars().count() <= MAX_PASSKEY_NAME_CHARS && !name.chars().any(char::is_control))
        .then(|| name.to_string())
}

/// What a refused response is told, by why (the reason itself goes to the log).
fn refusal(e: &WebAuthnError) -> &'static str {
    match e {
        WebAuthnError::WrongOrigin | WebAuthnError::WrongRpId | WebAuthnError::CrossOrigin => {
            "That passkey answer was made for another site."
        }
        WebAuthnError::CounterRegressed { .. } => {
            "That passkey was refused: its authenticator may have been copied. Sign in another way and check your passkeys."
        }
        WebAuthnError::UserNotVerified => {
            "That passkey did not verify you (a PIN, a fingerprint). Try again."
        }
        _ => "That passkey could not be checked. Try again.",
    }
}

fn require_uv(policy: &PasskeyPolicy) -> bool {
    policy.user_verification == UserVerification::Required
}

impl<B: Backend> AuthServer<'_, B> {
    fn passkey_policy(&self) -> Option<&PasskeyPolicy> {
        self.config.sign_in.passkeys.as_ref()
    }

    /// The sign-in page's passkey button, with a fresh challenge sealed to this browser
    /// (`csrf_cookie`); empty where passkeys are off, or no random challenge could be had (the
    /// page then offers the other ways in).
    pub(crate) fn passkey_sign_in_button(
        &self,
        csrf_cookie: &str,
        csrf_token: &str,
        return_to: &str,
    ) -> String {
        let Some(policy) = self.passkey_policy() else {
            return String::new();
        };
        let Ok(challenge) = self.random_b64(32) else {
            return String::new();
        };
        let state = seal(
            self.key(),
            &sign_in_purpose(csrf_cookie),
            &Ceremony {
                challenge: challenge.clone(),
                expires_at: self.now + CEREMONY_TTL_SECS,
                user_id: String::new(),
                user_handle: String::new(),
            },
        );
        sign_in_fragment(
            csrf_token,
            return_to,
            &state,
            &request_options(policy, &challenge),
        )
    }

    /// The account page's passkey section for `user`, its forms carrying the account page's
    /// CSRF token; empty where passkeys are off.
    pub(crate) async fn passkeys_section(
        &self,
        user: &User,
        session_nonce: &str,
        csrf_token: &str,
    ) -> Result<String, ApiError> {
        let Some(policy) = self.passkey_policy() else {
            return Ok(String::new());
        };
        let existing = self.backend.passkeys_of(&user.id).await?;
        let handle = match existing.first() {
            Some(p) => p.credential.user_handle.clone(),
            None => self.random_b64(16)?,
        };
        let challenge = self.random_b64(32)?;
        let state = seal(
            self.key(),
            &register_purpose(session_nonce),
            &Ceremony {
                challenge: challenge.clone(),
                expires_at: self.now + CEREMONY_TTL_SECS,
                user_id: user.id.clone(),
                user_handle: handle.clone(),
            },
        );
        let display_name = if user.name.is_empty() {
            &user.email
        } else {
            &user.name
        };
        let options = creation_options(
            policy,
            &self.config.plugin.name_for_human,
            &RegisteringUser {
                handle: &handle,
                email: &user.email,
                display_name,
            },
            &challenge,
            &existing,
        );
        let items: Vec<PasskeyItem> = existing
            .iter()
            .map(|p| PasskeyItem {
                id: p.credential.id.clone(),
                name: p.name.clone(),
                detail: format!(
                    "added {} · {}",
                    date(p.created_at),
                    p.last_used_at
                        .map(|t| format!("last used {}", date(t)))
                        .unwrap_or_else(|| "never used".into())
                ),
            })
            .collect();
        Ok(section(&items, csrf_token, &state, &options))
    }

    /// `POST /login/passkey`: check the passkey's answer to the sign-in page's challenge, start
    /// a session, go back to where the user came from (an authorization, like the password
    /// form).
    pub async fn passkey_sign_in(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        if !self.form_is_ours(head, &params, "login") {
            return Ok(self.form_expired());
        }
        let csrf = read_cookie(head, self.cookies().csrf);
        let csrf = csrf.unwrap_or_default();
        let return_to = params
            .get("return_to")
            .filter(|r| crate::federation::flow::acceptable_return_to(r))
            .unwrap_or("");
        let form = |status: u16, notice: &str, why: String| {
            self.sign_in_form(status, csrf, return_to, "", Some(notice))
                .with_note(why)
        };
        let Some(policy) = self.passkey_policy() else {
            return Ok(form(
                403,
                "Sign in with one of the options below.",
                "passkeys are off".into(),
            ));
        };
        let ceremony: Option<Ceremony> = params
            .get("state")
            .and_then(|s| open(self.key(), &sign_in_purpose(csrf), s));
        let Some(ceremony) = ceremony.filter(|c| c.expires_at > self.now) else {
            return Ok(form(
                400,
                "That passkey sign-in expired. Try again.",
                "passkey ceremony state expired or not ours".into(),
            ));
        };
        let response = match AssertionResponse::parse(params.get("credential").unwrap_or("")) {
            Ok(r) => r,
            Err(e) => return Ok(form(400, refusal(&e), format!("passkey: {e}"))),
        };
        // Used once, before the response is checked: a replay is refused as one, whatever else
        // holds of it (a counting authenticator's count, for one), and a refused response
        // leaves no challenge to try again with.
        if !self
            .backend
            .remember_once(
                &used_key(&ceremony.challenge),
                CEREMONY_TTL_SECS as u64,
                self.now as u64,
            )
            .await?
        {
            return Ok(form(
                400,
                "That passkey sign-in was used already. Try again.",
                "passkey: challenge replayed".into(),
            ));
        }
        let unknown = "That passkey is not registered here. Sign in another way, then add it on your account page.";
        let Some(passkey) = self.backend.find_passkey(response.credential_id()).await? else {
            return Ok(form(401, unknown, "passkey: unknown credential".into()));
        };
        let user = match self.backend.find_user(&passkey.user_id).await? {
            Some(u) if !u.disabled => u,
            _ => return Ok(form(401, unknown, "passkey: user gone or disabled".into())),
        };
        let expected = AuthenticationExpectation {
            rp_id: &policy.rp_id,
            origin: &policy.origin,
            challenge: &ceremony.challenge,
            user_handle: None,
            require_user_verification: require_uv(policy),
        };
        let authenticated =
            match verify_authentication(self.backend, &response, &expected, &passkey.credential)
                .await?
            {
                Ok(a) => a,
                Err(e) => return Ok(form(401, refusal(&e), format!("passkey: {e}"))),
            };
        let credential = &authenticated.credential;
        if !self
            .backend
            .use_passkey(
                &credential.id,
                credential.sign_count,
                credential.backup_state,
                self.now,
            )
            .await?
        {
            let e = WebAuthnError::CounterRegressed {
                stored: passkey.credential.sign_count,
                received: credential.sign_count,
            };
            return Ok(form(401, refusal(&e), format!("passkey: {e} (raced)")));
        }
        // A passkey that verified its user is two factors in one (the device, and the PIN or
        // biometric that unlocked it).
        let amr = crate::oauth::acr::passkey_amr(authenticated.user_verified);
        self.start_session_with(user, return_to, SignInMethod::Passkey, amr)
    }

    /// `POST /account/passkeys`: add a passkey (the registration ceremony's answer), rename or
    /// delete one of the signed-in user's; then the account page again.
    pub async fn passkeys_action(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let Some(session) = self.session(head) else {
            return Ok(self.local_error(401, "Your session ended. Sign in again."));
        };
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &format!("account:{}", session.nonce),
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        let Some(user) = self.session_user(&session).await? else {
            return Ok(self
                .local_error(401, "Your session ended. Sign in again.")
                .with_header("set-cookie", self.clear_session_cookie()));
        };
        let Some(policy) = self.passkey_policy() else {
            return Ok(self.local_error(403, "Passkeys are not offered here."));
        };
        let id = params.get("id").unwrap_or("");
        let not_found = "That passkey was not found.";
        match params.get("action") {
            Some("add") => {
                let ceremony: Option<Ceremony> = params
                    .get("state")
                    .and_then(|s| open(self.key(), &register_purpose(&session.nonce), s));
                let Some(ceremony) =
                    ceremony.filter(|c| c.expires_at > self.now && c.user_id == user.id)
                else {
                    return Ok(self
                        .local_error(400, "Adding the passkey took too long. Try again.")
                        .with_note("passkey ceremony state expired or not ours"));
                };
                self.add_passkey(policy, &user, &ceremony, &params).await
            }
            Some("rename") => {
                let Some(name) = passkey_name(params.get("name").unwrap_or("")) else {
                    return Ok(self.local_error(
                        400,
                        "A passkey's name is at most 64 characters, without control characters.",
                    ));
                };
                if !self.backend.rename_passkey(&user.id, id, &name).await? {
                    return Ok(self.local_error(404, not_found));
                }
                Ok(redirect(303, ACCOUNT_PATH))
            }
            Some("delete") => {
                if !self.backend.delete_passkey(&user.id, id).await? {
                    return Ok(self.local_error(404, not_found));
                }
                Ok(redirect(303, ACCOUNT_PATH))
            }
            _ => Ok(self.local_error(400, "Unknown action.")),
        }
    }

    /// Verifies the registration ceremony's answer and stores the passkey.
    async fn add_passkey(
        &self,
        policy: &PasskeyPolicy,
        user: &User,
        ceremony: &Ceremony,
        params: &crate::oauth::params::Params,
    ) -> Result<Reply, ApiError> {
        let Some(name) = passkey_name(params.get("name").unwrap_or("")) else {
            return Ok(self.local_error(
                400,
                "A passkey's name is at most 64 characters, without control characters.",
            ));
        };
        let refused = |e: WebAuthnError| {
            self.local_error(400, refusal(&e))
                .with_note(format!("passkey registration: {e}"))
        };
        let response = match RegistrationResponse::parse(params.get("credential").unwrap_or("")) {
            Ok(r) => r,
            Err(e) => return Ok(refused(e)),
        };
        let expected = RegistrationExpectation {
            rp_id: &policy.rp_id,
            origin: &policy.origin,
            challenge: &ceremony.challenge,
            user_handle: &ceremony.user_handle,
            require_user_verification: require_uv(policy),
        };
        let credential = match verify_registration(self.backend, &response, &expected).await? {
            Ok(c) => c,
            Err(e) => return Ok(refused(e)),
        };
        if self.backend.passkeys_of(&user.id).await?.len() >= MAX_PASSKEYS_PER_USER {
            return Ok(self.local_error(
                409,
                "You have as many passkeys as an account may have. Delete one first.",
            ));
        }
        if !self
            .backend
            .remember_once(
                &used_key(&ceremony.challenge),
                CEREMONY_TTL_SECS as u64,
                self.now as u64,
            )
            .await?
        {
            return Ok(self
                .local_error(
                    400,
                    "That passkey was added already. Go back to your account.",
                )
                .with_note("passkey registration: challenge replayed"));
        }
        let added = self
            .backend
            .add_passkey(&Passkey {
                user_id: user.id.clone(),
                name,
                credential,
                created_at: self.now,
                last_used_at: None,
            })
            .await?;
        if !added {
            return Ok(self.local_error(409, "That passkey is registered already."));
        }
        Ok(redirect(303, ACCOUNT_PATH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasskeyPolicy {
        PasskeyPolicy {
            rp_id: "todo.example.com".into(),
            origin: "https://todo.example.com".into(),
            user_verification: UserVerification::Preferred,
        }
    }

    #[test]
    fn sign_in_options_ask_for_a_discoverable_credential_of_our_rp() {
        let o = request_options(&policy(), "Y2hhbGxlbmdl");
        assert_eq!(o["rpId"], "todo.example.com");
        assert_eq!(o["allowCredentials"], serde_json::json!([]));
        assert_eq!(o["userVerification"], "preferred");
        assert_eq!(o["challenge"], "Y2hhbGxlbmdl");
    }

    #[test]
    fn registration_options_name_the_handle_never_the_email_as_the_user_id() {
        let o = creation_options(
            &policy(),
            "Todo",
            &RegisteringUser {
                handle: "aGFuZGxl",
                email: "ann@example.com",
                display_name: "Ann",
            },
            "Y2g",
            &[],
        );
        assert_eq!(o["user"]["id"], "aGFuZGxl");
        assert_eq!(o["user"]["name"], "ann@example.com");
        assert_eq!(
            o["rp"],
            serde_json::json!({"id": "todo.example.com", "name": "Todo"})
        );
        assert_eq!(o["attestation"], "none");
        assert_eq!(o["authenticatorSelection"]["residentKey"], "required");
        let algs: Vec<i64> = o["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["alg"].as_i64().unwrap())
            .collect();
        assert_eq!(algs, vec![-8, -7, -257]);
    }

    #[test]
    fn a_passkey_name_is_short_plain_text() {
        assert_eq!(passkey_name("  Phone  ").as_deref(), Some("Phone"));
        assert_eq!(passkey_name("").as_deref(), Some("Passkey"));
        assert_eq!(passkey_name("a\u{7}b"), None);
        assert_eq!(passkey_name(&"x".repeat(65)), None);
        assert!(passkey_name(&"é".repeat(64)).is_some());
    }
}
