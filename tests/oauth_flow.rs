//! Flow tests of the authorization server on the library API, with in-memory stores and a fixed
//! clock: a browser's journey through login and consent, the token endpoint's grants, and one
//! test per refusal.

mod common;

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::browser::{encode, hidden, html, location_params, Browser};
use common::{block_on, MemoryBackend};
use portcullis::config::{Config, RawConfig};
use portcullis::http::{Method, Reply, RequestHead};
use portcullis::jose::keys::SigningAlg;
use portcullis::oauth::access_token::{
    verify_access_token, verify_access_token_with, TokenRejection, VerifyPolicy,
};
use portcullis::oauth::client::{Client, ClientKind, ClientOrigin};
use portcullis::oauth::client_assertion::{parse_jwks, JwsAlgorithm};
use portcullis::oauth::pkce::s256_challenge;
use portcullis::routes::{AdminRoute, ADMIN_API_PREFIX};

/// The admin API's route for a path, as the route table reads it.
fn admin_route(path: &str) -> AdminRoute<'_> {
    AdminRoute::from_path(
        path.strip_prefix(ADMIN_API_PREFIX)
            .expect("an admin API path"),
    )
}
use portcullis::portal::password::format_password_hash;
use portcullis::ports::{Backend, User};
use portcullis::primitives::hash::sha256_hex;
use portcullis::rbac::scope::Resource;

const NOW: i64 = 1_790_000_000;
const BASE: &str = "https://todo.example.com";
const CALLBACK: &str = "https://chatgpt.com/aip/p/oauth/callback";
const PASSWORD: &str = "correct horse battery";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn config() -> Config {
    config_at(BASE)
}

/// The plugin on another base URL: another issuer sharing the same stores.
fn config_at(base: &str) -> Config {
    Config::parse(RawConfig {
        public_base_url: Some(base.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(serde_json::json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "auth": {"type": "oauth", "scope": "todos:read todos:write"}
        })),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap()
}

fn password_hash(password: &str) -> String {
    let salt = [7u8; 16];
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, 1000, &mut out);
    format_password_hash(1000, &salt, &out)
}

fn backend() -> MemoryBackend {
    let mut b = MemoryBackend::default();
    b.clients.insert(
        "chatgpt".into(),
        Client {
            id: "chatgpt".into(),
            name: "ChatGPT".into(),
            secret_hash: Some(sha256_hex("client-secret")),
            redirect_uris: vec![CALLBACK.into()],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
    b.clients.insert(
        "cli".into(),
        Client {
            id: "cli".into(),
            name: "CLI".into(),
            secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            kind: ClientKind::Public,
            first_party: true,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
    b.users.borrow_mut().push(User {
        id: "usr_demo".into(),
        email: "demo@example.com".into(),
        name: "Demo".into(),
        password_hash: Some(password_hash(PASSWORD)),
        disabled: false,
        session_epoch: 0,
    });
    b.resources.push((
        Resource {
            id: "res_todos".into(),
            indicator: BASE.into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        },
        true,
    ));
    b.permissions.insert(
        ("usr_demo".into(), "res_todos".into()),
        vec!["todos:read".into()],
    );
    b
}

fn authorize_url(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "chatgpt"),
        ("redirect_uri", CALLBACK),
        ("state", "st4te"),
        ("scope", "todos:read todos:write"),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", encode(&pairs))
}

/// Login and consent (unless this user already allowed this client these scopes); returns the
/// code.
fn authorize<B: Backend>(browser: &mut Browser<'_, B>, extra: &[(&str, &str)]) -> String {
    let redirected = consent_answer(browser, extra);
    if redirected.status == 302 {
        // Remembered consent: straight back to the client.
        return location_params(&redirected)
            .get("code")
            .unwrap()
            .to_string();
    }
    assert_eq!(redirected.status, 303, "{}", html(&redirected));
    let params = location_params(&redirected);
    assert_eq!(params.get("state"), Some("st4te"));
    assert_eq!(params.get("iss"), Some(BASE));
    params.get("code").unwrap().to_string()
}

/// Login, then the answer that starts the grant: the remembered consent's redirect, or the
/// answer to allowing the consent page.
fn consent_answer<B: Backend>(browser: &mut Browser<'_, B>, extra: &[(&str, &str)]) -> Reply {
    let url = authorize_url(extra);
    let login = browser.get(&url);
    assert_eq!(login.status, 200);
    let signed_in = sign_in(browser, &login);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    let consent = browser.get(signed_in.header("location").unwrap());
    if consent.status == 302 {
        return consent;
    }
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let mut form: Vec<(String, String)> = vec![("decision".into(), "allow".into())];
    let page = html(&consent);
    let consent_form = page.split("action=\"/logout\"").next().unwrap();
    for chunk in consent_form.split("<input type=\"hidden\" name=\"").skip(1) {
        let name = chunk.split('"').next().unwrap().to_string();
        form.push((name.clone(), hidden(&consent, &name)));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post_form("/authorize", &pairs)
}

/// Submits the login form a page showed, as the demo user, keeping its return_to.
fn sign_in<B: Backend>(browser: &mut Browser<'_, B>, login: &Reply) -> Reply {
    browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(login, "csrf_token")),
            ("return_to", &hidden(login, "return_to")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    )
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn token<B: Backend>(
    browser: &mut Browser<'_, B>,
    auth: Option<&str>,
    pairs: &[(&str, &str)],
) -> Reply {
    let body = encode(pairs);
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    browser.send(Method::Post, "/token", &headers, body.as_bytes())
}

fn exchange<B: Backend>(browser: &mut Browser<'_, B>, code: &str) -> Reply {
    let auth = basic("chatgpt", "client-secret");
    token(
        browser,
        Some(&auth),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ],
    )
}

fn json(reply: &Reply) -> serde_json::Value {
    reply
        .json_body()
        .unwrap_or_else(|| panic!("not JSON: {}", html(reply)))
}

#[test]
fn a_user_signs_in_consents_and_the_client_gets_tokens_with_the_granted_scopes() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let reply = exchange(&mut browser, &code);
    assert_eq!(reply.status, 200, "{}", html(&reply));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = json(&reply);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["scope"], "todos:read",
        "todos:write is not held by the user's roles"
    );
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(BASE),
        now: NOW,
    };
    let access = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &config.keys,
        &policy,
    )
    .unwrap();
    assert_eq!(access.subject, "usr_demo");
    assert_eq!(access.client_id, "chatgpt");
}

#[test]
fn a_code_exchange_takes_two_store_round_trips() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    backend.calls.borrow_mut().clear();
    *backend.slow_calls.borrow_mut() = vec!["find_client", "redeem_code"];
    assert_eq!(exchange(&mut browser, &code).status, 200);
    assert_eq!(
        *backend.calls.borrow(),
        vec![
            "find_client",
            "throttle_peek",
            "find_client answered",
            "redeem_code",
            "holder_of_grant",
            "redeem_code answered",
        ],
        "the address's failure count is read while the client is being looked up, \
         and the grant's user while the code is being redeemed"
    );
}

#[test]
fn authorize_with_a_session_takes_three_store_round_trips() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    // The first visit signs in and remembers the consent; the second is the one measured.
    authorize(&mut browser, &[]);
    backend.calls.borrow_mut().clear();
    *backend.slow_calls.borrow_mut() = vec!["find_client", "find_user", "scope_context"];
    let again = browser.get(&authorize_url(&[]));
    assert_eq!(again.status, 302, "{}", html(&again));
    assert!(location_params(&again).get("code").is_some());
    assert_eq!(
        *backend.calls.borrow(),
        vec![
            "find_client",
            "find_user",
            "scope_context",
            "find_client answered",
            "find_user answered",
            "scope_context answered",
            "create_grant",
            "record_grant",
        ],
        "the client, the user and the scope decision's reads at once; then the grant, then its index"
    );
}

#[test]
fn a_sign_in_gives_its_three_counts_back_at_once() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[]));
    backend.calls.borrow_mut().clear();
    *backend.slow_calls.borrow_mut() = vec!["throttle_refund"];
    let signed_in = sign_in(&mut browser, &login);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    let calls = backend.calls.borrow().clone();
    let refunds: Vec<&str> = calls
        .iter()
        .copied()
        .skip_while(|c| *c != "throttle_refund")
        .collect();
    assert_eq!(
        refunds,
        vec![
            "throttle_refund",
            "throttle_refund",
            "throttle_refund",
            "second_factor",
            "throttle_refund answered",
            "throttle_refund answered",
            "throttle_refund answered",
        ],
        "all three refunds in flight together, and the second factor read beside them: {calls:?}"
    );
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_grant() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let first = json(&exchange(&mut browser, &code));
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let auth = basic("chatgpt", "client-secret");
    backend.calls.borrow_mut().clear();
    *backend.slow_calls.borrow_mut() = vec!["find_client", "rotate_refresh"];
    let second = token(
        &mut browser,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    );
    assert_eq!(second.status, 200);
    assert_eq!(
        *backend.calls.borrow(),
        vec![
            "find_client",
            "throttle_peek",
            "find_client answered",
            "rotate_refresh",
            "holder_of_grant",
            "rotate_refresh answered",
        ],
        "refresh: the client with the address's count, then the grant with its user"
    );
    backend.slow_calls.borrow_mut().clear();
    let rt2 = json(&second)["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let reused = token(
        &mut browser,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    );
    assert_eq!(json(&reused)["error"], "invalid_grant");
    let after = token(
        &mut browser,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    );
    assert_eq!(
        json(&after)["error"],
        "invalid_grant",
        "the whole grant is revoked"
    );
    assert!(
        backend.grant_index.borrow()[0].1.revoked_at.is_some(),
        "the reuse that revoked the grant in its ledger is noted in the index"
    );
}

#[test]
fn a_replayed_code_is_refused_and_revokes_the_first_tokens() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let first = json(&exchange(&mut browser, &code));
    let replay = exchange(&mut browser, &code);
    assert_eq!(replay.status, 400);
    assert_eq!(json(&replay)["error"], "invalid_grant");
    let auth = basic("chatgpt", "client-secret");
    let refresh = token(
        &mut browser,
        Some(&auth),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(json(&refresh)["error"], "invalid_grant");
    assert!(
        backend.grant_index.borrow()[0].1.revoked_at.is_some(),
        "the replay that revoked the grant in its ledger is noted in the index"
    );
}

#[test]
fn client_secret_post_and_json_bodies_work_too() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let body = serde_json::json!({
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "client_id": "chatgpt", "client_secret": "client-secret"
    })
    .to_string();
    let reply = browser.send(
        Method::Post,
        "/token",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", html(&reply));
}

#[test]
fn a_public_client_with_pkce_completes_without_a_secret_and_without_consent() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let challenge = s256_challenge(VERIFIER);
    let url = format!(
        "/authorize?{}",
        encode(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:4711/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "todos:read"),
        ])
    );
    let login = browser.get(&url);
    let signed_in = sign_in(&mut browser, &login);
    let back = browser.get(signed_in.header("location").unwrap());
    assert_eq!(back.status, 302, "first-party clients skip consent");
    let code = location_params(&back).get("code").unwrap().to_string();
    let wrong = token(
        &mut browser,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:4711/callback"),
            ("code_verifier", &format!("{}A", &VERIFIER[..42])),
        ],
    );
    assert_eq!(json(&wrong)["error"], "invalid_grant");
    let code = {
        let again = browser.get(&url);
        location_params(&again).get("code").unwrap().to_string()
    };
    let ok = token(
        &mut browser,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:4711/callback"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(ok.status, 200, "{}", html(&ok));
}

#[test]
fn errors_before_the_redirect_uri_is_trusted_render_locally() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    for url in [
        "/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example.com",
        "/authorize?response_type=code&client_id=chatgpt&redirect_uri=https%3A%2F%2Fevil.example.com",
        "/authorize?response_type=code&client_id=chatgpt&client_id=chatgpt",
        "/authorize?response_type=code",
    ] {
        let reply = browser.get(url);
        assert_eq!(reply.status, 400, "{url}");
        assert!(reply.header("location").is_none(), "{url} must not redirect");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    }
}

#[test]
fn errors_after_the_redirect_uri_is_trusted_redirect_with_state_and_iss() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let url = format!(
        "/authorize?{}",
        encode(&[
            ("response_type", "token"),
            ("client_id", "chatgpt"),
            ("redirect_uri", CALLBACK),
            ("state", "s1")
        ])
    );
    let reply = browser.get(&url);
    assert_eq!(reply.status, 302);
    let p = location_params(&reply);
    assert_eq!(p.get("error"), Some("unsupported_response_type"));
    assert_eq!(p.get("state"), Some("s1"));
    assert_eq!(p.get("iss"), Some(BASE));
}

/// A client anyone could have registered: its redirect URI is nobody's vetted choice.
fn with_self_registered_client(backend: &mut MemoryBackend) {
    backend.clients.insert(
        "dcr_x".into(),
        Client {
            id: "dcr_x".into(),
            name: "Someone".into(),
            secret_hash: Some(sha256_hex("dcr-secret")),
            redirect_uris: vec!["https://attacker.example/landing".into()],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Dynamic,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
}

fn self_registered_url(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "dcr_x"),
        ("redirect_uri", "https://attacker.example/landing"),
        ("state", "st4te"),
        ("scope", "todos:read"),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", encode(&pairs))
}

#[test]
fn errors_for_a_self_registered_client_before_the_user_interacts_render_locally() {
    // RFC 9700 §4.11.2: otherwise /authorize is an open redirector to any registered https URI.
    let config = config();
    let mut backend = backend();
    with_self_registered_client(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    for (why, extra) in [
        (
            "unsupported_response_type",
            vec![("response_type", "token")],
        ),
        ("missing response_type", vec![("response_type", "")]),
        ("login_required", vec![("prompt", "none")]),
        ("bad prompt", vec![("prompt", "bogus")]),
        ("request object", vec![("request", "x")]),
    ] {
        let reply = browser.get(&self_registered_url(&extra));
        assert_eq!(reply.status, 400, "{why}: {}", html(&reply));
        assert!(
            reply.header("location").is_none(),
            "{why} must not redirect"
        );
    }
    // Signed in, but not yet asked anything: still no redirect.
    let login = browser.get(&self_registered_url(&[]));
    let signed_in = sign_in(&mut browser, &login);
    assert_eq!(signed_in.status, 303);
    for (why, extra) in [
        (
            "invalid_target",
            vec![("resource", "https://unknown.example/")],
        ),
        ("consent_required", vec![("prompt", "none")]),
    ] {
        let reply = browser.get(&self_registered_url(&extra));
        assert_eq!(reply.status, 400, "{why}: {}", html(&reply));
        assert!(
            reply.header("location").is_none(),
            "{why} must not redirect"
        );
        assert!(html(&reply).contains(why), "{why} is named on the page");
    }
    // A vetted client still gets its errors back, as RFC 6749 §4.1.2.1 says.
    let reply = browser.get(&authorize_url(&[("response_type", "token")]));
    assert_eq!(reply.status, 302);
}

#[test]
fn a_self_registered_client_gets_the_users_decision_back() {
    let config = config();
    let mut backend = backend();
    with_self_registered_client(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&self_registered_url(&[]));
    let signed_in = sign_in(&mut browser, &login);
    let consent = browser.get(signed_in.header("location").unwrap());
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let reply = browser.post_form(
        "/authorize",
        &[
            ("decision", "deny"),
            ("csrf_token", &hidden(&consent, "csrf_token")),
            ("response_type", "code"),
            ("client_id", "dcr_x"),
            ("redirect_uri", "https://attacker.example/landing"),
            ("state", "st4te"),
            ("scope", "todos:read"),
        ],
    );
    assert_eq!(reply.status, 303);
    assert!(reply
        .header("location")
        .unwrap()
        .starts_with("https://attacker.example/landing?"));
    assert_eq!(location_params(&reply).get("error"), Some("access_denied"));
}

/// After a refusal: nothing stored changed, and the code issued before it still redeems.
fn assert_nothing_changed(browser: &mut Browser<'_>, stored: &str, code: &str) {
    assert_eq!(
        browser.backend.stored(),
        stored,
        "the refusal changed nothing"
    );
    let redeemed = exchange(browser, code);
    assert_eq!(redeemed.status, 200, "{}", html(&redeemed));
}

#[test]
fn denying_consent_redirects_access_denied() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    // The user allowed the client once; asked again, they deny.
    let code = authorize(&mut browser, &[]);
    let stored = backend.stored();
    let consent = browser.get(&authorize_url(&[("prompt", "consent")]));
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let reply = browser.post_form(
        "/authorize",
        &[
            ("decision", "deny"),
            ("csrf_token", &hidden(&consent, "csrf_token")),
            ("response_type", "code"),
            ("client_id", "chatgpt"),
            ("redirect_uri", CALLBACK),
            ("state", "st4te"),
        ],
    );
    assert_eq!(reply.status, 303);
    assert_eq!(location_params(&reply).get("error"), Some("access_denied"));
    assert_nothing_changed(&mut browser, &stored, &code);
}

#[test]
fn login_without_a_valid_csrf_token_is_refused() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    browser.get(&authorize_url(&[]));
    let reply = browser.post_form(
        "/login",
        &[
            ("csrf_token", "forged"),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(reply.status, 403);
    assert!(!browser.cookies.contains_key("__Host-portcullis_session"));
}

#[test]
fn consent_without_a_valid_csrf_token_is_refused() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let stored = backend.stored();
    let reply = browser.post_form(
        "/authorize",
        &[
            ("decision", "allow"),
            ("csrf_token", "x"),
            ("response_type", "code"),
            ("client_id", "chatgpt"),
            ("redirect_uri", CALLBACK),
            ("scope", "todos:read todos:write"),
        ],
    );
    assert_eq!(reply.status, 403);
    assert_nothing_changed(&mut browser, &stored, &code);
}

/// Failed sign-ins allowed per account and address, and per address across accounts, per 15 minutes.
const LOGIN_FAILURES_PER_SOURCE: usize = 5;
const LOGIN_FAILURES_PER_IP: usize = 30;
/// Sign-in attempts on one account, from anywhere, past which answers are delayed.
const LOGIN_ATTEMPTS_BEFORE_DELAY: usize = 20;
/// The most any answer is delayed.
const MAX_DELAY_MS: u64 = 2000;
const ATTACKER: &str = "203.0.113.66";

/// Posts the login form from a client address; `csrf` comes from a page the browser was shown.
fn login_from(
    browser: &mut Browser<'_>,
    ip: &str,
    csrf: &str,
    email: &str,
    password: &str,
) -> Reply {
    let body = encode(&[
        ("csrf_token", csrf),
        ("email", email),
        ("password", password),
    ]);
    browser.send(
        Method::Post,
        "/login",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cf-connecting-ip", ip),
        ],
        body.as_bytes(),
    )
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds")
}

#[test]
fn an_address_guessing_a_password_is_refused_while_the_user_signs_in_from_elsewhere() {
    let config = config();
    let backend = backend();
    let mut attacker = Browser::new(&config, &backend);
    let csrf = hidden(&attacker.get("/login"), "csrf_token");
    let statuses: Vec<u16> = (0..50)
        .map(|i| {
            login_from(
                &mut attacker,
                ATTACKER,
                &csrf,
                "demo@example.com",
                &format!("guess-{i}"),
            )
            .status
        })
        .collect();
    assert_eq!(
        statuses[..LOGIN_FAILURES_PER_SOURCE],
        [401; LOGIN_FAILURES_PER_SOURCE],
        "{statuses:?}"
    );
    assert!(
        statuses[LOGIN_FAILURES_PER_SOURCE..]
            .iter()
            .all(|s| *s == 429),
        "{statuses:?}"
    );
    let locked = login_from(&mut attacker, ATTACKER, &csrf, "demo@example.com", PASSWORD);
    assert_eq!(
        locked.status, 429,
        "the guessing address is refused, right password or not"
    );
    assert!(retry_after(&locked) > 0 && retry_after(&locked) <= 15 * 60);
    assert!(!attacker.cookies.contains_key("__Host-portcullis_session"));

    let mut user = Browser::new(&config, &backend);
    let csrf = hidden(&user.get("/login"), "csrf_token");
    let signed_in = login_from(
        &mut user,
        "198.51.100.7",
        &csrf,
        "demo@example.com",
        PASSWORD,
    );
    assert_eq!(signed_in.status, 200, "{}", html(&signed_in));
    assert!(user.cookies.contains_key("__Host-portcullis_session"));
    assert!(
        backend.sleeps.borrow().is_empty(),
        "one address's guesses slow nobody down"
    );
}

#[test]
fn sign_in_attempts_past_the_accounts_global_limit_are_delayed_not_refused() {
    let config = config();
    let backend = backend();
    let mut botnet = Browser::new(&config, &backend);
    let csrf = hidden(&botnet.get("/login"), "csrf_token");
    for i in 0..40 {
        let ip = format!("192.0.2.{i}");
        let r = login_from(&mut botnet, &ip, &csrf, "demo@example.com", "wrong");
        assert_eq!(
            r.status, 401,
            "attempt {i} is checked and fails, never refused"
        );
        let delays = backend.sleeps.borrow().len();
        assert_eq!(
            delays,
            (i + 1usize).saturating_sub(LOGIN_ATTEMPTS_BEFORE_DELAY),
            "attempt {i}"
        );
    }
    assert!(backend
        .sleeps
        .borrow()
        .iter()
        .all(|ms| *ms > 0 && *ms <= MAX_DELAY_MS));
    assert_eq!(
        backend.sleeps.borrow().last(),
        Some(&MAX_DELAY_MS),
        "the delay grows to its bound"
    );

    let mut user = Browser::new(&config, &backend);
    let csrf = hidden(&user.get("/login"), "csrf_token");
    let before = backend.sleeps.borrow().len();
    let signed_in = login_from(
        &mut user,
        "198.51.100.7",
        &csrf,
        "demo@example.com",
        PASSWORD,
    );
    assert_eq!(
        signed_in.status, 200,
        "the right password still works, only later"
    );
    assert_eq!(
        backend.sleeps.borrow().len(),
        before + 1,
        "it waited like every attempt on the account"
    );
}

#[test]
fn the_per_address_sign_in_limit_still_holds_across_accounts() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let csrf = hidden(&browser.get("/login"), "csrf_token");
    let statuses: Vec<u16> = (0..LOGIN_FAILURES_PER_IP + 1)
        .map(|i| {
            login_from(
                &mut browser,
                ATTACKER,
                &csrf,
                &format!("user{i}@example.com"),
                "wrong",
            )
            .status
        })
        .collect();
    assert!(
        statuses[..LOGIN_FAILURES_PER_IP].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    assert_eq!(statuses[LOGIN_FAILURES_PER_IP], 429);
    let other = login_from(
        &mut browser,
        "198.51.100.7",
        &csrf,
        "demo@example.com",
        PASSWORD,
    );
    assert_eq!(other.status, 200);
}

#[test]
fn a_successful_sign_in_does_not_count_against_the_limit() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    for _ in 0..8 {
        let login = browser.get(&authorize_url(&[]));
        browser.cookies.remove("__Host-portcullis_session");
        let csrf = hidden(&login, "csrf_token");
        let ok = browser.post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "demo@example.com"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(
            ok.status, 200,
            "a sign-in without return_to shows the signed-in page"
        );
        browser.cookies.remove("__Host-portcullis_session");
    }
}

/// Failed client authentications allowed per client and address per 15 minutes, and per client
/// from anywhere before failures are answered late.
const CLIENT_FAILURES_PER_SOURCE: usize = 20;
const CLIENT_FAILURES_BEFORE_DELAY: usize = 100;

fn token_from(browser: &mut Browser<'_>, ip: &str, auth: &str, pairs: &[(&str, &str)]) -> Reply {
    let body = encode(pairs);
    browser.send(
        Method::Post,
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth),
            ("cf-connecting-ip", ip),
        ],
        body.as_bytes(),
    )
}

#[test]
fn an_address_guessing_a_client_secret_is_refused_while_the_client_works_from_elsewhere() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let wrong = basic("chatgpt", "wrong");
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let statuses: Vec<u16> = (0..50)
        .map(|_| token_from(&mut browser, ATTACKER, &wrong, &refresh).status)
        .collect();
    assert_eq!(
        statuses[..CLIENT_FAILURES_PER_SOURCE],
        [401; CLIENT_FAILURES_PER_SOURCE],
        "{statuses:?}"
    );
    assert!(
        statuses[CLIENT_FAILURES_PER_SOURCE..]
            .iter()
            .all(|s| *s == 429),
        "{statuses:?}"
    );
    let right = basic("chatgpt", "client-secret");
    let locked = token_from(&mut browser, ATTACKER, &right, &refresh);
    assert_eq!(
        locked.status, 429,
        "the guessing address learns nothing, right secret or not"
    );
    assert!(retry_after(&locked) > 0 && retry_after(&locked) <= 15 * 60);

    let exchanged = token_from(
        &mut browser,
        "198.51.100.7",
        &right,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    );
    assert_eq!(exchanged.status, 200, "{}", html(&exchanged));
    assert!(json(&exchanged)["access_token"].is_string());
    assert!(
        backend.sleeps.borrow().is_empty(),
        "one address's guesses slow nobody down"
    );
    browser.now = NOW + 15 * 60 + 1;
    let later = token_from(&mut browser, ATTACKER, &right, &refresh);
    assert_eq!(
        later.status, 400,
        "after the window the address is heard again"
    );
}

#[test]
fn client_authentication_failures_past_the_global_limit_are_delayed_not_refused() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let wrong = basic("chatgpt", "wrong");
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    for i in 0..150 {
        // Fifteen addresses, each staying under its own limit.
        let ip = format!("192.0.2.{}", i % 15);
        let r = token_from(&mut browser, &ip, &wrong, &refresh);
        assert_eq!(r.status, 401, "failure {i} is answered, not refused");
        assert_eq!(
            backend.sleeps.borrow().len(),
            (i + 1usize).saturating_sub(CLIENT_FAILURES_BEFORE_DELAY),
            "failure {i}"
        );
    }
    assert!(backend
        .sleeps
        .borrow()
        .iter()
        .all(|ms| *ms > 0 && *ms <= MAX_DELAY_MS));
    let before = backend.sleeps.borrow().len();
    let exchanged = token_from(
        &mut browser,
        "198.51.100.7",
        &basic("chatgpt", "client-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    );
    assert_eq!(exchanged.status, 200, "{}", html(&exchanged));
    assert_eq!(
        backend.sleeps.borrow().len(),
        before,
        "the right secret is not slowed"
    );
}

#[test]
fn unknown_clients_are_not_counted() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let r = token(
        &mut browser,
        Some(&basic("nobody", "x")),
        &[("grant_type", "refresh_token")],
    );
    assert_eq!(r.status, 401);
    assert!(
        backend.counters.borrow().is_empty(),
        "no storage for made-up client ids"
    );
}

#[test]
fn a_session_set_before_login_is_replaced() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    browser.cookies.insert(
        "__Host-portcullis_session".into(),
        "planted.by-attacker".into(),
    );
    let login = browser.get(&authorize_url(&[]));
    assert_eq!(login.status, 200, "a forged session is no session");
    browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_ne!(
        browser.cookies["__Host-portcullis_session"],
        "planted.by-attacker"
    );
}

#[test]
fn token_endpoint_refusals_each_have_their_reason() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    // A live code first: every refusal below must leave it, and everything else, as it was.
    let code = authorize(&mut browser, &[]);
    let stored = backend.stored();
    let auth = basic("chatgpt", "client-secret");
    let unknown_code = format!("{}.{}", "a".repeat(22), "b".repeat(43));
    type Case<'a> = (Option<String>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            Some(auth.clone()),
            vec![("code", "x")],
            400,
            "invalid_request",
        ),
        (
            Some(auth.clone()),
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (
            Some(auth.clone()),
            vec![("grant_type", "authorization_code")],
            400,
            "invalid_request",
        ),
        (
            Some(auth.clone()),
            vec![("grant_type", "authorization_code"), ("code", "garbage")],
            400,
            "invalid_grant",
        ),
        (
            Some(auth.clone()),
            vec![
                ("grant_type", "authorization_code"),
                ("code", &unknown_code),
            ],
            400,
            "invalid_grant",
        ),
        (
            Some(basic("chatgpt", "wrong")),
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
            401,
            "invalid_client",
        ),
        (
            Some(basic("cli", "")),
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
            401,
            "invalid_client",
        ),
        (
            Some(basic("nobody", "x")),
            vec![("grant_type", "authorization_code")],
            401,
            "invalid_client",
        ),
        (
            None,
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "chatgpt"),
            ],
            401,
            "invalid_client",
        ),
        (
            None,
            vec![("grant_type", "authorization_code")],
            401,
            "invalid_client",
        ),
        (
            Some(auth.clone()),
            vec![("grant_type", "refresh_token")],
            400,
            "invalid_request",
        ),
        (
            Some(auth.clone()),
            vec![("grant_type", "refresh_token"), ("refresh_token", "nope")],
            400,
            "invalid_grant",
        ),
    ];
    for (auth, pairs, status, error) in cases {
        let reply = token(&mut browser, auth.as_deref(), &pairs);
        assert_eq!(reply.status, status, "{pairs:?}");
        assert_eq!(json(&reply)["error"], error, "{pairs:?}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    assert_eq!(
        backend.stored(),
        stored,
        "no refusal changed anything stored"
    );
    let redeemed = exchange(&mut browser, &code);
    assert_eq!(
        redeemed.status,
        200,
        "the code survived: {}",
        html(&redeemed)
    );
}

#[test]
fn duplicate_parameters_and_wrong_content_types_are_invalid_request() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let auth = basic("chatgpt", "client-secret");
    let dup = browser.send(
        Method::Post,
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        b"grant_type=refresh_token&grant_type=refresh_token",
    );
    assert_eq!(json(&dup)["error"], "invalid_request");
    let text = browser.send(
        Method::Post,
        "/token",
        &[("content-type", "text/plain"), ("authorization", &auth)],
        b"grant_type=refresh_token",
    );
    assert_eq!(json(&text)["error"], "invalid_request");
    let big = vec![b'a'; 20_000];
    let large = browser.send(
        Method::Post,
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        &big,
    );
    assert_eq!(json(&large)["error"], "invalid_request");
}

#[test]
fn a_verifier_without_a_challenge_is_a_pkce_downgrade() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let auth = basic("chatgpt", "client-secret");
    let reply = token(
        &mut browser,
        Some(&auth),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(json(&reply)["error"], "invalid_grant");
    assert!(json(&reply)["error_description"]
        .as_str()
        .unwrap()
        .contains("no code_challenge"));
}

#[test]
fn an_expired_code_is_refused() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    browser.now = NOW + 61;
    assert_eq!(
        json(&exchange(&mut browser, &code))["error_description"],
        "the authorization code expired"
    );
}

#[test]
fn an_unknown_resource_is_invalid_target() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[(
        "resource",
        "https://unknown.example.com/api",
    )]));
    let signed_in = sign_in(&mut browser, &login);
    let reply = browser.get(signed_in.header("location").unwrap());
    assert_eq!(reply.status, 302);
    assert_eq!(location_params(&reply).get("error"), Some("invalid_target"));
}

#[test]
fn revocation_ends_the_grant_and_introspection_sees_it() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let tokens = json(&exchange(&mut browser, &code));
    let auth = basic("chatgpt", "client-secret");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    let access = tokens["access_token"].as_str().unwrap();
    let active = json(&browser.send(
        Method::Post,
        "/introspect",
        &headers,
        encode(&[("token", access)]).as_bytes(),
    ));
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], "usr_demo");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = browser.send(
        Method::Post,
        "/revoke",
        &headers,
        encode(&[("token", refresh)]).as_bytes(),
    );
    assert_eq!(r.status, 200);
    let after = json(&browser.send(
        Method::Post,
        "/introspect",
        &headers,
        encode(&[("token", access)]).as_bytes(),
    ));
    assert_eq!(after["active"], false);
    let unknown = browser.send(Method::Post, "/revoke", &headers, b"token=whatever");
    assert_eq!(
        unknown.status, 200,
        "RFC 7009: unknown tokens are not an error"
    );
}

#[test]
fn userinfo_returns_what_the_scopes_allow() {
    let config = config();
    let mut backend = backend();
    backend.permissions.insert(
        ("usr_demo".into(), "res_todos".into()),
        vec!["todos:read".into()],
    );
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[("scope", "openid email")]);
    let tokens = json(&exchange(&mut browser, &code));
    assert!(tokens["id_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    let info = json(&browser.send(
        Method::Get,
        "/userinfo",
        &[("authorization", &format!("Bearer {access}"))],
        b"",
    ));
    assert_eq!(info["sub"], "usr_demo");
    assert_eq!(info["email"], "demo@example.com");
    assert!(info.get("name").is_none(), "profile was not granted");
    let none = browser.get("/userinfo");
    assert_eq!(none.status, 401);
}

#[test]
fn metadata_advertises_s256_and_the_iss_parameter() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let doc = json(&browser.get("/.well-known/oauth-authorization-server"));
    assert_eq!(doc["issuer"], BASE);
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["token_endpoint"], format!("{BASE}/token"));
    let _ = URL_SAFE_NO_PAD;
}

const RSA_KEY: &str = include_str!("fixtures/rsa-2048-a.jwk.json");

/// The deployment with an RSA key configured, as every default deployment has.
fn config_with_rsa() -> Config {
    let mut config = config();
    config.keys = config.keys.clone().with_rsa(Some(RSA_KEY), None).unwrap();
    config
}

/// The header and the published key a compact JWS names, and whether it verifies with that key.
fn verifies_with_published_key(config: &Config, jws: &str) -> (serde_json::Value, bool) {
    let (input, signature) = jws.rsplit_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(input.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let published = parse_jwks(&config.keys.jwks()).unwrap();
    let key = published
        .iter()
        .find(|k| k.kid.as_deref() == header["kid"].as_str())
        .expect("the kid is published");
    let alg = JwsAlgorithm::parse(header["alg"].as_str().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let ok = common::jws::verify(alg, key, input.as_bytes(), &signature);
    (header, ok)
}

#[test]
fn id_tokens_are_rs256_and_verify_with_the_published_rsa_key() {
    let config = config_with_rsa();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let doc = json(&browser.get("/.well-known/openid-configuration"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let code = authorize(&mut browser, &[("scope", "openid todos:read")]);
    let tokens = json(&exchange(&mut browser, &code));
    let (header, ok) = verifies_with_published_key(&config, tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], config.keys.rsa().unwrap().kid());
    assert!(ok, "the ID token verifies with the JWK in the JWKS");
    // Access tokens stay EdDSA unless their resource asks otherwise.
    let (header, ok) =
        verifies_with_published_key(&config, tokens["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    assert!(ok);
}

#[test]
fn without_an_rsa_key_id_tokens_stay_eddsa() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let doc = json(&browser.get("/.well-known/openid-configuration"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    let code = authorize(&mut browser, &[("scope", "openid todos:read")]);
    let tokens = json(&exchange(&mut browser, &code));
    let (header, ok) = verifies_with_published_key(&config, tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    assert!(ok);
}

#[test]
fn a_resource_that_asks_for_rs256_gets_rs256_access_tokens_everywhere_they_are_checked() {
    let config = config_with_rsa();
    let mut backend = backend();
    backend.resources[0].0.access_token_alg = SigningAlg::Rs256;
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let tokens = json(&exchange(&mut browser, &code));
    let access = tokens["access_token"].as_str().unwrap();
    let (header, ok) = verifies_with_published_key(&config, access);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(ok);
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(BASE),
        now: NOW,
    };
    let verified = block_on(verify_access_token_with(
        access,
        &config.keys,
        &policy,
        &backend,
    ))
    .unwrap();
    assert_eq!(verified.subject, "usr_demo");
    // Checked in wasm alone, an RS256 token is never taken on trust.
    assert_eq!(
        verify_access_token(access, &config.keys, &policy),
        Err(TokenRejection::SignatureUnchecked)
    );
    // Refreshed tokens keep the algorithm; introspection checks them through the platform.
    let refreshed = json(&token(
        &mut browser,
        Some(&basic("chatgpt", "client-secret")),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    ));
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        verifies_with_published_key(&config, access).0["alg"],
        "RS256"
    );
    let auth = basic("chatgpt", "client-secret");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    let active = json(&browser.send(
        Method::Post,
        "/introspect",
        &headers,
        encode(&[("token", access)]).as_bytes(),
    ));
    assert_eq!(active["active"], true);
    // A tampered payload is inactive.
    let mut parts: Vec<String> = access.split('.').map(String::from).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(
        String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
            .unwrap()
            .replace("usr_demo", "usr_evil"),
    );
    let forged = json(&browser.send(
        Method::Post,
        "/introspect",
        &headers,
        encode(&[("token", &parts.join("."))]).as_bytes(),
    ));
    assert_eq!(forged["active"], false);
}

#[test]
fn a_failing_rs256_signer_is_503_and_no_token_leaves() {
    let config = config_with_rsa();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[("scope", "openid todos:read")]);
    *backend.fail_rs256.borrow_mut() = true;
    let reply = exchange(&mut browser, &code);
    assert_eq!(reply.status, 503);
    assert!(json(&reply).get("id_token").is_none());
    // The redemption was taken back: once the signer works, the same code redeems (no replay,
    // no revoked grant).
    *backend.fail_rs256.borrow_mut() = false;
    let tokens = exchange(&mut browser, &code);
    assert_eq!(tokens.status, 200, "{}", html(&tokens));
    let refresh = json(&tokens)["refresh_token"].as_str().unwrap().to_string();
    // A rotation whose token cannot be signed is taken back too: the refresh token still works.
    let auth = basic("chatgpt", "client-secret");
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    *backend.fail_rs256.borrow_mut() = true;
    assert_eq!(token(&mut browser, Some(&auth), &pairs).status, 503);
    *backend.fail_rs256.borrow_mut() = false;
    let rotated = token(&mut browser, Some(&auth), &pairs);
    assert_eq!(rotated.status, 200, "{}", html(&rotated));
    assert!(json(&rotated)["id_token"].is_string());
}

#[test]
fn a_resource_asking_for_rs256_without_an_rsa_key_gets_no_token() {
    let config = config();
    let mut backend = backend();
    backend.resources[0].0.access_token_alg = SigningAlg::Rs256;
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let reply = exchange(&mut browser, &code);
    assert_eq!(reply.status, 500);
    assert!(json(&reply).get("access_token").is_none());
}

#[test]
fn a_store_failure_is_503_and_stores_nothing() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let stored = backend.stored();
    *backend.fail.borrow_mut() = true;
    let reply = exchange(&mut browser, &code);
    assert_eq!(reply.status, 503);
    *backend.fail.borrow_mut() = false;
    // Once the store is back, the code the failed call could not reach still redeems.
    assert_nothing_changed(&mut browser, &stored, &code);
}

#[test]
fn prompt_login_asks_again_then_proceeds() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    authorize(&mut browser, &[]);
    let forced = browser.get(&authorize_url(&[("prompt", "login")]));
    assert!(
        html(&forced).contains("action=\"/login\""),
        "a session does not skip prompt=login"
    );
    let return_to = hidden(&forced, "return_to");
    assert!(
        !return_to.contains("prompt"),
        "the login form returns without the prompt"
    );
    let signed_in = browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&forced, "csrf_token")),
            ("return_to", &return_to),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    // Signed in afresh; the consent given before is remembered, so it goes back to the client.
    let back = browser.get(signed_in.header("location").unwrap());
    assert_eq!(back.status, 302, "{}", html(&back));
    assert!(location_params(&back).get("code").is_some());
}

#[test]
fn after_a_forced_sign_in_prompt_consent_still_applies() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[("prompt", "login consent")]));
    let return_to = hidden(&login, "return_to");
    assert!(return_to.contains("prompt=consent"), "{return_to}");
    assert!(!return_to.contains("login"), "{return_to}");
}

#[test]
fn prompt_consent_shows_consent_even_to_first_party_clients() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let challenge = s256_challenge(VERIFIER);
    let url = |prompt: Option<&str>| {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:4711/callback"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(p) = prompt {
            pairs.push(("prompt", p));
        }
        format!("/authorize?{}", encode(&pairs))
    };
    let login = browser.get(&url(None));
    browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(browser.get(&url(None)).status, 302);
    let consent = browser.get(&url(Some("consent")));
    assert_eq!(consent.status, 200);
    assert!(html(&consent).contains("Allow access?"));
}

#[test]
fn a_consent_token_from_another_session_is_refused() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[]));
    let signed_in = sign_in(&mut browser, &login);
    let consent = browser.get(signed_in.header("location").unwrap());
    let token = hidden(&consent, "csrf_token");
    // The same browser signs in again: a new session, so the old consent token is void.
    let login2 = browser.get(&authorize_url(&[("prompt", "login")]));
    browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login2, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    let reply = browser.post_form(
        "/authorize",
        &[
            ("decision", "allow"),
            ("csrf_token", &token),
            ("response_type", "code"),
            ("client_id", "chatgpt"),
            ("redirect_uri", CALLBACK),
        ],
    );
    assert_eq!(reply.status, 403);
}

#[test]
fn https_cookies_are_host_prefixed_secure_and_http_only() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[]));
    let reply = browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    let cookies: Vec<&str> = reply
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies.len(), 2);
    for c in cookies {
        assert!(c.starts_with("__Host-portcullis_"), "{c}");
        assert!(
            c.contains("; Secure")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax")
                && c.contains("Path=/"),
            "{c}"
        );
        assert!(!c.contains("Domain"), "{c}");
    }
}

#[test]
fn token_endpoint_answers_cors_preflights_but_authorize_does_not() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let pre = browser.send(Method::Options, "/token", &[], b"");
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let auth = browser.send(Method::Options, "/authorize", &[], b"");
    assert_eq!(auth.status, 405);
    assert!(auth.header("access-control-allow-origin").is_none());
}

#[test]
fn userinfo_refuses_a_token_whose_grant_was_revoked() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[("scope", "openid email")]);
    let tokens = json(&exchange(&mut browser, &code));
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let auth = basic("chatgpt", "client-secret");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    browser.send(
        Method::Post,
        "/revoke",
        &headers,
        encode(&[("token", tokens["refresh_token"].as_str().unwrap())]).as_bytes(),
    );
    let info = browser.send(
        Method::Get,
        "/userinfo",
        &[("authorization", &format!("Bearer {access}"))],
        b"",
    );
    assert_eq!(info.status, 401);
}

#[test]
fn the_account_page_lists_and_revokes_the_users_grants_and_keys() {
    let config = config();
    let backend = backend();
    backend.api_keys.borrow_mut().push((
        "usr_demo".into(),
        portcullis::ports::ApiKeySummary {
            id: "key_1".into(),
            plugin: Some("todo".into()),
            prefix: "pk_abcdefgh".into(),
            name: "laptop".into(),
            scopes: "todos:read".into(),
            created_at: NOW,
            last_used_at: None,
            revoked_at: None,
        },
    ));
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let tokens = json(&exchange(&mut browser, &code));
    let page = browser.get("/account");
    assert_eq!(page.status, 200);
    let text = html(&page);
    assert!(
        text.contains("ChatGPT") && text.contains("laptop"),
        "{text}"
    );
    let grant_id = tokens["refresh_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden(&page, "csrf_token");
    // A second authorization of the same app: still one entry on the page.
    let code = authorize_again(&mut browser);
    let second = json(&exchange(&mut browser, &code));
    let page = html(&browser.get("/account"));
    assert_eq!(page.matches("value=\"revoke-app\"").count(), 1, "{page}");
    let app = format!("chatgpt {BASE}");
    assert!(page.contains(&format!("value=\"{app}\"")), "{page}");
    let revoked = browser.post_form(
        "/account",
        &[
            ("csrf_token", &csrf),
            ("action", "revoke-app"),
            ("id", &app),
        ],
    );
    assert_eq!(revoked.status, 303);
    assert!(
        backend.grants.borrow()[&grant_id].revoked,
        "every grant of the app ends"
    );
    let second_grant = second["refresh_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    assert!(backend.grants.borrow()[second_grant].revoked);
    assert!(
        backend.consents.borrow().is_empty(),
        "its consent is forgotten"
    );
    let auth = basic("chatgpt", "client-secret");
    let refresh = token(
        &mut browser,
        Some(&auth),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(json(&refresh)["error"], "invalid_grant");
    let key = browser.post_form(
        "/account",
        &[
            ("csrf_token", &csrf),
            ("action", "revoke-key"),
            ("id", "key_1"),
        ],
    );
    assert_eq!(key.status, 303);
    assert!(backend.api_keys.borrow()[0].1.revoked_at.is_some());
    let after = html(&browser.get("/account"));
    assert!(
        !after.contains("value=\"revoke-app\"") && !after.contains("value=\"revoke-key\""),
        "nothing left to revoke, and no revoked history in the way: {after}"
    );
    // The next authorization asks again.
    let asked = browser.get(&authorize_url(&[]));
    assert_eq!(asked.status, 200);
    assert!(html(&asked).contains("Allow access?"));
}

/// Authorizes again in a signed-in browser (consent remembered): the code.
fn authorize_again(browser: &mut Browser<'_>) -> String {
    let reply = browser.get(&authorize_url(&[]));
    assert_eq!(reply.status, 302, "{}", html(&reply));
    location_params(&reply).get("code").unwrap().to_string()
}

#[test]
fn a_second_authorization_of_an_app_asks_nothing_and_new_scopes_are_asked_alone() {
    let config = config();
    let mut backend = backend();
    backend.permissions.insert(
        ("usr_demo".into(), "res_todos".into()),
        vec!["todos:read".into(), "todos:write".into()],
    );
    let mut browser = Browser::new(&config, &backend);
    authorize(&mut browser, &[("scope", "todos:read")]);
    // The same scopes again: straight back with a code, no page.
    let again = browser.get(&authorize_url(&[("scope", "todos:read")]));
    assert_eq!(again.status, 302, "{}", html(&again));
    assert!(location_params(&again).get("code").is_some());
    // prompt=consent still shows the page.
    let forced = browser.get(&authorize_url(&[
        ("scope", "todos:read"),
        ("prompt", "consent"),
    ]));
    assert_eq!(forced.status, 200);
    // A new scope: asked alone, with the old one listed as already allowed.
    let wider = browser.get(&authorize_url(&[("scope", "todos:read todos:write")]));
    assert_eq!(wider.status, 200);
    let page = html(&wider);
    let (asked, allowed) = page.split_once("You already allowed it to").unwrap();
    assert!(
        asked.contains("todos:write") && !asked.contains("<code>todos:read</code>"),
        "{page}"
    );
    assert!(allowed.contains("<code>todos:read</code>"), "{page}");
    // prompt=none may not ask: consent_required while something is new.
    let silent = browser.get(&authorize_url(&[
        ("scope", "todos:read todos:write"),
        ("prompt", "none"),
    ]));
    assert_eq!(
        location_params(&silent).get("error"),
        Some("consent_required")
    );
}

#[test]
fn the_account_page_refuses_other_users_grants_and_forged_forms() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    authorize(&mut browser, &[]);
    let page = browser.get("/account");
    let csrf = hidden(&page, "csrf_token");
    let foreign = browser.post_form(
        "/account",
        &[
            ("csrf_token", &csrf),
            ("action", "revoke-grant"),
            ("id", &"x".repeat(22)),
        ],
    );
    assert_eq!(foreign.status, 404);
    let forged = browser.post_form(
        "/account",
        &[
            ("csrf_token", "forged"),
            ("action", "revoke-key"),
            ("id", "key_1"),
        ],
    );
    assert_eq!(forged.status, 403);
    let mut stranger = Browser::new(&config, &backend);
    let login = stranger.get("/account");
    assert!(
        html(&login).contains("action=\"/login\""),
        "signed-out visitors get the login form"
    );
    assert_eq!(hidden(&login, "return_to"), "/account");
}

#[test]
fn openid_only_grants_without_a_resource_get_an_opaque_token_good_only_at_userinfo() {
    let config = config();
    let mut backend = backend();
    backend.resources.clear();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[("scope", "openid email")]);
    let tokens = json(&exchange(&mut browser, &code));
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("o."), "{access}");
    assert_eq!(tokens["scope"], "openid email");
    let info = json(&browser.send(
        Method::Get,
        "/userinfo",
        &[("authorization", &format!("Bearer {access}"))],
        b"",
    ));
    assert_eq!(info["email"], "demo@example.com");
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: None,
        now: NOW,
    };
    assert!(
        verify_access_token(&access, &config.keys, &policy).is_err(),
        "not a JWT the proxy would take"
    );
    let last = if access.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &access[..access.len() - 1]);
    let refused = browser.send(
        Method::Get,
        "/userinfo",
        &[("authorization", &format!("Bearer {forged}"))],
        b"",
    );
    assert_eq!(refused.status, 401);
}

fn register(browser: &mut Browser<'_>, body: &serde_json::Value) -> Reply {
    browser.send(
        Method::Post,
        "/register",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_registered_public_client_completes_the_flow_with_pkce_and_consent() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let reply = register(
        &mut browser,
        &serde_json::json!({
            "client_name": "MCP Inspector",
            "redirect_uris": ["http://localhost:6274/oauth/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "unknown_field": "ignored",
        }),
    );
    assert_eq!(reply.status, 201, "{}", html(&reply));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = json(&reply);
    let client_id = body["client_id"].as_str().unwrap().to_string();
    assert!(client_id.starts_with("dcr_"));
    assert!(body.get("client_secret").is_none());
    assert!(body.get("unknown_field").is_none());
    assert_eq!(
        body["redirect_uris"][0],
        "http://localhost:6274/oauth/callback"
    );
    assert_eq!(body["client_id_issued_at"], NOW);
    let stored = backend.registered.borrow()[0].clone();
    assert_eq!(stored.expires_at, NOW + 24 * 3600);
    assert_eq!(stored.client.kind, ClientKind::Public);
    assert!(!stored.client.first_party);

    // Without PKCE a public client is refused (on our page: no administrator vetted its
    // redirect URI); with it (any loopback port), consent is asked.
    let base = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", "http://localhost:6274/oauth/callback"),
        ("state", "st4te"),
        ("scope", "todos:read"),
    ];
    let no_pkce = browser.get(&format!("/authorize?{}", encode(&base)));
    assert_eq!(no_pkce.status, 400);
    assert!(no_pkce.header("location").is_none());
    assert!(html(&no_pkce).contains("invalid_request"));
    let challenge = s256_challenge(VERIFIER);
    let code = authorize(
        &mut browser,
        &[
            ("client_id", &client_id),
            ("redirect_uri", "http://localhost:6274/oauth/callback"),
            ("scope", "todos:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", BASE),
        ],
    );
    let tokens = token(
        &mut browser,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", "http://localhost:6274/oauth/callback"),
            ("code_verifier", VERIFIER),
            ("resource", BASE),
        ],
    );
    assert_eq!(tokens.status, 200, "{}", html(&tokens));
    let tokens = json(&tokens);
    assert_eq!(tokens["scope"], "todos:read");
    // Refresh naming another resource is invalid_target; the token still works after.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let wrong = token(
        &mut browser,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
            ("resource", "https://other.example.com"),
        ],
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(json(&wrong)["error"], "invalid_target");
    let right = token(
        &mut browser,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
            ("resource", BASE),
        ],
    );
    assert_eq!(right.status, 200, "{}", html(&right));
    assert_ne!(
        json(&right)["refresh_token"],
        tokens["refresh_token"],
        "always rotated"
    );
}

#[test]
fn a_registration_asking_for_a_secret_gets_one_that_works() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let reply = register(
        &mut browser,
        &serde_json::json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_post"}),
    );
    assert_eq!(reply.status, 201);
    let body = json(&reply);
    let secret = body["client_secret"].as_str().unwrap();
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_name"], "chatgpt.com");
    let stored = backend.registered.borrow()[0].clone();
    assert_eq!(
        stored.client.secret_hash.as_deref(),
        Some(sha256_hex(secret).as_str())
    );
    assert!(
        !stored.metadata.contains(secret),
        "the secret is never stored in clear"
    );
}

#[test]
fn bad_registrations_are_rfc7591_errors_and_store_nothing() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    for (body, code) in [
        (
            serde_json::json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": ["https://a.example.com/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": ["https://*.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (serde_json::json!({}), "invalid_redirect_uri"),
        (
            serde_json::json!({"redirect_uris": ["https://a.example.com/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
    ] {
        let reply = register(&mut browser, &body);
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(json(&reply)["error"], code, "{body}");
    }
    let form = browser.post_form(
        "/register",
        &[("redirect_uris", "https://a.example.com/cb")],
    );
    assert_eq!(form.status, 400);
    assert_eq!(json(&form)["error"], "invalid_client_metadata");
    assert!(backend.registered.borrow().is_empty());
}

#[test]
fn registration_refuses_names_with_invisible_characters_and_stores_nothing() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    for (field, value) in [
        // The right-to-left override turns "wants to use your account" around it.
        ("client_name", "Inspector \u{202E}tnuocca ruoy esu ot stnaw"),
        ("client_name", "Chat\u{200B}GPT"),
        ("client_name", "\u{FEFF}Notes"),
        ("client_name", "Notes\u{2066}"),
        ("client_name", "Notes\u{E0041}"),
        ("client_uri", "https://app.example.com/\u{202E}"),
        ("logo_uri", "https://app.example.com/\u{200D}.png"),
    ] {
        let mut body = serde_json::json!({"redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none"});
        body[field] = serde_json::json!(value);
        let reply = register(&mut browser, &body);
        assert_eq!(reply.status, 400, "{field} {value:?}");
        let error = json(&reply);
        assert_eq!(error["error"], "invalid_client_metadata", "{value:?}");
        let description = error["error_description"].as_str().unwrap();
        assert!(description.starts_with(field), "{description}");
        assert!(description.contains("U+"), "{description}");
    }
    assert!(backend.registered.borrow().is_empty());
}

#[test]
fn registration_refuses_copies_of_first_party_names_but_not_the_assistants_own() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let body = |name: &str, redirect: &str| serde_json::json!({"client_name": name, "redirect_uris": [redirect], "token_endpoint_auth_method": "none"});
    for name in [
        // The assistants, from elsewhere.
        "ChatGPT",
        "Chat GPT",
        "ChatGРТ",
        "ＣｈａｔＧＰＴ",
        "Claude",
        "C1aude",
        // An administrator's clients (the fixture's "ChatGPT" and "CLI") and the plugin ("Todo").
        "C L I",
        "cli",
        "Todo",
        "T0D0",
    ] {
        let reply = register(&mut browser, &body(name, "https://attacker.example/cb"));
        assert_eq!(reply.status, 400, "{name}");
        let error = json(&reply);
        assert_eq!(error["error"], "invalid_client_metadata", "{name}");
        assert!(
            error["error_description"]
                .as_str()
                .unwrap()
                .starts_with("client_name reads as"),
            "{error}"
        );
    }
    assert!(backend.registered.borrow().is_empty(), "nothing stored");
    // The assistants themselves, sending users back to their own domains, may.
    for (name, redirect) in [
        (
            "ChatGPT",
            "https://chatgpt.com/connector_platform_oauth_redirect",
        ),
        ("Claude", "https://claude.ai/api/mcp/auth_callback"),
    ] {
        let reply = register(&mut browser, &body(name, redirect));
        assert_eq!(reply.status, 201, "{name}: {}", html(&reply));
    }
}

/// Signs the demo user in for an authorization request and returns the page that follows: the
/// consent page, or the redirect of remembered consent.
fn consent_page_for<B: Backend>(browser: &mut Browser<'_, B>, extra: &[(&str, &str)]) -> Reply {
    let login = browser.get(&authorize_url(extra));
    assert_eq!(login.status, 200, "{}", html(&login));
    let signed_in = sign_in(browser, &login);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    browser.get(signed_in.header("location").unwrap())
}

#[test]
fn the_consent_page_marks_a_self_registered_client_unverified_and_names_its_host() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let reply = register(
        &mut browser,
        &serde_json::json!({
            "client_name": "تطبيق الملاحظات",
            "redirect_uris": ["https://notes.example.net/callback"],
            "token_endpoint_auth_method": "none",
        }),
    );
    assert_eq!(reply.status, 201, "{}", html(&reply));
    let client_id = json(&reply)["client_id"].as_str().unwrap().to_string();
    let challenge = s256_challenge(VERIFIER);
    let consent = consent_page_for(
        &mut browser,
        &[
            ("client_id", &client_id),
            ("redirect_uri", "https://notes.example.net/callback"),
            ("scope", "todos:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let page = html(&consent);
    assert!(
        page.contains("<strong><bdi>تطبيق الملاحظات</bdi></strong>"),
        "the name is isolated: {page}"
    );
    assert!(page.contains("(unverified)"), "marked in text: {page}");
    assert!(
        page.contains("will be sent to <strong><bdi>notes.example.net</bdi></strong>"),
        "{page}"
    );

    // An administrator's client is shown as it is, unmarked.
    let mut browser = Browser::new(&config, &backend);
    let consent = consent_page_for(&mut browser, &[]);
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let page = html(&consent);
    assert!(
        page.contains("<strong><bdi>ChatGPT</bdi></strong>"),
        "{page}"
    );
    assert!(!page.contains("unverified"), "{page}");
}

#[test]
fn a_client_not_vetted_whose_name_copies_another_apps_is_refused_on_our_page() {
    let config = config();
    let mut backend = backend();
    let stranger = |id: &str, name: &str, origin: ClientOrigin| Client {
        id: id.into(),
        name: name.into(),
        secret_hash: None,
        redirect_uris: vec!["https://attacker.example/cb".into()],
        kind: ClientKind::Public,
        first_party: false,
        origin,
        may_introspect: false,
        key_set: None,
        dpop_bound: false,
    };
    let document = "https://attacker.example/client.json";
    for (id, name, origin) in [
        // A document copying the plugin's own name (checked here: documents are cached across
        // the deployment's plugins), or an assistant's.
        (document, "Todo", ClientOrigin::MetadataDocument),
        (document, "ChatGPT", ClientOrigin::MetadataDocument),
        // Registered before names were checked.
        ("dcr_old", "Chat GPT", ClientOrigin::Dynamic),
        ("dcr_old", "Notes \u{202E}", ClientOrigin::Dynamic),
    ] {
        backend
            .clients
            .insert(id.into(), stranger(id, name, origin));
        let mut browser = Browser::new(&config, &backend);
        let challenge = s256_challenge(VERIFIER);
        let reply = browser.get(&authorize_url(&[
            ("client_id", id),
            ("redirect_uri", "https://attacker.example/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]));
        assert_eq!(reply.status, 400, "{name:?}: {}", html(&reply));
        assert!(reply.header("location").is_none(), "never sent back");
        assert!(html(&reply).contains("name"), "{}", html(&reply));
    }
    // ChatGPT's own document, on chatgpt.com, is ChatGPT: marked unverified all the same.
    with_chatgpt_document_client(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    let challenge = s256_challenge(VERIFIER);
    let consent = consent_page_for(
        &mut browser,
        &[
            ("client_id", CHATGPT_DOC),
            ("redirect_uri", CHATGPT_CALLBACK),
            ("scope", "todos:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", BASE),
        ],
    );
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let page = html(&consent);
    assert!(
        page.contains(
            "<bdi>ChatGPT</bdi></strong> <span class=\"unverified-mark\">(unverified)</span>"
        ),
        "{page}"
    );
    assert!(page.contains("<bdi>chatgpt.com</bdi>"), "{page}");
}

#[test]
fn metadata_advertises_registration_and_metadata_documents() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let doc = json(&browser.get("/.well-known/oauth-authorization-server"));
    assert_eq!(doc["registration_endpoint"], format!("{BASE}/register"));
    assert_eq!(doc["client_id_metadata_document_supported"], true);
}

/// A confidential client that is neither the token's client nor marked as a resource server,
/// and one an administrator marked.
fn with_other_confidential_clients(backend: &mut MemoryBackend) {
    for (id, may_introspect) in [("stranger", false), ("resource-server", true)] {
        backend.clients.insert(
            id.into(),
            Client {
                id: id.into(),
                name: id.into(),
                secret_hash: Some(sha256_hex("their-secret")),
                redirect_uris: vec!["https://stranger.example/cb".into()],
                kind: ClientKind::Confidential,
                first_party: false,
                origin: ClientOrigin::Dynamic,
                may_introspect,
                key_set: None,
                dpop_bound: false,
            },
        );
    }
}

fn introspect_as(
    browser: &mut Browser<'_>,
    id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    json(&post_token(browser, "/introspect", id, secret, token))
}

/// `token=<token>` posted to one of the endpoints that take a token (`/introspect`,
/// `/revoke`) by a client authenticating with its secret.
fn post_token(browser: &mut Browser<'_>, path: &str, id: &str, secret: &str, token: &str) -> Reply {
    let auth = basic(id, secret);
    browser.send(
        Method::Post,
        path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth.as_str()),
        ],
        encode(&[("token", token)]).as_bytes(),
    )
}

#[test]
fn only_the_tokens_client_and_marked_resource_servers_may_introspect_it() {
    // RFC 7662 §4; the outside review found any self-registered confidential client could.
    let config = config();
    let mut backend = backend();
    with_other_confidential_clients(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let tokens = json(&exchange(&mut browser, &code));
    for kind in ["access_token", "refresh_token"] {
        let token = tokens[kind].as_str().unwrap();
        let stranger = introspect_as(&mut browser, "stranger", "their-secret", token);
        assert_eq!(stranger, serde_json::json!({"active": false}), "{kind}");
        let own = introspect_as(&mut browser, "chatgpt", "client-secret", token);
        assert_eq!(own["active"], true, "{kind}");
    }
    let access = tokens["access_token"].as_str().unwrap();
    let marked = introspect_as(&mut browser, "resource-server", "their-secret", access);
    assert_eq!(marked["active"], true);
    assert_eq!(marked["client_id"], "chatgpt");
}

#[test]
fn a_code_and_a_refresh_token_redeem_only_at_the_plugin_that_issued_them() {
    // With several plugins on one deployment, clients and grant storage are shared: a grant is
    // bound to its issuer, and another plugin's token endpoint refuses it, changing nothing.
    let config = config();
    let other = config_at("https://weather.example.com");
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let mut elsewhere = Browser::new(&other, &backend);
    let code = authorize(&mut browser, &[]);
    let refused = exchange(&mut elsewhere, &code);
    assert_eq!(refused.status, 400, "{}", html(&refused));
    assert_eq!(json(&refused)["error"], "invalid_grant");
    let tokens = json(&exchange(&mut browser, &code));
    assert!(
        tokens["access_token"].is_string(),
        "still redeemable at its own plugin"
    );

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let auth = basic("chatgpt", "client-secret");
    let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let refused = token(&mut elsewhere, Some(&auth), &pairs);
    assert_eq!(json(&refused)["error"], "invalid_grant");
    let revoke = elsewhere.send(
        Method::Post,
        "/revoke",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth.as_str()),
        ],
        encode(&[("token", refresh)]).as_bytes(),
    );
    assert_eq!(revoke.status, 200, "RFC 7009 answers 200 either way");
    let stranger_view = introspect_as(&mut elsewhere, "chatgpt", "client-secret", refresh);
    assert_eq!(stranger_view["active"], false);
    let rotated = token(&mut browser, Some(&auth), &pairs);
    assert_eq!(rotated.status, 200, "{}", html(&rotated));
}

// ----- private_key_jwt (RFC 7523), as ChatGPT authenticates -------------------------------------

const CHATGPT_DOC: &str = "https://chatgpt.com/oauth/abc123/client.json";
const CHATGPT_JWKS: &str = "https://chatgpt.com/oauth/jwks.json";
const CHATGPT_CALLBACK: &str = "https://chatgpt.com/connector/oauth/abc123";

/// The client ChatGPT's metadata document makes, and its published RSA key.
fn with_chatgpt_document_client(backend: &mut MemoryBackend) -> common::jws::ClientKey {
    use portcullis::oauth::client::ClientKeySet;
    use portcullis::oauth::client_assertion::parse_jwks;
    let key = common::jws::ClientKey::rsa();
    let mut published = key.public_jwk("cimd-20260428030119");
    published["alg"] = serde_json::json!("RS256");
    let jwks = serde_json::json!({"keys": [published]});
    backend
        .published_jwks
        .borrow_mut()
        .insert(CHATGPT_JWKS.into(), parse_jwks(&jwks).unwrap());
    backend.clients.insert(
        CHATGPT_DOC.into(),
        Client {
            id: CHATGPT_DOC.into(),
            name: "ChatGPT".into(),
            secret_hash: None,
            redirect_uris: vec![CHATGPT_CALLBACK.into()],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::MetadataDocument,
            may_introspect: false,
            key_set: Some(ClientKeySet::Uri(CHATGPT_JWKS.into())),
            dpop_bound: false,
        },
    );
    key
}

fn assertion_claims(jti: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": CHATGPT_DOC, "sub": CHATGPT_DOC, "aud": format!("{BASE}/token"),
        "iat": NOW, "exp": NOW + 60, "jti": jti,
    })
}

fn chatgpt_code(browser: &mut Browser<'_>) -> String {
    let challenge = s256_challenge(VERIFIER);
    authorize(
        browser,
        &[
            ("client_id", CHATGPT_DOC),
            ("redirect_uri", CHATGPT_CALLBACK),
            ("scope", "todos:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", BASE),
        ],
    )
}

fn exchange_with_assertion(browser: &mut Browser<'_>, code: &str, assertion: &str) -> Reply {
    token(
        browser,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CHATGPT_CALLBACK),
            ("code_verifier", VERIFIER),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
}

#[test]
fn chatgpt_authenticates_with_an_rs256_client_assertion_and_refreshes() {
    let config = config();
    let mut backend = backend();
    let key = with_chatgpt_document_client(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    let code = chatgpt_code(&mut browser);
    let assertion = key.sign(
        "RS256",
        Some("cimd-20260428030119"),
        &assertion_claims("j1"),
    );
    let reply = exchange_with_assertion(&mut browser, &code, &assertion);
    assert_eq!(reply.status, 200, "{}", html(&reply));
    let tokens = json(&reply);
    assert_eq!(tokens["scope"], "todos:read");
    let claims = verify_access_token(
        tokens["access_token"].as_str().unwrap(),
        &config.keys,
        &VerifyPolicy {
            issuer: BASE,
            audience: Some(BASE),
            now: NOW,
        },
    )
    .unwrap();
    assert_eq!(claims.client_id, CHATGPT_DOC);
    // Refresh with a new assertion (the issuer as audience, which RFC 7523 also allows).
    let mut refresh_claims = assertion_claims("j2");
    refresh_claims["aud"] = serde_json::json!(BASE);
    let assertion = key.sign("RS256", Some("cimd-20260428030119"), &refresh_claims);
    let refreshed = token(
        &mut browser,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    );
    assert_eq!(refreshed.status, 200, "{}", html(&refreshed));
}

#[test]
fn every_bad_client_assertion_is_invalid_client_and_leaves_the_code_redeemable() {
    let config = config();
    let mut backend = backend();
    let key = with_chatgpt_document_client(&mut backend);
    let other = common::jws::ClientKey::rsa();
    let kid = Some("cimd-20260428030119");
    let mut browser = Browser::new(&config, &backend);
    let code = chatgpt_code(&mut browser);
    let with = |change: serde_json::Value| {
        let mut c = assertion_claims("bad");
        for (k, v) in change.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let rsa_public = key.public_jwk("k").to_string();
    let hs256 = {
        // HS256 keyed with the client's published RSA key: the classic confusion attack.
        use hmac::{Hmac, Mac};
        let input = format!(
            "{}.{}",
            b64(serde_json::json!({"alg": "HS256", "kid": "cimd-20260428030119"})),
            b64(assertion_claims("hs"))
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(rsa_public.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            key.sign(
                "RS256",
                kid,
                &with(serde_json::json!({"aud": "https://evil.example/token"})),
            ),
        ),
        (
            "expired",
            key.sign(
                "RS256",
                kid,
                &with(serde_json::json!({"iat": NOW - 600, "exp": NOW - 120})),
            ),
        ),
        (
            "too long-lived",
            key.sign("RS256", kid, &with(serde_json::json!({"exp": NOW + 3600}))),
        ),
        (
            "another sub",
            key.sign(
                "RS256",
                kid,
                &with(serde_json::json!({"sub": "https://evil.example/client.json"})),
            ),
        ),
        (
            "unknown kid",
            key.sign("RS256", Some("not-published"), &assertion_claims("u")),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(serde_json::json!({"alg": "none"})),
                b64(assertion_claims("n"))
            ),
        ),
        ("HS256 with the RSA key", hs256),
        (
            "another client's key",
            other.sign("RS256", kid, &assertion_claims("o")),
        ),
        (
            "PS256 on an RS256 key",
            key.sign("PS256", kid, &assertion_claims("p")),
        ),
        ("not a JWT", "garbage".into()),
    ];
    for (why, assertion) in cases {
        let reply = exchange_with_assertion(&mut browser, &code, &assertion);
        assert_eq!(reply.status, 401, "{why}: {}", html(&reply));
        assert_eq!(json(&reply)["error"], "invalid_client", "{why}");
    }
    // The unknown kid refetched the JWKS once, as a key rotation would need.
    assert!(backend.calls.borrow().contains(&"client_jwks_refresh"));
    // A good assertion still redeems the code, and the same assertion again is a replay.
    let good = key.sign("RS256", kid, &assertion_claims("once"));
    assert_eq!(
        exchange_with_assertion(&mut browser, &code, &good).status,
        200
    );
    let mut second = Browser::new(&config, &backend);
    let code2 = chatgpt_code(&mut second);
    let replay = exchange_with_assertion(&mut second, &code2, &good);
    assert_eq!(json(&replay)["error"], "invalid_client");
    assert!(json(&replay)["error_description"]
        .as_str()
        .unwrap()
        .contains("jti"));
}

#[test]
fn a_jwks_that_cannot_be_fetched_refuses_the_client() {
    let config = config();
    let mut backend = backend();
    let key = with_chatgpt_document_client(&mut backend);
    let mut browser = Browser::new(&config, &backend);
    let code = chatgpt_code(&mut browser);
    backend.published_jwks.borrow_mut().clear();
    let assertion = key.sign("RS256", Some("cimd-20260428030119"), &assertion_claims("x"));
    let reply = exchange_with_assertion(&mut browser, &code, &assertion);
    assert_eq!(reply.status, 401);
    assert_eq!(json(&reply)["error"], "invalid_client");
}

#[test]
fn es256_ps256_and_eddsa_assertions_verify_too() {
    use portcullis::oauth::client::ClientKeySet;
    use portcullis::oauth::client_assertion::parse_jwks;
    for (alg, key) in [
        ("ES256", common::jws::ClientKey::p256()),
        ("PS256", common::jws::ClientKey::rsa()),
        ("EdDSA", common::jws::ClientKey::ed25519()),
    ] {
        let config = config();
        let mut backend = backend();
        with_chatgpt_document_client(&mut backend);
        let keys = parse_jwks(&serde_json::json!({"keys": [key.public_jwk("k")]})).unwrap();
        backend.clients.get_mut(CHATGPT_DOC).unwrap().key_set = Some(ClientKeySet::Inline(keys));
        let mut browser = Browser::new(&config, &backend);
        let code = chatgpt_code(&mut browser);
        let assertion = key.sign(alg, Some("k"), &assertion_claims(alg));
        let reply = exchange_with_assertion(&mut browser, &code, &assertion);
        assert_eq!(reply.status, 200, "{alg}: {}", html(&reply));
    }
}

// ----- revocation: disabled users, ended sessions ---------------------------------------------

/// A hidden field of the form that posts to `action` (a page can carry several forms).
fn form_field(reply: &Reply, action: &str, name: &str) -> String {
    let page = html(reply);
    let start = page
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form for {action} in {page}"));
    let form = &page[start..start + page[start..].find("</form>").unwrap()];
    let marker = format!("name=\"{name}\" value=\"");
    let at = form
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {form}"))
        + marker.len();
    form[at..at + form[at..].find('"').unwrap()].replace("&amp;", "&")
}

fn grant_of_code(code: &str) -> String {
    code.split('.').next().unwrap().to_string()
}

fn end_user(backend: &MemoryBackend, how: &str) {
    match how {
        "disabled" => backend.users.borrow_mut()[0].disabled = true,
        "deleted" => backend.users.borrow_mut().clear(),
        other => unreachable!("{other}"),
    }
}

#[test]
fn a_user_disabled_or_deleted_while_consent_is_in_flight_gets_no_tokens_and_the_grant_is_revoked() {
    for how in ["disabled", "deleted"] {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        let code = authorize(&mut browser, &[]);
        end_user(&backend, how);
        let reply = exchange(&mut browser, &code);
        assert_eq!(reply.status, 400, "{how}: {}", html(&reply));
        let body = json(&reply);
        assert_eq!(body["error"], "invalid_grant", "{how}");
        assert!(body.get("access_token").is_none(), "{how}");
        assert!(
            backend.grants.borrow()[&grant_of_code(&code)].revoked,
            "{how}: the grant is revoked"
        );
        assert!(
            backend
                .grant_index
                .borrow()
                .iter()
                .all(|(_, g)| g.revoked_at.is_some()),
            "{how}: the account index shows it ended"
        );
    }
}

#[test]
fn refresh_after_the_user_is_disabled_or_deleted_is_refused_and_revokes_the_grant() {
    for how in ["disabled", "deleted"] {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        let code = authorize(&mut browser, &[]);
        let first = json(&exchange(&mut browser, &code));
        let refresh_token = first["refresh_token"].as_str().unwrap().to_string();
        end_user(&backend, how);
        let auth = basic("chatgpt", "client-secret");
        let refresh = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ];
        let refused = token(&mut browser, Some(&auth), &refresh);
        assert_eq!(refused.status, 400, "{how}");
        assert_eq!(json(&refused)["error"], "invalid_grant", "{how}");
        assert!(
            backend.grants.borrow()[&grant_of_code(&code)].revoked,
            "{how}"
        );
        if how == "disabled" {
            backend.users.borrow_mut()[0].disabled = false;
            let again = token(&mut browser, Some(&auth), &refresh);
            assert_eq!(
                json(&again)["error"],
                "invalid_grant",
                "enabling the user again does not bring the grant back"
            );
        }
    }
}

#[test]
fn a_grant_the_index_does_not_know_is_checked_by_the_user_it_names() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    backend.grant_index.borrow_mut().clear();
    let first = exchange(&mut browser, &code);
    assert_eq!(
        first.status, 200,
        "an active user's grant works without its index row"
    );
    backend.users.borrow_mut()[0].disabled = true;
    let auth = basic("chatgpt", "client-secret");
    let refused = token(
        &mut browser,
        Some(&auth),
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                json(&first)["refresh_token"].as_str().unwrap(),
            ),
        ],
    );
    assert_eq!(json(&refused)["error"], "invalid_grant");
}

/// Signs in through `/account`'s login form; returns the account page.
fn signed_in_account<B: Backend>(browser: &mut Browser<'_, B>) -> Reply {
    let login = browser.get("/account");
    let signed_in = sign_in(browser, &login);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    let page = browser.get(signed_in.header("location").unwrap());
    assert!(
        html(&page).contains("Signed in as demo@example.com"),
        "{}",
        html(&page)
    );
    page
}

/// Everything a session is used for refuses a replayed cookie as it refuses no session at all.
fn assert_signed_out<B: Backend>(browser: &mut Browser<'_, B>, account: &Reply, why: &str) {
    let page = browser.get("/account");
    assert!(
        html(&page).contains("action=\"/login\""),
        "{why}: /account shows the login form"
    );
    assert!(!html(&page).contains("Signed in as"), "{why}");
    let action = browser.post_form(
        "/account",
        &[
            ("csrf_token", &form_field(account, "/account", "csrf_token")),
            ("action", "sign-out-everywhere"),
        ],
    );
    assert_eq!(action.status, 401, "{why}: account actions are refused");
    let login = browser.get("/login");
    assert!(
        html(&login).contains("action=\"/login\""),
        "{why}: /login offers to sign in"
    );
    let authorize = browser.get(&authorize_url(&[]));
    assert_eq!(authorize.status, 200, "{why}");
    assert!(
        html(&authorize).contains("action=\"/login\""),
        "{why}: /authorize asks to sign in"
    );
    assert!(
        !html(&authorize).contains("decision"),
        "{why}: no consent screen"
    );
}

#[test]
fn a_session_cookie_replayed_after_logout_is_signed_out() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[]));
    let signed_in = sign_in(&mut browser, &login);
    let consent = browser.get(signed_in.header("location").unwrap());
    let account = browser.get("/account");
    let copied = browser.cookies.clone();
    let out = browser.post_form(
        "/logout",
        &[("csrf_token", &form_field(&account, "/logout", "csrf_token"))],
    );
    assert_eq!(out.status, 200, "{}", html(&out));
    assert!(!browser.cookies.contains_key("__Host-portcullis_session"));
    browser.cookies = copied;
    assert_signed_out(&mut browser, &account, "after logout");
    let stored = backend.stored();
    // The consent form the session was shown grants nothing either.
    let mut form: Vec<(String, String)> = vec![("decision".into(), "allow".into())];
    let page = html(&consent);
    let consent_form = page.split("action=\"/logout\"").next().unwrap();
    for chunk in consent_form.split("<input type=\"hidden\" name=\"").skip(1) {
        let name = chunk.split('"').next().unwrap().to_string();
        form.push((name.clone(), hidden(&consent, &name)));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let allowed = browser.post_form("/authorize", &pairs);
    assert_eq!(allowed.status, 401, "{}", html(&allowed));
    assert_eq!(
        backend.stored(),
        stored,
        "nothing granted, nothing consented"
    );
}

#[test]
fn a_session_cookie_from_before_logout_sign_out_everywhere_a_password_change_or_disabling_is_signed_out(
) {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
    use portcullis::admin::Admin;

    for change in [
        "logout",
        "sign out everywhere",
        "password change",
        "disabling",
    ] {
        let config = config();
        let memory = backend();
        let db = SqliteDb::migrated();
        let admin = |method: Method, path: &str, body: serde_json::Value| {
            let admin = Admin {
                sql: &db,
                backend: &memory,
                now: NOW,
                quota: None,
                rsa_signing: false,
                plugin: "todo",
                site: None,
            };
            let reply = match block_on(admin.serve(
                admin_route(path),
                &RequestHead::new(method, path),
                body.to_string().as_bytes(),
            )) {
                Ok(r) => r,
                Err(e) => e.to_reply(),
            };
            (reply.status, reply.json_body().unwrap_or_default())
        };
        let (status, user) = admin(
            Method::Post,
            "/admin/api/users",
            serde_json::json!({"email": "demo@example.com", "password": PASSWORD}),
        );
        assert_eq!(status, 201, "{user}");
        let id = user["id"].as_str().unwrap().to_string();
        let both = WithSqlUsers {
            db: &db,
            memory: &memory,
            now: NOW,
        };
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        let copied = browser.cookies.clone();
        match change {
            "logout" => {
                let csrf = form_field(&account, "/logout", "csrf_token");
                assert_eq!(
                    browser
                        .post_form("/logout", &[("csrf_token", &csrf)])
                        .status,
                    200
                );
            }
            "sign out everywhere" => {
                let csrf = form_field(&account, "/account", "csrf_token");
                let done = browser.post_form(
                    "/account",
                    &[("csrf_token", &csrf), ("action", "sign-out-everywhere")],
                );
                assert_eq!(done.status, 200, "{}", html(&done));
                assert!(!browser.cookies.contains_key("__Host-portcullis_session"));
            }
            "password change" => {
                let (status, body) = admin(
                    Method::Put,
                    &format!("/admin/api/users/{id}/password"),
                    serde_json::json!({"password": "another long passphrase"}),
                );
                assert_eq!(status, 200, "{body}");
            }
            "disabling" => {
                let (status, body) = admin(
                    Method::Patch,
                    &format!("/admin/api/users/{id}"),
                    serde_json::json!({"disabled": true}),
                );
                assert_eq!(status, 200, "{body}");
            }
            other => unreachable!("{other}"),
        }
        browser.cookies = copied;
        assert_signed_out(&mut browser, &account, change);
        if change != "disabling" {
            // Signing in again gives a session that works.
            let password = if change == "password change" {
                "another long passphrase"
            } else {
                PASSWORD
            };
            let login = browser.get("/account");
            let again = browser.post_form(
                "/login",
                &[
                    ("csrf_token", &hidden(&login, "csrf_token")),
                    ("return_to", "/account"),
                    ("email", "demo@example.com"),
                    ("password", password),
                ],
            );
            assert_eq!(again.status, 303, "{change}: {}", html(&again));
            assert!(
                html(&browser.get("/account")).contains("Signed in as"),
                "{change}"
            );
        }
    }
}

// ----- machine clients: the client_credentials grant (RFC 6749 §4.4) ----------------------------

/// The `chatgpt` client's own roles hold `todos:read` and `todos:write` on the resource.
fn machine_backend() -> MemoryBackend {
    let mut backend = backend();
    backend.permissions.insert(
        ("chatgpt".into(), "res_todos".into()),
        vec!["todos:read".into(), "todos:write".into()],
    );
    backend
}

fn machine_token(browser: &mut Browser<'_>, extra: &[(&str, &str)]) -> Reply {
    let auth = basic("chatgpt", "client-secret");
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    token(browser, Some(&auth), &pairs)
}

#[test]
fn a_machine_client_gets_a_token_for_itself_with_the_scopes_its_roles_hold() {
    let config = config();
    let backend = machine_backend();
    let mut browser = Browser::new(&config, &backend);
    let stored = backend.stored();
    let reply = machine_token(&mut browser, &[]);
    assert_eq!(reply.status, 200, "{}", html(&reply));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let tokens = json(&reply);
    assert_eq!(
        tokens["scope"], "todos:read todos:write",
        "no scope asked: all it holds"
    );
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
    assert!(tokens.get("id_token").is_none());
    let verified = verify_access_token(
        tokens["access_token"].as_str().unwrap(),
        &config.keys,
        &VerifyPolicy {
            issuer: BASE,
            audience: Some(BASE),
            now: NOW,
        },
    )
    .unwrap();
    assert_eq!(verified.subject, "chatgpt");
    assert_eq!(verified.client_id, "chatgpt");
    assert!(verified.machine);
    assert_eq!(verified.grant_id, None);
    assert_eq!(backend.stored(), stored, "a machine token stores nothing");
    // Asked scopes are narrowed to what the roles hold; OpenID scopes describe users only.
    let narrowed = json(&machine_token(
        &mut browser,
        &[("scope", "todos:write openid admin"), ("resource", BASE)],
    ));
    assert_eq!(narrowed["scope"], "todos:write");
}

#[test]
fn a_machine_token_costs_the_client_lookup_and_one_policy_read() {
    let config = config();
    let backend = machine_backend();
    let mut browser = Browser::new(&config, &backend);
    backend.calls.borrow_mut().clear();
    assert_eq!(machine_token(&mut browser, &[]).status, 200);
    let mut calls = backend.calls.borrow().clone();
    calls.sort();
    assert_eq!(
        calls,
        vec!["client_scope_context", "find_client", "throttle_peek"]
    );
}

#[test]
fn machine_token_refusals_each_have_their_reason() {
    let config = config();
    let mut backend = machine_backend();
    backend.clients.insert(
        "idle".into(),
        Client {
            id: "idle".into(),
            name: "Idle".into(),
            secret_hash: Some(sha256_hex("idle-secret")),
            redirect_uris: vec![],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
    let mut browser = Browser::new(&config, &backend);
    let stored = backend.stored();
    // (Authorization, extra parameters, status, error)
    type Case<'a> = (Option<String>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        // A public client has nothing to prove who it is.
        (None, vec![("client_id", "cli")], 400, "unauthorized_client"),
        (
            Some(basic("chatgpt", "wrong")),
            vec![],
            401,
            "invalid_client",
        ),
        // Its roles hold nothing on the resource: refused, not an empty token.
        (
            Some(basic("idle", "idle-secret")),
            vec![],
            400,
            "invalid_scope",
        ),
        (
            Some(basic("chatgpt", "client-secret")),
            vec![("scope", "admin")],
            400,
            "invalid_scope",
        ),
        (
            Some(basic("chatgpt", "client-secret")),
            vec![("resource", "https://other.example.com")],
            400,
            "invalid_target",
        ),
        (
            Some(basic("chatgpt", "client-secret")),
            vec![("resource", "not a uri")],
            400,
            "invalid_target",
        ),
        (
            Some(basic("chatgpt", "client-secret")),
            vec![("scope", "todos:read\u{7f}")],
            400,
            "invalid_scope",
        ),
    ];
    for (auth, extra, status, error) in cases {
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend(extra.iter().copied());
        let reply = token(&mut browser, auth.as_deref(), &pairs);
        assert_eq!(reply.status, status, "{extra:?}: {}", html(&reply));
        assert_eq!(json(&reply)["error"], error, "{extra:?}");
    }
    assert_eq!(backend.stored(), stored);
}

#[test]
fn a_machine_client_authenticates_with_a_signed_assertion_too() {
    let config = config();
    let mut backend = machine_backend();
    let key = with_chatgpt_document_client(&mut backend);
    backend.permissions.insert(
        (CHATGPT_DOC.into(), "res_todos".into()),
        vec!["todos:read".into()],
    );
    let mut browser = Browser::new(&config, &backend);
    let assertion = key.sign(
        "RS256",
        Some("cimd-20260428030119"),
        &assertion_claims("m1"),
    );
    let reply = token(
        &mut browser,
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    );
    assert_eq!(reply.status, 200, "{}", html(&reply));
    assert_eq!(json(&reply)["scope"], "todos:read");
}

#[test]
fn a_machine_token_is_introspected_but_has_no_userinfo() {
    let config = config();
    let backend = machine_backend();
    let mut browser = Browser::new(&config, &backend);
    let tokens = json(&machine_token(&mut browser, &[]));
    let access = tokens["access_token"].as_str().unwrap();
    let auth = basic("chatgpt", "client-secret");
    let seen = json(&browser.send(
        Method::Post,
        "/introspect",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth.as_str()),
        ],
        encode(&[("token", access)]).as_bytes(),
    ));
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], "chatgpt");
    assert_eq!(
        seen["gty"], "client_credentials",
        "a machine's token says so"
    );
    let info = browser.send(
        Method::Get,
        "/userinfo",
        &[("authorization", &format!("Bearer {access}"))],
        b"",
    );
    assert_eq!(info.status, 401);
}

/// The grant's two stores (its ledger and the index) changed together, with a failure between
/// them: see `portcullis::oauth::grant_stores`.
mod two_stores {
    use super::*;
    use portcullis::oauth::grant_stores::{Grants, Repaired};

    fn refresh_with(browser: &mut Browser<'_>, refresh_token: &str) -> Reply {
        let auth = basic("chatgpt", "client-secret");
        token(
            browser,
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
    }

    fn revoke(browser: &mut Browser<'_>, token: &str) -> Reply {
        post_token(browser, "/revoke", "chatgpt", "client-secret", token)
    }

    #[test]
    fn a_grant_the_index_cannot_record_sends_no_code_and_is_never_usable() {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        *backend.failing.borrow_mut() = vec!["record_grant"];
        let answer = consent_answer(&mut browser, &[]);
        assert_eq!(answer.status, 503, "{}", html(&answer));
        assert!(
            answer.header("location").is_none() && !html(&answer).contains("code="),
            "no code leaves: {}",
            html(&answer)
        );
        assert!(backend.grant_index.borrow().is_empty());
        let grants = backend.grants.borrow();
        assert_eq!(grants.len(), 1, "the ledger had started it");
        assert!(
            grants.values().all(|g| g.revoked),
            "and it is revoked there, so nothing could ever redeem it"
        );
        drop(grants);
        backend.failing.borrow_mut().clear();
        let mut again = Browser::new(&config, &backend);
        let code = authorize(&mut again, &[]);
        assert_eq!(exchange(&mut again, &code).status, 200, "the retry works");
    }

    #[test]
    fn a_revocation_the_ledger_interrupts_is_answered_503_and_finished_by_the_repair() {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        let code = authorize(&mut browser, &[]);
        let tokens = json(&exchange(&mut browser, &code));
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        *backend.failing.borrow_mut() = vec!["revoke_grant"];
        let answer = revoke(&mut browser, &refresh);
        assert_eq!(answer.status, 503);
        assert_eq!(json(&answer)["error"], "temporarily_unavailable");
        assert_eq!(
            backend.grant_index.borrow()[0].1.revoked_at,
            None,
            "the index says revoked only once the ledger refuses the tokens"
        );
        assert_eq!(backend.revocation_intents.borrow().len(), 1);
        backend.failing.borrow_mut().clear();

        let grants = Grants::new(&backend, &backend);
        assert_eq!(
            block_on(grants.finish_interrupted(NOW + 60)).unwrap(),
            Repaired {
                finished: 1,
                failed: 0
            }
        );
        assert_eq!(
            json(&refresh_with(&mut browser, &refresh))["error"],
            "invalid_grant",
            "the revocation asked for took effect"
        );
        assert_eq!(backend.grant_index.borrow()[0].1.revoked_at, Some(NOW + 60));
        assert_eq!(
            block_on(grants.finish_interrupted(NOW + 120)).unwrap(),
            Repaired::default(),
            "nothing is left to finish"
        );
    }

    #[test]
    fn a_revocation_the_index_interrupts_after_the_ledger_is_finished_by_the_repair() {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        let code = authorize(&mut browser, &[]);
        let tokens = json(&exchange(&mut browser, &code));
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        *backend.failing.borrow_mut() = vec!["mark_grant_revoked"];
        assert_eq!(revoke(&mut browser, &refresh).status, 503);
        assert!(
            backend.grants.borrow().values().all(|g| g.revoked),
            "the ledger refuses the grant's tokens already"
        );
        let grants = Grants::new(&backend, &backend);
        assert_eq!(
            block_on(grants.finish_interrupted(NOW + 60)).unwrap(),
            Repaired {
                finished: 0,
                failed: 1
            },
            "while the index is down the repair fails too, and keeps the intent"
        );
        backend.failing.borrow_mut().clear();
        assert_eq!(
            block_on(grants.finish_interrupted(NOW + 120))
                .unwrap()
                .finished,
            1
        );
        assert_eq!(
            backend.grant_index.borrow()[0].1.revoked_at,
            Some(NOW + 120)
        );
    }

    #[test]
    fn a_revocation_that_cannot_record_its_intent_changes_nothing() {
        let config = config();
        let backend = backend();
        let mut browser = Browser::new(&config, &backend);
        let code = authorize(&mut browser, &[]);
        let tokens = json(&exchange(&mut browser, &code));
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let before = backend.stored();
        *backend.failing.borrow_mut() = vec!["request_revocation"];
        assert_eq!(revoke(&mut browser, &refresh).status, 503);
        assert_eq!(backend.stored(), before);
        backend.failing.borrow_mut().clear();
        assert_eq!(refresh_with(&mut browser, &refresh).status, 200);
    }
}

// DPoP (RFC 9449) at the authorization server: binding at /token, bound refresh tokens of public
// clients, code binding by `dpop_jkt`, clients and plugins that require it, and server nonces.

const CLI_CALLBACK: &str = "http://127.0.0.1:4711/callback";

/// The public first-party client's code, with `extra` authorization parameters.
fn cli_code(browser: &mut Browser<'_>, extra: &[(&str, &str)]) -> String {
    let challenge = s256_challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "cli"),
        ("redirect_uri", CLI_CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "todos:read"),
        ("resource", BASE),
    ];
    pairs.extend_from_slice(extra);
    let url = format!("/authorize?{}", encode(&pairs));
    let mut back = browser.get(&url);
    if back.status == 200 {
        let signed_in = sign_in(browser, &back);
        back = browser.get(signed_in.header("location").unwrap());
    }
    assert_eq!(back.status, 302, "{}", html(&back));
    location_params(&back).get("code").unwrap().to_string()
}

/// A token request with a `DPoP` header when `proof` is given.
fn token_with_proof(
    browser: &mut Browser<'_>,
    auth: Option<&str>,
    proof: Option<&str>,
    pairs: &[(&str, &str)],
) -> Reply {
    let body = encode(pairs);
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    if let Some(p) = proof {
        headers.push(("dpop", p));
    }
    browser.send(Method::Post, "/token", &headers, body.as_bytes())
}

fn cli_exchange(browser: &mut Browser<'_>, code: &str, proof: Option<&str>) -> Reply {
    token_with_proof(
        browser,
        None,
        proof,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "cli"),
            ("redirect_uri", CLI_CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
}

fn cli_refresh(browser: &mut Browser<'_>, refresh: &str, proof: Option<&str>) -> Reply {
    token_with_proof(
        browser,
        None,
        proof,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "cli"),
        ],
    )
}

fn token_proof(key: &common::jws::ClientKey, now: i64) -> String {
    key.dpop_proof(
        "ES256",
        "POST",
        &format!("{BASE}/token"),
        None,
        now,
        serde_json::json!({}),
    )
}

fn verified_jkt(config: &Config, access: &str) -> Option<String> {
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(BASE),
        now: NOW,
    };
    verify_access_token(access, &config.keys, &policy)
        .unwrap()
        .jkt
}

#[test]
fn a_proof_binds_the_tokens_and_a_public_clients_refresh_tokens_stay_with_its_key() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let key = common::jws::ClientKey::p256();
    let code = cli_code(&mut browser, &[]);
    let reply = cli_exchange(&mut browser, &code, Some(&token_proof(&key, NOW)));
    assert_eq!(reply.status, 200, "{}", html(&reply));
    let tokens = json(&reply);
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(verified_jkt(&config, access), Some(key.thumbprint()));
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // The refresh token is bound: without a proof, or with another key's, it is refused and
    // stays good.
    let other = common::jws::ClientKey::p256();
    for proof in [None, Some(token_proof(&other, NOW))] {
        let refused = cli_refresh(&mut browser, &refresh, proof.as_deref());
        assert_eq!(refused.status, 400);
        assert_eq!(json(&refused)["error"], "invalid_grant");
    }
    let renewed = cli_refresh(&mut browser, &refresh, Some(&token_proof(&key, NOW)));
    assert_eq!(renewed.status, 200, "{}", html(&renewed));
    let renewed = json(&renewed);
    assert_eq!(renewed["token_type"], "DPoP");
    assert_eq!(
        verified_jkt(&config, renewed["access_token"].as_str().unwrap()),
        Some(key.thumbprint())
    );
}

#[test]
fn a_bad_proof_is_refused_before_the_code_is_spent() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let key = common::jws::ClientKey::p256();
    let code = cli_code(&mut browser, &[]);
    let token_url = format!("{BASE}/token");
    let good = token_proof(&key, NOW);
    let forged = {
        // Another key's signature under this key's header.
        let other = common::jws::ClientKey::p256();
        let theirs = token_proof(&other, NOW);
        let (input, _) = good.rsplit_once('.').unwrap();
        format!("{input}.{}", theirs.rsplit_once('.').unwrap().1)
    };
    for (why, proof) in [
        (
            "GET",
            key.dpop_proof("ES256", "GET", &token_url, None, NOW, serde_json::json!({})),
        ),
        (
            "another URL",
            key.dpop_proof(
                "ES256",
                "POST",
                &format!("{BASE}/revoke"),
                None,
                NOW,
                serde_json::json!({}),
            ),
        ),
        (
            "stale",
            key.dpop_proof(
                "ES256",
                "POST",
                &token_url,
                None,
                NOW - 301,
                serde_json::json!({}),
            ),
        ),
        (
            "no jti",
            key.dpop_proof(
                "ES256",
                "POST",
                &token_url,
                None,
                NOW,
                serde_json::json!({"jti": null}),
            ),
        ),
        ("forged signature", forged),
        ("not a JWT", "not-a-proof".to_string()),
    ] {
        let refused = cli_exchange(&mut browser, &code, Some(&proof));
        assert_eq!(refused.status, 400, "{why}");
        assert_eq!(json(&refused)["error"], "invalid_dpop_proof", "{why}");
    }
    // The same proof twice: the second is a replay, and the code was redeemed by the first.
    assert_eq!(cli_exchange(&mut browser, &code, Some(&good)).status, 200);
    let replayed = cli_exchange(&mut browser, &code, Some(&good));
    assert_eq!(json(&replayed)["error"], "invalid_dpop_proof");
}

#[test]
fn a_confidential_clients_refresh_tokens_are_not_bound_but_each_access_token_may_be() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let key = common::jws::ClientKey::ed25519();
    let code = authorize(&mut browser, &[]);
    let auth = basic("chatgpt", "client-secret");
    let proof = key.dpop_proof(
        "EdDSA",
        "POST",
        &format!("{BASE}/token"),
        None,
        NOW,
        serde_json::json!({}),
    );
    let tokens = json(&token_with_proof(
        &mut browser,
        Some(&auth),
        Some(&proof),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    ));
    assert_eq!(tokens["token_type"], "DPoP");
    // Refreshed without a proof: allowed (the secret binds it), and the token is a bearer one.
    let plain = json(&token(
        &mut browser,
        Some(&auth),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    ));
    assert_eq!(plain["token_type"], "Bearer");
    assert_eq!(
        verified_jkt(&config, plain["access_token"].as_str().unwrap()),
        None
    );
    // Introspection tells a bound token's key.
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    let seen = json(&browser.send(
        Method::Post,
        "/introspect",
        &headers,
        encode(&[("token", tokens["access_token"].as_str().unwrap())]).as_bytes(),
    ));
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"]["jkt"], key.thumbprint());
}

#[test]
fn a_code_bound_by_dpop_jkt_is_redeemed_only_with_that_key() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let key = common::jws::ClientKey::p256();
    let thumbprint = key.thumbprint();
    let code = cli_code(&mut browser, &[("dpop_jkt", &thumbprint)]);
    let other = common::jws::ClientKey::p256();
    let refused = cli_exchange(&mut browser, &code, Some(&token_proof(&other, NOW)));
    assert_eq!(json(&refused)["error"], "invalid_grant");
    // The mismatch burned the code, as a wrong verifier does.
    let code = cli_code(&mut browser, &[("dpop_jkt", &thumbprint)]);
    assert_eq!(
        json(&cli_exchange(&mut browser, &code, None))["error"],
        "invalid_grant"
    );
    let code = cli_code(&mut browser, &[("dpop_jkt", &thumbprint)]);
    let ok = cli_exchange(&mut browser, &code, Some(&token_proof(&key, NOW)));
    assert_eq!(ok.status, 200, "{}", html(&ok));
    // A dpop_jkt that is no thumbprint is the client's error, sent back to it.
    let challenge = s256_challenge(VERIFIER);
    let bad = browser.get(&format!(
        "/authorize?{}",
        encode(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", CLI_CALLBACK),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "todos:read"),
            ("dpop_jkt", "too-short"),
        ])
    ));
    assert_eq!(bad.status, 302, "{}", html(&bad));
    assert_eq!(location_params(&bad).get("error"), Some("invalid_request"));
}

#[test]
fn clients_and_plugins_that_require_dpop_get_no_bearer_tokens() {
    // A client registered with dpop_bound_access_tokens.
    let config = config();
    let mut bound_client = backend();
    bound_client.clients.get_mut("cli").unwrap().dpop_bound = true;
    let mut browser = Browser::new(&config, &bound_client);
    let code = cli_code(&mut browser, &[]);
    let refused = cli_exchange(&mut browser, &code, None);
    assert_eq!(refused.status, 400);
    assert_eq!(json(&refused)["error"], "invalid_dpop_proof");
    let key = common::jws::ClientKey::p256();
    let ok = cli_exchange(&mut browser, &code, Some(&token_proof(&key, NOW)));
    assert_eq!(json(&ok)["token_type"], "DPoP", "the refusal spent nothing");

    // A plugin with dpop_required, and with server nonces.
    let mut raw_auth = serde_json::json!({"type": "oauth", "scope": "todos:read todos:write", "dpop_required": true, "dpop_nonce": true});
    let strict = Config::parse(RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(serde_json::json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "auth": raw_auth.take()
        })),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap();
    let backend = backend();
    let mut browser = Browser::new(&strict, &backend);
    let code = cli_code(&mut browser, &[]);
    let refused = cli_exchange(&mut browser, &code, None);
    assert_eq!(json(&refused)["error"], "invalid_dpop_proof");
    // Without the server's nonce: use_dpop_nonce, and the nonce to use.
    let first = cli_exchange(&mut browser, &code, Some(&token_proof(&key, NOW)));
    assert_eq!(first.status, 400);
    assert_eq!(json(&first)["error"], "use_dpop_nonce");
    let nonce = first.header("dpop-nonce").expect("DPoP-Nonce").to_string();
    let proof = key.dpop_proof(
        "ES256",
        "POST",
        &format!("{BASE}/token"),
        None,
        NOW,
        serde_json::json!({ "nonce": nonce }),
    );
    let ok = cli_exchange(&mut browser, &code, Some(&proof));
    assert_eq!(ok.status, 200, "{}", html(&ok));
    assert!(ok.header("dpop-nonce").is_some());
    // The metadata says what is accepted.
    let doc = json(&browser.get("/.well-known/oauth-authorization-server"));
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "ES384", "EdDSA"])
    );
}

#[test]
fn userinfo_takes_a_bound_token_only_with_its_proof_and_names_the_nonce_to_use() {
    let mut raw_auth =
        serde_json::json!({"type": "oauth", "scope": "todos:read todos:write", "dpop_nonce": true});
    let config = Config::parse(RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(serde_json::json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "auth": raw_auth.take()
        })),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap();
    // With the default API resource the access token is a JWT; without one, the opaque handle,
    // bound all the same.
    for opaque in [false, true] {
        let mut backend = backend();
        if opaque {
            backend.resources.clear();
        }
        userinfo_with_a_bound_token(&config, &backend, opaque);
    }
}

fn userinfo_with_a_bound_token(config: &Config, backend: &MemoryBackend, opaque: bool) {
    let mut browser = Browser::new(config, backend);
    let key = common::jws::ClientKey::p256();
    let challenge = s256_challenge(VERIFIER);
    let url = format!(
        "/authorize?{}",
        encode(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", CLI_CALLBACK),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid email"),
        ])
    );
    let login = browser.get(&url);
    let signed_in = sign_in(&mut browser, &login);
    let back = browser.get(signed_in.header("location").unwrap());
    let code = location_params(&back).get("code").unwrap().to_string();
    let first = cli_exchange(&mut browser, &code, Some(&token_proof(&key, NOW)));
    let nonce = first.header("dpop-nonce").unwrap().to_string();
    let proof = key.dpop_proof(
        "ES256",
        "POST",
        &format!("{BASE}/token"),
        None,
        NOW,
        serde_json::json!({ "nonce": nonce }),
    );
    let tokens = json(&cli_exchange(&mut browser, &code, Some(&proof)));
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(access.starts_with("o."), opaque, "{access}");

    let ask = |browser: &mut Browser<'_>, scheme: &str, proof: Option<&str>| {
        let authorization = format!("{scheme} {access}");
        let mut headers = vec![("authorization", authorization.as_str())];
        if let Some(p) = proof {
            headers.push(("dpop", p));
        }
        browser.send(Method::Get, "/userinfo", &headers, b"")
    };
    let userinfo = format!("{BASE}/userinfo");
    // As Bearer: refused with a DPoP challenge.
    let bearer = ask(&mut browser, "Bearer", None);
    assert_eq!(bearer.status, 401);
    let header = bearer.header("www-authenticate").unwrap().to_string();
    assert!(
        header.starts_with("DPoP ") && header.contains("invalid_token"),
        "{header}"
    );
    // A proof without the nonce: use_dpop_nonce, and the nonce to use.
    let without = key.dpop_proof(
        "ES256",
        "GET",
        &userinfo,
        Some(&access),
        NOW,
        serde_json::json!({}),
    );
    let stale = ask(&mut browser, "DPoP", Some(&without));
    assert_eq!(stale.status, 401);
    assert!(stale
        .header("www-authenticate")
        .unwrap()
        .contains("use_dpop_nonce"));
    let nonce = stale.header("dpop-nonce").expect("DPoP-Nonce").to_string();
    // Another key's proof: refused.
    let other = common::jws::ClientKey::p256();
    let foreign = other.dpop_proof(
        "ES256",
        "GET",
        &userinfo,
        Some(&access),
        NOW,
        serde_json::json!({ "nonce": nonce }),
    );
    assert_eq!(ask(&mut browser, "DPoP", Some(&foreign)).status, 401);
    // The key's own proof with the nonce: the user's claims.
    let good = key.dpop_proof(
        "ES256",
        "GET",
        &userinfo,
        Some(&access),
        NOW,
        serde_json::json!({ "nonce": nonce }),
    );
    let info = ask(&mut browser, "DPoP", Some(&good));
    assert_eq!(info.status, 200, "{}", html(&info));
    assert_eq!(json(&info)["email"], "demo@example.com");
    // Replayed: refused.
    assert_eq!(ask(&mut browser, "DPoP", Some(&good)).status, 401);
}

// ----- token exchange (RFC 8693) -----------------------------------------------------------------

const REPORTS: &str = "https://reports.example.com";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The plugin with a policy: the `mcp-server` client may trade tokens for this plugin's API for
/// tokens to the reports API, with `reports:read` at most.
fn exchange_config() -> Config {
    let mut plugin = serde_json::json!({
        "name_for_human": "Todo", "name_for_model": "todo",
        "description_for_human": "Todos.", "description_for_model": "Todos.",
        "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
        "auth": {"type": "oauth", "scope": "todos:read todos:write"},
        "token_exchange": [{"client": "mcp-server", "from": [BASE], "to": REPORTS, "scopes": ["reports:read"]}]
    });
    Config::parse(RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(plugin.take()),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap()
}

/// The reports API registered beside the plugin's, where the demo user's roles hold
/// `reports:read` and `reports:admin`; the `mcp-server` client; the `chatgpt` client's own roles
/// on the plugin's API (for a machine token).
fn exchange_backend() -> MemoryBackend {
    let mut b = machine_backend();
    b.resources.push((
        Resource {
            id: "res_reports".into(),
            indicator: REPORTS.into(),
            access_token_ttl_secs: 900,
            access_token_alg: Default::default(),
        },
        false,
    ));
    b.permissions.insert(
        ("usr_demo".into(), "res_reports".into()),
        vec!["reports:read".into(), "reports:admin".into()],
    );
    b.clients.insert(
        "mcp-server".into(),
        Client {
            id: "mcp-server".into(),
            name: "MCP server".into(),
            secret_hash: Some(sha256_hex("mcp-secret")),
            redirect_uris: vec![],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
    b
}

fn exchange_request<B: Backend>(
    browser: &mut Browser<'_, B>,
    client: (&str, &str),
    subject: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let auth = basic(client.0, client.1);
    let mut pairs = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TYPE),
        ("resource", REPORTS),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    token(browser, Some(&auth), &pairs)
}

#[test]
fn a_resource_server_exchanges_the_users_token_for_one_to_another_api() {
    let config = exchange_config();
    let backend = exchange_backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let user_token = json(&exchange(&mut browser, &code))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = exchange_request(&mut browser, ("mcp-server", "mcp-secret"), &user_token, &[]);
    assert_eq!(reply.status, 200, "{}", html(&reply));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = json(&reply);
    assert_eq!(body["issued_token_type"], ACCESS_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"], "reports:read",
        "admin is held but the policy stops it"
    );
    assert_eq!(body["expires_in"], 900);
    assert!(body.get("refresh_token").is_none());
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(REPORTS),
        now: NOW,
    };
    let exchanged = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &config.keys,
        &policy,
    )
    .unwrap();
    assert_eq!(exchanged.subject, "usr_demo");
    assert_eq!(exchanged.client_id, "mcp-server");
    assert_eq!(
        exchanged.actor.as_ref().map(|a| a.sub.as_str()),
        Some("mcp-server")
    );
    assert!(exchanged.expires_at <= NOW + 900);
    // Introspected by the exchanging client: active, naming its actor (RFC 8693 §4.4).
    let seen = introspect_as(
        &mut browser,
        "mcp-server",
        "mcp-secret",
        body["access_token"].as_str().unwrap(),
    );
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["act"], serde_json::json!({"sub": "mcp-server"}));
    // Not good at the plugin's own API.
    let own = VerifyPolicy {
        audience: Some(BASE),
        ..policy
    };
    assert!(
        verify_access_token(body["access_token"].as_str().unwrap(), &config.keys, &own).is_err()
    );
    // The metadata says the grant is supported.
    let doc = json(&browser.get("/.well-known/oauth-authorization-server"));
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == EXCHANGE));
}

#[test]
fn token_exchange_refusals_each_have_their_reason_and_store_nothing() {
    let policies = exchange_config();
    let backend = exchange_backend();
    let mut browser = Browser::new(&policies, &backend);
    let code = authorize(&mut browser, &[]);
    let tokens = json(&exchange(&mut browser, &code));
    let user_token = tokens["access_token"].as_str().unwrap().to_string();
    let machine = json(&machine_token(&mut browser, &[]))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bound = portcullis::oauth::access_token::mint_access_token(
        &policies.keys,
        portcullis::oauth::access_token::AccessClaims {
            iss: BASE.into(),
            sub: "usr_demo".into(),
            aud: portcullis::oauth::access_token::Audience::One(BASE.into()),
            jti: "bound-1".into(),
            client_id: "cli".into(),
            scope: "todos:read".into(),
            gid: None,
            gty: None,
            cnf: Some(portcullis::oauth::access_token::Confirmation {
                jkt: "k".repeat(43),
            }),
            act: None,
        },
        NOW,
        600,
    )
    .unwrap();
    let stored = backend.stored();
    let mcp = ("mcp-server", "mcp-secret");
    for (why, client, subject, extra, error) in [
        (
            "a client with no policy",
            ("chatgpt", "client-secret"),
            user_token.as_str(),
            vec![],
            "unauthorized_client",
        ),
        (
            "another target",
            mcp,
            user_token.as_str(),
            vec![("resource", "https://billing.example.com")],
            "invalid_target",
        ),
        (
            "only scopes the policy stops",
            mcp,
            user_token.as_str(),
            vec![("scope", "reports:admin")],
            "invalid_scope",
        ),
        (
            "a forged subject token",
            mcp,
            "eyJhbGciOiJub25lIn0.e30.",
            vec![],
            "invalid_request",
        ),
        (
            "a machine token",
            mcp,
            machine.as_str(),
            vec![],
            "invalid_request",
        ),
        (
            "a DPoP-bound token without a proof",
            mcp,
            bound.as_str(),
            vec![],
            "invalid_request",
        ),
        (
            "an actor token",
            mcp,
            user_token.as_str(),
            vec![("actor_token", "x"), ("actor_token_type", ACCESS_TYPE)],
            "invalid_request",
        ),
        (
            "an ID token type",
            mcp,
            user_token.as_str(),
            vec![(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            )],
            "invalid_request",
        ),
        (
            "a wrong secret",
            ("mcp-server", "nope"),
            user_token.as_str(),
            vec![],
            "invalid_client",
        ),
    ] {
        let reply = exchange_request(&mut browser, client, subject, &extra);
        assert_eq!(json(&reply)["error"], error, "{why}: {}", html(&reply));
    }
    assert_eq!(backend.stored(), stored, "the refusals changed nothing");
    // A token whose grant was revoked cannot be exchanged any more.
    let auth = basic("chatgpt", "client-secret");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    let refresh = tokens["refresh_token"].as_str().unwrap();
    browser.send(
        Method::Post,
        "/revoke",
        &headers,
        encode(&[("token", refresh)]).as_bytes(),
    );
    let revoked = exchange_request(&mut browser, mcp, &user_token, &[]);
    assert_eq!(json(&revoked)["error"], "invalid_request");
    // A plugin without policies does not know the grant type.
    let plain = config();
    let mut other = Browser::new(&plain, &backend);
    let unknown = exchange_request(&mut other, mcp, &user_token, &[]);
    assert_eq!(json(&unknown)["error"], "unsupported_grant_type");
}

// ----- enterprise-managed authorization: identity assertions (ID-JAG) --------------------------

const IDP: &str = "https://acme.idp.example";
const IDP_KEYS: &str = "https://acme.idp.example/keys";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn enterprise_config() -> Config {
    let mut plugin = serde_json::json!({
        "name_for_human": "Todo", "name_for_model": "todo",
        "description_for_human": "Todos.", "description_for_model": "Todos.",
        "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
        "auth": {"type": "oauth", "scope": "todos:read todos:write"},
        "enterprise_idps": [{"id": "acme", "issuer": IDP, "jwks_uri": IDP_KEYS, "clients": ["agent-app"],
            "provision": true, "default_roles": ["member"], "allowed_domains": ["acme.com"]}]
    });
    Config::parse(RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(plugin.take()),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap()
}

/// The IdP's key published, the `agent-app` client, and the demo user linked to the IdP's
/// subject `00u-demo`.
fn enterprise_backend(idp_key: &common::jws::ClientKey) -> MemoryBackend {
    let b = backend();
    let keys = parse_jwks(&serde_json::json!({"keys": [idp_key.public_jwk("idp-1")]})).unwrap();
    b.published_jwks.borrow_mut().insert(IDP_KEYS.into(), keys);
    let mut b = b;
    b.clients.insert(
        "agent-app".into(),
        Client {
            id: "agent-app".into(),
            name: "Agent app".into(),
            secret_hash: Some(sha256_hex("agent-secret")),
            redirect_uris: vec![],
            kind: ClientKind::Confidential,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
    );
    b.identities.borrow_mut().push((
        "usr_demo".into(),
        portcullis::ports::LinkedIdentity {
            provider: "enterprise:https://acme.idp.example".into(),
            subject: "00u-demo".into(),
            email: "demo@example.com".into(),
            email_verified: true,
            created_at: NOW,
            last_used_at: NOW,
        },
    ));
    b
}

fn id_jag(key: &common::jws::ClientKey, change: serde_json::Value) -> String {
    let mut claims = serde_json::json!({
        "iss": IDP, "sub": "00u-demo", "aud": BASE, "client_id": "agent-app",
        "jti": format!("{:016x}", rand_core::RngCore::next_u64(&mut rand_core::OsRng)),
        "iat": NOW, "exp": NOW + 300, "resource": BASE, "scope": "todos:read todos:write",
    });
    for (k, v) in change.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let header = serde_json::json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": "idp-1"});
    key.sign_with_header("ES256", &header, &claims)
}

fn present(
    browser: &mut Browser<'_>,
    client: (&str, &str),
    assertion: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let auth = basic(client.0, client.1);
    let mut pairs = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
    pairs.extend_from_slice(extra);
    token(browser, Some(&auth), &pairs)
}

#[test]
fn an_enterprise_assertion_gets_a_token_for_its_resource_with_the_scopes_all_three_allow() {
    let config = enterprise_config();
    let key = common::jws::ClientKey::p256();
    let backend = enterprise_backend(&key);
    let mut browser = Browser::new(&config, &backend);
    let reply = present(
        &mut browser,
        ("agent-app", "agent-secret"),
        &id_jag(&key, serde_json::json!({})),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", html(&reply));
    let body = json(&reply);
    assert_eq!(
        body["scope"], "todos:read",
        "todos:write is asserted but not held"
    );
    assert!(body.get("refresh_token").is_none());
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(BASE),
        now: NOW,
    };
    let access = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &config.keys,
        &policy,
    )
    .unwrap();
    assert_eq!(access.subject, "usr_demo");
    assert_eq!(access.client_id, "agent-app");
    let doc = json(&browser.get("/.well-known/oauth-authorization-server"));
    assert_eq!(
        doc["authorization_grant_profiles_supported"],
        serde_json::json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == JWT_BEARER));
}

#[test]
fn enterprise_assertion_refusals_each_have_their_reason() {
    let config = enterprise_config();
    let key = common::jws::ClientKey::p256();
    let backend = enterprise_backend(&key);
    let mut browser = Browser::new(&config, &backend);
    let app = ("agent-app", "agent-secret");
    let stranger = common::jws::ClientKey::p256();
    let mut typ_jwt = id_jag(&key, serde_json::json!({}));
    {
        // Re-signed with typ JWT.
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(typ_jwt.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        typ_jwt = key.sign_with_header(
            "ES256",
            &serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": "idp-1"}),
            &claims,
        );
    }
    let stored = backend.stored();
    for (why, client, assertion, extra, error) in [
        (
            "another issuer",
            app,
            id_jag(&key, serde_json::json!({"iss": "https://evil.example"})),
            vec![],
            "invalid_grant",
        ),
        (
            "another key",
            app,
            id_jag(&stranger, serde_json::json!({})),
            vec![],
            "invalid_grant",
        ),
        ("typ JWT", app, typ_jwt, vec![], "invalid_grant"),
        (
            "another audience",
            app,
            id_jag(
                &key,
                serde_json::json!({"aud": "https://elsewhere.example"}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "for another client",
            app,
            id_jag(&key, serde_json::json!({"client_id": "chatgpt"})),
            vec![],
            "invalid_grant",
        ),
        (
            "a client the IdP does not speak for",
            ("chatgpt", "client-secret"),
            id_jag(&key, serde_json::json!({"client_id": "chatgpt"})),
            vec![],
            "invalid_grant",
        ),
        (
            "expired",
            app,
            id_jag(
                &key,
                serde_json::json!({"iat": NOW - 900, "exp": NOW - 600}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "two resources",
            app,
            id_jag(
                &key,
                serde_json::json!({"resource": ["https://a.example", "https://b.example"]}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "not valid yet",
            app,
            id_jag(&key, serde_json::json!({"nbf": NOW + 600})),
            vec![],
            "invalid_grant",
        ),
        (
            "another resource asked",
            app,
            id_jag(&key, serde_json::json!({})),
            vec![("resource", "https://other.example")],
            "invalid_grant",
        ),
        (
            "an unknown resource",
            app,
            id_jag(
                &key,
                serde_json::json!({"resource": "https://unknown.example"}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "no scope left",
            app,
            id_jag(&key, serde_json::json!({"scope": "todos:write"})),
            vec![],
            "invalid_grant",
        ),
        (
            "an unknown user, email elsewhere",
            app,
            id_jag(
                &key,
                serde_json::json!({"sub": "00u-new", "email": "x@gmail.com"}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "an existing email not linked",
            app,
            id_jag(
                &key,
                serde_json::json!({"sub": "00u-new", "email": "demo@example.com"}),
            ),
            vec![],
            "invalid_grant",
        ),
        (
            "no assertion",
            app,
            String::new(),
            vec![],
            "invalid_request",
        ),
    ] {
        let reply = present(&mut browser, client, &assertion, &extra);
        assert_eq!(json(&reply)["error"], error, "{why}: {}", html(&reply));
    }
    assert_eq!(backend.stored(), stored, "the refusals changed nothing");
    // The same assertion twice: the second is a replay.
    let once = id_jag(&key, serde_json::json!({}));
    assert_eq!(present(&mut browser, app, &once, &[]).status, 200);
    assert_eq!(
        json(&present(&mut browser, app, &once, &[]))["error"],
        "invalid_grant"
    );
}

#[test]
fn a_new_enterprise_user_is_provisioned_with_the_providers_roles() {
    let config = enterprise_config();
    let key = common::jws::ClientKey::p256();
    let backend = enterprise_backend(&key);
    let mut browser = Browser::new(&config, &backend);
    let assertion = id_jag(
        &key,
        serde_json::json!({"sub": "00u-ann", "email": "Ann@acme.com", "name": "Ann"}),
    );
    // Provisioned, with the role; in memory the role holds nothing here, so no scope is left.
    let reply = present(&mut browser, ("agent-app", "agent-secret"), &assertion, &[]);
    assert_eq!(json(&reply)["error"], "invalid_grant");
    let users = backend.users.borrow();
    let ann = users
        .iter()
        .find(|u| u.email == "ann@acme.com")
        .expect("provisioned");
    assert_eq!(backend.provisioned_roles.borrow()[&ann.id], ["member"]);
    assert!(backend.identities.borrow().iter().any(|(u, i)| *u == ann.id
        && i.provider == "enterprise:https://acme.idp.example"
        && i.subject == "00u-ann"));
}

// ----- roles lost after a grant (issue 29, finding 2) --------------------------------------------

/// The Pro plan gives its subscribers the `member` role.
const PRO_GIVES_MEMBER: &str = r#"[{"plugin":"todo","plan":"pro","role":"member"}]"#;

/// Users, roles, resources, subscriptions and the grant index on SQLite (the real migrations and
/// SQL), changed through the admin API as an administrator would; grants and clients in memory.
/// The plugin's API holds `todos:read` and `todos:write`, the reports API `reports:read`; the
/// `reader` role holds `todos:read` and is the demo user's own; the `member` role holds
/// `todos:write` and `reports:read`, and comes with the Pro plan.
struct RolesOnSql {
    db: common::sqlite::SqliteDb,
    memory: MemoryBackend,
    user: String,
    reader: String,
    member: String,
    todos: String,
}

impl RolesOnSql {
    fn new(memory: MemoryBackend) -> Self {
        let mut world = RolesOnSql {
            db: common::sqlite::SqliteDb::migrated(),
            memory,
            user: String::new(),
            reader: String::new(),
            member: String::new(),
            todos: String::new(),
        };
        let mut permissions = HashMap::new();
        for (indicator, names) in [
            (BASE, vec!["todos:read", "todos:write"]),
            (REPORTS, vec!["reports:read"]),
        ] {
            let (status, resource) = world.admin(
                Method::Post,
                "/admin/api/resources",
                serde_json::json!({"indicator": indicator, "name": indicator}),
            );
            assert_eq!(status, 201, "{resource}");
            let rid = resource["id"].as_str().unwrap().to_string();
            if indicator == BASE {
                world.todos = rid.clone();
            }
            for name in names {
                let (status, body) = world.admin(
                    Method::Post,
                    &format!("/admin/api/resources/{rid}/permissions"),
                    serde_json::json!({"name": name}),
                );
                assert_eq!(status, 201, "{body}");
                permissions.insert(name, format!("{rid}:{name}"));
            }
        }
        let role = |world: &RolesOnSql, name: &str, held: &[&str]| {
            let ids: Vec<&String> = held.iter().map(|p| &permissions[p]).collect();
            let (status, role) = world.admin(
                Method::Post,
                "/admin/api/roles",
                serde_json::json!({"name": name, "permissions": ids}),
            );
            assert_eq!(status, 201, "{role}");
            role["id"].as_str().unwrap().to_string()
        };
        world.reader = role(&world, "reader", &["todos:read"]);
        world.member = role(&world, "member", &["todos:write", "reports:read"]);
        let (status, user) = world.admin(
            Method::Post,
            "/admin/api/users",
            serde_json::json!({"email": "demo@example.com", "password": PASSWORD, "roles": [world.reader]}),
        );
        assert_eq!(status, 201, "{user}");
        world.user = user["id"].as_str().unwrap().to_string();
        world
    }

    fn admin(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let admin = portcullis::admin::Admin {
            sql: &self.db,
            backend: &self.memory,
            now: NOW,
            quota: None,
            rsa_signing: false,
            plugin: "todo",
            site: None,
        };
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let reply = match block_on(admin.serve(
            admin_route(path),
            &RequestHead::new(method, path),
            body.as_bytes(),
        )) {
            Ok(r) => r,
            Err(e) => e.to_reply(),
        };
        (reply.status, reply.json_body().unwrap_or_default())
    }

    fn backend(&self) -> common::WithSqlUsers<'_> {
        common::WithSqlUsers {
            db: &self.db,
            memory: &self.memory,
            now: NOW,
        }
    }

    /// The demo user's subscription to Pro, as the webhook wrote it.
    fn subscription(&self, status: &str, current_period_end: i64) {
        self.db
            .conn
            .borrow()
            .execute(
                "INSERT INTO subscriptions (plugin, user_id, plan, status, stripe_subscription, stripe_customer, current_period_end, event_created, updated_at) \
                 VALUES ('todo', ?1, 'pro', ?2, 'sub_1', 'cus_1', ?3, 1, 1) \
                 ON CONFLICT (plugin, user_id) DO UPDATE SET status = excluded.status, current_period_end = excluded.current_period_end",
                rusqlite::params![self.user, status, current_period_end],
            )
            .unwrap();
    }

    /// The demo user holds `member` (through Pro when `by_plan`, else given by an administrator).
    fn give_member(&self, by_plan: bool) {
        if by_plan {
            self.subscription("active", NOW + 86_400);
        } else {
            let (status, body) = self.admin(
                Method::Put,
                &format!("/admin/api/users/{}/roles", self.user),
                serde_json::json!({"roles": [self.reader, self.member]}),
            );
            assert_eq!(status, 200, "{body}");
        }
    }
}

fn with_plan_roles(mut config: Config) -> Config {
    config.plugin.plan_roles = PRO_GIVES_MEMBER.into();
    config
}

/// The scope of the code's tokens, then of the tokens of one refresh after each change: the
/// body's `scope` and the access token's claim, which must agree.
fn scope_after_each(world: &RolesOnSql, changes: &[&dyn Fn(&RolesOnSql)]) -> Vec<String> {
    let config = with_plan_roles(config());
    let backend = world.backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let mut body = json(&exchange(&mut browser, &code));
    let auth = basic("chatgpt", "client-secret");
    let mut scopes = Vec::new();
    let policy = VerifyPolicy {
        issuer: BASE,
        audience: Some(BASE),
        now: NOW,
    };
    for i in 0..=changes.len() {
        let claimed = verify_access_token(
            body["access_token"].as_str().unwrap(),
            &config.keys,
            &policy,
        )
        .unwrap()
        .scopes
        .join(" ");
        let said = body["scope"].as_str().unwrap_or_default().to_string();
        assert_eq!(said, claimed, "the response says what the token holds");
        scopes.push(said);
        let Some(change) = changes.get(i) else { break };
        change(world);
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        let reply = token(
            &mut browser,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        );
        assert_eq!(reply.status, 200, "{}", html(&reply));
        body = json(&reply);
    }
    scopes
}

#[test]
fn a_cancelled_plans_roles_leave_the_next_refresh_and_come_back_with_a_new_subscription() {
    let world = RolesOnSql::new(backend());
    world.give_member(true);
    let scopes = scope_after_each(
        &world,
        &[
            &|w| w.subscription("canceled", NOW + 86_400),
            &|w| w.subscription("unpaid", NOW + 86_400),
            &|w| w.subscription("active", NOW + 86_400),
        ],
    );
    assert_eq!(
        scopes,
        [
            "todos:read todos:write",
            "todos:read",
            "todos:read",
            "todos:read todos:write"
        ],
        "the grant is the user's consent; the plan's role counts only while it holds"
    );
}

#[test]
fn a_plans_roles_leave_the_next_refresh_once_its_paid_period_is_past_the_grace() {
    use portcullis::billing::subscription::PERIOD_GRACE_SECS;
    let world = RolesOnSql::new(backend());
    world.give_member(true);
    let scopes = scope_after_each(
        &world,
        &[
            // No event ended it, and the period ended within the grace: it still holds.
            &|w| w.subscription("active", NOW - PERIOD_GRACE_SECS),
            // Past the grace, as the proxy's standing says: the plan has lapsed.
            &|w| w.subscription("active", NOW - PERIOD_GRACE_SECS - 1),
        ],
    );
    assert_eq!(
        scopes,
        [
            "todos:read todos:write",
            "todos:read todos:write",
            "todos:read"
        ]
    );
}

#[test]
fn a_role_an_administrator_takes_away_leaves_the_next_refresh() {
    let world = RolesOnSql::new(backend());
    world.give_member(false);
    let scopes = scope_after_each(
        &world,
        &[&|w| {
            let (status, body) = w.admin(
                Method::Put,
                &format!("/admin/api/users/{}/roles", w.user),
                serde_json::json!({"roles": [w.reader]}),
            );
            assert_eq!(status, 200, "{body}");
        }],
    );
    assert_eq!(scopes, ["todos:read todos:write", "todos:read"]);
}

#[test]
fn a_permission_taken_from_a_role_leaves_the_next_refresh() {
    let world = RolesOnSql::new(backend());
    world.give_member(false);
    let scopes = scope_after_each(
        &world,
        &[&|w| {
            let (status, body) = w.admin(
                Method::Patch,
                &format!("/admin/api/roles/{}", w.member),
                serde_json::json!({"permissions": []}),
            );
            assert_eq!(status, 200, "{body}");
        }],
    );
    assert_eq!(scopes, ["todos:read todos:write", "todos:read"]);
}

#[test]
fn a_deleted_role_or_permission_leaves_the_next_refresh() {
    for deleted in ["role", "permission"] {
        let world = RolesOnSql::new(backend());
        world.give_member(false);
        let scopes = scope_after_each(
            &world,
            &[&|w| {
                let path = match deleted {
                    "role" => format!("/admin/api/roles/{}", w.member),
                    _ => format!("/admin/api/resources/{}/permissions/todos:write", w.todos),
                };
                let (status, body) = w.admin(Method::Delete, &path, serde_json::Value::Null);
                // A role's deletion answers nothing; a permission's, the resource without it.
                assert!(matches!(status, 200 | 204), "{deleted}: {status} {body}");
            }],
        );
        assert_eq!(
            scopes,
            ["todos:read todos:write", "todos:read"],
            "{deleted}"
        );
    }
}

#[test]
fn a_grant_whose_every_scope_is_lost_still_refreshes_with_no_scope() {
    let world = RolesOnSql::new(backend());
    world.give_member(true);
    let scopes = scope_after_each(
        &world,
        &[
            &|w| {
                w.subscription("canceled", NOW + 86_400);
                let (status, body) = w.admin(
                    Method::Put,
                    &format!("/admin/api/users/{}/roles", w.user),
                    serde_json::json!({"roles": []}),
                );
                assert_eq!(status, 200, "{body}");
            },
            &|w| w.give_member(false),
        ],
    );
    assert_eq!(
        scopes,
        ["todos:read todos:write", "", "todos:read todos:write"],
        "as a user without roles who signs in gets a token with no scope; the grant stands, \
         so roles given back count at the next refresh"
    );
}

/// The user's token for the plugin's API, and the `mcp-server` client's exchange of it for the
/// reports API, after `change`.
fn exchanged_after(world: &RolesOnSql, change: &dyn Fn(&RolesOnSql)) -> serde_json::Value {
    let config = with_plan_roles(exchange_config());
    let backend = world.backend();
    let mut browser = Browser::new(&config, &backend);
    let code = authorize(&mut browser, &[]);
    let user_token = json(&exchange(&mut browser, &code))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = exchange_request(&mut browser, ("mcp-server", "mcp-secret"), &user_token, &[]);
    assert_eq!(json(&before)["scope"], "reports:read", "{}", html(&before));
    change(world);
    json(&exchange_request(
        &mut browser,
        ("mcp-server", "mcp-secret"),
        &user_token,
        &[],
    ))
}

#[test]
fn token_exchange_after_the_plan_is_cancelled_or_lapsed_past_the_grace_gets_no_scope_from_it() {
    use portcullis::billing::subscription::PERIOD_GRACE_SECS;
    for (status, period_end) in [
        ("canceled", NOW + 86_400),
        ("active", NOW - PERIOD_GRACE_SECS - 1),
    ] {
        let world = RolesOnSql::new(exchange_backend());
        world.give_member(true);
        let after = exchanged_after(&world, &|w| w.subscription(status, period_end));
        assert_eq!(after["error"], "invalid_scope", "{status}: {after}");
    }
}

#[test]
fn token_exchange_after_an_administrator_takes_the_role_away_gets_no_scope_from_it() {
    let world = RolesOnSql::new(exchange_backend());
    world.give_member(false);
    let after = exchanged_after(&world, &|w| {
        let (status, body) = w.admin(
            Method::Put,
            &format!("/admin/api/users/{}/roles", w.user),
            serde_json::json!({"roles": [w.reader]}),
        );
        assert_eq!(status, 200, "{body}");
    });
    assert_eq!(after["error"], "invalid_scope", "{after}");
}

#[test]
fn a_machine_clients_role_taken_away_leaves_its_next_client_credentials_token() {
    let world = RolesOnSql::new(backend());
    let (status, client) = world.admin(
        Method::Post,
        "/admin/api/clients",
        serde_json::json!({"name": "Worker", "kind": "confidential", "roles": [world.reader, world.member]}),
    );
    assert_eq!(status, 201, "{client}");
    let (id, secret) = (
        client["id"].as_str().unwrap().to_string(),
        client["client_secret"].as_str().unwrap().to_string(),
    );
    let config = config();
    let backend = world.backend();
    let mut browser = Browser::new(&config, &backend);
    let auth = basic(&id, &secret);
    let mut machine = || {
        json(&token(
            &mut browser,
            Some(&auth),
            &[("grant_type", "client_credentials")],
        ))
    };
    assert_eq!(machine()["scope"], "todos:read todos:write");
    let (status, body) = world.admin(
        Method::Put,
        &format!("/admin/api/clients/{id}/roles"),
        serde_json::json!({"roles": [world.reader]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(machine()["scope"], "todos:read");
    world.admin(
        Method::Put,
        &format!("/admin/api/clients/{id}/roles"),
        serde_json::json!({"roles": []}),
    );
    assert_eq!(
        machine()["error"],
        "invalid_scope",
        "a machine token is never empty"
    );
}

// ----- the last way in (issue 29's second review) ------------------------------------------------

/// The plugin as `config()`, with GitHub and Google configured for the deployment, its sign-in
/// page offering GitHub only, and the password form when `password`.
fn github_only_config(password: bool) -> Config {
    Config::parse(RawConfig {
        public_base_url: Some(BASE.into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(serde_json::json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "auth": {"type": "oauth", "scope": "todos:read todos:write"},
            "sign_in": {"providers": ["github"], "password": password}
        })),
        identity_providers: Some(serde_json::json!([
            {"id": "github", "kind": "github", "client_id": "Iv1.gh"},
            {"id": "google", "kind": "oidc", "issuer": "https://accounts.google.com", "client_id": "g"}
        ])),
        named_secrets: [("GITHUB_CLIENT_SECRET", "gh"), ("GOOGLE_CLIENT_SECRET", "g")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap()
}

fn linked(provider: &str) -> portcullis::ports::LinkedIdentity {
    portcullis::ports::LinkedIdentity {
        provider: provider.into(),
        subject: format!("{provider}-demo"),
        email: "demo@example.com".into(),
        email_verified: true,
        created_at: NOW,
        last_used_at: NOW,
    }
}

/// The demo user (who has a password) signed in, on the account page of a plugin that offers
/// GitHub and the password form when `password`; the answer to unlinking each of `providers`
/// in turn, and the providers left linked.
/// The browser's session, resealed as if the user had signed in at GitHub.
fn at_github(cookies: &mut HashMap<String, String>, config: &Config) {
    use portcullis::web::session::{open_session, seal_session, SealKey, SignInMethod};
    let secret = "x".repeat(40);
    let key = SealKey::new(secret.as_bytes(), config.public_base_url.as_str());
    let (name, value) = cookies
        .iter_mut()
        .find(|(k, _)| k.ends_with("portcullis_session"))
        .expect("a session cookie");
    let mut session = open_session(key, value, NOW).unwrap_or_else(|| panic!("{name}"));
    session.method = SignInMethod::Provider("github".into());
    *value = seal_session(key, &session);
}

fn unlink_on_account_page(
    password: bool,
    linked_to: &[&str],
    providers: &[&str],
) -> (Vec<u16>, Vec<String>) {
    let backend = backend();
    for p in linked_to {
        backend
            .identities
            .borrow_mut()
            .push(("usr_demo".into(), linked(p)));
    }
    // Signed in (with the password, on the plugin as it was), then the page as it is now, the
    // session made at GitHub: a session counts only where the way it was made is still offered.
    let before = config();
    let mut browser = Browser::new(&before, &backend);
    signed_in_account(&mut browser);
    let now = github_only_config(password);
    let mut cookies = browser.cookies;
    at_github(&mut cookies, &now);
    let mut browser = Browser {
        config: &now,
        backend: &backend,
        cookies,
        now: NOW,
    };
    let mut answers = Vec::new();
    for provider in providers {
        let page = browser.get("/account");
        assert_eq!(page.status, 200, "{}", html(&page));
        let done = browser.post_form(
            "/account",
            &[
                ("csrf_token", &form_field(&page, "/account", "csrf_token")),
                ("action", "unlink-identity"),
                ("id", provider),
            ],
        );
        answers.push(done.status);
    }
    let left = backend
        .identities
        .borrow()
        .iter()
        .map(|(_, i)| i.provider.clone())
        .collect();
    (answers, left)
}

#[test]
fn the_last_way_in_counts_a_password_only_where_the_password_form_is_offered() {
    let (answers, left) = unlink_on_account_page(false, &["github"], &["github"]);
    assert_eq!(answers, [409], "the password is no way in here");
    assert_eq!(left, ["github"]);
    let (answers, left) = unlink_on_account_page(true, &["github"], &["github"]);
    assert_eq!(answers, [303], "the password form is another way in");
    assert!(left.is_empty());
}

#[test]
fn the_last_way_in_counts_only_identities_at_providers_this_plugin_offers() {
    let enterprise = "enterprise:https://acme.idp.example";
    // An enterprise identity (for assertions at /token) and one at a provider only other plugins
    // offer sign in to nothing here.
    let (answers, left) =
        unlink_on_account_page(false, &["github", enterprise, "google"], &["github"]);
    assert_eq!(answers, [409]);
    assert_eq!(left, ["github", enterprise, "google"]);
    // They can go while GitHub stays.
    let (answers, left) = unlink_on_account_page(
        false,
        &["github", enterprise, "google"],
        &[enterprise, "google"],
    );
    assert_eq!(answers, [303, 303]);
    assert_eq!(left, ["github"]);
}

// ----- several plugins on one deployment (issue 29, findings 3 and 4) --------------------------

const MCP: &str = "https://mcp.example.com/mcp";
/// An API registered in the directory that is no plugin's own: any plugin may issue for it.
const NOTES_API: &str = "https://api.example.com/notes";

/// Two plugins on one deployment sharing every store: the todo plugin (its resource is the
/// default one) and an MCP plugin on its own host with its own resource. Both trust the same
/// enterprise provider (under their own ids), and each has an exchange policy that names the
/// other's resource as its target, so every endpoint that resolves a resource can be asked for
/// the sibling's.
fn two_plugins() -> portcullis::config::Deployment {
    let plugin = |name: &str, host: &str, idp_id: &str, to: &str| {
        serde_json::json!({
            "name_for_human": name, "name_for_model": name,
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "hosts": [host],
            "auth": {"type": "oauth", "scope": "todos:read todos:write"},
            "enterprise_idps": [{"id": idp_id, "issuer": IDP, "jwks_uri": IDP_KEYS,
                "clients": ["agent-app"], "provision": false}],
            "token_exchange": [{"client": "mcp-server", "from": [BASE, MCP], "to": to,
                "scopes": ["todos:read"]}]
        })
    };
    let mut mcp = plugin("mcp", "mcp.example.com", "acme-sso", BASE);
    mcp["resource"] = serde_json::json!(MCP);
    let todo = plugin("todo", "todo.example.com", "acme", MCP);
    portcullis::config::Deployment::parse(RawConfig {
        origin_url: Some("http://127.0.0.1:9".into()),
        plugins: Some(serde_json::json!([todo, mcp])),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..RawConfig::default()
    })
    .unwrap()
}

/// The todo plugin's stores, with the MCP plugin's resource and a shared notes API registered:
/// the demo user and the `chatgpt` client hold `todos:read` on each; the `mcp-server` and
/// `agent-app` clients; the demo user linked at the enterprise provider.
fn two_plugins_backend(idp_key: &common::jws::ClientKey) -> MemoryBackend {
    let mut b = enterprise_backend(idp_key);
    for (id, indicator) in [("res_mcp", MCP), ("res_notes", NOTES_API)] {
        b.resources.push((
            Resource {
                id: id.into(),
                indicator: indicator.into(),
                access_token_ttl_secs: 900,
                access_token_alg: Default::default(),
            },
            false,
        ));
        for holder in ["usr_demo", "chatgpt"] {
            b.permissions
                .insert((holder.into(), id.into()), vec!["todos:read".into()]);
        }
    }
    b.permissions.insert(
        ("chatgpt".into(), "res_todos".into()),
        vec!["todos:read".into()],
    );
    let mcp_server = exchange_backend().clients.remove("mcp-server").unwrap();
    b.clients.insert("mcp-server".into(), mcp_server);
    b
}

/// Signs the demo user in at the plugin the browser talks to, from an authorization request;
/// returns the reply to the request once signed in (consent, a redirect, or an error).
fn signed_in_authorize<B: Backend>(browser: &mut Browser<'_, B>, url: &str) -> Reply {
    let login = browser.get(url);
    assert_eq!(login.status, 200, "{}", html(&login));
    let signed_in = sign_in(browser, &login);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    browser.get(signed_in.header("location").unwrap())
}

/// The consent page's form, answered with `decision`, `changed` replacing what it carried.
fn answer_consent<B: Backend>(
    browser: &mut Browser<'_, B>,
    consent: &Reply,
    decision: &str,
    changed: &[(&str, &str)],
) -> Reply {
    let page = html(consent);
    let consent_form = page.split("action=\"/logout\"").next().unwrap();
    let mut form: Vec<(String, String)> = vec![("decision".into(), decision.into())];
    for chunk in consent_form.split("<input type=\"hidden\" name=\"").skip(1) {
        let name = chunk.split('"').next().unwrap().to_string();
        let value = changed
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| hidden(consent, &name));
        form.push((name, value));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post_form("/authorize", &pairs)
}

#[test]
fn a_plugin_refuses_another_plugins_resource_at_every_endpoint_that_resolves_one() {
    let deployment = two_plugins();
    let todo = deployment.site("todo.example.com").unwrap();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let backend = two_plugins_backend(&key);
    // (plugin, the sibling's resource, a resource it may issue for)
    for (config, foreign, own) in [(todo, MCP, BASE), (mcp, BASE, MCP)] {
        let mut browser = Browser::new(config, &backend);
        let issuer = config.public_base_url.as_str();
        let before = backend.stored();

        // GET /authorize, signed in: refused before any consent page.
        let reply = signed_in_authorize(&mut browser, &authorize_url(&[("resource", foreign)]));
        assert_eq!(reply.status, 302, "{issuer}: {}", html(&reply));
        let params = location_params(&reply);
        assert_eq!(params.get("error"), Some("invalid_target"), "{issuer}");
        assert_eq!(params.get("iss"), Some(issuer));
        assert_eq!(
            backend.stored(),
            before,
            "{issuer}: the refusal stored nothing"
        );

        // The consent form's POST, its resource changed to the sibling's: no code, no consent.
        let consent = browser.get(&authorize_url(&[("resource", own)]));
        assert_eq!(consent.status, 200, "{issuer}: {}", html(&consent));
        let reply = answer_consent(&mut browser, &consent, "allow", &[("resource", foreign)]);
        assert_eq!(reply.status, 303, "{issuer}: {}", html(&reply));
        assert_eq!(
            location_params(&reply).get("error"),
            Some("invalid_target"),
            "{issuer}"
        );
        assert_eq!(
            backend.stored(),
            before,
            "{issuer}: the refusal stored nothing"
        );

        // client_credentials.
        let reply = machine_token(&mut browser, &[("resource", foreign)]);
        assert_eq!(reply.status, 400, "{issuer}: {}", html(&reply));
        assert_eq!(json(&reply)["error"], "invalid_target", "{issuer}");
        let own_token = machine_token(&mut browser, &[("resource", own)]);
        assert_eq!(own_token.status, 200, "{issuer}: {}", html(&own_token));

        // Token exchange: the policy names the sibling's resource, which is not this plugin's to
        // issue for.
        let subject = mint_user_token(config, own);
        let reply = token(
            &mut browser,
            Some(&basic("mcp-server", "mcp-secret")),
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TYPE),
                ("resource", foreign),
            ],
        );
        assert_eq!(reply.status, 400, "{issuer}: {}", html(&reply));
        assert_eq!(json(&reply)["error"], "invalid_target", "{issuer}");

        // An identity assertion (ID-JAG) for the sibling's resource.
        let assertion = id_jag(
            &key,
            serde_json::json!({"aud": issuer, "resource": foreign}),
        );
        let reply = present(&mut browser, ("agent-app", "agent-secret"), &assertion, &[]);
        assert_eq!(reply.status, 400, "{issuer}: {}", html(&reply));
        assert_eq!(json(&reply)["error"], "invalid_target", "{issuer}");
        assert_eq!(
            backend.stored(),
            before,
            "{issuer}: no refusal stored anything"
        );
    }
}

/// An access token for the demo user from `config`'s issuer for `resource`, as its token endpoint
/// would mint it (signed with the deployment's key).
fn mint_user_token(config: &Config, resource: &str) -> String {
    use portcullis::oauth::access_token::{mint_access_token, AccessClaims, Audience};
    let claims = AccessClaims {
        iss: config.public_base_url.clone(),
        sub: "usr_demo".into(),
        aud: Audience::One(resource.into()),
        jti: "j-1".into(),
        client_id: "chatgpt".into(),
        scope: "todos:read".into(),
        gid: None,
        gty: None,
        cnf: None,
        act: None,
    };
    mint_access_token(&config.keys, claims, NOW, 600).unwrap()
}

#[test]
fn the_default_resource_is_not_issued_by_a_plugin_it_is_not_the_own_of() {
    // The MCP plugin's own resource is not registered; the default one is the todo plugin's.
    // Without `resource`, the MCP plugin falls back to the default: it must not issue for it.
    let deployment = two_plugins();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let mut backend = two_plugins_backend(&key);
    backend.resources.retain(|(r, _)| r.indicator != MCP);
    let mut browser = Browser::new(mcp, &backend);
    let consent = signed_in_authorize(&mut browser, &authorize_url(&[]));
    assert_eq!(consent.status, 200, "{}", html(&consent));
    assert!(!html(&consent).contains(BASE), "{}", html(&consent));
    let reply = answer_consent(&mut browser, &consent, "allow", &[]);
    assert_eq!(reply.status, 303, "{}", html(&reply));
    let grants = backend.grants.borrow();
    assert_eq!(grants.len(), 1);
    for grant in grants.values() {
        assert_eq!(grant.resource, None, "no resource of the todo plugin's");
        assert!(grant.scopes.is_empty(), "{:?}", grant.scopes);
    }
    drop(grants);
    let reply = machine_token(&mut browser, &[]);
    assert_eq!(json(&reply)["error"], "invalid_target", "{}", html(&reply));
}

#[test]
fn consent_given_at_one_plugin_skips_no_consent_page_at_another() {
    // The notes API is no plugin's own, so both may issue for it; what the user allowed the
    // client at the todo plugin is remembered there only.
    let deployment = two_plugins();
    let todo = deployment.site("todo.example.com").unwrap();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let backend = two_plugins_backend(&key);
    let notes = [("resource", NOTES_API), ("scope", "todos:read")];
    let mut at_todo = Browser::new(todo, &backend);
    let consent = signed_in_authorize(&mut at_todo, &authorize_url(&notes));
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let allowed = answer_consent(&mut at_todo, &consent, "allow", &[]);
    assert_eq!(location_params(&allowed).get("iss"), Some(BASE));
    assert!(location_params(&allowed).get("code").is_some());
    // Remembered at the todo plugin: asked nothing there again.
    let again = at_todo.get(&authorize_url(&notes));
    assert_eq!(again.status, 302, "{}", html(&again));
    assert!(location_params(&again).get("code").is_some());

    let mut at_mcp = Browser::new(mcp, &backend);
    let asked = signed_in_authorize(&mut at_mcp, &authorize_url(&notes));
    assert_eq!(asked.status, 200, "the MCP plugin asks: {}", html(&asked));
    let silent = at_mcp.get(&authorize_url(&[
        ("resource", NOTES_API),
        ("scope", "todos:read"),
        ("prompt", "none"),
    ]));
    assert_eq!(silent.status, 302, "{}", html(&silent));
    let params = location_params(&silent);
    assert_eq!(params.get("error"), Some("consent_required"));
    assert_eq!(params.get("iss"), Some(mcp.public_base_url.as_str()));
    assert!(params.get("code").is_none());
}

#[test]
fn the_consent_page_names_the_api_being_granted() {
    let deployment = two_plugins();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let backend = two_plugins_backend(&key);
    let mut browser = Browser::new(mcp, &backend);
    let consent = signed_in_authorize(&mut browser, &authorize_url(&[("resource", NOTES_API)]));
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let page = html(&consent);
    assert!(page.contains(NOTES_API), "the API is named: {page}");
    // Without `resource`, the plugin's own API is the one granted, and named.
    let consent = browser.get(&authorize_url(&[]));
    assert!(html(&consent).contains(MCP), "{}", html(&consent));
}

#[test]
fn an_access_token_opens_userinfo_only_at_the_plugin_that_issued_it() {
    // `/introspect` and `/revoke` already check the grant's issuer; `/userinfo` checked it for
    // JWTs (their `iss`) but not for opaque tokens, whose grant it loads by handle.
    let config = config();
    let other = config_at("https://weather.example.com");
    let mut backend = backend();
    backend.resources.clear();
    let mut browser = Browser::new(&config, &backend);
    let mut elsewhere = Browser::new(&other, &backend);
    let code = authorize(&mut browser, &[("scope", "openid email")]);
    let access = json(&exchange(&mut browser, &code))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(access.starts_with("o."), "{access}");
    let bearer = format!("Bearer {access}");
    let refused = elsewhere.send(Method::Get, "/userinfo", &[("authorization", &bearer)], b"");
    assert_eq!(refused.status, 401, "{}", html(&refused));
    assert!(refused
        .header("www-authenticate")
        .is_some_and(|h| h.contains("invalid_token")));
    let own = browser.send(Method::Get, "/userinfo", &[("authorization", &bearer)], b"");
    assert_eq!(json(&own)["email"], "demo@example.com");
}

#[test]
fn an_identity_assertion_is_taken_once_in_the_whole_deployment() {
    // Both plugins trust the same enterprise provider, under their own ids; an assertion whose
    // `aud` names both (and no resource, so each would issue for its own) is one assertion: its
    // `jti` is remembered under the provider's issuer, not the plugin's id for it.
    let deployment = two_plugins();
    let todo = deployment.site("todo.example.com").unwrap();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let backend = two_plugins_backend(&key);
    let assertion = id_jag(
        &key,
        serde_json::json!({"aud": [BASE, mcp.public_base_url], "resource": null}),
    );
    let mut at_todo = Browser::new(todo, &backend);
    let first = present(&mut at_todo, ("agent-app", "agent-secret"), &assertion, &[]);
    assert_eq!(first.status, 200, "{}", html(&first));
    let mut at_mcp = Browser::new(mcp, &backend);
    let replayed = present(&mut at_mcp, ("agent-app", "agent-secret"), &assertion, &[]);
    assert_eq!(replayed.status, 400, "{}", html(&replayed));
    assert_eq!(json(&replayed)["error"], "invalid_grant");
    assert!(
        json(&replayed)["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{}",
        html(&replayed)
    );
}

#[test]
fn a_session_made_at_one_plugin_opens_nothing_at_another() {
    // The cookie names are the same at every plugin (`__Host-` on https), so a user can carry a
    // session cookie by hand from one plugin's host to another's.
    let deployment = two_plugins();
    let todo = deployment.site("todo.example.com").unwrap();
    let mcp = deployment.site("mcp.example.com").unwrap();
    let key = common::jws::ClientKey::p256();
    let backend = two_plugins_backend(&key);
    let mut at_todo = Browser::new(todo, &backend);
    let account = signed_in_account(&mut at_todo);
    let consent = at_todo.get(&authorize_url(&[]));
    assert_eq!(consent.status, 200, "{}", html(&consent));
    let mut at_mcp = Browser::new(mcp, &backend);
    at_mcp.cookies = at_todo.cookies.clone();
    let before = backend.stored();
    let silent = at_mcp.get(&authorize_url(&[("prompt", "none")]));
    assert_eq!(
        location_params(&silent).get("error"),
        Some("login_required"),
        "{}",
        html(&silent)
    );
    // The todo plugin's consent form, posted at the MCP plugin.
    let posted = answer_consent(&mut at_mcp, &consent, "allow", &[]);
    assert_eq!(posted.status, 401, "{}", html(&posted));
    assert_eq!(backend.stored(), before, "nothing granted");
    assert_signed_out(&mut at_mcp, &account, "a todo session at the MCP plugin");

    // CSRF tokens are bound to their plugin too: the todo plugin's login form, with the browser's
    // CSRF cookie, does not sign in at the MCP plugin.
    let mut fresh = Browser::new(todo, &backend);
    let login = fresh.get("/login");
    let mut elsewhere = Browser::new(mcp, &backend);
    elsewhere.cookies = fresh.cookies.clone();
    let refused = sign_in(&mut elsewhere, &login);
    assert_eq!(refused.status, 403, "{}", html(&refused));
    assert!(elsewhere
        .cookies
        .keys()
        .all(|k| !k.contains("portcullis_session")));
}

#[test]
fn a_session_made_by_a_way_in_the_plugin_no_longer_offers_is_no_session() {
    // Signed in with a password; then the plugin offers upstream sign-in only (its configuration
    // changed, or the cookie is shown to a plugin that never took passwords).
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    signed_in_account(&mut browser);
    let mut sso_only = config.clone();
    sso_only.sign_in.password = false;
    let mut later = Browser::new(&sso_only, &backend);
    later.cookies = browser.cookies.clone();
    let page = later.get("/account");
    assert!(!html(&page).contains("Signed in as"), "{}", html(&page));
    let silent = later.get(&authorize_url(&[("prompt", "none")]));
    assert_eq!(
        location_params(&silent).get("error"),
        Some("login_required")
    );
    // Where passwords are still offered, the same session stands.
    let page = browser.get("/account");
    assert!(html(&page).contains("Signed in as demo@example.com"));
}

// ----- users' own API keys on user_http plugins (issue 31, item 7) -------------------------------

mod own_api_keys {
    use super::*;
    use portcullis::directory::SqlDirectory;

    /// The plugin as a `user_http` one: its callers send their own API keys.
    fn user_http_config() -> Config {
        Config::parse(RawConfig {
            public_base_url: Some(BASE.into()),
            origin_url: Some("http://127.0.0.1:9".into()),
            plugin: Some(serde_json::json!({
                "name_for_human": "Todo", "name_for_model": "todo",
                "description_for_human": "Todos.", "description_for_model": "Todos.",
                "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
                "auth": {"type": "user_http", "authorization_type": "bearer"}
            })),
            signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
            session_secret: Some("x".repeat(40)),
            ..RawConfig::default()
        })
        .unwrap()
    }

    /// Every key row as stored: what a refusal must leave as it was.
    fn stored_keys(world: &RolesOnSql) -> Vec<String> {
        let conn = world.db.conn.borrow();
        let mut stmt = conn
            .prepare("SELECT id, user_id, plugin, name, scopes, key_hash, created_at, revoked_at FROM api_keys ORDER BY id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{:?}",
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                    )
                ))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// The key a page shows once, if it shows one.
    fn shown_key(reply: &Reply) -> Option<String> {
        let page = html(reply);
        let marker = "class=\"key\" readonly value=\"";
        let start = page.find(marker)? + marker.len();
        Some(page[start..start + page[start..].find('"')?].to_string())
    }

    /// What the proxy reads for a presented key: the same lookup by hash the edge makes.
    fn proxy_lookup(
        world: &RolesOnSql,
        key: &str,
    ) -> Option<portcullis::proxy::api_key_cache::ApiKeyRecord> {
        let directory = SqlDirectory {
            sql: &world.db,
            now: NOW,
        };
        block_on(directory.api_key_by_hash(&sha256_hex(key))).unwrap()
    }

    fn create(
        browser: &mut Browser<'_, common::WithSqlUsers<'_>>,
        csrf: &str,
        name: &str,
    ) -> Reply {
        browser.post_form(
            "/account",
            &[
                ("csrf_token", csrf),
                ("action", "create-key"),
                ("name", name),
            ],
        )
    }

    fn key_ids(world: &RolesOnSql, live: bool) -> Vec<String> {
        let conn = world.db.conn.borrow();
        let sql = if live {
            "SELECT id FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id"
        } else {
            "SELECT id FROM api_keys ORDER BY created_at, id"
        };
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_user_makes_a_key_shown_once_stored_as_the_proxy_reads_it_and_never_shown_again() {
        let config = user_http_config();
        let world = RolesOnSql::new(backend());
        let both = world.backend();
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        assert!(
            html(&account).contains("value=\"create-key\""),
            "{}",
            html(&account)
        );
        let csrf = form_field(&account, "/account", "csrf_token");
        let made = create(&mut browser, &csrf, "  ChatGPT  ");
        assert_eq!(made.status, 200, "{}", html(&made));
        assert_eq!(made.header("location"), None, "no redirect carries the key");
        assert_eq!(made.header("cache-control"), Some("no-store"));
        let key = shown_key(&made).expect("the key, shown once");
        assert!(key.starts_with("pk_") && key.len() == 46, "{key}");
        assert!(html(&made).contains("shown only this once"));
        // Stored as the admin API stores keys: the hash, the prefix, this plugin, the scopes
        // the user's roles hold here, under the name typed (trimmed).
        let record = proxy_lookup(&world, &key).expect("the proxy finds it by its hash");
        assert_eq!(record.user_id, world.user);
        assert_eq!(record.plugin.as_deref(), Some("todo"));
        assert_eq!(record.scopes, ["todos:read"]);
        assert!(!record.revoked);
        let (name, prefix): (String, String) = world
            .db
            .conn
            .borrow()
            .query_row("SELECT name, prefix FROM api_keys", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), prefix.as_str()), ("ChatGPT", &key[..12]));
        assert!(
            !stored_keys(&world).concat().contains(&key),
            "never the key itself"
        );
        // The page after: the key by its prefix and name, never the key.
        let later = html(&browser.get("/account"));
        assert!(
            later.contains(&format!("{}… ChatGPT", &key[..12])),
            "{later}"
        );
        assert!(!later.contains(&key));
        assert!(!later.contains("class=\"key\""));
    }

    #[test]
    fn renaming_and_rotating_a_key_and_revoking_it_act_at_once() {
        let config = user_http_config();
        let world = RolesOnSql::new(backend());
        let both = world.backend();
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        let csrf = form_field(&account, "/account", "csrf_token");
        let first = shown_key(&create(&mut browser, &csrf, "laptop")).unwrap();
        let id = key_ids(&world, true).remove(0);
        let renamed = browser.post_form(
            "/account",
            &[
                ("csrf_token", &csrf),
                ("action", "rename-key"),
                ("id", &id),
                ("name", "ChatGPT"),
            ],
        );
        assert_eq!(renamed.status, 303);
        assert_eq!(renamed.header("location"), Some("/account"));
        assert!(html(&browser.get("/account")).contains("… ChatGPT"));
        // A rotation: a new secret under the same name; the old one is revoked in the same batch.
        let rotated = browser.post_form(
            "/account",
            &[("csrf_token", &csrf), ("action", "rotate-key"), ("id", &id)],
        );
        assert_eq!(rotated.status, 200, "{}", html(&rotated));
        let second = shown_key(&rotated).expect("the new key, shown once");
        assert_ne!(second, first);
        assert!(proxy_lookup(&world, &first).unwrap().revoked);
        let new = proxy_lookup(&world, &second).unwrap();
        assert!(!new.revoked);
        assert_eq!(new.scopes, ["todos:read"]);
        let live = key_ids(&world, true);
        assert_eq!(live.len(), 1);
        assert_ne!(live[0], id);
        let name: String = world
            .db
            .conn
            .borrow()
            .query_row(
                "SELECT name FROM api_keys WHERE revoked_at IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(name, "ChatGPT");
        // The old id cannot be rotated or renamed again: it is revoked.
        let again = browser.post_form(
            "/account",
            &[("csrf_token", &csrf), ("action", "rotate-key"), ("id", &id)],
        );
        assert_eq!(again.status, 404);
        let revoked = browser.post_form(
            "/account",
            &[
                ("csrf_token", &csrf),
                ("action", "revoke-key"),
                ("id", &live[0]),
            ],
        );
        assert_eq!(revoked.status, 303);
        assert!(proxy_lookup(&world, &second).unwrap().revoked);
        assert!(!html(&browser.get("/account")).contains("value=\"rotate-key\""));
    }

    #[test]
    fn a_user_holds_at_most_ten_live_keys_here_and_is_told_so() {
        let config = user_http_config();
        let world = RolesOnSql::new(backend());
        let both = world.backend();
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        let csrf = form_field(&account, "/account", "csrf_token");
        for i in 0..10 {
            assert_eq!(create(&mut browser, &csrf, &format!("key {i}")).status, 200);
        }
        let page = html(&browser.get("/account"));
        assert!(
            !page.contains("value=\"create-key\""),
            "no form past the limit"
        );
        assert!(page.contains("You hold 10 live keys"), "{page}");
        let before = stored_keys(&world);
        let refused = create(&mut browser, &csrf, "one more");
        assert_eq!(refused.status, 409);
        assert!(html(&refused).contains("already hold 10 live API keys"));
        assert!(html(&refused).contains("href=\"/account\""));
        assert_eq!(shown_key(&refused), None);
        assert_eq!(stored_keys(&world), before, "nothing stored");
        // Revoking one makes room.
        let one = key_ids(&world, true).remove(0);
        browser.post_form(
            "/account",
            &[
                ("csrf_token", &csrf),
                ("action", "revoke-key"),
                ("id", &one),
            ],
        );
        assert_eq!(create(&mut browser, &csrf, "one more").status, 200);
        assert_eq!(key_ids(&world, true).len(), 10);
    }

    #[test]
    fn forged_forms_bad_names_and_other_peoples_keys_change_nothing() {
        let config = user_http_config();
        let world = RolesOnSql::new(backend());
        // Another user's key at this plugin, and the demo user's own key at another plugin.
        let (_, other) = world.admin(
            Method::Post,
            "/admin/api/users",
            serde_json::json!({"email": "other@example.com"}),
        );
        let (status, theirs) = world.admin(
            Method::Post,
            "/admin/api/api-keys",
            serde_json::json!({"user_id": other["id"], "name": "theirs"}),
        );
        assert_eq!(status, 201, "{theirs}");
        let theirs = theirs["id"].as_str().unwrap().to_string();
        world
            .db
            .conn
            .borrow()
            .execute(
                "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at, plugin) VALUES ('key_elsewhere', 'pk_x', 'h', ?1, 'elsewhere', '', 0, 'notes')",
                [&world.user],
            )
            .unwrap();
        let both = world.backend();
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        assert!(
            !html(&account).contains("elsewhere"),
            "another plugin's keys are not this page's"
        );
        let csrf = form_field(&account, "/account", "csrf_token");
        let before = stored_keys(&world);
        let forged = browser.post_form(
            "/account",
            &[
                ("csrf_token", "forged"),
                ("action", "create-key"),
                ("name", "x"),
            ],
        );
        assert_eq!(forged.status, 403);
        let missing = browser.post_form("/account", &[("action", "create-key"), ("name", "x")]);
        assert_eq!(missing.status, 403);
        for name in ["", "   ", &"n".repeat(101), "tab\there"] {
            let refused = create(&mut browser, &csrf, name);
            assert_eq!(refused.status, 400, "{name:?}");
            assert!(html(&refused).contains("Back to your account"));
        }
        for key in [theirs.as_str(), "key_elsewhere", "key_nonexistent"] {
            for (action, extra) in [
                ("rename-key", Some("mine now")),
                ("rotate-key", None),
                ("revoke-key", None),
            ] {
                let mut form = vec![
                    ("csrf_token", csrf.as_str()),
                    ("action", action),
                    ("id", key),
                ];
                if let Some(name) = extra {
                    form.push(("name", name));
                }
                let refused = browser.post_form("/account", &form);
                assert_eq!(refused.status, 404, "{action} {key}");
                assert_eq!(shown_key(&refused), None);
            }
        }
        assert_eq!(stored_keys(&world), before, "nothing stored or changed");
    }

    #[test]
    fn plugins_that_are_not_user_http_offer_no_key_forms() {
        let config = config();
        let world = RolesOnSql::new(backend());
        let both = world.backend();
        let mut browser = Browser::new(&config, &both);
        let account = signed_in_account(&mut browser);
        assert!(!html(&account).contains("value=\"create-key\""));
        let csrf = form_field(&account, "/account", "csrf_token");
        let refused = create(&mut browser, &csrf, "ChatGPT");
        assert_eq!(refused.status, 404);
        assert!(html(&refused).contains("made by its administrator"));
        assert!(stored_keys(&world).is_empty());
    }
}
