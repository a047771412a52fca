//! What the admin API reads and writes, one file per resource it manages (users, roles and the
//! roles their holders hold, API resources and their permissions, OAuth clients, API keys).
//!
//! The handlers in `crate::admin` parse, validate and render; the statements live here, so
//! they run unchanged on D1 at the edge and on SQLite with the real migrations in native
//! tests. Errors stay [`SqlError`]s: the admin API turns a unique or foreign-key failure into
//! a 409 or 400 naming the field, which a [`crate::ports::StoreError`] could not tell apart.
//! Multi-row changes are one `batch` each, which D1 runs atomically.

use crate::sql::{Row, Sql, SqlError, SqlValue, Statement};

mod api_keys;
mod clients;
mod resources;
mod roles;
mod users;

pub use api_keys::NewApiKey;
pub use clients::{ClientFields, ClientUpdate, NewClient};
pub use resources::ResourceFields;
pub use roles::{RoleFields, RoleHolder};
pub use users::{
    email_prefix_range, NewUser, UserChanges, UserSearch, USERS_AFTER, USERS_BY_EMAIL_PREFIX,
    USERS_BY_EMAIL_PREFIX_AFTER, USER_BY_ID,
};

/// The admin API's view of the directory; `now` stamps what it creates, changes and revokes.
pub struct AdminDirectory<'a, S: Sql> {
    pub sql: &'a S,
    pub now: i64,
}

/// One page of a list: the rows whose ids sort after `after` (the previous page's last id,
/// empty for the first page), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub after: String,
    pub limit: i64,
}

/// What a request may refer to by id, checked before a write names it, so that a missing one
/// is a field error rather than a foreign-key failure of the whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referenced {
    Role,
    Permission,
    User,
}

impl Referenced {
    fn exists(self) -> &'static str {
        match self {
            Referenced::Role => "SELECT id FROM roles WHERE id = ?1",
            Referenced::Permission => "SELECT id FROM permissions WHERE id = ?1",
            Referenced::User => "SELECT id FROM users WHERE id = ?1",
        }
    }
}

impl<S: Sql> AdminDirectory<'_, S> {
    /// The first of `ids` that does not exist, if any: one read per id, in order, stopping at
    /// the first missing one.
    pub async fn first_missing(
        &self,
        kind: Referenced,
        ids: &[String],
    ) -> Result<Option<String>, SqlError> {
        for id in ids {
            if !self.exists(kind.exists(), id).await? {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    /// The first row of a query, if it has one.
    async fn first_row(&self, sql: &str, args: Vec<SqlValue>) -> Result<Option<Row>, SqlError> {
        Ok(self.sql.query(sql, args).await?.into_iter().next())
    }

    /// Whether the lookup `sql` (by `?1 = id`) finds a row.
    async fn exists(&self, sql: &str, id: &str) -> Result<bool, SqlError> {
        Ok(!self.sql.query(sql, vec![id.into()]).await?.is_empty())
    }

    /// Runs the one statement `sql` on `?1 = id`; false when it changed nothing, so the caller
    /// can say there was nothing there (a 404) without reading first.
    async fn change_one(&self, sql: &'static str, id: &str) -> Result<bool, SqlError> {
        let changed = self.sql.batch(vec![(sql, vec![id.into()])]).await?;
        Ok(changed.first() != Some(&0))
    }

    /// Runs `statements` as one batch: all of them or none.
    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqlError> {
        self.sql.batch(statements).await
    }
}
