//! The admin API under `/admin/api/`: users, API resources and their permissions, roles and their
//! assignments, OAuth clients and API keys, over D1 (through the [`Sql`] port).
//!
//! The handlers parse, validate, call the directory and render: the statements themselves are
//! in [`crate::directory::admin`], tested natively on SQLite with the real migrations.
//!
//! Every call needs `Authorization: Bearer <ADMIN_TOKEN>` (a Worker secret, compared in constant
//! time). Bad input is a 400 naming each field; a duplicate is a 409 naming the field; multi-row
//! changes go in one batch, which D1 runs atomically, so nothing is ever half-written. Secrets
//! (client secrets, API keys) are generated here, shown once in the creating response, and stored
//! only as SHA-256 digests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::directory::admin::{AdminDirectory, Page, Referenced, RoleHolder};
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, StoreError, Throttle};
use crate::quota::Quota;
use crate::routes::AdminRoute;
use crate::sql::{Row, Sql, SqlError};

mod api_keys;
mod clients;
mod resources;
mod roles;
mod routes;
mod usage_reports;
mod users;
pub mod validate;

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
    pub quota: Option<(&'a str, Quota)>,
    /// Whether `RSA_SIGNING_KEY` is configured: a resource may choose RS256 only then.
    pub rsa_signing: bool,
    /// The plugin (its `name_for_model`) whose usage and subscribers are shown.
    pub plugin: &'a str,
    /// The plugin's configuration, for its route table (`/admin/api/routes`).
    pub site: Option<&'a crate::config::PluginConfig>,
}

pub(crate) fn sql_error(e: SqlError) -> ApiError {
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

pub(crate) fn store_error(e: StoreError) -> ApiError {
    ApiError::from(e)
}

pub(crate) fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit_bytes: MAX_ADMIN_BODY_BYTES as u64,
        });
    }
    match crate::primitives::json::parse_unique(body) {
        Ok(Value::Object(map)) => Ok(map),
        Err(crate::primitives::json::JsonError::Duplicate(key)) => Err(ApiError::BadRequest(
            format!("the body names {key:?} more than once"),
        )),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
    }
}

pub(crate) fn ok(status: u16, value: Value) -> Result<Reply, ApiError> {
    Ok(Reply::json(status, &value).no_store())
}

pub(crate) fn int(row: &Row, key: &str) -> Value {
    match row.get(key) {
        Some(Value::Number(n)) => json!(n.as_f64().map(|f| f as i64)),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

pub(crate) fn flag(row: &Row, key: &str) -> Value {
    json!(matches!(row.get(key), Some(v) if v.as_f64() == Some(1.0) || v.as_bool() == Some(true)))
}

/// A column holding JSON text (an aggregate or a stored array), parsed; `[]` when empty.
pub(crate) fn json_column(row: &Row, key: &str) -> Value {
    row.get(key)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(json!([]))
}

pub(crate) fn text(row: &Row, key: &str) -> Value {
    row.get(key).cloned().unwrap_or(Value::Null)
}

/// The `limit` and `after` query parameters of a list call, and its `user_id` filter.
pub(crate) fn page(head: &RequestHead) -> Result<(Page, Option<String>), ApiError> {
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
    Ok((Page { after, limit }, filter))
}

/// What a request names by id, or a 404 when there is no such thing.
pub(crate) fn found<T>(lookup: Result<Option<T>, SqlError>) -> Result<T, ApiError> {
    lookup.map_err(sql_error)?.ok_or(ApiError::NotFound)
}

/// A 404 unless what a request names by id exists.
pub(crate) fn must_exist(lookup: Result<bool, SqlError>) -> Result<(), ApiError> {
    if lookup.map_err(sql_error)? {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// A 204 when there was something to delete, else a 404.
pub(crate) fn deleted(deletion: Result<bool, SqlError>) -> Result<Reply, ApiError> {
    if deletion.map_err(sql_error)? {
        Ok(Reply::new(204).no_store())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `{items, next_cursor}`: the cursor is the last id when the page was full.
pub(crate) fn listing(items: Vec<Value>, limit: i64) -> Result<Reply, ApiError> {
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
            ..Default::default()
        }))
    };
    let header = head
        .authorization()
        .map_err(|_| ApiError::BadRequest("send one Authorization header".into()))?
        .ok_or_else(challenge)?;
    // The admin token is the operator's own choice of characters: compared as sent, in
    // constant time.
    if header.is("bearer") && token.matches(header.credentials().trim()) {
        Ok(())
    } else {
        Err(challenge())
    }
}

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) fn random(&self, bytes: usize) -> Result<String, ApiError> {
        let mut buf = vec![0u8; bytes];
        self.backend.fill(&mut buf).map_err(store_error)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    pub(crate) fn new_id(&self, prefix: &str) -> Result<String, ApiError> {
        let mut buf = [0u8; 12];
        self.backend.fill(&mut buf).map_err(store_error)?;
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("{prefix}_{hex}"))
    }

    /// Where the admin API's statements are.
    pub(crate) fn directory(&self) -> AdminDirectory<'_, S> {
        AdminDirectory {
            sql: self.sql,
            now: self.now,
        }
    }

    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        crate::portal::password::hash_password(self.backend, password)
            .await
            .map_err(store_error)
    }

    /// Fails with a field error naming the first of `ids` that does not exist.
    pub(crate) async fn require_ids(
        &self,
        kind: Referenced,
        field: &str,
        ids: &[String],
    ) -> Result<(), ApiError> {
        let missing = self
            .directory()
            .first_missing(kind, ids)
            .await
            .map_err(sql_error)?;
        match missing {
            Some(id) => Err(ApiError::Validation(vec![(
                field.into(),
                format!("{id:?} does not exist"),
            )])),
            None => Ok(()),
        }
    }

    /// Serves one admin API request, routed by [`crate::routes::route`] (the caller has checked
    /// the admin credential; the method is checked here).
    pub async fn serve(
        &self,
        route: AdminRoute<'_>,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let method = head.method();
        route.check_method(&method)?;
        use AdminRoute as R;
        use Method::*;
        match (route, &method) {
            (R::Routes, _) => self.routes(),
            (R::Usage, _) => self.usage(head).await,
            (R::Subscribers, _) => self.subscribers().await,
            (R::Users, Get) => self.list_users(head).await,
            (R::Users, _) => self.create_user(body).await,
            (R::User(id), Get) => ok(200, self.user_json(id).await?),
            (R::User(id), Patch) => self.update_user(id, body).await,
            (R::User(id), _) => self.delete_user(id).await,
            (R::UserPassword(id), _) => self.set_password(id, body).await,
            (R::UserFactors(id), _) => deleted(self.directory().reset_factors(id).await),
            (R::UserRoles(id), _) => self.set_roles(RoleHolder::User, id, body).await,
            (R::UserQuota(id), _) => self.user_quota(id).await,
            (R::UserIdentities(id), Get) => self.user_identities(id).await,
            (R::UserIdentities(id), _) => self.link_user_identity(id, body).await,
            (R::UserIdentity(id, provider), _) => self.unlink_user_identity(id, provider).await,
            (R::Resources, Get) => self.list_resources(head).await,
            (R::Resources, _) => self.save_resource(None, body).await,
            (R::Resource(id), Get) => ok(200, self.resource_json(id).await?),
            (R::Resource(id), Patch) => self.save_resource(Some(id), body).await,
            (R::Resource(id), _) => deleted(self.directory().delete_resource(id).await),
            (R::ResourcePermissions(id), _) => self.add_permission(id, body).await,
            (R::ResourcePermission(id, name), _) => self.remove_permission(id, name).await,
            (R::Roles, Get) => self.list_roles(head).await,
            (R::Roles, _) => self.save_role(None, body).await,
            (R::Role(id), Get) => ok(200, self.role_json(id).await?),
            (R::Role(id), Patch) => self.save_role(Some(id), body).await,
            (R::Role(id), _) => deleted(self.directory().delete_role(id).await),
            (R::Clients, Get) => self.list_clients(head).await,
            (R::Clients, _) => self.save_client(None, body).await,
            (R::Client(id), Get) => ok(200, self.client_json(id).await?),
            (R::Client(id), Patch) => self.save_client(Some(id), body).await,
            (R::Client(id), _) => deleted(self.directory().delete_client(id).await),
            (R::ClientRoles(id), _) => self.set_roles(RoleHolder::Client, id, body).await,
            (R::ClientSecret(id), _) => self.rotate_client_secret(id).await,
            (R::ApiKeys, Get) => self.list_api_keys(head).await,
            (R::ApiKeys, _) => self.create_api_key(body).await,
            (R::ApiKey(id), _) => self.revoke_api_key(id).await,
            // Served by the portal, which mails them (`portal::invitations`, from `app`).
            (R::Invitations | R::Invitation(_), _) | (R::Unknown, _) => Err(ApiError::NotFound),
        }
    }
}
