//! `POST /login/link`: linking an upstream identity to the existing account its verified email
//! matched, once the user proves the account with its password. Failures are throttled as
//! sign-ins.

use crate::error::ApiError;
use crate::federation::accounts::Refusal;
use crate::federation::flow::{link_cookie, PendingLink};
use crate::federation::tokens::{keep_sealed, Owner};
use crate::federation::{IdentityProvider, UpstreamError};
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, AuthServer};
use crate::portal::password::{verify_password, MAX_PASSWORD_BYTES};
use crate::ports::{Backend, LinkedIdentity, User};
use crate::routes::LOGIN_PATH;
use crate::web::pages::{link_page, LinkForm};
use crate::web::session::{csrf_token, read_cookie, set_cookie, verify_csrf, SignInMethod};

impl<B: Backend> AuthServer<'_, B> {
    pub(super) fn link_form(
        &self,
        status: u16,
        provider: &IdentityProvider,
        pending: &PendingLink,
        csrf: &str,
        notice: Option<&str>,
    ) -> Reply {
        let back = if pending.return_to.is_empty() {
            LOGIN_PATH
        } else {
            pending.return_to.as_str()
        };
        link_page(
            status,
            self.brand(),
            &LinkForm {
                email: &pending.email,
                provider: &provider.name,
                csrf_token: &csrf_token(self.key(), csrf, "link"),
                back,
                notice,
            },
        )
    }

    /// `POST /login/link`: the password of the account a verified email matched; when it is
    /// right, the identity is linked and the user signed in. Failures are throttled as sign-ins.
    pub async fn link_account(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let csrf = read_cookie(head, self.cookies().csrf);
        if !verify_csrf(self.key(), csrf, "link", params.get("csrf_token")) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        let secure = self.secure_cookies();
        let pending = read_cookie(head, link_cookie(secure))
            .and_then(|c| PendingLink::open(self.key(), c, self.now));
        let Some((pending, provider)) = pending.and_then(|p| {
            let provider = self.config.sign_in.provider(&p.provider)?;
            Some((p, provider))
        }) else {
            return Ok(self.upstream_page(
                400,
                "Sign-in did not complete",
                &UpstreamError::FlowExpired.message(""),
                "",
            ));
        };
        if !self.config.sign_in.password {
            let refusal = Refusal::NoWayToProve;
            return Ok(self
                .refusal_page(refusal, provider, &pending.return_to)
                .with_note(format!("upstream {}: {}", provider.id, refusal.as_str())));
        }
        let csrf = csrf.unwrap_or_default();
        let password = params.get("password").unwrap_or("");
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Ok(self.link_form(400, provider, &pending, csrf, Some("Enter the password.")));
        }
        let charges = match self.charge_sign_in(head, &pending.email).await? {
            Ok(charges) => charges,
            Err(reset_secs) => {
                let wait = reset_secs.div_ceil(60).max(1);
                return Ok(self
                    .link_form(429, provider, &pending, csrf, Some(&format!("Too many failed attempts from your network. Try again in {wait} minutes.")))
                    .with_header("retry-after", reset_secs.max(1).to_string()));
            }
        };
        let user = self.backend.find_user(&pending.user_id).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = verify_password(self.backend, password, stored).await?;
        let Some(user) = proven_user(user, ok, &pending.email) else {
            return Ok(self.link_form(401, provider, &pending, csrf, Some("Wrong password.")));
        };
        if let Some(refused) = self.link_proven(provider, &pending, &user).await? {
            return Ok(refused);
        }
        self.refund_sign_in(&charges).await?;
        Ok(self
            .start_session(
                user,
                &pending.return_to,
                SignInMethod::Provider(provider.id.clone()),
            )?
            .with_header("set-cookie", set_cookie(link_cookie(secure), "", 0, secure))
            .with_note(format!(
                "upstream {}: linked by email with the password",
                provider.id
            )))
    }

    /// Links the pending identity to the proven `user` and keeps its sealed tokens; the page
    /// of a link the store refused (the identity became another's, or the user has one at the
    /// provider already).
    async fn link_proven(
        &self,
        provider: &IdentityProvider,
        pending: &PendingLink,
        user: &User,
    ) -> Result<Option<Reply>, ApiError> {
        let record = LinkedIdentity {
            provider: provider.id.clone(),
            subject: pending.subject.clone(),
            email: pending.email.clone(),
            email_verified: true,
            created_at: self.now,
            last_used_at: self.now,
        };
        if !self.backend.link_identity(&user.id, &record).await? {
            let (linked, _) = self
                .backend
                .accounts_for(&provider.id, &pending.subject, "")
                .await?;
            if let Some(why) = store_refusal(linked.as_ref(), &user.id, &provider.name) {
                return Ok(Some(
                    self.upstream_page(409, "Sign-in did not complete", &why, &pending.return_to)
                        .with_note(format!(
                            "upstream {}: link refused at the store",
                            provider.id
                        )),
                ));
            }
        }
        if let Some(sealed) = pending.tokens.clone() {
            let owner = Owner {
                user_id: &user.id,
                provider: &provider.id,
                subject: &pending.subject,
            };
            keep_sealed(self.backend, owner, sealed, self.now).await?;
        }
        Ok(None)
    }
}

/// The account the link form proves: the one the email matched, when the password is right,
/// it is not disabled, and its email is still the one the provider verified.
pub fn proven_user(user: Option<User>, password_ok: bool, email: &str) -> Option<User> {
    user.filter(|u| password_ok && !u.disabled && u.email.eq_ignore_ascii_case(email))
}

/// Why the store's refusal to link stands, as the page says it: the identity is another
/// user's, or this user has another at the provider; `None` when it is this user's already
/// (a second tab finished first).
pub fn store_refusal(linked: Option<&User>, user_id: &str, provider_name: &str) -> Option<String> {
    match linked {
        Some(same) if same.id == user_id => None,
        Some(_) => Some(Refusal::LinkedToAnother.page(provider_name).message),
        None => Some(format!(
            "Another {provider_name} account is already linked to this account. Sign in with it, or unlink it from your account page first."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str) -> User {
        User {
            id: id.into(),
            email: email.into(),
            name: id.into(),
            password_hash: Some("pbkdf2".into()),
            disabled: false,
            session_epoch: 0,
        }
    }

    #[test]
    fn the_right_password_proves_the_account_the_email_matched() {
        let ada = user("usr_a", "Ada@Example.com");
        assert_eq!(
            proven_user(Some(ada.clone()), true, "ada@example.com"),
            Some(ada)
        );
    }

    #[test]
    fn a_wrong_password_a_disabled_account_or_a_changed_email_proves_nothing() {
        let ada = user("usr_a", "ada@example.com");
        assert_eq!(
            proven_user(Some(ada.clone()), false, "ada@example.com"),
            None
        );
        let disabled = User {
            disabled: true,
            ..ada.clone()
        };
        assert_eq!(proven_user(Some(disabled), true, "ada@example.com"), None);
        assert_eq!(proven_user(Some(ada), true, "grace@example.com"), None);
        assert_eq!(proven_user(None, true, "ada@example.com"), None);
    }

    #[test]
    fn a_link_the_store_refused_stands_unless_the_identity_is_this_users() {
        let ada = user("usr_a", "ada@example.com");
        let grace = user("usr_g", "grace@example.com");
        assert_eq!(store_refusal(Some(&ada), "usr_a", "Google"), None);
        assert_eq!(
            store_refusal(Some(&grace), "usr_a", "Google"),
            Some(Refusal::LinkedToAnother.page("Google").message)
        );
        assert_eq!(
            store_refusal(None, "usr_a", "Google").as_deref(),
            Some("Another Google account is already linked to this account. Sign in with it, or unlink it from your account page first.")
        );
    }
}
