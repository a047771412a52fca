//! The handlers of upstream sign-in (see [`crate::federation`]): `POST /login/provider/{id}`
//! starts it (here), `GET /login/provider/{id}/callback` finishes it
//! ([`crate::federation::callback`], then [`crate::federation::finish`]), and `POST /login/link`
//! links an identity to the existing account its verified email matched, once the user proves
//! the account ([`crate::federation::link`]). Every failure is a page that says what happened
//! and leads back; its cause goes to the log line, never to the page.

use crate::error::ApiError;
use crate::federation::accounts::Refusal;
use crate::federation::flow::{acceptable_return_to, flow_cookie, Flow};
use crate::federation::{IdentityProvider, ProviderKind, UpstreamError, FLOW_TTL_SECS};
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, redirect, AuthServer};
use crate::ports::Backend;
use crate::routes::{ACCOUNT_PATH, LOGIN_PATH};
use crate::web::pages::message_with_link;
use crate::web::session::{read_cookie, set_cookie, verify_csrf};

impl<B: Backend> AuthServer<'_, B> {
    /// `/login/provider/{id}` (`POST`, sign in there) and `/login/provider/{id}/callback` (`GET`,
    /// back from there), routed and their methods checked by [`crate::routes::route`].
    pub async fn provider_endpoint(
        &self,
        id: &str,
        callback: bool,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let Some(provider) = self.config.sign_in.provider(id) else {
            return Ok(self.local_error(404, "This sign-in option does not exist here."));
        };
        if callback {
            self.upstream_callback(head, provider).await
        } else {
            self.start_upstream(head, body, provider).await
        }
    }

    /// A page that says what went wrong and leads back to `back` (or the sign-in page).
    /// The page of a refused sign-in: the same for every [`Refusal`].
    pub(super) fn refusal_page(
        &self,
        refusal: Refusal,
        provider: &IdentityProvider,
        back: &str,
    ) -> Reply {
        let page = refusal.page(&provider.name);
        self.upstream_page(page.status, page.title, &page.message, back)
    }

    pub(super) fn upstream_page(
        &self,
        status: u16,
        title: &str,
        message: &str,
        back: &str,
    ) -> Reply {
        let (href, text) = if back.is_empty() {
            (LOGIN_PATH, "Back to sign-in")
        } else if back == ACCOUNT_PATH {
            (ACCOUNT_PATH, "Back to your account")
        } else {
            (back, "Back to sign-in")
        };
        message_with_link(status, self.brand(), title, message, href, text)
    }

    async fn start_upstream(
        &self,
        head: &RequestHead,
        body: &[u8],
        provider: &IdentityProvider,
    ) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        // Linking from the account page is an action on the signed-in account: its form's token
        // is bound to the session, as the account page's other actions are.
        let linking = params.get("link") == Some("1");
        let (purpose, link_to) = if linking {
            let session = self.session(head);
            let user = match &session {
                Some(s) => self.session_user(s).await?,
                None => None,
            };
            match (session, user) {
                (Some(s), Some(u)) => (format!("account:{}", s.nonce), Some(u.id)),
                _ => return Ok(self.local_error(401, "Your session ended. Sign in again.")),
            }
        } else {
            ("login".to_string(), None)
        };
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &purpose,
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(
                403,
                "This form expired or did not come from this site. Go back and try again.",
            ));
        }
        let Ok(return_to) = return_after(linking, params.get("return_to")) else {
            return Ok(self.local_error(
                400,
                "This sign-in cannot return to where it started (the request is too long or not this site's). Go back and try again.",
            ));
        };
        let (endpoint, oidc) = match self.authorization_endpoint(provider, return_to).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
        let random = [
            self.random_b64(32)?,
            self.random_b64(32)?,
            self.random_b64(32)?,
        ];
        let flow = Flow::start(&provider.id, return_to, link_to, random, self.now);
        let location =
            flow.authorization_url(provider, &endpoint, &self.redirect_uri(provider), oidc);
        let secure = self.secure_cookies();
        Ok(redirect(303, &location).with_header(
            "set-cookie",
            set_cookie(
                flow_cookie(secure),
                &flow.seal(self.key()),
                FLOW_TTL_SECS,
                secure,
            ),
        ))
    }

    /// The provider's authorization endpoint, and whether it speaks OpenID Connect; a page
    /// leading back to `return_to` when its discovery document cannot be read.
    async fn authorization_endpoint(
        &self,
        provider: &IdentityProvider,
        return_to: &str,
    ) -> Result<Result<(url::Url, bool), Reply>, ApiError> {
        match &provider.kind {
            ProviderKind::Oidc { issuer, .. } => {
                match self.backend.discovery(issuer, false, self.now).await {
                    Ok(d) => Ok(Ok((d.authorization_endpoint, true))),
                    Err(why) => Ok(Err(self
                        .upstream_page(
                            502,
                            "Sign-in unavailable",
                            &UpstreamError::Unavailable(why.clone()).message(&provider.name),
                            return_to,
                        )
                        .with_note(format!("upstream {}: discovery: {why}", provider.id)))),
                }
            }
            ProviderKind::GitHub {
                authorization_endpoint,
                ..
            } => match url::Url::parse(authorization_endpoint) {
                Ok(url) => Ok(Ok((url, false))),
                Err(_) => Err(ApiError::Internal(format!(
                    "provider {}: authorization_endpoint",
                    provider.id
                ))),
            },
        }
    }

    pub(super) fn redirect_uri(&self, provider: &IdentityProvider) -> String {
        format!("{}{}", self.issuer(), provider.callback_path())
    }
}

/// A return path the sign-in cannot carry to the provider and back (too long, or not one of
/// this site's places to return to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreturnable;

/// Where a sign-in started with `asked` returns once the provider answers: there, or for a
/// link from the account page the account page, or nowhere (the sign-in page's default). A
/// return path that cannot be carried is refused, not dropped: the user would land nowhere
/// after the provider.
pub fn return_after(linking: bool, asked: Option<&str>) -> Result<&str, Unreturnable> {
    match asked.filter(|r| !r.is_empty()) {
        Some(asked) if !acceptable_return_to(asked) => Err(Unreturnable),
        Some(asked) => Ok(asked),
        None if linking => Ok(ACCOUNT_PATH),
        None => Ok(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_returns_to_the_authorization_that_asked_for_it() {
        let asked = "/authorize?client_id=c&state=s";
        assert_eq!(return_after(false, Some(asked)), Ok(asked));
        assert_eq!(return_after(true, Some(asked)), Ok(asked));
    }

    #[test]
    fn a_sign_in_with_nowhere_to_return_returns_nowhere_and_a_link_to_the_account_page() {
        assert_eq!(return_after(false, None), Ok(""));
        assert_eq!(return_after(false, Some("")), Ok(""));
        assert_eq!(return_after(true, None), Ok(ACCOUNT_PATH));
        assert_eq!(return_after(true, Some("")), Ok(ACCOUNT_PATH));
    }

    #[test]
    fn a_return_path_the_round_trip_cannot_carry_is_refused_not_dropped() {
        assert_eq!(
            return_after(false, Some("https://evil.example/authorize?x")),
            Err(Unreturnable)
        );
        assert_eq!(return_after(true, Some("/admin")), Err(Unreturnable));
        let long = format!("/authorize?{}", "a".repeat(8 * 1024));
        assert_eq!(return_after(false, Some(&long)), Err(Unreturnable));
    }
}
