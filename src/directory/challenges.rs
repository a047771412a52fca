//! Email challenges and the accounts they create, on D1 (`email_challenges`, `users`; migration
//! 0021): [`ChallengeStore`] for every [`HasDirectory`].

use crate::accounts::challenge::{EmailChallenge, Pending, Purpose};
use crate::ports::{
    ChallengeStore, Deletion, NewAccount, OwnAccount, ProvisionOutcome, StoreError,
};
use crate::sql::{Row, Sql, SqlError, Statement};

use super::{n, opt_s, s, store_error, HasDirectory};

const COLUMNS: &str = "id, purpose, email, user_id, issuer, code_hash, link_hash, attempts, pending, session_epoch, created_at, expires_at, used_at";

fn challenge(row: &Row) -> Option<EmailChallenge> {
    Some(EmailChallenge {
        id: s(row, "id"),
        purpose: Purpose::parse(&s(row, "purpose"))?,
        email: s(row, "email"),
        user_id: opt_s(row, "user_id"),
        issuer: s(row, "issuer"),
        code_hash: s(row, "code_hash"),
        link_hash: s(row, "link_hash"),
        attempts: n(row, "attempts").unwrap_or(0),
        pending: serde_json::from_str::<Pending>(&s(row, "pending")).unwrap_or_default(),
        session_epoch: n(row, "session_epoch"),
        created_at: n(row, "created_at").unwrap_or(0),
        expires_at: n(row, "expires_at").unwrap_or(0),
        used_at: n(row, "used_at"),
    })
}

impl<D: HasDirectory> ChallengeStore for D {
    async fn put_challenge(&self, c: &EmailChallenge) -> Result<(), StoreError> {
        let pending = serde_json::to_string(&c.pending)
            .map_err(|e| StoreError::unavailable(format!("pending sign-up: {e}")))?;
        self.directory()
            .sql
            .batch(vec![(
                "INSERT INTO email_challenges (id, purpose, email, user_id, issuer, code_hash, link_hash, attempts, pending, session_epoch, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11)",
                vec![
                    c.id.as_str().into(),
                    c.purpose.as_str().into(),
                    c.email.as_str().into(),
                    c.user_id.as_deref().into(),
                    c.issuer.as_str().into(),
                    c.code_hash.as_str().into(),
                    c.link_hash.as_str().into(),
                    pending.into(),
                    c.session_epoch.into(),
                    c.created_at.into(),
                    c.expires_at.into(),
                ],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn challenge(&self, id: &str) -> Result<Option<EmailChallenge>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM email_challenges WHERE id = ?1");
        let rows = self
            .directory()
            .sql
            .query(&sql, vec![id.into()])
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(challenge))
    }

    async fn challenge_by_link(
        &self,
        link_hash: &str,
    ) -> Result<Option<EmailChallenge>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM email_challenges WHERE link_hash = ?1");
        let rows = self
            .directory()
            .sql
            .query(&sql, vec![link_hash.into()])
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(challenge))
    }

    async fn count_attempt(
        &self,
        id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<EmailChallenge>, StoreError> {
        // One statement: parallel guesses cannot all pass under the bound.
        let sql = format!(
            "UPDATE email_challenges SET attempts = attempts + 1 \
             WHERE id = ?1 AND used_at IS NULL AND expires_at > ?2 AND attempts < ?3 RETURNING {COLUMNS}"
        );
        let rows = self
            .directory()
            .sql
            .query(&sql, vec![id.into(), now.into(), max.into()])
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(challenge))
    }

    async fn open_invitations(
        &self,
        issuer: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<EmailChallenge>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM email_challenges WHERE purpose = 'invite' AND issuer = ?1 \
             AND used_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC, id LIMIT ?3"
        );
        let rows = self
            .directory()
            .sql
            .query(
                &sql,
                vec![issuer.into(), now.into(), i64::from(limit).into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().filter_map(challenge).collect())
    }

    async fn use_challenge(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "UPDATE email_challenges SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL AND expires_at > ?2",
                vec![id.into(), now.into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn create_account(&self, a: &NewAccount) -> Result<ProvisionOutcome, StoreError> {
        let terms = (!a.terms.is_empty()).then_some(a.terms.as_str());
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO users (id, email, name, password_hash, disabled, created_at, updated_at, email_verified_at, terms_accepted, terms_accepted_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?5, ?6, CASE WHEN ?6 IS NULL THEN NULL ELSE ?5 END)",
            vec![
                a.id.as_str().into(),
                a.email.as_str().into(),
                a.name.as_str().into(),
                a.password_hash.as_deref().into(),
                a.verified_at.into(),
                terms.into(),
            ],
        )];
        // A role that does not exist makes `role_id` NULL, which NOT NULL refuses: the batch,
        // and the user with it, is undone.
        for role in &a.roles {
            statements.push((
                "INSERT INTO user_roles (user_id, role_id) VALUES (?1, (SELECT id FROM roles WHERE name = ?2))",
                vec![a.id.as_str().into(), role.as_str().into()],
            ));
        }
        match self.directory().sql.batch(statements).await {
            Ok(_) => Ok(ProvisionOutcome::Created),
            Err(SqlError::Unique(_)) => Ok(ProvisionOutcome::Taken),
            Err(SqlError::Other(message))
                if message.contains("NOT NULL constraint failed: user_roles.role_id") =>
            {
                Ok(ProvisionOutcome::MissingRole)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn reset_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.directory()
            .sql
            .batch(vec![
                (
                    "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + 1, updated_at = ?3 WHERE id = ?1",
                    vec![user_id.into(), password_hash.into(), now.into()],
                ),
                (
                    "UPDATE email_challenges SET used_at = ?2 WHERE user_id = ?1 AND purpose = 'reset' AND used_at IS NULL",
                    vec![user_id.into(), now.into()],
                ),
            ])
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// No plan held: `HOLDING_STATUSES` (a unit test holds the two lists equal).
macro_rules! no_plan_held {
    () => {
        "NOT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = ?1 AND status IN ('active', 'trialing', 'past_due'))"
    };
}
#[cfg(test)]
const NO_PLAN_HELD: &str = no_plan_held!();
const RECORD_DELETION: &str = concat!(
    "INSERT OR IGNORE INTO account_deletions (user_id, deleted_at, issuer) SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) AND ",
    no_plan_held!()
);
const DELETE_ACCOUNT: &str = concat!("DELETE FROM users WHERE id = ?1 AND ", no_plan_held!());

impl<D: HasDirectory> OwnAccount for D {
    async fn change_email(&self, user_id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        match self
            .directory()
            .sql
            .batch(vec![(
                "UPDATE users SET email = ?2, email_verified_at = ?3, updated_at = ?3 WHERE id = ?1",
                vec![user_id.into(), email.into(), now.into()],
            )])
            .await
        {
            Ok(changed) => Ok(changed.first().copied().unwrap_or(0) > 0),
            Err(SqlError::Unique(_)) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn delete_account(
        &self,
        user_id: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Deletion, StoreError> {
        // One batch: the record and the delete happen only while no plan is held (the check
        // is in both statements, so a plan bought meanwhile stops both).
        let changed = self
            .directory()
            .sql
            .batch(vec![
                (
                    RECORD_DELETION,
                    vec![user_id.into(), now.into(), issuer.into()],
                ),
                (DELETE_ACCOUNT, vec![user_id.into()]),
            ])
            .await
            .map_err(store_error)?;
        if changed.get(1).copied().unwrap_or(0) > 0 {
            return Ok(Deletion::Deleted);
        }
        let exists = self
            .directory()
            .sql
            .query(
                "SELECT 1 AS one FROM users WHERE id = ?1",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(if exists.is_empty() {
            Deletion::Gone
        } else {
            Deletion::PaidPlan
        })
    }
}

impl<S: Sql> super::SqlDirectory<'_, S> {
    /// Deletes challenges a day past their expiry (kept that long to show "this link expired"
    /// rather than "unknown link"); returns how many.
    pub async fn purge_expired_challenges(&self) -> Result<u64, StoreError> {
        let changed = self
            .sql
            .batch(vec![(
                "DELETE FROM email_challenges WHERE expires_at < ?1",
                vec![(self.now - 86_400).into()],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_deletion_checks_every_status_that_holds_a_plan() {
        let listed = crate::billing::subscription::HOLDING_STATUSES
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let check = format!("status IN ({listed}))");
        assert!(super::NO_PLAN_HELD.ends_with(&check));
        assert!(
            super::RECORD_DELETION.ends_with(super::NO_PLAN_HELD)
                && super::DELETE_ACCOUNT.ends_with(super::NO_PLAN_HELD)
        );
    }
}
