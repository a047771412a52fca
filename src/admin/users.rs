//! `/admin/api/users`: users, their passwords, their quota, and revoking their grants.

use super::validate::Fields;
use serde_json::{json, Value};

use super::{
    deleted, flag, found, int, json_body, json_column, listing, must_exist, ok, page, sql_error,
    store_error, text, Admin, MAX_ADMIN_BODY_BYTES,
};
use crate::billing::{quota_for, Standing};
use crate::directory::admin::{NewUser, Referenced, UserChanges};
use crate::directory::SqlDirectory;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::grant_stores::Grants;
use crate::ports::{
    BillingStore, GrantStore, IdentityStore, LinkedIdentity, PasswordHasher, Rng, Throttle,
};
use crate::sql::Sql;

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn user_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = found(self.directory().user(id).await)?;
        let roles: Vec<Value> = self
            .directory()
            .user_roles(id)
            .await
            .map_err(sql_error)?
            .iter()
            .map(|r| json!({ "id": text(r, "id"), "name": text(r, "name") }))
            .collect();
        Ok(json!({
            "id": text(&row, "id"),
            "email": text(&row, "email"),
            "name": text(&row, "name"),
            "disabled": flag(&row, "disabled"),
            "has_password": flag(&row, "has_password"),
            "roles": roles,
            "created_at": int(&row, "created_at"),
            "updated_at": int(&row, "updated_at"),
        }))
    }

    pub(crate) async fn create_user(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", true, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200).unwrap_or_default();
        let password = match body.get("password") {
            Some(Value::String(p)) => Some(p.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                f.error("password", "must be a string");
                None
            }
        };
        f.password("password", password.as_deref(), email.as_deref());
        let disabled = f.boolean(&body, "disabled").unwrap_or(false);
        let roles = f.strings(&body, "roles", 100, 100).unwrap_or_default();
        f.finish()?;
        let email = email.unwrap_or_default();
        self.require_ids(Referenced::Role, "roles", &roles).await?;
        let hash = match &password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let id = self.new_id("usr")?;
        let user = NewUser {
            id: &id,
            email: &email,
            name: &name,
            password_hash: hash.as_deref(),
            disabled,
            roles: &roles,
        };
        self.directory()
            .create_user(&user)
            .await
            .map_err(sql_error)?;
        ok(201, self.user_json(&id).await?)
    }

    pub(crate) async fn update_user(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        must_exist(self.directory().user_exists(id).await)?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", false, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200);
        let disabled = f.boolean(&body, "disabled");
        f.finish()?;
        let changes = UserChanges {
            email,
            name,
            disabled,
        };
        self.directory()
            .update_user(id, changes)
            .await
            .map_err(sql_error)?;
        if disabled == Some(true) {
            self.revoke_user_grants(id).await?;
        }
        ok(200, self.user_json(id).await?)
    }

    /// Revokes every grant the user still holds: a disabled or deleted user's apps lose access
    /// at once (their refresh tokens stop working; access tokens end with their lifetime). The
    /// intents are written first, so a sweep a failure interrupts is finished by the cron.
    pub(crate) async fn revoke_user_grants(&self, user_id: &str) -> Result<usize, ApiError> {
        let index = SqlDirectory {
            sql: self.sql,
            now: self.now,
        };
        Grants::new(self.backend, &index)
            .revoke_all_of(user_id, self.now)
            .await
            .map_err(store_error)
    }

    /// The user's quota in the current window, without counting anything: their plan's (the
    /// subscription in D1 decides, as for the proxy), else the plugin's own.
    pub(crate) async fn user_quota(&self, id: &str) -> Result<Reply, ApiError> {
        must_exist(self.directory().user_exists(id).await)?;
        let plans = self.site.map_or(&[][..], |site| site.plans.as_slice());
        let standing = if plans.is_empty() {
            Standing::Free
        } else {
            SqlDirectory {
                sql: self.sql,
                now: self.now,
            }
            .subscription_of(self.plugin, id)
            .await
            .map_err(store_error)?
            .map_or(Standing::Free, |s| s.standing(self.now))
        };
        let Some(quota) = quota_for(plans, &standing, self.quota.map(|(_, q)| q)) else {
            return ok(200, json!({ "quota": null }));
        };
        let key = crate::quota::counter_key(self.plugin, id);
        let usage = self
            .backend
            .quota_usage(&key, quota, self.now as u64)
            .await
            .map_err(store_error)?;
        // Calls made; `used_exact` false: at most `used`, while isolates have not told all.
        let calls = usage.calls();
        ok(
            200,
            json!({
                "quota": {
                    "plan": standing.plan_id(),
                    "limit": quota.limit,
                    "period_secs": quota.period_secs,
                    "used": calls.count(),
                    "used_exact": matches!(calls, crate::quota::Calls::Exactly(_)),
                    "remaining": usage.remaining(),
                    "reset_secs": usage.reset_secs,
                    "resets_in": crate::primitives::duration::human_duration(usage.reset_secs),
                }
            }),
        )
    }

    /// Revokes the user's grants first: deleting the user removes the index of them.
    pub(crate) async fn delete_user(&self, id: &str) -> Result<Reply, ApiError> {
        must_exist(self.directory().user_exists(id).await)?;
        self.revoke_user_grants(id).await?;
        deleted(self.directory().delete_user(id).await)
    }

    pub(crate) async fn set_password(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let email = found(self.directory().user_email(id).await)?;
        let mut f = Fields::default();
        let password = f.text(&body, "password", true, MAX_ADMIN_BODY_BYTES);
        f.password("password", password.as_deref(), Some(&email));
        f.finish()?;
        let hash = self.hash_password(&password.unwrap_or_default()).await?;
        self.directory()
            .set_password_hash(id, &hash)
            .await
            .map_err(sql_error)?;
        ok(200, self.user_json(id).await?)
    }

    pub(crate) async fn list_users(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (page, _) = page(head)?;
        let rows = self
            .directory()
            .list_users(&page)
            .await
            .map_err(sql_error)?;
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": text(r, "id"),
                    "email": text(r, "email"),
                    "name": text(r, "name"),
                    "disabled": flag(r, "disabled"),
                    "roles": json_column(r, "roles"),
                    "created_at": int(r, "created_at"),
                })
            })
            .collect();
        listing(items, page.limit)
    }
}

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    fn identity_store(&self) -> SqlDirectory<'_, S> {
        SqlDirectory {
            sql: self.sql,
            now: self.now,
        }
    }

    /// `GET /admin/api/users/{id}/identities`: the user's upstream identities.
    pub(crate) async fn user_identities(&self, id: &str) -> Result<Reply, ApiError> {
        must_exist(self.directory().user_exists(id).await)?;
        let identities: Vec<Value> = self
            .identity_store()
            .identities_of(id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|i| {
                json!({
                    "provider": i.provider,
                    "subject": i.subject,
                    "email": i.email,
                    "email_verified": i.email_verified,
                    "created_at": i.created_at,
                    "last_used_at": i.last_used_at,
                })
            })
            .collect();
        ok(200, json!({ "identities": identities }))
    }

    /// `POST /admin/api/users/{id}/identities` `{provider, subject, email?}`: an administrator
    /// links an identity (the account proven by other means); 409 when it is someone's already.
    pub(crate) async fn link_user_identity(
        &self,
        id: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let provider = f.text(&body, "provider", true, 32);
        let subject = f.text(&body, "subject", true, 255);
        let email = f.text(&body, "email", false, 320);
        if let Some(p) = &provider {
            if !p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                f.error(
                    "provider",
                    "must be a provider id (lower-case letters, digits and '-')",
                );
            }
        }
        f.email("email", email.as_deref().filter(|e| !e.is_empty()));
        f.finish()?;
        must_exist(self.directory().user_exists(id).await)?;
        let identity = LinkedIdentity {
            provider: provider.unwrap_or_default(),
            subject: subject.unwrap_or_default(),
            email: email.unwrap_or_default().to_ascii_lowercase(),
            email_verified: false,
            created_at: self.now,
            last_used_at: self.now,
        };
        let linked = self
            .identity_store()
            .link_identity(id, &identity)
            .await
            .map_err(store_error)?;
        if !linked {
            return Err(ApiError::Conflict {
                field: "subject".into(),
                message: format!(
                    "{:?} at {:?} is already linked to a user",
                    identity.subject, identity.provider
                ),
            });
        }
        self.user_identities(id).await.map(|mut reply| {
            reply.status = 201;
            reply
        })
    }

    /// `DELETE /admin/api/users/{id}/identities/{provider}`: unlinks, even the last way in (an
    /// administrator can set a password or link another).
    pub(crate) async fn unlink_user_identity(
        &self,
        id: &str,
        provider: &str,
    ) -> Result<Reply, ApiError> {
        deleted(self.directory().delete_identity(id, provider).await)
    }
}
