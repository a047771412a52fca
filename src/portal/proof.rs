//! What the pages that mail a proof share: the mail throttles, a challenge issued and its mail
//! posted, a challenge opened by its code or its link, and the query and form values they read.

use crate::accounts::challenge::{
    code_matches, link_digest, EmailChallenge, Pending, Purpose, MAILS_PER_RECIPIENT,
    MAILS_PER_SOURCE, MAIL_WINDOW_SECS, MAX_CODE_ATTEMPTS,
};
use crate::accounts::issue::{new_challenge, Secrets};
use crate::accounts::mail::Mail;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::params::Params;
use crate::oauth::server::{source, AuthServer};
use crate::ports::Backend;

/// Why a challenge did not open, as its page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unopened {
    /// Expired, used, out of guesses, unknown, or another purpose's or plugin's.
    Closed,
    /// A wrong code, with the guesses left.
    WrongCode(i64),
}

impl Unopened {
    pub(crate) fn message(self) -> String {
        match self {
            Unopened::Closed => {
                "This code or link has expired or was already used. Start again for a new one."
                    .to_string()
            }
            Unopened::WrongCode(0) => {
                "That code is wrong, and that was its last try. Start again for a new one."
                    .to_string()
            }
            Unopened::WrongCode(1) => "That code is wrong. One more try.".to_string(),
            Unopened::WrongCode(left) => format!("That code is wrong. {left} more tries."),
        }
    }
}

/// A value of the request's query string.
pub(crate) fn query_param(head: &RequestHead, name: &str) -> Option<String> {
    let params = Params::from_urlencoded(head.query.as_deref().unwrap_or("")).ok()?;
    params.get(name).map(str::to_string)
}

/// Where to go after, if it is somewhere the portal sends people back to.
pub(crate) fn return_to(value: Option<&str>) -> &str {
    value
        .filter(|r| crate::federation::flow::acceptable_return_to(r))
        .unwrap_or("")
}

/// An address typed into a form, trimmed and lower-cased; `None` unless it looks like one.
pub(crate) fn typed_email(value: Option<&str>) -> Option<String> {
    let email = value.unwrap_or("").trim().to_ascii_lowercase();
    (email.len() <= 254 && crate::primitives::syntax::looks_like_email(&email)).then_some(email)
}

impl<B: Backend> AuthServer<'_, B> {
    /// Counts a mail to `email` caused from this source: `Err(reset_secs)` when either count is
    /// full (and then nothing is sent). The same for every address, with an account or not.
    pub(crate) async fn charge_mail(
        &self,
        head: &RequestHead,
        email: &str,
    ) -> Result<Result<(), u64>, ApiError> {
        let now = self.now as u64;
        let by_source = self
            .backend
            .charge(
                &format!("mail-src:{}", source(head)),
                MAILS_PER_SOURCE,
                MAIL_WINDOW_SECS,
                now,
            )
            .await?;
        if !by_source.allowed {
            return Ok(Err(by_source.reset_secs));
        }
        let by_recipient = self
            .backend
            .charge(
                &format!("mail-to:{}", crate::primitives::hash::sha256_hex(email)),
                MAILS_PER_RECIPIENT,
                MAIL_WINDOW_SECS,
                now,
            )
            .await?;
        if !by_recipient.allowed {
            return Ok(Err(by_recipient.reset_secs));
        }
        Ok(Ok(()))
    }

    /// The page a full mail count gets.
    pub(crate) fn too_many_mails(&self, reset_secs: u64) -> Reply {
        let wait = reset_secs.div_ceil(60).max(1);
        self.local_error(
            429,
            &format!("Too many mails were asked for. Try again in {wait} minutes."),
        )
        .with_header("retry-after", reset_secs.max(1).to_string())
    }

    /// A new challenge for `email`, stored, with the secrets its mail carries.
    pub(crate) async fn issue_challenge(
        &self,
        purpose: Purpose,
        email: &str,
        user: Option<&crate::ports::User>,
        pending: Pending,
    ) -> Result<(EmailChallenge, Secrets), ApiError> {
        let (mut challenge, secrets) = new_challenge(
            self.backend,
            self.key(),
            purpose,
            email,
            self.issuer(),
            self.now,
        )?;
        challenge.user_id = user.map(|u| u.id.clone());
        challenge.session_epoch = user.map(|u| u.session_epoch);
        challenge.pending = pending;
        self.backend.put_challenge(&challenge).await?;
        Ok((challenge, secrets))
    }

    /// A challenge for an address that may or may not have an account (a reset, a sign-in by
    /// code): its account (an enabled one) looked up and the challenge stored either way, so
    /// the work and the answer are the same; the caller mails the secrets only with an account.
    pub(crate) async fn challenge_for_address(
        &self,
        purpose: Purpose,
        email: &str,
        return_to: &str,
    ) -> Result<(EmailChallenge, Secrets, Option<crate::ports::User>), ApiError> {
        let user = self
            .backend
            .find_user_by_email(email)
            .await?
            .filter(|u| !u.disabled);
        let pending = Pending {
            return_to: return_to.to_string(),
            ..Pending::default()
        };
        let (challenge, secrets) = self
            .issue_challenge(purpose, email, user.as_ref(), pending)
            .await?;
        Ok((challenge, secrets, user))
    }

    /// The mail an address without an account gets instead of a code or link: with a sign-up
    /// link where strangers may sign up.
    pub(crate) fn no_account_mail(&self, brand: crate::web::pages::Brand<'_>, email: &str) -> Mail {
        crate::accounts::mail_texts::no_account(
            brand,
            email,
            self.sign_up_offered()
                .then(|| self.page_link(crate::routes::SIGN_UP_PATH))
                .as_deref(),
        )
    }

    /// The address of a challenge, for the code page shown again after a wrong guess.
    pub(crate) async fn challenge_email(&self, challenge_id: &str) -> Result<String, ApiError> {
        Ok(self
            .backend
            .challenge(challenge_id)
            .await?
            .map(|c| c.email)
            .unwrap_or_default())
    }

    /// The absolute link a mail carries to `path` with a challenge's token.
    pub(crate) fn mailed_link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.issuer())
    }

    /// An absolute link to one of the portal's pages.
    pub(crate) fn page_link(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The plugin's logo as a mail shows it: an absolute URL (a mail has no base to resolve a
    /// path against).
    pub(crate) fn mail_logo(&self) -> String {
        let logo = &self.config.plugin.logo_url;
        if logo.starts_with('/') {
            format!("{}{logo}", self.issuer())
        } else {
            logo.clone()
        }
    }

    /// The plugin as its mails name it, with `logo` from [`Self::mail_logo`].
    pub(crate) fn mail_brand<'l>(&self, logo: &'l str) -> crate::web::pages::Brand<'l>
    where
        Self: 'l,
    {
        crate::web::pages::Brand {
            plugin_name: &self.config.plugin.name_for_human,
            logo_url: logo,
        }
    }

    /// Posts a mail, sent after the response.
    pub(crate) fn send(&self, mail: Mail) {
        self.backend.post(mail);
    }

    /// The challenge a typed code opens: a guess counted first (atomically, so parallel guesses
    /// cannot pass the bound), then the code compared.
    pub(crate) async fn open_by_code(
        &self,
        purpose: Purpose,
        challenge_id: &str,
        code: &str,
    ) -> Result<Result<EmailChallenge, Unopened>, ApiError> {
        if !challenge_id.starts_with("ech_") || challenge_id.len() > 64 {
            return Ok(Err(Unopened::Closed));
        }
        let Some(challenge) = self
            .backend
            .count_attempt(challenge_id, MAX_CODE_ATTEMPTS, self.now)
            .await?
        else {
            return Ok(Err(Unopened::Closed));
        };
        if challenge.purpose != purpose || !challenge.is_open(self.issuer(), self.now) {
            return Ok(Err(Unopened::Closed));
        }
        if !code_matches(self.key(), &challenge, code) {
            return Ok(Err(Unopened::WrongCode(
                MAX_CODE_ATTEMPTS - challenge.attempts,
            )));
        }
        Ok(Ok(challenge))
    }

    /// The open challenge a mailed link's token names.
    pub(crate) async fn open_by_link(
        &self,
        purpose: Purpose,
        token: &str,
    ) -> Result<Option<EmailChallenge>, ApiError> {
        let Some(digest) = link_digest(token) else {
            return Ok(None);
        };
        Ok(self
            .backend
            .challenge_by_link(&digest)
            .await?
            .filter(|c| c.purpose == purpose && c.is_open(self.issuer(), self.now)))
    }

    /// Uses a challenge up: `false` when another request used it first.
    pub(crate) async fn use_up(&self, challenge: &EmailChallenge) -> Result<bool, ApiError> {
        Ok(self.backend.use_challenge(&challenge.id, self.now).await?)
    }

    /// Whether the form's CSRF token is this browser's for `purpose`.
    pub(crate) fn form_is_ours(&self, head: &RequestHead, params: &Params, purpose: &str) -> bool {
        crate::web::session::verify_csrf(
            self.key(),
            crate::web::session::read_cookie(head, self.cookies().csrf),
            purpose,
            params.get("csrf_token"),
        )
    }

    /// The page a form from elsewhere (or an expired one) gets.
    pub(crate) fn form_expired(&self) -> Reply {
        self.local_error(
            403,
            "This form expired or did not come from this site. Go back and try again.",
        )
    }
}
