//! The plugin, client, users and resource the accounts, passkey and second-factor flow tests
//! share: a todo plugin on `BASE` (an OAuth plugin with terms, a sender when asked), ChatGPT as an
//! administrator's client, the demo user with a known password, the plugin's own resource.

use portcullis::config::{Config, RawConfig};
use portcullis::oauth::client::{Client, ClientKind, ClientOrigin};
use portcullis::portal::password::format_password_hash;
use portcullis::ports::User;
use portcullis::primitives::hash::sha256_hex;
use portcullis::rbac::scope::Resource;

use super::MemoryBackend;

pub const BASE: &str = "https://todo.example.com";
pub const CALLBACK: &str = "https://chatgpt.com/aip/p/oauth/callback";
pub const PASSWORD: &str = "correct horse battery";
pub const SIGNING_KEY: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

/// The todo plugin with this `sign_in` table; with `mail`, a sender (so mailed proofs work).
pub fn todo_plugin(sign_in: serde_json::Value, mail: bool) -> RawConfig {
    RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(serde_json::json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "https://todo.example.com/legal",
            "auth": {"type": "oauth", "scope": "todos:read"},
            "sign_in": sign_in,
        })),
        signing_key: Some(SIGNING_KEY.into()),
        session_secret: Some("x".repeat(40)),
        mail_from: mail.then(|| "Todo <no-reply@todo.example.com>".into()),
        ..RawConfig::default()
    }
}

pub fn todo_config(sign_in: serde_json::Value, mail: bool) -> Config {
    Config::parse(todo_plugin(sign_in, mail)).unwrap()
}

/// A stored password (PBKDF2 with 1,000 iterations: the native stand-in is slow unoptimized).
pub fn password_hash(password: &str) -> String {
    let salt = [7u8; 16];
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, 1000, &mut out);
    format_password_hash(1000, &salt, &out)
}

/// A user with [`PASSWORD`].
pub fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        name: "Demo".into(),
        password_hash: Some(password_hash(PASSWORD)),
        disabled: false,
        session_epoch: 0,
    }
}

/// ChatGPT as an administrator registered it; `first_party` skips the consent page.
pub fn chatgpt(first_party: bool) -> Client {
    Client {
        id: "chatgpt".into(),
        name: "ChatGPT".into(),
        secret_hash: Some(sha256_hex("client-secret")),
        redirect_uris: vec![CALLBACK.into()],
        kind: ClientKind::Confidential,
        first_party,
        origin: ClientOrigin::Admin,
        may_introspect: false,
        key_set: None,
        dpop_bound: false,
    }
}

/// The stores with ChatGPT, the demo user and the plugin's resource (the default one).
pub fn demo_backend(first_party: bool) -> MemoryBackend {
    let mut b = MemoryBackend::default();
    b.clients.insert("chatgpt".into(), chatgpt(first_party));
    b.users
        .borrow_mut()
        .push(user("usr_demo", "demo@example.com"));
    b.resources.push((
        Resource {
            id: "res_todos".into(),
            indicator: BASE.into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        },
        true,
    ));
    b
}
