//! `/admin/api/invitations`: administrators invite people to make an account (the way in on a
//! plugin whose `sign_in.sign_up` is `invite`, and a welcome on an open one). An invitation is a
//! challenge mailed to the address: its link opens the sign-up form for that address, with the
//! roles the invitation names, once, for seven days. Served here, after the admin credential,
//! because it needs the portal's key, mail and links.

use serde_json::{json, Value};

use crate::accounts::challenge::{EmailChallenge, Pending, Purpose, INVITATION_TTL_SECS};
use crate::accounts::mail_texts as mail;
use crate::config::SignUpPolicy;
use crate::directory::admin::AdminDirectory;
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::oauth::server::AuthServer;
use crate::portal::proof::typed_email;
use crate::ports::Backend;
use crate::routes::{AdminRoute, SIGN_UP_PATH};
use crate::sql::Sql;

const MAX_ROLES: usize = 20;
const LIST_LIMIT: u32 = 100;

fn invitation_json(c: &EmailChallenge) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "roles": c.pending.roles,
        "created_at": c.created_at,
        "expires_at": c.expires_at,
    })
}

impl<B: Backend> AuthServer<'_, B> {
    /// `GET` the open invitations, `POST {email, roles?}` one, `DELETE …/{id}` withdraw one.
    pub async fn invitations<S: Sql>(
        &self,
        route: AdminRoute<'_>,
        head: &RequestHead,
        body: &[u8],
        sql: &S,
    ) -> Result<Reply, ApiError> {
        match (route, head.method()) {
            (AdminRoute::Invitations, Method::Get) => {
                let open = self
                    .backend
                    .open_invitations(self.issuer(), self.now, LIST_LIMIT)
                    .await?;
                let items: Vec<Value> = open.iter().map(invitation_json).collect();
                Ok(Reply::json(200, &json!({ "items": items })).no_store())
            }
            (AdminRoute::Invitations, _) => self.invite(body, sql).await,
            (AdminRoute::Invitation(id), _) => self.withdraw_invitation(id).await,
            _ => Err(ApiError::NotFound),
        }
    }

    async fn invite<S: Sql>(&self, body: &[u8], sql: &S) -> Result<Reply, ApiError> {
        let fields = crate::admin::json_body(body)?;
        if self.config.sign_in.sign_up == SignUpPolicy::Closed || self.config.mail.is_none() {
            return Err(ApiError::Validation(vec![(
                "email".into(),
                "cannot be invited here: this plugin's sign_in.sign_up is closed, or no MAIL_FROM is set".into(),
            )]));
        }
        let email = typed_email(fields.get("email").and_then(Value::as_str)).ok_or_else(|| {
            ApiError::Validation(vec![("email".into(), "must be an email address".into())])
        })?;
        let roles = match fields.get("roles") {
            None | Some(Value::Null) => self.config.sign_in.sign_up_rules.default_roles.clone(),
            Some(Value::Array(items)) if items.len() <= MAX_ROLES => items
                .iter()
                .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::Validation(vec![("roles".into(), "must be role names".into())])
                })?,
            Some(_) => {
                return Err(ApiError::Validation(vec![(
                    "roles".into(),
                    format!("must be an array of at most {MAX_ROLES} role names"),
                )]))
            }
        };
        let directory = AdminDirectory { sql, now: self.now };
        let missing = directory
            .missing_role_names(&roles)
            .await
            .map_err(crate::admin::sql_error)?;
        if !missing.is_empty() {
            return Err(ApiError::Validation(vec![(
                "roles".into(),
                format!("names no role: {}", missing.join(", ")),
            )]));
        }
        if self.backend.find_user_by_email(&email).await?.is_some() {
            return Err(ApiError::Conflict {
                field: "email".into(),
                message: "already has an account".into(),
            });
        }
        let now = self.now as u64;
        let to_recipient = self
            .backend
            .charge(
                &format!("mail-to:{}", crate::primitives::hash::sha256_hex(&email)),
                crate::accounts::challenge::MAILS_PER_RECIPIENT,
                crate::accounts::challenge::MAIL_WINDOW_SECS,
                now,
            )
            .await?;
        if !to_recipient.allowed {
            return Err(ApiError::Throttled {
                retry_after_secs: to_recipient.reset_secs.max(1),
            });
        }
        let pending = Pending {
            roles,
            ..Pending::default()
        };
        let (challenge, secrets) = self
            .issue_challenge(Purpose::Invite, &email, None, pending)
            .await?;
        let link = format!(
            "{}{SIGN_UP_PATH}?invitation={}",
            self.issuer(),
            secrets.link_token
        );
        let logo = self.mail_logo();
        self.send(mail::invitation(
            self.mail_brand(&logo),
            &email,
            &link,
            INVITATION_TTL_SECS,
        ));
        Ok(Reply::json(201, &invitation_json(&challenge)).no_store())
    }

    async fn withdraw_invitation(&self, id: &str) -> Result<Reply, ApiError> {
        let invitation = self
            .backend
            .challenge(id)
            .await?
            .filter(|c| c.purpose == Purpose::Invite && c.is_open(self.issuer(), self.now))
            .ok_or(ApiError::NotFound)?;
        if !self.use_up(&invitation).await? {
            return Err(ApiError::NotFound);
        }
        Ok(Reply::new(204).no_store())
    }
}
