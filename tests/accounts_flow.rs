//! Flow tests of accounts people make and recover themselves (issue 31): sign-up inside an
//! authorization, the mailed code and link, password reset and sign-in by code, with the mail
//! read from the in-memory outbox, and one test per refusal (each changing nothing stored).

mod common;

use common::browser::{hidden, html, Browser};
use common::MemoryBackend;
use portcullis::config::Config;
use portcullis::http::Reply;

use common::fixtures::{password_hash, todo_config, todo_plugin, BASE, CALLBACK, PASSWORD};

const NEW_PASSWORD: &str = "a new staple, longer";

fn config_with(sign_in: serde_json::Value) -> Config {
    todo_config(sign_in, true)
}

fn open_config() -> Config {
    config_with(
        serde_json::json!({"sign_up": "open", "sign_up_roles": ["member"], "email_codes": true}),
    )
}

fn backend() -> MemoryBackend {
    let mut b = common::fixtures::demo_backend(false);
    b.role_names = vec!["member".into()];
    b
}

fn authorize_url() -> String {
    format!(
        "/authorize?response_type=code&client_id=chatgpt&redirect_uri={}&state=st4te&scope=todos%3Aread&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        portcullis::oauth::params::form_encode(CALLBACK)
    )
}

/// The six-digit code in a mail's subject.
fn code_in(subject: &str) -> String {
    subject.split(' ').next().unwrap().to_string()
}

/// The link a mail's text carries to `path`.
fn link_in(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("{BASE}{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let link = text[start..].lines().next().unwrap();
    link.strip_prefix(BASE).unwrap().to_string()
}

fn sign_up<B: portcullis::ports::Backend>(
    browser: &mut Browser<'_, B>,
    email: &str,
    return_to: &str,
) -> Reply {
    let form = browser.get(&format!(
        "/signup?return_to={}",
        portcullis::oauth::params::form_encode(return_to)
    ));
    assert_eq!(form.status, 200, "{}", html(&form));
    browser.post_form(
        "/signup",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("return_to", &hidden(&form, "return_to")),
            ("invitation", ""),
            ("email", email),
            ("name", "Ann"),
            ("password", PASSWORD),
            ("terms", "accepted"),
        ],
    )
}

#[test]
fn a_stranger_signs_up_inside_an_authorization_and_comes_back_to_it() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let login = browser.get(&authorize_url());
    assert_eq!(login.status, 200);
    let page = html(&login);
    assert!(
        page.contains("href=\"/signup?return_to=%2Fauthorize%3F"),
        "{page}"
    );
    assert!(page.contains("href=\"/login/reset?return_to="), "{page}");
    assert!(page.contains("href=\"/login/code?return_to="), "{page}");
    let return_to = hidden(&login, "return_to");
    let sent = sign_up(&mut browser, "Ann@Example.org", &return_to);
    assert_eq!(sent.status, 200, "{}", html(&sent));
    assert!(html(&sent).contains("ann@example.org"));
    assert!(
        backend
            .users
            .borrow()
            .iter()
            .all(|u| u.email != "ann@example.org"),
        "no account before the address is proven"
    );
    let mails = backend.mails.borrow().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ann@example.org");
    let code = code_in(&mails[0].subject);
    assert!(mails[0].text.contains(&code) && mails[0].html.contains(&code));
    let verified = browser.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&sent, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    assert_eq!(verified.status, 303, "{}", html(&verified));
    assert_eq!(verified.header("location"), Some(return_to.as_str()));
    let user = backend
        .users
        .borrow()
        .iter()
        .find(|u| u.email == "ann@example.org")
        .cloned()
        .unwrap();
    assert_eq!(user.name, "Ann");
    let (roles, terms) = backend.made_accounts.borrow()[&user.id].clone();
    assert_eq!(roles, ["member"]);
    assert_eq!(terms, "https://todo.example.com/legal");
    // Back in the authorization, signed in: the consent page, not the sign-in form.
    let back = browser.get(&return_to);
    assert!(
        !html(&back).contains("action=\"/login\""),
        "{}",
        html(&back)
    );
    // The code is used up (a fresh form's token: signing in gave the browser a new CSRF cookie).
    let fresh = browser.get("/signup");
    let again = browser.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&fresh, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    assert_eq!(again.status, 400, "{}", html(&again));
}

#[test]
fn the_mailed_link_shows_a_button_and_only_its_post_makes_the_account() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    assert_eq!(sign_up(&mut browser, "bo@example.org", "").status, 200);
    let link = link_in(&backend.mails.borrow()[0].text, "/signup/verify");
    // Another browser (a phone's mail app): a scanner's GET uses nothing up.
    let mut phone = Browser::new(&config, &backend);
    for _ in 0..2 {
        let page = phone.get(&link);
        assert_eq!(page.status, 200, "{}", html(&page));
        assert!(html(&page).contains("Create my account"));
    }
    assert!(backend.challenges.borrow()[0].used_at.is_none());
    // Two browsers hold the button; the first press makes the account, the second finds it used.
    let mut laptop = Browser::new(&config, &backend);
    let on_laptop = laptop.get(&link);
    let page = phone.get(&link);
    let made = phone.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
        ],
    );
    assert_eq!(
        made.status,
        303,
        "signed in, with nowhere to return to: {}",
        html(&made)
    );
    assert!(backend
        .users
        .borrow()
        .iter()
        .any(|u| u.email == "bo@example.org"));
    let reused = laptop.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&on_laptop, "csrf_token")),
            ("token", &hidden(&on_laptop, "token")),
        ],
    );
    assert_eq!(reused.status, 400);
    assert_eq!(phone.get(&link).status, 400);
}

#[test]
fn signing_up_with_a_taken_address_answers_the_same_and_mails_its_owner_instead() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let new = sign_up(&mut browser, "new@example.com", "");
    let taken = sign_up(&mut browser, "demo@example.com", "");
    assert_eq!((new.status, taken.status), (200, 200));
    let strip = |r: &Reply, email: &str| {
        html(r)
            .replace(email, "EMAIL")
            .replace(&hidden(r, "challenge"), "ID")
    };
    assert_eq!(
        strip(&new, "new@example.com"),
        strip(&taken, "demo@example.com")
    );
    assert_eq!(
        backend.challenges.borrow().len(),
        2,
        "the same work either way"
    );
    let mails = backend.mails.borrow().clone();
    assert!(mails[1].subject.contains("already have"));
    assert!(
        !mails[1]
            .text
            .chars()
            .any(|c| c.is_ascii_digit() && mails[1].subject.contains(c)),
        "no code"
    );
    // Any code at the taken address's challenge fails, and no account changes.
    for code in ["000000", "123456"] {
        let r = browser.post_form(
            "/signup/verify",
            &[
                ("csrf_token", &hidden(&taken, "csrf_token")),
                ("challenge", &hidden(&taken, "challenge")),
                ("code", code),
            ],
        );
        assert_eq!(r.status, 400);
    }
    assert_eq!(backend.users.borrow().len(), 1);
}

#[test]
fn a_code_takes_five_guesses_then_not_even_the_right_one() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let sent = sign_up(&mut browser, "cy@example.org", "");
    let code = code_in(&backend.mails.borrow()[0].subject);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guess = |browser: &mut Browser<'_>, c: &str| {
        browser.post_form(
            "/signup/verify",
            &[
                ("csrf_token", &hidden(&sent, "csrf_token")),
                ("challenge", &hidden(&sent, "challenge")),
                ("code", c),
            ],
        )
    };
    for left in (0..5).rev() {
        let r = guess(&mut browser, wrong);
        assert_eq!(r.status, 400);
        if left > 0 {
            assert!(
                html(&r).contains("name=\"code\""),
                "the form again, {left} left"
            );
        }
    }
    assert_eq!(guess(&mut browser, &code).status, 400);
    assert!(backend
        .users
        .borrow()
        .iter()
        .all(|u| u.email != "cy@example.org"));
}

#[test]
fn refused_sign_ups_send_nothing_and_store_nothing() {
    let backend = backend();
    let before = backend.stored();
    // Closed (the default): no form at all.
    let closed = config_with(serde_json::json!({}));
    let mut browser = Browser::new(&closed, &backend);
    assert_eq!(browser.get("/signup").status, 404);
    // Open for one domain only.
    let acme = config_with(serde_json::json!({"sign_up": "open", "sign_up_domains": ["acme.com"]}));
    let mut browser = Browser::new(&acme, &backend);
    assert_eq!(sign_up(&mut browser, "eve@elsewhere.org", "").status, 403);
    // Invitation only.
    let invite = config_with(serde_json::json!({"sign_up": "invite"}));
    let mut browser = Browser::new(&invite, &backend);
    assert_eq!(browser.get("/signup").status, 403);
    // A forged form (no CSRF token), bad addresses, short passwords, terms not accepted.
    let config = open_config();
    let mut browser = Browser::new(&config, &backend);
    assert_eq!(
        browser
            .post_form(
                "/signup",
                &[
                    ("email", "x@example.org"),
                    ("password", PASSWORD),
                    ("terms", "accepted")
                ]
            )
            .status,
        403
    );
    let form = browser.get("/signup");
    let csrf = hidden(&form, "csrf_token");
    for (email, password, terms) in [
        ("not an address", PASSWORD, "accepted"),
        ("x@example.org", "short", "accepted"),
        ("x@example.org", PASSWORD, ""),
    ] {
        let r = browser.post_form(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("email", email),
                ("password", password),
                ("terms", terms),
            ],
        );
        assert_eq!(r.status, 400, "{email} {password} {terms}");
    }
    assert!(backend.mails.borrow().is_empty());
    assert_eq!(backend.stored(), before);
}

#[test]
fn accounts_from_one_network_are_limited() {
    let config = open_config();
    let backend = backend();
    let mut statuses = Vec::new();
    for i in 0..11 {
        let mut browser = Browser::new(&config, &backend);
        let sent = sign_up(&mut browser, &format!("u{i}@example.org"), "");
        let code = code_in(&backend.mails.borrow().last().unwrap().subject);
        let r = browser.post_form(
            "/signup/verify",
            &[
                ("csrf_token", &hidden(&sent, "csrf_token")),
                ("challenge", &hidden(&sent, "challenge")),
                ("code", &code),
            ],
        );
        statuses.push(r.status);
    }
    assert_eq!(statuses[..10], [303; 10]);
    assert_eq!(statuses[10], 429);
    assert_eq!(
        backend.users.borrow().len(),
        11,
        "the demo user and ten made"
    );
}

#[test]
fn a_forgotten_password_comes_back_by_mail_once_and_ends_every_session() {
    let config = open_config();
    let backend = backend();
    let mut old_browser = Browser::new(&config, &backend);
    let login = old_browser.get("/login");
    let signed_in = old_browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(signed_in.status, 200);
    let mut browser = Browser::new(&config, &backend);
    let form = browser.get("/login/reset");
    let asked = browser.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "Demo@Example.com"),
        ],
    );
    assert_eq!(asked.status, 200);
    let mail = backend.mails.borrow()[0].clone();
    assert_eq!(mail.to, "demo@example.com");
    let link = link_in(&mail.text, "/login/reset");
    let page = browser.get(&link);
    assert_eq!(page.status, 200, "{}", html(&page));
    let set = browser.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
            ("password", NEW_PASSWORD),
        ],
    );
    assert_eq!(set.status, 200, "{}", html(&set));
    assert!(backend.mails.borrow()[1].subject.contains("was changed"));
    // The old session is over; the old password is wrong; the new one works.
    let account = old_browser.get("/account");
    assert!(html(&account).contains("action=\"/login\""), "signed out");
    let mut other = Browser::new(&config, &backend);
    let login = other.get("/login");
    let csrf = hidden(&login, "csrf_token");
    assert_eq!(
        other
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", "demo@example.com"),
                    ("password", PASSWORD)
                ]
            )
            .status,
        401
    );
    assert_eq!(
        other
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", "demo@example.com"),
                    ("password", NEW_PASSWORD)
                ]
            )
            .status,
        200
    );
    // The link is used up.
    assert_eq!(browser.get(&link).status, 400);
}

#[test]
fn asking_for_a_reset_tells_nobody_whether_the_address_has_an_account() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let form = browser.get("/login/reset");
    let csrf = hidden(&form, "csrf_token");
    let known = browser.post_form(
        "/login/reset",
        &[("csrf_token", &csrf), ("email", "demo@example.com")],
    );
    let unknown = browser.post_form(
        "/login/reset",
        &[("csrf_token", &csrf), ("email", "nobody@example.com")],
    );
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        html(&known).replace("demo@example.com", "E"),
        html(&unknown).replace("nobody@example.com", "E")
    );
    assert_eq!(
        backend.challenges.borrow().len(),
        2,
        "the same work either way"
    );
    let mails = backend.mails.borrow().clone();
    assert!(
        mails[1].subject.contains("No Todo account"),
        "{}",
        mails[1].subject
    );
    assert!(
        mails[1].text.contains("/signup"),
        "sign-up is open here: the mail says so"
    );
    assert!(!mails[1].text.contains("/login/reset?token="));
}

#[test]
fn a_reset_link_is_void_once_the_password_changed_another_way() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let form = browser.get("/login/reset");
    let csrf = hidden(&form, "csrf_token");
    for _ in 0..2 {
        browser.post_form(
            "/login/reset",
            &[("csrf_token", &csrf), ("email", "demo@example.com")],
        );
    }
    let first = link_in(&backend.mails.borrow()[0].text, "/login/reset");
    let second = link_in(&backend.mails.borrow()[1].text, "/login/reset");
    let page = browser.get(&second);
    let set = browser.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
            ("password", NEW_PASSWORD),
        ],
    );
    assert_eq!(set.status, 200);
    assert_eq!(
        browser.get(&first).status,
        400,
        "an older link dies with the password it was sent for"
    );
    // Every session ended (the epoch moved) voids links too.
    browser.post_form(
        "/login/reset",
        &[("csrf_token", &csrf), ("email", "demo@example.com")],
    );
    let third = {
        let mails = backend.mails.borrow();
        let reset = mails
            .iter()
            .rev()
            .find(|m| m.subject.starts_with("Reset your"))
            .unwrap();
        link_in(&reset.text, "/login/reset")
    };
    backend.users.borrow_mut()[0].session_epoch += 1;
    assert_eq!(browser.get(&third).status, 400);
}

#[test]
fn a_mailed_code_signs_in_without_a_password() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let form = browser.get("/login/code");
    let sent = browser.post_form(
        "/login/code",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "demo@example.com"),
        ],
    );
    assert_eq!(sent.status, 200);
    let code = code_in(&backend.mails.borrow()[0].subject);
    let signed_in = browser.post_form(
        "/login/code",
        &[
            ("csrf_token", &hidden(&sent, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    assert_eq!(signed_in.status, 200, "{}", html(&signed_in));
    assert!(html(&browser.get("/account")).contains("demo@example.com"));
    // An address without an account: the same page, a mail saying so, and no code that works.
    let mut stranger = Browser::new(&config, &backend);
    let form = stranger.get("/login/code");
    let sent = stranger.post_form(
        "/login/code",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "nobody@example.com"),
        ],
    );
    assert_eq!(sent.status, 200);
    assert!(backend.mails.borrow()[1]
        .subject
        .contains("No Todo account"));
}

#[test]
fn mail_to_one_address_is_limited_whoever_asks() {
    let config = open_config();
    let backend = backend();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let mut browser = Browser::new(&config, &backend);
        let form = browser.get("/login/reset");
        let ip = format!("203.0.113.{i}");
        statuses.push(
            browser
                .send(
                    portcullis::http::Method::Post,
                    "/login/reset",
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("cf-connecting-ip", &ip),
                    ],
                    format!(
                        "csrf_token={}&email=demo%40example.com",
                        hidden(&form, "csrf_token")
                    )
                    .as_bytes(),
                )
                .status,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(backend.mails.borrow().len(), 5);
}

/// The same journeys on SQLite with the real migrations and the directory's SQL: the guess
/// counted in one statement, single use, the account made with its roles and terms in one batch.
#[test]
fn on_the_real_schema_sign_up_guesses_and_reset_hold() {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
    use portcullis::sql::Sql;
    let db = SqliteDb::migrated();
    common::block_on(db.batch(vec![
        ("INSERT INTO roles (id, name, created_at) VALUES ('rol_m', 'member', 1)", vec![]),
        (
            "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('usr_demo', 'demo@example.com', 'Demo', ?1, 1, 1)",
            vec![password_hash(PASSWORD).into()],
        ),
    ]))
    .unwrap();
    let memory = backend();
    let both = WithSqlUsers {
        db: &db,
        memory: &memory,
        now: common::browser::NOW,
    };
    let config = open_config();
    let mut browser = Browser::new(&config, &both);
    let sent = sign_up(&mut browser, "dee@example.org", "");
    assert_eq!(sent.status, 200);
    let code = code_in(&memory.mails.borrow()[0].subject);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let post = |browser: &mut Browser<'_, WithSqlUsers<'_>>, c: &str| {
        browser
            .post_form(
                "/signup/verify",
                &[
                    ("csrf_token", &hidden(&sent, "csrf_token")),
                    ("challenge", &hidden(&sent, "challenge")),
                    ("code", c),
                ],
            )
            .status
    };
    assert_eq!(post(&mut browser, wrong), 400);
    assert_eq!(post(&mut browser, &code), 303);
    let rows = common::block_on(db.query(
        "SELECT u.email_verified_at, u.terms_accepted, r.name AS role FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id WHERE u.email = 'dee@example.org'",
        vec![],
    ))
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["role"], "member");
    assert_eq!(rows[0]["terms_accepted"], "https://todo.example.com/legal");
    assert_eq!(rows[0]["email_verified_at"], common::browser::NOW);
    let attempts =
        common::block_on(db.query("SELECT attempts, used_at FROM email_challenges", vec![]))
            .unwrap();
    assert_eq!(
        (
            attempts[0]["attempts"].as_i64(),
            attempts[0]["used_at"].as_i64()
        ),
        (Some(2), Some(common::browser::NOW))
    );
    // A reset on SQLite: the password and the epoch move together, and the link dies.
    let mut other = Browser::new(&config, &both);
    let form = other.get("/login/reset");
    other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "demo@example.com"),
        ],
    );
    let link = link_in(&memory.mails.borrow()[1].text, "/login/reset");
    let page = other.get(&link);
    let set = other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
            ("password", NEW_PASSWORD),
        ],
    );
    assert_eq!(set.status, 200, "{}", html(&set));
    let demo = common::block_on(db.query(
        "SELECT session_epoch FROM users WHERE id = 'usr_demo'",
        vec![],
    ))
    .unwrap();
    assert_eq!(demo[0]["session_epoch"], 1);
    assert_eq!(other.get(&link).status, 400);
}

/// An administrator's call to the admin API, as the edge makes it (the route table, then the app).
fn admin_call<B: portcullis::ports::Backend, S: portcullis::sql::Sql>(
    config: &Config,
    backend: &B,
    sql: &S,
    method: portcullis::http::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    use portcullis::app::{App, Outcome};
    let head = portcullis::http::RequestHead::new(method, path)
        .with_header("authorization", &format!("Bearer {}", "a".repeat(32)))
        .with_header("content-type", "application/json");
    let app = App {
        config,
        backend,
        sql,
        now: common::browser::NOW,
    };
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let reply = match portcullis::routes::route(config, &head)
        .and_then(|e| common::block_on(app.serve(e, &head, &body)))
    {
        Ok(Outcome::Reply(r)) => r,
        Ok(other) => panic!("{other:?}"),
        Err(e) => e.to_reply(),
    };
    (reply.status, reply.json_body().unwrap_or_default())
}

#[test]
fn an_invitation_lets_one_address_in_once_with_its_roles() {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
    use portcullis::http::Method;
    use portcullis::sql::Sql;
    let db = SqliteDb::migrated();
    common::block_on(db.batch(vec![
        ("INSERT INTO roles (id, name, created_at) VALUES ('rol_m', 'member', 1)", vec![]),
        ("INSERT INTO users (id, email, name, created_at, updated_at) VALUES ('usr_demo', 'demo@example.com', 'Demo', 1, 1)", vec![]),
    ]))
    .unwrap();
    let memory = backend();
    let both = WithSqlUsers {
        db: &db,
        memory: &memory,
        now: common::browser::NOW,
    };
    let mut config = config_with(serde_json::json!({"sign_up": "invite"}));
    config.admin_token = Some(portcullis::primitives::secret::Secret::new("a".repeat(32)));
    // Refusals: no such role, a taken address, not an address.
    for (body, status) in [
        (
            serde_json::json!({"email": "fay@example.org", "roles": ["owner"]}),
            400,
        ),
        (serde_json::json!({"email": "demo@example.com"}), 409),
        (serde_json::json!({"email": "fay"}), 400),
    ] {
        let (got, answer) = admin_call(
            &config,
            &both,
            &db,
            Method::Post,
            "/admin/api/invitations",
            body.clone(),
        );
        assert_eq!(got, status, "{body} → {answer}");
    }
    assert!(memory.mails.borrow().is_empty());
    let (status, invitation) = admin_call(
        &config,
        &both,
        &db,
        Method::Post,
        "/admin/api/invitations",
        serde_json::json!({"email": "Fay@Example.org", "roles": ["member"]}),
    );
    assert_eq!(status, 201, "{invitation}");
    assert_eq!(invitation["email"], "fay@example.org");
    assert!(
        invitation.get("token").is_none() && !invitation.to_string().contains("invitation="),
        "the link is the invitee's alone"
    );
    let (_, listed) = admin_call(
        &config,
        &both,
        &db,
        Method::Get,
        "/admin/api/invitations",
        serde_json::Value::Null,
    );
    assert_eq!(listed["items"][0]["id"], invitation["id"]);
    let mail = memory.mails.borrow()[0].clone();
    assert_eq!(mail.to, "fay@example.org");
    let start = mail.text.find("/signup?invitation=").unwrap();
    let link = mail.text[start..].lines().next().unwrap().to_string();
    // Without the invitation, nothing; with it, the form for that address only.
    let mut browser = Browser::new(&config, &both);
    assert_eq!(browser.get("/signup").status, 403);
    let form = browser.get(&link);
    assert_eq!(form.status, 200, "{}", html(&form));
    assert!(html(&form).contains("value=\"fay@example.org\" readonly"));
    let post = |browser: &mut Browser<'_, WithSqlUsers<'_>>, email: &str| {
        browser.post_form(
            "/signup",
            &[
                ("csrf_token", &hidden(&form, "csrf_token")),
                ("invitation", &hidden(&form, "invitation")),
                ("return_to", ""),
                ("email", email),
                ("password", PASSWORD),
                ("terms", "accepted"),
            ],
        )
    };
    assert_eq!(
        post(&mut browser, "mallory@example.org").status,
        400,
        "the invitation is for its address only"
    );
    let made = post(&mut browser, "fay@example.org");
    assert_eq!(made.status, 303, "made and signed in: {}", html(&made));
    let roles = common::block_on(db.query("SELECT r.name FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id WHERE u.email = 'fay@example.org'", vec![])).unwrap();
    assert_eq!(roles[0]["name"], "member");
    let mut again = Browser::new(&config, &both);
    assert_eq!(again.get(&link).status, 400, "used");
    // A withdrawn invitation opens nothing.
    admin_call(
        &config,
        &both,
        &db,
        Method::Post,
        "/admin/api/invitations",
        serde_json::json!({"email": "gus@example.org"}),
    );
    let (_, listed) = admin_call(
        &config,
        &both,
        &db,
        Method::Get,
        "/admin/api/invitations",
        serde_json::Value::Null,
    );
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin_call(
            &config,
            &both,
            &db,
            Method::Delete,
            &format!("/admin/api/invitations/{id}"),
            serde_json::Value::Null
        )
        .0,
        204
    );
    assert_eq!(
        admin_call(
            &config,
            &both,
            &db,
            Method::Delete,
            &format!("/admin/api/invitations/{id}"),
            serde_json::Value::Null
        )
        .0,
        404
    );
    let text = memory.mails.borrow().last().unwrap().text.clone();
    let start = text.find("/signup?invitation=").unwrap();
    assert_eq!(again.get(text[start..].lines().next().unwrap()).status, 400);
}

/// The store calls each step makes, as BENCHMARKS.md's capacity table counts them: D1 reads and
/// writes (users, challenges), Durable Object charges (the mail and account counts), mails.
#[test]
fn each_step_makes_the_store_calls_the_capacity_table_counts() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let steps = |backend: &MemoryBackend| -> Vec<&'static str> {
        backend.calls.borrow_mut().drain(..).collect()
    };
    let form = browser.get("/signup");
    steps(&backend);
    let sent = browser.post_form(
        "/signup",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "cap@example.org"),
            ("password", PASSWORD),
            ("terms", "accepted"),
        ],
    );
    assert_eq!(sent.status, 200);
    // Two counts (source, recipient), the address looked up, the challenge stored; one mail.
    assert_eq!(
        steps(&backend),
        [
            "throttle_charge",
            "throttle_charge",
            "find_user_by_email",
            "put_challenge"
        ]
    );
    let code = code_in(&backend.mails.borrow()[0].subject);
    browser.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&sent, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    // The guess counted (a D1 write that returns the row), used up, the network's count, the account.
    assert_eq!(
        steps(&backend),
        [
            "count_attempt",
            "use_challenge",
            "throttle_charge",
            "create_account"
        ]
    );
    let mut other = Browser::new(&config, &backend);
    let form = other.get("/login/reset");
    steps(&backend);
    other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "demo@example.com"),
        ],
    );
    assert_eq!(
        steps(&backend),
        [
            "throttle_charge",
            "throttle_charge",
            "find_user_by_email",
            "put_challenge"
        ]
    );
    let link = link_in(&backend.mails.borrow()[1].text, "/login/reset");
    let page = other.get(&link);
    steps(&backend);
    other.post_form(
        "/login/reset",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
            ("password", NEW_PASSWORD),
        ],
    );
    // The link looked up, its account read, used up, the password and epoch set in one batch,
    // then whether the account has a second factor to ask for before the session.
    assert_eq!(
        steps(&backend),
        [
            "challenge_by_link",
            "find_user",
            "use_challenge",
            "reset_password",
            "second_factor"
        ]
    );
    assert_eq!(
        backend.mails.borrow().len(),
        3,
        "the code, the link, the notice of the change"
    );
}

/// On a `user_http` plugin a stranger signs up, lands on the account page and makes the key
/// they will paste into ChatGPT, with no administrator.
#[test]
fn on_a_user_http_plugin_a_stranger_signs_up_and_makes_their_own_key() {
    let mut raw = todo_plugin(serde_json::json!({"sign_up": "open"}), true);
    raw.plugin.as_mut().unwrap()["auth"] =
        serde_json::json!({"type": "user_http", "authorization_type": "bearer"});
    let config = Config::parse(raw).unwrap();
    assert!(config.oauth.is_none());
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    let sent = sign_up(&mut browser, "lead@example.org", "");
    assert_eq!(sent.status, 200, "{}", html(&sent));
    let code = code_in(&backend.mails.borrow()[0].subject);
    let made = browser.post_form(
        "/signup/verify",
        &[
            ("csrf_token", &hidden(&sent, "csrf_token")),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    assert_eq!(made.header("location"), Some("/account"));
    let account = browser.get("/account");
    assert_eq!(account.status, 200);
    let page = html(&account);
    assert!(
        page.contains("lead@example.org") && page.contains("value=\"create-key\""),
        "{page}"
    );
}

/// Every new form refuses a post without this browser's CSRF token, and changes nothing.
#[test]
fn every_new_form_refuses_a_post_from_elsewhere() {
    let config = open_config();
    let backend = backend();
    let mut browser = Browser::new(&config, &backend);
    // A session and CSRF cookie of the browser's own, so only the token is missing or wrong.
    let form = browser.get("/signup");
    let sent = browser.post_form(
        "/signup",
        &[
            ("csrf_token", &hidden(&form, "csrf_token")),
            ("email", "x@example.org"),
            ("password", PASSWORD),
            ("terms", "accepted"),
        ],
    );
    let challenge = hidden(&sent, "challenge");
    let before = backend.stored();
    let mails = backend.mails.borrow().len();
    let forms: [(&str, Vec<(&str, &str)>); 6] = [
        (
            "/signup",
            vec![
                ("email", "y@example.org"),
                ("password", PASSWORD),
                ("terms", "accepted"),
            ],
        ),
        (
            "/signup/verify",
            vec![("challenge", &challenge), ("code", "123456")],
        ),
        ("/login/reset", vec![("email", "demo@example.com")]),
        (
            "/login/reset",
            vec![("token", "a".repeat(43).leak()), ("password", NEW_PASSWORD)],
        ),
        ("/login/code", vec![("email", "demo@example.com")]),
        (
            "/login/code",
            vec![("challenge", &challenge), ("code", "123456")],
        ),
    ];
    for (path, fields) in &forms {
        for token in [
            None,
            Some("forged"),
            Some(hidden(&form, "csrf_token").leak() as &str),
        ] {
            let mut pairs = fields.clone();
            if let Some(t) = token {
                pairs.push(("csrf_token", t));
            }
            let mut stranger = Browser::new(&config, &backend);
            let r = stranger.post_form(path, &pairs);
            assert_eq!(r.status, 403, "{path} with {token:?}: {}", html(&r));
        }
    }
    assert_eq!(backend.stored(), before);
    assert_eq!(backend.mails.borrow().len(), mails);
}

/// With Turnstile on, the sign-up form shows the widget (its script let in by the page's CSP,
/// and no other page's), and a sign-up whose token Siteverify does not pass sends and stores
/// nothing.
#[test]
fn turnstile_keeps_sign_ups_to_tokens_siteverify_passes() {
    use portcullis::ports::UpstreamResponse;
    let mut raw_config = todo_plugin(
        serde_json::json!({"sign_up": "open", "turnstile_site_key": "0x4AAAAAAAtest"}),
        true,
    );
    assert_eq!(
        Config::parse(raw_config.clone()).unwrap_err().key,
        "TURNSTILE_SECRET_KEY"
    );
    raw_config.turnstile_secret_key = Some("0x4AAAAAAAsecret".into());
    let config = Config::parse(raw_config).unwrap();
    let backend = backend();
    let verify = "POST https://challenges.cloudflare.com/turnstile/v0/siteverify";
    let mut browser = Browser::new(&config, &backend);
    let form = browser.get("/signup");
    let csp = form.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("script-src https://challenges.cloudflare.com")
            && csp.contains("frame-src https://challenges.cloudflare.com"),
        "{csp}"
    );
    assert!(html(&form).contains("data-sitekey=\"0x4AAAAAAAtest\""));
    assert!(
        !browser
            .get("/login")
            .header("content-security-policy")
            .unwrap()
            .contains("challenges.cloudflare.com"),
        "no other page lets Turnstile in"
    );
    let post = |browser: &mut Browser<'_>, token: Option<&str>| {
        let csrf = hidden(&form, "csrf_token");
        let mut fields = vec![
            ("csrf_token", csrf.as_str()),
            ("email", "bot@example.org"),
            ("password", PASSWORD),
            ("terms", "accepted"),
        ];
        if let Some(t) = token {
            fields.push(("cf-turnstile-response", t));
        }
        browser.post_form("/signup", &fields).status
    };
    let before = backend.stored();
    // No token; Siteverify down; Siteverify says no; a token solved on another site.
    assert_eq!(post(&mut browser, None), 403);
    assert_eq!(post(&mut browser, Some("tok-1")), 403);
    for answer in [
        r#"{"success":false,"error-codes":["invalid-input-response"]}"#,
        r#"{"success":true,"hostname":"elsewhere.example"}"#,
    ] {
        backend.upstream_answers.borrow_mut().insert(
            verify.into(),
            UpstreamResponse {
                status: 200,
                content_type: "application/json".into(),
                body: answer.as_bytes().to_vec(),
            },
        );
        assert_eq!(post(&mut browser, Some("tok-1")), 403, "{answer}");
    }
    assert_eq!(backend.stored(), before);
    assert!(backend.mails.borrow().is_empty());
    backend.upstream_answers.borrow_mut().insert(
        verify.into(),
        UpstreamResponse {
            status: 200,
            content_type: "application/json".into(),
            body: br#"{"success":true,"hostname":"todo.example.com"}"#.to_vec(),
        },
    );
    assert_eq!(post(&mut browser, Some("tok-2")), 200);
    assert_eq!(backend.mails.borrow().len(), 1);
    let sent = backend
        .upstream_requests
        .borrow()
        .last()
        .unwrap()
        .form
        .clone()
        .unwrap();
    assert!(
        sent.starts_with("secret=0x4AAAAAAAsecret&response=tok-2"),
        "{sent}"
    );
}

/// A signed-in browser on the open plugin, as the demo user.
fn signed_in<'a>(config: &'a Config, backend: &'a MemoryBackend) -> Browser<'a> {
    let mut browser = Browser::new(config, backend);
    let login = browser.get("/login");
    let r = browser.post_form(
        "/login",
        &[
            ("csrf_token", &hidden(&login, "csrf_token")),
            ("email", "demo@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 200, "{}", html(&r));
    browser
}

#[test]
fn a_user_changes_their_password_with_the_current_one_and_every_other_session_ends() {
    let config = open_config();
    let backend = backend();
    let mut other = signed_in(&config, &backend);
    let mut browser = signed_in(&config, &backend);
    let form = browser.get("/account/password");
    assert_eq!(form.status, 200);
    let csrf = hidden(&form, "csrf_token");
    let before = backend.stored();
    let wrong = browser.post_form(
        "/account/password",
        &[
            ("csrf_token", &csrf),
            ("current_password", "not it"),
            ("new_password", NEW_PASSWORD),
        ],
    );
    assert_eq!(wrong.status, 403);
    let short = browser.post_form(
        "/account/password",
        &[
            ("csrf_token", &csrf),
            ("current_password", PASSWORD),
            ("new_password", "short"),
        ],
    );
    assert_eq!(short.status, 400);
    assert_eq!(backend.stored(), before, "refusals change nothing");
    let changed = browser.post_form(
        "/account/password",
        &[
            ("csrf_token", &csrf),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    );
    assert_eq!(changed.status, 303);
    assert!(
        html(&browser.get("/account")).contains("demo@example.com"),
        "this browser stays signed in"
    );
    assert!(
        html(&other.get("/account")).contains("action=\"/login\""),
        "every other session ended"
    );
    assert!(backend
        .mails
        .borrow()
        .last()
        .unwrap()
        .subject
        .contains("was changed"));
}

#[test]
fn a_new_address_replaces_the_old_only_once_proven_and_the_old_one_is_told() {
    let config = open_config();
    let backend = backend();
    let mut browser = signed_in(&config, &backend);
    let form = browser.get("/account/email");
    let csrf = hidden(&form, "csrf_token");
    let sent = browser.post_form(
        "/account/email",
        &[("csrf_token", &csrf), ("email", "New@Example.org")],
    );
    assert_eq!(sent.status, 200, "{}", html(&sent));
    assert_eq!(
        backend.users.borrow()[0].email,
        "demo@example.com",
        "not before it is proven"
    );
    let mail = backend.mails.borrow()[0].clone();
    assert_eq!(mail.to, "new@example.org");
    let code = code_in(&mail.subject);
    let done = browser.post_form(
        "/account/email",
        &[
            ("csrf_token", &csrf),
            ("challenge", &hidden(&sent, "challenge")),
            ("code", &code),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
    assert_eq!(backend.users.borrow()[0].email, "new@example.org");
    let told = backend.mails.borrow()[1].clone();
    assert_eq!(told.to, "demo@example.com");
    assert!(
        !told.text.contains("new@example.org"),
        "the old address is told of the change, not the new address"
    );
    // The mailed link of a second change, opened in another browser, works once.
    let sent = browser.post_form(
        "/account/email",
        &[("csrf_token", &csrf), ("email", "third@example.org")],
    );
    assert_eq!(sent.status, 200);
    let link = link_in(&backend.mails.borrow()[2].text, "/account/email");
    let mut phone = Browser::new(&config, &backend);
    let page = phone.get(&link);
    let done = phone.post_form(
        "/account/email",
        &[
            ("csrf_token", &hidden(&page, "csrf_token")),
            ("token", &hidden(&page, "token")),
        ],
    );
    assert_eq!(done.status, 200, "{}", html(&done));
    assert_eq!(backend.users.borrow()[0].email, "third@example.org");
    assert_eq!(phone.get(&link).status, 400);
}

#[test]
fn a_user_downloads_their_data_and_deletes_their_account() {
    let config = open_config();
    let backend = backend();
    let mut browser = signed_in(&config, &backend);
    let export = browser.get("/account/export");
    assert_eq!(export.status, 200);
    assert!(export
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let data: serde_json::Value = serde_json::from_slice(&export.body).unwrap();
    assert_eq!(data["profile"]["email"], "demo@example.com");
    assert!(
        data["identities"].is_array() && data["apps"].is_array() && data["api_keys"].is_array()
    );
    assert!(
        !String::from_utf8_lossy(&export.body).contains("pbkdf2"),
        "no password hash in the export"
    );
    let form = browser.get("/account/delete");
    let csrf = hidden(&form, "csrf_token");
    let before = backend.stored();
    for (confirm, password, status) in [
        ("someone@else.example", PASSWORD, 400),
        ("demo@example.com", "wrong", 403),
    ] {
        let r = browser.post_form(
            "/account/delete",
            &[
                ("csrf_token", &csrf),
                ("confirm", confirm),
                ("current_password", password),
            ],
        );
        assert_eq!(r.status, status);
    }
    let mut stranger = Browser::new(&config, &backend);
    assert_eq!(
        stranger
            .post_form(
                "/account/delete",
                &[
                    ("csrf_token", &csrf),
                    ("confirm", "demo@example.com"),
                    ("current_password", PASSWORD)
                ]
            )
            .status,
        200,
        "a stranger gets the sign-in page"
    );
    assert_eq!(backend.stored(), before, "refusals change nothing");
    let gone = browser.post_form(
        "/account/delete",
        &[
            ("csrf_token", &csrf),
            ("confirm", "Demo@Example.com"),
            ("current_password", PASSWORD),
        ],
    );
    assert_eq!(gone.status, 200, "{}", html(&gone));
    assert!(backend.users.borrow().is_empty());
    assert!(html(&browser.get("/account")).contains("action=\"/login\""));
}

#[test]
fn on_the_real_schema_a_deleted_account_takes_its_rows_and_leaves_a_record_but_not_while_a_plan_is_paid(
) {
    use common::sqlite::SqliteDb;
    use common::WithSqlUsers;
    use portcullis::ports::{Deletion, OwnAccount};
    use portcullis::sql::Sql;
    let db = SqliteDb::migrated();
    common::block_on(db.batch(vec![
        ("INSERT INTO users (id, email, name, created_at, updated_at) VALUES ('usr_a', 'a@example.com', 'A', 1, 1), ('usr_b', 'b@example.com', 'B', 1, 1)", vec![]),
        ("INSERT INTO user_identities (provider, subject, user_id, created_at, last_used_at) VALUES ('gh', '1', 'usr_a', 1, 1)", vec![]),
        ("INSERT INTO subscriptions (plugin, user_id, plan, status, stripe_subscription, stripe_customer, event_created, updated_at) VALUES ('todo', 'usr_b', 'pro', 'active', 'sub_1', 'cus_1', 1, 1)", vec![]),
    ]))
    .unwrap();
    let memory = backend();
    let both = WithSqlUsers {
        db: &db,
        memory: &memory,
        now: 100,
    };
    assert_eq!(
        common::block_on(both.delete_account("usr_b", BASE, 100)).unwrap(),
        Deletion::PaidPlan
    );
    assert_eq!(
        common::block_on(both.delete_account("usr_a", BASE, 100)).unwrap(),
        Deletion::Deleted
    );
    assert_eq!(
        common::block_on(both.delete_account("usr_a", BASE, 101)).unwrap(),
        Deletion::Gone
    );
    let left = |sql: &'static str| common::block_on(db.query(sql, vec![])).unwrap();
    assert_eq!(left("SELECT id FROM users").len(), 1);
    assert!(left("SELECT * FROM user_identities").is_empty());
    let record = left("SELECT * FROM account_deletions");
    assert_eq!(
        (record.len(), record[0]["user_id"].as_str()),
        (1, Some("usr_a"))
    );
    assert!(common::block_on(both.change_email("usr_b", "B2@example.com", 100)).unwrap());
    common::block_on(db.batch(vec![("INSERT INTO users (id, email, name, created_at, updated_at) VALUES ('usr_c', 'c@example.com', 'C', 1, 1)", vec![])])).unwrap();
    assert!(
        !common::block_on(both.change_email("usr_c", "b2@example.com", 100)).unwrap(),
        "taken, in any case"
    );
}
