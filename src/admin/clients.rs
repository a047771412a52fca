//! `/admin/api/clients`: OAuth clients, their secrets or keys, and what they show.

use super::validate::Fields;
use serde_json::{json, Map, Value};

use super::{
    flag, found, int, json_body, json_column, listing, must_exist, ok, page, sql_error, text, Admin,
};
use crate::directory::admin::{ClientFields, ClientUpdate, NewClient, Referenced};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::client::ClientKind;
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::primitives::hash::sha256_hex;
use crate::sql::{Row, Sql};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn client_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = found(self.directory().client(id).await)?;
        Ok(client_row_json(&row))
    }

    pub(crate) fn new_client_secret(&self) -> Result<String, ApiError> {
        Ok(format!("pcs_{}", self.random(24)?))
    }

    /// `POST /clients` (`id` is `None`) or `PATCH /clients/{id}`.
    pub(crate) async fn save_client(
        &self,
        id: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        if let Some(id) = id {
            must_exist(self.directory().client_exists(id).await)?;
        }
        let request = client_request(&body, id.is_none())?;
        self.require_ids(Referenced::Role, "roles", &request.roles)
            .await?;
        match id {
            None => self.create_client(request).await,
            Some(id) => self.update_client(id, request.fields).await,
        }
    }

    /// Creates the client; a confidential one without keys gets a secret, shown only here.
    async fn create_client(&self, request: ClientRequest) -> Result<Reply, ApiError> {
        let id = self.new_id("cli")?;
        let secret = if request.confidential && request.fields.key_set.is_none() {
            Some(self.new_client_secret()?)
        } else {
            None
        };
        let client = NewClient {
            id: &id,
            kind: if request.confidential {
                ClientKind::Confidential
            } else {
                ClientKind::Public
            },
            secret_hash: secret.as_deref().map(sha256_hex),
            fields: request.fields,
            roles: &request.roles,
        };
        self.directory()
            .create_client(client)
            .await
            .map_err(sql_error)?;
        let mut out = self.client_json(&id).await?;
        if let Some(secret) = secret {
            out["client_secret"] = json!(secret);
        }
        ok(201, out)
    }

    async fn update_client(&self, id: &str, fields: ClientFields) -> Result<Reply, ApiError> {
        let update = self
            .directory()
            .update_client(id, fields)
            .await
            .map_err(sql_error)?;
        if update == ClientUpdate::KeysRefused {
            return Err(ApiError::Validation(vec![(
                "jwks".into(),
                "only a client that authenticates with keys can change them; create a new client instead".into(),
            )]));
        }
        ok(200, self.client_json(id).await?)
    }

    pub(crate) async fn rotate_client_secret(&self, id: &str) -> Result<Reply, ApiError> {
        let row = found(self.directory().client_authentication(id).await)?;
        if client_auth_method(&row) != "client_secret_basic" {
            return Err(ApiError::Validation(vec![(
                "kind".into(),
                "only a client that authenticates with a secret has one to rotate".into(),
            )]));
        }
        let secret = self.new_client_secret()?;
        self.directory()
            .set_client_secret_hash(id, &sha256_hex(&secret))
            .await
            .map_err(sql_error)?;
        let mut out = self.client_json(id).await?;
        out["client_secret"] = json!(secret);
        ok(200, out)
    }

    pub(crate) async fn list_clients(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (page, _) = page(head)?;
        let rows = self
            .directory()
            .list_clients(&page)
            .await
            .map_err(sql_error)?;
        let items = rows.iter().map(client_row_json).collect();
        listing(items, page.limit)
    }
}

/// A client request's fields, validated.
struct ClientRequest {
    /// Whether the new client is confidential (a client's kind is set at creation only).
    confidential: bool,
    fields: ClientFields,
    /// The roles a new machine client starts with (later changed by `PUT …/roles` only).
    roles: Vec<String>,
}

/// Validates a client's POST (`creating`) or PATCH body, reporting every field error at once.
fn client_request(body: &Map<String, Value>, creating: bool) -> Result<ClientRequest, ApiError> {
    let mut f = Fields::default();
    let name = f.text(body, "name", creating, 200);
    // Shown on the consent and account pages: no character there may hide or move text.
    if let Some(Err(e)) = name
        .as_deref()
        .map(crate::oauth::display::check_display_text)
    {
        f.error("name", format!("contains {e}"));
    }
    let confidential = client_kind(&mut f, body, creating).as_deref() == Some("confidential");
    let redirect_uris = f
        .strings(body, "redirect_uris", 20, 2000)
        .map(crate::oauth::client::with_chatgpt_twins);
    // A confidential client may be a machine only (client_credentials), with no redirect URI.
    if creating && !confidential && redirect_uris.as_ref().is_none_or(|u| u.is_empty()) {
        f.error("redirect_uris", "a public client needs at least one URI");
    }
    f.redirect_uris("redirect_uris", redirect_uris.as_deref());
    let first_party = f.boolean(body, "first_party");
    let may_introspect = f.boolean(body, "may_introspect");
    let dpop_bound = f.boolean(body, "dpop_bound_access_tokens");
    // private_key_jwt (RFC 7523): a confidential client with keys instead of a secret.
    let key_set = f.client_keys(body);
    if creating && key_set.is_some() && !confidential {
        f.error("kind", "a client with jwks_uri or jwks is confidential");
    }
    let roles = client_roles(&mut f, body, creating);
    if !roles.is_empty() && !confidential {
        f.error("roles", "only a confidential client can act for itself");
    }
    f.finish()?;
    Ok(ClientRequest {
        confidential,
        fields: ClientFields {
            name,
            redirect_uris,
            first_party,
            may_introspect,
            dpop_bound,
            key_set,
        },
        roles,
    })
}

/// A new client's `kind`; on a change, a field error if one is sent, since it cannot change.
fn client_kind(f: &mut Fields, body: &Map<String, Value>, creating: bool) -> Option<String> {
    if !creating {
        if body.contains_key("kind") {
            f.error("kind", "cannot change: create a new client instead");
        }
        return None;
    }
    let kind = f.text(body, "kind", true, 20);
    if kind
        .as_deref()
        .is_some_and(|k| k != "confidential" && k != "public")
    {
        f.error("kind", "must be \"confidential\" or \"public\"");
    }
    kind
}

/// A new client's roles; on a change, a field error if any are sent: they have their own call.
fn client_roles(f: &mut Fields, body: &Map<String, Value>, creating: bool) -> Vec<String> {
    if creating {
        return f.strings(body, "roles", 100, 100).unwrap_or_default();
    }
    if body.contains_key("roles") {
        f.error("roles", "set them with PUT /admin/api/clients/{id}/roles");
    }
    Vec::new()
}

/// A client as the admin API shows it (never its secret).
pub(crate) fn client_row_json(row: &Row) -> Value {
    json!({
        "id": text(row, "id"),
        "name": text(row, "name"),
        "kind": text(row, "kind"),
        "redirect_uris": json_column(row, "redirect_uris"),
        "first_party": flag(row, "first_party"),
        "may_introspect": flag(row, "may_introspect"),
        "dpop_bound_access_tokens": flag(row, "dpop_bound"),
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
