//! The ports, implemented on the Workers platform: D1 for identity and policy, Durable Objects for
//! grants and throttles, WebCrypto for PBKDF2.

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use worker::{D1Database, Env};

use super::grant_ledger;
use super::quota_counter::{self, CounterOp};
use crate::config::QuotaConfig;
use crate::oauth::client::{Client, ClientKind};
use crate::oauth::grant::{CodeRedemption, GrantError, GrantState, Issued, RefreshRotation};
use crate::ports::{
    ClientRegistry, GrantStore, PasswordHasher, PolicyStore, Rng, StoreError, Throttle, User,
    UserDirectory,
};
use crate::quota::QuotaDecision;
use crate::rbac::scope::{Resource, ScopeContext};

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

pub struct EdgeBackend<'a> {
    pub env: &'a Env,
}

impl EdgeBackend<'_> {
    fn db(&self) -> Result<D1Database, StoreError> {
        self.env
            .d1("DB")
            .map_err(|e| StoreError(format!("D1 binding: {e}")))
    }
}

fn d1_error(e: worker::Error) -> StoreError {
    StoreError(format!("D1: {e}"))
}

fn now_secs() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

#[derive(Deserialize)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    kind: String,
    first_party: i64,
    locked_until: Option<i64>,
}

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: Option<String>,
    disabled: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            disabled: row.disabled != 0,
        }
    }
}

impl ClientRegistry for EdgeBackend<'_> {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> = self
            .db()?
            .prepare(
                "SELECT id, name, secret_hash, redirect_uris, kind, first_party, locked_until FROM oauth_clients \
                 WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )
            .bind(&[client_id.into(), (now_secs() as f64).into()])
            .map_err(d1_error)?
            .first(None)
            .await
            .map_err(d1_error)?;
        let Some(row) = row else { return Ok(None) };
        let redirect_uris: Vec<String> = serde_json::from_str(&row.redirect_uris)
            .map_err(|e| StoreError(format!("client {}: redirect_uris: {e}", row.id)))?;
        let kind = match row.kind.as_str() {
            "public" => ClientKind::Public,
            _ => ClientKind::Confidential,
        };
        Ok(Some(Client {
            id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            redirect_uris,
            kind,
            first_party: row.first_party != 0,
            locked_until: row.locked_until,
        }))
    }

    async fn lock_client(&self, client_id: &str, until: i64) -> Result<(), StoreError> {
        self.db()?
            .prepare("UPDATE oauth_clients SET locked_until = ?1 WHERE id = ?2")
            .bind(&[(until as f64).into(), client_id.into()])
            .map_err(d1_error)?
            .run()
            .await
            .map_err(d1_error)?;
        Ok(())
    }
}

impl UserDirectory for EdgeBackend<'_> {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .db()?
            .prepare("SELECT id, email, name, password_hash, disabled FROM users WHERE email = ?1")
            .bind(&[email.into()])
            .map_err(d1_error)?
            .first(None)
            .await
            .map_err(d1_error)?;
        Ok(row.map(User::from))
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .db()?
            .prepare("SELECT id, email, name, password_hash, disabled FROM users WHERE id = ?1")
            .bind(&[user_id.into()])
            .map_err(d1_error)?
            .first(None)
            .await
            .map_err(d1_error)?;
        Ok(row.map(User::from))
    }
}

#[derive(Deserialize)]
struct PolicyRow {
    id: String,
    indicator: String,
    access_token_ttl_secs: i64,
    permission: Option<String>,
    description: Option<String>,
}

impl PolicyStore for EdgeBackend<'_> {
    async fn scope_context(
        &self,
        user_id: &str,
        indicator: Option<&str>,
    ) -> Result<ScopeContext, StoreError> {
        // One round trip: the resource (named, or the default) joined with the permissions the
        // user's roles hold on it.
        let resource_arg = match indicator {
            Some(i) => JsValue::from_str(i),
            None => JsValue::NULL,
        };
        let result = self
            .db()?
            .prepare(
                "SELECT r.id, r.indicator, r.access_token_ttl_secs, p.name AS permission, p.description \
                 FROM api_resources r \
                 LEFT JOIN permissions p ON p.resource_id = r.id AND p.id IN ( \
                   SELECT rp.permission_id FROM role_permissions rp \
                   JOIN user_roles ur ON ur.role_id = rp.role_id WHERE ur.user_id = ?1) \
                 WHERE (?2 IS NULL AND r.is_default = 1) OR r.indicator = ?2",
            )
            .bind(&[user_id.into(), resource_arg])
            .map_err(d1_error)?
            .all()
            .await
            .map_err(d1_error)?;
        let rows: Vec<PolicyRow> = result.results().map_err(d1_error)?;
        let mut context = ScopeContext::default();
        for row in rows {
            if context.resource.is_none() {
                context.resource = Some(Resource {
                    id: row.id,
                    indicator: row.indicator,
                    access_token_ttl_secs: row.access_token_ttl_secs,
                });
            }
            if let Some(p) = row.permission {
                context
                    .descriptions
                    .push((p.clone(), row.description.unwrap_or_default()));
                context.user_permissions.push(p);
            }
        }
        Ok(context)
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
            .map_err(|e| StoreError(format!("WebCrypto PBKDF2: {e:?}")))?;
        let bytes = worker::js_sys::Uint8Array::new(&value).to_vec();
        bytes
            .try_into()
            .map_err(|_| StoreError("WebCrypto PBKDF2: wrong output length".into()))
    }
}

impl Throttle for EdgeBackend<'_> {
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        let quota = QuotaConfig {
            limit,
            period_secs: window_secs,
        };
        quota_counter::call(self.env, key, quota, now, CounterOp::Charge)
            .await
            .map_err(|e| StoreError(format!("throttle: {e}")))
    }
    async fn refund(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let quota = QuotaConfig {
            limit,
            period_secs: window_secs,
        };
        quota_counter::call(self.env, key, quota, now, CounterOp::Refund)
            .await
            .map(|_| ())
            .map_err(|e| StoreError(format!("throttle: {e}")))
    }
}

impl Rng for EdgeBackend<'_> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
        getrandom::fill(buf).map_err(|e| StoreError(format!("random: {e}")))
    }
}
