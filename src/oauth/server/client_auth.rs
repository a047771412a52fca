//! Client authentication at the back-channel endpoints: a secret (Basic or in the body), an
//! RFC 7523 assertion, or none for public clients; failures throttled per client and address.

use crate::error::oauth::OAuthError;
use crate::error::ApiError;
use crate::http::RequestHead;
use crate::oauth::assertion_auth::verify_client_assertion;
use crate::oauth::client::{
    authenticate_client, parse_client_credentials, Client, ClientCredentials,
};
use crate::oauth::params::Params;
use crate::oauth::server::{source, AuthServer};
use crate::ports::Backend;
use crate::routes::TOKEN_PATH;
use crate::throttle::{self, delay_ms, delaying_limit, WINDOW_SECS};

impl<B: Backend> AuthServer<'_, B> {
    /// Authenticates the client of a back-channel request. Failed attempts with a credential (a
    /// secret or a signed assertion) are counted per client and source address: an address past
    /// the limit is refused, right credential or not, until its window ends, so it learns nothing
    /// more; other addresses are not affected.
    /// Failures are also counted per client from everywhere; past that threshold each failure is
    /// answered after a bounded delay, never refused. The address's count is read together with
    /// the client (concurrently), so the success path waits for no extra round trip.
    pub(crate) async fn authenticate(
        &self,
        head: &RequestHead,
        params: &Params,
    ) -> Result<Client, ApiError> {
        let authorization = head.authorization().map_err(|_| {
            OAuthError::invalid_request("send one Authorization header, of at most 8 KiB")
        })?;
        let credentials = parse_client_credentials(authorization, params)?;
        let basic = credentials.used_basic();
        let with_credential = !matches!(credentials, ClientCredentials::None { .. });
        let now = self.now as u64;
        let per_source = throttle::client_source_key(&source(head), credentials.client_id());
        let source_limit = throttle::CLIENT_FAILURES_PER_SOURCE;
        let (client, standing) = if with_credential {
            let (client, standing) = futures_util::future::join(
                self.backend.find_client(credentials.client_id()),
                self.backend
                    .peek(&per_source, source_limit, WINDOW_SECS, now),
            )
            .await;
            (client?, Some(standing?))
        } else {
            (
                self.backend.find_client(credentials.client_id()).await?,
                None,
            )
        };
        let Some(client) = client else {
            return Err(OAuthError::invalid_client("client authentication failed")
                .with_basic_challenge(basic)
                .into());
        };
        if let Some(standing) = standing.filter(|s| s.remaining == 0) {
            return Err(ApiError::Throttled {
                retry_after_secs: standing.reset_secs.max(1),
            });
        }
        let outcome = match &credentials {
            ClientCredentials::Assertion { assertion, .. } => {
                self.check_assertion(head, &client, assertion).await?
            }
            _ => authenticate_client(&client, &credentials),
        };
        match outcome {
            Ok(()) => Ok(client),
            Err(e) => {
                if with_credential {
                    self.count_client_failure(&per_source, &client).await?;
                }
                Err(e.into())
            }
        }
    }

    /// An RFC 7523 assertion's verdict: `Ok(Err(_))` is the client's failure, `Err(_)` a store's.
    /// RFC 7523 §3: the audience is the authorization server; the token endpoint's URL is what
    /// clients send, at every endpoint that authenticates them.
    async fn check_assertion(
        &self,
        head: &RequestHead,
        client: &Client,
        assertion: &str,
    ) -> Result<Result<(), OAuthError>, ApiError> {
        let token_url = format!("{}{TOKEN_PATH}", self.issuer());
        let endpoint = format!("{}{}", self.issuer(), head.path);
        let audiences = [self.issuer(), token_url.as_str(), endpoint.as_str()];
        match verify_client_assertion(self.backend, client, assertion, &audiences, self.now).await {
            Ok(()) => Ok(Ok(())),
            Err(ApiError::OAuth(e)) => Ok(Err(e)),
            Err(other) => Err(other),
        }
    }

    /// Counts a failed credential: the address is refused past its limit (429), and past the
    /// client's own threshold every failure waits a bounded delay.
    async fn count_client_failure(
        &self,
        per_source: &str,
        client: &Client,
    ) -> Result<(), ApiError> {
        let now = self.now as u64;
        let d = self
            .backend
            .charge(
                per_source,
                throttle::CLIENT_FAILURES_PER_SOURCE,
                WINDOW_SECS,
                now,
            )
            .await?;
        if !d.allowed {
            return Err(ApiError::Throttled {
                retry_after_secs: d.reset_secs.max(1),
            });
        }
        let threshold = throttle::CLIENT_FAILURES_BEFORE_DELAY;
        let everywhere = self
            .backend
            .charge(
                &throttle::client_key(&client.id),
                delaying_limit(threshold),
                WINDOW_SECS,
                now,
            )
            .await?;
        let wait = delay_ms(&everywhere, threshold);
        if wait > 0 {
            self.backend.sleep(wait).await;
        }
        Ok(())
    }
}
