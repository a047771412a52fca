//! `/admin/api/users`: users, their passwords, their quota, and revoking their grants.

use super::validate::Fields;
use serde_json::{json, Value};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{
    deleted, flag, found, int, json_body, json_column, must_exist, ok, sql_error, store_error,
    text, Admin, MAX_ADMIN_BODY_BYTES,
};
use crate::accounts::SignInMethods;
use crate::billing::{quota_for, Standing};
use crate::directory::admin::{NewUser, Referenced, UserChanges, UserSearch};
use crate::directory::SqlDirectory;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::grant_stores::Grants;
use crate::oauth::params::Params;
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
        let sign_in = SignInMethods {
            password: flag(&row, "has_password") == json!(true),
            providers: self
                .identity_store()
                .identities_of(id)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|i| i.provider)
                .collect(),
            passkeys: int(&row, "passkeys").as_i64().unwrap_or(0),
            totp: flag(&row, "totp") == json!(true),
        };
        Ok(json!({
            "id": text(&row, "id"),
            "email": text(&row, "email"),
            "name": text(&row, "name"),
            "disabled": flag(&row, "disabled"),
            "has_password": sign_in.password,
            "sign_in": sign_in,
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

    /// `GET /admin/api/users?q=&cursor=&limit=`: a page of users in email order, those whose
    /// email begins with `q` (in any case) when it is sent, or the one user whose id `q` is.
    pub(crate) async fn list_users(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let search = user_search(head)?;
        // An id is looked up first, on the first page only; an email always holds an '@'.
        if let (Some(q), None) = (&search.prefix, &search.after) {
            if !q.contains('@') {
                let row = self.directory().user_row(q).await.map_err(sql_error)?;
                if let Some(row) = row {
                    return ok(
                        200,
                        json!({ "items": [user_item(&row)], "next_cursor": null }),
                    );
                }
            }
        }
        let rows = self
            .directory()
            .list_users(&search)
            .await
            .map_err(sql_error)?;
        let next = match rows.last() {
            Some(last) if rows.len() as i64 == search.limit => {
                json!(encode_user_cursor(&crate::directory::s(last, "email")))
            }
            _ => Value::Null,
        };
        let items: Vec<Value> = rows.iter().map(user_item).collect();
        ok(200, json!({ "items": items, "next_cursor": next }))
    }
}

/// Page size bounds of the users list: a console's page, and never a whole directory.
pub const DEFAULT_USER_PAGE: i64 = 50;
pub const MAX_USER_PAGE: i64 = 100;
/// Longest `q`: an email's longest.
const MAX_USER_QUERY: usize = 320;

/// A user as a list shows them: what they hold, and how they can sign in.
fn user_item(row: &crate::sql::Row) -> Value {
    let providers = json_column(row, "providers")
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let sign_in = SignInMethods {
        password: flag(row, "has_password") == json!(true),
        providers,
        passkeys: int(row, "passkeys").as_i64().unwrap_or(0),
        totp: flag(row, "totp") == json!(true),
    };
    json!({
        "id": text(row, "id"),
        "email": text(row, "email"),
        "name": text(row, "name"),
        "disabled": flag(row, "disabled"),
        "has_password": sign_in.password,
        "sign_in": sign_in,
        "roles": json_column(row, "roles"),
        "created_at": int(row, "created_at"),
    })
}

/// The cursor after a page: the last email, base64url, so that callers treat it as opaque.
fn encode_user_cursor(email: &str) -> String {
    URL_SAFE_NO_PAD.encode(email.as_bytes())
}

fn decode_user_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok().filter(|e| !e.is_empty())
}

/// The users list's `q`, `cursor` (or `after`, its older name) and `limit`; a 400 naming the
/// field for any that is not right.
fn user_search(head: &RequestHead) -> Result<UserSearch, ApiError> {
    let params = Params::from_urlencoded(head.query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(e.description()))?;
    let mut errors = Vec::new();
    let limit = match params.get("limit") {
        None => DEFAULT_USER_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_USER_PAGE).contains(n))
            .unwrap_or_else(|| {
                errors.push(("limit".into(), format!("must be from 1 to {MAX_USER_PAGE}")));
                0
            }),
    };
    let q = params.get("q").map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.len() > MAX_USER_QUERY || q.chars().any(char::is_control)) {
        errors.push((
            "q".into(),
            format!("must be at most {MAX_USER_QUERY} bytes of text"),
        ));
    }
    let cursor = match (params.get("cursor"), params.get("after")) {
        (Some(_), Some(_)) => {
            errors.push(("cursor".into(), "send cursor or after, not both".into()));
            None
        }
        (Some(c), None) | (None, Some(c)) => {
            let email = decode_user_cursor(c);
            if email.is_none() {
                errors.push((
                    "cursor".into(),
                    "is not a next_cursor this list gave".into(),
                ));
            }
            email
        }
        (None, None) => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(UserSearch {
        prefix: q.map(str::to_string),
        after: cursor,
        limit,
    })
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
