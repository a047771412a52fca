//! `GET|POST /account`: the apps a signed-in user allowed and their API keys, and revoking either;
//! on `user_http` plugins, users also make, rename and rotate their own keys here.

use crate::accounts::api_keys::{
    issue_api_key, own_key_scopes, validate_key_name, MAX_OWN_API_KEYS,
};
use crate::error::ApiError;
use crate::federation::IdentityProvider;
use crate::http::{Reply, RequestHead};
use crate::oauth::server::{body_params, redirect, with_cookie, AuthServer};
use crate::ports::{ApiKeySummary, AppAccess, Backend, LinkedIdentity, OwnApiKey, User, WaysIn};
use crate::proxy::auth::AuthConfig;
use crate::routes::ACCOUNT_PATH;
use crate::web::pages::{
    account_page, message_page, message_with_link, AccountItem, AccountView, KeyManager,
    ProviderButton, ShownKey,
};
use crate::web::session::{csrf_token, read_cookie, verify_csrf, Session};

impl<B: Backend> AuthServer<'_, B> {
    /// `GET /account`: the signed-in user's grants and API keys, each revocable.
    pub async fn account(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (csrf, csrf_set) = self.csrf_cookie(head)?;
        let session = self.session(head);
        let user = match &session {
            Some(s) => self.session_user(s).await?,
            None => None,
        };
        let (Some(session), Some(user)) = (session, user) else {
            let reply = self.sign_in_page(&csrf, ACCOUNT_PATH, None);
            return Ok(with_cookie(reply, csrf_set));
        };
        let reply = self.account_view(&csrf, &session, &user, None).await?;
        Ok(with_cookie(reply, csrf_set))
    }

    /// The account page of `user`, signed in with `session`; `shown`: a key just made or
    /// rotated, shown this once (only ever in the answer to the form that made it).
    async fn account_view(
        &self,
        csrf: &str,
        session: &Session,
        user: &User,
        shown: Option<ShownKey<'_>>,
    ) -> Result<Reply, ApiError> {
        // One entry per app (a client on one API resource): what it may do, and one button that
        // ends all of it. Revoked and ended grants are history and stay off the page.
        let grants: Vec<AccountItem> = self
            .backend
            .apps_of(&user.id)
            .await?
            .into_iter()
            .map(|app| app_item(app, &self.config.plugin.resource))
            .collect();
        let own_keys = self.own_keys_plugin();
        let summaries = self.backend.api_keys_of(&user.id, own_keys).await?;
        let live = summaries.iter().filter(|k| k.revoked_at.is_none()).count();
        let keys = summaries
            .into_iter()
            .map(|k| key_item(k, own_keys.is_some()))
            .collect::<Vec<_>>();
        let key_manager = own_keys.map(|_| KeyManager {
            shown,
            room: MAX_OWN_API_KEYS.saturating_sub(live),
            limit: MAX_OWN_API_KEYS,
        });
        let offered = &self.config.sign_in.providers;
        let linked = if offered.is_empty() {
            Vec::new()
        } else {
            self.backend.identities_of(&user.id).await?
        };
        // The last way in stays: an identity goes only if a way in this plugin offers remains.
        let offered_ids = self.offered_providers();
        let ways = self.ways_in(&offered_ids);
        let providers: Vec<&str> = linked.iter().map(|i| i.provider.as_str()).collect();
        let has_password = user.password_hash.is_some();
        let identities: Vec<AccountItem> = linked
            .iter()
            .map(|i| {
                let can_unlink = ways.remain_without(&i.provider, has_password, &providers);
                identity_item(i, offered, can_unlink)
            })
            .collect();
        let link_buttons: Vec<ProviderButton<'_>> = offered
            .iter()
            .filter(|p| !linked.iter().any(|i| i.provider == p.id))
            .map(|p| ProviderButton {
                action: p.start_path(),
                name: &p.name,
            })
            .collect();
        let account_token = csrf_token(self.key(), csrf, &format!("account:{}", session.nonce));
        let billing = self.plan_of_account(user, &account_token).await?;
        let passkeys = self
            .passkeys_section(user, &session.nonce, &account_token)
            .await?;
        let enrolled = self.backend.second_factor(&user.id).await?.is_some();
        let second_factor = crate::web::second_factor_pages::second_factor_section(enrolled);
        let reply = account_page(
            self.brand(),
            &AccountView {
                billing: &billing,
                passkeys: &passkeys,
                second_factor: &second_factor,
                user_email: &user.email,
                grants: &grants,
                keys: &keys,
                identities: &identities,
                link_buttons: &link_buttons,
                csrf_token: &account_token,
                logout_csrf_token: &csrf_token(
                    self.key(),
                    csrf,
                    &format!("logout:{}", session.nonce),
                ),
                key_manager,
            },
        );
        Ok(if passkeys.is_empty() {
            reply
        } else {
            crate::web::passkey_pages::allow_passkey_script(reply)
        })
    }

    /// The plugin whose keys its users make and manage on this page: this one, when its callers
    /// send their own API keys (`user_http`); `None` elsewhere, where the page lists a user's
    /// keys (made by an administrator) and offers only to revoke them.
    fn own_keys_plugin(&self) -> Option<&str> {
        matches!(self.config.plugin.auth, AuthConfig::UserHttp { .. })
            .then_some(self.config.plugin.name_for_model.as_str())
    }

    /// The plan section of the account page, for plugins that sell plans: the plan, this
    /// period's use of its quota, and the ways to change it.
    async fn plan_of_account(
        &self,
        user: &crate::ports::User,
        csrf: &str,
    ) -> Result<String, ApiError> {
        let plans = &self.config.plugin.plans;
        if plans.is_empty() {
            return Ok(String::new());
        }
        let (subscription, customer) = self.billing_of(&user.id).await;
        let subscription = subscription?;
        let standing = subscription
            .as_ref()
            .map(|s| s.standing(self.now))
            .unwrap_or(crate::billing::Standing::Free);
        let quota = crate::billing::quota_for(plans, &standing, self.config.plugin.quota);
        let usage = match quota {
            Some(q) => {
                let key = crate::quota::counter_key(&self.config.plugin.name_for_model, &user.id);
                Some(self.backend.quota_usage(&key, q, self.now as u64).await?)
            }
            None => None,
        };
        Ok(crate::billing::pages::plan_section(
            &self.plan_name(&standing),
            subscription.as_ref().map(|s| s.status.as_str()),
            usage,
            plans,
            &standing,
            csrf,
            customer?.is_some(),
        ))
    }

    /// `POST /account`: revoke one of the user's grants or API keys, then show the page again; or
    /// sign out everywhere.
    pub async fn account_action(&self, head: &RequestHead, body: &[u8]) -> Result<Reply, ApiError> {
        let params = match body_params(head, body) {
            Ok(p) => p,
            Err(e) => return Ok(self.local_error(400, &e.description)),
        };
        let Some(session) = self.session(head) else {
            return Ok(self.local_error(401, "Your session ended. Sign in again."));
        };
        let purpose = format!("account:{}", session.nonce);
        if !verify_csrf(
            self.key(),
            read_cookie(head, self.cookies().csrf),
            &purpose,
            params.get("csrf_token"),
        ) {
            return Ok(self.local_error(403, "This form expired or did not come from this site."));
        }
        let Some(user) = self.session_user(&session).await? else {
            return Ok(self
                .local_error(401, "Your session ended. Sign in again.")
                .with_header("set-cookie", self.clear_session_cookie()));
        };
        let Some(action) =
            AccountAction::parse(params.get("action"), params.get("id"), params.get("name"))
        else {
            return Ok(self.local_error(400, "Unknown action."));
        };
        if let Some(key_action) = KeyAction::of(action) {
            let Some(plugin) = self.own_keys_plugin() else {
                return Ok(
                    self.key_refusal(404, "This plugin's API keys are made by its administrator.")
                );
            };
            let csrf = read_cookie(head, self.cookies().csrf).unwrap_or_default();
            return self
                .own_key_action(csrf, &session, &user, plugin, key_action)
                .await;
        }
        match self.perform(&session.user_id, action).await? {
            Some(refused) => Ok(refused),
            None => Ok(redirect(303, ACCOUNT_PATH)),
        }
    }

    /// Does what the account page's form asked; the page of an action refused, or (signing out
    /// everywhere) its own page. `None`: done, the account page is shown again.
    async fn perform(
        &self,
        user_id: &str,
        action: AccountAction<'_>,
    ) -> Result<Option<Reply>, ApiError> {
        match action {
            AccountAction::SignOutEverywhere => {
                self.backend.end_sessions(user_id).await?;
                Ok(Some(
                    message_page(
                        200,
                        self.brand(),
                        "Signed out everywhere",
                        "You are signed out in every browser you had signed in with.",
                    )
                    .with_header("set-cookie", self.clear_session_cookie()),
                ))
            }
            AccountAction::RevokeApp {
                client_id,
                resource,
            } => {
                // Every grant of the app ends, and its consent is forgotten: it asks again.
                let grants: Vec<_> = self
                    .backend
                    .grants_of(user_id)
                    .await?
                    .into_iter()
                    .filter(|g| {
                        g.client_id == client_id
                            && g.resource.as_deref().unwrap_or("") == resource
                            && g.revoked_at.is_none()
                    })
                    .collect();
                for g in &grants {
                    self.grants().revoke(&g.grant_id, self.now).await?;
                }
                self.backend
                    .forget_consent(user_id, client_id, resource)
                    .await?;
                Ok(None)
            }
            AccountAction::RevokeGrant(id) => {
                let owned = self
                    .backend
                    .grants_of(user_id)
                    .await?
                    .into_iter()
                    .any(|g| g.grant_id == id);
                if !owned {
                    return Ok(Some(
                        self.local_error(404, "That app access was not found."),
                    ));
                }
                self.grants().revoke(id, self.now).await?;
                Ok(None)
            }
            AccountAction::UnlinkIdentity(provider) => self.unlink(user_id, provider).await,
            // Handled by `own_key_action` before this.
            AccountAction::CreateKey { .. }
            | AccountAction::RenameKey { .. }
            | AccountAction::RotateKey(_) => Ok(Some(self.local_error(400, "Unknown action."))),
            AccountAction::RevokeKey(id) => {
                let plugin = self.own_keys_plugin();
                if !self
                    .backend
                    .revoke_api_key(user_id, id, plugin, self.now)
                    .await?
                {
                    return Ok(Some(self.local_error(404, "That API key was not found.")));
                }
                Ok(None)
            }
        }
    }

    /// Makes, renames or rotates one of the user's own keys at `plugin`. A new key is shown in
    /// this answer alone (never in a redirect's URL, a log line or a later page); a refusal is a
    /// page saying why, with nothing stored.
    async fn own_key_action(
        &self,
        csrf: &str,
        session: &Session,
        user: &User,
        plugin: &str,
        action: KeyAction<'_>,
    ) -> Result<Reply, ApiError> {
        match action {
            KeyAction::Create { name } => {
                let name = match validate_key_name(name) {
                    Ok(name) => name,
                    Err(e) => return Ok(self.key_refusal(400, &e.message())),
                };
                let held = self.user_scope_context(&user.id, None, None).await?;
                let scopes = own_key_scopes(&held.permissions, None);
                let issued = issue_api_key(self.backend)?;
                let key = OwnApiKey {
                    id: &issued.id,
                    user_id: &user.id,
                    plugin,
                    prefix: &issued.prefix,
                    key_hash: &issued.key_hash,
                    name: &name,
                    scopes: &scopes,
                };
                if !self
                    .backend
                    .create_own_api_key(&key, MAX_OWN_API_KEYS, self.now)
                    .await?
                {
                    return Ok(self.key_refusal(409, &too_many_keys()));
                }
                let shown = ShownKey {
                    name: &name,
                    key: issued.key.expose(),
                };
                self.account_view(csrf, session, user, Some(shown)).await
            }
            KeyAction::Rename { id, name } => {
                let name = match validate_key_name(name) {
                    Ok(name) => name,
                    Err(e) => return Ok(self.key_refusal(400, &e.message())),
                };
                if !self
                    .backend
                    .rename_api_key(&user.id, plugin, id, &name)
                    .await?
                {
                    return Ok(self.key_refusal(404, KEY_NOT_FOUND));
                }
                Ok(redirect(303, ACCOUNT_PATH))
            }
            KeyAction::Rotate(id) => {
                let keys = self.backend.api_keys_of(&user.id, Some(plugin)).await?;
                let Some(old) = keys.iter().find(|k| k.id == id && k.revoked_at.is_none()) else {
                    return Ok(self.key_refusal(404, KEY_NOT_FOUND));
                };
                let held = self.user_scope_context(&user.id, None, None).await?;
                let scopes = own_key_scopes(&held.permissions, Some(&old.scopes));
                let issued = issue_api_key(self.backend)?;
                let new = OwnApiKey {
                    id: &issued.id,
                    user_id: &user.id,
                    plugin,
                    prefix: &issued.prefix,
                    key_hash: &issued.key_hash,
                    name: &old.name,
                    scopes: &scopes,
                };
                if !self.backend.rotate_api_key(id, &new, self.now).await? {
                    return Ok(self.key_refusal(404, KEY_NOT_FOUND));
                }
                let shown = ShownKey {
                    name: &old.name,
                    key: issued.key.expose(),
                };
                self.account_view(csrf, session, user, Some(shown)).await
            }
        }
    }

    /// A key form refused: why, and the way back to the account page; nothing was stored.
    fn key_refusal(&self, status: u16, message: &str) -> Reply {
        message_with_link(
            status,
            self.brand(),
            "API key not changed",
            message,
            ACCOUNT_PATH,
            "Back to your account",
        )
    }

    /// Unlinks the user's identity at `provider`, unless it is their only way in.
    async fn unlink(&self, user_id: &str, provider: &str) -> Result<Option<Reply>, ApiError> {
        let holds = self
            .backend
            .identities_of(user_id)
            .await?
            .iter()
            .any(|i| i.provider == provider);
        if !holds {
            return Ok(Some(
                self.local_error(404, "That sign-in is not linked to your account."),
            ));
        }
        let offered_ids = self.offered_providers();
        let ways = self.ways_in(&offered_ids);
        if !self
            .backend
            .unlink_identity(user_id, provider, &ways)
            .await?
        {
            return Ok(Some(self.local_error(409, only_way_in(ways.password))));
        }
        Ok(None)
    }
}

impl<B: Backend> AuthServer<'_, B> {
    /// The ids of the providers this plugin's sign-in page offers.
    fn offered_providers(&self) -> Vec<&str> {
        self.config
            .sign_in
            .providers
            .iter()
            .map(|p| p.id.as_str())
            .collect()
    }

    /// The ways in this plugin offers (`offered`: [`Self::offered_providers`]), which the last
    /// way in is counted among.
    fn ways_in<'p>(&self, offered: &'p [&'p str]) -> WaysIn<'p> {
        WaysIn {
            password: self.config.sign_in.password,
            providers: offered,
        }
    }
}

/// A Unix time as a calendar date (UTC), for the account page.
pub(crate) fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

/// An app on the account page: a client on one API resource, what it may do, since when; the
/// resource is named only when it is not the plugin's own.
fn app_item(app: AppAccess, own_resource: &str) -> AccountItem {
    let scopes = if app.scopes.is_empty() {
        "no permissions".to_string()
    } else {
        app.scopes.join(" ")
    };
    let on = url::Url::parse(&app.resource)
        .ok()
        .filter(|_| app.resource != own_resource)
        .and_then(|u| u.host_str().map(|h| format!(" on {h}{}", u.path())))
        .unwrap_or_default();
    AccountItem {
        kind: "app",
        id: format!("{} {}", app.client_id, app.resource),
        title: format!("{}{on}", app.client_name),
        detail: format!("may: {scopes} · since {}", date(app.since)),
        button: Some("Revoke"),
        status: "",
        manage: None,
    }
}

/// An API key on the account page: its prefix and name, scopes, and when it was last used;
/// `managed`: its user renames and rotates it here too.
fn key_item(k: ApiKeySummary, managed: bool) -> AccountItem {
    let live = k.revoked_at.is_none();
    AccountItem {
        manage: (managed && live).then(|| k.name.clone()),
        kind: "key",
        id: k.id,
        title: format!("{}… {}", k.prefix, k.name),
        detail: format!(
            "{} · created {} · {}",
            if k.scopes.is_empty() {
                "no scopes"
            } else {
                &k.scopes
            },
            date(k.created_at),
            k.last_used_at
                .map(|t| format!("last used {}", date(t)))
                .unwrap_or_else(|| "never used".into())
        ),
        button: live.then_some("Revoke"),
        status: "revoked",
    }
}

/// A linked identity on the account page: the provider, the email it gave, when it was last
/// used; unlinkable unless it is the last way in.
fn identity_item(
    i: &LinkedIdentity,
    offered: &[IdentityProvider],
    can_unlink: bool,
) -> AccountItem {
    let name = offered
        .iter()
        .find(|p| p.id == i.provider)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| i.provider.clone());
    AccountItem {
        kind: "identity",
        id: i.provider.clone(),
        title: name,
        detail: format!(
            "{}linked {} · last used {}",
            if i.email.is_empty() {
                String::new()
            } else {
                format!("{} · ", i.email)
            },
            date(i.created_at),
            date(i.last_used_at)
        ),
        button: can_unlink.then_some("Unlink"),
        status: "your only way in",
        manage: None,
    }
}

/// What the account page's form asks (`action`, and `id` naming what it acts on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction<'a> {
    SignOutEverywhere,
    /// Every grant of one app at one resource (`id` is `{client_id} {resource}`; no resource:
    /// the default one).
    RevokeApp {
        client_id: &'a str,
        resource: &'a str,
    },
    RevokeGrant(&'a str),
    /// The identity at this provider.
    UnlinkIdentity(&'a str),
    RevokeKey(&'a str),
    /// A key of the user's own, named `name` (what was typed; checked by the handler).
    CreateKey {
        name: Option<&'a str>,
    },
    RenameKey {
        id: &'a str,
        name: Option<&'a str>,
    },
    /// A new secret for the key; the old one is revoked at once.
    RotateKey(&'a str),
}

/// The account page's actions on a user's own keys, which only `user_http` plugins offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAction<'a> {
    Create { name: Option<&'a str> },
    Rename { id: &'a str, name: Option<&'a str> },
    Rotate(&'a str),
}

impl<'a> KeyAction<'a> {
    fn of(action: AccountAction<'a>) -> Option<KeyAction<'a>> {
        Some(match action {
            AccountAction::CreateKey { name } => KeyAction::Create { name },
            AccountAction::RenameKey { id, name } => KeyAction::Rename { id, name },
            AccountAction::RotateKey(id) => KeyAction::Rotate(id),
            _ => return None,
        })
    }
}

/// What the page says for a key id that is not one of the user's live keys here.
const KEY_NOT_FOUND: &str = "That API key was not found.";

/// Why no key was made: the limit, and what to do.
fn too_many_keys() -> String {
    format!(
        "You already hold {MAX_OWN_API_KEYS} live API keys here, the most one account may hold. Revoke one you no longer use, then make the new one."
    )
}

impl<'a> AccountAction<'a> {
    /// The action a form names (with its `id` and `name` fields); `None` for one the page does
    /// not have.
    pub fn parse(
        action: Option<&str>,
        id: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Option<AccountAction<'a>> {
        let id = id.unwrap_or("");
        Some(match action? {
            "sign-out-everywhere" => AccountAction::SignOutEverywhere,
            "revoke-app" => {
                let (client_id, resource) = id.split_once(' ').unwrap_or((id, ""));
                AccountAction::RevokeApp {
                    client_id,
                    resource,
                }
            }
            "revoke-grant" => AccountAction::RevokeGrant(id),
            "unlink-identity" => AccountAction::UnlinkIdentity(id),
            "revoke-key" => AccountAction::RevokeKey(id),
            "create-key" => AccountAction::CreateKey { name },
            "rename-key" => AccountAction::RenameKey { id, name },
            "rotate-key" => AccountAction::RotateKey(id),
            _ => return None,
        })
    }
}

/// Why a sign-in cannot be unlinked: it is the only way in, and what the user can do about it.
fn only_way_in(password_sign_in: bool) -> &'static str {
    if password_sign_in {
        "That sign-in cannot be removed: it is your only way in. Link another or ask an administrator to set a password first."
    } else {
        "That sign-in cannot be removed: it is your only way in. Link another first."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_action_names_what_it_acts_on() {
        assert_eq!(
            AccountAction::parse(Some("sign-out-everywhere"), None, None),
            Some(AccountAction::SignOutEverywhere)
        );
        assert_eq!(
            AccountAction::parse(Some("revoke-grant"), Some("g1"), None),
            Some(AccountAction::RevokeGrant("g1"))
        );
        assert_eq!(
            AccountAction::parse(Some("unlink-identity"), Some("google"), None),
            Some(AccountAction::UnlinkIdentity("google"))
        );
        assert_eq!(
            AccountAction::parse(Some("revoke-key"), None, None),
            Some(AccountAction::RevokeKey(""))
        );
    }

    #[test]
    fn an_app_is_its_client_at_one_resource_or_the_default_one() {
        assert_eq!(
            AccountAction::parse(
                Some("revoke-app"),
                Some("chatgpt https://api.example.com"),
                None
            ),
            Some(AccountAction::RevokeApp {
                client_id: "chatgpt",
                resource: "https://api.example.com"
            })
        );
        assert_eq!(
            AccountAction::parse(Some("revoke-app"), Some("chatgpt"), None),
            Some(AccountAction::RevokeApp {
                client_id: "chatgpt",
                resource: ""
            })
        );
    }

    #[test]
    fn an_action_the_page_does_not_have_is_refused() {
        assert_eq!(
            AccountAction::parse(Some("delete-account"), Some("x"), None),
            None
        );
        assert_eq!(AccountAction::parse(None, Some("x"), None), None);
    }

    #[test]
    fn the_only_way_in_says_what_the_user_can_do() {
        assert!(only_way_in(true).ends_with("ask an administrator to set a password first."));
        assert!(only_way_in(false).ends_with("Link another first."));
    }
}
