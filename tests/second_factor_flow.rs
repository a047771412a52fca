//! Flow tests of the second factor (issue 31 item 6): an authenticator app set up on the account
//! pages, asked for after every first factor (a password, a mailed code, a reset), its codes
//! spent once, recovery codes, throttles, and the authorization server's policy: `require_mfa`,
//! `max_age`, `acr_values`, and the `amr` and `acr` of ID tokens. Codes are computed with
//! `accounts::totp` at the browser's clock; every refusal changes nothing stored.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::browser::{encode, hidden, html, location_params, Browser, NOW};
use common::MemoryBackend;
use portcullis::accounts::totp::TotpSecret;
use portcullis::config::Config;
use portcullis::http::{Method, Reply};
use portcullis::ports::Backend;
use portcullis::primitives::hash::sha256_hex;

use common::fixtures::{password_hash, todo_config, BASE, CALLBACK, PASSWORD};
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const MFA: &str = "urn:portcullis:acr:mfa";
const ONE_FACTOR: &str = "urn:portcullis:acr:1fa";

fn config_with(sign_in: serde_json::Value) -> Config {
    todo_config(sign_in, true)
}

fn config() -> Config {
    config_with(serde_json::json!({"email_codes": true}))
}

/// No consent page (ChatGPT first party): the tests are about signing in.
fn backend() -> MemoryBackend {
    common::fixtures::demo_backend(true)
}

fn authorize_url(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "chatgpt"),
        ("redirect_uri", CALLBACK),
        ("state", "st4te"),
        ("scope", "openid"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", encode(&pairs))
}

/// The password form posted from a sign-in page.
fn post_password<B: Backend>(browser: &mut Browser<'_, B>, page: &Reply) -> Reply {
    browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(page, "csrf_token")),
            ("return_to", &hidden(page, "return_to")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    )
}

/// Signs in with the password at `/login`, returning the answer (a session, or the code page).
fn sign_in<B: Backend>(browser: &mut Browser<'_, B>) -> Reply {
    let page = browser.get("/login");
    post_password(browser, &page)
}

fn has_session<B: Backend>(browser: &mut Browser<'_, B>) -> bool {
    html(&browser.get("/account")).contains("Signed in as demo@example.com")
}

/// The setup key shown on the setup page, without its spaces.
fn key_in(page: &Reply) -> String {
    let page = html(page);
    let start = page.find("<code class=\"secret\">").expect("a setup key") + 21;
    let end = start + page[start..].find("</code>").unwrap();
    page[start..end].replace(' ', "")
}

/// The recovery codes a page shows.
fn codes_in(page: &Reply) -> Vec<String> {
    html(page)
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest.split("</code>").next().unwrap().to_string())
        .collect()
}

/// Sets an app up for the signed-in user at the browser's clock: the secret and the codes.
fn enrol<B: Backend>(browser: &mut Browser<'_, B>) -> (TotpSecret, Vec<String>) {
    let setup = browser.get("/account/second-factor");
    assert_eq!(setup.status, 200, "{}", html(&setup));
    let secret = TotpSecret::from_base32(&key_in(&setup)).unwrap();
    let done = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&setup, "csrf_token")),
            ("action", "confirm"),
            ("setup", &hidden(&setup, "setup")),
            ("return_to", ""),
            ("code", &secret.code_at(browser.now as u64)),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
    let codes = codes_in(&done);
    assert_eq!(codes.len(), 10, "{}", html(&done));
    (secret, codes)
}

/// A user with an app set up at `NOW`, signed in nowhere else.
fn enrolled(backend: &MemoryBackend, config: &Config) -> (TotpSecret, Vec<String>) {
    let mut browser = Browser::new(config, backend);
    sign_in(&mut browser);
    enrol(&mut browser)
}

fn post_code<B: Backend>(browser: &mut Browser<'_, B>, page: &Reply, code: &str) -> Reply {
    browser.post_form(
        "/login/second-factor",
        &[
            ("csrf_token", &hidden(page, "csrf_token")),
            ("pending", &hidden(page, "pending")),
            ("code", code),
        ],
    )
}

/// The app's code at the browser's clock, posted.
fn post_app_code<B: Backend>(
    browser: &mut Browser<'_, B>,
    page: &Reply,
    secret: &TotpSecret,
) -> Reply {
    let code = secret.code_at(browser.now as u64);
    post_code(browser, page, &code)
}

/// Follows a redirect back to `/authorize`, then takes the ID token's claims.
fn id_token_at<B: Backend>(browser: &mut Browser<'_, B>, target: &str) -> serde_json::Value {
    let reply = browser.get(target);
    id_token_after(browser, &reply)
}

fn exchange<B: Backend>(browser: &mut Browser<'_, B>, code: &str) -> serde_json::Value {
    let body = encode(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
        ("client_id", "chatgpt"),
        ("client_secret", "client-secret"),
    ]);
    let reply = browser.send(
        Method::Post,
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", html(&reply));
    serde_json::from_slice(&reply.body).unwrap()
}

/// The claims of a JWT, unverified (the signature is the token tests' business).
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The ID token's claims for an authorization the browser's session completes.
fn id_token_after<B: Backend>(browser: &mut Browser<'_, B>, reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.status, 302, "{}", html(reply));
    let code = location_params(reply).get("code").unwrap().to_string();
    let tokens = exchange(browser, &code);
    claims(tokens["id_token"].as_str().unwrap())
}

#[test]
fn an_app_is_set_up_only_once_a_first_code_confirms_it_and_its_secret_is_kept_sealed() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    sign_in(&mut browser);
    let account = html(&browser.get("/account"));
    assert!(account.contains("Set up an authenticator app"), "{account}");
    let setup = browser.get("/account/second-factor");
    let key = key_in(&setup);
    let page = html(&setup);
    assert!(
        page.contains(&format!(
            "otpauth://totp/Todo:demo%40example.com?secret={key}&amp;issuer=Todo"
        )),
        "{page}"
    );
    // A wrong first code: the same key offered again, nothing stored.
    let secret = TotpSecret::from_base32(&key).unwrap();
    let right = secret.code_at(NOW as u64);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let before = backend.stored();
    let refused = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&setup, "csrf_token")),
            ("action", "confirm"),
            ("setup", &hidden(&setup, "setup")),
            ("code", wrong),
        ],
    );
    assert_eq!(refused.status, 400);
    assert_eq!(key_in(&refused), key, "the same key, to try again");
    assert_eq!(
        backend.stored(),
        before,
        "a wrong first code stores nothing"
    );
    let done = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&refused, "csrf_token")),
            ("action", "confirm"),
            ("setup", &hidden(&refused, "setup")),
            ("code", &right),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
    let codes = codes_in(&done);
    assert_eq!(codes.len(), 10);
    let factors = backend.second_factors.borrow();
    let stored = factors.get("usr_demo").unwrap();
    assert!(
        !stored.sealed_secret.contains(&key),
        "sealed, not in the clear"
    );
    assert_eq!(stored.last_step, Some(NOW / 30), "the first code is spent");
    assert_eq!(
        stored.recovery_hashes,
        codes
            .iter()
            .map(|c| sha256_hex(&c.replace('-', "")))
            .collect::<Vec<_>>(),
        "the codes are kept as hashes only"
    );
    drop(factors);
    assert!(html(&browser.get("/account")).contains("Manage your authenticator app"));
    assert!(html(&browser.get("/account/second-factor")).contains("10 recovery codes are left"));
}

#[test]
fn a_password_sign_in_asks_for_the_apps_code_before_any_session() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let login = browser.get(&authorize_url(&[]));
    let asked = post_password(&mut browser, &login);
    assert_eq!(asked.status, 200, "{}", html(&asked));
    assert!(html(&asked).contains("authenticator app"));
    assert!(
        asked.header("set-cookie").is_none(),
        "no session before the second factor"
    );
    assert!(!has_session(&mut browser));
    let signed_in = post_app_code(&mut browser, &asked, &secret);
    assert_eq!(signed_in.status, 303, "{}", html(&signed_in));
    let back = browser.get(signed_in.header("location").unwrap());
    let id = id_token_after(&mut browser, &back);
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], MFA);
    assert_eq!(id["auth_time"], NOW + 30);
}

#[test]
fn a_refreshed_id_token_says_how_the_user_signed_in_as_the_first_did() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let login = browser.get(&authorize_url(&[]));
    let asked = post_password(&mut browser, &login);
    let signed_in = post_app_code(&mut browser, &asked, &secret);
    let back = browser.get(signed_in.header("location").unwrap());
    let code = location_params(&back).get("code").unwrap().to_string();
    let tokens = exchange(&mut browser, &code);
    browser.now = NOW + 3600;
    let body = encode(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", "chatgpt"),
        ("client_secret", "client-secret"),
    ]);
    let refreshed = browser.send(
        Method::Post,
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(refreshed.status, 200, "{}", html(&refreshed));
    let refreshed: serde_json::Value = serde_json::from_slice(&refreshed.body).unwrap();
    let id = claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], MFA);
    assert_eq!(id["auth_time"], NOW + 30);
}

#[test]
fn without_a_second_factor_an_id_token_says_one_factor() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url(&[]));
    let signed_in = post_password(&mut browser, &login);
    let back = browser.get(signed_in.header("location").unwrap());
    let id = id_token_after(&mut browser, &back);
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["acr"], ONE_FACTOR);
}

#[test]
fn a_code_is_spent_once_even_by_another_browser() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    let mut first = Browser::new(&config, &backend);
    let mut second = Browser::new(&config, &backend);
    first.now = NOW + 30;
    second.now = NOW + 30;
    let code = secret.code_at(first.now as u64);
    let asked_first = sign_in(&mut first);
    let asked_second = sign_in(&mut second);
    assert_eq!(post_code(&mut first, &asked_first, &code).status, 200);
    let before = backend.stored();
    let replayed = post_code(&mut second, &asked_second, &code);
    assert_eq!(replayed.status, 401, "{}", html(&replayed));
    assert!(!has_session(&mut second));
    assert_eq!(backend.stored(), before, "a replay changes nothing");
    // The code confirming the setup is spent too.
    let mut third = Browser::new(&config, &backend);
    let asked = sign_in(&mut third);
    assert_eq!(
        post_code(&mut third, &asked, &secret.code_at(NOW as u64)).status,
        401
    );
}

#[test]
fn a_recovery_code_signs_in_once() {
    let config = config();
    let backend = backend();
    let (_, codes) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    let asked = sign_in(&mut browser);
    // Read as typed: upper case, spaces for dashes.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(post_code(&mut browser, &asked, &typed).status, 200);
    assert!(has_session(&mut browser));
    assert_eq!(
        backend.second_factors.borrow()["usr_demo"]
            .recovery_hashes
            .len(),
        9
    );
    let mut again = Browser::new(&config, &backend);
    let asked = sign_in(&mut again);
    let before = backend.stored();
    assert_eq!(post_code(&mut again, &asked, &codes[3]).status, 401);
    assert_eq!(backend.stored(), before);
    assert!(!has_session(&mut again));
}

#[test]
fn wrong_codes_are_throttled_like_passwords() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let asked = sign_in(&mut browser);
    let right = secret.code_at(browser.now as u64);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut statuses = Vec::new();
    for _ in 0..portcullis::throttle::LOGIN_FAILURES_PER_SOURCE + 1 {
        statuses.push(post_code(&mut browser, &asked, wrong).status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401));
    // Past the limit even the right code waits.
    let refused = post_code(&mut browser, &asked, &right);
    assert_eq!(refused.status, 429);
    assert!(refused.header("retry-after").is_some());
    assert!(!has_session(&mut browser));
}

#[test]
fn a_half_sign_in_opens_in_no_other_browser_and_not_after_five_minutes() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let asked = sign_in(&mut browser);
    // Another browser with its own CSRF cookie and token, carrying the stolen half sign-in.
    let mut thief = Browser::new(&config, &backend);
    thief.now = NOW + 30;
    let theirs = sign_in(&mut thief);
    let stolen = thief.post_form(
        "/login/second-factor",
        &[
            ("csrf_token", &hidden(&theirs, "csrf_token")),
            ("pending", &hidden(&asked, "pending")),
            ("code", &secret.code_at(thief.now as u64)),
        ],
    );
    assert_eq!(stolen.status, 400, "{}", html(&stolen));
    browser.now = NOW + 30 + 301;
    let late = post_app_code(&mut browser, &asked, &secret);
    assert_eq!(late.status, 400);
    assert!(!has_session(&mut browser));
}

#[test]
fn a_mailed_code_and_a_reset_ask_for_the_second_factor_too() {
    let config = config();
    let backend = backend();
    let (secret, _) = enrolled(&backend, &config);
    // By mailed code.
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let form = browser.get("/login/code");
    let sent = browser.post_form(
        "/login/code",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "demo@example.com"),
        ],
    );
    let mailed = backend.mails.borrow().last().unwrap().subject.clone();
    let asked = browser.post_form(
        "/login/code",
        &[
            ("csrf_token", &hidden(&sent, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", mailed.split(' ').next().unwrap()),
        ],
    );
    assert_eq!(asked.status, 200, "{}", html(&asked));
    assert!(!has_session(&mut browser), "the mailed code is one factor");
    let signed_in = post_app_code(&mut browser, &asked, &secret);
    assert_eq!(signed_in.status, 200);
    assert!(has_session(&mut browser));
    // By reset: the password changes, the session waits for the app's code.
    let mut other = Browser::new(&config, &backend);
    other.now = NOW + 60;
    let form = other.get("/login/reset");
    other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "demo@example.com"),
        ],
    );
    let text = backend.mails.borrow().last().unwrap().text.clone();
    let start = text.find(&format!("{BASE}/login/reset?token=")).unwrap();
    let link = text[start..]
        .lines()
        .next()
        .unwrap()
        .strip_prefix(BASE)
        .unwrap()
        .to_string();
    let page = other.get(&link);
    let asked = other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
            ("password", "a new staple, longer"),
        ],
    );
    assert_eq!(asked.status, 200, "{}", html(&asked));
    assert!(
        html(&asked).contains("name=\"pending\""),
        "{}",
        html(&asked)
    );
    assert!(
        !has_session(&mut other),
        "a reset does not pass the second factor"
    );
    let signed_in = post_app_code(&mut other, &asked, &secret);
    assert_eq!(signed_in.status, 200, "{}", html(&signed_in));
    assert!(has_session(&mut other));
}

#[test]
fn require_mfa_sends_a_user_without_an_app_to_set_one_up_then_back() {
    let config = config_with(serde_json::json!({"require_mfa": true}));
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let url = authorize_url(&[]);
    let login = browser.get(&url);
    let signed_in = post_password(&mut browser, &login);
    assert_eq!(signed_in.status, 303);
    let sent = browser.get(signed_in.header("location").unwrap());
    assert_eq!(sent.status, 302, "{}", html(&sent));
    let setup_url = sent.header("location").unwrap().to_string();
    assert!(
        setup_url.starts_with("/account/second-factor?return_to="),
        "{setup_url}"
    );
    let setup = browser.get(&setup_url);
    let secret = TotpSecret::from_base32(&key_in(&setup)).unwrap();
    let done = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&setup, "csrf_token")),
            ("action", "confirm"),
            ("setup", &hidden(&setup, "setup")),
            ("return_to", &hidden(&setup, "return_to")),
            ("code", &secret.code_at(NOW as u64)),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
    let page = html(&done);
    let start = page.find("<a href=\"/authorize?").expect("a way back") + 9;
    let back = page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&");
    let id = id_token_at(&mut browser, &back);
    assert_eq!(id["acr"], MFA, "setting the app up proved both factors");
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[test]
fn require_mfa_steps_a_one_factor_session_up_and_prompt_none_is_refused() {
    let config = config_with(serde_json::json!({"require_mfa": true}));
    let backend = backend();
    // Signed in before the app was set up (in another browser): a one-factor session.
    let mut browser = Browser::new(&config, &backend);
    sign_in(&mut browser);
    let (secret, _) = enrolled(&backend, &config);
    browser.now = NOW + 30;
    let none = browser.get(&authorize_url(&[("prompt", "none")]));
    assert_eq!(location_params(&none).get("error"), Some("login_required"));
    let asked = browser.get(&authorize_url(&[]));
    assert_eq!(asked.status, 200, "{}", html(&asked));
    let stepped = post_app_code(&mut browser, &asked, &secret);
    assert_eq!(stepped.status, 303, "{}", html(&stepped));
    let id = id_token_at(&mut browser, stepped.header("location").unwrap());
    assert_eq!(id["acr"], MFA);
}

#[test]
fn acr_values_step_up_a_one_factor_session_or_are_unmet_without_an_app() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    sign_in(&mut browser);
    // No app: OpenID Connect's unmet_authentication_requirements, nothing stored.
    let before = backend.stored();
    let unmet = browser.get(&authorize_url(&[("acr_values", MFA)]));
    assert_eq!(unmet.status, 302);
    assert_eq!(
        location_params(&unmet).get("error"),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(backend.stored(), before);
    // One factor asked: met by any session.
    let met = browser.get(&authorize_url(&[("acr_values", ONE_FACTOR)]));
    assert_eq!(id_token_after(&mut browser, &met)["acr"], ONE_FACTOR);
    // With an app (set up in another browser), the code page, then back.
    let (secret, _) = enrolled(&backend, &config);
    browser.now = NOW + 30;
    let asked = browser.get(&authorize_url(&[("acr_values", MFA)]));
    assert_eq!(asked.status, 200, "{}", html(&asked));
    let stepped = post_app_code(&mut browser, &asked, &secret);
    let id = id_token_at(&mut browser, stepped.header("location").unwrap());
    assert_eq!(id["acr"], MFA);
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[test]
fn max_age_signs_an_older_session_in_again() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    sign_in(&mut browser);
    browser.now = NOW + 600;
    let fresh_enough = browser.get(&authorize_url(&[("max_age", "900")]));
    assert_eq!(fresh_enough.status, 302);
    let login = browser.get(&authorize_url(&[("max_age", "300")]));
    assert_eq!(login.status, 200);
    assert!(
        html(&login).contains("name=\"password\""),
        "the sign-in page"
    );
    let signed_in = post_password(&mut browser, &login);
    let id = id_token_at(&mut browser, signed_in.header("location").unwrap());
    assert_eq!(id["auth_time"], NOW + 600);
    // max_age=0 right after a sign-in: the sign-in just made, not another round.
    let mut zero = Browser::new(&config, &backend);
    zero.now = NOW + 700;
    let login = zero.get(&authorize_url(&[("max_age", "0")]));
    let signed_in = post_password(&mut zero, &login);
    zero.now += 2;
    let back = zero.get(signed_in.header("location").unwrap());
    assert_eq!(back.status, 302, "{}", html(&back));
    assert!(location_params(&back).get("code").is_some());
    let bad = browser.get(&authorize_url(&[("max_age", "soon")]));
    assert_eq!(location_params(&bad).get("error"), Some("invalid_request"));
}

#[test]
fn turning_the_app_off_and_new_recovery_codes_need_a_current_code_or_a_recent_sign_in() {
    let config = config();
    let backend = backend();
    let (secret, old_codes) = enrolled(&backend, &config);
    let mut browser = Browser::new(&config, &backend);
    browser.now = NOW + 30;
    let asked = sign_in(&mut browser);
    post_app_code(&mut browser, &asked, &secret);
    // Within ten minutes of the two-factor sign-in, no code is asked.
    let page = browser.get("/account/second-factor");
    let renewed = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("action", "regenerate"),
            ("code", ""),
        ],
    );
    assert_eq!(renewed.status, 200, "{}", html(&renewed));
    let new_codes = codes_in(&renewed);
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));
    // Later, a code is needed; without one (or with a wrong one) nothing changes.
    browser.now = NOW + 30 + 601;
    let before = backend.stored();
    let refused = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("action", "remove"),
            ("code", ""),
        ],
    );
    assert_eq!(refused.status, 401);
    assert_eq!(backend.stored(), before);
    let removed = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("action", "remove"),
            ("code", &secret.code_at(browser.now as u64)),
        ],
    );
    assert_eq!(removed.status, 303, "{}", html(&removed));
    assert!(backend.second_factors.borrow().is_empty());
    // Without it, the password alone signs in.
    let mut later = Browser::new(&config, &backend);
    assert_eq!(sign_in(&mut later).status, 200);
    assert!(has_session(&mut later));
}

#[test]
fn every_second_factor_form_refuses_a_forged_token_and_changes_nothing() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    sign_in(&mut browser);
    let setup = browser.get("/account/second-factor");
    let secret = TotpSecret::from_base32(&key_in(&setup)).unwrap();
    let before = backend.stored();
    let forged = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", "forged"),
            ("action", "confirm"),
            ("setup", &hidden(&setup, "setup")),
            ("code", &secret.code_at(NOW as u64)),
        ],
    );
    assert_eq!(forged.status, 403);
    assert_eq!(backend.stored(), before);
    // A setup offer made in another session is not confirmed in this one.
    let mut other = Browser::new(&config, &backend);
    sign_in(&mut other);
    let theirs = other.get("/account/second-factor");
    let planted = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&setup, "csrf_token")),
            ("action", "confirm"),
            ("setup", &hidden(&theirs, "setup")),
            (
                "code",
                &TotpSecret::from_base32(&key_in(&theirs))
                    .unwrap()
                    .code_at(NOW as u64),
            ),
        ],
    );
    assert_eq!(planted.status, 400);
    assert_eq!(backend.stored(), before);
    let (secret, _) = enrol(&mut browser);
    let page = browser.get("/account/second-factor");
    let before = backend.stored();
    for action in ["regenerate", "remove"] {
        let forged = browser.post_form(
            "/account/second-factor",
            &[
                ("csrf_token", "forged"),
                ("action", action),
                ("code", &secret.code_at(NOW as u64 + 30)),
            ],
        );
        assert_eq!(forged.status, 403, "{action}");
    }
    let unknown = browser.post_form(
        "/account/second-factor",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("action", "export"),
        ],
    );
    assert_eq!(unknown.status, 400);
    let mut signing_in = Browser::new(&config, &backend);
    signing_in.now = NOW + 30;
    let asked = sign_in(&mut signing_in);
    let forged = signing_in.post_form(
        "/login/second-factor",
        &[
            ("csrf_token", "forged"),
            ("pending", &hidden(&asked, "pending")),
            ("code", &secret.code_at(NOW as u64 + 30)),
        ],
    );
    assert_eq!(forged.status, 403);
    assert_eq!(backend.stored(), before);
    assert!(!has_session(&mut signing_in));
}

#[test]
fn the_metadata_advertises_acr_values_and_the_amr_claim() {
    let config = config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let doc: serde_json::Value =
        serde_json::from_slice(&browser.get("/.well-known/openid-configuration").body).unwrap();
    assert_eq!(
        doc["acr_values_supported"],
        serde_json::json!([ONE_FACTOR, MFA])
    );
    let claims = doc["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&"amr".into()) && claims.contains(&"acr".into()));
}

#[test]
fn on_the_real_schema_a_code_and_a_recovery_code_are_spent_once() {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
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
        now: NOW,
    };
    let config = config();
    let mut browser = Browser::new(&config, &both);
    sign_in(&mut browser);
    let (secret, codes) = enrol(&mut browser);
    let rows = common::block_on(db.query(
        "SELECT sealed_secret, last_step FROM user_totp WHERE user_id = 'usr_demo'",
        vec![],
    ))
    .unwrap();
    assert_eq!(rows[0]["last_step"], NOW / 30);
    assert!(!rows[0]["sealed_secret"]
        .as_str()
        .unwrap()
        .contains(&secret.to_base32()));
    let mut first = Browser::new(&config, &both);
    let mut second = Browser::new(&config, &both);
    first.now = NOW + 30;
    second.now = NOW + 30;
    let (a, b) = (sign_in(&mut first), sign_in(&mut second));
    let code = secret.code_at(NOW as u64 + 30);
    assert_eq!(post_code(&mut first, &a, &code).status, 200);
    assert_eq!(post_code(&mut second, &b, &code).status, 401);
    assert_eq!(post_code(&mut second, &b, &codes[0]).status, 200);
    let mut third = Browser::new(&config, &both);
    let c = sign_in(&mut third);
    assert_eq!(post_code(&mut third, &c, &codes[0]).status, 401);
    let left = common::block_on(db.query(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = 'usr_demo'",
        vec![],
    ))
    .unwrap();
    assert_eq!(left[0]["n"], 9);
    // Deleting the user deletes the factor.
    common::block_on(db.batch(vec![("DELETE FROM users WHERE id = 'usr_demo'", vec![])])).unwrap();
    let gone = common::block_on(db.query("SELECT COUNT(*) AS n FROM user_totp", vec![])).unwrap();
    assert_eq!(gone[0]["n"], 0);
}
