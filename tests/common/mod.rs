//! In-memory implementations of the ports, for native flow tests.
#![allow(dead_code)]

pub mod browser;
pub mod fixtures;
pub mod jws;
pub mod sqlite;

use std::cell::RefCell;
use std::collections::HashMap;

use portcullis::accounts::challenge::EmailChallenge;
use portcullis::accounts::mail::Mail;
use portcullis::directory::HasDirectory;
use portcullis::federation::oidc::{parse_discovery, Discovery};
use portcullis::jose::keys::RsaSigningKey;
use portcullis::oauth::client::{Client, ClientOrigin};
use portcullis::oauth::client_assertion::{JwsAlgorithm, PublicJwk};
use portcullis::oauth::grant::{
    redeem_code, rotate_refresh, CodeRedemption, GrantError, GrantState, Issued, RefreshRotation,
};
use portcullis::ports::{
    AccountStore, ApiKeySummary, AppAccess, ClientKeys, ClientRegistry, ConsentKey, GrantHolder,
    GrantStore, GrantSummary, IdentityStore, JwsSigner, JwsVerifier, KeptTokens, LinkedIdentity,
    NewFederatedUser, OwnApiKey, PasswordHasher, PolicyStore, ProvisionOutcome, RegisteredClient,
    RegistrationOutcome, Rng, Sleep, StoreError, Throttle, TokenCipher, Upstream, UpstreamRequest,
    UpstreamResponse, UpstreamTokenStore, User, UserDirectory, WaysIn,
};
use portcullis::ports::{
    ChallengeStore, NewAccount, Outbox, Passkey, PasskeyStore, SecondFactor, SecondFactorStore,
};
use portcullis::quota::Quota;
use portcullis::quota::{charge, refund, remember_once, QuotaDecision, Window};
use portcullis::rbac::scope::{Resource, ScopeContext};

/// A remembered consent's key: (user, client, resource, issuer).
pub type ConsentRow = (String, String, String, String);

#[derive(Default)]
pub struct MemoryBackend {
    pub clients: HashMap<String, Client>,
    /// Clients registered through the registration endpoint.
    pub registered: RefCell<Vec<RegisteredClient>>,
    /// Mutable, so tests can disable or delete a user mid-flow.
    pub users: RefCell<Vec<User>>,
    /// Resource by indicator, and whether it is the default.
    pub resources: Vec<(Resource, bool)>,
    /// (user id, resource id) → permissions.
    pub permissions: HashMap<(String, String), Vec<String>>,
    pub grants: RefCell<HashMap<String, GrantState>>,
    pub counters: RefCell<HashMap<String, Window>>,
    pub grant_index: RefCell<Vec<(String, GrantSummary)>>,
    pub api_keys: RefCell<Vec<(String, ApiKeySummary)>>,
    /// Every store call, to count round trips.
    pub calls: RefCell<Vec<&'static str>>,
    /// When set, every store call fails.
    pub fail: RefCell<bool>,
    /// Store calls named here fail (one store down, the other up).
    pub failing: RefCell<Vec<&'static str>>,
    /// Grants whose revocation was asked for in the index: grant id → when.
    pub revocation_intents: RefCell<HashMap<String, i64>>,
    /// Makes only the RS256 signer fail (WebCrypto down), everything else working.
    pub fail_rs256: RefCell<bool>,
    /// Remembered consents: (user, client, resource, issuer) → scopes.
    pub consents: RefCell<HashMap<ConsentRow, Vec<String>>>,
    /// JWKS documents "published" at their URIs, as a client's `jwks_uri` would serve them.
    pub published_jwks: RefCell<HashMap<String, Vec<PublicJwk>>>,
    /// Calls named here take a turn of the executor before answering (and record `<name>
    /// answered` when they do), so tests can see what runs while one is in flight.
    pub slow_calls: RefCell<Vec<&'static str>>,
    /// Every delay the server asked for, in milliseconds (nothing actually waits).
    pub sleeps: RefCell<Vec<u64>>,
    /// Upstream identities: (user id, identity).
    pub identities: RefCell<Vec<(String, LinkedIdentity)>>,
    /// Roles given to provisioned users: user id → role names.
    pub provisioned_roles: RefCell<HashMap<String, Vec<String>>>,
    /// Role names that exist, for provisioning (empty: every name exists).
    pub role_names: Vec<String>,
    /// What upstream providers answer, by `METHOD url` (a missing one is a provider that is
    /// down); a test plays the provider by filling it in, and sees every request sent.
    pub upstream_answers: RefCell<HashMap<String, UpstreamResponse>>,
    pub upstream_requests: RefCell<Vec<UpstreamRequest>>,
    /// Kept upstream tokens, sealed.
    pub kept: RefCell<Vec<KeptTokens>>,
    /// Kept tokens another call stores while this one waits for the provider (a parallel refresh
    /// that won the race).
    pub kept_meanwhile: RefCell<Option<KeptTokens>>,
    /// Subscriptions by (plugin, user), Stripe customers by user, applied event ids.
    pub subscriptions:
        RefCell<HashMap<(String, String), portcullis::billing::subscription::Subscription>>,
    pub customers: RefCell<HashMap<String, String>>,
    pub billing_events: RefCell<Vec<String>>,
    /// Email challenges (codes and links), as stored.
    pub challenges: RefCell<Vec<EmailChallenge>>,
    /// Every mail posted, in order: the test's inbox.
    pub mails: RefCell<Vec<Mail>>,
    /// Accounts made by sign-up: user id → (roles, terms accepted).
    pub made_accounts: RefCell<HashMap<String, (Vec<String>, String)>>,
    /// Passkeys, in the order they were added.
    pub passkeys: RefCell<Vec<Passkey>>,
    /// Second factors by user, as stored.
    pub second_factors: RefCell<HashMap<String, SecondFactor>>,
}

impl MemoryBackend {
    /// Everything the stores hold that a request could write (grants, their index, consents,
    /// registrations, API keys, users), sorted, so a test can show a refusal changed nothing.
    /// Throttle counters are left out: counting a failure is what a refusal is meant to do.
    pub fn stored(&self) -> String {
        let mut grants: Vec<_> = self
            .grants
            .borrow()
            .iter()
            .map(|(id, g)| format!("{id}: {g:?}"))
            .collect();
        grants.sort();
        let mut consents: Vec<_> = self
            .consents
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k:?}: {v:?}"))
            .collect();
        consents.sort();
        let mut intents: Vec<_> = self
            .revocation_intents
            .borrow()
            .clone()
            .into_iter()
            .collect();
        intents.sort();
        let mut factors: Vec<_> = self
            .second_factors
            .borrow()
            .iter()
            .map(|(user, f)| format!("{user}: {f:?}"))
            .collect();
        factors.sort();
        format!(
            "grants {grants:?}\nindex {:?}\nrevocation intents {intents:?}\nconsents {consents:?}\nregistered {:?}\nkeys {:?}\nusers {:?}\nchallenges {:?}\naccounts {:?}\npasskeys {:?}\nsecond factors {factors:?}",
            self.grant_index.borrow(),
            self.registered.borrow(),
            self.api_keys.borrow(),
            self.users.borrow(),
            self.challenges.borrow(),
            self.made_accounts.borrow(),
            self.passkeys.borrow(),
        )
    }

    /// What a user's or a client's roles hold on a resource (`permissions`, by holder id).
    fn held_on(&self, holder: &str, resource: Option<&Resource>) -> Vec<String> {
        resource
            .and_then(|r| self.permissions.get(&(holder.to_string(), r.id.clone())))
            .cloned()
            .unwrap_or_default()
    }

    /// The named resource; when none is named, the plugin's own, else the default one.
    fn resource_for(&self, indicator: Option<&str>, site_resource: &str) -> Option<Resource> {
        let named = |i: &str| self.resources.iter().find(|(r, _)| r.indicator == i);
        match indicator {
            Some(i) => named(i),
            None => named(site_resource).or_else(|| self.resources.iter().find(|(_, d)| *d)),
        }
        .map(|(r, _)| r.clone())
    }

    async fn answer_slowly(&self, name: &str, answered: &'static str) {
        if self.slow_calls.borrow().contains(&name) {
            YieldOnce(false).await;
            self.calls.borrow_mut().push(answered);
        }
    }

    fn call(&self, name: &'static str) -> Result<(), StoreError> {
        self.calls.borrow_mut().push(name);
        if *self.fail.borrow() || self.failing.borrow().contains(&name) {
            return Err(StoreError::unavailable(format!("{name}: injected failure")));
        }
        Ok(())
    }
}

impl ClientRegistry for MemoryBackend {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.call("find_client")?;
        self.answer_slowly("find_client", "find_client answered")
            .await;
        Ok(self.clients.get(client_id).cloned().or_else(|| {
            self.registered
                .borrow()
                .iter()
                .find(|r| r.client.id == client_id)
                .map(|r| r.client.clone())
        }))
    }
    async fn register_client(
        &self,
        registered: &RegisteredClient,
    ) -> Result<RegistrationOutcome, StoreError> {
        self.call("register_client")?;
        self.registered.borrow_mut().push(registered.clone());
        Ok(RegistrationOutcome::Stored)
    }
    async fn first_party_client_names(&self) -> Result<Vec<String>, StoreError> {
        self.call("first_party_client_names")?;
        Ok(self
            .clients
            .values()
            .filter(|c| c.origin == ClientOrigin::Admin)
            .map(|c| c.name.clone())
            .collect())
    }
}

impl UserDirectory for MemoryBackend {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.call("find_user_by_email")?;
        Ok(self
            .users
            .borrow()
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned())
    }
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        self.call("find_user")?;
        self.answer_slowly("find_user", "find_user answered").await;
        Ok(self
            .users
            .borrow()
            .iter()
            .find(|u| u.id == user_id)
            .cloned())
    }
    async fn end_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        self.call("end_sessions")?;
        for u in self.users.borrow_mut().iter_mut() {
            if u.id == user_id {
                u.session_epoch += 1;
            }
        }
        Ok(())
    }
}

impl PolicyStore for MemoryBackend {
    async fn scope_context(
        &self,
        user_id: &str,
        consent: Option<ConsentKey<'_>>,
        indicator: Option<&str>,
        site_resource: &str,
        _plan_roles: &str,
    ) -> Result<ScopeContext, StoreError> {
        self.call("scope_context")?;
        self.answer_slowly("scope_context", "scope_context answered")
            .await;
        let resource = self.resource_for(indicator, site_resource);
        let permissions = self.held_on(user_id, resource.as_ref());
        let consented = match (consent, &resource) {
            (Some(c), Some(r)) => self
                .consents
                .borrow()
                .get(&(
                    user_id.to_string(),
                    c.client_id.to_string(),
                    r.indicator.clone(),
                    c.issuer.to_string(),
                ))
                .cloned(),
            _ => None,
        };
        Ok(ScopeContext {
            resource,
            permissions,
            descriptions: Vec::new(),
            consented,
            ..ScopeContext::default()
        })
    }

    /// A client's permissions live in `permissions` under (client id, resource id).
    async fn client_scope_context(
        &self,
        client_id: &str,
        indicator: Option<&str>,
        site_resource: &str,
    ) -> Result<ScopeContext, StoreError> {
        self.call("client_scope_context")?;
        let resource = self.resource_for(indicator, site_resource);
        Ok(ScopeContext {
            permissions: self.held_on(client_id, resource.as_ref()),
            resource,
            ..ScopeContext::default()
        })
    }
}

impl AccountStore for MemoryBackend {
    async fn record_consent(
        &self,
        user_id: &str,
        consent: ConsentKey<'_>,
        resource: &str,
        scopes: &[String],
        _now: i64,
    ) -> Result<(), StoreError> {
        self.call("record_consent")?;
        let mut consents = self.consents.borrow_mut();
        let held = consents
            .entry((
                user_id.into(),
                consent.client_id.into(),
                resource.into(),
                consent.issuer.into(),
            ))
            .or_default();
        for scope in scopes {
            if !held.contains(scope) {
                held.push(scope.clone());
            }
        }
        Ok(())
    }
    async fn forget_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<(), StoreError> {
        self.call("forget_consent")?;
        // At every plugin, as the account page's revocation does.
        self.consents
            .borrow_mut()
            .retain(|(u, c, r, _), _| !(u == user_id && c == client_id && r == resource));
        Ok(())
    }
    async fn apps_of(&self, user_id: &str) -> Result<Vec<AppAccess>, StoreError> {
        self.call("apps_of")?;
        let mut apps: Vec<AppAccess> = Vec::new();
        let name = |id: &str| {
            self.clients
                .get(id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        for ((user, client, resource, _), scopes) in self.consents.borrow().iter() {
            if let Some(app) = apps
                .iter_mut()
                .find(|a| user == user_id && a.client_id == *client && a.resource == *resource)
            {
                for scope in scopes {
                    if !app.scopes.contains(scope) {
                        app.scopes.push(scope.clone());
                    }
                }
            } else if user == user_id {
                apps.push(AppAccess {
                    client_id: client.clone(),
                    client_name: name(client),
                    resource: resource.clone(),
                    scopes: scopes.clone(),
                    since: 0,
                });
            }
        }
        for (user, g) in self.grant_index.borrow().iter() {
            let resource = g.resource.clone().unwrap_or_default();
            if user != user_id
                || g.revoked_at.is_some()
                || apps
                    .iter()
                    .any(|a| a.client_id == g.client_id && a.resource == resource)
            {
                continue;
            }
            apps.push(AppAccess {
                client_id: g.client_id.clone(),
                client_name: g.client_name.clone(),
                resource,
                scopes: g
                    .scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                since: g.created_at,
            });
        }
        Ok(apps)
    }
    async fn record_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.call("record_grant")?;
        let name = self
            .clients
            .get(&grant.client_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        self.grant_index.borrow_mut().push((
            grant.user_id.clone(),
            GrantSummary {
                grant_id: grant.grant_id.clone(),
                client_id: grant.client_id.clone(),
                client_name: name,
                scopes: grant.scopes.join(" "),
                resource: grant.resource.as_ref().map(|r| r.indicator.clone()),
                created_at: grant.created_at,
                revoked_at: None,
            },
        ));
        Ok(())
    }
    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantSummary>, StoreError> {
        self.call("grants_of")?;
        Ok(self
            .grant_index
            .borrow()
            .iter()
            .rev()
            .filter(|(u, _)| u == user_id)
            .map(|(_, g)| g.clone())
            .collect())
    }
    async fn mark_grant_revoked(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.call("mark_grant_revoked")?;
        let mut user = None;
        for (uid, g) in self.grant_index.borrow_mut().iter_mut() {
            if g.grant_id == grant_id && g.revoked_at.is_none() {
                user = Some(uid.clone());
                g.revoked_at = Some(now);
            }
        }
        // As the directory does: the user's kept upstream tokens go with the grant, when it
        // becomes revoked (not again each time a revoked grant's token is refused).
        if let Some(user) = user {
            self.kept.borrow_mut().retain(|k| k.user_id != user);
        }
        Ok(())
    }
    async fn request_revocation(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.call("request_revocation")?;
        let live = self
            .grant_index
            .borrow()
            .iter()
            .any(|(_, g)| g.grant_id == grant_id && g.revoked_at.is_none());
        if live {
            self.revocation_intents
                .borrow_mut()
                .entry(grant_id.to_string())
                .or_insert(now);
        }
        Ok(())
    }
    async fn request_revocations_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.call("request_revocations_of")?;
        let ids: Vec<String> = self
            .grant_index
            .borrow()
            .iter()
            .filter(|(u, g)| u == user_id && g.revoked_at.is_none())
            .map(|(_, g)| g.grant_id.clone())
            .collect();
        let mut intents = self.revocation_intents.borrow_mut();
        for id in &ids {
            intents.entry(id.clone()).or_insert(now);
        }
        Ok(ids)
    }
    async fn unfinished_revocations(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        self.call("unfinished_revocations")?;
        let index = self.grant_index.borrow();
        let mut unfinished: Vec<(i64, String)> = self
            .revocation_intents
            .borrow()
            .iter()
            .filter(|(id, _)| {
                index
                    .iter()
                    .any(|(_, g)| &g.grant_id == *id && g.revoked_at.is_none())
            })
            .map(|(id, at)| (*at, id.clone()))
            .collect();
        unfinished.sort();
        Ok(unfinished
            .into_iter()
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }
    async fn holder_of_grant(
        &self,
        grant_id: &str,
        _plan_roles: &str,
    ) -> Result<Option<GrantHolder>, StoreError> {
        self.call("holder_of_grant")?;
        let indexed = self
            .grant_index
            .borrow()
            .iter()
            .find(|(_, g)| g.grant_id == grant_id)
            .map(|(u, g)| (u.clone(), g.resource.clone()));
        let Some((user_id, resource)) = indexed else {
            return Ok(None);
        };
        let Some(user) = self
            .users
            .borrow()
            .iter()
            .find(|u| u.id == user_id)
            .cloned()
        else {
            return Ok(None);
        };
        let on = resource
            .as_deref()
            .and_then(|i| self.resource_for(Some(i), ""));
        Ok(Some(GrantHolder {
            permissions: self.held_on(&user_id, on.as_ref()),
            user,
            resource,
        }))
    }
    async fn api_keys_of(
        &self,
        user_id: &str,
        plugin: Option<&str>,
    ) -> Result<Vec<ApiKeySummary>, StoreError> {
        self.call("api_keys_of")?;
        Ok(self
            .api_keys
            .borrow()
            .iter()
            .filter(|(u, k)| u == user_id && plugin.is_none_or(|p| k.plugin.as_deref() == Some(p)))
            .map(|(_, k)| k.clone())
            .collect())
    }
    async fn revoke_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        plugin: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.call("revoke_api_key")?;
        let mut found = false;
        for (u, k) in self.api_keys.borrow_mut().iter_mut() {
            if u == user_id
                && k.id == key_id
                && plugin.is_none_or(|p| k.plugin.as_deref() == Some(p))
            {
                k.revoked_at.get_or_insert(now);
                found = true;
            }
        }
        Ok(found)
    }
    async fn create_own_api_key(
        &self,
        key: &OwnApiKey<'_>,
        limit: usize,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.call("create_own_api_key")?;
        let live = self
            .api_keys
            .borrow()
            .iter()
            .filter(|(u, k)| {
                u == key.user_id
                    && k.plugin.as_deref() == Some(key.plugin)
                    && k.revoked_at.is_none()
            })
            .count();
        if live >= limit {
            return Ok(false);
        }
        self.api_keys.borrow_mut().push((
            key.user_id.to_string(),
            ApiKeySummary {
                id: key.id.into(),
                plugin: Some(key.plugin.into()),
                prefix: key.prefix.into(),
                name: key.name.into(),
                scopes: key.scopes.into(),
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            },
        ));
        Ok(true)
    }
    async fn rename_api_key(
        &self,
        user_id: &str,
        plugin: &str,
        key_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.call("rename_api_key")?;
        let mut keys = self.api_keys.borrow_mut();
        let Some((_, k)) = keys.iter_mut().find(|(u, k)| {
            u == user_id
                && k.id == key_id
                && k.plugin.as_deref() == Some(plugin)
                && k.revoked_at.is_none()
        }) else {
            return Ok(false);
        };
        k.name = name.into();
        Ok(true)
    }
    async fn rotate_api_key(
        &self,
        old_id: &str,
        new: &OwnApiKey<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.call("rotate_api_key")?;
        let mut keys = self.api_keys.borrow_mut();
        let Some((_, old)) = keys.iter_mut().find(|(u, k)| {
            u == new.user_id
                && k.id == old_id
                && k.plugin.as_deref() == Some(new.plugin)
                && k.revoked_at.is_none()
        }) else {
            return Ok(false);
        };
        old.revoked_at = Some(now);
        let rotated = ApiKeySummary {
            id: new.id.into(),
            plugin: Some(new.plugin.into()),
            prefix: new.prefix.into(),
            name: old.name.clone(),
            scopes: new.scopes.into(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        keys.push((new.user_id.to_string(), rotated));
        Ok(true)
    }
}

impl GrantStore for MemoryBackend {
    async fn create_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.call("create_grant")?;
        self.grants
            .borrow_mut()
            .insert(grant.grant_id.clone(), grant.clone());
        Ok(())
    }
    async fn redeem_code(
        &self,
        grant_id: &str,
        r: &CodeRedemption,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        self.call("redeem_code")?;
        self.answer_slowly("redeem_code", "redeem_code answered")
            .await;
        let mut grants = self.grants.borrow_mut();
        Ok(match grants.get_mut(grant_id) {
            Some(state) => redeem_code(state, r),
            None => Err(GrantError::NotFound),
        })
    }
    async fn rotate_refresh(
        &self,
        grant_id: &str,
        r: &RefreshRotation,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        self.call("rotate_refresh")?;
        self.answer_slowly("rotate_refresh", "rotate_refresh answered")
            .await;
        let mut grants = self.grants.borrow_mut();
        Ok(match grants.get_mut(grant_id) {
            Some(state) => rotate_refresh(state, r),
            None => Err(GrantError::RefreshUnknown),
        })
    }
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.call("revoke_grant")?;
        if let Some(state) = self.grants.borrow_mut().get_mut(grant_id) {
            state.revoked = true;
            state.refresh = None;
        }
        Ok(())
    }
    async fn undo_step(
        &self,
        grant_id: &str,
        step: &portcullis::oauth::grant::Undo,
    ) -> Result<(), StoreError> {
        self.call("undo_step")?;
        if let Some(state) = self.grants.borrow_mut().get_mut(grant_id) {
            portcullis::oauth::grant::undo(state, step);
        }
        Ok(())
    }
    async fn load_grant(&self, grant_id: &str) -> Result<Option<GrantState>, StoreError> {
        self.call("load_grant")?;
        Ok(self.grants.borrow().get(grant_id).cloned())
    }
}

impl PasswordHasher for MemoryBackend {
    async fn pbkdf2_sha256(
        &self,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], StoreError> {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut out);
        Ok(out)
    }
}

impl Throttle for MemoryBackend {
    async fn peek(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.call("throttle_peek")?;
        let w = self.counters.borrow().get(key).copied().unwrap_or_default();
        Ok(portcullis::quota::peek(
            Quota {
                limit,
                period_secs: window_secs,
            },
            w,
            now,
        ))
    }
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.call("throttle_charge")?;
        let mut counters = self.counters.borrow_mut();
        let w = counters.get(key).copied().unwrap_or_default();
        let (next, d) = charge(
            Quota {
                limit,
                period_secs: window_secs,
            },
            w,
            now,
        );
        counters.insert(key.to_string(), next);
        Ok(d)
    }
    async fn refund(
        &self,
        key: &str,
        _limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.call("throttle_refund")?;
        self.answer_slowly("throttle_refund", "throttle_refund answered")
            .await;
        let mut counters = self.counters.borrow_mut();
        let w = counters.get(key).copied().unwrap_or_default();
        counters.insert(key.to_string(), refund(w, now - now % window_secs));
        Ok(())
    }
    async fn remember_once(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        self.call("remember_once")?;
        let mut counters = self.counters.borrow_mut();
        let w = counters.get(key).copied().unwrap_or_default();
        let (next, fresh) = remember_once(w, ttl_secs, now);
        counters.insert(key.to_string(), next);
        Ok(fresh)
    }
    async fn quota_usage(
        &self,
        key: &str,
        quota: Quota,
        now: u64,
    ) -> Result<portcullis::quota::QuotaUsage, StoreError> {
        self.call("throttle_peek")?;
        let w = self.counters.borrow().get(key).copied().unwrap_or_default();
        Ok(portcullis::quota::usage(quota, w, now))
    }
}

/// The native stand-in for WebCrypto: the RustCrypto and ed25519-compact verifiers.
impl JwsVerifier for MemoryBackend {
    async fn verify_jws(
        &self,
        alg: JwsAlgorithm,
        key: &PublicJwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, StoreError> {
        self.call("verify_jws")?;
        Ok(jws::verify(alg, key, message, signature))
    }
}

/// The native stand-in for WebCrypto's RS256 signing: the RustCrypto signer.
impl JwsSigner for MemoryBackend {
    async fn sign_rs256(&self, key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.call("sign_rs256")?;
        if *self.fail_rs256.borrow() {
            return Err(StoreError::unavailable("sign_rs256: injected failure"));
        }
        jws::sign_rs256(key.private_jwk(), message).map_err(StoreError::Unavailable)
    }
}

impl ClientKeys for MemoryBackend {
    async fn client_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        _now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        self.call(if refresh {
            "client_jwks_refresh"
        } else {
            "client_jwks"
        })?;
        Ok(self
            .published_jwks
            .borrow()
            .get(jwks_uri)
            .cloned()
            .ok_or_else(|| format!("{jwks_uri}: no answer")))
    }
}

impl IdentityStore for MemoryBackend {
    async fn accounts_for(
        &self,
        provider: &str,
        subject: &str,
        email: &str,
    ) -> Result<(Option<User>, Option<User>), StoreError> {
        self.call("accounts_for")?;
        let users = self.users.borrow();
        let linked = self
            .identities
            .borrow()
            .iter()
            .find(|(_, i)| i.provider == provider && i.subject == subject)
            .and_then(|(uid, _)| users.iter().find(|u| u.id == *uid).cloned());
        let by_email = users
            .iter()
            .find(|u| !email.is_empty() && u.email.eq_ignore_ascii_case(email))
            .cloned();
        Ok((linked, by_email))
    }
    async fn link_identity(
        &self,
        user_id: &str,
        identity: &LinkedIdentity,
    ) -> Result<bool, StoreError> {
        self.call("link_identity")?;
        let mut all = self.identities.borrow_mut();
        if all
            .iter()
            .any(|(_, i)| i.provider == identity.provider && i.subject == identity.subject)
        {
            return Ok(false);
        }
        all.push((user_id.to_string(), identity.clone()));
        Ok(true)
    }
    async fn touch_identity(&self, identity: &LinkedIdentity) -> Result<(), StoreError> {
        self.call("touch_identity")?;
        for (_, i) in self.identities.borrow_mut().iter_mut() {
            if i.provider == identity.provider && i.subject == identity.subject {
                i.last_used_at = identity.last_used_at;
                i.email = identity.email.clone();
                i.email_verified = identity.email_verified;
            }
        }
        Ok(())
    }
    async fn provision_user(&self, new: &NewFederatedUser) -> Result<ProvisionOutcome, StoreError> {
        self.call("provision_user")?;
        if !self.role_names.is_empty() && new.roles.iter().any(|r| !self.role_names.contains(r)) {
            return Ok(ProvisionOutcome::MissingRole);
        }
        let taken = self
            .users
            .borrow()
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(&new.email))
            || self.identities.borrow().iter().any(|(_, i)| {
                i.provider == new.identity.provider && i.subject == new.identity.subject
            });
        if taken {
            return Ok(ProvisionOutcome::Taken);
        }
        self.users.borrow_mut().push(User {
            id: new.id.clone(),
            email: new.email.clone(),
            name: new.name.clone(),
            password_hash: None,
            disabled: false,
            session_epoch: 0,
        });
        self.provisioned_roles
            .borrow_mut()
            .insert(new.id.clone(), new.roles.clone());
        self.identities
            .borrow_mut()
            .push((new.id.clone(), new.identity.clone()));
        Ok(ProvisionOutcome::Created)
    }
    async fn identities_of(&self, user_id: &str) -> Result<Vec<LinkedIdentity>, StoreError> {
        self.call("identities_of")?;
        Ok(self
            .identities
            .borrow()
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, i)| i.clone())
            .collect())
    }
    async fn unlink_identity(
        &self,
        user_id: &str,
        provider: &str,
        ways: &WaysIn<'_>,
    ) -> Result<bool, StoreError> {
        self.call("unlink_identity")?;
        let has_password = self
            .users
            .borrow()
            .iter()
            .any(|u| u.id == user_id && u.password_hash.is_some());
        let mut all = self.identities.borrow_mut();
        let linked: Vec<&str> = all
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, i)| i.provider.as_str())
            .collect();
        if !ways.remain_without(provider, has_password, &linked) {
            return Ok(false);
        }
        let before = all.len();
        all.retain(|(u, i)| !(u == user_id && i.provider == provider));
        Ok(all.len() < before)
    }
}

impl UpstreamTokenStore for MemoryBackend {
    async fn keep_tokens(&self, tokens: &KeptTokens) -> Result<(), StoreError> {
        self.call("keep_tokens")?;
        let mut kept = self.kept.borrow_mut();
        kept.retain(|k| !(k.provider == tokens.provider && k.subject == tokens.subject));
        kept.push(tokens.clone());
        Ok(())
    }
    async fn kept_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<KeptTokens>, StoreError> {
        self.call("kept_tokens")?;
        Ok(self
            .kept
            .borrow()
            .iter()
            .find(|k| k.user_id == user_id && k.provider == provider)
            .cloned())
    }
    async fn forget_tokens(
        &self,
        user_id: &str,
        provider: &str,
        sealed_refresh: &str,
    ) -> Result<(), StoreError> {
        self.call("forget_tokens")?;
        self.kept.borrow_mut().retain(|k| {
            !(k.user_id == user_id
                && k.provider == provider
                && k.refresh_token.as_deref() == Some(sealed_refresh))
        });
        Ok(())
    }
}

/// AES-256-GCM as WebCrypto does it: `v1.` and base64url of IV, ciphertext and tag.
pub fn seal_aes_gcm(key: &[u8; 32], plaintext: &str, aad: &str) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine;
    let cipher = aes_gcm::Aes256Gcm::new(key.into());
    let mut iv = [0u8; 12];
    getrandom::fill(&mut iv).unwrap();
    let sealed = cipher
        .encrypt(
            (&iv).into(),
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    let mut out = iv.to_vec();
    out.extend(sealed);
    format!(
        "v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    )
}

pub fn unseal_aes_gcm(key: &[u8; 32], sealed: &str, aad: &str) -> Option<String> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed.strip_prefix("v1.")?)
        .ok()?;
    if bytes.len() <= 28 {
        return None;
    }
    let cipher = aes_gcm::Aes256Gcm::new(key.into());
    let plain = cipher
        .decrypt(
            bytes[..12].into(),
            Payload {
                msg: &bytes[12..],
                aad: aad.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

impl portcullis::ports::BillingStore for MemoryBackend {
    async fn subscription_of(
        &self,
        plugin: &str,
        user_id: &str,
    ) -> Result<Option<portcullis::billing::subscription::Subscription>, StoreError> {
        self.call("subscription_of")?;
        Ok(self
            .subscriptions
            .borrow()
            .get(&(plugin.to_string(), user_id.to_string()))
            .cloned())
    }
    async fn customer_of(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        self.call("customer_of")?;
        Ok(self.customers.borrow().get(user_id).cloned())
    }
    /// Applies once; the ordering rules are the SQL's, tested on SQLite (`tests/admin_api.rs`).
    async fn apply_billing_event(
        &self,
        delivery: &portcullis::billing::subscription::Delivery,
        change: &portcullis::billing::subscription::Change,
        _now: i64,
    ) -> Result<bool, StoreError> {
        use portcullis::billing::subscription::{Change, Subscription};
        self.call("apply_billing_event")?;
        if self.billing_events.borrow().contains(&delivery.event_id) {
            return Ok(false);
        }
        self.billing_events
            .borrow_mut()
            .push(delivery.event_id.clone());
        match change {
            Change::Nothing | Change::PaymentFailed { .. } | Change::Status { .. } => {}
            Change::Customer { user_id, customer } => {
                self.customers
                    .borrow_mut()
                    .insert(user_id.clone(), customer.clone());
            }
            Change::Subscription(row) => {
                self.customers
                    .borrow_mut()
                    .insert(row.user_id.clone(), row.stripe_customer.clone());
                self.subscriptions.borrow_mut().insert(
                    (row.plugin.clone(), row.user_id.clone()),
                    Subscription {
                        plan: row.plan.clone(),
                        status: row.status.clone(),
                        stripe_customer: row.stripe_customer.clone(),
                        current_period_end: row.current_period_end,
                    },
                );
            }
        }
        Ok(true)
    }
}

impl TokenCipher for MemoryBackend {
    async fn seal(&self, key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, StoreError> {
        Ok(seal_aes_gcm(key, plaintext, aad))
    }
    async fn unseal(
        &self,
        key: &[u8; 32],
        sealed: &str,
        aad: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(unseal_aes_gcm(key, sealed, aad))
    }
}

impl Upstream for MemoryBackend {
    async fn upstream(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        if let Some(winner) = self.kept_meanwhile.borrow_mut().take() {
            let mut kept = self.kept.borrow_mut();
            kept.retain(|k| !(k.provider == winner.provider && k.subject == winner.subject));
            kept.push(winner);
        }
        let key = format!("{} {}", request.method, request.url);
        self.upstream_requests.borrow_mut().push(request);
        self.upstream_answers
            .borrow()
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("{key}: no answer within 5000 ms"))
    }
    async fn discovery(
        &self,
        issuer: &str,
        _refresh: bool,
        _now: i64,
    ) -> Result<Discovery, String> {
        let url = portcullis::federation::oidc::discovery_url(issuer);
        let answer = self
            .upstream_answers
            .borrow()
            .get(&format!("GET {url}"))
            .cloned()
            .ok_or_else(|| format!("{url}: no answer"))?;
        parse_discovery(issuer, &answer.body)
    }
    async fn provider_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        _now: i64,
    ) -> Result<Vec<PublicJwk>, String> {
        self.calls.borrow_mut().push(if refresh {
            "provider_jwks_refresh"
        } else {
            "provider_jwks"
        });
        self.published_jwks
            .borrow()
            .get(jwks_uri)
            .cloned()
            .ok_or_else(|| format!("{jwks_uri}: no answer"))
    }
}

impl SecondFactorStore for MemoryBackend {
    async fn second_factor(&self, user_id: &str) -> Result<Option<SecondFactor>, StoreError> {
        self.call("second_factor")?;
        Ok(self.second_factors.borrow().get(user_id).cloned())
    }
    async fn enrol_second_factor(
        &self,
        user_id: &str,
        sealed_secret: &str,
        last_step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        self.call("enrol_second_factor")?;
        self.second_factors.borrow_mut().insert(
            user_id.to_string(),
            SecondFactor {
                sealed_secret: sealed_secret.to_string(),
                last_step: Some(last_step),
                created_at: now,
                recovery_hashes: recovery_hashes.to_vec(),
            },
        );
        Ok(())
    }
    async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        self.call("accept_totp_step")?;
        let mut all = self.second_factors.borrow_mut();
        match all.get_mut(user_id) {
            Some(f) if f.last_step.is_none_or(|last| last < step) => {
                f.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn spend_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, StoreError> {
        self.call("spend_recovery_code")?;
        let mut all = self.second_factors.borrow_mut();
        let Some(f) = all.get_mut(user_id) else {
            return Ok(false);
        };
        let before = f.recovery_hashes.len();
        f.recovery_hashes.retain(|h| h != hash);
        Ok(f.recovery_hashes.len() < before)
    }
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        _now: i64,
    ) -> Result<bool, StoreError> {
        self.call("replace_recovery_codes")?;
        let mut all = self.second_factors.borrow_mut();
        let Some(f) = all.get_mut(user_id) else {
            return Ok(false);
        };
        f.recovery_hashes = hashes.to_vec();
        Ok(true)
    }
    async fn remove_second_factor(&self, user_id: &str) -> Result<(), StoreError> {
        self.call("remove_second_factor")?;
        self.second_factors.borrow_mut().remove(user_id);
        Ok(())
    }
}

impl ChallengeStore for MemoryBackend {
    async fn put_challenge(&self, challenge: &EmailChallenge) -> Result<(), StoreError> {
        self.call("put_challenge")?;
        self.challenges.borrow_mut().push(challenge.clone());
        Ok(())
    }
    async fn challenge(&self, id: &str) -> Result<Option<EmailChallenge>, StoreError> {
        self.call("challenge")?;
        Ok(self
            .challenges
            .borrow()
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }
    async fn challenge_by_link(
        &self,
        link_hash: &str,
    ) -> Result<Option<EmailChallenge>, StoreError> {
        self.call("challenge_by_link")?;
        Ok(self
            .challenges
            .borrow()
            .iter()
            .find(|c| c.link_hash == link_hash)
            .cloned())
    }
    async fn count_attempt(
        &self,
        id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<EmailChallenge>, StoreError> {
        self.call("count_attempt")?;
        let mut all = self.challenges.borrow_mut();
        let Some(c) = all.iter_mut().find(|c| c.id == id) else {
            return Ok(None);
        };
        if c.used_at.is_some() || c.expires_at <= now || c.attempts >= max {
            return Ok(None);
        }
        c.attempts += 1;
        Ok(Some(c.clone()))
    }
    async fn open_invitations(
        &self,
        issuer: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<EmailChallenge>, StoreError> {
        self.call("open_invitations")?;
        let mut open: Vec<EmailChallenge> = self
            .challenges
            .borrow()
            .iter()
            .filter(|c| {
                c.purpose == portcullis::accounts::challenge::Purpose::Invite
                    && c.is_open(issuer, now)
            })
            .cloned()
            .collect();
        open.reverse();
        open.truncate(limit as usize);
        Ok(open)
    }
    async fn use_challenge(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        self.call("use_challenge")?;
        let mut all = self.challenges.borrow_mut();
        match all
            .iter_mut()
            .find(|c| c.id == id && c.used_at.is_none() && c.expires_at > now)
        {
            Some(c) => {
                c.used_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn create_account(&self, a: &NewAccount) -> Result<ProvisionOutcome, StoreError> {
        self.call("create_account")?;
        if !self.role_names.is_empty() && a.roles.iter().any(|r| !self.role_names.contains(r)) {
            return Ok(ProvisionOutcome::MissingRole);
        }
        if self
            .users
            .borrow()
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(&a.email))
        {
            return Ok(ProvisionOutcome::Taken);
        }
        self.users.borrow_mut().push(User {
            id: a.id.clone(),
            email: a.email.clone(),
            name: a.name.clone(),
            password_hash: a.password_hash.clone(),
            disabled: false,
            session_epoch: 0,
        });
        self.made_accounts
            .borrow_mut()
            .insert(a.id.clone(), (a.roles.clone(), a.terms.clone()));
        Ok(ProvisionOutcome::Created)
    }
    async fn reset_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.call("reset_password")?;
        for u in self
            .users
            .borrow_mut()
            .iter_mut()
            .filter(|u| u.id == user_id)
        {
            u.password_hash = Some(password_hash.to_string());
            u.session_epoch += 1;
        }
        for c in self.challenges.borrow_mut().iter_mut() {
            if c.user_id.as_deref() == Some(user_id)
                && c.purpose == portcullis::accounts::challenge::Purpose::Reset
                && c.used_at.is_none()
            {
                c.used_at = Some(now);
            }
        }
        Ok(())
    }
}

impl PasskeyStore for MemoryBackend {
    async fn add_passkey(&self, passkey: &Passkey) -> Result<bool, StoreError> {
        self.call("add_passkey")?;
        let mut all = self.passkeys.borrow_mut();
        if all.iter().any(|p| p.credential.id == passkey.credential.id) {
            return Ok(false);
        }
        all.push(passkey.clone());
        Ok(true)
    }
    async fn passkeys_of(&self, user_id: &str) -> Result<Vec<Passkey>, StoreError> {
        self.call("passkeys_of")?;
        Ok(self
            .passkeys
            .borrow()
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect())
    }
    async fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>, StoreError> {
        self.call("find_passkey")?;
        Ok(self
            .passkeys
            .borrow()
            .iter()
            .find(|p| p.credential.id == credential_id)
            .cloned())
    }
    async fn use_passkey(
        &self,
        credential_id: &str,
        sign_count: u32,
        backup_state: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.call("use_passkey")?;
        let mut all = self.passkeys.borrow_mut();
        let Some(p) = all.iter_mut().find(|p| p.credential.id == credential_id) else {
            return Ok(false);
        };
        let stored = p.credential.sign_count;
        if !((sign_count == 0 && stored == 0) || sign_count > stored) {
            return Ok(false);
        }
        p.credential.sign_count = sign_count;
        p.credential.backup_state = backup_state;
        p.last_used_at = Some(now);
        Ok(true)
    }
    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.call("rename_passkey")?;
        let mut all = self.passkeys.borrow_mut();
        match all
            .iter_mut()
            .find(|p| p.credential.id == credential_id && p.user_id == user_id)
        {
            Some(p) => {
                p.name = name.to_string();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        self.call("delete_passkey")?;
        let mut all = self.passkeys.borrow_mut();
        let before = all.len();
        all.retain(|p| !(p.credential.id == credential_id && p.user_id == user_id));
        Ok(all.len() < before)
    }
}

impl portcullis::ports::OwnAccount for MemoryBackend {
    async fn change_email(
        &self,
        user_id: &str,
        email: &str,
        _now: i64,
    ) -> Result<bool, StoreError> {
        self.call("change_email")?;
        let mut users = self.users.borrow_mut();
        if users
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(email) && u.id != user_id)
        {
            return Ok(false);
        }
        match users.iter_mut().find(|u| u.id == user_id) {
            Some(u) => {
                u.email = email.to_string();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn delete_account(
        &self,
        user_id: &str,
        _issuer: &str,
        _now: i64,
    ) -> Result<portcullis::ports::Deletion, StoreError> {
        self.call("delete_account")?;
        let held = self.subscriptions.borrow().iter().any(|((_, u), s)| {
            u == user_id
                && portcullis::billing::subscription::HOLDING_STATUSES.contains(&s.status.as_str())
        });
        if held {
            return Ok(portcullis::ports::Deletion::PaidPlan);
        }
        let before = self.users.borrow().len();
        self.users.borrow_mut().retain(|u| u.id != user_id);
        self.identities.borrow_mut().retain(|(u, _)| u != user_id);
        self.api_keys.borrow_mut().retain(|(u, _)| u != user_id);
        self.consents.borrow_mut().retain(|(u, ..), _| u != user_id);
        self.passkeys.borrow_mut().retain(|p| p.user_id != user_id);
        self.second_factors.borrow_mut().remove(user_id);
        Ok(if self.users.borrow().len() < before {
            portcullis::ports::Deletion::Deleted
        } else {
            portcullis::ports::Deletion::Gone
        })
    }
}

impl Outbox for MemoryBackend {
    fn post(&self, mail: Mail) {
        self.mails.borrow_mut().push(mail);
    }
}

impl Outbox for WithSqlUsers<'_> {
    fn post(&self, mail: Mail) {
        self.memory.post(mail);
    }
}

impl Sleep for MemoryBackend {
    async fn sleep(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
    }
}

impl Rng for MemoryBackend {
    fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
        getrandom::fill(buf).map_err(|e| StoreError::unavailable(e.to_string()))
    }
}

/// The memory backend with its users, roles, resources, consents and grant index on SQLite (the
/// real migrations and the directory's real SQL), so the admin API's changes (a user disabled, a
/// role taken away) and subscriptions reach the authorization server as they do on D1. Grants
/// (their ledger), throttles and keys stay in memory; clients are the memory's, else SQLite's.
pub struct WithSqlUsers<'a> {
    pub db: &'a sqlite::SqliteDb,
    pub memory: &'a MemoryBackend,
    pub now: i64,
}

/// Users, policy, accounts and identities: the directory's own ports, on SQLite.
impl portcullis::directory::HasDirectory for WithSqlUsers<'_> {
    type Sql = sqlite::SqliteDb;
    fn directory(&self) -> portcullis::directory::SqlDirectory<'_, sqlite::SqliteDb> {
        portcullis::directory::SqlDirectory {
            sql: self.db,
            now: self.now,
        }
    }
}

impl ClientRegistry for WithSqlUsers<'_> {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        match self.memory.find_client(client_id).await? {
            Some(client) => Ok(Some(client)),
            None => self.directory().find_client(client_id).await,
        }
    }
    async fn register_client(
        &self,
        registered: &RegisteredClient,
    ) -> Result<RegistrationOutcome, StoreError> {
        self.memory.register_client(registered).await
    }
    async fn first_party_client_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = self.memory.first_party_client_names().await?;
        names.extend(self.directory().first_party_client_names().await?);
        Ok(names)
    }
}

impl GrantStore for WithSqlUsers<'_> {
    async fn create_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.memory.create_grant(grant).await
    }
    async fn redeem_code(
        &self,
        grant_id: &str,
        r: &CodeRedemption,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        self.memory.redeem_code(grant_id, r).await
    }
    async fn rotate_refresh(
        &self,
        grant_id: &str,
        r: &RefreshRotation,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        self.memory.rotate_refresh(grant_id, r).await
    }
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.memory.revoke_grant(grant_id).await
    }
    async fn undo_step(
        &self,
        grant_id: &str,
        step: &portcullis::oauth::grant::Undo,
    ) -> Result<(), StoreError> {
        self.memory.undo_step(grant_id, step).await
    }
    async fn load_grant(&self, grant_id: &str) -> Result<Option<GrantState>, StoreError> {
        self.memory.load_grant(grant_id).await
    }
}

impl PasswordHasher for WithSqlUsers<'_> {
    async fn pbkdf2_sha256(
        &self,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], StoreError> {
        self.memory.pbkdf2_sha256(password, salt, iterations).await
    }
}

impl Throttle for WithSqlUsers<'_> {
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.memory.charge(key, limit, window_secs, now).await
    }
    async fn refund(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.memory.refund(key, limit, window_secs, now).await
    }
    async fn peek(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.memory.peek(key, limit, window_secs, now).await
    }
    async fn remember_once(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        self.memory.remember_once(key, ttl_secs, now).await
    }
    async fn quota_usage(
        &self,
        key: &str,
        quota: Quota,
        now: u64,
    ) -> Result<portcullis::quota::QuotaUsage, StoreError> {
        self.memory.quota_usage(key, quota, now).await
    }
}

impl JwsVerifier for WithSqlUsers<'_> {
    async fn verify_jws(
        &self,
        alg: JwsAlgorithm,
        key: &PublicJwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, StoreError> {
        self.memory.verify_jws(alg, key, message, signature).await
    }
}

impl JwsSigner for WithSqlUsers<'_> {
    async fn sign_rs256(&self, key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.memory.sign_rs256(key, message).await
    }
}

impl ClientKeys for WithSqlUsers<'_> {
    async fn client_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        self.memory.client_jwks(jwks_uri, refresh, now).await
    }
}

impl TokenCipher for WithSqlUsers<'_> {
    async fn seal(&self, key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, StoreError> {
        self.memory.seal(key, plaintext, aad).await
    }
    async fn unseal(
        &self,
        key: &[u8; 32],
        sealed: &str,
        aad: &str,
    ) -> Result<Option<String>, StoreError> {
        self.memory.unseal(key, sealed, aad).await
    }
}

impl Upstream for WithSqlUsers<'_> {
    async fn upstream(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        self.memory.upstream(request).await
    }
    async fn discovery(&self, issuer: &str, refresh: bool, now: i64) -> Result<Discovery, String> {
        self.memory.discovery(issuer, refresh, now).await
    }
    async fn provider_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Vec<PublicJwk>, String> {
        self.memory.provider_jwks(jwks_uri, refresh, now).await
    }
}

impl Sleep for WithSqlUsers<'_> {
    async fn sleep(&self, ms: u64) {
        self.memory.sleep(ms).await
    }
}

impl Rng for WithSqlUsers<'_> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.memory.fill(buf)
    }
}

/// A future that is pending once (waking itself), then ready.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Runs a future to completion on the test thread.
/// A grant whose code was just issued: what tests that only need one in the index start from.
pub fn issued_grant(grant_id: &str, user_id: &str, client_id: &str, now: i64) -> GrantState {
    GrantState {
        grant_id: grant_id.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        scopes: vec![],
        resource: None,
        redirect_uri: "https://chatgpt.com/cb".into(),
        redirect_uri_sent: true,
        code_challenge: None,
        code_hash: "h".into(),
        code_expires_at: now + 60,
        code_status: portcullis::oauth::grant::CodeStatus::Issued,
        refresh: None,
        revoked: false,
        created_at: now,
        nonce: None,
        auth_time: now,
        amr: Vec::new(),
        opaque_access: vec![],
        issuer: None,
        opaque_jkt: vec![],
        dpop_jkt: None,
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// The admin API's SQL where a test reaches only the authorization server: every statement fails,
/// so a flow that strays into the admin API says so.
pub struct NoSql;

impl portcullis::sql::Sql for NoSql {
    async fn query(
        &self,
        _sql: &str,
        _args: Vec<portcullis::sql::SqlValue>,
    ) -> Result<Vec<portcullis::sql::Row>, portcullis::sql::SqlError> {
        Err(portcullis::sql::SqlError::Other(
            "this test gives the admin API no database".into(),
        ))
    }
    async fn batch(
        &self,
        _statements: Vec<portcullis::sql::Statement>,
    ) -> Result<Vec<u64>, portcullis::sql::SqlError> {
        Err(portcullis::sql::SqlError::Other(
            "this test gives the admin API no database".into(),
        ))
    }
}
