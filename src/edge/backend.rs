//! The ports, implemented on the Workers platform: D1 for identity and policy, Durable Objects for
//! grants and throttles, WebCrypto for PBKDF2.

use wasm_bindgen::prelude::*;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement, D1SessionConstraint, Env};

use crate::directory::{HasDirectory, SqlDirectory};
use crate::jose::keys::{RsaSigningKey, SigningKey};
use crate::oauth::client::Client;
use crate::oauth::client_assertion::{JwsAlgorithm, PublicJwk};
use crate::ports::{
    ClientRegistry, JwsSigner, JwsVerifier, PasswordHasher, RegisteredClient, RegistrationOutcome,
    Rng, Sleep, StoreError, TokenCipher,
};
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
    /// Mail this request posted, delivered after its response (`edge::mail`).
    pub outbox: std::cell::RefCell<Vec<crate::accounts::mail::Mail>>,
}

impl crate::ports::Outbox for EdgeBackend<'_> {
    fn post(&self, mail: crate::accounts::mail::Mail) {
        self.outbox.borrow_mut().push(mail);
    }
}

impl<'a> EdgeBackend<'a> {
    pub fn new(env: &'a Env, now: i64) -> Result<Self, StoreError> {
        Ok(EdgeBackend {
            env,
            sql: D1Sql::new(env)?,
            now,
            allow_loopback_client_metadata: false,
            client_ip: String::new(),
            outbox: Default::default(),
        })
    }
}

/// The one delegation: users, policy, accounts, identities and kept tokens are the directory's
/// ports on D1 (`directory/`), implemented there for every [`HasDirectory`].
impl HasDirectory for EdgeBackend<'_> {
    type Sql = D1Sql;
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
