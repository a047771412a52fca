//! `/login/code`: signing in without a password, where the plugin offers it
//! (`sign_in.email_codes`): the address gets a six-digit code and a link, either signs in. An
//! address without an account gets a mail saying so, and the same page.

use crate::accounts::challenge::{Purpose, CODE_TTL_SECS};
use crate::accounts::mail_texts as mail;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, with_cookie, AuthServer};
use crate::portal::proof::{query_param, return_to, typed_email, Unopened};
use crate::ports::Backend;
use crate::routes::{EMAIL_CODE_PATH, LOGIN_PATH};
use crate::web::account_pages::{
    code_page, confirm_page, email_form_page, CodeForm, ConfirmForm, EmailForm,
};
use crate::web::session::{csrf_token, read_cookie, SignInMethod};

const CSRF_PURPOSE: &str = "email-code";

impl<B: Backend> AuthServer<'_, B> {
    fn email_codes_off(&self) -> Option<Reply> {
        (!(self.config.sign_in.email_codes && self.config.mail.is_some()))
            .then(|| self.local_error(404, "Sign-in by email code is not offered here."))
    }

    /// `GET /login/code`: the address to mail a code to; with a mailed link's `token`, the
    /// button that signs in with it.
    pub async fn email_code_form(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        if let Some(off) = self.email_codes_off() {
            return Ok(with_cookie(off, csrf_set));
        }
        let reply = match query_param(head, "token") {
            Some(token) => match self.open_by_link(Purpose::SignIn, &token).await? {
                Some(challenge) if challenge.user_id.is_some() => confirm_page(
                    self.brand(),
                    &ConfirmForm {
                        title: "Sign in",
                        message: &format!("Sign in as {}?", challenge.email),
                        action: EMAIL_CODE_PATH,
                        button: "Sign in",
                        csrf_token: &csrf_token(self.key(), &csrf, CSRF_PURPOSE),
                        token: &token,
                    },
                ),
                _ => self.local_error(400, &Unopened::Closed.message()),
            },
            None => {
                let back = query_param(head, "return_to");
                self.code_request_page(200, &csrf, return_to(back.as_deref()), "", None)
            }
        };
        Ok(with_cookie(reply, csrf_set))
    }

    fn code_request_page(
        &self,
        status: u16,
        csrf: &str,
        back: &str,
        email: &str,
        notice: Option<&str>,
    ) -> Reply {
        let back_to = if back.is_empty() { LOGIN_PATH } else { back };
        email_form_page(
            status,
            self.brand(),
            &EmailForm {
                title: "Sign in with a code",
                message: "Enter the address of your account. We mail it a code to sign in with.",
                action: EMAIL_CODE_PATH,
                button: "Mail me a code",
                csrf_token: &csrf_token(self.key(), csrf, CSRF_PURPOSE),
                return_to: back,
                email,
                back: back_to,
                notice,
            },
        )
    }

    fn sign_in_code_page(
        &self,
        status: u16,
        csrf: &str,
        challenge: &str,
        email: &str,
        notice: Option<&str>,
    ) -> Reply {
        code_page(
            status,
            self.brand(),
            &CodeForm {
                title: "Check your email",
                action: EMAIL_CODE_PATH,
                button: "Sign in",
                csrf_token: &csrf_token(self.key(), csrf, CSRF_PURPOSE),
                challenge,
                email,
                minutes: CODE_TTL_SECS / 60,
                again: EMAIL_CODE_PATH,
                notice,
            },
        )
    }

    /// `POST /login/code`: mails a code (an `email`), or signs in with one (a `challenge` and
    /// its `code`, or a link's `token`).
    pub async fn email_code(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        if let Some(off) = self.email_codes_off() {
            return Ok(off);
        }
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        if !self.form_is_ours(head, &params, CSRF_PURPOSE) {
            return Ok(self.form_expired());
        }
        let csrf = read_cookie(head, self.cookies().csrf).unwrap_or_default();
        let opened = match (params.get("token"), params.get("challenge")) {
            (Some(token), _) => Some(
                self.open_by_link(Purpose::SignIn, token)
                    .await?
                    .ok_or(Unopened::Closed),
            ),
            (None, Some(id)) => Some(
                self.open_by_code(Purpose::SignIn, id, params.get("code").unwrap_or(""))
                    .await?,
            ),
            (None, None) => None,
        };
        match opened {
            Some(opened) => {
                self.sign_in_by_code(csrf, params.get("challenge").unwrap_or(""), opened)
                    .await
            }
            None => {
                self.mail_sign_in_code(
                    head,
                    csrf,
                    params.get("email"),
                    return_to(params.get("return_to")),
                )
                .await
            }
        }
    }

    async fn mail_sign_in_code(
        &self,
        head: &RequestHead,
        csrf: &str,
        typed: Option<&str>,
        back: &str,
    ) -> Result<Reply, ApiError> {
        let Some(email) = typed_email(typed) else {
            return Ok(self.code_request_page(
                400,
                csrf,
                back,
                typed.unwrap_or(""),
                Some("Enter your email address."),
            ));
        };
        if let Err(reset_secs) = self.charge_mail(head, &email).await? {
            return Ok(self.too_many_mails(reset_secs));
        }
        let (challenge, secrets, user) = self
            .challenge_for_address(Purpose::SignIn, &email, back)
            .await?;
        let logo = self.mail_logo();
        let brand = self.mail_brand(&logo);
        self.send(match &user {
            Some(_) => mail::sign_in_code(
                brand,
                &email,
                &secrets.code,
                &self.mailed_link(EMAIL_CODE_PATH, &secrets.link_token),
                CODE_TTL_SECS,
            ),
            None => self.no_account_mail(brand, &email),
        });
        Ok(self.sign_in_code_page(200, csrf, &challenge.id, &email, None))
    }

    async fn sign_in_by_code(
        &self,
        csrf: &str,
        challenge_id: &str,
        opened: Result<crate::accounts::challenge::EmailChallenge, Unopened>,
    ) -> Result<Reply, ApiError> {
        let challenge = match opened {
            Ok(c) => c,
            Err(Unopened::WrongCode(left)) if left > 0 => {
                let email = self.challenge_email(challenge_id).await?;
                return Ok(self.sign_in_code_page(
                    400,
                    csrf,
                    challenge_id,
                    &email,
                    Some(&Unopened::WrongCode(left).message()),
                ));
            }
            Err(why) => return Ok(self.local_error(400, &why.message())),
        };
        let user = match challenge.user_id.as_deref() {
            Some(id) => self.backend.find_user(id).await?.filter(|u| !u.disabled),
            None => None,
        };
        // A challenge sent to an address without an account has a code nobody was told.
        let Some(user) = user else {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        };
        if !self.use_up(&challenge).await? {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        }
        self.after_first_factor(
            csrf,
            user,
            &challenge.pending.return_to,
            SignInMethod::EmailCode,
        )
        .await
    }
}
