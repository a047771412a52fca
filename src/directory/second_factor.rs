//! Second factors on D1 (`user_totp`, `recovery_codes`; migration 0023): [`SecondFactorStore`]
//! for every [`HasDirectory`]. Each spend is one conditional statement, and its rows changed say
//! whether it won: a TOTP step moves on only past the stored one, a recovery code is deleted in
//! the statement that finds it.

use crate::ports::{SecondFactor, SecondFactorStore, StoreError};
use crate::sql::{Sql, Statement};

use super::{n, opt_s, s, store_error, HasDirectory};

impl<D: HasDirectory> SecondFactorStore for D {
    async fn second_factor(&self, user_id: &str) -> Result<Option<SecondFactor>, StoreError> {
        // One round trip: the factor and its codes together.
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT t.sealed_secret, t.last_step, t.created_at, r.hash FROM user_totp t \
                 LEFT JOIN recovery_codes r ON r.user_id = t.user_id WHERE t.user_id = ?1",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(SecondFactor {
            sealed_secret: s(first, "sealed_secret"),
            last_step: n(first, "last_step"),
            created_at: n(first, "created_at").unwrap_or(0),
            recovery_hashes: rows.iter().filter_map(|r| opt_s(r, "hash")).collect(),
        }))
    }

    async fn enrol_second_factor(
        &self,
        user_id: &str,
        sealed_secret: &str,
        last_step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut statements: Vec<Statement> = vec![
            (
                "DELETE FROM recovery_codes WHERE user_id = ?1",
                vec![user_id.into()],
            ),
            (
                "INSERT INTO user_totp (user_id, sealed_secret, last_step, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                 last_step = excluded.last_step, created_at = excluded.created_at",
                vec![
                    user_id.into(),
                    sealed_secret.into(),
                    last_step.into(),
                    now.into(),
                ],
            ),
        ];
        statements.extend(recovery_inserts(user_id, recovery_hashes, now));
        self.directory()
            .sql
            .batch(statements)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "UPDATE user_totp SET last_step = ?2 WHERE user_id = ?1 AND (last_step IS NULL OR last_step < ?2)",
                vec![user_id.into(), step.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) == 1)
    }

    async fn spend_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, StoreError> {
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "DELETE FROM recovery_codes WHERE user_id = ?1 AND hash = ?2",
                vec![user_id.into(), hash.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut statements: Vec<Statement> = vec![(
            "DELETE FROM recovery_codes WHERE user_id = ?1",
            vec![user_id.into()],
        )];
        statements.extend(recovery_inserts(user_id, hashes, now));
        let changed = self
            .directory()
            .sql
            .batch(statements)
            .await
            .map_err(store_error)?;
        // The inserts name the factor: none of them lands once it is gone.
        Ok(changed.get(1).copied().unwrap_or(0) == 1)
    }

    async fn remove_second_factor(&self, user_id: &str) -> Result<(), StoreError> {
        self.directory()
            .sql
            .batch(vec![
                (
                    "DELETE FROM recovery_codes WHERE user_id = ?1",
                    vec![user_id.into()],
                ),
                (
                    "DELETE FROM user_totp WHERE user_id = ?1",
                    vec![user_id.into()],
                ),
            ])
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// One insert per recovery code, each only while the user has a factor.
fn recovery_inserts(user_id: &str, hashes: &[String], now: i64) -> Vec<Statement> {
    hashes
        .iter()
        .map(|hash| {
            (
                "INSERT INTO recovery_codes (user_id, hash, created_at) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM user_totp WHERE user_id = ?1)",
                vec![user_id.into(), hash.as_str().into(), now.into()],
            )
        })
        .collect()
}
