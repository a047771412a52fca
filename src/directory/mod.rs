//! Clients, users and the policy the scope decision needs, read from D1 through the [`Sql`] port.
//! The edge runs these queries on D1; native tests run the very same statements on SQLite with
//! the same migrations.

use serde_json::Value;

use crate::billing::subscription::{HOLDING_STATUSES, PERIOD_GRACE_SECS};
use crate::jose::keys::SigningAlg;
use crate::oauth::client::{Client, ClientKeySet, ClientKind, ClientOrigin};
use crate::oauth::client_assertion::{jwks_json, parse_jwks};
use crate::oauth::grant::GrantState;
use crate::oauth::registration::{MAX_UNUSED_REGISTRATIONS, MAX_UNUSED_REGISTRATIONS_PER_NETWORK};
use crate::ports::{
    AccountStore, ApiKeySummary, AppAccess, ClientRegistry, ConsentKey, GrantHolder, GrantSummary,
    OwnApiKey, PolicyStore, RegisteredClient, RegistrationOutcome, StoreError, User, UserDirectory,
};
use crate::rbac::scope::{parse_scope, Resource, ScopeContext};
use crate::sql::{Row, Sql, SqlError, SqlValue};

pub mod admin;
pub mod billing;
mod challenges;
mod identities;
mod own_api_keys;
mod passkeys;
mod proxy_reads;
mod second_factor;
pub mod usage_rows;

pub use proxy_reads::{api_key_by_hash_replicated, OPENAI_EGRESS_SOURCE};

/// The directory over any SQL backend; `now` decides which dynamic registrations have expired.
pub struct SqlDirectory<'a, S: Sql> {
    pub sql: &'a S,
    pub now: i64,
}

/// A backend whose users, policy, accounts and identities are in SQL (D1 at the edge, SQLite in
/// tests): it implements those ports ([`UserDirectory`], [`PolicyStore`], [`AccountStore`],
/// [`IdentityStore`], [`UpstreamTokenStore`]) by naming its directory, once, here.
pub trait HasDirectory {
    type Sql: Sql;
    fn directory(&self) -> SqlDirectory<'_, Self::Sql>;
}

impl<S: Sql> HasDirectory for SqlDirectory<'_, S> {
    type Sql = S;
    fn directory(&self) -> SqlDirectory<'_, S> {
        SqlDirectory {
            sql: self.sql,
            now: self.now,
        }
    }
}

pub(crate) fn store_error(e: SqlError) -> StoreError {
    StoreError::unavailable(format!("D1: {e:?}"))
}

pub(crate) fn s(row: &Row, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(crate) fn opt_s(row: &Row, key: &str) -> Option<String> {
    row.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn n(row: &Row, key: &str) -> Option<i64> {
    row.get(key).and_then(Value::as_f64).map(|f| f as i64)
}

pub(crate) fn user(row: &Row) -> User {
    User {
        id: s(row, "id"),
        email: s(row, "email"),
        name: s(row, "name"),
        password_hash: opt_s(row, "password_hash"),
        disabled: n(row, "disabled").unwrap_or(0) != 0,
        session_epoch: n(row, "session_epoch").unwrap_or(0),
    }
}

/// A client's stored keys: `jwks_uri`, or the `jwks` kept inline.
fn key_set(row: &Row) -> Result<Option<ClientKeySet>, StoreError> {
    if let Some(uri) = opt_s(row, "jwks_uri") {
        return Ok(Some(ClientKeySet::Uri(uri)));
    }
    let Some(text) = opt_s(row, "jwks") else {
        return Ok(None);
    };
    let keys = serde_json::from_str::<Value>(&text)
        .map_err(|e| e.to_string())
        .and_then(|v| parse_jwks(&v))
        .map_err(|e| StoreError::unavailable(format!("client {}: jwks: {e}", s(row, "id"))))?;
    Ok(Some(ClientKeySet::Inline(keys)))
}

/// The `jwks_uri` and `jwks` columns for a client's keys.
pub fn key_set_columns(key_set: &Option<ClientKeySet>) -> (SqlValue, SqlValue) {
    match key_set {
        None => (SqlValue::Null, SqlValue::Null),
        Some(ClientKeySet::Uri(uri)) => (uri.as_str().into(), SqlValue::Null),
        Some(ClientKeySet::Inline(keys)) => (SqlValue::Null, jwks_json(keys).to_string().into()),
    }
}

impl<S: Sql> ClientRegistry for SqlDirectory<'_, S> {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT id, name, secret_hash, redirect_uris, kind, first_party, registered_via, may_introspect, jwks_uri, jwks, dpop_bound FROM oauth_clients \
                 WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                vec![client_id.into(), self.now.into()],
            )
            .await
            .map_err(store_error)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let redirect_uris: Vec<String> =
            serde_json::from_str(&s(row, "redirect_uris")).map_err(|e| {
                StoreError::unavailable(format!("client {}: redirect_uris: {e}", s(row, "id")))
            })?;
        Ok(Some(Client {
            id: s(row, "id"),
            name: s(row, "name"),
            secret_hash: opt_s(row, "secret_hash"),
            redirect_uris,
            kind: if s(row, "kind") == "public" {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            },
            first_party: n(row, "first_party").unwrap_or(0) != 0,
            origin: if s(row, "registered_via") == "dynamic" {
                ClientOrigin::Dynamic
            } else {
                ClientOrigin::Admin
            },
            may_introspect: n(row, "may_introspect").unwrap_or(0) != 0,
            key_set: key_set(row)?,
            dpop_bound: n(row, "dpop_bound").unwrap_or(0) != 0,
        }))
    }

    async fn first_party_client_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT DISTINCT name FROM oauth_clients WHERE registered_via = 'admin' LIMIT ?1",
                vec![(crate::ports::MAX_FIRST_PARTY_NAMES as i64).into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(|r| s(r, "name")).collect())
    }

    async fn register_client(
        &self,
        registered: &RegisteredClient,
    ) -> Result<RegistrationOutcome, StoreError> {
        let c = &registered.client;
        let uris = serde_json::to_string(&c.redirect_uris)
            .map_err(|e| StoreError::unavailable(format!("redirect_uris: {e}")))?;
        let (jwks_uri, jwks) = key_set_columns(&c.key_set);
        let changed = self
            .sql
            .batch(vec![(
                "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, kind, first_party, created_at, expires_at, registered_via, metadata, registered_from, jwks_uri, jwks, dpop_bound) \
                 SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, 'dynamic', ?8, ?9, ?12, ?13, ?14 \
                 WHERE (SELECT COUNT(*) FROM oauth_clients WHERE expires_at > ?6) < ?10 \
                 AND (SELECT COUNT(*) FROM oauth_clients WHERE registered_from = ?9 AND expires_at > ?6) < ?11",
                vec![
                    c.id.as_str().into(),
                    c.name.as_str().into(),
                    SqlValue::from(c.secret_hash.clone()),
                    uris.into(),
                    match c.kind {
                        ClientKind::Public => "public",
                        ClientKind::Confidential => "confidential",
                    }
                    .into(),
                    registered.created_at.into(),
                    registered.expires_at.into(),
                    registered.metadata.as_str().into(),
                    registered.network.as_str().into(),
                    (MAX_UNUSED_REGISTRATIONS as i64).into(),
                    (MAX_UNUSED_REGISTRATIONS_PER_NETWORK as i64).into(),
                    jwks_uri,
                    jwks,
                    c.dpop_bound.into(),
                ],
            )])
            .await
            .map_err(store_error)?;
        if changed.first().copied().unwrap_or(0) > 0 {
            return Ok(RegistrationOutcome::Stored);
        }
        // Refused: say which cap, for the error (a read, off the success path).
        let rows = self
            .sql
            .query(
                "SELECT COUNT(*) AS n FROM oauth_clients WHERE registered_from = ?1 AND expires_at > ?2",
                vec![registered.network.as_str().into(), registered.created_at.into()],
            )
            .await
            .map_err(store_error)?;
        let on_network = rows.first().and_then(|r| n(r, "n")).unwrap_or(0);
        Ok(
            if on_network >= MAX_UNUSED_REGISTRATIONS_PER_NETWORK as i64 {
                RegistrationOutcome::NetworkFull
            } else {
                RegistrationOutcome::Full
            },
        )
    }
}

impl<D: HasDirectory> UserDirectory for D {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT id, email, name, password_hash, disabled, session_epoch FROM users WHERE email = ?1",
                vec![email.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(user))
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT id, email, name, password_hash, disabled, session_epoch FROM users WHERE id = ?1",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(user))
    }

    async fn end_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        self.directory()
            .sql
            .batch(vec![(
                "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?1",
                vec![user_id.into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

impl<S: Sql> SqlDirectory<'_, S> {
    /// Deletes dynamically registered clients that expired unused; returns how many.
    pub async fn purge_expired_clients(&self) -> Result<u64, StoreError> {
        let counts = self
            .sql
            .batch(vec![(
                "DELETE FROM oauth_clients WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                vec![self.now.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(counts.first().copied().unwrap_or(0))
    }

    /// Deletes the index rows of grants created before `created_before`, oldest first, `batch`
    /// rows per statement and at most `batches` statements (a backlog drains over later calls);
    /// returns how many went. The caller passes a time past which no grant can still be used
    /// (the refresh family's absolute lifetime and a margin).
    pub async fn purge_ended_grants(
        &self,
        created_before: i64,
        batch: u32,
        batches: u32,
    ) -> Result<u64, StoreError> {
        let mut purged = 0;
        for _ in 0..batches {
            let counts = self
                .sql
                .batch(vec![(
                    "DELETE FROM user_grants WHERE grant_id IN (SELECT grant_id FROM user_grants \
                     WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
                    vec![created_before.into(), i64::from(batch).into()],
                )])
                .await
                .map_err(store_error)?;
            let deleted = counts.first().copied().unwrap_or(0);
            purged += deleted;
            if deleted < u64::from(batch) {
                break;
            }
        }
        Ok(purged)
    }
}

/// The SQL of the ids of the permissions a user holds: through their own roles, and through the
/// roles of the plans they hold (`plan_roles`, JSON from configuration: `[{"plugin", "plan",
/// "role"}]`). A plan holds as [`crate::billing::subscription::Subscription::standing`] says:
/// while its status holds and its paid period ended no earlier than `lapsed_before` (now less
/// [`PERIOD_GRACE_SECS`]), so a cancellation whose event never came does not keep the roles.
/// The arguments are SQL expressions (parameters or columns).
fn user_permission_ids(user: &str, plan_roles: &str, lapsed_before: &str) -> String {
    format!(
        "SELECT rp.permission_id FROM role_permissions rp \
         JOIN user_roles hr ON hr.role_id = rp.role_id WHERE hr.user_id = {user} \
         UNION SELECT rp.permission_id FROM role_permissions rp \
         JOIN roles ro ON ro.id = rp.role_id \
         JOIN json_each({plan_roles}) pr ON json_extract(pr.value, '$.role') = ro.name \
         JOIN subscriptions s ON s.user_id = {user} AND s.plugin = json_extract(pr.value, '$.plugin') \
           AND s.plan = json_extract(pr.value, '$.plan') AND s.status IN ({holding}) \
           AND (s.current_period_end IS NULL OR s.current_period_end >= {lapsed_before})",
        holding = HOLDING_STATUSES.map(|s| format!("'{s}'")).join(", "),
    )
}

/// Whose roles a scope decision reads: a user's (with what they consented to a client), or a
/// machine client's own.
enum Holder<'a> {
    User {
        id: &'a str,
        consent: Option<ConsentKey<'a>>,
        /// `[{"plugin", "plan", "role"}]`: roles held while a subscription to the plan holds.
        plan_roles: &'a str,
    },
    Client(&'a str),
}

impl<S: Sql> SqlDirectory<'_, S> {
    /// One round trip: the resource (named; else the plugin's own, else the default one) joined
    /// with the permissions the holder's roles hold on it. Rows of the preferred resource come
    /// first; rows of any other are skipped below.
    async fn load_scope_context(
        &self,
        holder: Holder<'_>,
        indicator: Option<&str>,
        site_resource: &str,
    ) -> Result<ScopeContext, StoreError> {
        let user_roles = user_permission_ids("?1", "?5", "?6");
        const CLIENT_ROLES: &str = "SELECT rp.permission_id FROM role_permissions rp \
            JOIN client_roles hr ON hr.role_id = rp.role_id WHERE hr.client_id = ?1";
        // Consent is read at the plugin asking (`?7`, its issuer) only: one given at another
        // plugin, or before consents had an issuer (''), skips no consent page here.
        const CONSENTED: &str = "(SELECT c.scopes FROM consents c \
            WHERE c.user_id = ?1 AND c.client_id = ?4 AND c.resource = r.indicator AND c.issuer = ?7)";
        let (holder_id, consent, roles, consented, plan_roles) = match holder {
            Holder::User {
                id,
                consent,
                plan_roles,
            } => (
                id,
                consent,
                user_roles.as_str(),
                if consent.is_some() { CONSENTED } else { "NULL" },
                Some(plan_roles),
            ),
            Holder::Client(id) => (id, None, CLIENT_ROLES, "NULL", None),
        };
        let mut args = vec![
            holder_id.into(),
            SqlValue::from(indicator),
            site_resource.into(),
        ];
        if let Some(plan_roles) = plan_roles {
            args.push(SqlValue::from(consent.map(|c| c.client_id)));
            args.push(plan_roles.into());
            args.push(self.now.saturating_sub(PERIOD_GRACE_SECS).into());
            if let Some(consent) = consent {
                args.push(consent.issuer.into());
            }
        }
        let rows = self
            .sql
            .query(
                &format!(
                    "SELECT r.id, r.indicator, r.name AS resource_name, r.access_token_ttl_secs, r.access_token_alg, p.name AS permission, p.description, \
                       {consented} AS consented \
                     FROM api_resources r \
                     LEFT JOIN permissions p ON p.resource_id = r.id AND p.id IN ({roles}) \
                     WHERE r.indicator = ?2 OR (?2 IS NULL AND (r.indicator = ?3 OR r.is_default = 1)) \
                     ORDER BY r.indicator = ?3 DESC, p.name"
                ),
                args,
            )
            .await
            .map_err(store_error)?;
        Ok(scope_context_of(&rows))
    }
}

/// The scope context from its rows: the first resource (the one named, or the site's, or the
/// default), its consented scopes, and each permission the holder's roles give on it.
fn scope_context_of(rows: &[Row]) -> ScopeContext {
    let mut context = ScopeContext::default();
    for row in rows {
        if context
            .resource
            .as_ref()
            .is_some_and(|r| r.id != s(row, "id"))
        {
            continue;
        }
        if context.resource.is_none() {
            context.consented = opt_s(row, "consented").map(|s| parse_scope(&s));
            context.resource_name = s(row, "resource_name");
            context.resource = Some(Resource {
                id: s(row, "id"),
                indicator: s(row, "indicator"),
                access_token_ttl_secs: n(row, "access_token_ttl_secs").unwrap_or(3600),
                access_token_alg: SigningAlg::parse(&s(row, "access_token_alg"))
                    .unwrap_or_default(),
            });
        }
        if let Some(p) = opt_s(row, "permission") {
            context
                .descriptions
                .push((p.clone(), s(row, "description")));
            context.permissions.push(p);
        }
    }
    context
}

impl<D: HasDirectory> PolicyStore for D {
    async fn scope_context(
        &self,
        user_id: &str,
        consent: Option<ConsentKey<'_>>,
        indicator: Option<&str>,
        site_resource: &str,
        plan_roles: &str,
    ) -> Result<ScopeContext, StoreError> {
        let holder = Holder::User {
            id: user_id,
            consent,
            plan_roles,
        };
        self.directory()
            .load_scope_context(holder, indicator, site_resource)
            .await
    }

    async fn client_scope_context(
        &self,
        client_id: &str,
        indicator: Option<&str>,
        site_resource: &str,
    ) -> Result<ScopeContext, StoreError> {
        self.directory()
            .load_scope_context(Holder::Client(client_id), indicator, site_resource)
            .await
    }
}

impl<D: HasDirectory> AccountStore for D {
    async fn record_consent(
        &self,
        user_id: &str,
        consent: ConsentKey<'_>,
        resource: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        // `scopes` already holds what was allowed before (read with the scope decision). Two
        // consents by one user for one app at the same moment could keep only the later's
        // scopes: at worst a question asked again.
        self.directory().sql
            .batch(vec![(
                "INSERT INTO consents (user_id, client_id, resource, issuer, scopes, created_at, updated_at) VALUES (?1, ?2, ?3, ?6, ?4, ?5, ?5) \
                 ON CONFLICT (user_id, client_id, resource, issuer) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
                vec![
                    user_id.into(),
                    consent.client_id.into(),
                    resource.into(),
                    scopes.join(" ").into(),
                    now.into(),
                    consent.issuer.into(),
                ],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn forget_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<(), StoreError> {
        self.directory()
            .sql
            .batch(vec![(
                "DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2 AND resource = ?3",
                vec![user_id.into(), client_id.into(), resource.into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn apps_of(&self, user_id: &str) -> Result<Vec<AppAccess>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT a.client_id, COALESCE(c.name, a.client_id) AS client_name, a.resource, a.scopes, a.since FROM ( \
                   SELECT client_id, resource, scopes, created_at AS since FROM consents WHERE user_id = ?1 \
                   UNION ALL \
                   SELECT client_id, COALESCE(resource, '') AS resource, scopes, created_at AS since FROM user_grants \
                   WHERE user_id = ?1 AND revoked_at IS NULL \
                 ) a LEFT JOIN oauth_clients c ON c.id = a.client_id ORDER BY a.since DESC LIMIT 500",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        let mut apps: Vec<AppAccess> = Vec::new();
        for r in &rows {
            let (client_id, resource) = (s(r, "client_id"), s(r, "resource"));
            let scopes = parse_scope(&s(r, "scopes"));
            let since = n(r, "since").unwrap_or(0);
            match apps
                .iter_mut()
                .find(|a| a.client_id == client_id && a.resource == resource)
            {
                Some(app) => {
                    for scope in scopes {
                        if !app.scopes.contains(&scope) {
                            app.scopes.push(scope);
                        }
                    }
                    app.since = app.since.min(since);
                }
                None => apps.push(AppAccess {
                    client_id,
                    client_name: s(r, "client_name"),
                    resource,
                    scopes,
                    since,
                }),
            }
        }
        Ok(apps)
    }

    async fn record_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.directory().sql
            .batch(vec![(
                "INSERT INTO user_grants (grant_id, user_id, client_id, scopes, resource, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![
                    grant.grant_id.as_str().into(),
                    grant.user_id.as_str().into(),
                    grant.client_id.as_str().into(),
                    grant.scopes.join(" ").into(),
                    SqlValue::from(grant.resource.as_ref().map(|r| r.indicator.clone())),
                    grant.created_at.into(),
                ],
            ), (
                // A registered client that starts a grant is in use: it no longer expires.
                "UPDATE oauth_clients SET expires_at = NULL WHERE id = ?1 AND expires_at IS NOT NULL",
                vec![grant.client_id.as_str().into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantSummary>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT g.grant_id, g.client_id, COALESCE(c.name, g.client_id) AS client_name, g.scopes, g.resource, g.created_at, g.revoked_at \
                 FROM user_grants g LEFT JOIN oauth_clients c ON c.id = g.client_id \
                 WHERE g.user_id = ?1 ORDER BY g.created_at DESC LIMIT 100",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows
            .iter()
            .map(|r| GrantSummary {
                grant_id: s(r, "grant_id"),
                client_id: s(r, "client_id"),
                client_name: s(r, "client_name"),
                scopes: s(r, "scopes"),
                resource: opt_s(r, "resource"),
                created_at: n(r, "created_at").unwrap_or(0),
                revoked_at: n(r, "revoked_at"),
            })
            .collect())
    }

    async fn mark_grant_revoked(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        // A grant becoming revoked takes the user's kept upstream tokens with it: whatever the
        // user let reach the origin stops with the access they took back. Only then: the delete
        // runs before the mark and only while the grant is still open, so a stale client retrying
        // a revoked grant's token does not delete tokens the user connected since.
        self.directory().sql
            .batch(vec![
                (
                    "DELETE FROM upstream_tokens WHERE user_id = \
                     (SELECT user_id FROM user_grants WHERE grant_id = ?1 AND revoked_at IS NULL)",
                    vec![grant_id.into()],
                ),
                (
                    "UPDATE user_grants SET revoked_at = COALESCE(revoked_at, ?2) WHERE grant_id = ?1",
                    vec![grant_id.into(), now.into()],
                ),
            ])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn request_revocation(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.directory()
            .sql
            .batch(vec![(
                "UPDATE user_grants SET revoke_requested_at = COALESCE(revoke_requested_at, ?2) \
                 WHERE grant_id = ?1 AND revoked_at IS NULL",
                vec![grant_id.into(), now.into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn request_revocations_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        // One statement: a grant indexed while the sweep runs is either in the list or not
        // marked, never marked and left out.
        let rows = self
            .directory()
            .sql
            .query(
                "UPDATE user_grants SET revoke_requested_at = COALESCE(revoke_requested_at, ?2) \
                 WHERE user_id = ?1 AND revoked_at IS NULL RETURNING grant_id",
                vec![user_id.into(), now.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(|r| s(r, "grant_id")).collect())
    }

    async fn unfinished_revocations(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT grant_id FROM user_grants \
                 WHERE revoke_requested_at IS NOT NULL AND revoked_at IS NULL \
                 ORDER BY revoke_requested_at LIMIT ?1",
                vec![i64::from(limit).into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(|r| s(r, "grant_id")).collect())
    }

    async fn holder_of_grant(
        &self,
        grant_id: &str,
        plan_roles: &str,
    ) -> Result<Option<GrantHolder>, StoreError> {
        let held = user_permission_ids("g.user_id", "?2", "?3");
        let rows = self
            .directory()
            .sql
            .query(
                &format!(
                    "SELECT u.id, u.email, u.name, u.password_hash, u.disabled, u.session_epoch, g.resource, \
                       (SELECT json_group_array(p.name) FROM permissions p JOIN api_resources r ON r.id = p.resource_id \
                        WHERE r.indicator = g.resource AND p.id IN ({held})) AS held \
                     FROM user_grants g JOIN users u ON u.id = g.user_id WHERE g.grant_id = ?1"
                ),
                vec![
                    grant_id.into(),
                    plan_roles.into(),
                    self.directory().now.saturating_sub(PERIOD_GRACE_SECS).into(),
                ],
            )
            .await
            .map_err(store_error)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let permissions: Vec<String> = match opt_s(row, "held") {
            Some(held) => serde_json::from_str(&held).map_err(|e| {
                StoreError::unavailable(format!("grant {grant_id}: held permissions: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(Some(GrantHolder {
            user: user(row),
            resource: opt_s(row, "resource"),
            permissions,
        }))
    }

    async fn api_keys_of(
        &self,
        user_id: &str,
        plugin: Option<&str>,
    ) -> Result<Vec<ApiKeySummary>, StoreError> {
        self.directory().own_api_keys(user_id, plugin).await
    }

    async fn revoke_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        plugin: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.directory()
            .revoke_own_api_key(user_id, key_id, plugin, now)
            .await
    }

    async fn create_own_api_key(
        &self,
        key: &OwnApiKey<'_>,
        limit: usize,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.directory().create_own_api_key(key, limit, now).await
    }

    async fn rename_api_key(
        &self,
        user_id: &str,
        plugin: &str,
        key_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.directory()
            .rename_own_api_key(user_id, plugin, key_id, name)
            .await
    }

    async fn rotate_api_key(
        &self,
        old_id: &str,
        new: &OwnApiKey<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.directory().rotate_own_api_key(old_id, new, now).await
    }
}
