//! Upstream identity providers (`IDENTITY_PROVIDERS`, an array of tables shared by every plugin
//! of the deployment) and which of them each plugin's sign-in page offers (`sign_in` in a plugin
//! table). A provider's client secret is a Worker secret it names, never a var.

use serde::Deserialize;

use super::read::read;
use super::values::table_value;
use super::{ConfigError, RawConfig};
use crate::federation::{
    check_provider_url, github, ClientAuth, IdentityProvider, ProviderKind, Provisioning, TokenKey,
};
use crate::primitives::secret::Secret;

const KEY: &str = "IDENTITY_PROVIDERS";

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case", expecting = "\"oidc\" or \"github\"")]
enum Kind {
    Oidc,
    Github,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(expecting = "\"client_secret_basic\" or \"client_secret_post\"")]
enum AuthMethod {
    #[serde(rename = "client_secret_basic")]
    Basic,
    #[serde(rename = "client_secret_post")]
    Post,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { domain = \"acme.com\", roles = [\"member\"] }"
)]
struct RawDomainRoles {
    domain: String,
    roles: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of identity provider settings"
)]
struct RawProvider {
    id: String,
    name: Option<String>,
    kind: Kind,
    issuer: Option<String>,
    allowed_tenants: Option<Vec<String>>,
    client_id: String,
    client_secret_name: Option<String>,
    scopes: Option<Vec<String>>,
    token_endpoint_auth_method: Option<AuthMethod>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    api_base_url: Option<String>,
    #[serde(default = "yes")]
    provision: bool,
    #[serde(default)]
    allowed_domains: Vec<String>,
    #[serde(default)]
    default_roles: Vec<String>,
    #[serde(default)]
    domain_roles: Vec<RawDomainRoles>,
    #[serde(default = "yes")]
    link_by_email: bool,
    #[serde(default)]
    keep_tokens: bool,
}

/// The provider tables as written (for the secret names the edge must read).
fn tables(value: Option<&serde_json::Value>) -> Vec<serde_json::Value> {
    match value
        .cloned()
        .and_then(|v| table_value(KEY, Some(v)).ok().flatten())
    {
        Some(serde_json::Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// The secret a provider's client secret is read from: `client_secret_name`, or
/// `<ID>_CLIENT_SECRET` (`google` → `GOOGLE_CLIENT_SECRET`).
fn secret_name(id: &str, named: Option<&str>) -> String {
    named.map(str::to_string).unwrap_or_else(|| {
        format!(
            "{}_CLIENT_SECRET",
            id.to_ascii_uppercase().replace('-', "_")
        )
    })
}

/// The names of the secrets the providers read, so the edge can read exactly those.
pub(crate) fn provider_secret_names(value: Option<&serde_json::Value>) -> Vec<String> {
    tables(value)
        .iter()
        .filter_map(|t| {
            let id = t.get("id")?.as_str()?;
            Some(secret_name(
                id,
                t.get("client_secret_name").and_then(|n| n.as_str()),
            ))
        })
        .collect()
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn domain(key: &str, text: &str) -> Result<String, ConfigError> {
    let d = text.trim().to_ascii_lowercase();
    let ok = d.contains('.')
        && !d.starts_with('.')
        && !d.contains('@')
        && url::Url::parse(&format!("https://{d}/"))
            .is_ok_and(|u| u.host_str() == Some(d.as_str()));
    ok.then_some(d).ok_or_else(|| {
        ConfigError::new(
            key,
            format!("an email domain such as acme.com, got {text:?}"),
        )
    })
}

fn url_setting(key: &str, value: Option<&str>, default: &str) -> Result<String, ConfigError> {
    let text = value.unwrap_or(default);
    check_provider_url(text)
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        .map_err(|why| ConfigError::new(key, why))
}

/// Reads and checks `IDENTITY_PROVIDERS`; none when it is unset.
pub(crate) fn parse_providers(raw: &RawConfig) -> Result<Vec<IdentityProvider>, ConfigError> {
    let Some(value) = table_value(KEY, raw.identity_providers.clone())? else {
        return Ok(Vec::new());
    };
    let list: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(list) => list,
        _ => {
            return Err(ConfigError::new(
                KEY,
                "an array of provider tables ([[vars.IDENTITY_PROVIDERS]] in wrangler.toml)",
            ))
        }
    };
    let mut providers: Vec<IdentityProvider> = Vec::with_capacity(list.len());
    for (i, table) in list.iter().enumerate() {
        let provider = parse_provider(raw, &format!("{KEY}[{i}]"), table, &providers)?;
        providers.push(provider);
    }
    Ok(providers)
}

/// One provider's table, at `prefix` (`IDENTITY_PROVIDERS[i]`), beside those read before it.
fn parse_provider(
    raw: &RawConfig,
    prefix: &str,
    table: &serde_json::Value,
    before: &[IdentityProvider],
) -> Result<IdentityProvider, ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let p: RawProvider = read(prefix, table)?;
    if !valid_id(&p.id) {
        return Err(ConfigError::new(
            key("id"),
            format!("1 to 32 lower-case letters, digits and '-', got {:?}", p.id),
        ));
    }
    if before.iter().any(|q| q.id == p.id) {
        return Err(ConfigError::new(
            key("id"),
            format!("an id no other provider has; {:?} is taken", p.id),
        ));
    }
    if p.client_id.trim().is_empty() {
        return Err(ConfigError::new(
            key("client_id"),
            "the client id the provider gave this gateway",
        ));
    }
    let secret_key = secret_name(&p.id, p.client_secret_name.as_deref());
    let client_secret = raw
        .named_secrets
        .get(&secret_key)
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.clone()))
        .ok_or_else(|| {
            ConfigError::new(
                key("client_secret_name"),
                format!("a secret holding the client secret; {secret_key:?} is not set (wrangler secret put {secret_key})"),
            )
        })?;
    let kind = match p.kind {
        Kind::Oidc => oidc_kind(&p, prefix)?,
        Kind::Github => github_kind(&p, prefix)?,
    };
    let scopes = scopes(p.scopes.clone(), p.kind, prefix)?;
    let provisioning = provisioning(&p, prefix)?;
    let default_name = match p.kind {
        Kind::Oidc => p.id.clone(),
        Kind::Github => "GitHub".into(),
    };
    let name = p.name.unwrap_or(default_name);
    if name.trim().is_empty() || name.chars().count() > 40 {
        return Err(ConfigError::new(
            key("name"),
            "the name on the sign-in button, 1 to 40 characters",
        ));
    }
    Ok(IdentityProvider {
        id: p.id,
        name,
        kind,
        client_id: p.client_id,
        client_secret,
        client_auth: match p.token_endpoint_auth_method {
            Some(AuthMethod::Post) => ClientAuth::Post,
            Some(AuthMethod::Basic) | None => ClientAuth::Basic,
        },
        scopes,
        provisioning,
        link_by_email: p.link_by_email,
        keep_tokens: p.keep_tokens,
    })
}

/// An OpenID provider: its issuer (endpoints come from its discovery document) and, for Entra's
/// multi-tenant issuer, the tenants let in.
fn oidc_kind(p: &RawProvider, prefix: &str) -> Result<ProviderKind, ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    for (field, set) in [
        ("authorization_endpoint", p.authorization_endpoint.is_some()),
        ("token_endpoint", p.token_endpoint.is_some()),
        ("api_base_url", p.api_base_url.is_some()),
    ] {
        if set {
            return Err(ConfigError::new(
                key(field),
                "nothing for kind \"oidc\": its endpoints come from the issuer's discovery document",
            ));
        }
    }
    let issuer = p.issuer.as_deref().ok_or_else(|| {
        ConfigError::new(
            key("issuer"),
            "the provider's issuer URL, e.g. https://accounts.google.com",
        )
    })?;
    // The issuer is compared byte for byte with the documents and tokens, so it is kept exactly
    // as written (Auth0's ends in '/').
    check_provider_url(&issuer.replace("{tenantid}", "tenant"))
        .map_err(|why| ConfigError::new(key("issuer"), why))?;
    let allowed_tenants: Vec<String> = p.allowed_tenants.clone().unwrap_or_default();
    if !allowed_tenants.is_empty() && !issuer.contains("{tenantid}") {
        return Err(ConfigError::new(
            key("allowed_tenants"),
            "nothing unless the issuer is a {tenantid} template (Microsoft Entra's multi-tenant one)",
        ));
    }
    if let Some(bad) = allowed_tenants
        .iter()
        .find(|t| t.len() != 36 || !t.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
    {
        return Err(ConfigError::new(
            key("allowed_tenants"),
            format!("Entra tenant ids (GUIDs), got {bad:?}"),
        ));
    }
    Ok(ProviderKind::Oidc {
        issuer: issuer.to_string(),
        allowed_tenants,
    })
}

/// GitHub: its endpoints (GitHub's own unless an Enterprise Server's are set).
fn github_kind(p: &RawProvider, prefix: &str) -> Result<ProviderKind, ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    if p.issuer.is_some() || p.allowed_tenants.is_some() {
        return Err(ConfigError::new(
            key("issuer"),
            "nothing for kind \"github\" (GitHub is not an OpenID provider)",
        ));
    }
    Ok(ProviderKind::GitHub {
        authorization_endpoint: url_setting(
            &key("authorization_endpoint"),
            p.authorization_endpoint.as_deref(),
            github::AUTHORIZATION_ENDPOINT,
        )?,
        token_endpoint: url_setting(
            &key("token_endpoint"),
            p.token_endpoint.as_deref(),
            github::TOKEN_ENDPOINT,
        )?,
        api_base_url: url_setting(
            &key("api_base_url"),
            p.api_base_url.as_deref(),
            github::API_BASE_URL,
        )?,
    })
}

/// The scopes asked for at the provider: the kind's defaults, or a list (with `openid` for an
/// OpenID provider).
fn scopes(list: Option<Vec<String>>, kind: Kind, prefix: &str) -> Result<Vec<String>, ConfigError> {
    let key = format!("{prefix}.scopes");
    let scopes = match (list, kind) {
        (Some(list), _) if list.is_empty() => {
            return Err(ConfigError::new(key, "at least one scope"))
        }
        (Some(list), Kind::Oidc) if !list.iter().any(|s| s == "openid") => {
            return Err(ConfigError::new(
                key,
                "a list holding \"openid\" (an OpenID Connect sign-in asks for it)",
            ))
        }
        (Some(list), _) => list,
        (None, Kind::Oidc) => vec!["openid".into(), "email".into(), "profile".into()],
        (None, Kind::Github) => github::DEFAULT_SCOPES.map(String::from).to_vec(),
    };
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || !s.chars().all(crate::primitives::syntax::is_scope_char))
    {
        return Err(ConfigError::new(key, format!("scope names, got {bad:?}")));
    }
    Ok(scopes)
}

/// Who may have an account made at first sign-in, and the roles they get.
fn provisioning(p: &RawProvider, prefix: &str) -> Result<Provisioning, ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let allowed_domains = p
        .allowed_domains
        .iter()
        .enumerate()
        .map(|(j, d)| domain(&key(&format!("allowed_domains[{j}]")), d))
        .collect::<Result<Vec<_>, _>>()?;
    let domain_roles = p
        .domain_roles
        .iter()
        .enumerate()
        .map(|(j, rule)| {
            let rule_key = key(&format!("domain_roles[{j}]"));
            let d = domain(&format!("{rule_key}.domain"), &rule.domain)?;
            if rule.roles.is_empty() || rule.roles.iter().any(|r| r.trim().is_empty()) {
                return Err(ConfigError::new(
                    format!("{rule_key}.roles"),
                    "one or more role names",
                ));
            }
            Ok((d, rule.roles.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if p.default_roles.iter().any(|r| r.trim().is_empty()) {
        return Err(ConfigError::new(key("default_roles"), "role names"));
    }
    Ok(Provisioning {
        enabled: p.provision,
        allowed_domains,
        default_roles: p.default_roles.clone(),
        domain_roles,
    })
}

/// The key upstream tokens are sealed with: required (base64url of 32 random bytes) when a
/// provider keeps tokens, and read only then.
pub(crate) fn token_key(
    raw: &RawConfig,
    providers: &[IdentityProvider],
) -> Result<Option<TokenKey>, ConfigError> {
    if !providers.iter().any(|p| p.keep_tokens) {
        return Ok(None);
    }
    use base64::Engine;
    let key = raw
        .upstream_token_key
        .as_deref()
        .and_then(|text| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim())
                .ok()
        })
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    match key {
        Some(bytes) => Ok(Some(TokenKey(bytes))),
        None => Err(ConfigError::new(
            "UPSTREAM_TOKEN_KEY",
            "a secret holding 32 random bytes, base64url (a provider keeps tokens); `openssl rand 32 | basenc --base64url -w0 | tr -d =`",
        )),
    }
}

/// How a plugin's users sign in, as its table writes it (`sign_in = { providers = [...],
/// password = true }`).
#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { providers = [\"google\"], password = true }"
)]
pub(crate) struct RawSignIn {
    providers: Option<Vec<String>>,
    password: Option<bool>,
    sign_up: Option<SignUpPolicy>,
    #[serde(default)]
    sign_up_domains: Vec<String>,
    #[serde(default)]
    sign_up_roles: Vec<String>,
    email_codes: Option<bool>,
    reset_ends_grants: Option<bool>,
    turnstile_site_key: Option<String>,
    require_mfa: Option<bool>,
    passkeys: Option<bool>,
    passkey_user_verification: Option<UserVerification>,
}

/// Whether a passkey sign-in must verify the user (a PIN, a fingerprint) or only prove the
/// authenticator is present (`sign_in.passkey_user_verification`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"required\" or \"preferred\"")]
pub enum UserVerification {
    /// The UV flag is required: a passkey alone stands for a password and a second factor.
    #[default]
    Required,
    /// Asked for, not required: an authenticator without a PIN or biometrics still signs in.
    Preferred,
}

impl UserVerification {
    /// As the options' `userVerification` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
        }
    }
}

/// Where passkeys are made and used: the relying party is the host of the plugin's public base
/// URL, and the origin a response must come from is that URL's origin, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyPolicy {
    /// The RP ID: the public base URL's host (WebAuthn forbids IP addresses).
    pub rp_id: String,
    /// `scheme://host[:port]` of the public base URL.
    pub origin: String,
    pub user_verification: UserVerification,
}

/// Who may make their own account (`sign_in.sign_up`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(
    rename_all = "snake_case",
    expecting = "\"closed\", \"invite\" or \"open\""
)]
pub enum SignUpPolicy {
    /// Only administrators make accounts (and upstream providers that provision).
    #[default]
    Closed,
    /// Whoever an administrator invited, with the invitation's link.
    Invite,
    /// Anyone who proves their address (in `sign_up_domains`, when it names any).
    Open,
}

/// How a plugin's users sign in: the providers its sign-in page offers, in order, and whether
/// it offers the password form.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub providers: Vec<IdentityProvider>,
    pub password: bool,
    /// Who may make their own account here, and with which roles (the domains and default
    /// roles of [`Provisioning`]; `enabled` is whether the policy lets strangers in at all).
    pub sign_up: SignUpPolicy,
    pub sign_up_rules: Provisioning,
    /// Sign-in by a code mailed to the address, beside (or instead of) passwords.
    pub email_codes: bool,
    /// Whether a password reset offers itself: passwords are taken and mail goes out.
    pub reset: bool,
    /// Whether a reset also revokes the user's grants (every app signs in again), not only
    /// their sessions.
    pub reset_ends_grants: bool,
    /// Cloudflare Turnstile on the sign-up form, when the plugin names a site key.
    pub turnstile: Option<crate::accounts::turnstile::TurnstileSettings>,
    /// Passkeys: added on the account page, signed in with on the sign-in page; `None` where
    /// the plugin does not offer them.
    pub passkeys: Option<PasskeyPolicy>,
    /// Whether an app is allowed only in a session made with a second factor: users without one
    /// set one up first (`/authorize` sends them to it), users with one present it.
    pub require_mfa: bool,
}

impl SignIn {
    pub fn provider(&self, id: &str) -> Option<&IdentityProvider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Whether the plugin offers the way a session was made: a password session only where
    /// passwords are taken, a provider's only where that provider is offered.
    pub fn offers(&self, method: &crate::web::session::SignInMethod) -> bool {
        use crate::web::session::SignInMethod;
        match method {
            SignInMethod::Password => self.password,
            SignInMethod::EmailCode => self.email_codes,
            SignInMethod::Provider(id) => self.provider(id).is_some(),
            SignInMethod::Passkey => self.passkeys.is_some(),
        }
    }
}

fn key_name(prefix: &str, field: &str) -> String {
    format!("{prefix}.sign_in.{field}")
}

/// The plugin's sign-in: by default every provider of the deployment and passwords.
pub(crate) fn sign_in_for(
    prefix: &str,
    raw: Option<RawSignIn>,
    all: &[IdentityProvider],
    mail: bool,
    turnstile_secret: Option<&(Secret, String)>,
    public_base_url: &str,
) -> Result<SignIn, ConfigError> {
    let raw = raw.unwrap_or_default();
    let key = |field: &str| format!("{prefix}.sign_in.{field}");
    let providers = match raw.providers {
        None => all.to_vec(),
        Some(ids) => ids
            .iter()
            .map(|id| {
                all.iter().find(|p| p.id == *id).cloned().ok_or_else(|| {
                    ConfigError::new(
                        key("providers"),
                        format!("ids of IDENTITY_PROVIDERS; {id:?} is none of them"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let password = raw.password.unwrap_or(true);
    let email_codes = raw.email_codes.unwrap_or(false);
    if !password && providers.is_empty() && !email_codes {
        return Err(ConfigError::new(
            key("password"),
            "true, or at least one provider (or email_codes): users need a way to sign in",
        ));
    }
    let sign_up = raw.sign_up.unwrap_or_default();
    let needs_mail = [
        (sign_up != SignUpPolicy::Closed, "sign_up"),
        (email_codes, "email_codes"),
    ];
    if let Some((_, field)) = needs_mail.iter().find(|(on, _)| *on && !mail) {
        return Err(ConfigError::new(
            key(field),
            "a sender in MAIL_FROM first: it mails codes and links",
        ));
    }
    if sign_up == SignUpPolicy::Closed
        && !(raw.sign_up_domains.is_empty() && raw.sign_up_roles.is_empty())
    {
        return Err(ConfigError::new(
            key("sign_up"),
            "\"open\" or \"invite\" where sign_up_domains or sign_up_roles are set",
        ));
    }
    if sign_up != SignUpPolicy::Closed && !password && !email_codes {
        return Err(ConfigError::new(
            key("sign_up"),
            "\"closed\" unless passwords or email_codes are on: an account made here needs a way in",
        ));
    }
    let sign_up_domains = raw
        .sign_up_domains
        .iter()
        .map(|d| {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            if d.is_empty() || d.contains(['@', '/', ' ']) || !d.contains('.') {
                Err(ConfigError::new(
                    key("sign_up_domains"),
                    "domain names such as \"acme.com\"",
                ))
            } else {
                Ok(d)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let turnstile = match (raw.turnstile_site_key.as_deref().map(str::trim), turnstile_secret) {
        (None | Some(""), _) => None,
        (Some(key), _) if key.len() > 100 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {
            return Err(ConfigError::new(key_name(prefix, "turnstile_site_key"), "a Turnstile site key (0x…)"));
        }
        (Some(_), None) => {
            return Err(ConfigError::new(
                "TURNSTILE_SECRET_KEY",
                "a secret holding the Turnstile widget's secret key (a plugin names a turnstile_site_key)",
            ))
        }
        (Some(key), Some((secret, base))) => Some(crate::accounts::turnstile::TurnstileSettings {
            site_key: key.to_string(),
            secret_key: secret.clone(),
            api_base: base.clone(),
        }),
    };
    let passkeys = passkey_policy(
        &key("passkeys"),
        raw.passkeys,
        password || email_codes,
        raw.passkey_user_verification,
        public_base_url,
    )?;
    Ok(SignIn {
        turnstile,
        passkeys,
        providers,
        password,
        sign_up_rules: Provisioning {
            enabled: sign_up == SignUpPolicy::Open,
            allowed_domains: sign_up_domains,
            default_roles: raw.sign_up_roles,
            domain_roles: Vec::new(),
        },
        sign_up,
        email_codes,
        reset: password && mail,
        reset_ends_grants: raw.reset_ends_grants.unwrap_or(false),
        require_mfa: raw.require_mfa.unwrap_or(false),
    })
}

/// The plugin's passkeys: on by default where it takes passwords or email codes (a passkey is
/// added on the account page, so a user needs another way in first); off by default where its
/// public base URL's host is an IP address (no RP ID can name one), and refused there when asked
/// for.
fn passkey_policy(
    key: &str,
    asked: Option<bool>,
    by_default: bool,
    user_verification: Option<UserVerification>,
    public_base_url: &str,
) -> Result<Option<PasskeyPolicy>, ConfigError> {
    let url = url::Url::parse(public_base_url).ok();
    let host = url.as_ref().and_then(|u| match u.host() {
        Some(url::Host::Domain(d)) => Some(d.to_string()),
        _ => None,
    });
    let on = asked.unwrap_or(by_default && host.is_some());
    if !on {
        return Ok(None);
    }
    let (Some(url), Some(rp_id)) = (url, host) else {
        return Err(ConfigError::new(
            key,
            "false where the public base URL's host is an IP address: a passkey's relying party is a domain name",
        ));
    };
    Ok(Some(PasskeyPolicy {
        rp_id,
        origin: url.origin().ascii_serialization(),
        user_verification: user_verification.unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "https://todo.example.com";

    fn raw(providers: serde_json::Value, secrets: &[(&str, &str)]) -> RawConfig {
        RawConfig {
            identity_providers: Some(providers),
            named_secrets: secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..RawConfig::default()
        }
    }

    fn google() -> serde_json::Value {
        json!({"id": "google", "name": "Google", "kind": "oidc", "issuer": "https://accounts.google.com", "client_id": "cid",
               "domain_roles": [{"domain": "Acme.com", "roles": ["member"]}], "default_roles": ["viewer"]})
    }

    #[test]
    fn providers_read_with_their_secrets_and_defaults() {
        let list = json!([google(), {"id": "gh-ent", "kind": "github", "client_id": "Iv1.x", "client_secret_name": "GH_SECRET",
                                      "api_base_url": "https://github.acme.com/api/v3", "provision": false}]);
        let providers = parse_providers(&raw(
            list.clone(),
            &[("GOOGLE_CLIENT_SECRET", "g"), ("GH_SECRET", "h")],
        ))
        .unwrap();
        assert_eq!(providers.len(), 2);
        assert_eq!(providers[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(providers[0].client_secret.expose(), "g");
        assert_eq!(
            providers[0].provisioning.domain_roles,
            [("acme.com".to_string(), vec!["member".to_string()])]
        );
        assert!(providers[0].link_by_email && providers[0].provisioning.enabled);
        assert_eq!(providers[1].name, "GitHub");
        assert_eq!(providers[1].scopes, ["read:user", "user:email"]);
        assert!(!providers[1].provisioning.enabled);
        match &providers[1].kind {
            ProviderKind::GitHub {
                api_base_url,
                token_endpoint,
                ..
            } => {
                assert_eq!(api_base_url, "https://github.acme.com/api/v3");
                assert_eq!(token_endpoint, github::TOKEN_ENDPOINT);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            provider_secret_names(Some(&list)),
            ["GOOGLE_CLIENT_SECRET", "GH_SECRET"]
        );
        // A JSON string (`--var IDENTITY_PROVIDERS:[...]`) reads the same.
        let text = serde_json::Value::String(list.to_string());
        assert_eq!(provider_secret_names(Some(&text)).len(), 2);
        assert!(parse_providers(&RawConfig::default()).unwrap().is_empty());
    }

    #[test]
    fn each_mistake_names_its_key() {
        let secrets = [("GOOGLE_CLIENT_SECRET", "g")];
        let error = |change: serde_json::Value| {
            let mut p = google();
            for (k, v) in change.as_object().unwrap() {
                p[k] = v.clone();
            }
            parse_providers(&raw(json!([p]), &secrets)).unwrap_err().key
        };
        assert_eq!(error(json!({"id": "Google"})), "IDENTITY_PROVIDERS[0].id");
        assert_eq!(error(json!({"kind": "saml"})), "IDENTITY_PROVIDERS[0].kind");
        assert_eq!(
            error(json!({"issuer": "http://accounts.google.com"})),
            "IDENTITY_PROVIDERS[0].issuer"
        );
        assert_eq!(
            error(json!({"token_endpoint": "https://x.example.com/t"})),
            "IDENTITY_PROVIDERS[0].token_endpoint"
        );
        assert_eq!(
            error(json!({"scopes": ["email"]})),
            "IDENTITY_PROVIDERS[0].scopes"
        );
        assert_eq!(
            error(json!({"domain_roles": [{"domain": "@acme", "roles": ["m"]}]})),
            "IDENTITY_PROVIDERS[0].domain_roles[0].domain"
        );
        assert_eq!(
            error(json!({"allowed_domains": ["not a domain"]})),
            "IDENTITY_PROVIDERS[0].allowed_domains[0]"
        );
        assert_eq!(
            error(json!({"client_secret": "inline!"})),
            "IDENTITY_PROVIDERS[0]"
        );
        let missing = parse_providers(&raw(json!([google()]), &[])).unwrap_err();
        assert_eq!(missing.key, "IDENTITY_PROVIDERS[0].client_secret_name");
        assert!(
            missing.expected.contains("GOOGLE_CLIENT_SECRET"),
            "{missing}"
        );
        assert!(!missing.to_string().contains('g') || !missing.to_string().contains("\"g\""));
        let twice = parse_providers(&raw(json!([google(), google()]), &secrets)).unwrap_err();
        assert_eq!(twice.key, "IDENTITY_PROVIDERS[1].id");
        let entra = json!({"id": "entra", "kind": "oidc", "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "client_id": "c",
                           "allowed_tenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47"]});
        assert!(parse_providers(&raw(json!([entra]), &[("ENTRA_CLIENT_SECRET", "e")])).is_ok());
        assert_eq!(
            error(json!({"allowed_tenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47"]})),
            "IDENTITY_PROVIDERS[0].allowed_tenants",
            "not a template"
        );
    }

    #[test]
    fn keeping_tokens_needs_a_32_byte_key() {
        let keeping =
            json!([{"id": "gh", "kind": "github", "client_id": "c", "keep_tokens": true}]);
        let secrets = [("GH_CLIENT_SECRET", "s")];
        let providers = parse_providers(&raw(keeping.clone(), &secrets)).unwrap();
        assert!(providers[0].keep_tokens);
        assert_eq!(
            token_key(&raw(keeping.clone(), &secrets), &providers)
                .unwrap_err()
                .key,
            "UPSTREAM_TOKEN_KEY"
        );
        let mut with_key = raw(keeping, &secrets);
        with_key.upstream_token_key = Some("c2hvcnQ".into());
        assert!(
            matches!(token_key(&with_key, &providers), Err(ref e) if e.key == "UPSTREAM_TOKEN_KEY"),
            "too short"
        );
        with_key.upstream_token_key = Some(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            [7u8; 32],
        ));
        assert_eq!(
            token_key(&with_key, &providers).unwrap(),
            Some(TokenKey([7u8; 32]))
        );
        let none =
            parse_providers(&raw(json!([google()]), &[("GOOGLE_CLIENT_SECRET", "g")])).unwrap();
        assert_eq!(
            token_key(&RawConfig::default(), &none).unwrap(),
            None,
            "not read unless needed"
        );
    }

    #[test]
    fn a_plugin_offers_the_providers_it_names_and_needs_some_way_in() {
        let all =
            parse_providers(&raw(json!([google()]), &[("GOOGLE_CLIENT_SECRET", "g")])).unwrap();
        let default = sign_in_for("PLUGIN", None, &all, false, None, BASE).unwrap();
        assert_eq!((default.providers.len(), default.password), (1, true));
        let only: RawSignIn = read(
            "PLUGIN.sign_in",
            &json!({"providers": ["google"], "password": false}),
        )
        .unwrap();
        let s = sign_in_for("PLUGIN", Some(only), &all, false, None, BASE).unwrap();
        assert!(!s.password && s.provider("google").is_some());
        let unknown: RawSignIn = read("PLUGIN.sign_in", &json!({"providers": ["okta"]})).unwrap();
        assert_eq!(
            sign_in_for("PLUGIN", Some(unknown), &all, false, None, BASE)
                .unwrap_err()
                .key,
            "PLUGIN.sign_in.providers"
        );
        let none: RawSignIn = read(
            "PLUGIN.sign_in",
            &json!({"providers": [], "password": false}),
        )
        .unwrap();
        assert_eq!(
            sign_in_for("PLUGIN", Some(none), &all, false, None, BASE)
                .unwrap_err()
                .key,
            "PLUGIN.sign_in.password"
        );
    }

    #[test]
    fn sign_up_needs_a_sender_a_way_in_and_a_policy_that_lets_people_in() {
        let all = Vec::new();
        let raw = |v: serde_json::Value| -> RawSignIn { read("PLUGIN.sign_in", &v).unwrap() };
        let open = sign_in_for(
            "PLUGIN",
            Some(raw(json!({"sign_up": "open", "sign_up_domains": ["@Acme.com"], "sign_up_roles": ["member"]}))),
            &all,
            true,
            None,
            BASE,
        )
        .unwrap();
        assert_eq!(open.sign_up, SignUpPolicy::Open);
        assert_eq!(
            open.sign_up_rules.roles_for("a@acme.com"),
            Some(vec!["member".to_string()])
        );
        assert_eq!(open.sign_up_rules.roles_for("a@other.com"), None);
        assert!(open.reset && !open.email_codes);
        let closed = sign_in_for("PLUGIN", None, &all, true, None, BASE).unwrap();
        assert_eq!(closed.sign_up, SignUpPolicy::Closed);
        assert!(closed.reset, "a reset needs only passwords and mail");
        assert!(
            !sign_in_for("PLUGIN", None, &all, false, None, BASE)
                .unwrap()
                .reset
        );
        let refused = [
            (json!({"sign_up": "open"}), false, "PLUGIN.sign_in.sign_up"),
            (
                json!({"email_codes": true}),
                false,
                "PLUGIN.sign_in.email_codes",
            ),
            (
                json!({"sign_up_domains": ["acme.com"]}),
                true,
                "PLUGIN.sign_in.sign_up",
            ),
            (
                json!({"sign_up": "open", "sign_up_domains": ["not a domain"]}),
                true,
                "PLUGIN.sign_in.sign_up_domains",
            ),
            (
                json!({"sign_up": "invite", "password": false}),
                true,
                "PLUGIN.sign_in.password",
            ),
        ];
        for (table, mail, key) in refused {
            assert_eq!(
                sign_in_for("PLUGIN", Some(raw(table.clone())), &all, mail, None, BASE)
                    .unwrap_err()
                    .key,
                key,
                "{table}"
            );
        }
        assert!(read::<RawSignIn>("PLUGIN.sign_in", &json!({"sign_up": "anyone"})).is_err());
        let codes_only = sign_in_for(
            "PLUGIN",
            Some(raw(
                json!({"password": false, "email_codes": true, "sign_up": "open"}),
            )),
            &all,
            true,
            None,
            BASE,
        )
        .unwrap();
        assert!(!codes_only.reset && codes_only.email_codes);
    }

    #[test]
    fn passkeys_are_on_where_passwords_or_codes_are_and_the_host_is_a_name() {
        let all = Vec::new();
        let raw = |v: serde_json::Value| -> RawSignIn { read("PLUGIN.sign_in", &v).unwrap() };
        let on = sign_in_for(
            "PLUGIN",
            None,
            &all,
            false,
            None,
            "https://todo.example.com:8443",
        )
        .unwrap()
        .passkeys
        .unwrap();
        assert_eq!(on.rp_id, "todo.example.com");
        assert_eq!(on.origin, "https://todo.example.com:8443");
        assert_eq!(on.user_verification, UserVerification::Required);
        let preferred = sign_in_for(
            "PLUGIN",
            Some(raw(json!({"passkey_user_verification": "preferred"}))),
            &all,
            false,
            None,
            "http://localhost:8787",
        )
        .unwrap()
        .passkeys
        .unwrap();
        assert_eq!(preferred.rp_id, "localhost");
        assert_eq!(preferred.origin, "http://localhost:8787");
        assert_eq!(preferred.user_verification, UserVerification::Preferred);
        // Off by default at an IP address, refused there when asked for.
        let at_ip =
            sign_in_for("PLUGIN", None, &all, false, None, "http://127.0.0.1:8787").unwrap();
        assert!(at_ip.passkeys.is_none());
        assert_eq!(
            sign_in_for(
                "PLUGIN",
                Some(raw(json!({"passkeys": true}))),
                &all,
                false,
                None,
                "http://127.0.0.1:8787"
            )
            .unwrap_err()
            .key,
            "PLUGIN.sign_in.passkeys"
        );
        let off = sign_in_for(
            "PLUGIN",
            Some(raw(json!({"passkeys": false}))),
            &all,
            false,
            None,
            BASE,
        )
        .unwrap();
        assert!(off.passkeys.is_none());
        assert!(!off.offers(&crate::web::session::SignInMethod::Passkey));
        assert!(read::<RawSignIn>(
            "PLUGIN.sign_in",
            &json!({"passkey_user_verification": "discouraged"})
        )
        .is_err());
    }

    #[test]
    fn a_second_factor_is_required_only_where_the_plugin_says_so() {
        let all = Vec::new();
        assert!(
            !sign_in_for("PLUGIN", None, &all, false, None, BASE)
                .unwrap()
                .require_mfa
        );
        let raw: RawSignIn = read("PLUGIN.sign_in", &json!({"require_mfa": true})).unwrap();
        assert!(
            sign_in_for("PLUGIN", Some(raw), &all, false, None, BASE)
                .unwrap()
                .require_mfa
        );
        assert!(read::<RawSignIn>("PLUGIN.sign_in", &json!({"require_mfa": "yes"})).is_err());
    }
}
