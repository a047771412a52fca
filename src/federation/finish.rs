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
        let linking = match &flow.link_to {
            None => None,
            Some(user_id) => {
                let me = match self.session(head) {
                    Some(session) => self.session_user(&session).await?,
                    None => None,
                };
                match me.filter(|u| u.id == *user_id) {
                    Some(user) => Some(user),
                    None => {
                        return Ok(self
                            .upstream_page(401, "Sign-in did not complete", "Your session ended while linking. Sign in again, then link from your account page.", ACCOUNT_PATH)
                            .with_note(format!("upstream {}: link: session ended", provider.id)))
                    }
                }
            }
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
        let note = |what: &str| format!("upstream {}: {what}", provider.id);
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
                Ok(self
                    .start_session(
                        user,
                        &flow.return_to,
                        SignInMethod::Provider(provider.id.clone()),
                    )?
                    .with_note(note("signed in")))
            }
            Resolution::Link { user, already } => {
                // One identity per provider and user: a second account at the same provider is
                // refused, not stacked.
                if !already && !self.backend.link_identity(&user.id, &record).await? {
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
                        .with_note(note("a second identity at the provider")));
                }
                self.keep_upstream_tokens(provider, &user.id, &record.subject, tokens)
                    .await?;
                // Back to the account page, or to the authorization that asked for the account.
                let back = if flow.return_to.is_empty() {
                    ACCOUNT_PATH
                } else {
                    flow.return_to.as_str()
                };
                Ok(redirect(303, back).with_note(note("linked to the signed-in user")))
            }
            Resolution::ProveAccount(user) => {
                let (csrf, csrf_set) = self.csrf_cookie(head)?;
                // Tokens the provider keeps ride along sealed, and are stored once the account is
                // proven.
                let sealed = match (&self.config.upstream_token_key, provider.keep_tokens) {
                    (Some(key), true) => Some(
                        seal_tokens(
                            self.backend,
                            key,
                            &provider.id,
                            &identity.subject,
                            tokens,
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
                    return_to: flow.return_to.clone(),
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
                    .with_note(note("existing account: asked for its password")))
            }
            Resolution::Provision { roles } => {
                let subject = record.subject.clone();
                let (user, outcome) = self
                    .provision(&identity.email, &identity.name, roles, record)
                    .await?;
                match outcome {
                    ProvisionOutcome::Created => {
                        self.keep_upstream_tokens(provider, &user.id, &subject, tokens).await?;
                        Ok(self.start_session(user, &flow.return_to, SignInMethod::Provider(provider.id.clone()))?.with_note(note("provisioned")))
                    }
                    ProvisionOutcome::Taken => Ok(self
                        .upstream_page(409, "Sign-in did not complete", "Another sign-in for this account finished at the same moment. Start again.", &flow.return_to)
                        .with_note(note("provisioning raced"))),
                    ProvisionOutcome::MissingRole => Ok(self
                        .upstream_page(500, "Sign-in did not complete", "This sign-in option is not set up correctly. Tell the administrator.", &flow.return_to)
                        .with_note(note("a role in default_roles or domain_roles does not exist"))),
                }
            }
            // One page for every reason (which one it was is for the log only).
            Resolution::Refused(refusal) => Ok(self
                .refusal_page(refusal, provider, &flow.return_to)
                .with_note(note(refusal.as_str()))),
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
