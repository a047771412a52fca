//! Passkeys on D1 (`passkeys`; migration 0022): [`PasskeyStore`] for every [`HasDirectory`].

use crate::accounts::webauthn::StoredCredential;
use crate::ports::{Passkey, PasskeyStore, StoreError};
use crate::sql::{Row, Sql, SqlError};

use super::{n, s, store_error, HasDirectory};

const COLUMNS: &str =
    "id, user_id, name, credential, sign_count, backup_state, created_at, last_used_at";

/// A row as a passkey; `None` for a credential that no longer reads (it signs in to nothing).
/// The counter and backup state are the columns', which sign-ins move.
fn passkey(row: &Row) -> Option<Passkey> {
    let mut credential: StoredCredential = serde_json::from_str(&s(row, "credential")).ok()?;
    credential.sign_count = u32::try_from(n(row, "sign_count").unwrap_or(0)).ok()?;
    credential.backup_state = n(row, "backup_state").unwrap_or(0) != 0;
    Some(Passkey {
        user_id: s(row, "user_id"),
        name: s(row, "name"),
        credential,
        created_at: n(row, "created_at").unwrap_or(0),
        last_used_at: n(row, "last_used_at"),
    })
}

impl<D: HasDirectory> PasskeyStore for D {
    async fn add_passkey(&self, p: &Passkey) -> Result<bool, StoreError> {
        let credential = serde_json::to_string(&p.credential)
            .map_err(|e| StoreError::unavailable(format!("passkey: {e}")))?;
        let added = self
            .directory()
            .sql
            .batch(vec![(
                "INSERT INTO passkeys (id, user_id, name, credential, sign_count, backup_state, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    p.credential.id.as_str().into(),
                    p.user_id.as_str().into(),
                    p.name.as_str().into(),
                    credential.into(),
                    i64::from(p.credential.sign_count).into(),
                    p.credential.backup_state.into(),
                    p.created_at.into(),
                ],
            )])
            .await;
        match added {
            Ok(_) => Ok(true),
            Err(SqlError::Unique(_)) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn passkeys_of(&self, user_id: &str) -> Result<Vec<Passkey>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id");
        let rows = self
            .directory()
            .sql
            .query(&sql, vec![user_id.into()])
            .await
            .map_err(store_error)?;
        Ok(rows.iter().filter_map(passkey).collect())
    }

    async fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE id = ?1");
        let rows = self
            .directory()
            .sql
            .query(&sql, vec![credential_id.into()])
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(passkey))
    }

    async fn use_passkey(
        &self,
        credential_id: &str,
        sign_count: u32,
        backup_state: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        // One statement: the counter is compared with what is stored now, not with what was read.
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "UPDATE passkeys SET sign_count = ?2, backup_state = ?3, last_used_at = ?4 \
                 WHERE id = ?1 AND ((?2 = 0 AND sign_count = 0) OR ?2 > sign_count)",
                vec![
                    credential_id.into(),
                    i64::from(sign_count).into(),
                    backup_state.into(),
                    now.into(),
                ],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2",
                vec![credential_id.into(), user_id.into(), name.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2",
                vec![credential_id.into(), user_id.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}
