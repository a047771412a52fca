//! `POST /register`: RFC 7591 dynamic client registration.

use serde_json::{json, Value};

use crate::error::oauth::{OAuthError, OAuthErrorCode};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::client::{Client, ClientKind, ClientOrigin};
use crate::oauth::display::{check_client_name, redirect_hosts};
use crate::oauth::grant::SECRET_BYTES;
use crate::oauth::registration::{
    parse_registration, AuthMethod, ClientMetadata, UNUSED_REGISTRATION_TTL_SECS,
};
use crate::oauth::server::{source, AuthServer};
use crate::ports::{Backend, RegisteredClient, RegistrationOutcome};
use crate::primitives::hash::sha256_hex;

impl<B: Backend> AuthServer<'_, B> {
    /// `POST /register`: RFC 7591 dynamic client registration, open to anyone (rate-limited per
    /// IP at the edge). The client is third-party (consent is always asked), public unless it
    /// asks for a secret, and forgotten unless it starts a grant within a day.
    pub async fn register(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let metadata = registration_request(head, body)?;
        // A name no one vetted may not copy an assistant's, an administrator's client's or the
        // plugin's own (RFC 7591 §5: the server may refuse metadata it will not show as given).
        let mut first_party = self.backend.first_party_client_names().await?;
        first_party.extend(self.plugin_names().iter().map(|n| n.to_string()));
        let first_party: Vec<&str> = first_party.iter().map(String::as_str).collect();
        let hosts = redirect_hosts(&metadata.redirect_uris);
        check_client_name(&metadata.client_name, &hosts, &first_party).map_err(|why| {
            OAuthError::new(OAuthErrorCode::InvalidClientMetadata, why.to_string())
        })?;
        let client_id = format!("dcr_{}", self.random_b64(16)?);
        let secret = match metadata.auth_method {
            AuthMethod::None | AuthMethod::PrivateKeyJwt => None,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                Some(self.random_b64(SECRET_BYTES)?)
            }
        };
        let mut document = metadata.to_json();
        let client = Client {
            id: client_id.clone(),
            name: metadata.client_name,
            secret_hash: secret.as_deref().map(sha256_hex),
            redirect_uris: metadata.redirect_uris,
            kind: if secret.is_some() || metadata.key_set.is_some() {
                ClientKind::Confidential
            } else {
                ClientKind::Public
            },
            first_party: false,
            origin: ClientOrigin::Dynamic,
            may_introspect: false,
            key_set: metadata.key_set,
            dpop_bound: metadata.dpop_bound,
        };
        // Stored: the validated fields only, the redirect URIs and keys once (in their columns).
        let mut stored = document.clone();
        stored.remove("redirect_uris");
        stored.remove("jwks");
        let outcome = self
            .backend
            .register_client(&RegisteredClient {
                client,
                metadata: Value::Object(stored).to_string(),
                created_at: self.now,
                expires_at: self.now + UNUSED_REGISTRATION_TTL_SECS,
                network: source(head),
            })
            .await?;
        match outcome {
            RegistrationOutcome::Stored => {}
            RegistrationOutcome::NetworkFull => {
                return Err(ApiError::RegistrationsFull { everyone: false })
            }
            RegistrationOutcome::Full => {
                return Err(ApiError::RegistrationsFull { everyone: true })
            }
        }
        document.insert("client_id".into(), json!(client_id));
        document.insert("client_id_issued_at".into(), json!(self.now));
        if let Some(secret) = secret {
            document.insert("client_secret".into(), json!(secret));
            document.insert("client_secret_expires_at".into(), json!(0));
        }
        Ok(Reply::json(201, &Value::Object(document))
            .no_store()
            .with_header("pragma", "no-cache"))
    }
}

/// The registration request: JSON, with metadata that passes [`parse_registration`] (a redirect
/// URI's fault is `invalid_redirect_uri`, any other `invalid_client_metadata`).
fn registration_request(head: &RequestHead, body: &[u8]) -> Result<ClientMetadata, ApiError> {
    let is_json = head
        .single_header("content-type")
        .ok()
        .flatten()
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidClientMetadata,
            "the registration request must be application/json",
        )
        .into());
    }
    parse_registration(body).map_err(|e| {
        OAuthError::new(
            if e.code == "invalid_redirect_uri" {
                OAuthErrorCode::InvalidRedirectUri
            } else {
                OAuthErrorCode::InvalidClientMetadata
            },
            e.description,
        )
        .into()
    })
}
