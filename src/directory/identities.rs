//! Upstream identities in D1 (`user_identities`, migration 0014): the users they lead to, linking,
//! and just-in-time provisioning in one all-or-nothing batch; and the tokens kept for them
//! (`upstream_tokens`, migration 0015), sealed before they get here.

use super::{n, s, store_error, user, HasDirectory};
use crate::ports::{
    IdentityStore, KeptTokens, LinkedIdentity, NewFederatedUser, ProvisionOutcome, StoreError,
    UpstreamTokenStore, User, WaysIn,
};
use crate::sql::{Row, Sql, SqlError, Statement};

fn identity(row: &Row) -> LinkedIdentity {
    LinkedIdentity {
        provider: s(row, "provider"),
        subject: s(row, "subject"),
        email: s(row, "email"),
        email_verified: n(row, "email_verified").unwrap_or(0) != 0,
        created_at: n(row, "created_at").unwrap_or(0),
        last_used_at: n(row, "last_used_at").unwrap_or(0),
    }
}

const INSERT_IDENTITY: &str = "INSERT INTO user_identities (provider, subject, user_id, email, email_verified, created_at, last_used_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn insert_identity(user_id: &str, i: &LinkedIdentity) -> Statement {
    (
        INSERT_IDENTITY,
        vec![
            i.provider.as_str().into(),
            i.subject.as_str().into(),
            user_id.into(),
            i.email.as_str().into(),
            i.email_verified.into(),
            i.created_at.into(),
            i.last_used_at.into(),
        ],
    )
}

impl<D: HasDirectory> IdentityStore for D {
    async fn accounts_for(
        &self,
        provider: &str,
        subject: &str,
        email: &str,
    ) -> Result<(Option<User>, Option<User>), StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT 'linked' AS via, u.id, u.email, u.name, u.password_hash, u.disabled, u.session_epoch \
                 FROM user_identities i JOIN users u ON u.id = i.user_id WHERE i.provider = ?1 AND i.subject = ?2 \
                 UNION ALL \
                 SELECT 'email' AS via, id, email, name, password_hash, disabled, session_epoch FROM users \
                 WHERE ?3 <> '' AND email = ?3",
                vec![provider.into(), subject.into(), email.into()],
            )
            .await
            .map_err(store_error)?;
        let by = |via: &str| rows.iter().find(|r| s(r, "via") == via).map(user);
        Ok((by("linked"), by("email")))
    }

    async fn link_identity(
        &self,
        user_id: &str,
        identity: &LinkedIdentity,
    ) -> Result<bool, StoreError> {
        match self
            .directory()
            .sql
            .batch(vec![insert_identity(user_id, identity)])
            .await
        {
            Ok(_) => Ok(true),
            Err(SqlError::Unique(_)) | Err(SqlError::ForeignKey) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn touch_identity(&self, i: &LinkedIdentity) -> Result<(), StoreError> {
        self.directory().sql
            .batch(vec![(
                "UPDATE user_identities SET last_used_at = ?3, email = ?4, email_verified = ?5 WHERE provider = ?1 AND subject = ?2",
                vec![
                    i.provider.as_str().into(),
                    i.subject.as_str().into(),
                    i.last_used_at.into(),
                    i.email.as_str().into(),
                    i.email_verified.into(),
                ],
            )])
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn provision_user(&self, new: &NewFederatedUser) -> Result<ProvisionOutcome, StoreError> {
        let now = new.identity.created_at;
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO users (id, email, name, password_hash, disabled, created_at, updated_at) VALUES (?1, ?2, ?3, NULL, 0, ?4, ?4)",
            vec![new.id.as_str().into(), new.email.as_str().into(), new.name.as_str().into(), now.into()],
        )];
        // A role that does not exist makes `role_id` NULL, which the NOT NULL constraint refuses:
        // the batch, and the user with it, is undone.
        for role in &new.roles {
            statements.push((
                "INSERT INTO user_roles (user_id, role_id) VALUES (?1, (SELECT id FROM roles WHERE name = ?2))",
                vec![new.id.as_str().into(), role.as_str().into()],
            ));
        }
        statements.push(insert_identity(&new.id, &new.identity));
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

    async fn identities_of(&self, user_id: &str) -> Result<Vec<LinkedIdentity>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT provider, subject, email, email_verified, created_at, last_used_at FROM user_identities WHERE user_id = ?1 ORDER BY provider, subject",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(identity).collect())
    }

    async fn unlink_identity(
        &self,
        user_id: &str,
        provider: &str,
        ways: &WaysIn<'_>,
    ) -> Result<bool, StoreError> {
        // One statement: the check that another way in remains and the delete cannot be split by
        // a parallel unlink. It is `WaysIn::remain_without`: a password where the form is
        // offered (`?3`), or an identity at another provider the plugin offers (`?4`).
        let offered = serde_json::to_string(ways.providers)
            .map_err(|e| StoreError::unavailable(format!("offered providers: {e}")))?;
        let changed = self
            .directory()
            .sql
            .batch(vec![(
                "DELETE FROM user_identities WHERE user_id = ?1 AND provider = ?2 AND ( \
                   (?3 = 1 AND (SELECT password_hash FROM users WHERE id = ?1) IS NOT NULL) \
                   OR (SELECT COUNT(*) FROM user_identities WHERE user_id = ?1 AND provider <> ?2 \
                       AND provider IN (SELECT value FROM json_each(?4))) > 0)",
                vec![
                    user_id.into(),
                    provider.into(),
                    ways.password.into(),
                    offered.into(),
                ],
            )])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}

fn kept(row: &Row) -> KeptTokens {
    KeptTokens {
        provider: s(row, "provider"),
        subject: s(row, "subject"),
        user_id: s(row, "user_id"),
        access_token: s(row, "access_token"),
        refresh_token: super::opt_s(row, "refresh_token"),
        expires_at: n(row, "expires_at"),
        scope: s(row, "scope"),
        updated_at: n(row, "updated_at").unwrap_or(0),
    }
}

impl<D: HasDirectory> UpstreamTokenStore for D {
    async fn keep_tokens(&self, t: &KeptTokens) -> Result<(), StoreError> {
        self.directory().sql
            .batch(vec![(
                "INSERT INTO upstream_tokens (provider, subject, user_id, access_token, refresh_token, expires_at, scope, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (provider, subject) DO UPDATE SET access_token = excluded.access_token, \
                 refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, scope = excluded.scope, updated_at = excluded.updated_at \
                 WHERE upstream_tokens.user_id = excluded.user_id",
                vec![
                    t.provider.as_str().into(),
                    t.subject.as_str().into(),
                    t.user_id.as_str().into(),
                    t.access_token.as_str().into(),
                    t.refresh_token.clone().into(),
                    t.expires_at.into(),
                    t.scope.as_str().into(),
                    t.updated_at.into(),
                ],
            )])
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn kept_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<KeptTokens>, StoreError> {
        let rows = self
            .directory()
            .sql
            .query(
                "SELECT provider, subject, user_id, access_token, refresh_token, expires_at, scope, updated_at \
                 FROM upstream_tokens WHERE user_id = ?1 AND provider = ?2",
                vec![user_id.into(), provider.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(kept))
    }

    async fn forget_tokens(
        &self,
        user_id: &str,
        provider: &str,
        sealed_refresh: &str,
    ) -> Result<(), StoreError> {
        self.directory().sql
            .batch(vec![(
                "DELETE FROM upstream_tokens WHERE user_id = ?1 AND provider = ?2 AND refresh_token = ?3",
                vec![user_id.into(), provider.into(), sealed_refresh.into()],
            )])
            .await
            .map(drop)
            .map_err(store_error)
    }
}
