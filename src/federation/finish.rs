//! The account half of an upstream sign-in, after the callback verified the identity: whose
//! account it is ([`crate::federation::accounts::resolve`]), then the sign-in, the link to the
//! signed-in account, the request to prove an existing account, or a new account provisioned.

use crate::error::ApiError;
use crate::federation::accounts::{resolve, Resolution};
use crate::federation::flow::{link_cookie, Flow, PendingLink};
use crate::federation::oidc::TokenResponse;
use crate::federation::tokens::{keep, seal_tokens, Owner};
use crate::federation::{IdentityProvider, UpstreamIdentity, FLOW_TTL_SECS};
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{redirect, with_cookie, AuthServer};
use crate::ports::{Backend, LinkedIdentity, NewFederatedUser, ProvisionOutcome, User};
use crate::routes::ACCOUNT_PATH;
use crate::web::session::{set_cookie, SignInMethod};

impl<B: Backend> AuthServer<'_, B> {
    /// Keeps the sign-in's tokens when the provider is set to (`keep_tokens`).
    pub(super) async fn keep_upstream_tokens(
        &self,
        provider: &IdentityProvider,
        user_id: &str,
        subject: &str,
        tokens: &TokenResponse,
    ) -> Result<(), ApiError> {
        match (&self.config.upstream_token_key, provider.keep_tokens) {
            (Some(key), true) => Ok(keep(
                self.backend,
                key,
                Owner {
                    user_id,
                    provider: &provider.id,
                    subject,
                },
                tokens,
                None,
                self.now,
            )
            .await?),
            _ => Ok(()),
        }
    }

    /// The account half: whose account this identity is, and what happens next.
    pub(super) async fn finish_upstream(
        &self,
        head: &RequestHead,
        provider: &IdentityProvider,
        flow: &Flow,
        identity: UpstreamIdentity,
        tokens: &TokenResponse,
    ) -> Result<Reply, ApiError> {
        // Only a link reads the session: a sign-in is nobody's yet.
        let me = match &flow.link_to {
            Some(_) => match self.session(head) {
                Some(session) => self.session_user(&session).await?,
                None => None,
            },
            None => None,
        };
        let Ok(linking) = linking_user(flow.link_to.as_deref(), me) else {
            return Ok(self
                .upstream_page(401, "Sign-in did not complete", "Your session ended while linking. Sign in again, then link from your account page.", ACCOUNT_PATH)
                .with_note(format!("upstream {}: link: session ended", provider.id)));
        };
        let (linked, by_email) = self
            .backend
            .accounts_for(&provider.id, &identity.subject, &identity.email)
            .await?;
        let record = LinkedIdentity {
            provider: provider.id.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            email_verified: identity.email_verified,
            created_at: self.now,
            last_used_at: self.now,
        };
        let arrival = Arrival {
            provider,
            flow,
            tokens,
        };
        match resolve(
            provider,
            &identity,
            linked,
            by_email,
            linking,
            self.config.sign_in.password,
        ) {
            Resolution::SignIn(user) => {
                self.backend.touch_identity(&record).await?;
                self.keep_upstream_tokens(provider, &user.id, &record.subject, tokens)
                    .await?;
                self.provider_session(&arrival, user, "signed in")
            }
            Resolution::Link { user, already } => {
                self.link_signed_in(&arrival, user, already, &record).await
            }
            Resolution::ProveAccount(user) => {
                self.ask_to_prove(head, &arrival, identity, user).await
            }
            Resolution::Provision { roles } => {
                self.provision_arrival(&arrival, &identity, roles, record)
                    .await
            }
            // One page for every reason (which one it was is for the log only).
            Resolution::Refused(refusal) => Ok(self
                .refusal_page(refusal, provider, &flow.return_to)
                .with_note(arrival.note(refusal.as_str()))),
        }
    }

    /// The session of a user who signed in at `arrival`'s provider, and the way back.
    fn provider_session(
        &self,
        arrival: &Arrival<'_>,
        user: User,
        note: &str,
    ) -> Result<Reply, ApiError> {
        Ok(self
            .start_session(
                user,
                &arrival.flow.return_to,
                SignInMethod::Provider(arrival.provider.id.clone()),
            )?
            .with_note(arrival.note(note)))
    }

    /// A signed-in user linking this identity from their account page.
    async fn link_signed_in(
        &self,
        arrival: &Arrival<'_>,
        user: User,
        already: bool,
        record: &LinkedIdentity,
    ) -> Result<Reply, ApiError> {
        let provider = arrival.provider;
        // One identity per provider and user: a second account at the same provider is
        // refused, not stacked.
        if !already && !self.backend.link_identity(&user.id, record).await? {
            return Ok(self
                .upstream_page(
                    409,
                    "Sign-in did not complete",
                    &format!(
                        "Another {} account is already linked to yours. Unlink it from your account page first.",
                        provider.name
                    ),
                    ACCOUNT_PATH,
                )
                .with_note(arrival.note("a second identity at the provider")));
        }
        self.keep_upstream_tokens(provider, &user.id, &record.subject, arrival.tokens)
            .await?;
        Ok(redirect(303, back_after_link(&arrival.flow.return_to))
            .with_note(arrival.note("linked to the signed-in user")))
    }

    /// The verified email is an existing user's: the link form, with the identity (and the
    /// tokens the provider keeps, sealed) in a short-lived cookie until the account is proven.
    async fn ask_to_prove(
        &self,
        head: &RequestHead,
        arrival: &Arrival<'_>,
        identity: UpstreamIdentity,
        user: User,
    ) -> Result<Reply, ApiError> {
        let provider = arrival.provider;
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let sealed = match (&self.config.upstream_token_key, provider.keep_tokens) {
            (Some(key), true) => Some(
                seal_tokens(
                    self.backend,
                    key,
                    &provider.id,
                    &identity.subject,
                    arrival.tokens,
                    None,
                    self.now,
                )
                .await?,
            ),
            _ => None,
        };
        let pending = PendingLink {
            provider: provider.id.clone(),
            subject: identity.subject,
            email: identity.email,
            user_id: user.id,
            return_to: arrival.flow.return_to.clone(),
            expires_at: self.now + FLOW_TTL_SECS,
            tokens: sealed,
        };
        let secure = self.secure_cookies();
        let page = self.link_form(200, provider, &pending, &csrf, None);
        Ok(with_cookie(page, csrf_set)
            .with_header(
                "set-cookie",
                set_cookie(
                    link_cookie(secure),
                    &pending.seal(self.key()),
                    FLOW_TTL_SECS,
                    secure,
                ),
            )
            .with_note(arrival.note("existing account: asked for its password")))
    }

    /// Nobody has this identity or its email: a new user with `roles`, signed in.
    async fn provision_arrival(
        &self,
        arrival: &Arrival<'_>,
        identity: &UpstreamIdentity,
        roles: Vec<String>,
        record: LinkedIdentity,
    ) -> Result<Reply, ApiError> {
        let subject = record.subject.clone();
        let (user, outcome) = self
            .provision(&identity.email, &identity.name, roles, record)
            .await?;
        match provision_failure(&outcome) {
            None => {
                self.keep_upstream_tokens(arrival.provider, &user.id, &subject, arrival.tokens)
                    .await?;
                self.provider_session(arrival, user, "provisioned")
            }
            Some(failure) => Ok(self
                .upstream_page(
                    failure.status,
                    "Sign-in did not complete",
                    failure.message,
                    &arrival.flow.return_to,
                )
                .with_note(arrival.note(failure.note))),
        }
    }

    /// Creates a user with `roles`, linked to the identity `record` (all or nothing), for a
    /// sign-in at an upstream provider or an enterprise's identity assertion.
    pub(crate) async fn provision(
        &self,
        email: &str,
        name: &str,
        roles: Vec<String>,
        record: LinkedIdentity,
    ) -> Result<(User, ProvisionOutcome), ApiError> {
        let user = User {
            id: format!("usr_{}", self.random_b64(12)?),
            email: email.to_string(),
            name: name.to_string(),
            password_hash: None,
            disabled: false,
            session_epoch: 0,
        };
        let outcome = self
            .backend
            .provision_user(&NewFederatedUser {
                id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
                roles,
                identity: record,
            })
            .await?;
        Ok((user, outcome))
    }
}

/// What a finished callback carries to the account half.
struct Arrival<'a> {
    provider: &'a IdentityProvider,
    flow: &'a Flow,
    tokens: &'a TokenResponse,
}

impl Arrival<'_> {
    /// The log line's note: `upstream {provider}: {what}`.
    fn note(&self, what: &str) -> String {
        format!("upstream {}: {what}", self.provider.id)
    }
}

/// The session ended, or became another user's, between starting a link and its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEnded;

/// The user a link started from the account page (`link_to`) links to: the one signed in now
/// (`me`), if it is still they; `None` when the round trip was a sign-in, not a link.
pub fn linking_user(link_to: Option<&str>, me: Option<User>) -> Result<Option<User>, SessionEnded> {
    match link_to {
        None => Ok(None),
        Some(id) => me.filter(|u| u.id == id).map(Some).ok_or(SessionEnded),
    }
}

/// Where a link goes on: back to the authorization that asked for the account, or to the
/// account page it started from.
pub fn back_after_link(return_to: &str) -> &str {
    if return_to.is_empty() {
        ACCOUNT_PATH
    } else {
        return_to
    }
}

/// The page of a provisioning that created nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionFailure {
    pub status: u16,
    pub message: &'static str,
    pub note: &'static str,
}

/// Why a new user from an upstream sign-in was not created, as the page says it; `None` when
/// one was.
pub fn provision_failure(outcome: &ProvisionOutcome) -> Option<ProvisionFailure> {
    match outcome {
        ProvisionOutcome::Created => None,
        ProvisionOutcome::Taken => Some(ProvisionFailure {
            status: 409,
            message: "Another sign-in for this account finished at the same moment. Start again.",
            note: "provisioning raced",
        }),
        ProvisionOutcome::MissingRole => Some(ProvisionFailure {
            status: 500,
            message: "This sign-in option is not set up correctly. Tell the administrator.",
            note: "a role in default_roles or domain_roles does not exist",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            email: format!("{id}@example.com"),
            name: id.into(),
            password_hash: None,
            disabled: false,
            session_epoch: 0,
        }
    }

    #[test]
    fn a_sign_in_links_to_nobody_whoever_is_signed_in() {
        assert_eq!(linking_user(None, None), Ok(None));
        assert_eq!(linking_user(None, Some(user("usr_a"))), Ok(None));
    }

    #[test]
    fn a_link_goes_to_the_user_who_started_it_while_still_signed_in() {
        assert_eq!(
            linking_user(Some("usr_a"), Some(user("usr_a"))),
            Ok(Some(user("usr_a")))
        );
    }

    #[test]
    fn a_link_whose_session_ended_or_changed_hands_is_refused() {
        assert_eq!(linking_user(Some("usr_a"), None), Err(SessionEnded));
        assert_eq!(
            linking_user(Some("usr_a"), Some(user("usr_b"))),
            Err(SessionEnded)
        );
    }

    #[test]
    fn a_link_returns_to_the_authorization_that_asked_or_to_the_account_page() {
        assert_eq!(back_after_link(""), ACCOUNT_PATH);
        assert_eq!(back_after_link("/authorize?a=1"), "/authorize?a=1");
    }

    #[test]
    fn a_provisioning_that_created_nobody_says_why_without_the_cause() {
        assert_eq!(provision_failure(&ProvisionOutcome::Created), None);
        let raced = provision_failure(&ProvisionOutcome::Taken).unwrap();
        assert_eq!((raced.status, raced.note), (409, "provisioning raced"));
        let broken = provision_failure(&ProvisionOutcome::MissingRole).unwrap();
        assert_eq!(
            (broken.status, broken.message),
            (
                500,
                "This sign-in option is not set up correctly. Tell the administrator."
            )
        );
    }
}
