//! OAuth clients as the admin API manages them: created with a secret, keys or neither,
//! changed, given a new secret, listed and deleted.

use serde_json::Value;

use crate::directory::key_set_columns;
use crate::oauth::client::{ClientKeySet, ClientKind};
use crate::sql::{Row, Sql, SqlError, Statement};

use super::roles::RoleHolder;
use super::{AdminDirectory, Page};

/// The client columns the admin API shows: never the secret's hash, only whether there is one;
/// the roles a machine client holds come aggregated as JSON, so a page is one query.
const CLIENT_COLUMNS: &str = "id, name, kind, redirect_uris, first_party, may_introspect, dpop_bound, registered_via, created_at, secret_hash IS NOT NULL AS has_secret, jwks_uri, jwks, \
    (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
     FROM client_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.client_id = oauth_clients.id) AS roles";

/// A client's fields as a request sets them: `None` keeps a field (on creation, takes its
/// default: no redirect URI, not first-party, no introspection, no keys).
#[derive(Debug, Default)]
pub struct ClientFields {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub may_introspect: Option<bool>,
    /// RFC 9449 §5.2: the client's tokens are always DPoP-bound.
    pub dpop_bound: Option<bool>,
    /// `private_key_jwt` (RFC 7523): the keys the client signs its assertions with.
    pub key_set: Option<ClientKeySet>,
}

impl ClientFields {
    /// The `redirect_uris` column: a JSON array.
    fn redirect_uris_json(&self) -> Option<String> {
        self.redirect_uris
            .as_ref()
            .map(|uris| Value::from(uris.clone()).to_string())
    }
}

/// A client to create, with the roles it starts with (a confidential one may act for itself).
pub struct NewClient<'c> {
    pub id: &'c str,
    pub kind: ClientKind,
    /// SHA-256 of the secret shown once; `None` for a public client or one with keys.
    pub secret_hash: Option<String>,
    pub fields: ClientFields,
    pub roles: &'c [String],
}

/// What became of a change to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientUpdate {
    Saved,
    /// New keys were given to a client that does not authenticate with keys (it has a secret,
    /// or is public): they were not stored, the other fields were.
    KeysRefused,
}

impl<S: Sql> AdminDirectory<'_, S> {
    /// The client as the admin API shows it.
    pub async fn client(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1"),
            vec![id.into()],
        )
        .await
    }

    pub async fn client_exists(&self, id: &str) -> Result<bool, SqlError> {
        self.exists("SELECT id FROM oauth_clients WHERE id = ?1", id)
            .await
    }

    /// What decides how the client authenticates: `kind`, `jwks_uri`, `jwks`, `has_secret`.
    pub async fn client_authentication(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            "SELECT kind, jwks_uri, jwks, secret_hash IS NOT NULL AS has_secret FROM oauth_clients WHERE id = ?1",
            vec![id.into()],
        )
        .await
    }

    /// Creates the client and its role assignments in one batch.
    pub async fn create_client(&self, client: NewClient<'_>) -> Result<(), SqlError> {
        let fields = client.fields;
        let redirect_uris = fields.redirect_uris_json().unwrap_or_else(|| "[]".into());
        let (jwks_uri, jwks) = key_set_columns(&fields.key_set);
        let kind = match client.kind {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        };
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, kind, first_party, created_at, may_introspect, jwks_uri, jwks, dpop_bound) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            vec![
                client.id.into(),
                fields.name.into(),
                client.secret_hash.into(),
                redirect_uris.into(),
                kind.into(),
                fields.first_party.unwrap_or(false).into(),
                self.now.into(),
                fields.may_introspect.unwrap_or(false).into(),
                jwks_uri,
                jwks,
                fields.dpop_bound.unwrap_or(false).into(),
            ],
        )];
        statements.extend(RoleHolder::Client.assignments(client.id, client.roles));
        self.write(statements).await.map(drop)
    }

    /// Changes the client in one batch. New keys replace old ones only on a client that
    /// authenticates with keys: one with a secret keeps authenticating with it.
    pub async fn update_client(
        &self,
        id: &str,
        fields: ClientFields,
    ) -> Result<ClientUpdate, SqlError> {
        let redirect_uris = fields.redirect_uris_json();
        let mut statements: Vec<Statement> = vec![(
            "UPDATE oauth_clients SET name = COALESCE(?2, name), redirect_uris = COALESCE(?3, redirect_uris), first_party = COALESCE(?4, first_party), may_introspect = COALESCE(?5, may_introspect), dpop_bound = COALESCE(?6, dpop_bound) WHERE id = ?1",
            vec![
                id.into(),
                fields.name.into(),
                redirect_uris.into(),
                fields.first_party.into(),
                fields.may_introspect.into(),
                fields.dpop_bound.into(),
            ],
        )];
        let new_keys = fields.key_set.is_some();
        if new_keys {
            let (jwks_uri, jwks) = key_set_columns(&fields.key_set);
            statements.push((
                "UPDATE oauth_clients SET jwks_uri = ?2, jwks = ?3 WHERE id = ?1 AND secret_hash IS NULL AND kind = 'confidential'",
                vec![id.into(), jwks_uri, jwks],
            ));
        }
        let changed = self.write(statements).await?;
        Ok(if new_keys && changed.get(1).copied().unwrap_or(0) == 0 {
            ClientUpdate::KeysRefused
        } else {
            ClientUpdate::Saved
        })
    }

    /// Replaces the client's secret with one whose SHA-256 is `secret_hash`.
    pub async fn set_client_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
    ) -> Result<(), SqlError> {
        self.write(vec![(
            "UPDATE oauth_clients SET secret_hash = ?2 WHERE id = ?1",
            vec![id.into(), secret_hash.into()],
        )])
        .await
        .map(drop)
    }

    /// Deletes the client and, by the schema's cascades, its role assignments; false when there
    /// was no such client.
    pub async fn delete_client(&self, id: &str) -> Result<bool, SqlError> {
        self.change_one("DELETE FROM oauth_clients WHERE id = ?1", id)
            .await
    }

    /// One page of clients, as [`Self::client`] shows each: one query per page.
    pub async fn list_clients(&self, page: &Page) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                &format!(
                    "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id > ?1 ORDER BY id LIMIT ?2"
                ),
                vec![page.after.as_str().into(), page.limit.into()],
            )
            .await
    }
}
