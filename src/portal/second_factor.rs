//! A second factor in the portal: an authenticator app (TOTP, [`crate::accounts::totp`]) and its
//! recovery codes ([`crate::accounts::recovery`]).
//!
//! - `GET|POST /account/second-factor`: setting the app up (a new secret shown as its base32 key
//!   and `otpauth://` link, carried back sealed in the form, stored only once a first code
//!   confirms it, with ten recovery codes shown once), new recovery codes, turning it off (both
//!   with a current code, or within [`RECENT_SECS`] of signing in with one).
//! - After a first factor (a password, a mailed code, a reset), a user with an app gets no
//!   session yet: the code page carries a sealed half sign-in ([`HalfSignedIn`]: the plugin's
//!   issuer, the user, their session epoch, this browser), and `POST /login/second-factor`
//!   takes a TOTP code or a recovery code, throttled like passwords, then starts the session with
//!   `amr` `otp` and `mfa`. Upstream providers' sign-ins start sessions without it; where a
//!   plugin requires two factors (`sign_in.require_mfa`) or a client asks for them
//!   (`acr_values`), `/authorize` steps such a session up through the same page.
//!
//! The secret is stored sealed (AES-256-GCM through [`crate::ports::TokenCipher`], the user's
//! id as associated data) under a key derived from `SESSION_SECRET` ([`second_factor_key`]):
//! no further secret to provision, and every deployment that takes passwords has it. Rotating
//! `SESSION_SECRET` then leaves stored secrets unopenable: the code page says so, and the
//! recovery codes, kept as SHA-256 hashes that need no key, still sign the user in (they then
//! set the app up again). An unkeyed hash costs recovery codes nothing: 60 random bits are out
//! of reach of an offline search of a leaked table, unlike a six-digit mailed code.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::accounts::recovery::{generate_recovery_codes, verify_recovery_code, RecoveryCodes};
use crate::accounts::totp::{otpauth_uri, verify_totp, TotpSecret, DIGITS};
use crate::error::oauth::OAuthErrorCode;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::acr::{acr_of, meets_acr_values, with_second_factor, ACR_MFA};
use crate::oauth::authorize::AuthorizeRequest;
use crate::oauth::params::{form_encode, Params};
use crate::oauth::server::{body_params, redirect, with_cookie, AuthServer};
use crate::portal::login::first_factor_amr;
use crate::ports::{Backend, User};
use crate::primitives::hash::sha256_hex;
use crate::routes::{ACCOUNT_PATH, SECOND_FACTOR_SETUP_PATH};
use crate::web::second_factor_pages::{
    recovery_codes_page, second_factor_code_page, second_factor_manage_page, totp_setup_page,
    SecondFactorManage, TotpSetup,
};
use crate::web::session::{
    csrf_token, open, read_cookie, seal, verify_csrf, Session, SignInMethod,
};

/// A half sign-in lasts five minutes: time to find the phone, not to keep the page open all day.
pub const HALF_SIGNED_IN_TTL_SECS: i64 = 300;

/// A setup offer (the secret shown, not yet stored) lasts ten minutes.
pub const SETUP_TTL_SECS: i64 = 600;

/// Within ten minutes of presenting a second factor, turning it off or renewing the recovery
/// codes asks for no further code.
pub const RECENT_SECS: i64 = 600;

/// The CSRF purpose and sealing purpose of the code page's form.
const CODE_PURPOSE: &str = "second-factor";
/// The sealing purpose of a setup offer.
const SETUP_PURPOSE: &str = "totp-setup";

const WRONG_CODE: &str =
    "That code is not right, or was used already. Try the next one your app shows.";
const EXPIRED: &str = "This sign-in expired. Go back and sign in again.";
const SESSION_ENDED: &str = "Your session ended. Sign in again.";

/// Signed in with the first factor, waiting for the second: sealed into the code page's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HalfSignedIn {
    #[serde(rename = "u")]
    user_id: String,
    /// The user's session epoch then: a sign-out everywhere or a new password voids it.
    #[serde(rename = "p")]
    epoch: i64,
    #[serde(rename = "m")]
    method: SignInMethod,
    #[serde(rename = "a")]
    amr: Vec<String>,
    #[serde(rename = "r")]
    return_to: String,
    #[serde(rename = "e")]
    expires_at: i64,
    /// SHA-256 of this browser's CSRF cookie: the form opens in no other browser.
    #[serde(rename = "b")]
    browser: String,
}

/// A secret offered for setup, carried back by the confirming form (it is on the page anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SetupOffer {
    #[serde(rename = "u")]
    user_id: String,
    /// The session's nonce: the offer is confirmed in the session it was made in.
    #[serde(rename = "n")]
    nonce: String,
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "e")]
    expires_at: i64,
}

/// The AES-256 key second factors are sealed with: HMAC-SHA256 of a fixed label under the
/// session secret (see the module's doc for why this key). Deployment-wide, not per plugin:
/// users are.
pub fn second_factor_key(session_secret: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(session_secret) else {
        return [0; 32];
    };
    mac.update(b"portcullis second factor sealing key v1");
    mac.finalize().into_bytes().into()
}

/// The associated data a user's secret is sealed with: moved to another row, it opens nowhere.
fn aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// Whether typed text is meant as an app's code (six digits, spaces aside) rather than a
/// recovery code.
fn is_totp_code(code: &str) -> bool {
    let digits: Vec<u8> = code.bytes().filter(|b| *b != b' ').collect();
    digits.len() == DIGITS && digits.iter().all(u8::is_ascii_digit)
}

impl<B: Backend> AuthServer<'_, B> {
    fn second_factor_key(&self) -> [u8; 32] {
        second_factor_key(self.nonce_key())
    }

    async fn unseal_totp(
        &self,
        user_id: &str,
        sealed: &str,
    ) -> Result<Option<TotpSecret>, ApiError> {
        let opened = self
            .backend
            .unseal(&self.second_factor_key(), sealed, &aad(user_id))
            .await?;
        Ok(opened.and_then(|text| TotpSecret::from_base32(&text).ok()))
    }

    /// After a first factor: a session when the user has no second factor, else the code page.
    /// `csrf`: this browser's CSRF cookie (the first factor's form was checked against it).
    pub(crate) async fn after_first_factor(
        &self,
        csrf: &str,
        user: User,
        return_to: &str,
        method: SignInMethod,
    ) -> Result<Reply, ApiError> {
        let enrolled = self.backend.second_factor(&user.id).await?.is_some();
        self.session_or_second_factor(csrf, user, return_to, method, enrolled)
    }

    /// [`Self::after_first_factor`] once whether the user has a second factor was read.
    pub(crate) fn session_or_second_factor(
        &self,
        csrf: &str,
        user: User,
        return_to: &str,
        method: SignInMethod,
        enrolled: bool,
    ) -> Result<Reply, ApiError> {
        if !enrolled {
            return self.start_session(user, return_to, method);
        }
        let amr = first_factor_amr(&method);
        Ok(self.ask_second_factor(200, csrf, &user, method, amr, return_to, None))
    }

    /// The code page, with a new half sign-in.
    #[allow(clippy::too_many_arguments)]
    fn ask_second_factor(
        &self,
        status: u16,
        csrf: &str,
        user: &User,
        method: SignInMethod,
        amr: Vec<String>,
        return_to: &str,
        notice: Option<&str>,
    ) -> Reply {
        let half = HalfSignedIn {
            user_id: user.id.clone(),
            epoch: user.session_epoch,
            method,
            amr,
            return_to: return_to.to_string(),
            expires_at: self.now + HALF_SIGNED_IN_TTL_SECS,
            browser: sha256_hex(csrf),
        };
        second_factor_code_page(
            status,
            self.brand(),
            &csrf_token(self.key(), csrf, CODE_PURPOSE),
            &seal(self.key(), CODE_PURPOSE, &half),
            &user.email,
            notice,
        )
    }

    /// `POST /login/second-factor`: the code after the first factor; then the session.
    pub async fn second_factor_sign_in(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        if !self.form_is_ours(head, &params, CODE_PURPOSE) {
            return Ok(self.form_expired());
        }
        let csrf = read_cookie(head, self.cookies().csrf);
        let csrf = csrf.unwrap_or_default();
        let sealed = params.get("pending").unwrap_or("");
        let half = open::<HalfSignedIn>(self.key(), CODE_PURPOSE, sealed).filter(|h| {
            self.now < h.expires_at && h.browser.as_bytes() == sha256_hex(csrf).as_bytes()
        });
        let Some(half) = half else {
            return Ok(self.local_error(400, EXPIRED));
        };
        let user = self
            .backend
            .find_user(&half.user_id)
            .await?
            .filter(|u| !u.disabled && u.session_epoch == half.epoch);
        let Some(user) = user else {
            return Ok(self.local_error(400, EXPIRED));
        };
        let again = |status: u16, notice: &str| {
            second_factor_code_page(
                status,
                self.brand(),
                &csrf_token(self.key(), csrf, CODE_PURPOSE),
                sealed,
                &user.email,
                Some(notice),
            )
        };
        let code = params.get("code").unwrap_or("").trim();
        if code.is_empty() || code.len() > 64 {
            return Ok(again(
                400,
                "Enter the code from your authenticator app, or a recovery code.",
            ));
        }
        let charges = match self
            .charge_sign_in(head, &throttle_subject(&user.id))
            .await?
        {
            Ok(charges) => charges,
            Err(reset_secs) => {
                let wait = reset_secs.div_ceil(60).max(1);
                return Ok(again(
                    429,
                    &format!("Too many wrong codes. Try again in {wait} minutes."),
                )
                .with_header("retry-after", reset_secs.max(1).to_string()));
            }
        };
        if let Err(notice) = self.spend_second_factor(&user.id, code).await? {
            return Ok(again(401, notice));
        }
        self.refund_sign_in(&charges).await?;
        let amr = with_second_factor(&half.amr);
        self.start_session_with(user, &half.return_to, half.method, amr)
    }

    /// Checks a code (an app's, or a recovery code) and spends it, in one conditional store
    /// call; `Err` says why it was refused.
    async fn spend_second_factor(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Result<(), &'static str>, ApiError> {
        let Some(factor) = self.backend.second_factor(user_id).await? else {
            return Ok(Err("No authenticator app is set up for this account."));
        };
        if is_totp_code(code) {
            let Some(secret) = self.unseal_totp(user_id, &factor.sealed_secret).await? else {
                return Ok(Err(
                    "Your authenticator app cannot be checked now. Enter a recovery code instead.",
                ));
            };
            let last = factor.last_step.and_then(|s| u64::try_from(s).ok());
            let Ok(step) = verify_totp(&secret, code, self.now as u64, last) else {
                return Ok(Err(WRONG_CODE));
            };
            let Ok(step) = i64::try_from(step) else {
                return Ok(Err(WRONG_CODE));
            };
            // Of parallel requests with one code, the store lets one move the step on.
            if !self.backend.accept_totp_step(user_id, step).await? {
                return Ok(Err(WRONG_CODE));
            }
            return Ok(Ok(()));
        }
        let Ok(hash) = verify_recovery_code(code, &factor.recovery_hashes) else {
            return Ok(Err(WRONG_CODE));
        };
        if !self.backend.spend_recovery_code(user_id, hash).await? {
            return Ok(Err(WRONG_CODE));
        }
        Ok(Ok(()))
    }

    /// What `/authorize` asks before consent when the session is weaker than the plugin
    /// (`require_mfa`) or the client (`acr_values`) asks: the code page to step up, the setup
    /// of an app (`require_mfa`, for users without one), or `unmet_authentication_requirements`
    /// (a client asked for two factors of a user with one, or `prompt=none`). `None`: the session
    /// is strong enough.
    pub(crate) async fn authentication_unmet(
        &self,
        request: &AuthorizeRequest,
        user: &User,
        session: &Session,
        csrf: &str,
        return_to: &str,
        status: u16,
    ) -> Result<Option<Reply>, ApiError> {
        if self.strong_enough(request, session) {
            return Ok(None);
        }
        let required = self.config.sign_in.require_mfa;
        let enrolled = self.backend.second_factor(&user.id).await?.is_some();
        if request.prompt_none {
            let code = if enrolled {
                OAuthErrorCode::LoginRequired
            } else {
                OAuthErrorCode::UnmetAuthenticationRequirements
            };
            let why = "the session has one factor and the request needs two";
            return Ok(Some(self.redirect_error(request, code, why, status)));
        }
        if enrolled {
            return Ok(Some(self.ask_second_factor(
                200,
                csrf,
                user,
                session.method.clone(),
                session.amr.clone(),
                return_to,
                Some("This app asks for a second step: a code from your authenticator app."),
            )));
        }
        if required {
            let setup = format!(
                "{SECOND_FACTOR_SETUP_PATH}?return_to={}",
                form_encode(return_to)
            );
            return Ok(Some(redirect(status, &setup)));
        }
        Ok(Some(self.redirect_error(
            request,
            OAuthErrorCode::UnmetAuthenticationRequirements,
            "the user has no second factor",
            status,
        )))
    }

    /// Whether the session has the factors the plugin and the request ask for.
    pub(crate) fn strong_enough(&self, request: &AuthorizeRequest, session: &Session) -> bool {
        let acr = acr_of(&session.amr);
        acr == ACR_MFA
            || (!self.config.sign_in.require_mfa && meets_acr_values(acr, &request.acr_values))
    }

    /// The session and its user, if they still stand.
    async fn session_and_user(
        &self,
        head: &RequestHead,
    ) -> Result<Option<(Session, User)>, ApiError> {
        let Some(session) = self.session(head) else {
            return Ok(None);
        };
        Ok(self.session_user(&session).await?.map(|u| (session, u)))
    }

    /// `GET /account/second-factor`: the app's setup, or (when set up) its own page.
    pub async fn second_factor_setup(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let query = Params::from_urlencoded(head.query.as_deref().unwrap_or("")).ok();
        let return_to = query
            .as_ref()
            .and_then(|q| q.get("return_to"))
            .filter(|r| crate::federation::flow::acceptable_return_to(r))
            .unwrap_or("")
            .to_string();
        let Some((session, user)) = self.session_and_user(head).await? else {
            let here = if return_to.is_empty() {
                SECOND_FACTOR_SETUP_PATH.to_string()
            } else {
                format!(
                    "{SECOND_FACTOR_SETUP_PATH}?return_to={}",
                    form_encode(&return_to)
                )
            };
            return Ok(with_cookie(self.sign_in_page(&csrf, &here, None), csrf_set));
        };
        let reply = match self.backend.second_factor(&user.id).await? {
            Some(factor) => self.manage_page(
                200,
                &csrf,
                &session,
                &user,
                factor.created_at,
                factor.recovery_hashes.len(),
                None,
            ),
            None => self.setup_page(200, &csrf, &session, &user, &return_to, None)?,
        };
        Ok(with_cookie(reply, csrf_set))
    }

    /// A new secret offered: its key, its link and the confirming form.
    fn setup_page(
        &self,
        status: u16,
        csrf: &str,
        session: &Session,
        user: &User,
        return_to: &str,
        notice: Option<&str>,
    ) -> Result<Reply, ApiError> {
        let secret = TotpSecret::generate(self.backend)?;
        let offer = SetupOffer {
            user_id: user.id.clone(),
            nonce: session.nonce.clone(),
            key: secret.to_base32(),
            expires_at: self.now + SETUP_TTL_SECS,
        };
        Ok(self.offer_page(status, csrf, session, user, &offer, return_to, notice))
    }

    #[allow(clippy::too_many_arguments)]
    fn offer_page(
        &self,
        status: u16,
        csrf: &str,
        session: &Session,
        user: &User,
        offer: &SetupOffer,
        return_to: &str,
        notice: Option<&str>,
    ) -> Reply {
        // The Key Uri Format splits its label at a colon: none may stay in either part.
        let issuer = self.config.plugin.name_for_human.replace(':', " ");
        let account = user.email.replace(':', " ");
        let uri = TotpSecret::from_base32(&offer.key)
            .ok()
            .and_then(|secret| otpauth_uri(issuer.trim(), account.trim(), &secret).ok())
            .unwrap_or_default();
        totp_setup_page(
            status,
            self.brand(),
            &TotpSetup {
                key: &offer.key,
                uri: &uri,
                setup: &seal(self.key(), SETUP_PURPOSE, offer),
                csrf_token: &self.setup_csrf(csrf, session),
                return_to,
                notice,
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn manage_page(
        &self,
        status: u16,
        csrf: &str,
        session: &Session,
        user: &User,
        since: i64,
        left: usize,
        notice: Option<&str>,
    ) -> Reply {
        second_factor_manage_page(
            status,
            self.brand(),
            &SecondFactorManage {
                email: &user.email,
                since: &crate::portal::account::date(since),
                left,
                recent_minutes: RECENT_SECS / 60,
                csrf_token: &self.setup_csrf(csrf, session),
                notice,
            },
        )
    }

    /// The setup forms' CSRF token: this browser, this session.
    fn setup_csrf(&self, csrf: &str, session: &Session) -> String {
        csrf_token(
            self.key(),
            csrf,
            &format!("second-factor:{}", session.nonce),
        )
    }

    /// `POST /account/second-factor`: confirm the setup (`confirm`), new recovery codes
    /// (`regenerate`), or turn the app off (`remove`).
    pub async fn second_factor_action(
        &self,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let Some(session) = self.session(head) else {
            return Ok(self.local_error(401, SESSION_ENDED));
        };
        let csrf = read_cookie(head, self.cookies().csrf);
        if !verify_csrf(
            self.key(),
            csrf,
            &format!("second-factor:{}", session.nonce),
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        let csrf = csrf.unwrap_or_default();
        let Some(user) = self.session_user(&session).await? else {
            return Ok(self
                .local_error(401, SESSION_ENDED)
                .with_header("set-cookie", self.clear_session_cookie()));
        };
        match params.get("action") {
            Some("confirm") => self.confirm_setup(&params, csrf, session, user).await,
            Some(action @ ("regenerate" | "remove")) => {
                self.change_factor(head, &params, csrf, &session, &user, action == "remove")
                    .await
            }
            _ => Ok(self.local_error(400, "Unknown action.")),
        }
    }

    /// The first code confirms the offered secret: it is stored with new recovery codes, which
    /// are shown once, and the session (having seen both factors) becomes a two-factor one.
    async fn confirm_setup(
        &self,
        params: &Params,
        csrf: &str,
        session: Session,
        user: User,
    ) -> Result<Reply, ApiError> {
        let return_to = params
            .get("return_to")
            .filter(|r| crate::federation::flow::acceptable_return_to(r))
            .unwrap_or("");
        let offer =
            open::<SetupOffer>(self.key(), SETUP_PURPOSE, params.get("setup").unwrap_or(""))
                .filter(|o| {
                    o.user_id == user.id && o.nonce == session.nonce && self.now < o.expires_at
                });
        let secret = offer
            .as_ref()
            .and_then(|o| TotpSecret::from_base32(&o.key).ok());
        let (Some(offer), Some(secret)) = (offer, secret) else {
            return self.setup_page(
                400,
                csrf,
                &session,
                &user,
                return_to,
                Some("This setup expired. Add the new key below to your app."),
            );
        };
        if self.backend.second_factor(&user.id).await?.is_some() {
            return Ok(self.local_error(
                409,
                "An authenticator app is already set up. Turn it off first to set up another.",
            ));
        }
        let code = params.get("code").unwrap_or("");
        let step = verify_totp(&secret, code, self.now as u64, None)
            .ok()
            .and_then(|s| i64::try_from(s).ok());
        let Some(step) = step else {
            return Ok(self.offer_page(
                400,
                csrf,
                &session,
                &user,
                &offer,
                return_to,
                Some("That code is not right. Check that the phone's clock is set automatically, and enter the code the app shows now."),
            ));
        };
        let sealed = self
            .backend
            .seal(
                &self.second_factor_key(),
                &secret.to_base32(),
                &aad(&user.id),
            )
            .await?;
        let codes = generate_recovery_codes(self.backend)?;
        self.backend
            .enrol_second_factor(&user.id, &sealed, step, &codes.hashes, self.now)
            .await?;
        let amr = with_second_factor(&session.amr);
        let cookies = self.session_cookies(user, session.method, amr)?;
        let (next, next_text) = if return_to.is_empty() {
            (ACCOUNT_PATH, "Back to your account")
        } else {
            (return_to, "Continue")
        };
        let reply = self.codes_page(&codes, next, next_text);
        Ok(cookies
            .into_iter()
            .fold(reply, |reply, c| reply.with_header("set-cookie", c)))
    }

    fn codes_page(&self, codes: &RecoveryCodes, next: &str, next_text: &str) -> Reply {
        let shown: Vec<&str> = codes.codes.iter().map(|c| c.expose()).collect();
        recovery_codes_page(self.brand(), &shown, next, next_text)
    }

    /// New recovery codes, or the app turned off: with a current code (throttled like sign-in),
    /// or within [`RECENT_SECS`] of a two-factor sign-in.
    async fn change_factor(
        &self,
        head: &RequestHead,
        params: &Params,
        csrf: &str,
        session: &Session,
        user: &User,
        remove: bool,
    ) -> Result<Reply, ApiError> {
        let Some(factor) = self.backend.second_factor(&user.id).await? else {
            return Ok(self.local_error(404, "No authenticator app is set up."));
        };
        let refuse = |status: u16, notice: &str| {
            self.manage_page(
                status,
                csrf,
                session,
                user,
                factor.created_at,
                factor.recovery_hashes.len(),
                Some(notice),
            )
        };
        let recent = acr_of(&session.amr) == ACR_MFA && self.now - session.issued_at <= RECENT_SECS;
        let code = params.get("code").unwrap_or("").trim();
        if !recent {
            if code.is_empty() || code.len() > 64 {
                return Ok(refuse(401, "Enter a current code from your app."));
            }
            let charges = match self
                .charge_sign_in(head, &throttle_subject(&user.id))
                .await?
            {
                Ok(charges) => charges,
                Err(reset_secs) => {
                    let wait = reset_secs.div_ceil(60).max(1);
                    return Ok(refuse(
                        429,
                        &format!("Too many wrong codes. Try again in {wait} minutes."),
                    )
                    .with_header("retry-after", reset_secs.max(1).to_string()));
                }
            };
            if let Err(notice) = self.spend_second_factor(&user.id, code).await? {
                return Ok(refuse(401, notice));
            }
            self.refund_sign_in(&charges).await?;
        }
        if remove {
            self.backend.remove_second_factor(&user.id).await?;
            return Ok(redirect(303, ACCOUNT_PATH));
        }
        let codes = generate_recovery_codes(self.backend)?;
        if !self
            .backend
            .replace_recovery_codes(&user.id, &codes.hashes, self.now)
            .await?
        {
            return Ok(self.local_error(404, "No authenticator app is set up."));
        }
        Ok(self.codes_page(&codes, SECOND_FACTOR_SETUP_PATH, "Back"))
    }
}

/// What second-factor attempts are counted under, beside passwords' per-source counters: the
/// user (no email has a colon before an `@`-less id).
fn throttle_subject(user_id: &str) -> String {
    format!("second-factor:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_an_apps_code_and_anything_else_a_recovery_code() {
        assert!(is_totp_code("123456"));
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code("12345"));
        assert!(!is_totp_code("1234567"));
        assert!(!is_totp_code("abcd-efgh-jkmn"));
        assert!(!is_totp_code("123456789012"));
    }

    #[test]
    fn the_sealing_key_is_derived_from_the_session_secret_alone() {
        let a = second_factor_key(b"0123456789abcdef0123456789abcdef");
        assert_eq!(a, second_factor_key(b"0123456789abcdef0123456789abcdef"));
        assert_ne!(a, second_factor_key(b"fedcba9876543210fedcba9876543210"));
        assert_ne!(&a[..], b"0123456789abcdef0123456789abcdef");
    }
}
