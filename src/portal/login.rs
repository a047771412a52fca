//! The portal's sign-in and sign-out: `GET|POST /login` and `POST /logout`, with CSRF tokens,
//! signed session cookies and throttled failures.

use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, redirect, source, with_cookie, AuthServer};
use crate::portal::password::{verify_password, MAX_PASSWORD_BYTES};
use crate::ports::{Backend, User};
use crate::routes::{EMAIL_CODE_PATH, RESET_PATH, SIGN_UP_PATH};
use crate::throttle::{self, delay_ms, delaying_limit, WINDOW_SECS};
use crate::web::pages::{login_page, message_page, LoginForm, ProviderButton};
use crate::web::passkey_pages::allow_passkey_script;
use crate::web::session::{
    csrf_token, read_cookie, seal_session, set_cookie, verify_csrf, Session, SignInMethod,
    SESSION_TTL_SECS,
};

const SOURCE_LIMIT: u64 = throttle::LOGIN_FAILURES_PER_SOURCE;
const IP_LIMIT: u64 = throttle::LOGIN_FAILURES_PER_IP;

/// The counters one sign-in attempt charged.
pub(crate) struct SignInCharges {
    per_source: String,
    per_ip: String,
    account: String,
    /// Whether the account's count took this attempt (past its bound it only delays).
    account_counted: bool,
}

impl<B: Backend> AuthServer<'_, B> {
    /// `GET /login`: the sign-in form on its own (the portal's front door).
    pub async fn login_form(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let signed_in = match self.session(head) {
            Some(session) => self.session_user(&session).await?.is_some(),
            None => false,
        };
        if signed_in {
            return Ok(with_cookie(
                message_page(
                    200,
                    self.brand(),
                    "Signed in",
                    "You are signed in. You can close this page.",
                ),
                csrf_set,
            ));
        }
        Ok(with_cookie(self.sign_in_page(&csrf, "", None), csrf_set))
    }

    /// The sign-in form, returning to `return_to` (an authorization, or the account page) after.
    pub(crate) fn sign_in_page(&self, csrf: &str, return_to: &str, notice: Option<&str>) -> Reply {
        self.sign_in_form(200, csrf, return_to, "", notice)
    }

    /// The sign-in page as this plugin offers it: the password form, its providers' buttons, or
    /// both, each carrying the CSRF token and where to go after.
    pub(crate) fn sign_in_form(
        &self,
        status: u16,
        csrf: &str,
        return_to: &str,
        email: &str,
        notice: Option<&str>,
    ) -> Reply {
        let buttons: Vec<ProviderButton<'_>> = self
            .config
            .sign_in
            .providers
            .iter()
            .map(|p| ProviderButton {
                action: p.start_path(),
                name: &p.name,
            })
            .collect();
        let query = if return_to.is_empty() {
            String::new()
        } else {
            format!(
                "?return_to={}",
                crate::oauth::params::form_encode(return_to)
            )
        };
        let mut links: Vec<(String, &str)> = Vec::new();
        if self.config.sign_in.email_codes && self.config.mail.is_some() {
            links.push((
                format!("{EMAIL_CODE_PATH}{query}"),
                "Email me a sign-in code",
            ));
        }
        if self.config.sign_in.reset {
            links.push((format!("{RESET_PATH}{query}"), "Forgot your password?"));
        }
        if self.sign_up_offered()
            && self.config.sign_in.sign_up == crate::config::SignUpPolicy::Open
        {
            links.push((format!("{SIGN_UP_PATH}{query}"), "Create an account"));
        }
        let token = csrf_token(self.key(), csrf, "login");
        let passkey = self.passkey_sign_in_button(csrf, &token, return_to);
        let page = login_page(
            status,
            self.brand(),
            &LoginForm {
                csrf_token: &token,
                return_to,
                email,
                notice,
                password: self.config.sign_in.password,
                providers: &buttons,
                links: &links,
                passkey: &passkey,
            },
        );
        if passkey.is_empty() {
            page
        } else {
            allow_passkey_script(page)
        }
    }

    /// `POST /login`: check the password, start a session, go back to where the user came from.
    pub async fn login(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
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
        let email = params.get("email").unwrap_or("").trim().to_string();
        let password = params.get("password").unwrap_or("");
        let form = |status: u16, notice: &str| {
            self.sign_in_form(status, csrf, return_to, &email, Some(notice))
        };
        if !self.config.sign_in.password {
            return Ok(form(403, "Sign in with one of the options below."));
        }
        if email.is_empty()
            || password.is_empty()
            || email.len() > 320
            || password.len() > MAX_PASSWORD_BYTES
        {
            return Ok(form(400, "Enter your email and password."));
        }
        let charges = match self.charge_sign_in(head, &email).await? {
            Ok(charges) => charges,
            Err(reset_secs) => {
                let wait = reset_secs.div_ceil(60).max(1);
                return Ok(form(
                    429,
                    &format!(
                        "Too many failed attempts from your network. Try again in {wait} minutes."
                    ),
                )
                .with_header("retry-after", reset_secs.max(1).to_string()));
            }
        };
        let user = self.backend.find_user_by_email(&email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = verify_password(self.backend, password, stored).await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => return Ok(form(401, "Wrong email or password.")),
        };
        // The counts go back while whether a second factor is due is read.
        let (refunded, factor) = futures_util::future::join(
            self.refund_sign_in(&charges),
            self.backend.second_factor(&user.id),
        )
        .await;
        refunded?;
        let enrolled = factor?.is_some();
        self.session_or_second_factor(csrf, user, return_to, SignInMethod::Password, enrolled)
    }

    /// Counts a sign-in attempt before its password is checked (an atomic charge), so parallel
    /// guesses cannot all slip under a limit; `Err(reset_secs)` when the source is past its limit.
    /// Refusals are per source address (for this account, and over all accounts); what is
    /// counted for the account from everywhere only delays, so failing on purpose locks out
    /// nobody but the one failing.
    pub(crate) async fn charge_sign_in(
        &self,
        head: &RequestHead,
        email: &str,
    ) -> Result<Result<SignInCharges, u64>, ApiError> {
        let now = self.now as u64;
        let source = source(head);
        let charges = SignInCharges {
            per_source: throttle::login_source_key(&source, email),
            per_ip: throttle::login_ip_key(&source),
            account: throttle::login_account_key(email),
            account_counted: false,
        };
        let by_source = self
            .backend
            .charge(&charges.per_source, SOURCE_LIMIT, WINDOW_SECS, now)
            .await?;
        if !by_source.allowed {
            return Ok(Err(by_source.reset_secs));
        }
        let by_ip = self
            .backend
            .charge(&charges.per_ip, IP_LIMIT, WINDOW_SECS, now)
            .await?;
        if !by_ip.allowed {
            self.backend
                .refund(&charges.per_source, SOURCE_LIMIT, WINDOW_SECS, now)
                .await?;
            return Ok(Err(by_ip.reset_secs));
        }
        let account_limit = delaying_limit(throttle::LOGIN_ATTEMPTS_BEFORE_DELAY);
        let by_account = self
            .backend
            .charge(&charges.account, account_limit, WINDOW_SECS, now)
            .await?;
        let wait = delay_ms(&by_account, throttle::LOGIN_ATTEMPTS_BEFORE_DELAY);
        if wait > 0 {
            // Before the check, whatever its outcome: the wait tells nothing about the password.
            self.backend.sleep(wait).await;
        }
        Ok(Ok(SignInCharges {
            account_counted: by_account.allowed,
            ..charges
        }))
    }

    /// A successful sign-in gives its counts back, all three at once.
    pub(crate) async fn refund_sign_in(&self, charges: &SignInCharges) -> Result<(), ApiError> {
        let now = self.now as u64;
        let account_limit = delaying_limit(throttle::LOGIN_ATTEMPTS_BEFORE_DELAY);
        let account = async {
            if charges.account_counted {
                self.backend
                    .refund(&charges.account, account_limit, WINDOW_SECS, now)
                    .await
            } else {
                Ok(())
            }
        };
        let (by_source, by_ip, by_account) = futures_util::future::join3(
            self.backend
                .refund(&charges.per_source, SOURCE_LIMIT, WINDOW_SECS, now),
            self.backend
                .refund(&charges.per_ip, IP_LIMIT, WINDOW_SECS, now),
            account,
        )
        .await;
        by_source?;
        by_ip?;
        by_account?;
        Ok(())
    }

    /// The signed-in reply: a new session cookie and a new CSRF cookie, then back to
    /// `return_to` (or a page saying so).
    /// `method`: how the user signed in, recorded in the session (see [`SignInMethod`]).
    pub(crate) fn start_session(
        &self,
        user: User,
        return_to: &str,
        method: SignInMethod,
    ) -> Result<Reply, ApiError> {
        let amr = first_factor_amr(&method);
        self.start_session_with(user, return_to, method, amr)
    }

    /// [`Self::start_session`] with the session's `amr` given: the first factor's and, after a
    /// second factor, `otp` and `mfa` (see [`crate::oauth::acr`]).
    pub(crate) fn start_session_with(
        &self,
        user: User,
        return_to: &str,
        method: SignInMethod,
        amr: Vec<String>,
    ) -> Result<Reply, ApiError> {
        let reply = if return_to.is_empty() {
            message_page(
                200,
                self.brand(),
                "Signed in",
                "You are signed in. You can close this page.",
            )
        } else {
            redirect(303, return_to)
        };
        let [session, csrf] = self.session_cookies(user, method, amr)?;
        Ok(reply
            .with_header("set-cookie", session)
            .with_header("set-cookie", csrf))
    }

    /// The `Set-Cookie` values of a new session (sealed, with a fresh nonce) and a new CSRF
    /// cookie: nothing set before sign-in carries over.
    pub(crate) fn session_cookies(
        &self,
        user: User,
        method: SignInMethod,
        amr: Vec<String>,
    ) -> Result<[String; 2], ApiError> {
        let session = Session {
            user_id: user.id,
            issued_at: self.now,
            expires_at: self.now + SESSION_TTL_SECS,
            nonce: self.random_b64(16)?,
            epoch: user.session_epoch,
            method,
            amr,
        };
        let secure = self.secure_cookies();
        let new_csrf = self.random_b64(18)?;
        Ok([
            set_cookie(
                self.cookies().session,
                &seal_session(self.key(), &session),
                SESSION_TTL_SECS,
                secure,
            ),
            set_cookie(self.cookies().csrf, &new_csrf, SESSION_TTL_SECS, secure),
        ])
    }

    /// `POST /logout`: end the session, and with it every session of the user: sessions are
    /// stateless cookies, so the way to make sure a copy of this one stops working is to move the
    /// user's session epoch on.
    pub async fn logout(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let session = self.session(head);
        let nonce = session
            .as_ref()
            .map(|s| s.nonce.as_str())
            .unwrap_or_default();
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &format!("logout:{nonce}"),
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        if let Some(session) = session {
            self.backend.end_sessions(&session.user_id).await?;
        }
        Ok(
            message_page(200, self.brand(), "Signed out", "You are signed out.")
                .with_header("set-cookie", self.clear_session_cookie()),
        )
    }
}

/// The `amr` of a session made with one factor (RFC 8176): `pwd` for a password, the gateway's
/// `email` for a mailed code, none for an upstream provider's sign-in (what the provider checked
/// is its own to say).
pub(crate) fn first_factor_amr(method: &SignInMethod) -> Vec<String> {
    use crate::oauth::acr::{AMR_EMAIL, AMR_PASSWORD};
    match method {
        SignInMethod::Password => vec![AMR_PASSWORD.to_string()],
        SignInMethod::EmailCode => vec![AMR_EMAIL.to_string()],
        SignInMethod::Provider(_) => Vec::new(),
        // Passkey sign-ins give their own (`acr::passkey_amr`); a session only says "a key".
        SignInMethod::Passkey => vec![crate::oauth::acr::AMR_HARDWARE_KEY.to_string()],
    }
}
