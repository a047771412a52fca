//! `/signup` and `/signup/verify`: people make their own accounts, as the plugin's policy lets
//! them (`sign_in.sign_up`: closed, invite, open within `sign_up_domains`), from inside an
//! authorization and back into it. The address is proven (a mailed code or link) before the
//! account exists; an address that already has one gets a mail saying so instead of a code, and
//! the same page, so the form tells nobody who has an account.

use crate::accounts::challenge::{
    Pending, Purpose, CODE_TTL_SECS, MAIL_WINDOW_SECS, SIGN_UPS_PER_SOURCE,
};
use crate::accounts::mail_texts as mail;
use crate::accounts::turnstile::{self, RESPONSE_FIELD};
use crate::config::SignUpPolicy;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, source, with_cookie, AuthServer};
use crate::portal::password::{hash_password, password_problem, MIN_PASSWORD_CHARS};
use crate::portal::proof::{query_param, return_to, typed_email, Unopened};
use crate::ports::{Backend, NewAccount, ProvisionOutcome, User};
use crate::routes::{LOGIN_PATH, RESET_PATH, SIGN_UP_PATH, SIGN_UP_VERIFY_PATH};
use crate::web::account_pages::{
    code_page, confirm_page, sign_up_page, CodeForm, ConfirmForm, SignUpForm,
};
use crate::web::session::{csrf_token, SignInMethod};

const CSRF_PURPOSE: &str = "sign-up";
const MAX_NAME_CHARS: usize = 100;

/// What the sign-up form was filled in with.
struct Filled<'a> {
    email: &'a str,
    name: &'a str,
    invitation: &'a str,
    return_to: &'a str,
}

impl<B: Backend> AuthServer<'_, B> {
    /// Whether this plugin lets anyone (or the invited) make an account here.
    pub(crate) fn sign_up_offered(&self) -> bool {
        self.config.sign_in.sign_up != SignUpPolicy::Closed && self.config.mail.is_some()
    }

    /// `GET /signup`: the form (an invitation's link opens it for the invited address).
    pub async fn sign_up_form(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        if let Some(refused) = self.sign_up_closed() {
            return Ok(with_cookie(refused, csrf_set));
        }
        let return_to_param = query_param(head, "return_to");
        let back = return_to(return_to_param.as_deref());
        let invitation = query_param(head, "invitation").unwrap_or_default();
        let mut email = String::new();
        if !invitation.is_empty() {
            match self.open_by_link(Purpose::Invite, &invitation).await? {
                Some(invite) => email = invite.email,
                None => {
                    return Ok(with_cookie(
                        self.local_error(
                            400,
                            "This invitation has expired or was already used. Ask for a new one.",
                        ),
                        csrf_set,
                    ))
                }
            }
        } else if self.config.sign_in.sign_up == SignUpPolicy::Invite {
            return Ok(with_cookie(self.invitation_needed(), csrf_set));
        }
        let filled = Filled {
            email: &email,
            name: "",
            invitation: &invitation,
            return_to: back,
        };
        Ok(with_cookie(
            self.sign_up_page(200, &csrf, &filled, None),
            csrf_set,
        ))
    }

    /// Whether the form's Turnstile token holds at Siteverify (always, without Turnstile). A
    /// Siteverify that does not answer refuses: the check is the point of having it.
    async fn turnstile_passed(
        &self,
        head: &RequestHead,
        token: Option<&str>,
    ) -> Result<bool, ApiError> {
        let Some(settings) = &self.config.sign_in.turnstile else {
            return Ok(true);
        };
        let token = token.unwrap_or("");
        if !turnstile::plausible(token) {
            return Ok(false);
        }
        let answer = self
            .backend
            .upstream(crate::ports::UpstreamRequest {
                method: "POST",
                url: format!("{}{}", settings.api_base, turnstile::SITEVERIFY_PATH),
                headers: Vec::new(),
                form: Some(turnstile::siteverify_form(
                    settings.secret_key.expose(),
                    token,
                    head.client_ip().unwrap_or(""),
                )),
            })
            .await;
        let host = url::Url::parse(self.issuer())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        Ok(match answer {
            Ok(r) => turnstile::passed(r.status, &r.body, &host),
            Err(_) => false,
        })
    }

    fn sign_up_closed(&self) -> Option<Reply> {
        (!self.sign_up_offered()).then(|| {
            self.local_error(
                404,
                "Accounts are not made here. Ask the administrator for one.",
            )
        })
    }

    fn invitation_needed(&self) -> Reply {
        self.local_error(
            403,
            "Accounts here are by invitation. Ask the administrator for one.",
        )
    }

    fn sign_up_page(
        &self,
        status: u16,
        csrf: &str,
        filled: &Filled<'_>,
        notice: Option<&str>,
    ) -> Reply {
        let sign_in = if filled.return_to.is_empty() {
            LOGIN_PATH.to_string()
        } else {
            filled.return_to.to_string()
        };
        sign_up_page(
            status,
            self.brand(),
            &SignUpForm {
                csrf_token: &csrf_token(self.key(), csrf, CSRF_PURPOSE),
                return_to: filled.return_to,
                email: filled.email,
                name: filled.name,
                invitation: filled.invitation,
                password: self.config.sign_in.password,
                min_password_chars: MIN_PASSWORD_CHARS,
                terms_url: &self.config.plugin.legal_info_url,
                notice,
                sign_in: &sign_in,
                turnstile_site_key: self
                    .config
                    .sign_in
                    .turnstile
                    .as_ref()
                    .map(|t| t.site_key.as_str()),
            },
        )
    }

    /// `POST /signup`: checks the form and the policy, then mails the proof. An invitation's
    /// link already proved the address: its account is made at once.
    pub async fn sign_up(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        if let Some(refused) = self.sign_up_closed() {
            return Ok(refused);
        }
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        if !self.form_is_ours(head, &params, CSRF_PURPOSE) {
            return Ok(self.form_expired());
        }
        let csrf = crate::web::session::read_cookie(head, self.cookies().csrf).unwrap_or_default();
        let typed = params.get("email").unwrap_or("").trim();
        let name = params.get("name").unwrap_or("").trim();
        let invitation = params.get("invitation").unwrap_or("");
        let filled = Filled {
            email: typed,
            name,
            invitation,
            return_to: return_to(params.get("return_to")),
        };
        let form =
            |status: u16, notice: &str| self.sign_up_page(status, csrf, &filled, Some(notice));
        let Some(email) = typed_email(Some(typed)) else {
            return Ok(form(400, "Enter your email address."));
        };
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Ok(form(400, "Enter a shorter name, or none."));
        }
        let password = params.get("password").unwrap_or("");
        if self.config.sign_in.password {
            if let Some(problem) = password_problem(password) {
                return Ok(form(400, &problem));
            }
        }
        let terms = &self.config.plugin.legal_info_url;
        if !terms.is_empty() && params.get("terms") != Some("accepted") {
            return Ok(form(400, "Accept the terms to make an account."));
        }
        // Who may sign up, and with which roles: an invitation's, or the policy's for the domain.
        let invite = if invitation.is_empty() {
            None
        } else {
            match self.open_by_link(Purpose::Invite, invitation).await? {
                Some(invite) if invite.email == email => Some(invite),
                _ => {
                    return Ok(self.local_error(
                        400,
                        "This invitation has expired or was already used. Ask for a new one.",
                    ))
                }
            }
        };
        let roles = match &invite {
            Some(invite) => invite.pending.roles.clone(),
            None if self.config.sign_in.sign_up == SignUpPolicy::Invite => {
                return Ok(self.invitation_needed())
            }
            None => match self.config.sign_in.sign_up_rules.roles_for(&email) {
                Some(roles) => roles,
                None => {
                    let domains = self.config.sign_in.sign_up_rules.allowed_domains.join(", ");
                    return Ok(form(
                        403,
                        &format!("Accounts here are for addresses at {domains}."),
                    ));
                }
            },
        };
        if !self
            .turnstile_passed(head, params.get(RESPONSE_FIELD))
            .await?
        {
            return Ok(form(
                403,
                "Confirm you are a person: complete the check above, then try again.",
            ));
        }
        if let Err(reset_secs) = self.charge_mail(head, &email).await? {
            return Ok(self.too_many_mails(reset_secs));
        }
        // Hashed whether or not the address has an account: the same work, the same time.
        let password_hash = if self.config.sign_in.password {
            Some(hash_password(self.backend, password).await?)
        } else {
            None
        };
        let pending = Pending {
            name: name.to_string(),
            password_hash,
            return_to: filled.return_to.to_string(),
            roles,
            terms: terms.clone(),
        };
        if let Some(invite) = invite {
            if !self.use_up(&invite).await? {
                return Ok(self.local_error(400, "This invitation was already used."));
            }
            return self.finish_sign_up(head, &email, pending).await;
        }
        let existing = self.backend.find_user_by_email(&email).await?;
        let (challenge, secrets) = self
            .issue_challenge(Purpose::SignUp, &email, None, pending)
            .await?;
        let logo = self.mail_logo();
        let brand = self.mail_brand(&logo);
        self.send(match existing {
            // No code: the address has a way in already, and this mail says which.
            Some(_) => mail::already_registered(
                brand,
                &email,
                &self.page_link(LOGIN_PATH),
                self.config
                    .sign_in
                    .reset
                    .then(|| self.page_link(RESET_PATH))
                    .as_deref(),
            ),
            None => mail::sign_up_code(
                brand,
                &email,
                &secrets.code,
                &self.mailed_link(SIGN_UP_VERIFY_PATH, &secrets.link_token),
                CODE_TTL_SECS,
            ),
        });
        Ok(self.sign_up_code_page(200, csrf, &challenge.id, &email, None))
    }

    fn sign_up_code_page(
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
                action: SIGN_UP_VERIFY_PATH,
                button: "Confirm and create account",
                csrf_token: &csrf_token(self.key(), csrf, CSRF_PURPOSE),
                challenge,
                email,
                minutes: CODE_TTL_SECS / 60,
                again: SIGN_UP_PATH,
                notice,
            },
        )
    }

    /// `GET /signup/verify?token=…`: the mailed link shows one button (a mail scanner that
    /// fetches the link uses nothing up).
    pub async fn verify_sign_up_page(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let token = query_param(head, "token").unwrap_or_default();
        let reply = match self.open_by_link(Purpose::SignUp, &token).await? {
            Some(challenge) => confirm_page(
                self.brand(),
                &ConfirmForm {
                    title: "Confirm your email address",
                    message: &format!("Create your account for {}?", challenge.email),
                    action: SIGN_UP_VERIFY_PATH,
                    button: "Create my account",
                    csrf_token: &csrf_token(self.key(), &csrf, CSRF_PURPOSE),
                    token: &token,
                },
            ),
            None => self.local_error(400, &Unopened::Closed.message()),
        };
        Ok(with_cookie(reply, csrf_set))
    }

    /// `POST /signup/verify`: the code (or the link's token) proves the address; the account is
    /// made and signed in, and the browser goes back where it came from.
    pub async fn verify_sign_up(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        if !self.form_is_ours(head, &params, CSRF_PURPOSE) {
            return Ok(self.form_expired());
        }
        let csrf = crate::web::session::read_cookie(head, self.cookies().csrf).unwrap_or_default();
        let challenge = match (params.get("token"), params.get("challenge")) {
            (Some(token), _) => self
                .open_by_link(Purpose::SignUp, token)
                .await?
                .ok_or(Unopened::Closed),
            (None, Some(id)) => {
                self.open_by_code(Purpose::SignUp, id, params.get("code").unwrap_or(""))
                    .await?
            }
            (None, None) => Err(Unopened::Closed),
        };
        let challenge = match challenge {
            Ok(c) => c,
            Err(Unopened::WrongCode(left)) if left > 0 => {
                let id = params.get("challenge").unwrap_or("");
                let email = self.challenge_email(id).await?;
                return Ok(self.sign_up_code_page(
                    400,
                    csrf,
                    id,
                    &email,
                    Some(&Unopened::WrongCode(left).message()),
                ));
            }
            Err(why) => return Ok(self.local_error(400, &why.message())),
        };
        if !self.use_up(&challenge).await? {
            return Ok(self.local_error(400, &Unopened::Closed.message()));
        }
        self.finish_sign_up(head, &challenge.email, challenge.pending)
            .await
    }

    /// Makes the proven account (within the source's limit on accounts made) and signs it in.
    async fn finish_sign_up(
        &self,
        head: &RequestHead,
        email: &str,
        pending: Pending,
    ) -> Result<Reply, ApiError> {
        let made = self
            .backend
            .charge(
                &format!("sign-ups:{}", source(head)),
                SIGN_UPS_PER_SOURCE,
                MAIL_WINDOW_SECS,
                self.now as u64,
            )
            .await?;
        if !made.allowed {
            return Ok(self
                .local_error(
                    429,
                    "Too many accounts were made from your network. Try again later.",
                )
                .with_header("retry-after", made.reset_secs.max(1).to_string()));
        }
        let account = NewAccount {
            id: format!("usr_{}", self.random_b64(12)?),
            email: email.to_string(),
            name: pending.name,
            password_hash: pending.password_hash,
            roles: pending.roles,
            terms: pending.terms,
            verified_at: self.now,
        };
        match self.backend.create_account(&account).await? {
            ProvisionOutcome::Created => {}
            ProvisionOutcome::Taken => {
                return Ok(self.local_error(
                    409,
                    "An account with this address exists already. Sign in instead.",
                ));
            }
            ProvisionOutcome::MissingRole => {
                return Err(ApiError::Internal(format!(
                    "sign-up roles {:?} name a role that does not exist",
                    account.roles
                )));
            }
        }
        let method = if account.password_hash.is_some() {
            SignInMethod::Password
        } else {
            SignInMethod::EmailCode
        };
        let user = User {
            id: account.id,
            email: account.email,
            name: account.name,
            password_hash: account.password_hash,
            disabled: false,
            session_epoch: 0,
        };
        // Nowhere to return to: the account page, where a `user_http` plugin's user makes the
        // key they came for.
        let return_to = if pending.return_to.is_empty() {
            crate::routes::ACCOUNT_PATH
        } else {
            pending.return_to.as_str()
        };
        self.start_session(user, return_to, method)
    }
}
