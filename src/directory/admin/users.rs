//! Users as the admin API manages them: their rows, their roles, their passwords' hashes.

use crate::sql::{Row, Sql, SqlError, Statement};

use super::roles::RoleHolder;
use super::{AdminDirectory, Referenced};

/// A user to create, with the roles they start with.
pub struct NewUser<'u> {
    pub id: &'u str,
    pub email: &'u str,
    pub name: &'u str,
    /// `None`: the user cannot sign in with a password until one is set.
    pub password_hash: Option<&'u str>,
    pub disabled: bool,
    pub roles: &'u [String],
}

/// A change to a user: each field left `None` keeps its value.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
}

impl<S: Sql> AdminDirectory<'_, S> {
    /// Removes the user's second factor and passkeys (an administrator's reset, for a user who
    /// lost their device) and ends their sessions; `false` when there is no such user.
    pub async fn reset_factors(&self, id: &str) -> Result<bool, SqlError> {
        let changed = self
            .write(vec![
                ("DELETE FROM user_totp WHERE user_id = ?1", vec![id.into()]),
                (
                    "DELETE FROM recovery_codes WHERE user_id = ?1",
                    vec![id.into()],
                ),
                ("DELETE FROM passkeys WHERE user_id = ?1", vec![id.into()]),
                (
                    "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?1",
                    vec![id.into()],
                ),
            ])
            .await?;
        Ok(changed.last().copied().unwrap_or(0) > 0)
    }

    /// The user as the admin API shows it: never the password hash, only whether there is one.
    pub async fn user(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            "SELECT id, email, name, disabled, password_hash IS NOT NULL AS has_password, created_at, updated_at, \
             (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = users.id) AS passkeys, \
             EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = users.id) AS totp FROM users WHERE id = ?1",
            vec![id.into()],
        )
        .await
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool, SqlError> {
        self.exists(Referenced::User.exists(), id).await
    }

    /// The user's email, which a new password must not equal; `None` when there is no such user.
    pub async fn user_email(&self, id: &str) -> Result<Option<String>, SqlError> {
        let row = self
            .first_row("SELECT email FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        Ok(row.map(|row| crate::directory::s(&row, "email")))
    }

    /// The roles the user holds (`id`, `name`), by name.
    pub async fn user_roles(&self, id: &str) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT r.id, r.name FROM user_roles h JOIN roles r ON r.id = h.role_id WHERE h.user_id = ?1 ORDER BY r.name",
                vec![id.into()],
            )
            .await
    }

    /// Creates the user and their role assignments in one batch: a missing role leaves no user.
    pub async fn create_user(&self, user: &NewUser<'_>) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO users (id, email, name, password_hash, disabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            vec![
                user.id.into(),
                user.email.into(),
                user.name.into(),
                user.password_hash.into(),
                user.disabled.into(),
                self.now.into(),
            ],
        )];
        statements.extend(RoleHolder::User.assignments(user.id, user.roles));
        self.write(statements).await.map(drop)
    }

    /// Applies `changes`; disabling also moves the session epoch, which signs the user out of
    /// every portal session. Revoking their grants is the caller's separate step.
    pub async fn update_user(&self, id: &str, changes: UserChanges) -> Result<(), SqlError> {
        self.write(vec![(
            "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name), disabled = COALESCE(?4, disabled), \
             session_epoch = session_epoch + (CASE WHEN ?4 = 1 THEN 1 ELSE 0 END), updated_at = ?5 WHERE id = ?1",
            vec![
                id.into(),
                changes.email.into(),
                changes.name.into(),
                changes.disabled.into(),
                self.now.into(),
            ],
        )])
        .await
        .map(drop)
    }

    /// Stores a new password hash; it also moves the session epoch, so a new password signs
    /// the user out of every portal session.
    pub async fn set_password_hash(&self, id: &str, hash: &str) -> Result<(), SqlError> {
        self.write(vec![(
            "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + 1, updated_at = ?3 WHERE id = ?1",
            vec![id.into(), hash.into(), self.now.into()],
        )])
        .await
        .map(drop)
    }

    /// Deletes the user (what refers to them, such as their roles and keys, goes with them by
    /// the schema's cascades); false when there was no such user.
    pub async fn delete_user(&self, id: &str) -> Result<bool, SqlError> {
        self.change_one("DELETE FROM users WHERE id = ?1", id).await
    }

    /// Unlinks the user's identity at `provider`; false when there was none.
    pub async fn delete_identity(&self, user_id: &str, provider: &str) -> Result<bool, SqlError> {
        let changed = self
            .write(vec![(
                "DELETE FROM user_identities WHERE user_id = ?1 AND provider = ?2",
                vec![user_id.into(), provider.into()],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// One page of users in email order, each with their roles and linked providers aggregated
    /// as JSON: one query per page, on the `users_by_email` index (no scan, no sort; a test
    /// reads SQLite's plan for it).
    pub async fn list_users(&self, search: &UserSearch) -> Result<Vec<Row>, SqlError> {
        let after = search.after.as_deref().unwrap_or("");
        match &search.prefix {
            None => {
                self.sql
                    .query(USERS_AFTER, vec![after.into(), search.limit.into()])
                    .await
            }
            Some(prefix) => {
                let (low, high) = email_prefix_range(prefix);
                // One lower bound, so the index is entered where the page starts: given two
                // (the prefix and the cursor), SQLite seeks by one and filters by the other,
                // reading every row between them.
                let (sql, from) = match search.after.as_deref() {
                    Some(after) if nocase_cmp(after, &low).is_ge() => {
                        (USERS_BY_EMAIL_PREFIX_AFTER, after.to_string())
                    }
                    _ => (USERS_BY_EMAIL_PREFIX, low),
                };
                self.sql
                    .query(sql, vec![from.into(), high.into(), search.limit.into()])
                    .await
            }
        }
    }

    /// The user whose id is `id`, in the shape of [`Self::list_users`]'s rows.
    pub async fn user_row(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(USER_BY_ID, vec![id.into()]).await
    }
}

/// A page of users to find: those whose email begins with `prefix` (in any case), after the
/// email `after` (the previous page's last), at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    pub prefix: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// The bounds of the emails beginning with `prefix` as the `NOCASE` column compares them: from
/// the prefix itself up to it followed by the greatest character. `NOCASE` folds ASCII letters
/// only, as the bounds do; a range rather than `LIKE`, whose index use hangs on a pragma.
pub fn email_prefix_range(prefix: &str) -> (String, String) {
    let low = prefix.to_ascii_lowercase();
    let high = format!("{low}{}", char::MAX);
    (low, high)
}

/// Two emails compared as the `NOCASE` column compares them (ASCII letters folded, bytes else).
fn nocase_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The columns of a user in a list: no password hash, only whether there is one; their roles
/// and the providers they can sign in with, aggregated.
macro_rules! user_rows {
    ($rest:literal) => {
        concat!(
            "SELECT u.id, u.email, u.name, u.disabled, u.created_at, \
               u.password_hash IS NOT NULL AS has_password, \
               (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
                FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id) AS roles, \
               (SELECT json_group_array(i.provider) FROM user_identities i WHERE i.user_id = u.id) AS providers, \
               (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS passkeys, \
               EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id) AS totp \
             FROM users u ",
            $rest
        )
    };
}

/// Every user after the email `?1`, in email order.
pub const USERS_AFTER: &str = user_rows!("WHERE u.email > ?1 ORDER BY u.email LIMIT ?2");
/// The users whose email is in `[?1, ?2)` (a prefix's range), in email order: the first page.
pub const USERS_BY_EMAIL_PREFIX: &str =
    user_rows!("WHERE u.email >= ?1 AND u.email < ?2 ORDER BY u.email LIMIT ?3");
/// The users whose email is in `(?1, ?2)`: a later page of a prefix's range, after the email
/// `?1` (the cursor, which is within the range).
pub const USERS_BY_EMAIL_PREFIX_AFTER: &str =
    user_rows!("WHERE u.email > ?1 AND u.email < ?2 ORDER BY u.email LIMIT ?3");
/// The user whose id is `?1`.
pub const USER_BY_ID: &str = user_rows!("WHERE u.id = ?1");
