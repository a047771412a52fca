//! The admin API under `/admin/api/`: users, API resources and their permissions, roles and their
//! assignments, OAuth clients and API keys, over D1 (through the [`Sql`] port).
//!
//! Every call needs `Authorization: Bearer <ADMIN_TOKEN>` (a Worker secret, compared in constant
//! time). Bad input is a 400 naming each field; a duplicate is a 409 naming the field; multi-row
//! changes go in one batch, which D1 runs atomically, so nothing is ever half-written. Secrets
//! (client secrets, API keys) are generated here, shown once in the creating response, and stored
//! only as SHA-256 digests.

pub mod validate;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::config::QuotaConfig;
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::portal::password::{format_password_hash, PBKDF2_ITERATIONS, SALT_BYTES};
use crate::ports::{GrantStore, PasswordHasher, Rng, StoreError, Throttle};
use crate::primitives::hash::sha256_hex;
use crate::sql::{Row, Sql, SqlError, SqlValue, Statement};
use validate::Fields;

/// Largest admin request body.
pub const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;
/// Page size bounds for list endpoints.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// One admin request's context.
pub struct Admin<'a, S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> {
    pub sql: &'a S,
    pub backend: &'a B,
    pub now: i64,
    /// The plugin's quota, and its name for counter keys, when one is configured.
    pub quota: Option<(&'a str, QuotaConfig)>,
    /// Whether `RSA_SIGNING_KEY` is configured: a resource may choose RS256 only then.
    pub rsa_signing: bool,
}

fn sql_error(e: SqlError) -> ApiError {
    match e {
        SqlError::Unique(target) => {
            let field = match target.as_str() {
                "users.email" => "email",
                "api_resources.indicator" => "indicator",
                "roles.name" => "name",
                "permissions.resource_id" | "permissions.id" => "name",
                _ => "id",
            };
            ApiError::Conflict {
                field: field.into(),
                message: "is already taken".into(),
            }
        }
        SqlError::ForeignKey => ApiError::Validation(vec![(
            "id".into(),
            "refers to something that does not exist".into(),
        )]),
        SqlError::Other(m) => ApiError::Unavailable(format!("D1: {m}")),
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Unavailable(e.0)
}

fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit_bytes: MAX_ADMIN_BODY_BYTES as u64,
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
    }
}

fn ok(status: u16, value: Value) -> Result<Reply, ApiError> {
    Ok(Reply::json(status, &value).no_store())
}

fn int(row: &Row, key: &str) -> Value {
    match row.get(key) {
        Some(Value::Number(n)) => json!(n.as_f64().map(|f| f as i64)),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn flag(row: &Row, key: &str) -> Value {
    json!(matches!(row.get(key), Some(v) if v.as_f64() == Some(1.0) || v.as_bool() == Some(true)))
}

/// A column holding JSON text (an aggregate or a stored array), parsed; `[]` when empty.
/// The client columns the admin API shows.
const CLIENT_COLUMNS: &str = "id, name, kind, redirect_uris, first_party, may_introspect, registered_via, created_at, secret_hash IS NOT NULL AS has_secret, jwks_uri, jwks, \
    (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
     FROM client_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.client_id = oauth_clients.id) AS roles";

/// Who holds roles: users, and machine clients (the `client_credentials` grant).
#[derive(Clone, Copy)]
enum RoleHolder {
    User,
    Client,
}

impl RoleHolder {
    fn exists(self) -> &'static str {
        match self {
            RoleHolder::User => "SELECT id FROM users WHERE id = ?1",
            RoleHolder::Client => "SELECT id FROM oauth_clients WHERE id = ?1",
        }
    }

    fn roles(self) -> &'static str {
        match self {
            RoleHolder::User => "SELECT r.id, r.name FROM user_roles h JOIN roles r ON r.id = h.role_id WHERE h.user_id = ?1 ORDER BY r.name",
            RoleHolder::Client => "SELECT r.id, r.name FROM client_roles h JOIN roles r ON r.id = h.role_id WHERE h.client_id = ?1 ORDER BY r.name",
        }
    }

    fn clear(self) -> &'static str {
        match self {
            RoleHolder::User => "DELETE FROM user_roles WHERE user_id = ?1",
            RoleHolder::Client => "DELETE FROM client_roles WHERE client_id = ?1",
        }
    }

    fn assign(self) -> &'static str {
        match self {
            RoleHolder::User => "INSERT INTO user_roles (user_id, role_id) VALUES (?1, ?2)",
            RoleHolder::Client => "INSERT INTO client_roles (client_id, role_id) VALUES (?1, ?2)",
        }
    }

    /// The statements that give `id` exactly `roles`.
    fn assignments(self, id: &str, roles: &[String]) -> Vec<Statement> {
        roles
            .iter()
            .map(|role| (self.assign(), vec![id.into(), role.as_str().into()]))
            .collect()
    }
}

/// A client as the admin API shows it (never its secret).
fn client_row_json(row: &Row) -> Value {
    json!({
        "id": text(row, "id"),
        "name": text(row, "name"),
        "kind": text(row, "kind"),
        "redirect_uris": json_column(row, "redirect_uris"),
        "first_party": flag(row, "first_party"),
        "may_introspect": flag(row, "may_introspect"),
        "registered_via": text(row, "registered_via"),
        "created_at": int(row, "created_at"),
        "token_endpoint_auth_method": client_auth_method(row),
        "roles": json_column(row, "roles"),
        "jwks_uri": text(row, "jwks_uri"),
        "jwks": row
            .get("jwks")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null),
    })
}

/// How a stored client authenticates at the token endpoint.
fn client_auth_method(row: &Row) -> &'static str {
    let present = |key: &str| row.get(key).is_some_and(|v| !v.is_null());
    if present("jwks_uri") || present("jwks") {
        "private_key_jwt"
    } else if row.get("has_secret").and_then(Value::as_f64) == Some(1.0) {
        "client_secret_basic"
    } else {
        "none"
    }
}

fn json_column(row: &Row, key: &str) -> Value {
    row.get(key)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(json!([]))
}

fn text(row: &Row, key: &str) -> Value {
    row.get(key).cloned().unwrap_or(Value::Null)
}

/// The `limit` and `after` query parameters of a list call.
fn page(head: &RequestHead) -> Result<(i64, String, Option<String>), ApiError> {
    let params = crate::oauth::params::Params::from_urlencoded(head.query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(e.description()))?;
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::Validation(vec![(
                    "limit".into(),
                    format!("must be from 1 to {MAX_PAGE}"),
                )])
            })?,
    };
    let after = params.get("after").unwrap_or("").to_string();
    let filter = params.get("user_id").map(str::to_string);
    Ok((limit, after, filter))
}

/// `{items, next_cursor}`: the cursor is the last id when the page was full.
fn listing(items: Vec<Value>, limit: i64) -> Result<Reply, ApiError> {
    let next = if items.len() as i64 == limit {
        items
            .last()
            .and_then(|i| i.get("id"))
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    ok(200, json!({ "items": items, "next_cursor": next }))
}

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    fn random(&self, bytes: usize) -> Result<String, ApiError> {
        let mut buf = vec![0u8; bytes];
        self.backend.fill(&mut buf).map_err(store_error)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    fn new_id(&self, prefix: &str) -> Result<String, ApiError> {
        let mut buf = [0u8; 12];
        self.backend.fill(&mut buf).map_err(store_error)?;
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("{prefix}_{hex}"))
    }

    async fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Row>, ApiError> {
        self.sql.query(sql, args).await.map_err(sql_error)
    }

    async fn one(&self, sql: &str, args: Vec<SqlValue>) -> Result<Row, ApiError> {
        self.query(sql, args)
            .await?
            .into_iter()
            .next()
            .ok_or(ApiError::NotFound)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, ApiError> {
        self.sql.batch(statements).await.map_err(sql_error)
    }

    async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        let mut salt = [0u8; SALT_BYTES];
        self.backend.fill(&mut salt).map_err(store_error)?;
        let hash = self
            .backend
            .pbkdf2_sha256(password, &salt, PBKDF2_ITERATIONS)
            .await
            .map_err(store_error)?;
        Ok(format_password_hash(PBKDF2_ITERATIONS, &salt, &hash))
    }

    /// Fails with a field error unless every id exists in `table`.
    async fn require_ids(
        &self,
        table: &'static str,
        field: &str,
        ids: &[String],
    ) -> Result<(), ApiError> {
        for id in ids {
            let sql = match table {
                "roles" => "SELECT id FROM roles WHERE id = ?1",
                "permissions" => "SELECT id FROM permissions WHERE id = ?1",
                _ => "SELECT id FROM users WHERE id = ?1",
            };
            if self.query(sql, vec![id.as_str().into()]).await?.is_empty() {
                return Err(ApiError::Validation(vec![(
                    field.into(),
                    format!("{id:?} does not exist"),
                )]));
            }
        }
        Ok(())
    }

    // ----- users ----------------------------------------------------------------------------

    async fn user_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, email, name, disabled, password_hash IS NOT NULL AS has_password, created_at, updated_at FROM users WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let roles = self.roles_of(RoleHolder::User, id).await?;
        Ok(json!({
            "id": text(&row, "id"),
            "email": text(&row, "email"),
            "name": text(&row, "name"),
            "disabled": flag(&row, "disabled"),
            "has_password": flag(&row, "has_password"),
            "roles": roles,
            "created_at": int(&row, "created_at"),
            "updated_at": int(&row, "updated_at"),
        }))
    }

    async fn create_user(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", true, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200).unwrap_or_default();
        let password = match body.get("password") {
            Some(Value::String(p)) => Some(p.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                f.error("password", "must be a string");
                None
            }
        };
        f.password("password", password.as_deref(), email.as_deref());
        let disabled = f.boolean(&body, "disabled").unwrap_or(false);
        let roles = f.strings(&body, "roles", 100, 100).unwrap_or_default();
        f.finish()?;
        let email = email.unwrap_or_default();
        self.require_ids("roles", "roles", &roles).await?;
        let hash = match &password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let id = self.new_id("usr")?;
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO users (id, email, name, password_hash, disabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            vec![id.as_str().into(), email.into(), name.into(), hash.into(), disabled.into(), self.now.into()],
        )];
        statements.extend(RoleHolder::User.assignments(&id, &roles));
        self.batch(statements).await?;
        ok(201, self.user_json(&id).await?)
    }

    async fn update_user(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", false, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200);
        let disabled = f.boolean(&body, "disabled");
        f.finish()?;
        self.batch(vec![(
            // Disabling also signs the user out of every portal session.
            "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name), disabled = COALESCE(?4, disabled), \
             session_epoch = session_epoch + (CASE WHEN ?4 = 1 THEN 1 ELSE 0 END), updated_at = ?5 WHERE id = ?1",
            vec![id.into(), email.into(), name.into(), disabled.into(), self.now.into()],
        )])
        .await?;
        if disabled == Some(true) {
            self.revoke_user_grants(id).await?;
        }
        ok(200, self.user_json(id).await?)
    }

    /// Revokes every grant the user still holds: a disabled or deleted user's apps lose access
    /// at once (their refresh tokens stop working; access tokens end with their lifetime).
    async fn revoke_user_grants(&self, user_id: &str) -> Result<usize, ApiError> {
        let rows = self
            .query(
                "SELECT grant_id FROM user_grants WHERE user_id = ?1 AND revoked_at IS NULL",
                vec![user_id.into()],
            )
            .await?;
        for row in &rows {
            if let Some(grant_id) = row.get("grant_id").and_then(Value::as_str) {
                self.backend
                    .revoke_grant(grant_id)
                    .await
                    .map_err(store_error)?;
            }
        }
        self.batch(vec![(
            "UPDATE user_grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            vec![user_id.into(), self.now.into()],
        )])
        .await?;
        Ok(rows.len())
    }

    /// The user's quota in the current window, without counting anything.
    async fn user_quota(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let Some((plugin, quota)) = self.quota else {
            return ok(200, json!({ "quota": null }));
        };
        let key = crate::quota::counter_key(plugin, id);
        let d = self
            .backend
            .peek(&key, quota.limit, quota.period_secs, self.now as u64)
            .await
            .map_err(store_error)?;
        ok(
            200,
            json!({
                "quota": {
                    "limit": quota.limit,
                    "period_secs": quota.period_secs,
                    "used": quota.limit - d.remaining,
                    "remaining": d.remaining,
                    "reset_secs": d.reset_secs,
                }
            }),
        )
    }

    async fn delete_user(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        self.revoke_user_grants(id).await?;
        self.delete("DELETE FROM users WHERE id = ?1", id).await
    }

    async fn set_password(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let user = self
            .one("SELECT email FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let mut f = Fields::default();
        let password = f.text(&body, "password", true, MAX_ADMIN_BODY_BYTES);
        f.password(
            "password",
            password.as_deref(),
            user.get("email").and_then(Value::as_str),
        );
        f.finish()?;
        let hash = self.hash_password(&password.unwrap_or_default()).await?;
        self.batch(vec![(
            // A new password signs the user out of every portal session.
            "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + 1, updated_at = ?3 WHERE id = ?1",
            vec![id.into(), hash.into(), self.now.into()],
        )])
        .await?;
        ok(200, self.user_json(id).await?)
    }

    /// `PUT …/roles`: the holder's roles become exactly the ones listed, in one batch.
    async fn set_roles(
        &self,
        holder: RoleHolder,
        id: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        self.one(holder.exists(), vec![id.into()]).await?;
        let mut f = Fields::default();
        let roles = f.strings(&body, "roles", 100, 100);
        if !body.contains_key("roles") {
            f.error("roles", "is required");
        }
        f.finish()?;
        let roles = roles.unwrap_or_default();
        self.require_ids("roles", "roles", &roles).await?;
        let mut statements: Vec<Statement> = vec![(holder.clear(), vec![id.into()])];
        statements.extend(holder.assignments(id, &roles));
        self.batch(statements).await?;
        ok(
            200,
            match holder {
                RoleHolder::User => self.user_json(id).await?,
                RoleHolder::Client => self.client_json(id).await?,
            },
        )
    }

    async fn roles_of(&self, holder: RoleHolder, id: &str) -> Result<Vec<Value>, ApiError> {
        Ok(self
            .query(holder.roles(), vec![id.into()])
            .await?
            .iter()
            .map(|r| json!({ "id": text(r, "id"), "name": text(r, "name") }))
            .collect())
    }

    async fn list_users(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        // One query per page: each user's roles come aggregated as JSON.
        let rows = self
            .query(
                "SELECT u.id, u.email, u.name, u.disabled, u.created_at, \
                   (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
                    FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id) AS roles \
                 FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": text(r, "id"),
                    "email": text(r, "email"),
                    "name": text(r, "name"),
                    "disabled": flag(r, "disabled"),
                    "roles": json_column(r, "roles"),
                    "created_at": int(r, "created_at"),
                })
            })
            .collect();
        listing(items, limit)
    }

    // ----- resources and permissions ------------------------------------------------------------

    async fn resource_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at FROM api_resources WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let permissions: Vec<Value> = self
            .query(
                "SELECT id, name, description FROM permissions WHERE resource_id = ?1 ORDER BY name",
                vec![id.into()],
            )
            .await?
            .iter()
            .map(|p| json!({ "id": text(p, "id"), "name": text(p, "name"), "description": text(p, "description") }))
            .collect();
        Ok(Self::resource_row_json(&row, Value::Array(permissions)))
    }

    /// A resource as the API shows it, from its row and its permissions.
    fn resource_row_json(row: &Row, permissions: Value) -> Value {
        json!({
            "id": text(row, "id"),
            "indicator": text(row, "indicator"),
            "name": text(row, "name"),
            "default": flag(row, "is_default"),
            "access_token_ttl_secs": int(row, "access_token_ttl_secs"),
            "access_token_alg": text(row, "access_token_alg"),
            "permissions": permissions,
            "created_at": int(row, "created_at"),
        })
    }

    async fn save_resource(&self, id: Option<&str>, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let creating = id.is_none();
        if let Some(id) = id {
            self.one(
                "SELECT id FROM api_resources WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        }
        let mut f = Fields::default();
        let indicator = f.text(&body, "indicator", creating, 2048);
        f.indicator("indicator", indicator.as_deref());
        let name = f.text(&body, "name", creating, 200);
        let default = f.boolean(&body, "default");
        let ttl = f.integer(&body, "access_token_ttl_secs", 60, 86_400);
        let alg = f.signing_alg(&body, "access_token_alg", self.rsa_signing);
        f.finish()?;
        let id = match id {
            Some(id) => id.to_string(),
            None => self.new_id("res")?,
        };
        let mut statements: Vec<Statement> = Vec::new();
        if default == Some(true) {
            // At most one default resource: the previous one steps down in the same batch.
            statements.push((
                "UPDATE api_resources SET is_default = 0 WHERE is_default = 1 AND id != ?1",
                vec![id.as_str().into()],
            ));
        }
        if creating {
            statements.push((
                "INSERT INTO api_resources (id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    id.as_str().into(),
                    indicator.into(),
                    name.into(),
                    default.unwrap_or(false).into(),
                    ttl.unwrap_or(3600).into(),
                    alg.unwrap_or_default().as_str().into(),
                    self.now.into(),
                ],
            ));
        } else {
            statements.push((
                "UPDATE api_resources SET indicator = COALESCE(?2, indicator), name = COALESCE(?3, name), is_default = COALESCE(?4, is_default), access_token_ttl_secs = COALESCE(?5, access_token_ttl_secs), access_token_alg = COALESCE(?6, access_token_alg) WHERE id = ?1",
                vec![
                    id.as_str().into(),
                    indicator.into(),
                    name.into(),
                    default.into(),
                    ttl.into(),
                    alg.map(|a| a.as_str()).into(),
                ],
            ));
        }
        self.batch(statements).await?;
        ok(
            if creating { 201 } else { 200 },
            self.resource_json(&id).await?,
        )
    }

    async fn add_permission(&self, resource_id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        self.one(
            "SELECT id FROM api_resources WHERE id = ?1",
            vec![resource_id.into()],
        )
        .await?;
        let mut f = Fields::default();
        let name = f.text(&body, "name", true, 100);
        f.scope_token("name", name.as_deref());
        let description = f.text(&body, "description", false, 500).unwrap_or_default();
        f.finish()?;
        let name = name.unwrap_or_default();
        let id = format!("{resource_id}:{name}");
        self.batch(vec![(
            "INSERT INTO permissions (id, resource_id, name, description) VALUES (?1, ?2, ?3, ?4)",
            vec![
                id.as_str().into(),
                resource_id.into(),
                name.into(),
                description.into(),
            ],
        )])
        .await?;
        ok(201, self.resource_json(resource_id).await?)
    }

    async fn remove_permission(&self, resource_id: &str, name: &str) -> Result<Reply, ApiError> {
        let changed = self
            .batch(vec![(
                "DELETE FROM permissions WHERE resource_id = ?1 AND name = ?2",
                vec![resource_id.into(), name.into()],
            )])
            .await?;
        if changed.first() == Some(&0) {
            return Err(ApiError::NotFound);
        }
        ok(200, self.resource_json(resource_id).await?)
    }

    async fn list_resources(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        let rows = self
            .query(
                "SELECT r.id, r.indicator, r.name, r.is_default, r.access_token_ttl_secs, r.access_token_alg, r.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'description', p.description)) \
                    FROM permissions p WHERE p.resource_id = r.id) AS permissions \
                 FROM api_resources r WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| Self::resource_row_json(r, json_column(r, "permissions")))
            .collect();
        listing(items, limit)
    }

    // ----- roles --------------------------------------------------------------------------------

    async fn role_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, name, description, created_at FROM roles WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let permissions: Vec<Value> = self
            .query(
                "SELECT p.id, p.name, r.indicator FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ?1 ORDER BY r.indicator, p.name",
                vec![id.into()],
            )
            .await?
            .iter()
            .map(|p| json!({ "id": text(p, "id"), "name": text(p, "name"), "resource": text(p, "indicator") }))
            .collect();
        Ok(json!({
            "id": text(&row, "id"),
            "name": text(&row, "name"),
            "description": text(&row, "description"),
            "permissions": permissions,
            "created_at": int(&row, "created_at"),
        }))
    }

    async fn save_role(&self, id: Option<&str>, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let creating = id.is_none();
        if let Some(id) = id {
            self.one("SELECT id FROM roles WHERE id = ?1", vec![id.into()])
                .await?;
        }
        let mut f = Fields::default();
        let name = f.text(&body, "name", creating, 100);
        let description = f.text(&body, "description", false, 500);
        let permissions = f.strings(&body, "permissions", 500, 300);
        f.finish()?;
        if let Some(p) = &permissions {
            self.require_ids("permissions", "permissions", p).await?;
        }
        let id = match id {
            Some(id) => id.to_string(),
            None => self.new_id("rol")?,
        };
        let mut statements: Vec<Statement> = vec![if creating {
            (
                "INSERT INTO roles (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
                vec![
                    id.as_str().into(),
                    name.into(),
                    description.unwrap_or_default().into(),
                    self.now.into(),
                ],
            )
        } else {
            (
                "UPDATE roles SET name = COALESCE(?2, name), description = COALESCE(?3, description) WHERE id = ?1",
                vec![id.as_str().into(), name.into(), description.into()],
            )
        }];
        if let Some(permissions) = &permissions {
            statements.push((
                "DELETE FROM role_permissions WHERE role_id = ?1",
                vec![id.as_str().into()],
            ));
            for p in permissions {
                statements.push((
                    "INSERT INTO role_permissions (role_id, permission_id) VALUES (?1, ?2)",
                    vec![id.as_str().into(), p.as_str().into()],
                ));
            }
        }
        self.batch(statements).await?;
        ok(if creating { 201 } else { 200 }, self.role_json(&id).await?)
    }

    async fn list_roles(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        let rows = self
            .query(
                "SELECT ro.id, ro.name, ro.description, ro.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'resource', r.indicator)) \
                    FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id \
                    JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ro.id) AS permissions \
                 FROM roles ro WHERE ro.id > ?1 ORDER BY ro.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": text(r, "id"),
                    "name": text(r, "name"),
                    "description": text(r, "description"),
                    "permissions": json_column(r, "permissions"),
                    "created_at": int(r, "created_at"),
                })
            })
            .collect();
        listing(items, limit)
    }

    // ----- clients ------------------------------------------------------------------------------

    async fn client_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1"),
                vec![id.into()],
            )
            .await?;
        Ok(client_row_json(&row))
    }

    fn new_client_secret(&self) -> Result<String, ApiError> {
        Ok(format!("pcs_{}", self.random(24)?))
    }

    async fn save_client(&self, id: Option<&str>, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let creating = id.is_none();
        if let Some(id) = id {
            self.one(
                "SELECT id FROM oauth_clients WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        }
        let mut f = Fields::default();
        let name = f.text(&body, "name", creating, 200);
        let kind = if creating {
            let kind = f.text(&body, "kind", true, 20);
            if kind
                .as_deref()
                .is_some_and(|k| k != "confidential" && k != "public")
            {
                f.error("kind", "must be \"confidential\" or \"public\"");
            }
            kind
        } else {
            if body.contains_key("kind") {
                f.error("kind", "cannot change: create a new client instead");
            }
            None
        };
        let redirect_uris = f
            .strings(&body, "redirect_uris", 20, 2000)
            .map(crate::oauth::client::with_chatgpt_twins);
        // A confidential client may be a machine only (client_credentials), with no redirect URI.
        let confidential = kind.as_deref() == Some("confidential");
        if creating && !confidential && redirect_uris.as_ref().is_none_or(|u| u.is_empty()) {
            f.error("redirect_uris", "a public client needs at least one URI");
        }
        f.redirect_uris("redirect_uris", redirect_uris.as_deref());
        let first_party = f.boolean(&body, "first_party");
        let may_introspect = f.boolean(&body, "may_introspect");
        // private_key_jwt (RFC 7523): a confidential client with keys instead of a secret.
        let key_set = f.client_keys(&body);
        if creating && key_set.is_some() && !confidential {
            f.error("kind", "a client with jwks_uri or jwks is confidential");
        }
        let roles = if creating {
            f.strings(&body, "roles", 100, 100).unwrap_or_default()
        } else {
            if body.contains_key("roles") {
                f.error("roles", "set them with PUT /admin/api/clients/{id}/roles");
            }
            Vec::new()
        };
        if !roles.is_empty() && !confidential {
            f.error("roles", "only a confidential client can act for itself");
        }
        f.finish()?;
        self.require_ids("roles", "roles", &roles).await?;
        let uris_json = redirect_uris.map(|u| serde_json::to_string(&u).unwrap_or_default());
        let (jwks_uri, jwks) = crate::directory::key_set_columns(&key_set);
        if creating {
            let id = self.new_id("cli")?;
            let secret = if confidential && key_set.is_none() {
                Some(self.new_client_secret()?)
            } else {
                None
            };
            let mut statements: Vec<Statement> = vec![(
                "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, kind, first_party, created_at, may_introspect, jwks_uri, jwks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                vec![
                    id.as_str().into(),
                    name.into(),
                    secret.as_deref().map(sha256_hex).into(),
                    uris_json.clone().unwrap_or_else(|| "[]".into()).into(),
                    kind.into(),
                    first_party.unwrap_or(false).into(),
                    self.now.into(),
                    may_introspect.unwrap_or(false).into(),
                    jwks_uri,
                    jwks,
                ],
            )];
            statements.extend(RoleHolder::Client.assignments(&id, &roles));
            self.batch(statements).await?;
            let mut out = self.client_json(&id).await?;
            if let Some(secret) = secret {
                out["client_secret"] = json!(secret);
            }
            return ok(201, out);
        }
        let id = id.unwrap_or_default();
        let mut statements: Vec<Statement> = vec![(
            "UPDATE oauth_clients SET name = COALESCE(?2, name), redirect_uris = COALESCE(?3, redirect_uris), first_party = COALESCE(?4, first_party), may_introspect = COALESCE(?5, may_introspect) WHERE id = ?1",
            vec![id.into(), name.into(), uris_json.into(), first_party.into(), may_introspect.into()],
        )];
        let new_keys = key_set.is_some();
        if new_keys {
            // New keys replace old ones; a client with a secret keeps authenticating with it.
            statements.push((
                "UPDATE oauth_clients SET jwks_uri = ?2, jwks = ?3 WHERE id = ?1 AND secret_hash IS NULL AND kind = 'confidential'",
                vec![id.into(), jwks_uri, jwks],
            ));
        }
        let changed = self.batch(statements).await?;
        if new_keys && changed.get(1).copied().unwrap_or(0) == 0 {
            return Err(ApiError::Validation(vec![(
                "jwks".into(),
                "only a client that authenticates with keys can change them; create a new client instead".into(),
            )]));
        }
        ok(200, self.client_json(id).await?)
    }

    async fn rotate_client_secret(&self, id: &str) -> Result<Reply, ApiError> {
        let row = self
            .one(
                "SELECT kind, jwks_uri, jwks, secret_hash IS NOT NULL AS has_secret FROM oauth_clients WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        if client_auth_method(&row) != "client_secret_basic" {
            return Err(ApiError::Validation(vec![(
                "kind".into(),
                "only a client that authenticates with a secret has one to rotate".into(),
            )]));
        }
        let secret = self.new_client_secret()?;
        self.batch(vec![(
            "UPDATE oauth_clients SET secret_hash = ?2 WHERE id = ?1",
            vec![id.into(), sha256_hex(&secret).into()],
        )])
        .await?;
        let mut out = self.client_json(id).await?;
        out["client_secret"] = json!(secret);
        ok(200, out)
    }

    async fn list_clients(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        let rows = self
            .query(
                &format!(
                    "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id > ?1 ORDER BY id LIMIT ?2"
                ),
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows.iter().map(client_row_json).collect();
        listing(items, limit)
    }

    // ----- API keys -----------------------------------------------------------------------------

    fn key_json(row: &Row) -> Value {
        json!({
            "id": text(row, "id"),
            "prefix": text(row, "prefix"),
            "user_id": text(row, "user_id"),
            "name": text(row, "name"),
            "scopes": text(row, "scopes"),
            "created_at": int(row, "created_at"),
            "last_used_at": int(row, "last_used_at"),
            "revoked_at": int(row, "revoked_at"),
        })
    }

    async fn create_api_key(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let user_id = f.text(&body, "user_id", true, 100);
        let name = f.text(&body, "name", false, 200).unwrap_or_default();
        let scopes = f.text(&body, "scopes", false, 2000).unwrap_or_default();
        for s in scopes.split(' ').filter(|s| !s.is_empty()) {
            f.scope_token("scopes", Some(s));
        }
        f.finish()?;
        let user_id = user_id.unwrap_or_default();
        self.require_ids("users", "user_id", std::slice::from_ref(&user_id))
            .await?;
        let id = self.new_id("key")?;
        let key = format!("pk_{}", self.random(32)?);
        let prefix: String = key.chars().take(12).collect();
        self.batch(vec![(
            "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                id.as_str().into(),
                prefix.into(),
                sha256_hex(&key).into(),
                user_id.into(),
                name.into(),
                scopes.into(),
                self.now.into(),
            ],
        )])
        .await?;
        let row = self
            .one(
                "SELECT * FROM api_keys WHERE id = ?1",
                vec![id.as_str().into()],
            )
            .await?;
        let mut out = Self::key_json(&row);
        out["key"] = json!(key);
        ok(201, out)
    }

    async fn revoke_api_key(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM api_keys WHERE id = ?1", vec![id.into()])
            .await?;
        self.batch(vec![(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            vec![id.into(), self.now.into()],
        )])
        .await?;
        let row = self
            .one("SELECT * FROM api_keys WHERE id = ?1", vec![id.into()])
            .await?;
        ok(200, Self::key_json(&row))
    }

    async fn list_api_keys(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, user) = page(head)?;
        let rows = self
            .query(
                "SELECT * FROM api_keys WHERE id > ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY id LIMIT ?3",
                vec![after.into(), user.into(), limit.into()],
            )
            .await?;
        listing(rows.iter().map(Self::key_json).collect(), limit)
    }

    // ----- routing ------------------------------------------------------------------------------

    async fn delete(&self, sql: &'static str, id: &str) -> Result<Reply, ApiError> {
        let changed = self.batch(vec![(sql, vec![id.into()])]).await?;
        if changed.first() == Some(&0) {
            return Err(ApiError::NotFound);
        }
        Ok(Reply::new(204).no_store())
    }

    /// Serves one admin API request (the caller has checked the admin credential).
    pub async fn handle(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let rest = head
            .path
            .strip_prefix(crate::routes::ADMIN_API_PREFIX)
            .ok_or(ApiError::NotFound)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let method = head.method();
        let not_allowed = |allow: &[&str]| ApiError::MethodNotAllowed {
            allow: allow.iter().map(|m| m.to_string()).collect(),
        };
        use Method::*;
        match (parts.as_slice(), &method) {
            (["users"], Get) => self.list_users(head).await,
            (["users"], Post) => self.create_user(body).await,
            (["users"], _) => Err(not_allowed(&["GET", "POST"])),
            (["users", id], Get) => ok(200, self.user_json(id).await?),
            (["users", id], Patch) => self.update_user(id, body).await,
            (["users", id], Delete) => self.delete_user(id).await,
            (["users", _], _) => Err(not_allowed(&["GET", "PATCH", "DELETE"])),
            (["users", id, "password"], Put) => self.set_password(id, body).await,
            (["users", _, "password"], _) => Err(not_allowed(&["PUT"])),
            (["users", id, "roles"], Put) => self.set_roles(RoleHolder::User, id, body).await,
            (["users", _, "roles"], _) => Err(not_allowed(&["PUT"])),
            (["users", id, "quota"], Get) => self.user_quota(id).await,
            (["users", _, "quota"], _) => Err(not_allowed(&["GET"])),
            (["resources"], Get) => self.list_resources(head).await,
            (["resources"], Post) => self.save_resource(None, body).await,
            (["resources"], _) => Err(not_allowed(&["GET", "POST"])),
            (["resources", id], Get) => ok(200, self.resource_json(id).await?),
            (["resources", id], Patch) => self.save_resource(Some(id), body).await,
            (["resources", id], Delete) => {
                self.delete("DELETE FROM api_resources WHERE id = ?1", id)
                    .await
            }
            (["resources", _], _) => Err(not_allowed(&["GET", "PATCH", "DELETE"])),
            (["resources", id, "permissions"], Post) => self.add_permission(id, body).await,
            (["resources", _, "permissions"], _) => Err(not_allowed(&["POST"])),
            (["resources", id, "permissions", name], Delete) => {
                self.remove_permission(id, name).await
            }
            (["resources", _, "permissions", _], _) => Err(not_allowed(&["DELETE"])),
            (["roles"], Get) => self.list_roles(head).await,
            (["roles"], Post) => self.save_role(None, body).await,
            (["roles"], _) => Err(not_allowed(&["GET", "POST"])),
            (["roles", id], Get) => ok(200, self.role_json(id).await?),
            (["roles", id], Patch) => self.save_role(Some(id), body).await,
            (["roles", id], Delete) => self.delete("DELETE FROM roles WHERE id = ?1", id).await,
            (["roles", _], _) => Err(not_allowed(&["GET", "PATCH", "DELETE"])),
            (["clients"], Get) => self.list_clients(head).await,
            (["clients"], Post) => self.save_client(None, body).await,
            (["clients"], _) => Err(not_allowed(&["GET", "POST"])),
            (["clients", id], Get) => ok(200, self.client_json(id).await?),
            (["clients", id], Patch) => self.save_client(Some(id), body).await,
            (["clients", id], Delete) => {
                self.delete("DELETE FROM oauth_clients WHERE id = ?1", id)
                    .await
            }
            (["clients", _], _) => Err(not_allowed(&["GET", "PATCH", "DELETE"])),
            (["clients", id, "roles"], Put) => self.set_roles(RoleHolder::Client, id, body).await,
            (["clients", _, "roles"], _) => Err(not_allowed(&["PUT"])),
            (["clients", id, "secret"], Post) => self.rotate_client_secret(id).await,
            (["clients", _, "secret"], _) => Err(not_allowed(&["POST"])),
            (["api-keys"], Get) => self.list_api_keys(head).await,
            (["api-keys"], Post) => self.create_api_key(body).await,
            (["api-keys"], _) => Err(not_allowed(&["GET", "POST"])),
            (["api-keys", id], Delete) => self.revoke_api_key(id).await,
            (["api-keys", _], _) => Err(not_allowed(&["DELETE"])),
            _ => Err(ApiError::NotFound),
        }
    }
}

/// Checks the admin credential: `Authorization: Bearer <ADMIN_TOKEN>`, in constant time.
pub fn authorize_admin(
    head: &RequestHead,
    token: &crate::primitives::secret::Secret,
) -> Result<(), ApiError> {
    let challenge = || {
        ApiError::Unauthorized(Box::new(crate::error::Challenge {
            scheme: "Bearer",
            realm: "admin".into(),
            resource_metadata: None,
            error: None,
            error_description: None,
            scope: None,
        }))
    };
    let value = head
        .single_header("authorization")
        .map_err(|_| ApiError::BadRequest("send one Authorization header".into()))?
        .ok_or_else(challenge)?;
    match value.split_once(' ') {
        Some((scheme, given))
            if scheme.eq_ignore_ascii_case("bearer") && token.matches(given.trim()) =>
        {
            Ok(())
        }
        _ => Err(challenge()),
    }
}
