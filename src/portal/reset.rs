//! `/login/reset`: a forgotten password. The address gets a link (single use, 30 minutes); the
//! link's page takes a new password, which ends every session (and, where the plugin says so,
//! every grant) and signs the user in. Asking for a link answers the same, after the same work,
//! whether or not the address has an account: one without gets a mail saying so.

use crate::accounts::challenge::{Purpose, RESET_TTL_SECS};
use crate::accounts::mail_texts as mail;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, with_cookie, AuthServer};
use crate::portal::password::{hash_password, password_problem, MIN_PASSWORD_CHARS};
use crate::portal::proof::{query_param, return_to, typed_email, Unopened};
use crate::ports::Backend;
use crate::routes::{LOGIN_PATH, RESET_PATH};
use crate::web::account_pages::{email_form_page, new_password_page, EmailForm};
use crate::web::pages::message_page;
use crate::web::session::{csrf_token, read_cookie, SignInMethod};

const CSRF_PURPOSE: &str = "reset";

impl<B: Backend> AuthServer<'_, B> {
    fn reset_off(&self) -> Option<Reply> {
        (!self.config.sign_in.reset)
            .then(|| self.local_error(404, "Passwords are not reset here. Ask the administrator."))
    }

    /// `GET /login/reset`: the address to mail a link to; with the link's `token`, the new
    /// password's form.
    pub async fn reset_form(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        if let Some(off) = self.reset_off() {
            return Ok(with_cookie(off, csrf_set));
        }
        let reply = match query_param(head, "token") {
            Some(token) => match self.open_reset(&token).await? {
                Some((_, user)) => new_password_page(
                    200,
                    self.brand(),
                    &csrf_token(self.key(), &csrf, CSRF_PURPOSE),
                    &token,
                    &user.email,
                    MIN_PASSWORD_CHARS,
                    None,
                ),
                None => self.local_error(400, &Unopened::Closed.message()),
            },
            None => {
                let back = query_param(head, "return_to");
                self.reset_request_page(200, &csrf, return_to(back.as_deref()), "", None)
            }
        };
        Ok(with_cookie(reply, csrf_set))
    }

    fn reset_request_page(
        &self,
        status: u16,
        csrf: &str,
        back: &str,
        email: &str,
        notice: Option<&str>,
    ) -> Reply {
        email_form_page(
            status,
            self.brand(),
            &EmailForm {
                title: "Reset your password",
                message:
                    "Enter the address of your account. We mail it a link to choose a new password.",
                action: RESET_PATH,
                button: "Mail me a link",
                csrf_token: &csrf_token(self.key(), csrf, CSRF_PURPOSE),
                return_to: back,
                email,
                back: if back.is_empty() { LOGIN_PATH } else { back },
                notice,
            },
        )
    }

    /// The reset a link's token opens, and its account: only while the account's session epoch
    /// is still the one the link was sent at (a password changed since voids it).
    async fn open_reset(
        &self,
        token: &str,
    ) -> Result<
        Option<(
            crate::accounts::challenge::EmailChallenge,
            crate::ports::User,
        )>,
        ApiError,
    > {
        let Some(challenge) = self.open_by_link(Purpose::Reset, token).await? else {
            return Ok(None);
        };
        let Some(user_id) = challenge.user_id.as_deref() else {
            return Ok(None);
        };
        let user = self.backend.find_user(user_id).await?;
        Ok(user
            .filter(|u| !u.disabled && Some(u.session_epoch) == challenge.session_epoch)
            .map(|u| (challenge, u)))
    }

    /// `POST /login/reset`: mails a link (no `token`), or sets the new password (with one).
    pub async fn reset_password(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        if let Some(off) = self.reset_off() {
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
        if let Some(token) = params.get("token") {
            return self
                .set_new_password(csrf, token, params.get("password").unwrap_or(""))
                .await;
        }
        let back = return_to(params.get("return_to"));
        let Some(email) = typed_email(params.get("email")) else {
            let typed = params.get("email").unwrap_or("");
            return Ok(self.reset_request_page(
                400,
                csrf,
                back,
                typed,
                Some("Enter your email address."),
            ));
        };
        if let Err(reset_secs) = self.charge_mail(head, &email).await? {
            return Ok(self.too_many_mails(reset_secs));
        }
        // Stored either way (the same work): a challenge without an account opens nothing.
        let (_, secrets, user) = self
            .challenge_for_address(Purpose::Reset, &email, back)
            .await?;
        let logo = self.mail_logo();
        let brand = self.mail_brand(&logo);
        self.send(match &user {
            Some(_) => mail::reset_link(
                brand,
                &email,
                &self.mailed_link(RESET_PATH, &secrets.link_token),
                RESET_TTL_SECS,
            ),
            None => self.no_account_mail(brand, &email),
        });
        Ok(message_page(
            200,
            self.brand(),
            "Check your email",
            &format!(
                "If an account uses {email}, we mailed it a link to choose a new password. The link works for {} minutes.",
                RESET_TTL_SECS / 60
            ),
        ))
    }

    async fn set_new_password(
        &self,
        csrf: &str,
        token: &str,
        password: &str,
    ) -> Result<Reply, ApiError> {
        let Some((challenge, user)) = self.open_reset(token).await? else {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        };
        if let Some(problem) = password_problem(password) {
            let token_csrf = csrf_token(self.key(), csrf, CSRF_PURPOSE);
            return Ok(new_password_page(
                400,
                self.brand(),
                &token_csrf,
                token,
                &user.email,
                MIN_PASSWORD_CHARS,
                Some(&problem),
            ));
        }
        let hash = hash_password(self.backend, password).await?;
        if !self.use_up(&challenge).await? {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        }
        self.backend
            .reset_password(&user.id, &hash, self.now)
            .await?;
        if self.config.sign_in.reset_ends_grants {
            for grant in self.backend.grants_of(&user.id).await? {
                if grant.revoked_at.is_none() {
                    self.grants().revoke(&grant.grant_id, self.now).await?;
                }
            }
        }
        self.send(mail::password_changed(
            self.mail_brand(&self.mail_logo()),
            &user.email,
            &self.page_link(RESET_PATH),
        ));
        let user = crate::ports::User {
            password_hash: Some(hash),
            session_epoch: user.session_epoch + 1,
            ..user
        };
        // A reset proves the address, not the second factor: a user with one is asked for it.
        self.after_first_factor(
            csrf,
            user,
            &challenge.pending.return_to,
            SignInMethod::Password,
        )
        .await
    }
}
