//! Ports: the small async interfaces the decisions need from storage and the platform.
//!
//! Each has its real implementation in `src/edge/` (D1, Durable Objects, WebCrypto) and an
//! in-memory one in `tests/common/` for native flow tests. No `Send` bound: Workers run one
//! request per isolate thread.
#![allow(async_fn_in_trait)]

use crate::accounts::challenge::EmailChallenge;
use crate::accounts::mail::Mail;
use crate::accounts::webauthn::StoredCredential;
use crate::jose::jwk::PublicJwk;
use crate::oauth::client::Client;
use crate::oauth::grant::{CodeRedemption, GrantError, GrantState, Issued, RefreshRotation, Undo};
use crate::quota::QuotaDecision;
use crate::rbac::scope::ScopeContext;

pub use crate::error::StoreError;
pub use crate::jose::{JwsSigner, JwsVerifier};

/// Whose remembered consent a scope decision reads or records: what a user allowed one client at
/// one plugin (its issuer). Consent given at one plugin skips no consent page at another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentKey<'a> {
    /// The plugin's issuer (its public base URL).
    pub issuer: &'a str,
    pub client_id: &'a str,
}

/// A user as the portal and userinfo need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
    /// Portal sessions issued at another epoch are signed out (see `web::session`).
    pub session_epoch: i64,
}

/// A dynamically registered client, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    pub client: Client,
    /// The validated RFC 7591 metadata, as JSON.
    pub metadata: String,
    pub created_at: i64,
    /// Forgotten after this unless it starts a grant.
    pub expires_at: i64,
    /// The registrant's network: an IPv4 address, or an IPv6 /64 (see `throttle::source`).
    pub network: String,
}

/// Whether a self-registered client was stored, or which cap on unused registrations refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    Stored,
    /// The registrant's network holds `MAX_UNUSED_REGISTRATIONS_PER_NETWORK` unused ones.
    NetworkFull,
    /// The deployment holds `MAX_UNUSED_REGISTRATIONS` unused ones.
    Full,
}

pub trait ClientRegistry {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Stores a client that registered itself (RFC 7591); it expires unless a grant starts.
    /// Refused, storing nothing, when the caps on unused registrations are reached: the count
    /// and the insert are one statement, so parallel registrations cannot overshoot.
    async fn register_client(
        &self,
        client: &RegisteredClient,
    ) -> Result<RegistrationOutcome, StoreError>;
    /// The names of the clients an administrator registered (at most
    /// [`MAX_FIRST_PARTY_NAMES`]), which no self-registered or metadata-document client may go
    /// by (`oauth::display::check_client_name`).
    async fn first_party_client_names(&self) -> Result<Vec<String>, StoreError>;
}

/// Most names of administrators' clients a registration is checked against: enough for any
/// deployment that names its clients by hand, bounded for one that has scripted thousands.
pub const MAX_FIRST_PARTY_NAMES: usize = 2000;

pub trait UserDirectory {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError>;
    /// Signs out every portal session of the user: moves their session epoch on.
    async fn end_sessions(&self, user_id: &str) -> Result<(), StoreError>;
}

pub trait PolicyStore {
    /// The resource and the user's permissions on it through their roles, in one round trip.
    /// The resource is `indicator`; when none is named, the plugin's own (`site_resource`) if it
    /// is registered, else the default one.
    /// With `consent`, also what the user already allowed that client on the resource at that
    /// issuer.
    /// `plan_roles` (JSON, `[{"plugin", "plan", "role"}]`) names the roles a plan gives its
    /// subscribers: the user holds them too while their subscription to that plan holds.
    async fn scope_context(
        &self,
        user_id: &str,
        consent: Option<ConsentKey<'_>>,
        indicator: Option<&str>,
        site_resource: &str,
        plan_roles: &str,
    ) -> Result<ScopeContext, StoreError>;

    /// The same for a machine client (the `client_credentials` grant): the resource and the
    /// permissions the client's own roles hold on it. Nothing is ever consented for a client.
    async fn client_scope_context(
        &self,
        client_id: &str,
        indicator: Option<&str>,
        site_resource: &str,
    ) -> Result<ScopeContext, StoreError>;
}

pub trait GrantStore {
    async fn create_grant(&self, grant: &GrantState) -> Result<(), StoreError>;
    async fn redeem_code(
        &self,
        grant_id: &str,
        redemption: &CodeRedemption,
    ) -> Result<Result<Issued, GrantError>, StoreError>;
    async fn rotate_refresh(
        &self,
        grant_id: &str,
        rotation: &RefreshRotation,
    ) -> Result<Result<Issued, GrantError>, StoreError>;
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError>;
    /// Takes back a redemption or rotation whose token response could not be made (see
    /// [`crate::oauth::grant::undo`]); nothing changes if the grant has moved on since.
    async fn undo_step(&self, grant_id: &str, step: &Undo) -> Result<(), StoreError>;
    async fn load_grant(&self, grant_id: &str) -> Result<Option<GrantState>, StoreError>;
}

pub trait PasswordHasher {
    /// PBKDF2-HMAC-SHA256 with a 32-byte output.
    async fn pbkdf2_sha256(
        &self,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], StoreError>;
}

/// Counters for throttling (failed logins, failed client authentications).
pub trait Throttle {
    /// Counts one attempt against `key`; `allowed` is false when the window was already full
    /// (and then nothing was counted).
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError>;
    /// Gives one attempt back (it succeeded).
    async fn refund(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError>;
    /// Reads a counter without counting.
    async fn peek(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError>;
    /// Records `key` for `ttl_secs` from `now`; `false` when it is already recorded (a replay).
    /// Atomic: of parallel calls with one key, exactly one gets `true`.
    async fn remember_once(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError>;
    /// A quota counter as people are shown it: the calls made (see
    /// [`crate::quota::QuotaUsage`]). By default from [`Throttle::peek`], which is exact for a
    /// counter that is only charged; a store whose counters are leased says what was made.
    async fn quota_usage(
        &self,
        key: &str,
        quota: crate::quota::Quota,
        now: u64,
    ) -> Result<crate::quota::QuotaUsage, StoreError> {
        let seen = self.peek(key, quota.limit, quota.period_secs, now).await?;
        let counted = quota.limit.saturating_sub(seen.remaining);
        Ok(crate::quota::QuotaUsage {
            limit: quota.limit,
            made: counted,
            counted,
            reset_secs: seen.reset_secs,
        })
    }
}

/// The published keys of clients that authenticate with `private_key_jwt`.
pub trait ClientKeys {
    /// The signing keys at `jwks_uri`: cached, unless `refresh` asks for a new fetch (an unknown
    /// `kid`, after a key rotation), which the implementation may decline when it fetched very
    /// recently. The inner `Err` says why the keys cannot be had (an unsafe URL, too large, too
    /// slow, not a JWKS); the outer one is a platform failure.
    async fn client_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError>;
}

/// The key directories of signed agents (Web Bot Auth).
pub trait AgentDirectory {
    /// The Ed25519 keys valid now at `<origin>/.well-known/http-message-signatures-directory`:
    /// cached, unless `refresh` asks for a new fetch (an unknown `keyid`, after a rotation), which
    /// the implementation may decline when it fetched very recently. The inner `Err` says why
    /// there are none; the outer one is a platform failure.
    async fn agent_keys(
        &self,
        origin: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError>;
}

/// A grant as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    pub grant_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: String,
    pub resource: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A grant's user as the grant index names them, and the permissions their roles and plans hold
/// now on the resource the index records for the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantHolder {
    pub user: User,
    /// The grant's resource indicator as indexed; `None` for a grant without one.
    pub resource: Option<String>,
    pub permissions: Vec<String>,
}

/// An API key as its owner sees it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySummary {
    pub id: String,
    /// The plugin it works at (`None`: issued before keys named one).
    pub plugin: Option<String>,
    pub prefix: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One app with access to a user's account: a client on one API resource, with what the user
/// allowed it (its remembered consent, or its live grants' scopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAccess {
    pub client_id: String,
    pub client_name: String,
    /// The resource indicator; empty for grants without one.
    pub resource: String,
    pub scopes: Vec<String>,
    pub since: i64,
}

/// What a user's account page reads and changes: their grants and their API keys.
pub trait AccountStore {
    /// Remembers that the user has allowed the client these scopes on `resource` at the
    /// consent's issuer (all of them: the caller adds what was allowed before, which the scope
    /// decision already read).
    async fn record_consent(
        &self,
        user_id: &str,
        consent: ConsentKey<'_>,
        resource: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Forgets what the user allowed the client on the resource, at every plugin (revoking an
    /// app on the account page ends all of its access there).
    async fn forget_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<(), StoreError>;
    /// The apps with access: one entry per client and resource, from remembered consents and
    /// grants not revoked, newest first.
    async fn apps_of(&self, user_id: &str) -> Result<Vec<AppAccess>, StoreError>;
    /// Indexes a new grant under its user.
    async fn record_grant(&self, grant: &GrantState) -> Result<(), StoreError>;
    /// The user's grants, newest first.
    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantSummary>, StoreError>;
    /// Marks a grant revoked, once its ledger refuses its tokens (idempotent).
    async fn mark_grant_revoked(&self, grant_id: &str, now: i64) -> Result<(), StoreError>;
    /// Records that the grant is to be revoked, before its ledger is told (see
    /// [`crate::oauth::grant_stores`]); idempotent, and harmless for a grant the index does not know.
    async fn request_revocation(&self, grant_id: &str, now: i64) -> Result<(), StoreError>;
    /// Records the intent for every grant the user still holds, in one statement, and returns
    /// their ids.
    async fn request_revocations_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Grants whose revocation was asked for and not finished, oldest first.
    async fn unfinished_revocations(&self, limit: u32) -> Result<Vec<String>, StoreError>;
    /// The user a grant was given to and what their roles, and the roles of the plans they hold
    /// (`plan_roles`, as for [`PolicyStore::scope_context`]), hold now on the grant's resource,
    /// through the index (one read, which needs nothing from the grant itself, so it can run
    /// beside the grant's own round trip); `None` when the index does not know the grant or the
    /// user is gone.
    async fn holder_of_grant(
        &self,
        grant_id: &str,
        plan_roles: &str,
    ) -> Result<Option<GrantHolder>, StoreError>;
    /// The user's keys, newest first; with `plugin`, only the keys of that plugin.
    async fn api_keys_of(
        &self,
        user_id: &str,
        plugin: Option<&str>,
    ) -> Result<Vec<ApiKeySummary>, StoreError>;
    /// Revokes the key if it belongs to the user (and, with `plugin`, to that plugin); `false`
    /// if it does not.
    async fn revoke_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        plugin: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Stores a key the user made for themselves, unless they hold `limit` live keys at its
    /// plugin already: `false` then, and nothing is stored. The count and the insert are one
    /// statement, so two forms sent at once cannot pass the limit together.
    async fn create_own_api_key(
        &self,
        key: &OwnApiKey<'_>,
        limit: usize,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Renames the user's live key at `plugin`; `false` when they hold no such key.
    async fn rename_api_key(
        &self,
        user_id: &str,
        plugin: &str,
        key_id: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Replaces the user's live key `old_id` at its plugin by `new` (same name, `new.scopes`),
    /// revoking the old one in the same batch; `false`, and nothing changed, when they hold no
    /// such live key.
    async fn rotate_api_key(
        &self,
        old_id: &str,
        new: &OwnApiKey<'_>,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// A key a user makes or rotates on the account page: only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnApiKey<'k> {
    pub id: &'k str,
    pub user_id: &'k str,
    /// The plugin (`name_for_model`) whose account page made it: the only one it works at.
    pub plugin: &'k str,
    pub prefix: &'k str,
    pub key_hash: &'k str,
    /// Ignored by a rotation, which keeps the old key's name.
    pub name: &'k str,
    /// Space-separated scope tokens.
    pub scopes: &'k str,
}

/// An identity at an upstream provider, as linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    /// What the provider last said, lower-cased; empty when it said nothing.
    pub email: String,
    pub email_verified: bool,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// Who a new federated user is, and what they start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFederatedUser {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Role names.
    pub roles: Vec<String>,
    pub identity: LinkedIdentity,
}

/// Why a federated user was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionOutcome {
    Created,
    /// Another sign-in created a user with this email, or linked this identity, first.
    Taken,
    /// A role the provider's configuration names does not exist (nothing was created).
    MissingRole,
}

/// The users upstream identities lead to (`user_identities` in D1).
pub trait IdentityStore {
    /// In one round trip: the user `(provider, subject)` is linked to, and the user whose email
    /// is `email` (when it is not empty).
    async fn accounts_for(
        &self,
        provider: &str,
        subject: &str,
        email: &str,
    ) -> Result<(Option<User>, Option<User>), StoreError>;
    /// Links the identity to `user_id`; `false` when it is already linked (to anyone).
    async fn link_identity(
        &self,
        user_id: &str,
        identity: &LinkedIdentity,
    ) -> Result<bool, StoreError>;
    /// Records a sign-in with a linked identity: when, and the email the provider gave now.
    async fn touch_identity(&self, identity: &LinkedIdentity) -> Result<(), StoreError>;
    /// Creates the user, their roles (by name) and the identity, all or nothing.
    async fn provision_user(&self, user: &NewFederatedUser)
        -> Result<ProvisionOutcome, StoreError>;
    /// The user's identities, by provider.
    async fn identities_of(&self, user_id: &str) -> Result<Vec<LinkedIdentity>, StoreError>;
    /// Unlinks the user's identity at `provider`, unless no way in that `ways` counts would
    /// remain ([`WaysIn::remain_without`]), checked in the same statement; `false` when nothing
    /// was unlinked.
    async fn unlink_identity(
        &self,
        user_id: &str,
        provider: &str,
        ways: &WaysIn<'_>,
    ) -> Result<bool, StoreError>;
}

/// The ways into an account a plugin offers, which the guard on a user's unlinking counts: the
/// password form (a password counts only where the form is offered) and the providers its
/// sign-in page shows. An identity at any other provider signs in to nothing here: an enterprise
/// provider's (it backs assertions at `/token`, not a sign-in) or one only other plugins offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaysIn<'a> {
    pub password: bool,
    pub providers: &'a [&'a str],
}

impl WaysIn<'_> {
    /// Whether a user with a password (`has_password`) and identities at `linked` still has a
    /// way in here once the identity at `unlinking` is gone.
    pub fn remain_without(&self, unlinking: &str, has_password: bool, linked: &[&str]) -> bool {
        (self.password && has_password)
            || linked
                .iter()
                .any(|p| *p != unlinking && self.providers.contains(p))
    }
}

/// A user's tokens at an upstream provider, as kept: each token sealed (see
/// [`crate::federation::tokens`]), never in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTokens {
    pub provider: String,
    pub subject: String,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires; `None` when the provider gave no lifetime (GitHub's OAuth
    /// apps: until revoked).
    pub expires_at: Option<i64>,
    pub scope: String,
    pub updated_at: i64,
}

/// Upstream tokens at rest (`upstream_tokens` in D1). Unlinking the identity or deleting the user
/// deletes them (the schema's cascade), and so does revoking any grant of the user
/// ([`AccountStore::mark_grant_revoked`]).
pub trait UpstreamTokenStore {
    /// Keeps the tokens of an identity, replacing what was kept.
    async fn keep_tokens(&self, tokens: &KeptTokens) -> Result<(), StoreError>;
    /// The tokens kept for the user at `provider`.
    async fn kept_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<KeptTokens>, StoreError>;
    /// Forgets the user's tokens at `provider` (the provider refused to refresh them), only if
    /// the kept refresh token is still `sealed_refresh`: a parallel call may have kept new ones.
    async fn forget_tokens(
        &self,
        user_id: &str,
        provider: &str,
        sealed_refresh: &str,
    ) -> Result<(), StoreError>;
}

/// Sealing secrets at rest: AES-256-GCM, a fresh 96-bit IV each time, the caller's associated
/// data bound in (WebCrypto at the edge).
pub trait TokenCipher {
    /// The sealed form of `plaintext`: base64url of IV and ciphertext with its tag.
    async fn seal(&self, key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, StoreError>;
    /// What `sealed` holds, or `None` when it does not open with this key and `aad` (another
    /// key, another row, tampered).
    async fn unseal(
        &self,
        key: &[u8; 32],
        sealed: &str,
        aad: &str,
    ) -> Result<Option<String>, StoreError>;
}

/// Subscriptions and Stripe customers (D1), as webhook events leave them.
pub trait BillingStore {
    /// The user's subscription to the plugin's plans, if they ever had one.
    async fn subscription_of(
        &self,
        plugin: &str,
        user_id: &str,
    ) -> Result<Option<crate::billing::subscription::Subscription>, StoreError>;
    /// The customer the user is at Stripe, once a checkout completed.
    async fn customer_of(&self, user_id: &str) -> Result<Option<String>, StoreError>;
    /// Records the delivery and applies its change, all or nothing; `false` (nothing changed)
    /// when the event was applied before. Out-of-order events change nothing (see
    /// [`crate::billing::subscription`]).
    async fn apply_billing_event(
        &self,
        delivery: &crate::billing::subscription::Delivery,
        change: &crate::billing::subscription::Change,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// A call to an upstream provider: method, URL, headers, and a form body.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// `application/x-www-form-urlencoded`.
    pub form: Option<String>,
}

impl std::fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values and the form carry credentials, codes and tokens: names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("UpstreamRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The network, as far as upstream providers go: calls bounded in time
/// ([`crate::federation::UPSTREAM_TIMEOUT_MS`]) and size, never following redirects; and the
/// provider documents, cached.
pub trait Upstream {
    /// Sends the request; `Err` says why no answer came (refused, timed out, too large).
    async fn upstream(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String>;
    /// The provider's discovery document, cached (five minutes at the edge), or fetched again
    /// when `refresh` (at most once a minute).
    async fn discovery(
        &self,
        issuer: &str,
        refresh: bool,
        now: i64,
    ) -> Result<crate::federation::oidc::Discovery, String>;
    /// The provider's signing keys, cached likewise, and fetched again on an unknown `kid`.
    async fn provider_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Vec<PublicJwk>, String>;
}

/// A verified account to create: the user, their roles (by name) and the terms they accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    /// The terms (the plugin's legal link) accepted; empty when the plugin links none.
    pub terms: String,
    /// When the address was proven (and the terms accepted).
    pub verified_at: i64,
}

/// Proofs of email addresses and what they unlock (`email_challenges` in D1, see
/// [`crate::accounts::challenge`]): accounts made, passwords reset.
pub trait ChallengeStore {
    async fn put_challenge(&self, challenge: &EmailChallenge) -> Result<(), StoreError>;
    async fn challenge(&self, id: &str) -> Result<Option<EmailChallenge>, StoreError>;
    async fn challenge_by_link(
        &self,
        link_hash: &str,
    ) -> Result<Option<EmailChallenge>, StoreError>;
    /// Counts one guess of the challenge's code, atomically: the challenge as it is after, or
    /// `None` (nothing counted) when it is used, expired or out of its `max` guesses.
    async fn count_attempt(
        &self,
        id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<EmailChallenge>, StoreError>;
    /// The open invitations `issuer` sent (unused, unexpired), newest first, at most `limit`.
    async fn open_invitations(
        &self,
        issuer: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<EmailChallenge>, StoreError>;
    /// Uses the challenge up; `false` when it was already used (of parallel calls, one wins).
    async fn use_challenge(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Creates the account, its roles and its terms, all or nothing.
    async fn create_account(&self, account: &NewAccount) -> Result<ProvisionOutcome, StoreError>;
    /// Sets the user's password, moves their session epoch on (every session ends) and uses up
    /// every other open reset of theirs, in one batch.
    async fn reset_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

/// What deleting one's own account came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// A plan is still paid for at one of the deployment's plugins: cancel it first (Stripe
    /// would go on charging an account that no longer exists).
    PaidPlan,
    /// There was no such account.
    Gone,
}

/// What a signed-in user does to their own account (`users` in D1).
pub trait OwnAccount {
    /// Gives the account a new (proven) address; `false` when another account has it.
    async fn change_email(&self, user_id: &str, email: &str, now: i64) -> Result<bool, StoreError>;
    /// Deletes the account and, with it, everything kept of the person (their identities, keys,
    /// consents, grants' index, plans' rows), recording only that it was deleted and when.
    /// The grants themselves are revoked first, by the caller.
    async fn delete_account(
        &self,
        user_id: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Deletion, StoreError>;
}

/// A user's passkey as stored (`passkeys` in D1): the credential, with its signature counter and
/// backup state as last seen, and what the user calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub user_id: String,
    pub name: String,
    pub credential: StoredCredential,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Passkeys (WebAuthn credentials, see [`crate::accounts::webauthn`]). Every change a user asks
/// for names the user, so a credential id that is another user's changes nothing.
pub trait PasskeyStore {
    /// Stores a new passkey; `false` (nothing stored) when its credential id is registered
    /// already, to anyone.
    async fn add_passkey(&self, passkey: &Passkey) -> Result<bool, StoreError>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: &str) -> Result<Vec<Passkey>, StoreError>;
    /// The passkey with this credential id (a sign-in names no user before it).
    async fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>, StoreError>;
    /// Records a sign-in: the new signature counter and backup state, and when; in one statement
    /// that refuses (`false`, nothing changed) a counter that did not grow where either count is
    /// non-zero, so of two parallel uses of one count only one passes.
    async fn use_passkey(
        &self,
        credential_id: &str,
        sign_count: u32,
        backup_state: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Renames the user's passkey; `false` when the user has no such passkey.
    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes the user's passkey; `false` when the user has no such passkey.
    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError>;
}

/// A user's authenticator app as stored (`user_totp`, `recovery_codes` in D1): the secret sealed
/// through [`TokenCipher`], the last time step accepted, and the hashes of the recovery codes
/// not yet used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    pub sealed_secret: String,
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub recovery_hashes: Vec<String>,
}

/// Second factors (see [`crate::accounts::totp`], [`crate::accounts::recovery`]). Every spend
/// is one conditional statement whose rows changed say whether it won, so of parallel requests
/// presenting one code only one is accepted.
pub trait SecondFactorStore {
    /// The user's factor, `None` when they have not set one up.
    async fn second_factor(&self, user_id: &str) -> Result<Option<SecondFactor>, StoreError>;
    /// Sets the factor up (replacing any, and every recovery code), all or nothing: `last_step`
    /// is the step of the code that confirmed it, so that code is spent.
    async fn enrol_second_factor(
        &self,
        user_id: &str,
        sealed_secret: &str,
        last_step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Moves the last accepted step on to `step`; `false` (nothing changed) unless the stored one
    /// is earlier: the code was spent by a parallel request, or the factor is gone.
    async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Deletes the recovery code with this hash; `false` when it was not there (used already).
    async fn spend_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, StoreError>;
    /// Replaces the recovery codes, only while the factor exists; `false` when it does not.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Removes the factor and its recovery codes.
    async fn remove_second_factor(&self, user_id: &str) -> Result<(), StoreError>;
}

/// Mail to send after the response (see [`crate::accounts::mail`]): the edge delivers what was
/// posted once the reply is on its way, so a mail's round trip neither slows an answer nor
/// shows in its timing.
pub trait Outbox {
    fn post(&self, mail: Mail);
}

/// Waiting: the bounded delay throttles put before an answer (see [`crate::throttle`]).
pub trait Sleep {
    /// Waits `ms` milliseconds (a timer: no CPU time is spent).
    async fn sleep(&self, ms: u64);
}

/// A source of cryptographically secure random bytes.
pub trait Rng {
    fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError>;
}

/// Everything the authorization server needs, implemented by one backend.
pub trait Backend:
    ClientRegistry
    + UserDirectory
    + PolicyStore
    + GrantStore
    + AccountStore
    + PasswordHasher
    + Throttle
    + Sleep
    + Rng
    + JwsVerifier
    + JwsSigner
    + ClientKeys
    + IdentityStore
    + Upstream
    + UpstreamTokenStore
    + TokenCipher
    + BillingStore
    + ChallengeStore
    + OwnAccount
    + PasskeyStore
    + SecondFactorStore
    + Outbox
{
}

impl<T> Backend for T where
    T: ClientRegistry
        + UserDirectory
        + PolicyStore
        + GrantStore
        + AccountStore
        + PasswordHasher
        + Throttle
        + Sleep
        + Rng
        + JwsVerifier
        + JwsSigner
        + ClientKeys
        + IdentityStore
        + Upstream
        + UpstreamTokenStore
        + TokenCipher
        + BillingStore
        + ChallengeStore
        + OwnAccount
        + PasskeyStore
        + SecondFactorStore
        + Outbox
{
}
