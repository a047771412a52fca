//! What a signed-in user does to their own account, each on its page under `/account/`: a new
//! password, a new (proven) address, their data as JSON, and deleting the account. Each change
//! asks for the current password again where the account has one (or a sign-in within
//! [`FRESH_SIGN_IN_SECS`] where it has none), so a browser left signed in is not enough.

use serde_json::{json, Value};

use crate::accounts::challenge::{Pending, Purpose, CODE_TTL_SECS};
use crate::accounts::mail_texts as mail;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::params::Params;
use crate::oauth::server::{body_params, with_cookie, AuthServer};
use crate::portal::password::{
    hash_password, password_problem, verify_password, MIN_PASSWORD_CHARS,
};
use crate::portal::proof::{query_param, typed_email, Unopened};
use crate::ports::{Backend, Deletion, User};
use crate::routes::{OwnAccountPage, ACCOUNT_EMAIL_PATH, ACCOUNT_PATH};
use crate::web::account_pages::{
    code_page, confirm_page, email_form_page, CodeForm, ConfirmForm, EmailForm,
};
use crate::web::pages::{escape_html, message_page, page, render};
use crate::web::session::{csrf_token, read_cookie, Session, SignInMethod};

const CHANGE_PASSWORD: &str = include_str!("../../static/portal/change-password.html");
const DELETE_ACCOUNT: &str = include_str!("../../static/portal/delete-account.html");
/// Without a password to ask for, a change needs a sign-in this recent.
pub const FRESH_SIGN_IN_SECS: i64 = 15 * 60;

fn current_password_field(has_password: bool) -> &'static str {
    if has_password {
        "<label for=\"current\">Current password</label>\n<input id=\"current\" name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required>"
    } else {
        ""
    }
}

impl<B: Backend> AuthServer<'_, B> {
    /// `/account/password`, `/account/email`, `/account/export`, `/account/delete`.
    pub async fn own_account(
        &self,
        page: OwnAccountPage,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let post = head.method() == crate::http::Method::Post;
        // A mailed link to a new address works in any browser: it proves the address, and the
        // change was asked for by the signed-in user.
        if page == OwnAccountPage::Email {
            if let Some(reply) = self.email_link(head, body, post).await? {
                return Ok(reply);
            }
        }
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let signed_in = match self.session(head) {
            Some(s) => self.session_user(&s).await?.map(|u| (s, u)),
            None => None,
        };
        let Some((session, user)) = signed_in else {
            return Ok(with_cookie(
                self.sign_in_page(&csrf, ACCOUNT_PATH, Some("Sign in to change your account.")),
                csrf_set,
            ));
        };
        let purpose = format!("own-account:{}", session.nonce);
        let token = csrf_token(self.key(), &csrf, &purpose);
        let reply = if !post {
            match page {
                OwnAccountPage::Password => self.password_page(200, &token, &user, None),
                OwnAccountPage::Email => self.new_email_page(200, &token, "", None),
                OwnAccountPage::Export => self.export(&user).await?,
                OwnAccountPage::Delete => self.delete_page(200, &token, &user, None),
            }
        } else {
            let params = match body_params(head, body) {
                Ok(p) => p,
                Err(e) => return Ok(self.local_error(400, &e.description)),
            };
            if !crate::web::session::verify_csrf(
                self.key(),
                read_cookie(head, self.cookies().csrf),
                &purpose,
                params.get("csrf_token"),
            ) {
                return Ok(self.form_expired());
            }
            match page {
                OwnAccountPage::Password => {
                    self.change_password(&token, &session, user, &params)
                        .await?
                }
                OwnAccountPage::Email => {
                    self.ask_new_email(head, &token, &session, &user, &params)
                        .await?
                }
                // Routed for GET only.
                OwnAccountPage::Export => self.local_error(405, "Download your data with a GET."),
                OwnAccountPage::Delete => {
                    self.delete_account(&token, &session, &user, &params)
                        .await?
                }
            }
        };
        Ok(with_cookie(reply, csrf_set))
    }

    /// The current password (or a recent sign-in, for an account without one): `None` when it
    /// holds, else the notice the form shows again.
    async fn reauthenticated(
        &self,
        session: &Session,
        user: &User,
        params: &Params,
    ) -> Result<Option<&'static str>, ApiError> {
        match &user.password_hash {
            Some(_) => {
                let ok = verify_password(
                    self.backend,
                    params.get("current_password").unwrap_or(""),
                    user.password_hash.as_deref(),
                )
                .await?;
                Ok((!ok).then_some("That is not your current password."))
            }
            None if self.now - session.issued_at <= FRESH_SIGN_IN_SECS => Ok(None),
            None => Ok(Some(
                "Sign in again first: this change needs a recent sign-in.",
            )),
        }
    }

    fn password_page(&self, status: u16, token: &str, user: &User, notice: Option<&str>) -> Reply {
        let mut body = crate::web::pages::notice_html(notice);
        body.push_str(&render(
            CHANGE_PASSWORD,
            &[
                ("csrf_token", token),
                ("email", &user.email),
                (
                    "current",
                    current_password_field(user.password_hash.is_some()),
                ),
                ("min", &MIN_PASSWORD_CHARS.to_string()),
            ],
        ));
        let title = if user.password_hash.is_some() {
            "Change your password"
        } else {
            "Set a password"
        };
        page(status, self.brand(), title, &body)
    }

    async fn change_password(
        &self,
        token: &str,
        session: &Session,
        user: User,
        params: &Params,
    ) -> Result<Reply, ApiError> {
        if let Some(notice) = self.reauthenticated(session, &user, params).await? {
            return Ok(self.password_page(403, token, &user, Some(notice)));
        }
        let new = params.get("new_password").unwrap_or("");
        if let Some(problem) = password_problem(new) {
            return Ok(self.password_page(400, token, &user, Some(&problem)));
        }
        let hash = hash_password(self.backend, new).await?;
        // As a reset: every other session ends, and every reset link with it.
        self.backend
            .reset_password(&user.id, &hash, self.now)
            .await?;
        let logo = self.mail_logo();
        self.send(mail::password_changed(
            self.mail_brand(&logo),
            &user.email,
            &self.page_link(crate::routes::RESET_PATH),
        ));
        let user = User {
            password_hash: Some(hash),
            session_epoch: user.session_epoch + 1,
            ..user
        };
        self.start_session(user, ACCOUNT_PATH, SignInMethod::Password)
    }

    fn new_email_page(&self, status: u16, token: &str, email: &str, notice: Option<&str>) -> Reply {
        email_form_page(
            status,
            self.brand(),
            &EmailForm {
                title: "Change your email address",
                message: "Enter the new address. We mail it a code; the change is made once you enter it.",
                action: ACCOUNT_EMAIL_PATH,
                button: "Mail me a code",
                csrf_token: token,
                return_to: "",
                email,
                back: ACCOUNT_PATH,
                notice,
            },
        )
    }

    async fn ask_new_email(
        &self,
        head: &RequestHead,
        token: &str,
        session: &Session,
        user: &User,
        params: &Params,
    ) -> Result<Reply, ApiError> {
        // The code of a change already asked for.
        if let Some(id) = params.get("challenge") {
            let opened = self
                .open_by_code(Purpose::EmailChange, id, params.get("code").unwrap_or(""))
                .await?;
            return match opened {
                Ok(c) if c.user_id.as_deref() == Some(user.id.as_str()) => {
                    self.apply_new_email(c).await
                }
                Ok(_) => Ok(self.local_error(400, &Unopened::Closed.message())),
                Err(Unopened::WrongCode(left)) if left > 0 => {
                    let email = self.challenge_email(id).await?;
                    Ok(self.email_code_page(
                        400,
                        token,
                        id,
                        &email,
                        Some(&Unopened::WrongCode(left).message()),
                    ))
                }
                Err(why) => Ok(self.local_error(400, &why.message())),
            };
        }
        let Some(email) = typed_email(params.get("email")) else {
            return Ok(self.new_email_page(
                400,
                token,
                params.get("email").unwrap_or(""),
                Some("Enter the new address."),
            ));
        };
        if email == user.email.to_ascii_lowercase() {
            return Ok(self.new_email_page(
                400,
                token,
                &email,
                Some("That is your address already."),
            ));
        }
        if let Err(reset_secs) = self.charge_mail(head, &email).await? {
            return Ok(self.too_many_mails(reset_secs));
        }
        // Whether another account has the address is told only by the mail to it (which
        // offers nothing to do): the page is the same either way.
        let taken = self.backend.find_user_by_email(&email).await?.is_some();
        let (challenge, secrets) = self
            .issue_challenge(Purpose::EmailChange, &email, Some(user), Pending::default())
            .await?;
        let _ = session;
        let logo = self.mail_logo();
        let brand = self.mail_brand(&logo);
        self.send(if taken {
            mail::already_registered(
                brand,
                &email,
                &self.page_link(crate::routes::LOGIN_PATH),
                None,
            )
        } else {
            mail::email_change_code(
                brand,
                &email,
                &secrets.code,
                &self.mailed_link(ACCOUNT_EMAIL_PATH, &secrets.link_token),
                CODE_TTL_SECS,
            )
        });
        Ok(self.email_code_page(200, token, &challenge.id, &email, None))
    }

    fn email_code_page(
        &self,
        status: u16,
        token: &str,
        challenge: &str,
        email: &str,
        notice: Option<&str>,
    ) -> Reply {
        code_page(
            status,
            self.brand(),
            &CodeForm {
                title: "Check your new address",
                action: ACCOUNT_EMAIL_PATH,
                button: "Change my address",
                csrf_token: token,
                challenge,
                email,
                minutes: CODE_TTL_SECS / 60,
                again: ACCOUNT_EMAIL_PATH,
                notice,
            },
        )
    }

    /// `GET /account/email?token=…` (a button) and the button's `POST`, in any browser.
    async fn email_link(
        &self,
        head: &RequestHead,
        body: &[u8],
        post: bool,
    ) -> Result<Option<Reply>, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        if !post {
            let Some(token) = query_param(head, "token") else {
                return Ok(None);
            };
            let reply = match self.open_by_link(Purpose::EmailChange, &token).await? {
                Some(c) => confirm_page(
                    self.brand(),
                    &ConfirmForm {
                        title: "Confirm your new address",
                        message: &format!("Make {} your account's address?", c.email),
                        action: ACCOUNT_EMAIL_PATH,
                        button: "Change my address",
                        csrf_token: &csrf_token(self.key(), &csrf, "email-link"),
                        token: &token,
                    },
                ),
                None => self.local_error(400, &Unopened::Closed.message()),
            };
            return Ok(Some(with_cookie(reply, csrf_set)));
        }
        let Ok(params) = body_params(head, body) else {
            return Ok(None);
        };
        let Some(token) = params.get("token") else {
            return Ok(None);
        };
        if !self.form_is_ours(head, &params, "email-link") {
            return Ok(Some(self.form_expired()));
        }
        Ok(Some(
            match self.open_by_link(Purpose::EmailChange, token).await? {
                Some(c) => self.apply_new_email(c).await?,
                None => self.local_error(400, &Unopened::Closed.message()),
            },
        ))
    }

    /// The proven address replaces the old one, which is told.
    async fn apply_new_email(
        &self,
        challenge: crate::accounts::challenge::EmailChallenge,
    ) -> Result<Reply, ApiError> {
        let Some(user_id) = challenge.user_id.as_deref() else {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        };
        let Some(user) = self
            .backend
            .find_user(user_id)
            .await?
            .filter(|u| !u.disabled && Some(u.session_epoch) == challenge.session_epoch)
        else {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        };
        if !self.use_up(&challenge).await? {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        }
        if !self
            .backend
            .change_email(&user.id, &challenge.email, self.now)
            .await?
        {
            return Ok(self.local_error(409, "Another account uses that address now."));
        }
        let logo = self.mail_logo();
        self.send(mail::email_changed(
            self.mail_brand(&logo),
            &user.email,
            &self.page_link(crate::routes::RESET_PATH),
        ));
        Ok(message_page(
            200,
            self.brand(),
            "Address changed",
            &format!("Your account's address is now {}.", challenge.email),
        ))
    }

    /// `GET /account/export`: everything kept about the user here, as JSON to keep.
    async fn export(&self, user: &User) -> Result<Reply, ApiError> {
        let identities = self.backend.identities_of(&user.id).await?;
        let apps = self.backend.apps_of(&user.id).await?;
        let keys = self.backend.api_keys_of(&user.id, None).await?;
        let passkeys = self.backend.passkeys_of(&user.id).await?;
        let second_factor = self.backend.second_factor(&user.id).await?;
        let (subscription, _) = self.billing_of(&user.id).await;
        let data = json!({
            "exported_at": self.now,
            "issuer": self.issuer(),
            "profile": {"id": user.id, "email": user.email, "name": user.name, "has_password": user.password_hash.is_some()},
            "identities": identities.iter().map(|i| json!({
                "provider": i.provider, "subject": i.subject, "email": i.email,
                "email_verified": i.email_verified, "linked_at": i.created_at, "last_used_at": i.last_used_at,
            })).collect::<Vec<Value>>(),
            "apps": apps.iter().map(|a| json!({
                "client_id": a.client_id, "client_name": a.client_name, "resource": a.resource,
                "scopes": a.scopes, "since": a.since,
            })).collect::<Vec<Value>>(),
            "api_keys": keys.iter().map(|k| json!({
                "id": k.id, "name": k.name, "prefix": k.prefix, "plugin": k.plugin, "scopes": k.scopes,
                "created_at": k.created_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
            })).collect::<Vec<Value>>(),
            "passkeys": passkeys.iter().map(|p| json!({
                "name": p.name, "credential_id": p.credential.id, "created_at": p.created_at, "last_used_at": p.last_used_at,
            })).collect::<Vec<Value>>(),
            "authenticator_app": second_factor.map(|f| json!({
                "set_up_at": f.created_at, "recovery_codes_left": f.recovery_hashes.len(),
            })),
            "plan": subscription?.map(|s| json!({"plan": s.plan, "status": s.status, "current_period_end": s.current_period_end})),
        });
        let body = serde_json::to_vec_pretty(&data)
            .map_err(|e| ApiError::Internal(format!("export: {e}")))?;
        let mut reply = Reply::new(200);
        reply.body = body;
        Ok(reply
            .with_header("content-type", "application/json")
            .with_header(
                "content-disposition",
                "attachment; filename=\"account.json\"",
            )
            .with_header("cache-control", "no-store")
            .with_header("x-content-type-options", "nosniff"))
    }

    fn delete_page(&self, status: u16, token: &str, user: &User, notice: Option<&str>) -> Reply {
        let mut body = crate::web::pages::notice_html(notice);
        body.push_str(&render(
            DELETE_ACCOUNT,
            &[
                ("csrf_token", token),
                ("email", &user.email),
                (
                    "current",
                    current_password_field(user.password_hash.is_some()),
                ),
            ],
        ));
        page(status, self.brand(), "Delete your account", &body)
    }

    async fn delete_account(
        &self,
        token: &str,
        session: &Session,
        user: &User,
        params: &Params,
    ) -> Result<Reply, ApiError> {
        if !params
            .get("confirm")
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(&user.email)
        {
            return Ok(self.delete_page(
                400,
                token,
                user,
                Some("Type your email address to confirm."),
            ));
        }
        if let Some(notice) = self.reauthenticated(session, user, params).await? {
            return Ok(self.delete_page(403, token, user, Some(notice)));
        }
        // Every app's access ends first (the grants' own stores), then the account goes.
        for grant in self.backend.grants_of(&user.id).await? {
            if grant.revoked_at.is_none() {
                self.grants().revoke(&grant.grant_id, self.now).await?;
            }
        }
        match self
            .backend
            .delete_account(&user.id, self.issuer(), self.now)
            .await?
        {
            Deletion::Deleted | Deletion::Gone => Ok(message_page(
                200,
                self.brand(),
                "Account deleted",
                "Your account and everything kept about you here are deleted.",
            )
            .with_header("set-cookie", self.clear_session_cookie())),
            Deletion::PaidPlan => Ok(self.delete_page(
                409,
                token,
                user,
                Some(&format!(
                    "Your plan is still paid for: cancel it first ({}), then delete the account.",
                    escape_html("Your account → Manage billing")
                )),
            )),
        }
    }
}
