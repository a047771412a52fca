//! Flow tests of passkeys in the portal (issue 31 item 5): a passkey added on the account page and
//! signed in with, inside an authorization; and one test per refusal (another origin or RP ID, a
//! replayed challenge, a cloned authenticator's counter, another user's credential, CSRF, an
//! expired ceremony), each changing nothing stored. The authenticator is a software one here:
//! P-256 keys, `none` attestation, responses in the JSON of `PublicKeyCredential.toJSON()`.

mod common;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::browser::{hidden, html, Browser};
use common::MemoryBackend;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use portcullis::config::Config;
use portcullis::http::Reply;
use portcullis::ports::Backend;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::fixtures::{password_hash, todo_config, user, BASE, CALLBACK, PASSWORD};

fn config_with(sign_in: Value) -> Config {
    todo_config(sign_in, false)
}

fn config() -> Config {
    config_with(json!({}))
}

fn backend() -> MemoryBackend {
    let b = common::fixtures::demo_backend(false);
    b.users
        .borrow_mut()
        .push(user("usr_other", "other@example.com"));
    b
}

fn authorize_url() -> String {
    format!(
        "/authorize?response_type=code&client_id=chatgpt&redirect_uri={}&state=st4te&scope=todos%3Aread&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        portcullis::oauth::params::form_encode(CALLBACK)
    )
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A software authenticator holding one P-256 credential; `counts` says whether it keeps a
/// signature counter (synced passkeys mostly do not: they send 0).
#[derive(Clone)]
struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    counts: bool,
    counter: u32,
    user_handle: String,
}

impl Authenticator {
    fn new(seed: u8, counts: bool) -> Self {
        let mut secret = [seed; 32];
        secret[0] = 1;
        Authenticator {
            key: SigningKey::from_bytes(&secret.into()).unwrap(),
            credential_id: vec![seed; 16],
            counts,
            counter: 0,
            user_handle: String::new(),
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        out.extend_from_slice(point.x().unwrap());
        out.extend_from_slice(&[0x22, 0x58, 0x20]);
        out.extend_from_slice(point.y().unwrap());
        out
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create()` for the options, as made at `origin` for `rp_id`.
    fn create_at(&mut self, options: &Value, origin: &str, rp_id: &str) -> String {
        self.user_handle = options["user"]["id"].as_str().unwrap().to_string();
        let client_data = Self::client_data(
            "webauthn.create",
            options["challenge"].as_str().unwrap(),
            origin,
        );
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(0x45); // UP, UV, AT
        auth.extend_from_slice(&self.counter.to_be_bytes());
        auth.extend_from_slice(&[0u8; 16]);
        auth.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.credential_id);
        auth.extend_from_slice(&self.cose_key());
        let mut attestation = vec![0xa3, 0x63];
        attestation.extend_from_slice(b"fmt");
        attestation.push(0x64);
        attestation.extend_from_slice(b"none");
        attestation.push(0x67);
        attestation.extend_from_slice(b"attStmt");
        attestation.extend_from_slice(&[0xa0, 0x68]);
        attestation.extend_from_slice(b"authData");
        attestation.extend_from_slice(&[0x58, auth.len() as u8]);
        attestation.extend_from_slice(&auth);
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
        .to_string()
    }

    fn create(&mut self, options: &Value) -> String {
        self.create_at(options, BASE, "todo.example.com")
    }

    /// `navigator.credentials.get()` for the options, as made at `origin` for `rp_id`.
    fn get_at(&mut self, options: &Value, origin: &str, rp_id: &str) -> String {
        if self.counts {
            self.counter += 1;
        }
        let client_data = Self::client_data(
            "webauthn.get",
            options["challenge"].as_str().unwrap(),
            origin,
        );
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(0x05); // UP, UV
        auth.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: DerSignature = self.key.sign(&signed);
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth),
                "signature": b64(signature.as_bytes()),
                "userHandle": self.user_handle,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
        .to_string()
    }

    fn get(&mut self, options: &Value) -> String {
        self.get_at(options, BASE, "todo.example.com")
    }
}

/// The ceremony's options the page carries for its script.
fn options_in(page: &Reply) -> Value {
    let text = html(page);
    let start = text
        .find("id=\"passkey-options\">")
        .unwrap_or_else(|| panic!("no passkey options in {text}"))
        + "id=\"passkey-options\">".len();
    let end = start + text[start..].find("</script>").unwrap();
    serde_json::from_str(&text[start..end]).unwrap()
}

fn sign_in_with_password<B: Backend>(browser: &mut Browser<'_, B>, email: &str) {
    let form = browser.get("/login");
    let done = browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("return_to", ""),
            ("email", email),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
}

/// Adds a passkey on the account page: the page's options answered by `authenticator`.
fn add_passkey<B: Backend>(
    browser: &mut Browser<'_, B>,
    authenticator: &mut Authenticator,
    name: &str,
) -> Reply {
    let page = browser.get("/account");
    assert_eq!(page.status, 200, "{}", html(&page));
    let credential = authenticator.create(&options_in(&page));
    browser.post_form(
        "/account/passkeys",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("action", "add"),
            ("state", &hidden(&page, "state")),
            ("name", name),
            ("credential", &credential),
        ],
    )
}

/// A user with a registered passkey: the backend after it was added.
fn registered(backend: &MemoryBackend, config: &Config, authenticator: &mut Authenticator) {
    let mut browser = Browser::new(config, backend);
    sign_in_with_password(&mut browser, "demo@example.com");
    let added = add_passkey(&mut browser, authenticator, "Laptop");
    assert_eq!(added.status, 303, "{}", html(&added));
}

/// The sign-in page (for `return_to`) and the post of `authenticator`'s answer to it.
fn passkey_post<B: Backend>(browser: &mut Browser<'_, B>, page: &Reply, credential: &str) -> Reply {
    browser.post_form(
        "/login/passkey",
        &[
            ("csrf_token", &hidden(page, "csrf_token")),
            ("return_to", &hidden(page, "return_to")),
            ("state", &hidden(page, "state")),
            ("credential", credential),
        ],
    )
}

#[test]
fn a_user_adds_a_passkey_then_signs_in_with_it_inside_an_authorization() {
    let config = config();
    let backend = backend();
    let mut authenticator = Authenticator::new(3, true);
    let mut browser = Browser::new(&config, &backend);
    sign_in_with_password(&mut browser, "demo@example.com");
    let page = browser.get("/account");
    let options = options_in(&page);
    assert_eq!(options["rp"]["id"], "todo.example.com");
    assert_eq!(options["user"]["name"], "demo@example.com");
    assert_ne!(options["user"]["id"], "usr_demo");
    assert_eq!(
        page.header("content-security-policy"),
        Some(portcullis::web::passkey_pages::PASSKEY_PAGE_CSP)
    );
    let added = add_passkey(&mut browser, &mut authenticator, "Laptop");
    assert_eq!(added.status, 303, "{}", html(&added));
    assert_eq!(added.header("location"), Some("/account"));
    let listed = browser.get("/account");
    assert!(html(&listed).contains("<bdi>Laptop</bdi>"));
    // Added again, the authenticator is told it holds one already.
    let again = options_in(&listed);
    assert_eq!(
        again["excludeCredentials"][0]["id"],
        b64(&authenticator.credential_id)
    );
    assert_eq!(
        again["user"]["id"].as_str(),
        Some(backend.passkeys.borrow()[0].credential.user_handle.as_str()),
        "one handle per user"
    );

    // A new browser, inside an authorization: the sign-in page offers the passkey.
    let mut fresh = Browser::new(&config, &backend);
    let sign_in = fresh.get(&authorize_url());
    assert_eq!(sign_in.status, 200);
    assert!(html(&sign_in).contains("autocomplete=\"username webauthn\""));
    let request = options_in(&sign_in);
    assert_eq!(request["allowCredentials"], json!([]));
    let credential = authenticator.get(&request);
    let done = passkey_post(&mut fresh, &sign_in, &credential);
    assert_eq!(done.status, 303, "{}", html(&done));
    let back = done.header("location").unwrap().to_string();
    assert!(back.starts_with("/authorize?") && back.contains("state=st4te"));
    let consent = fresh.get(&back);
    assert_eq!(consent.status, 200);
    assert!(
        html(&consent).contains("Allow access?"),
        "{}",
        html(&consent)
    );
    assert!(!consent
        .header("content-security-policy")
        .unwrap()
        .contains("script-src"));
    let stored = backend.passkeys.borrow()[0].clone();
    assert_eq!(stored.credential.sign_count, 1);
    assert_eq!(stored.last_used_at, Some(common::browser::NOW));
}

#[test]
fn a_passkey_made_for_another_origin_or_rp_id_is_refused_and_changes_nothing() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    sign_in_with_password(&mut browser, "demo@example.com");
    let mut authenticator = Authenticator::new(4, true);
    for (origin, rp_id) in [
        ("https://todo.example.com.evil.test", "todo.example.com"),
        (BASE, "example.com"),
    ] {
        let page = browser.get("/account");
        let before = backend.stored();
        let credential = authenticator.create_at(&options_in(&page), origin, rp_id);
        let refused = browser.post_form(
            "/account/passkeys",
            &[
                ("csrf_token", &hidden(&page, "csrf_token")),
                ("action", "add"),
                ("state", &hidden(&page, "state")),
                ("name", "Evil"),
                ("credential", &credential),
            ],
        );
        assert_eq!(refused.status, 400, "{origin} {rp_id}");
        assert!(html(&refused).contains("made for another site"));
        assert_eq!(backend.stored(), before);
    }
    registered(&backend, &config, &mut authenticator);
    for (origin, rp_id) in [
        ("http://todo.example.com", "todo.example.com"),
        (BASE, "other.example.com"),
    ] {
        let mut fresh = Browser::new(&config, &backend);
        let page = fresh.get("/login");
        let before = backend.stored();
        let credential = authenticator.get_at(&options_in(&page), origin, rp_id);
        let refused = passkey_post(&mut fresh, &page, &credential);
        assert_eq!(refused.status, 401, "{origin} {rp_id}");
        assert!(html(&refused).contains("made for another site"));
        assert!(
            !fresh.cookies.contains_key("portcullis_session")
                && !fresh.cookies.contains_key("__Host-portcullis_session")
        );
        assert_eq!(backend.stored(), before);
    }
}

#[test]
fn a_replayed_sign_in_or_registration_is_refused() {
    let config = config();
    let backend = backend();
    // No counter: only the challenge's single use stops the replay.
    let mut authenticator = Authenticator::new(5, false);
    let mut browser = Browser::new(&config, &backend);
    sign_in_with_password(&mut browser, "demo@example.com");
    let page = browser.get("/account");
    let credential = authenticator.create(&options_in(&page));
    let form = [
        ("csrf_token", hidden(&page, "csrf_token")),
        ("action", "add".into()),
        ("state", hidden(&page, "state")),
        ("name", "Laptop".into()),
        ("credential", credential),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post_form("/account/passkeys", &pairs).status, 303);
    let before = backend.stored();
    let replayed = browser.post_form("/account/passkeys", &pairs);
    assert_eq!(replayed.status, 400, "{}", html(&replayed));
    assert_eq!(backend.stored(), before);

    let mut first = Browser::new(&config, &backend);
    let sign_in = first.get("/login");
    // What an onlooker copied: the browser's cookies and the posted form.
    let copied: HashMap<String, String> = first.cookies.clone();
    let credential = authenticator.get(&options_in(&sign_in));
    assert_eq!(passkey_post(&mut first, &sign_in, &credential).status, 200);
    let before = backend.stored();
    let mut replay = Browser::new(&config, &backend);
    replay.cookies = copied;
    let refused = passkey_post(&mut replay, &sign_in, &credential);
    assert_eq!(refused.status, 400, "{}", html(&refused));
    assert!(html(&refused).contains("used already"));
    assert!(!replay.cookies.contains_key("portcullis_session"));
    assert_eq!(backend.stored(), before);
}

#[test]
fn a_cloned_authenticator_is_refused_by_its_counter() {
    let config = config();
    let backend = backend();
    let mut authenticator = Authenticator::new(6, true);
    registered(&backend, &config, &mut authenticator);
    let sign_in = |authenticator: &mut Authenticator| {
        let mut browser = Browser::new(&config, &backend);
        let page = browser.get("/login");
        let credential = authenticator.get(&options_in(&page));
        passkey_post(&mut browser, &page, &credential)
    };
    assert_eq!(sign_in(&mut authenticator).status, 200);
    let mut clone = authenticator.clone();
    assert_eq!(sign_in(&mut authenticator).status, 200);
    let before = backend.stored();
    let refused = sign_in(&mut clone);
    assert_eq!(refused.status, 401);
    assert!(html(&refused).contains("may have been copied"));
    assert_eq!(backend.stored(), before);
    assert_eq!(backend.passkeys.borrow()[0].credential.sign_count, 2);
}

#[test]
fn another_users_passkey_is_neither_renamed_nor_deleted_nor_signed_in_as_them() {
    let config = config();
    let backend = backend();
    let mut authenticator = Authenticator::new(7, true);
    registered(&backend, &config, &mut authenticator);
    let id = b64(&authenticator.credential_id);
    let mut other = Browser::new(&config, &backend);
    sign_in_with_password(&mut other, "other@example.com");
    let page = other.get("/account");
    assert!(
        !html(&page).contains(&id),
        "another user's passkey is not listed"
    );
    let before = backend.stored();
    for (action, name) in [("rename", "Mine now"), ("delete", "")] {
        let refused = other.post_form(
            "/account/passkeys",
            &[
                ("csrf_token", &hidden(&page, "csrf_token")),
                ("action", action),
                ("id", &id),
                ("name", name),
            ],
        );
        assert_eq!(refused.status, 404, "{action}");
    }
    assert_eq!(backend.stored(), before);
    // A response that names another user's handle for the credential is refused.
    let mut forged = authenticator.clone();
    forged.user_handle = b64(b"someone else's handle");
    let mut browser = Browser::new(&config, &backend);
    let sign_in = browser.get("/login");
    let credential = forged.get(&options_in(&sign_in));
    let refused = passkey_post(&mut browser, &sign_in, &credential);
    assert_eq!(refused.status, 401);
    assert_eq!(backend.stored(), before);
    // The owner renames and deletes it.
    let mut owner = Browser::new(&config, &backend);
    sign_in_with_password(&mut owner, "demo@example.com");
    let page = owner.get("/account");
    let token = hidden(&page, "csrf_token");
    let renamed = owner.post_form(
        "/account/passkeys",
        &[
            ("csrf_token", &token),
            ("action", "rename"),
            ("id", &id),
            ("name", " Phone "),
        ],
    );
    assert_eq!(renamed.status, 303);
    assert_eq!(backend.passkeys.borrow()[0].name, "Phone");
    let deleted = owner.post_form(
        "/account/passkeys",
        &[("csrf_token", &token), ("action", "delete"), ("id", &id)],
    );
    assert_eq!(deleted.status, 303);
    assert!(backend.passkeys.borrow().is_empty());
}

#[test]
fn passkey_forms_need_their_own_csrf_token_and_a_fresh_ceremony() {
    let config = config();
    let backend = backend();
    let mut authenticator = Authenticator::new(8, true);
    registered(&backend, &config, &mut authenticator);
    let mut browser = Browser::new(&config, &backend);
    let page = browser.get("/login");
    let credential = authenticator.get(&options_in(&page));
    let before = backend.stored();
    let forged = browser.post_form(
        "/login/passkey",
        &[
            ("csrf_token", "forged"),
            ("state", &hidden(&page, "state")),
            ("credential", &credential),
        ],
    );
    assert_eq!(forged.status, 403);
    // The ceremony's state opens only with the browser it was made for.
    let mut elsewhere = Browser::new(&config, &backend);
    let own = elsewhere.get("/login");
    let crossed = elsewhere.post_form(
        "/login/passkey",
        &[
            ("csrf_token", &hidden(&own, "csrf_token")),
            ("state", &hidden(&page, "state")),
            ("credential", &credential),
        ],
    );
    assert_eq!(crossed.status, 400);
    // Five minutes on, it expired.
    browser.now += 301;
    let late = passkey_post(&mut browser, &page, &credential);
    assert_eq!(late.status, 400);
    assert!(html(&late).contains("expired"));
    assert_eq!(backend.stored(), before);

    // On the account page: the sign-in page's token is not the account page's.
    let mut signed_in = Browser::new(&config, &backend);
    sign_in_with_password(&mut signed_in, "demo@example.com");
    let account = signed_in.get("/account");
    let secret = "x".repeat(40);
    let login_token = portcullis::web::session::csrf_token(
        portcullis::web::session::SealKey::new(secret.as_bytes(), BASE),
        &signed_in.cookies["__Host-portcullis_csrf"],
        "login",
    );
    let mut other = Authenticator::new(9, true);
    let registration = other.create(&options_in(&account));
    let refused = signed_in.post_form(
        "/account/passkeys",
        &[
            ("csrf_token", &login_token),
            ("action", "add"),
            ("state", &hidden(&account, "state")),
            ("credential", &registration),
        ],
    );
    assert_eq!(refused.status, 403);
    assert_eq!(backend.stored(), before);
}

#[test]
fn where_passkeys_are_off_no_page_carries_a_script_and_the_endpoints_refuse() {
    let config = config_with(json!({"passkeys": false}));
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let page = browser.get("/login");
    assert!(!html(&page).contains("passkey"));
    assert!(html(&page).contains("autocomplete=\"username\""));
    assert_eq!(
        page.header("content-security-policy"),
        Some(portcullis::web::pages::PAGE_CSP)
    );
    let refused = browser.post_form(
        "/login/passkey",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("credential", "{}"),
        ],
    );
    assert_eq!(refused.status, 403);
    sign_in_with_password(&mut browser, "demo@example.com");
    let account = browser.get("/account");
    assert!(!html(&account).contains("Passkeys"));
    assert_eq!(
        account.header("content-security-policy"),
        Some(portcullis::web::pages::PAGE_CSP)
    );
}

/// The same journey on SQLite with the real migration and the directory's SQL: the passkey
/// stored as JSON, its counter moved in one statement that refuses one that did not grow, and
/// deleted with its user.
#[test]
fn on_the_real_schema_a_passkey_signs_in_and_its_counter_only_grows() {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
    use portcullis::ports::PasskeyStore;
    use portcullis::sql::Sql;
    let db = SqliteDb::migrated();
    common::block_on(db.batch(vec![(
        "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('usr_demo', 'demo@example.com', 'Demo', ?1, 1, 1)",
        vec![password_hash(PASSWORD).into()],
    )]))
    .unwrap();
    let memory = backend();
    let both = WithSqlUsers {
        db: &db,
        memory: &memory,
        now: common::browser::NOW,
    };
    let config = config();
    let mut authenticator = Authenticator::new(10, true);
    let mut browser = Browser::new(&config, &both);
    sign_in_with_password(&mut browser, "demo@example.com");
    assert_eq!(
        add_passkey(&mut browser, &mut authenticator, "Key").status,
        303
    );
    let mut clone = authenticator.clone();
    let sign_in = |authenticator: &mut Authenticator| {
        let mut fresh = Browser::new(&config, &both);
        let page = fresh.get("/login");
        let credential = authenticator.get(&options_in(&page));
        passkey_post(&mut fresh, &page, &credential).status
    };
    assert_eq!(sign_in(&mut authenticator), 200);
    assert_eq!(
        sign_in(&mut clone),
        401,
        "the clone's count 1 is not above 1"
    );
    let rows = common::block_on(db.query(
        "SELECT sign_count, last_used_at, user_id FROM passkeys",
        vec![],
    ))
    .unwrap();
    assert_eq!(rows[0]["sign_count"], 1);
    assert_eq!(rows[0]["last_used_at"], common::browser::NOW);
    let id = b64(&authenticator.credential_id);
    assert!(!common::block_on(both.use_passkey(&id, 1, false, 5)).unwrap());
    assert!(common::block_on(both.use_passkey(&id, 2, false, 5)).unwrap());
    assert!(!common::block_on(both.rename_passkey("usr_other", &id, "x")).unwrap());
    common::block_on(db.batch(vec![("DELETE FROM users WHERE id = 'usr_demo'", vec![])])).unwrap();
    assert!(common::block_on(both.find_passkey(&id)).unwrap().is_none());
}

#[test]
fn a_disabled_users_passkey_signs_in_nobody() {
    let config = config();
    let backend = backend();
    let mut authenticator = Authenticator::new(11, true);
    registered(&backend, &config, &mut authenticator);
    backend.users.borrow_mut()[0].disabled = true;
    let before = backend.stored();
    let mut browser = Browser::new(&config, &backend);
    let page = browser.get("/login");
    let credential = authenticator.get(&options_in(&page));
    let refused = passkey_post(&mut browser, &page, &credential);
    assert_eq!(refused.status, 401);
    assert!(html(&refused).contains("not registered here"));
    assert!(!browser.cookies.contains_key("__Host-portcullis_session"));
    assert_eq!(backend.stored(), before);
}
