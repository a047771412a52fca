//! The ports, implemented on the Workers platform: D1 for identity and policy, Durable Objects for
//! grants and throttles, WebCrypto for PBKDF2.

use wasm_bindgen::prelude::*;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement, D1SessionConstraint, Env};

use super::grant_ledger;
use super::quota_counter::{self, CounterOp};
use crate::directory::SqlDirectory;
use crate::jose::keys::{RsaSigningKey, SigningKey};
use crate::oauth::client::Client;
use crate::oauth::client_assertion::{JwsAlgorithm, PublicJwk};
use crate::oauth::grant::{CodeRedemption, GrantError, GrantState, Issued, RefreshRotation};
use crate::ports::{
    AccountStore, ApiKeySummary, AppAccess, ClientKeys, ClientRegistry, ConsentKey, GrantHolder,
    GrantStore, GrantSummary, IdentityStore, JwsSigner, JwsVerifier, KeptTokens, LinkedIdentity,
    NewFederatedUser, PasswordHasher, PolicyStore, ProvisionOutcome, RegisteredClient,
    RegistrationOutcome, Rng, Sleep, StoreError, Throttle, TokenCipher, Upstream, UpstreamRequest,
    UpstreamResponse, UpstreamTokenStore, User, UserDirectory, WaysIn,
};
use crate::quota::Quota;
use crate::quota::QuotaDecision;
use crate::rbac::scope::ScopeContext;
use crate::sql::{Row, Sql, SqlError, SqlValue, Statement};

#[wasm_bindgen(inline_js = "
export async function pbkdf2_sha256(password, salt, iterations) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256);
  return new Uint8Array(bits);
}
")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn pbkdf2_sha256(
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<JsValue, JsValue>;
}

/// D1 behind the [`Sql`] port: the primary, or a session that may read from a replica.
pub struct D1Sql {
    db: Db,
}

enum Db {
    /// Queries outside a session go to the primary: every read sees every write before it.
    Primary(D1Database),
    /// A Sessions API session opened `first-unconstrained`: its first read goes to whichever
    /// copy is nearest (a read replica when the database has read replication on), and later
    /// queries in it see at least what that one saw.
    Session(D1DatabaseSession),
}

impl D1Sql {
    pub fn new(env: &Env) -> Result<D1Sql, StoreError> {
        env.d1("DB")
            .map(|db| D1Sql {
                db: Db::Primary(db),
            })
            .map_err(|e| StoreError::unavailable(format!("D1 binding: {e}")))
    }

    /// For lookups that tolerate a replica's lag (see `directory::api_key_by_hash_replicated`).
    /// Without read replication on the database, it reads the primary like [`D1Sql::new`].
    pub fn replica(env: &Env) -> Result<D1Sql, StoreError> {
        let db = env
            .d1("DB")
            .map_err(|e| StoreError::unavailable(format!("D1 binding: {e}")))?;
        db.with_session_constraint(D1SessionConstraint::FirstUnconstrained)
            .map(|session| D1Sql {
                db: Db::Session(session),
            })
            .map_err(|e| StoreError::unavailable(format!("D1 session: {e}")))
    }

    fn statement(&self, sql: &str, args: Vec<SqlValue>) -> Result<D1PreparedStatement, SqlError> {
        let values: Vec<JsValue> = args
            .into_iter()
            .map(|a| match a {
                SqlValue::Null => JsValue::NULL,
                SqlValue::Int(n) => JsValue::from_f64(n as f64),
                SqlValue::Text(t) => JsValue::from_str(&t),
            })
            .collect();
        let prepared = match &self.db {
            Db::Primary(db) => db.prepare(sql),
            Db::Session(session) => session.prepare(sql),
        };
        prepared
            .bind(&values)
            .map_err(|e| SqlError::from_message(&e.to_string()))
    }
}

impl Sql for D1Sql {
    async fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Row>, SqlError> {
        let result = self
            .statement(sql, args)?
            .all()
            .await
            .map_err(|e| SqlError::from_message(&e.to_string()))?;
        let rows: Vec<serde_json::Value> = result
            .results()
            .map_err(|e| SqlError::Other(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .collect())
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqlError> {
        let prepared = statements
            .into_iter()
            .map(|(sql, args)| self.statement(sql, args))
            .collect::<Result<Vec<_>, _>>()?;
        let results = match &self.db {
            Db::Primary(db) => db.batch(prepared).await,
            Db::Session(session) => session.batch(prepared).await,
        }
        .map_err(|e| SqlError::from_message(&e.to_string()))?;
        Ok(results
            .iter()
            .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64)
            .collect())
    }
}

/// Every port the authorization server needs, on the Workers platform.
pub struct EdgeBackend<'a> {
    pub env: &'a Env,
    pub sql: D1Sql,
    pub now: i64,
    /// Client metadata documents may come from loopback over http (local development).
    pub allow_loopback_client_metadata: bool,
    /// The address the request came from (`CF-Connecting-IP`), which metadata fetches are
    /// charged to.
    pub client_ip: String,
}

impl<'a> EdgeBackend<'a> {
    pub fn new(env: &'a Env, now: i64) -> Result<Self, StoreError> {
        Ok(EdgeBackend {
            env,
            sql: D1Sql::new(env)?,
            now,
            allow_loopback_client_metadata: false,
            client_ip: String::new(),
        })
    }

    fn directory(&self) -> SqlDirectory<'_, D1Sql> {
        SqlDirectory {
            sql: &self.sql,
            now: self.now,
        }
    }
}

impl ClientRegistry for EdgeBackend<'_> {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        if crate::oauth::registration::is_metadata_document_id(client_id) {
            // Refused fetches come back as `StoreError::Throttled`: the request stops before it
            // changes anything, and is answered 429.
            return super::client_metadata::resolve(
                self.env,
                client_id,
                self.allow_loopback_client_metadata,
                self.now,
                &self.client_ip,
                async || self.directory().first_party_client_names().await,
            )
            .await;
        }
        self.directory().find_client(client_id).await
    }
    async fn register_client(
        &self,
        client: &RegisteredClient,
    ) -> Result<RegistrationOutcome, StoreError> {
        self.directory().register_client(client).await
    }
    async fn first_party_client_names(&self) -> Result<Vec<String>, StoreError> {
        self.directory().first_party_client_names().await
    }
}

impl UserDirectory for EdgeBackend<'_> {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.directory().find_user_by_email(email).await
    }
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        self.directory().find_user(user_id).await
    }
    async fn end_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        self.directory().end_sessions(user_id).await
    }
}

impl PolicyStore for EdgeBackend<'_> {
    async fn scope_context(
        &self,
        user_id: &str,
        consent: Option<ConsentKey<'_>>,
        indicator: Option<&str>,
        site_resource: &str,
        plan_roles: &str,
    ) -> Result<ScopeContext, StoreError> {
        self.directory()
            .scope_context(user_id, consent, indicator, site_resource, plan_roles)
            .await
    }

    async fn client_scope_context(
        &self,
        client_id: &str,
        indicator: Option<&str>,
        site_resource: &str,
    ) -> Result<ScopeContext, StoreError> {
        self.directory()
            .client_scope_context(client_id, indicator, site_resource)
            .await
    }
}

impl AccountStore for EdgeBackend<'_> {
    async fn record_consent(
        &self,
        user_id: &str,
        consent: ConsentKey<'_>,
        resource: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        self.directory()
            .record_consent(user_id, consent, resource, scopes, now)
            .await
    }
    async fn forget_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<(), StoreError> {
        self.directory()
            .forget_consent(user_id, client_id, resource)
            .await
    }
    async fn apps_of(&self, user_id: &str) -> Result<Vec<AppAccess>, StoreError> {
        self.directory().apps_of(user_id).await
    }
    async fn record_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.directory().record_grant(grant).await
    }
    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantSummary>, StoreError> {
        self.directory().grants_of(user_id).await
    }
    async fn mark_grant_revoked(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.directory().mark_grant_revoked(grant_id, now).await
    }
    async fn request_revocation(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.directory().request_revocation(grant_id, now).await
    }
    async fn request_revocations_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.directory().request_revocations_of(user_id, now).await
    }
    async fn unfinished_revocations(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        self.directory().unfinished_revocations(limit).await
    }
    async fn holder_of_grant(
        &self,
        grant_id: &str,
        plan_roles: &str,
    ) -> Result<Option<GrantHolder>, StoreError> {
        self.directory().holder_of_grant(grant_id, plan_roles).await
    }
    async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKeySummary>, StoreError> {
        self.directory().api_keys_of(user_id).await
    }
    async fn revoke_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.directory().revoke_api_key(user_id, key_id, now).await
    }
}

impl GrantStore for EdgeBackend<'_> {
    async fn create_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        grant_ledger::create(self.env, grant).await
    }
    async fn redeem_code(
        &self,
        grant_id: &str,
        r: &CodeRedemption,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        grant_ledger::redeem(self.env, grant_id, r).await
    }
    async fn rotate_refresh(
        &self,
        grant_id: &str,
        r: &RefreshRotation,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        grant_ledger::rotate(self.env, grant_id, r).await
    }
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        grant_ledger::revoke(self.env, grant_id).await
    }
    async fn undo_step(
        &self,
        grant_id: &str,
        step: &crate::oauth::grant::Undo,
    ) -> Result<(), StoreError> {
        grant_ledger::undo_step(self.env, grant_id, step).await
    }
    async fn load_grant(&self, grant_id: &str) -> Result<Option<GrantState>, StoreError> {
        grant_ledger::load(self.env, grant_id).await
    }
}

impl PasswordHasher for EdgeBackend<'_> {
    async fn pbkdf2_sha256(
        &self,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], StoreError> {
        let value = pbkdf2_sha256(password, salt, iterations)
            .await
            .map_err(|e| StoreError::unavailable(format!("WebCrypto PBKDF2: {e:?}")))?;
        let bytes = worker::js_sys::Uint8Array::new(&value).to_vec();
        bytes
            .try_into()
            .map_err(|_| StoreError::unavailable("WebCrypto PBKDF2: wrong output length"))
    }
}

impl EdgeBackend<'_> {
    async fn counter(
        &self,
        op: CounterOp,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        let quota = Quota {
            limit,
            period_secs: window_secs,
        };
        quota_counter::call(self.env, key, quota, now, op)
            .await
            .map_err(|e| StoreError::unavailable(format!("counter {key}: {e}")))
    }
}

impl Throttle for EdgeBackend<'_> {
    async fn peek(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.counter(CounterOp::Peek, key, limit, window_secs, now)
            .await
    }
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.counter(CounterOp::Charge, key, limit, window_secs, now)
            .await
    }
    async fn refund(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.counter(CounterOp::Refund, key, limit, window_secs, now)
            .await
            .map(|_| ())
    }
    async fn remember_once(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        self.counter(CounterOp::Once, key, 1, ttl_secs, now)
            .await
            .map(|d| d.allowed)
    }
    async fn quota_usage(
        &self,
        key: &str,
        quota: Quota,
        now: u64,
    ) -> Result<crate::quota::QuotaUsage, StoreError> {
        quota_counter::usage(self.env, key, quota, now)
            .await
            .map_err(|e| StoreError::unavailable(format!("counter {key}: {e}")))
    }
}

impl JwsVerifier for EdgeBackend<'_> {
    async fn verify_jws(
        &self,
        alg: JwsAlgorithm,
        key: &PublicJwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, StoreError> {
        super::webcrypto::verify_jws(alg, key, message, signature)
            .await
            .map_err(|e| StoreError::unavailable(format!("WebCrypto: {e:?}")))
    }
}

impl JwsSigner for EdgeBackend<'_> {
    async fn sign_rs256(&self, key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        super::webcrypto::Platform.sign_rs256(key, message).await
    }

    async fn sign_ed25519(&self, key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        super::webcrypto::Platform.sign_ed25519(key, message).await
    }
}

impl ClientKeys for EdgeBackend<'_> {
    async fn client_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        Ok(
            super::client_jwks::keys(jwks_uri, refresh, self.allow_loopback_client_metadata, now)
                .await,
        )
    }
}

impl crate::ports::AgentDirectory for EdgeBackend<'_> {
    async fn agent_keys(
        &self,
        origin: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        Ok(super::client_jwks::agent_keys(
            origin,
            refresh,
            self.allow_loopback_client_metadata,
            now,
        )
        .await)
    }
}

impl IdentityStore for EdgeBackend<'_> {
    async fn accounts_for(
        &self,
        provider: &str,
        subject: &str,
        email: &str,
    ) -> Result<(Option<User>, Option<User>), StoreError> {
        self.directory()
            .accounts_for(provider, subject, email)
            .await
    }
    async fn link_identity(
        &self,
        user_id: &str,
        identity: &LinkedIdentity,
    ) -> Result<bool, StoreError> {
        self.directory().link_identity(user_id, identity).await
    }
    async fn touch_identity(&self, identity: &LinkedIdentity) -> Result<(), StoreError> {
        self.directory().touch_identity(identity).await
    }
    async fn provision_user(
        &self,
        user: &NewFederatedUser,
    ) -> Result<ProvisionOutcome, StoreError> {
        self.directory().provision_user(user).await
    }
    async fn identities_of(&self, user_id: &str) -> Result<Vec<LinkedIdentity>, StoreError> {
        self.directory().identities_of(user_id).await
    }
    async fn unlink_identity(
        &self,
        user_id: &str,
        provider: &str,
        ways: &WaysIn<'_>,
    ) -> Result<bool, StoreError> {
        self.directory()
            .unlink_identity(user_id, provider, ways)
            .await
    }
}

impl UpstreamTokenStore for EdgeBackend<'_> {
    async fn keep_tokens(&self, tokens: &KeptTokens) -> Result<(), StoreError> {
        self.directory().keep_tokens(tokens).await
    }
    async fn kept_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<KeptTokens>, StoreError> {
        self.directory().kept_tokens(user_id, provider).await
    }
    async fn forget_tokens(
        &self,
        user_id: &str,
        provider: &str,
        sealed_refresh: &str,
    ) -> Result<(), StoreError> {
        self.directory()
            .forget_tokens(user_id, provider, sealed_refresh)
            .await
    }
}

impl crate::ports::BillingStore for EdgeBackend<'_> {
    async fn subscription_of(
        &self,
        plugin: &str,
        user_id: &str,
    ) -> Result<Option<crate::billing::subscription::Subscription>, StoreError> {
        self.directory().subscription_of(plugin, user_id).await
    }
    async fn customer_of(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        self.directory().customer_of(user_id).await
    }
    async fn apply_billing_event(
        &self,
        delivery: &crate::billing::subscription::Delivery,
        change: &crate::billing::subscription::Change,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.directory()
            .apply_billing_event(delivery, change, now)
            .await
    }
}

impl TokenCipher for EdgeBackend<'_> {
    async fn seal(&self, key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, StoreError> {
        super::sealing::seal(key, plaintext, aad).await
    }
    async fn unseal(
        &self,
        key: &[u8; 32],
        sealed: &str,
        aad: &str,
    ) -> Result<Option<String>, StoreError> {
        super::sealing::unseal(key, sealed, aad).await
    }
}

impl Upstream for EdgeBackend<'_> {
    async fn upstream(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        super::upstream::send(request).await
    }
    async fn discovery(
        &self,
        issuer: &str,
        refresh: bool,
        now: i64,
    ) -> Result<crate::federation::oidc::Discovery, String> {
        super::upstream::discovery(issuer, refresh, now).await
    }
    async fn provider_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Vec<PublicJwk>, String> {
        super::client_jwks::provider_keys(jwks_uri, refresh, now).await
    }
}

impl Sleep for EdgeBackend<'_> {
    async fn sleep(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

impl Rng for EdgeBackend<'_> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
        getrandom::fill(buf).map_err(|e| StoreError::unavailable(format!("random: {e}")))
    }
}
