//! `/admin/api/clients`: OAuth clients, their secrets or keys, and what they show.

use super::validate::Fields;
use serde_json::{json, Value};

use super::roles::RoleHolder;
use super::{flag, int, json_body, json_column, listing, ok, page, text, Admin};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::primitives::hash::sha256_hex;
use crate::sql::{Row, Sql, Statement};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn client_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1"),
                vec![id.into()],
            )
            .await?;
        Ok(client_row_json(&row))
    }

    pub(crate) fn new_client_secret(&self) -> Result<String, ApiError> {
        Ok(format!("pcs_{}", self.random(24)?))
    }

    pub(crate) async fn save_client(
        &self,
        id: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
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

    pub(crate) async fn rotate_client_secret(&self, id: &str) -> Result<Reply, ApiError> {
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

    pub(crate) async fn list_clients(&self, head: &RequestHead) -> Result<Reply, ApiError> {
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
}

/// A column holding JSON text (an aggregate or a stored array), parsed; `[]` when empty.
/// The client columns the admin API shows.
pub(crate) const CLIENT_COLUMNS: &str = "id, name, kind, redirect_uris, first_party, may_introspect, registered_via, created_at, secret_hash IS NOT NULL AS has_secret, jwks_uri, jwks, \
    (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
     FROM client_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.client_id = oauth_clients.id) AS roles";

/// A client as the admin API shows it (never its secret).
pub(crate) fn client_row_json(row: &Row) -> Value {
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
pub(crate) fn client_auth_method(row: &Row) -> &'static str {
    let present = |key: &str| row.get(key).is_some_and(|v| !v.is_null());
    if present("jwks_uri") || present("jwks") {
        "private_key_jwt"
    } else if row.get("has_secret").and_then(Value::as_f64) == Some(1.0) {
        "client_secret_basic"
    } else {
        "none"
    }
}
