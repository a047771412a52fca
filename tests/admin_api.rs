//! The admin API on the library, over SQLite with the project's migrations: the same SQL D1 runs.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::sqlite::SqliteDb;
use common::{block_on, issued_grant, MemoryBackend};
use portcullis::admin::{authorize_admin, Admin};
use portcullis::directory::SqlDirectory;
use portcullis::http::{Method, Reply, RequestHead};
use portcullis::oauth::client::{Client, ClientKind, ClientOrigin};
use portcullis::oauth::grant_stores::Grants;
use portcullis::ports::{
    AccountStore, ClientRegistry, IdentityStore, KeptTokens, LinkedIdentity, NewFederatedUser,
    PolicyStore, ProvisionOutcome, RegisteredClient, RegistrationOutcome, UpstreamTokenStore,
    UserDirectory,
};
use portcullis::primitives::secret::Secret;
use portcullis::rbac::scope::{decide_scopes, parse_scope};
use portcullis::routes::{AdminRoute, ADMIN_API_PREFIX};
use serde_json::{json, Value};

const NOW: i64 = 1_790_000_000;

struct Fixture {
    db: SqliteDb,
    backend: MemoryBackend,
    rsa_signing: bool,
    /// The plugin's configuration, for the handlers that read it (plans, routes).
    site: Option<portcullis::config::PluginConfig>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            db: SqliteDb::migrated(),
            backend: MemoryBackend::default(),
            rsa_signing: true,
            site: None,
        }
    }

    fn call(&self, method: Method, target: &str, body: Value) -> (u16, Value) {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (target, None),
        };
        let mut head = RequestHead::new(method, path);
        head.query = query;
        let route = AdminRoute::from_path(path.strip_prefix(ADMIN_API_PREFIX).unwrap());
        let quota = portcullis::quota::Quota {
            limit: 100,
            period_secs: 3600,
        };
        let admin = Admin {
            sql: &self.db,
            backend: &self.backend,
            now: NOW,
            quota: Some(("todo", quota)),
            rsa_signing: self.rsa_signing,
            plugin: "todo",
            site: self.site.as_ref(),
        };
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let reply: Reply = match block_on(admin.serve(route, &head, &bytes)) {
            Ok(r) => r,
            Err(e) => e.to_reply(),
        };
        let json = reply.json_body().unwrap_or(Value::Null);
        (reply.status, json)
    }

    fn post(&self, target: &str, body: Value) -> (u16, Value) {
        self.call(Method::Post, target, body)
    }

    fn count(&self, table: &str) -> i64 {
        self.db
            .conn
            .borrow()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

#[test]
fn a_resource_role_and_user_give_exactly_the_held_scopes() {
    let f = Fixture::new();
    let (status, resource) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://api.example.com/notes", "name": "Notes"}),
    );
    assert_eq!(status, 201, "{resource}");
    let rid = resource["id"].as_str().unwrap();
    for name in ["read", "write"] {
        assert_eq!(
            f.post(
                &format!("/admin/api/resources/{rid}/permissions"),
                json!({"name": name})
            )
            .0,
            201
        );
    }
    let (status, role) = f.post(
        "/admin/api/roles",
        json!({"name": "reader", "permissions": [format!("{rid}:read")]}),
    );
    assert_eq!(status, 201, "{role}");
    let (status, user) = f.post(
        "/admin/api/users",
        json!({"email": "ann@example.com", "password": "correct horse battery", "roles": [role["id"]]}),
    );
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["roles"][0]["name"], "reader");
    assert!(user.get("password_hash").is_none());

    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let found = block_on(directory.find_user_by_email("ANN@example.com"))
        .unwrap()
        .unwrap();
    let context = block_on(directory.scope_context(
        &found.id,
        None,
        Some("https://api.example.com/notes"),
        "https://other.example.com",
        "[]",
    ))
    .unwrap();
    let grant = decide_scopes(
        &parse_scope("read write"),
        Some("https://api.example.com/notes"),
        &context,
    )
    .unwrap();
    assert_eq!(grant.scopes, vec!["read"]);
    assert_eq!(
        grant.resource.unwrap().indicator,
        "https://api.example.com/notes"
    );
}

#[test]
fn field_errors_name_every_field_and_write_nothing() {
    let f = Fixture::new();
    let (status, body) = f.post(
        "/admin/api/users",
        json!({"email": "not-an-email", "password": "short", "name": "x".repeat(300)}),
    );
    assert_eq!(status, 400);
    let fields = body["fields"].as_object().unwrap();
    for field in ["email", "password", "name"] {
        assert!(fields.contains_key(field), "{field} in {body}");
    }
    assert_eq!(f.count("users"), 0);
}

#[test]
fn duplicate_emails_are_409_naming_the_field() {
    let f = Fixture::new();
    assert_eq!(
        f.post("/admin/api/users", json!({"email": "a@example.com"}))
            .0,
        201
    );
    let (status, body) = f.post("/admin/api/users", json!({"email": "A@example.com"}));
    assert_eq!(status, 409);
    assert!(body["fields"]["email"].is_string());
    assert_eq!(f.count("users"), 1);
}

#[test]
fn unknown_roles_refuse_the_whole_user() {
    let f = Fixture::new();
    let (status, body) = f.post(
        "/admin/api/users",
        json!({"email": "b@example.com", "roles": ["rol_nope"]}),
    );
    assert_eq!(status, 400);
    assert!(body["fields"]["roles"].is_string());
    assert_eq!(f.count("users"), 0, "no partial write");
}

#[test]
fn indicators_must_be_absolute_uris() {
    let f = Fixture::new();
    let (status, body) = f.post(
        "/admin/api/resources",
        json!({"indicator": "notes", "name": "Notes"}),
    );
    assert_eq!(status, 400);
    assert!(body["fields"]["indicator"].is_string());
}

#[test]
fn a_resource_chooses_its_access_token_algorithm() {
    let f = Fixture::new();
    let (status, created) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://a.example.com", "name": "A"}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["access_token_alg"], "EdDSA", "EdDSA is the default");
    let path = format!("/admin/api/resources/{}", created["id"].as_str().unwrap());
    let (status, changed) = f.call(Method::Patch, &path, json!({"access_token_alg": "RS256"}));
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["access_token_alg"], "RS256");
    // Other changes leave it alone.
    let (_, renamed) = f.call(Method::Patch, &path, json!({"name": "B"}));
    assert_eq!(renamed["access_token_alg"], "RS256");
    let (_, listed) = f.call(Method::Get, "/admin/api/resources", Value::Null);
    assert_eq!(listed["items"][0]["access_token_alg"], "RS256");
    // The token endpoint learns it with the resource.
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let context =
        block_on(directory.scope_context("nobody", None, Some("https://a.example.com"), "", "[]"))
            .unwrap();
    assert_eq!(
        context.resource.unwrap().access_token_alg,
        portcullis::jose::keys::SigningAlg::Rs256
    );
}

#[test]
fn an_unknown_access_token_algorithm_is_a_field_error() {
    let f = Fixture::new();
    for alg in [json!("HS256"), json!("none"), json!("rs256"), json!(256)] {
        let (status, body) = f.post(
            "/admin/api/resources",
            json!({"indicator": "https://a.example.com", "name": "A", "access_token_alg": alg}),
        );
        assert_eq!(status, 400, "{alg}");
        assert!(body["fields"]["access_token_alg"].is_string(), "{body}");
    }
    assert_eq!(f.count("api_resources"), 0);
}

#[test]
fn rs256_is_refused_without_an_rsa_key() {
    let mut f = Fixture::new();
    f.rsa_signing = false;
    let (status, body) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://a.example.com", "name": "A", "access_token_alg": "RS256"}),
    );
    assert_eq!(status, 400);
    assert!(body["fields"]["access_token_alg"]
        .as_str()
        .unwrap()
        .contains("RSA_SIGNING_KEY"));
    let (status, _) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://a.example.com", "name": "A", "access_token_alg": "EdDSA"}),
    );
    assert_eq!(status, 201);
}

#[test]
fn only_one_resource_is_default() {
    let f = Fixture::new();
    let (_, a) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://a.example.com", "name": "A", "default": true}),
    );
    let (_, b) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://b.example.com", "name": "B", "default": true}),
    );
    let (_, a) = f.call(
        Method::Get,
        &format!("/admin/api/resources/{}", a["id"].as_str().unwrap()),
        Value::Null,
    );
    assert_eq!(a["default"], false);
    assert_eq!(b["default"], true);
}

#[test]
fn client_secrets_are_shown_once_and_rotate() {
    let f = Fixture::new();
    let (status, client) = f.post(
        "/admin/api/clients",
        json!({"name": "My GPT", "kind": "confidential", "redirect_uris": ["https://chatgpt.com/aip/g-1/oauth/callback"]}),
    );
    assert_eq!(status, 201, "{client}");
    let secret = client["client_secret"].as_str().unwrap().to_string();
    let id = client["id"].as_str().unwrap();
    let (_, fetched) = f.call(
        Method::Get,
        &format!("/admin/api/clients/{id}"),
        Value::Null,
    );
    assert!(fetched.get("client_secret").is_none());
    let (_, rotated) = f.post(&format!("/admin/api/clients/{id}/secret"), Value::Null);
    assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);
}

#[test]
fn a_client_that_must_use_dpop_is_stored_so_by_both_ways_in() {
    let f = Fixture::new();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let (status, client) = f.post(
        "/admin/api/clients",
        json!({"name": "Agent", "kind": "public", "redirect_uris": ["http://127.0.0.1/cb"], "dpop_bound_access_tokens": true}),
    );
    assert_eq!(status, 201, "{client}");
    let id = client["id"].as_str().unwrap().to_string();
    assert_eq!(client["dpop_bound_access_tokens"], true);
    assert!(
        block_on(directory.find_client(&id))
            .unwrap()
            .unwrap()
            .dpop_bound
    );
    let (status, changed) = f.call(
        Method::Patch,
        &format!("/admin/api/clients/{id}"),
        json!({"dpop_bound_access_tokens": false}),
    );
    assert_eq!(status, 200, "{changed}");
    assert!(
        !block_on(directory.find_client(&id))
            .unwrap()
            .unwrap()
            .dpop_bound
    );
    let (status, refused) = f.call(
        Method::Patch,
        &format!("/admin/api/clients/{id}"),
        json!({"dpop_bound_access_tokens": "yes"}),
    );
    assert_eq!(status, 400, "{refused}");
    // Self-registered with the metadata field.
    let mut r = registration("dcr_dpop", "198.51.100.7", NOW);
    r.client.dpop_bound = true;
    block_on(directory.register_client(&r)).unwrap();
    assert!(
        block_on(directory.find_client("dcr_dpop"))
            .unwrap()
            .unwrap()
            .dpop_bound
    );
}

#[test]
fn bad_redirect_uris_are_refused() {
    let f = Fixture::new();
    for uri in [
        "javascript:alert(1)",
        "http://evil.example.com/cb",
        "https://x.example.com/cb#frag",
    ] {
        let (status, body) = f.post(
            "/admin/api/clients",
            json!({"name": "X", "kind": "public", "redirect_uris": [uri]}),
        );
        assert_eq!(status, 400, "{uri}");
        assert!(body["fields"]["redirect_uris"].is_string());
    }
    assert_eq!(f.count("oauth_clients"), 0);
}

#[test]
fn a_client_name_with_invisible_or_reordering_characters_is_a_field_error() {
    let f = Fixture::new();
    for name in [
        "Acme\u{202E}",
        "Ac\u{200B}me",
        "\u{FEFF}Acme",
        "Acme\u{E0041}",
    ] {
        let (status, body) = f.post(
            "/admin/api/clients",
            json!({"name": name, "kind": "public", "redirect_uris": ["https://app.example.com/cb"]}),
        );
        assert_eq!(status, 400, "{name:?}");
        let why = body["fields"]["name"].as_str().unwrap_or_default();
        assert!(why.contains("U+"), "{name:?}: {body}");
    }
    assert_eq!(f.count("oauth_clients"), 0);
    // Right-to-left names are names like any other.
    let (status, body) = f.post(
        "/admin/api/clients",
        json!({"name": "אפליקציית פתקים", "kind": "public", "redirect_uris": ["https://app.example.com/cb"]}),
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn api_keys_are_shown_once_and_revocable() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "k@example.com"}));
    let (status, key) = f.post(
        "/admin/api/api-keys",
        json!({"user_id": user["id"], "name": "laptop", "scopes": "read"}),
    );
    assert_eq!(status, 201, "{key}");
    let plain = key["key"].as_str().unwrap();
    assert!(plain.starts_with(key["prefix"].as_str().unwrap()));
    // Issued for the plugin whose admin API was called, the only one it works at.
    assert_eq!(key["plugin"], "todo");
    let stored: String =
        f.db.conn
            .borrow()
            .query_row("SELECT key_hash FROM api_keys", [], |r| r.get(0))
            .unwrap();
    assert!(!stored.contains(plain));
    let (status, revoked) = f.call(
        Method::Delete,
        &format!("/admin/api/api-keys/{}", key["id"].as_str().unwrap()),
        Value::Null,
    );
    assert_eq!(status, 200);
    assert_eq!(revoked["revoked_at"], NOW);
}

#[test]
fn lists_paginate_by_cursor() {
    let f = Fixture::new();
    for i in 0..5 {
        f.post(
            "/admin/api/users",
            json!({"email": format!("u{i}@example.com")}),
        );
    }
    let (_, first) = f.call(Method::Get, "/admin/api/users?limit=2", Value::Null);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = f.call(
        Method::Get,
        &format!("/admin/api/users?limit=2&after={cursor}"),
        Value::Null,
    );
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    let (status, _) = f.call(Method::Get, "/admin/api/users?limit=0", Value::Null);
    assert_eq!(status, 400);
}

#[test]
fn replacing_a_users_roles_is_atomic() {
    let f = Fixture::new();
    let (_, role) = f.post("/admin/api/roles", json!({"name": "r1"}));
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "r@example.com", "roles": [role["id"]]}),
    );
    let uid = user["id"].as_str().unwrap();
    let (status, _) = f.call(
        Method::Put,
        &format!("/admin/api/users/{uid}/roles"),
        json!({"roles": [role["id"], "rol_missing"]}),
    );
    assert_eq!(status, 400);
    let (_, after) = f.call(Method::Get, &format!("/admin/api/users/{uid}"), Value::Null);
    assert_eq!(
        after["roles"].as_array().unwrap().len(),
        1,
        "the old set is intact"
    );
}

#[test]
fn unknown_ids_and_methods_are_404_and_405() {
    let f = Fixture::new();
    assert_eq!(
        f.call(Method::Get, "/admin/api/users/usr_nope", Value::Null)
            .0,
        404
    );
    assert_eq!(
        f.call(Method::Delete, "/admin/api/roles/rol_nope", Value::Null)
            .0,
        404
    );
    assert_eq!(f.call(Method::Put, "/admin/api/users", Value::Null).0, 405);
    assert_eq!(
        f.call(Method::Get, "/admin/api/nothing", Value::Null).0,
        404
    );
    assert_eq!(f.post("/admin/api/users", json!([1, 2])).0, 400);
}

#[test]
fn sql_injection_in_fields_is_just_data() {
    let f = Fixture::new();
    let (status, user) = f.post("/admin/api/users", json!({"email": "x');DROP-TABLE-users;--@example.com", "name": "Robert'); DROP TABLE users;--"}));
    assert_eq!(status, 201, "{user}");
    assert_eq!(f.count("users"), 1);
    assert_eq!(user["name"], "Robert'); DROP TABLE users;--");
}

#[test]
fn the_admin_credential_is_checked() {
    let token = Secret::new("t".repeat(40));
    let ok = RequestHead::new(Method::Get, "/admin/api/users")
        .with_header("authorization", &format!("Bearer {}", "t".repeat(40)));
    assert!(authorize_admin(&ok, &token).is_ok());
    let wrong = RequestHead::new(Method::Get, "/admin/api/users")
        .with_header("authorization", "Bearer nope");
    assert_eq!(authorize_admin(&wrong, &token).unwrap_err().status(), 401);
    let none = RequestHead::new(Method::Get, "/admin/api/users");
    assert_eq!(authorize_admin(&none, &token).unwrap_err().status(), 401);
    // An operator's token need not be token68: a passphrase works as it was set.
    let phrase = "correct horse battery staple! #admin@example";
    let chosen = Secret::new(phrase.into());
    let sent = RequestHead::new(Method::Get, "/admin/api/users")
        .with_header("authorization", &format!("Bearer {phrase}"));
    assert!(authorize_admin(&sent, &chosen).is_ok());
    let basic = RequestHead::new(Method::Get, "/admin/api/users")
        .with_header("authorization", &format!("Basic {phrase}"));
    assert_eq!(authorize_admin(&basic, &chosen).unwrap_err().status(), 401);
}

#[test]
fn lists_carry_what_the_console_shows_in_one_query_per_page() {
    let f = Fixture::new();
    let (_, res) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://n.example.com", "name": "N"}),
    );
    let rid = res["id"].as_str().unwrap();
    for name in ["read", "write"] {
        f.post(
            &format!("/admin/api/resources/{rid}/permissions"),
            json!({"name": name}),
        );
    }
    let mut role_ids = Vec::new();
    for i in 0..3 {
        let (_, role) = f.post(
            "/admin/api/roles",
            json!({"name": format!("r{i}"), "permissions": [format!("{rid}:read"), format!("{rid}:write")]}),
        );
        role_ids.push(role["id"].clone());
    }
    for i in 0..5 {
        f.post(
            "/admin/api/users",
            json!({"email": format!("l{i}@example.com"), "roles": role_ids}),
        );
        f.post(
            "/admin/api/clients",
            json!({"name": format!("c{i}"), "kind": "confidential", "roles": role_ids}),
        );
    }
    // Each page, whatever it holds, is one query: the nested lists come aggregated with it.
    let page = |path: &str| {
        *f.db.round_trips.borrow_mut() = 0;
        let (status, body) = f.call(Method::Get, path, Value::Null);
        assert_eq!(status, 200, "{body}");
        assert_eq!(*f.db.round_trips.borrow(), 1, "{path}");
        body
    };
    let users = page("/admin/api/users");
    assert_eq!(users["items"].as_array().unwrap().len(), 5);
    assert_eq!(users["items"][4]["roles"].as_array().unwrap().len(), 3);
    let roles = page("/admin/api/roles");
    assert_eq!(
        roles["items"][2]["permissions"].as_array().unwrap().len(),
        2
    );
    let resources = page("/admin/api/resources");
    assert_eq!(resources["items"][0]["permissions"][1]["name"], "write");
    let clients = page("/admin/api/clients?limit=3");
    assert_eq!(clients["items"].as_array().unwrap().len(), 3);
    assert_eq!(clients["items"][2]["roles"].as_array().unwrap().len(), 3);
    let cursor = clients["next_cursor"].as_str().unwrap();
    let rest = page(&format!("/admin/api/clients?limit=3&after={cursor}"));
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
}

/// A grant with its code issued to `user_id` for ChatGPT, as `/authorize` leaves it.
fn chatgpt_grant(grant_id: &str, user_id: &str) -> portcullis::oauth::grant::GrantState {
    issued_grant(grant_id, user_id, "chatgpt", NOW)
}

#[test]
fn disabling_a_user_revokes_their_grants() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "d@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let grant = chatgpt_grant(&"g".repeat(22), &uid);
    f.backend
        .grants
        .borrow_mut()
        .insert(grant.grant_id.clone(), grant.clone());
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    block_on(portcullis::ports::AccountStore::record_grant(
        &directory, &grant,
    ))
    .unwrap();
    let (status, _) = f.call(
        Method::Patch,
        &format!("/admin/api/users/{uid}"),
        json!({"disabled": true}),
    );
    assert_eq!(status, 200);
    assert!(f.backend.grants.borrow()[&grant.grant_id].revoked);
    let revoked: Option<i64> =
        f.db.conn
            .borrow()
            .query_row("SELECT revoked_at FROM user_grants", [], |r| r.get(0))
            .unwrap();
    assert_eq!(revoked, Some(NOW));
}

/// A user's grants, started in the ledger (memory) and indexed in SQLite, as the server does.
fn started_grants(f: &Fixture, uid: &str, count: usize) -> Vec<String> {
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    (0..count)
        .map(|i| {
            let grant = chatgpt_grant(&format!("{i}").repeat(22), uid);
            block_on(Grants::new(&f.backend, &directory).start(&grant)).unwrap();
            grant.grant_id
        })
        .collect()
}

fn revocation_columns(f: &Fixture) -> Vec<(Option<i64>, Option<i64>)> {
    let conn = f.db.conn.borrow();
    let mut q = conn
        .prepare("SELECT revoke_requested_at, revoked_at FROM user_grants ORDER BY grant_id")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_sweep_the_ledger_interrupts_is_finished_by_the_repair() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "s@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let ids = started_grants(&f, &uid, 2);
    *f.backend.failing.borrow_mut() = vec!["revoke_grant"];
    let (status, body) = f.call(
        Method::Patch,
        &format!("/admin/api/users/{uid}"),
        json!({"disabled": true}),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        revocation_columns(&f),
        vec![(Some(NOW), None), (Some(NOW), None)],
        "both intents are recorded before any ledger is told; none is marked done"
    );
    f.backend.failing.borrow_mut().clear();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let repaired = block_on(Grants::new(&f.backend, &directory).finish_interrupted(NOW + 60));
    assert_eq!(repaired.unwrap().finished, 2);
    for id in &ids {
        assert!(f.backend.grants.borrow()[id].revoked);
    }
    assert_eq!(
        revocation_columns(&f),
        vec![(Some(NOW), Some(NOW + 60)), (Some(NOW), Some(NOW + 60))]
    );
    assert!(block_on(directory.unfinished_revocations(10))
        .unwrap()
        .is_empty());
}

#[test]
fn revocation_intents_are_recorded_once_and_listed_oldest_first() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "i@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let ids = started_grants(&f, &uid, 3);
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    block_on(directory.request_revocation(&ids[2], NOW + 5)).unwrap();
    block_on(directory.request_revocation(&ids[2], NOW + 9)).unwrap();
    block_on(directory.request_revocation("unknown-grant", NOW)).unwrap();
    block_on(directory.mark_grant_revoked(&ids[1], NOW + 1)).unwrap();
    let swept = block_on(directory.request_revocations_of(&uid, NOW + 7)).unwrap();
    let mut swept_sorted = swept.clone();
    swept_sorted.sort();
    assert_eq!(
        swept_sorted,
        vec![ids[0].clone(), ids[2].clone()],
        "the sweep names the grants not yet revoked"
    );
    assert_eq!(
        revocation_columns(&f),
        vec![
            (Some(NOW + 7), None),
            (None, Some(NOW + 1)),
            (Some(NOW + 5), None),
        ],
        "an intent keeps its first time; a revoked grant gets none"
    );
    assert_eq!(
        block_on(directory.unfinished_revocations(10)).unwrap(),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        block_on(directory.unfinished_revocations(1)).unwrap().len(),
        1
    );
}

#[test]
fn the_grant_index_names_the_grants_user_and_what_they_hold_in_one_read_until_the_user_is_deleted()
{
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "g@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let grant = chatgpt_grant(&"i".repeat(22), &uid);
    block_on(AccountStore::record_grant(&directory, &grant)).unwrap();
    let holder = |id: &str| block_on(directory.holder_of_grant(id, "[]")).unwrap();
    let found = holder(&grant.grant_id).unwrap();
    assert_eq!(
        (found.user.id.as_str(), found.user.disabled),
        (uid.as_str(), false)
    );
    assert_eq!(
        found.resource,
        grant.resource.as_ref().map(|r| r.indicator.clone())
    );
    assert_eq!(
        found.permissions,
        Vec::<String>::new(),
        "no role, no permission"
    );
    assert_eq!(holder("unknown"), None);
    f.call(
        Method::Patch,
        &format!("/admin/api/users/{uid}"),
        json!({"disabled": true}),
    );
    assert!(holder(&grant.grant_id).unwrap().user.disabled);
    f.call(
        Method::Delete,
        &format!("/admin/api/users/{uid}"),
        Value::Null,
    );
    assert_eq!(holder(&grant.grant_id), None);
}

#[test]
fn a_password_change_or_disabling_moves_the_session_epoch_and_other_edits_do_not() {
    let f = Fixture::new();
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "e@example.com", "password": "correct horse battery"}),
    );
    let uid = user["id"].as_str().unwrap().to_string();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let epoch = || {
        block_on(directory.find_user(&uid))
            .unwrap()
            .unwrap()
            .session_epoch
    };
    assert_eq!(epoch(), 0);
    let steps: [(Method, String, Value, i64); 6] = [
        (
            Method::Patch,
            format!("/admin/api/users/{uid}"),
            json!({"name": "E"}),
            0,
        ),
        (
            Method::Patch,
            format!("/admin/api/users/{uid}"),
            json!({"disabled": false}),
            0,
        ),
        (
            Method::Put,
            format!("/admin/api/users/{uid}/password"),
            json!({"password": "another long passphrase"}),
            1,
        ),
        (
            Method::Patch,
            format!("/admin/api/users/{uid}"),
            json!({"disabled": true}),
            2,
        ),
        (
            Method::Patch,
            format!("/admin/api/users/{uid}"),
            json!({"disabled": false}),
            2,
        ),
        (
            Method::Patch,
            format!("/admin/api/users/{uid}"),
            json!({"email": "e2@example.com"}),
            2,
        ),
    ];
    for (method, path, body, expected) in steps {
        let (status, reply) = f.call(method, &path, body.clone());
        assert_eq!(status, 200, "{body}: {reply}");
        assert_eq!(epoch(), expected, "after {body}");
    }
    block_on(directory.end_sessions(&uid)).unwrap();
    assert_eq!(epoch(), 3, "sign-out moves it on too");
}

#[test]
fn a_users_quota_is_visible_without_being_spent() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "q@example.com"}));
    let uid = user["id"].as_str().unwrap();
    let key = portcullis::quota::counter_key("todo", uid);
    let quota = portcullis::quota::Quota {
        limit: 100,
        period_secs: 3600,
    };
    for _ in 0..3 {
        block_on(portcullis::ports::Throttle::charge(
            &f.backend,
            &key,
            quota.limit,
            quota.period_secs,
            NOW as u64,
        ))
        .unwrap();
    }
    let (status, body) = f.call(
        Method::Get,
        &format!("/admin/api/users/{uid}/quota"),
        Value::Null,
    );
    assert_eq!(status, 200);
    assert_eq!(body["quota"]["used"], 3);
    assert_eq!(body["quota"]["remaining"], 97);
    let (_, again) = f.call(
        Method::Get,
        &format!("/admin/api/users/{uid}/quota"),
        Value::Null,
    );
    assert_eq!(again["quota"]["used"], 3, "looking does not count");
}

#[test]
fn the_console_shows_calls_made_not_calls_leased_and_when_the_quota_resets() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "l@example.com"}));
    let uid = user["id"].as_str().unwrap();
    let key = portcullis::quota::counter_key("todo", uid);
    let start = (NOW - NOW % 3600) as u64;
    let quota = |window: portcullis::quota::Window| {
        f.backend.counters.borrow_mut().insert(key.clone(), window);
        let (status, body) = f.call(
            Method::Get,
            &format!("/admin/api/users/{uid}/quota"),
            Value::Null,
        );
        assert_eq!(status, 200, "{body}");
        body["quota"].clone()
    };
    // One call made, and the rest of a lease held by the isolate that made it, not yet told.
    let held = quota(portcullis::quota::Window {
        start,
        used: 64,
        made: 1,
    });
    assert_eq!(
        (&held["used"], &held["used_exact"]),
        (&json!(64), &json!(false)),
        "{held}"
    );
    // The isolate told the counter and gave back what it held.
    let told = quota(portcullis::quota::Window {
        start,
        used: 1,
        made: 1,
    });
    assert_eq!(
        (&told["used"], &told["used_exact"], &told["remaining"]),
        (&json!(1), &json!(true), &json!(99)),
        "{told}"
    );
    assert_eq!(told["reset_secs"], 2800);
    assert_eq!(told["resets_in"], "47 min");
}

/// The plugin with a Pro plan of 10,000 calls a day (its free quota is the fixture's 100 an hour).
fn plugin_with_a_pro_plan() -> portcullis::config::PluginConfig {
    let mut config = portcullis::config::Config::parse(portcullis::config::RawConfig {
        public_base_url: Some("https://todo.example.com".into()),
        origin_url: Some("http://127.0.0.1:9".into()),
        plugin: Some(json!({
            "name_for_human": "Todo", "name_for_model": "todo",
            "description_for_human": "Todos.", "description_for_model": "Todos.",
            "logo_url": "/logo.svg", "contact_email": "a@example.com", "legal_info_url": "/legal",
            "auth": {"type": "oauth", "scope": "todos:read todos:write"},
            "quota": {"limit": 100, "period_secs": 3600}
        })),
        signing_key: Some("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into()),
        session_secret: Some("x".repeat(40)),
        ..Default::default()
    })
    .unwrap();
    config.plugin.plans.push(portcullis::billing::Plan {
        id: "pro".into(),
        name: "Pro".into(),
        roles: vec![],
        quota: Some(portcullis::quota::Quota {
            limit: 10_000,
            period_secs: 86_400,
        }),
        stripe_price: "price_pro".into(),
        includes: vec![],
    });
    config.plugin
}

#[test]
fn a_subscribers_quota_is_their_plans_not_the_free_one() {
    let mut f = Fixture::new();
    f.site = Some(plugin_with_a_pro_plan());
    let (_, payer) = f.post("/admin/api/users", json!({"email": "pro@example.com"}));
    let (_, free) = f.post("/admin/api/users", json!({"email": "free@example.com"}));
    let (payer, free) = (payer["id"].as_str().unwrap(), free["id"].as_str().unwrap());
    f.db.conn
        .borrow()
        .execute(
            "INSERT INTO subscriptions (plugin, user_id, plan, status, stripe_subscription, stripe_customer, current_period_end, event_created, updated_at) VALUES ('todo', ?1, 'pro', 'active', 'sub_1', 'cus_1', ?2, 1, 1)",
            rusqlite::params![payer, NOW + 86_400],
        )
        .unwrap();
    let pro = portcullis::quota::Quota {
        limit: 10_000,
        period_secs: 86_400,
    };
    block_on(portcullis::ports::Throttle::charge(
        &f.backend,
        &portcullis::quota::counter_key("todo", payer),
        pro.limit,
        pro.period_secs,
        NOW as u64,
    ))
    .unwrap();
    let quota = |id: &str| {
        let (status, body) = f.call(
            Method::Get,
            &format!("/admin/api/users/{id}/quota"),
            Value::Null,
        );
        assert_eq!(status, 200, "{body}");
        body["quota"].clone()
    };
    let shown = quota(payer);
    assert_eq!(
        (
            &shown["plan"],
            &shown["limit"],
            &shown["period_secs"],
            &shown["used"]
        ),
        (&json!("pro"), &json!(10_000), &json!(86_400), &json!(1)),
        "{shown}"
    );
    let shown = quota(free);
    assert_eq!(
        (&shown["plan"], &shown["limit"], &shown["period_secs"]),
        (&json!("free"), &json!(100), &json!(3600)),
        "{shown}"
    );
}

#[test]
fn without_a_named_resource_the_plugins_own_comes_before_the_default() {
    let f = Fixture::new();
    let mut ids = Vec::new();
    for (indicator, default) in [
        ("https://todo.example.com", true),
        ("https://weather.example.com", false),
    ] {
        let (status, resource) = f.post(
            "/admin/api/resources",
            json!({"indicator": indicator, "name": indicator, "default": default}),
        );
        assert_eq!(status, 201, "{resource}");
        let rid = resource["id"].as_str().unwrap().to_string();
        assert_eq!(
            f.post(
                &format!("/admin/api/resources/{rid}/permissions"),
                json!({"name": "read"})
            )
            .0,
            201
        );
        ids.push(rid);
    }
    let (_, role) = f.post(
        "/admin/api/roles",
        json!({"name": "both", "permissions": [format!("{}:read", ids[0]), format!("{}:read", ids[1])]}),
    );
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "bo@example.com", "password": "correct horse battery", "roles": [role["id"]]}),
    );
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let uid = user["id"].as_str().unwrap();
    let on = |site: &str| {
        let context = block_on(directory.scope_context(uid, None, None, site, "[]")).unwrap();
        let resource = context.resource.unwrap();
        // Only the chosen resource's permissions come back, once.
        assert_eq!(context.permissions, vec!["read"]);
        resource.indicator
    };
    assert_eq!(
        on("https://weather.example.com"),
        "https://weather.example.com"
    );
    assert_eq!(on("https://todo.example.com"), "https://todo.example.com");
    // A plugin whose resource is not registered falls back to the default one.
    assert_eq!(
        on("https://unregistered.example.com"),
        "https://todo.example.com"
    );
}

#[test]
fn registered_clients_expire_unless_a_grant_starts() {
    let f = Fixture::new();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    for id in ["dcr_used", "dcr_unused"] {
        let mut r = registration(id, "198.51.100.7", NOW);
        r.client.origin = ClientOrigin::Admin;
        r.expires_at = NOW + 100;
        block_on(directory.register_client(&r)).unwrap();
    }
    let found = block_on(directory.find_client("dcr_used"))
        .unwrap()
        .unwrap();
    assert_eq!(found.kind, ClientKind::Public);
    // Starting a grant keeps the client.
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "cy@example.com", "password": "correct horse battery"}),
    );
    let grant = portcullis::oauth::grant::GrantState {
        client_id: "dcr_used".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        ..chatgpt_grant("g1", user["id"].as_str().unwrap())
    };
    block_on(directory.record_grant(&grant)).unwrap();
    let later = SqlDirectory {
        sql: &f.db,
        now: NOW + 101,
    };
    assert!(
        block_on(later.find_client("dcr_unused")).unwrap().is_none(),
        "hidden once expired"
    );
    assert!(block_on(later.find_client("dcr_used")).unwrap().is_some());
    assert_eq!(block_on(later.purge_expired_clients()).unwrap(), 1);
    assert_eq!(f.count("oauth_clients"), 1);
    let (status, list) = f.call(Method::Get, "/admin/api/clients", Value::Null);
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["id"], "dcr_used");
}

fn registration(id: &str, network: &str, now: i64) -> RegisteredClient {
    RegisteredClient {
        client: Client {
            id: id.into(),
            name: "App".into(),
            secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            kind: ClientKind::Public,
            first_party: false,
            origin: ClientOrigin::Dynamic,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        },
        metadata: "{}".into(),
        created_at: now,
        expires_at: now + 86_400,
        network: network.into(),
    }
}

#[test]
fn unused_registrations_are_capped_per_network_and_then_refused_storing_nothing() {
    use portcullis::oauth::registration::MAX_UNUSED_REGISTRATIONS_PER_NETWORK;
    let f = Fixture::new();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let net = "2001:db8:1:2::/64";
    for i in 0..MAX_UNUSED_REGISTRATIONS_PER_NETWORK {
        let outcome =
            block_on(directory.register_client(&registration(&format!("dcr_{i}"), net, NOW)));
        assert_eq!(outcome, Ok(RegistrationOutcome::Stored));
    }
    let full = block_on(directory.register_client(&registration("dcr_over", net, NOW)));
    assert_eq!(full, Ok(RegistrationOutcome::NetworkFull));
    assert!(block_on(directory.find_client("dcr_over"))
        .unwrap()
        .is_none());
    assert_eq!(
        f.count("oauth_clients"),
        MAX_UNUSED_REGISTRATIONS_PER_NETWORK as i64
    );
    // Another network is not held back, and a day later the first may register again.
    let other = block_on(directory.register_client(&registration("dcr_b", "203.0.113.9", NOW)));
    assert_eq!(other, Ok(RegistrationOutcome::Stored));
    let tomorrow = NOW + 86_400;
    let again = block_on(directory.register_client(&registration("dcr_again", net, tomorrow)));
    assert_eq!(again, Ok(RegistrationOutcome::Stored));
}

#[test]
fn unused_registrations_are_capped_for_the_whole_deployment() {
    use portcullis::oauth::registration::MAX_UNUSED_REGISTRATIONS;
    let f = Fixture::new();
    {
        let conn = f.db.conn.borrow();
        let mut insert = conn
            .prepare(
                "INSERT INTO oauth_clients (id, name, redirect_uris, kind, created_at, expires_at, registered_via, registered_from) \
                 VALUES (?1, 'x', '[]', 'public', ?2, ?3, 'dynamic', ?4)",
            )
            .unwrap();
        for i in 0..MAX_UNUSED_REGISTRATIONS {
            insert
                .execute(rusqlite::params![
                    format!("dcr_{i}"),
                    NOW,
                    NOW + 86_400,
                    format!("198.51.{}.{}", i / 250, i % 250)
                ])
                .unwrap();
        }
    }
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let full = block_on(directory.register_client(&registration("dcr_new", "192.0.2.1", NOW)));
    assert_eq!(full, Ok(RegistrationOutcome::Full));
    assert_eq!(
        f.count("oauth_clients"),
        MAX_UNUSED_REGISTRATIONS as i64,
        "nothing stored"
    );
    // Clients that started a grant (no expiry) do not count.
    f.db.conn
        .borrow()
        .execute(
            "UPDATE oauth_clients SET expires_at = NULL WHERE id = 'dcr_0'",
            [],
        )
        .unwrap();
    let stored = block_on(directory.register_client(&registration("dcr_new", "192.0.2.1", NOW)));
    assert_eq!(stored, Ok(RegistrationOutcome::Stored));
}

fn ed25519_jwks(kid: &str) -> Value {
    let pair = ed25519_compact::KeyPair::generate();
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid,
        "x": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, pair.pk.as_ref())}]})
}

#[test]
fn private_key_jwt_clients_are_made_with_keys_and_no_secret_and_found_with_them() {
    use portcullis::oauth::client::ClientKeySet;
    let f = Fixture::new();
    let (status, by_uri) = f.post(
        "/admin/api/clients",
        json!({"name": "Agent", "kind": "confidential", "redirect_uris": ["https://agent.example/cb"],
               "jwks_uri": "https://agent.example/jwks.json"}),
    );
    assert_eq!(status, 201, "{by_uri}");
    assert!(by_uri.get("client_secret").is_none(), "keys, not a secret");
    assert_eq!(by_uri["token_endpoint_auth_method"], "private_key_jwt");
    let (status, inline) = f.post(
        "/admin/api/clients",
        json!({"name": "Agent 2", "kind": "confidential", "redirect_uris": ["https://agent.example/cb"],
               "jwks": ed25519_jwks("k1")}),
    );
    assert_eq!(status, 201, "{inline}");
    assert_eq!(inline["jwks"]["keys"][0]["kid"], "k1");
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let found = block_on(directory.find_client(by_uri["id"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(
        found.key_set,
        Some(ClientKeySet::Uri("https://agent.example/jwks.json".into()))
    );
    assert_eq!(found.kind, ClientKind::Confidential);
    let found = block_on(directory.find_client(inline["id"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert!(matches!(found.key_set, Some(ClientKeySet::Inline(ref k)) if k.len() == 1));

    // Keys rotate by PATCH; a secret client cannot take keys, nor a key client a secret.
    let id = inline["id"].as_str().unwrap();
    let (status, _) = f.call(
        Method::Patch,
        &format!("/admin/api/clients/{id}"),
        json!({"jwks": ed25519_jwks("k2")}),
    );
    assert_eq!(status, 200);
    let (status, body) = f.post(&format!("/admin/api/clients/{id}/secret"), Value::Null);
    assert_eq!(status, 400, "{body}");
    let (_, secret_client) = f.post(
        "/admin/api/clients",
        json!({"name": "S", "kind": "confidential", "redirect_uris": ["https://s.example/cb"]}),
    );
    let (status, body) = f.call(
        Method::Patch,
        &format!(
            "/admin/api/clients/{}",
            secret_client["id"].as_str().unwrap()
        ),
        json!({"jwks_uri": "https://s.example/jwks.json"}),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn bad_client_keys_are_field_errors_and_store_nothing() {
    let f = Fixture::new();
    for (body, field) in [
        (
            json!({"kind": "public", "jwks_uri": "https://a.example/jwks.json"}),
            "kind",
        ),
        (
            json!({"kind": "confidential", "jwks_uri": "http://a.example/jwks.json"}),
            "jwks_uri",
        ),
        (
            json!({"kind": "confidential", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "jwks",
        ),
        (
            json!({"kind": "confidential", "jwks": ed25519_jwks("a"), "jwks_uri": "https://a.example/j"}),
            "jwks",
        ),
    ] {
        let mut body = body;
        body["name"] = json!("X");
        body["redirect_uris"] = json!(["https://a.example/cb"]);
        let (status, answer) = f.post("/admin/api/clients", body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    assert_eq!(f.count("oauth_clients"), 0);
}

#[test]
fn a_machine_client_holds_roles_and_the_same_rbac_decides_its_scopes() {
    use portcullis::rbac::scope::decide_client_scopes;
    let f = Fixture::new();
    let (_, resource) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://api.example.com/reports", "name": "Reports", "default": true}),
    );
    let rid = resource["id"].as_str().unwrap();
    for name in ["read", "export"] {
        f.post(
            &format!("/admin/api/resources/{rid}/permissions"),
            json!({"name": name}),
        );
    }
    let (_, exporter) = f.post(
        "/admin/api/roles",
        json!({"name": "exporter", "permissions": [format!("{rid}:export")]}),
    );
    let (_, reader) = f.post(
        "/admin/api/roles",
        json!({"name": "reader", "permissions": [format!("{rid}:read")]}),
    );
    // A machine client needs no redirect URI, and takes its roles when it is made.
    let (status, client) = f.post(
        "/admin/api/clients",
        json!({"name": "Nightly export", "kind": "confidential", "roles": [exporter["id"]]}),
    );
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["redirect_uris"], json!([]));
    assert_eq!(client["roles"][0]["name"], "exporter");
    assert!(client["client_secret"].is_string());
    let id = client["id"].as_str().unwrap().to_string();
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let scopes = |requested: Option<&str>| {
        let context =
            block_on(directory.client_scope_context(&id, None, "https://other.example")).unwrap();
        let requested = requested.map(parse_scope);
        decide_client_scopes(requested.as_deref(), &context)
            .unwrap()
            .scopes
    };
    assert_eq!(scopes(None), vec!["export"]);
    assert_eq!(scopes(Some("read export")), vec!["export"]);
    // PUT replaces the roles; the listing shows them.
    let (status, body) = f.call(
        Method::Put,
        &format!("/admin/api/clients/{id}/roles"),
        json!({"roles": [exporter["id"], reader["id"]]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"].as_array().unwrap().len(), 2);
    assert_eq!(scopes(None), vec!["export", "read"]);
    let (_, listed) = f.call(Method::Get, "/admin/api/clients", Value::Null);
    let item = &listed["items"][0];
    assert_eq!(item["roles"].as_array().unwrap().len(), 2, "{listed}");
    // A user holding the same role is not the client: its roles are its own.
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "ann@example.com", "roles": [reader["id"]]}),
    );
    let context = block_on(directory.scope_context(
        user["id"].as_str().unwrap(),
        None,
        None,
        "https://other.example",
        "[]",
    ))
    .unwrap();
    assert_eq!(context.permissions, vec!["read"]);

    // Refusals name their field and change nothing.
    let (_, public) = f.post(
        "/admin/api/clients",
        json!({"name": "Browser app", "kind": "public", "redirect_uris": ["https://b.example/cb"]}),
    );
    let public_id = public["id"].as_str().unwrap().to_string();
    let before = f.count("client_roles");
    let refusals = [
        (
            Method::Put,
            format!("/admin/api/clients/{id}/roles"),
            json!({"roles": ["rol_nope"]}),
            "roles",
        ),
        (
            Method::Put,
            format!("/admin/api/clients/{id}/roles"),
            json!({}),
            "roles",
        ),
        (
            Method::Post,
            "/admin/api/clients".to_string(),
            json!({"name": "P", "kind": "public", "redirect_uris": ["https://p.example/cb"], "roles": [reader["id"]]}),
            "roles",
        ),
        (
            Method::Post,
            "/admin/api/clients".to_string(),
            json!({"name": "P", "kind": "public"}),
            "redirect_uris",
        ),
        (
            Method::Patch,
            format!("/admin/api/clients/{id}"),
            json!({"roles": [reader["id"]]}),
            "roles",
        ),
        (
            Method::Put,
            format!("/admin/api/clients/{public_id}/roles"),
            json!({"roles": [reader["id"]]}),
            "roles",
        ),
    ];
    for (method, path, body, field) in refusals {
        let (status, reply) = f.call(method, &path, body.clone());
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(reply.to_string().contains(field), "{body}: {reply}");
    }
    assert_eq!(f.count("client_roles"), before);
    let (status, _) = f.call(
        Method::Put,
        "/admin/api/clients/cli_nope/roles",
        json!({"roles": []}),
    );
    assert_eq!(status, 404);
    // Deleting the client deletes its role assignments.
    let (status, _) = f.call(
        Method::Delete,
        &format!("/admin/api/clients/{id}"),
        Value::Null,
    );
    assert_eq!(status, 204);
    assert_eq!(f.count("client_roles"), 0);
}

#[test]
fn the_cron_deletes_the_index_rows_of_ended_grants_oldest_first_in_batches() {
    use portcullis::oauth::grant::{index_row_ended_before, RefreshPolicy};
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "g@example.com"}));
    let uid = user["id"].as_str().unwrap();
    let policy = RefreshPolicy::default();
    let cutoff = index_row_ended_before(NOW, 60, policy);
    assert!(cutoff < NOW - policy.absolute_secs - 60);
    // Five rows past the cutoff and two not (the newest revoked: revocation neither keeps nor
    // drops a row early).
    let created = [
        cutoff - 500,
        cutoff - 400,
        cutoff - 300,
        cutoff - 200,
        cutoff - 1,
        cutoff,
        NOW,
    ];
    for (i, at) in created.iter().enumerate() {
        f.db.conn
            .borrow()
            .execute(
                "INSERT INTO user_grants (grant_id, user_id, client_id, created_at, revoked_at) \
                 VALUES (?1, ?2, 'c', ?3, ?4)",
                rusqlite::params![format!("g{i}"), uid, at, (i == 6).then_some(NOW)],
            )
            .unwrap();
    }
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    assert_eq!(
        block_on(directory.purge_ended_grants(cutoff, 2, 1)).unwrap(),
        2
    );
    let left = |f: &Fixture| -> Vec<String> {
        f.db.conn
            .borrow()
            .prepare("SELECT grant_id FROM user_grants ORDER BY grant_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // The oldest two went first.
    assert_eq!(left(&f), vec!["g2", "g3", "g4", "g5", "g6"]);
    // One row per statement, as many statements as it takes within the bound.
    assert_eq!(
        block_on(directory.purge_ended_grants(cutoff, 1, 20)).unwrap(),
        3
    );
    assert_eq!(left(&f), vec!["g5", "g6"]);
    assert_eq!(
        block_on(directory.purge_ended_grants(cutoff, 1000, 20)).unwrap(),
        0
    );
}

/// A read replica that cannot answer (D1 failing over, say).
struct Unreachable;

impl portcullis::sql::Sql for Unreachable {
    async fn query(
        &self,
        _: &str,
        _: Vec<portcullis::sql::SqlValue>,
    ) -> Result<Vec<portcullis::sql::Row>, portcullis::sql::SqlError> {
        Err(portcullis::sql::SqlError::Other(
            "replica unreachable".into(),
        ))
    }

    async fn batch(
        &self,
        _: Vec<portcullis::sql::Statement>,
    ) -> Result<Vec<u64>, portcullis::sql::SqlError> {
        Err(portcullis::sql::SqlError::Other(
            "replica unreachable".into(),
        ))
    }
}

#[test]
fn an_api_key_is_read_from_a_replica_and_from_the_primary_when_the_replica_lacks_it() {
    use portcullis::directory::api_key_by_hash_replicated;
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "r@example.com"}));
    let (_, key) = f.post(
        "/admin/api/api-keys",
        json!({"user_id": user["id"], "name": "ci", "scopes": "todos:read"}),
    );
    let hash = portcullis::primitives::hash::sha256_hex(key["key"].as_str().unwrap());
    let primary = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let read = |replica_sql: &SqliteDb| {
        let replica = SqlDirectory {
            sql: replica_sql,
            now: NOW,
        };
        *f.db.round_trips.borrow_mut() = 0;
        let record = block_on(api_key_by_hash_replicated(&replica, &primary, &hash)).unwrap();
        (record, *f.db.round_trips.borrow())
    };

    // A replica that has not yet seen the key: the primary answers, so a new key works at once.
    let behind = SqliteDb::migrated();
    let (record, primary_reads) = read(&behind);
    assert_eq!(record.unwrap().scopes, vec!["todos:read"]);
    assert_eq!(primary_reads, 1);

    // A replica that has caught up: the primary is not asked.
    let caught_up = SqliteDb::migrated();
    let dump: Vec<(String, String, String, String)> = f
        .db
        .conn
        .borrow()
        .prepare("SELECT u.id, u.email, k.id, k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (uid, email, kid, key_hash) in dump {
        let conn = caught_up.conn.borrow();
        conn.execute(
            "INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, '', 0, 0)",
            [&uid, &email],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at) VALUES (?1, ?2, 'ci', 'pk', ?3, 'todos:read', 0)",
            [&kid, &uid, &key_hash],
        )
        .unwrap();
    }
    let (record, primary_reads) = read(&caught_up);
    let record = record.unwrap();
    assert_eq!(record.scopes, vec!["todos:read"]);
    assert_eq!(primary_reads, 0);
    // A row written without a plugin, as every key before migration 0020: none is read.
    assert_eq!(record.plugin, None);

    // A replica that cannot answer: the primary does.
    let replica = SqlDirectory {
        sql: &Unreachable,
        now: NOW,
    };
    let record = block_on(api_key_by_hash_replicated(&replica, &primary, &hash)).unwrap();
    assert!(record.is_some());
    // No such key anywhere: none, after asking both.
    let missing = block_on(api_key_by_hash_replicated(
        &SqlDirectory {
            sql: &behind,
            now: NOW,
        },
        &primary,
        "no-such-hash",
    ))
    .unwrap();
    assert_eq!(missing, None);
}

#[test]
fn the_proxys_reads_run_on_the_real_schema() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "k@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let (status, key) = f.post(
        "/admin/api/api-keys",
        json!({"user_id": uid, "name": "ci", "scopes": "todos:read todos:write"}),
    );
    assert_eq!(status, 201, "{key}");
    let hash = portcullis::primitives::hash::sha256_hex(key["key"].as_str().unwrap());
    let directory = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let record = block_on(directory.api_key_by_hash(&hash)).unwrap().unwrap();
    assert_eq!(record.user_id, uid);
    assert_eq!(record.plugin.as_deref(), Some("todo"));
    assert_eq!(record.scopes, vec!["todos:read", "todos:write"]);
    assert!(!record.revoked && !record.user_disabled);
    assert_eq!(record.last_used_at, None);
    assert_eq!(block_on(directory.api_key_by_hash("nope")).unwrap(), None);
    // A use is recorded, and never moves the time back.
    block_on(directory.record_api_key_use(&record.id, NOW)).unwrap();
    block_on(directory.record_api_key_use(&record.id, NOW - 10)).unwrap();
    let used = block_on(directory.api_key_by_hash(&hash)).unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(NOW));
    // Revoking the key and disabling its user show in the record.
    let kid = key["id"].as_str().unwrap();
    assert_eq!(
        f.call(
            Method::Delete,
            &format!("/admin/api/api-keys/{kid}"),
            Value::Null
        )
        .0,
        200
    );
    f.call(
        Method::Patch,
        &format!("/admin/api/users/{uid}"),
        json!({"disabled": true}),
    );
    let record = block_on(directory.api_key_by_hash(&hash)).unwrap().unwrap();
    assert!(record.revoked && record.user_disabled);

    // OpenAI's egress list: stored, replaced, read back.
    use portcullis::directory::OPENAI_EGRESS_SOURCE;
    assert_eq!(
        block_on(directory.egress_cidrs(OPENAI_EGRESS_SOURCE)).unwrap(),
        None
    );
    let first = vec!["23.102.140.112/28".to_string()];
    block_on(directory.store_egress_list(
        OPENAI_EGRESS_SOURCE,
        Some("2026-01-01T00:00:00Z"),
        &first,
    ))
    .unwrap();
    let second = vec!["13.65.240.240/28".to_string(), "2001:db8::/32".to_string()];
    block_on(directory.store_egress_list(OPENAI_EGRESS_SOURCE, None, &second)).unwrap();
    assert_eq!(
        block_on(directory.egress_cidrs(OPENAI_EGRESS_SOURCE)).unwrap(),
        Some(second)
    );
    assert_eq!(f.count("egress_lists"), 1);

    // The health check's schema version: the greatest migration name applied.
    f.db.conn
        .borrow()
        .execute_batch(&format!(
            "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY, name TEXT); \
             INSERT INTO d1_migrations (name) VALUES ('{}'), ('0002_client_lockout.sql');",
            portcullis::LATEST_MIGRATION
        ))
        .unwrap();
    assert_eq!(
        block_on(directory.latest_migration()).unwrap().as_deref(),
        Some(portcullis::LATEST_MIGRATION)
    );
}

/// A resource with the permissions `names`, as the console makes one; returns its id.
fn resource_with(f: &Fixture, indicator: &str, names: &[&str]) -> String {
    let (status, resource) = f.post(
        "/admin/api/resources",
        json!({"indicator": indicator, "name": indicator}),
    );
    assert_eq!(status, 201, "{resource}");
    let rid = resource["id"].as_str().unwrap().to_string();
    for name in names {
        let (status, body) = f.post(
            &format!("/admin/api/resources/{rid}/permissions"),
            json!({"name": name}),
        );
        assert_eq!(status, 201, "{body}");
    }
    rid
}

#[test]
fn a_role_changes_in_place_keeping_or_replacing_its_permissions_and_is_deleted_from_its_holders() {
    let f = Fixture::new();
    let rid = resource_with(&f, "https://r.example.com", &["read", "write"]);
    let (_, role) = f.post(
        "/admin/api/roles",
        json!({"name": "editor", "description": "edits", "permissions": [format!("{rid}:read")]}),
    );
    let role_id = role["id"].as_str().unwrap().to_string();
    let path = format!("/admin/api/roles/{role_id}");
    // Fields left out keep their values, permissions included.
    let (status, renamed) = f.call(Method::Patch, &path, json!({"name": "writer"}));
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "writer");
    assert_eq!(renamed["description"], "edits");
    assert_eq!(renamed["permissions"][0]["id"], format!("{rid}:read"));
    // Permissions given become exactly the role's permissions.
    let (status, replaced) = f.call(
        Method::Patch,
        &path,
        json!({"permissions": [format!("{rid}:write")]}),
    );
    assert_eq!(status, 200, "{replaced}");
    let permissions = replaced["permissions"].as_array().unwrap();
    assert_eq!(permissions.len(), 1, "{replaced}");
    assert_eq!(permissions[0]["name"], "write");
    assert_eq!(permissions[0]["resource"], "https://r.example.com");
    assert_eq!(replaced["name"], "writer");
    // A name another role has is a conflict naming the field; an unknown role is a 404.
    f.post("/admin/api/roles", json!({"name": "taken"}));
    let (status, body) = f.call(Method::Patch, &path, json!({"name": "taken"}));
    assert_eq!(status, 409, "{body}");
    assert!(body["fields"]["name"].is_string(), "{body}");
    assert_eq!(
        f.call(
            Method::Patch,
            "/admin/api/roles/rol_nope",
            json!({"name": "x"})
        )
        .0,
        404
    );
    // Deleting the role takes it from its holders; it is then gone.
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "w@example.com", "roles": [role_id]}),
    );
    let (status, _) = f.call(Method::Delete, &path, Value::Null);
    assert_eq!(status, 204);
    assert_eq!(f.count("user_roles"), 0);
    assert_eq!(f.count("role_permissions"), 0);
    let (_, user) = f.call(
        Method::Get,
        &format!("/admin/api/users/{}", user["id"].as_str().unwrap()),
        Value::Null,
    );
    assert_eq!(user["roles"], json!([]));
    assert_eq!(f.call(Method::Get, &path, Value::Null).0, 404);
    assert_eq!(f.call(Method::Delete, &path, Value::Null).0, 404);
}

#[test]
fn put_replaces_a_users_roles_with_exactly_the_ones_listed() {
    let f = Fixture::new();
    let ids: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|name| f.post("/admin/api/roles", json!({"name": name})).1["id"].clone())
        .collect();
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "p@example.com", "roles": [ids[0], ids[1]]}),
    );
    let path = format!("/admin/api/users/{}/roles", user["id"].as_str().unwrap());
    let (status, body) = f.call(Method::Put, &path, json!({"roles": [ids[1], ids[2]]}));
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["b", "c"]);
    assert_eq!(f.count("user_roles"), 2);
    let (status, body) = f.call(Method::Put, &path, json!({"roles": []}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"], json!([]));
    assert_eq!(f.count("user_roles"), 0);
    assert_eq!(
        f.call(
            Method::Put,
            "/admin/api/users/usr_nope/roles",
            json!({"roles": []})
        )
        .0,
        404
    );
}

#[test]
fn a_permission_leaves_its_resource_and_roles_and_a_deleted_resource_takes_its_permissions() {
    let f = Fixture::new();
    let rid = resource_with(&f, "https://d.example.com", &["read", "write"]);
    let other = resource_with(&f, "https://e.example.com", &["read"]);
    let (_, role) = f.post(
        "/admin/api/roles",
        json!({"name": "rw", "permissions": [format!("{rid}:read"), format!("{rid}:write"), format!("{other}:read")]}),
    );
    let role_path = format!("/admin/api/roles/{}", role["id"].as_str().unwrap());
    let (status, resource) = f.call(
        Method::Delete,
        &format!("/admin/api/resources/{rid}/permissions/write"),
        Value::Null,
    );
    assert_eq!(status, 200, "{resource}");
    assert_eq!(resource["permissions"].as_array().unwrap().len(), 1);
    assert_eq!(resource["permissions"][0]["name"], "read");
    let (_, role) = f.call(Method::Get, &role_path, Value::Null);
    assert_eq!(role["permissions"].as_array().unwrap().len(), 2, "{role}");
    // Only a permission the resource has is removed: not another resource's of the same name.
    for missing in [
        format!("/admin/api/resources/{rid}/permissions/write"),
        format!("/admin/api/resources/{rid}/permissions/admin"),
        "/admin/api/resources/res_nope/permissions/read".to_string(),
    ] {
        assert_eq!(
            f.call(Method::Delete, &missing, Value::Null).0,
            404,
            "{missing}"
        );
    }
    assert_eq!(f.count("permissions"), 2);
    // Deleting the resource deletes its permissions, and the roles lose them.
    let path = format!("/admin/api/resources/{rid}");
    assert_eq!(f.call(Method::Delete, &path, Value::Null).0, 204);
    assert_eq!(f.count("permissions"), 1);
    let (_, role) = f.call(Method::Get, &role_path, Value::Null);
    assert_eq!(role["permissions"][0]["resource"], "https://e.example.com");
    assert_eq!(role["permissions"].as_array().unwrap().len(), 1, "{role}");
    assert_eq!(f.call(Method::Get, &path, Value::Null).0, 404);
    assert_eq!(f.call(Method::Delete, &path, Value::Null).0, 404);
}

#[test]
fn api_keys_list_by_page_and_by_user_in_one_query_each() {
    let f = Fixture::new();
    let mut users = Vec::new();
    for email in ["k1@example.com", "k2@example.com"] {
        let (_, user) = f.post("/admin/api/users", json!({ "email": email }));
        users.push(user["id"].as_str().unwrap().to_string());
    }
    let mut keys_of_first = Vec::new();
    for i in 0..3 {
        let (_, key) = f.post(
            "/admin/api/api-keys",
            json!({"user_id": users[0], "name": format!("a{i}")}),
        );
        keys_of_first.push(key["id"].as_str().unwrap().to_string());
        f.post(
            "/admin/api/api-keys",
            json!({"user_id": users[1], "name": format!("b{i}")}),
        );
    }
    keys_of_first.sort();
    let list = |path: &str| {
        *f.db.round_trips.borrow_mut() = 0;
        let (status, body) = f.call(Method::Get, path, Value::Null);
        assert_eq!(status, 200, "{body}");
        assert_eq!(*f.db.round_trips.borrow(), 1, "{path}");
        body
    };
    let all = list("/admin/api/api-keys");
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next_cursor"], Value::Null);
    assert!(all["items"][0].get("key_hash").is_none(), "{all}");
    let first = list(&format!("/admin/api/api-keys?user_id={}&limit=2", users[0]));
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                assert_eq!(k["user_id"], users[0].as_str(), "{page}");
                k["id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(ids(&first), keys_of_first[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = list(&format!(
        "/admin/api/api-keys?user_id={}&limit=2&after={cursor}",
        users[0]
    ));
    assert_eq!(ids(&rest), keys_of_first[2..]);
    assert_eq!(rest["next_cursor"], Value::Null);
    let nobody = list("/admin/api/api-keys?user_id=usr_nope");
    assert_eq!(nobody["items"], json!([]));
}

fn identity(provider: &str, subject: &str, email: &str) -> LinkedIdentity {
    LinkedIdentity {
        provider: provider.into(),
        subject: subject.into(),
        email: email.into(),
        email_verified: true,
        created_at: NOW,
        last_used_at: NOW,
    }
}

fn federated(id: &str, email: &str, roles: &[&str], subject: &str) -> NewFederatedUser {
    NewFederatedUser {
        id: id.into(),
        email: email.into(),
        name: "Fed".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        identity: identity("idp", subject, email),
    }
}

#[test]
fn federated_users_are_provisioned_whole_or_not_at_all() {
    let f = Fixture::new();
    assert_eq!(f.post("/admin/api/roles", json!({"name": "member"})).0, 201);
    let d = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let (users, identities, holdings) = (
        f.count("users"),
        f.count("user_identities"),
        f.count("user_roles"),
    );

    // A role that does not exist undoes the user and the identity with it.
    let missing = block_on(d.provision_user(&federated(
        "usr_a",
        "a@acme.test",
        &["member", "ghost"],
        "s-a",
    )))
    .unwrap();
    assert_eq!(missing, ProvisionOutcome::MissingRole);
    assert_eq!(
        (
            f.count("users"),
            f.count("user_identities"),
            f.count("user_roles")
        ),
        (users, identities, holdings)
    );

    let made =
        block_on(d.provision_user(&federated("usr_a", "a@acme.test", &["member"], "s-a"))).unwrap();
    assert_eq!(made, ProvisionOutcome::Created);
    let (linked, by_email) = block_on(d.accounts_for("idp", "s-a", "A@ACME.test")).unwrap();
    assert_eq!(linked.as_ref().map(|u| u.id.as_str()), Some("usr_a"));
    assert_eq!(
        by_email.map(|u| u.id),
        Some("usr_a".to_string()),
        "emails match without case"
    );
    assert!(linked.unwrap().password_hash.is_none());
    assert_eq!(f.count("user_roles"), holdings + 1);

    // The same email or the same identity again: taken, nothing more stored.
    let same_email =
        block_on(d.provision_user(&federated("usr_b", "a@acme.test", &[], "s-b"))).unwrap();
    let same_identity =
        block_on(d.provision_user(&federated("usr_c", "c@acme.test", &[], "s-a"))).unwrap();
    assert_eq!(
        (same_email, same_identity),
        (ProvisionOutcome::Taken, ProvisionOutcome::Taken)
    );
    assert_eq!(f.count("users"), users + 1);

    // An empty email finds nobody by email, not every user without one.
    let (none, nobody) = block_on(d.accounts_for("idp", "unknown", "")).unwrap();
    assert!(none.is_none() && nobody.is_none());
}

#[test]
fn an_identity_links_once_and_the_last_way_in_stays() {
    let f = Fixture::new();
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "pw@example.com", "password": "correct horse battery"}),
    );
    let with_password = user["id"].as_str().unwrap().to_string();
    let d = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    assert!(
        block_on(d.link_identity(&with_password, &identity("idp", "s-1", "pw@example.com")))
            .unwrap()
    );
    assert!(
        !block_on(d.link_identity(&with_password, &identity("idp", "s-1", "pw@example.com")))
            .unwrap(),
        "linked once"
    );
    block_on(d.provision_user(&federated("usr_fed", "fed@example.com", &[], "s-2"))).unwrap();
    assert!(
        !block_on(d.link_identity("usr_fed", &identity("idp", "s-1", ""))).unwrap(),
        "someone else's"
    );

    // A user with a password may drop every identity; one without keeps the last.
    let both = portcullis::ports::WaysIn {
        password: true,
        providers: &["idp", "github"],
    };
    let unlink = |user: &str, provider: &str, ways: &portcullis::ports::WaysIn<'_>| {
        block_on(d.unlink_identity(user, provider, ways)).unwrap()
    };
    assert!(unlink(&with_password, "idp", &both));
    assert!(!unlink("usr_fed", "idp", &both), "the only way in");
    assert!(block_on(d.link_identity("usr_fed", &identity("github", "42", ""))).unwrap());
    // Only the ways in the plugin offers count: not another plugin's provider.
    let idp_only = portcullis::ports::WaysIn {
        password: true,
        providers: &["idp"],
    };
    assert!(
        !unlink("usr_fed", "idp", &idp_only),
        "github signs in to nothing here"
    );
    assert!(unlink("usr_fed", "idp", &both), "another remains");
    assert!(!unlink("usr_fed", "github", &both), "now the last");
    // Nor a password where the password form is not offered.
    assert!(block_on(d.link_identity(&with_password, &identity("idp", "s-1", ""))).unwrap());
    let no_password = portcullis::ports::WaysIn {
        password: false,
        providers: &["idp", "github"],
    };
    assert!(
        !unlink(&with_password, "idp", &no_password),
        "the password is no way in here"
    );
    assert!(unlink(&with_password, "idp", &both));
    assert_eq!(block_on(d.identities_of("usr_fed")).unwrap().len(), 1);

    // Signing in records when, and the email the provider gives now.
    let mut later = identity("github", "42", "new@example.com");
    later.last_used_at = NOW + 60;
    later.email_verified = false;
    block_on(d.touch_identity(&later)).unwrap();
    let now = block_on(d.identities_of("usr_fed")).unwrap();
    assert_eq!(
        (
            now[0].email.as_str(),
            now[0].email_verified,
            now[0].last_used_at,
            now[0].created_at
        ),
        ("new@example.com", false, NOW + 60, NOW)
    );

    // Deleting the user deletes their identities.
    assert_eq!(
        f.call(Method::Delete, "/admin/api/users/usr_fed", Value::Null)
            .0,
        204
    );
    assert_eq!(f.count("user_identities"), 0);
}

#[test]
fn administrators_see_link_and_unlink_identities() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "ops@example.com"}));
    let id = user["id"].as_str().unwrap();
    let path = format!("/admin/api/users/{id}/identities");
    let (status, body) = f.post(
        &path,
        json!({"provider": "google", "subject": "1099", "email": "Ops@Example.com"}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["identities"][0]["email"], "ops@example.com");
    assert_eq!(body["identities"][0]["email_verified"], false);
    assert_eq!(
        f.post(&path, json!({"provider": "google", "subject": "1099"}))
            .0,
        409
    );
    let (status, errors) = f.post(&path, json!({"provider": "Google!", "subject": ""}));
    assert_eq!(status, 400, "{errors}");
    assert_eq!(
        f.post(
            "/admin/api/users/usr_nobody/identities",
            json!({"provider": "google", "subject": "1"})
        )
        .0,
        404
    );
    assert_eq!(
        f.call(Method::Get, &path, Value::Null).1["identities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // An administrator may remove even the last way in (they can set a password next).
    assert_eq!(
        f.call(Method::Delete, &format!("{path}/google"), Value::Null)
            .0,
        204
    );
    assert_eq!(
        f.call(Method::Delete, &format!("{path}/google"), Value::Null)
            .0,
        404
    );
}

fn kept(user: &str, provider: &str, subject: &str, access: &str) -> KeptTokens {
    KeptTokens {
        provider: provider.into(),
        subject: subject.into(),
        user_id: user.into(),
        access_token: access.into(),
        refresh_token: None,
        expires_at: None,
        scope: String::new(),
        updated_at: NOW,
    }
}

#[test]
fn kept_tokens_go_with_the_identity_the_user_and_any_revoked_grant() {
    let f = Fixture::new();
    let d = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    block_on(d.provision_user(&federated("usr_k", "k@example.com", &[], "s-k"))).unwrap();
    block_on(d.link_identity("usr_k", &identity("github", "7", ""))).unwrap();
    // Tokens belong to an identity: none can be kept for one that is not linked.
    assert!(matches!(
        block_on(d.keep_tokens(&kept("usr_k", "gitlab", "9", "v1.x"))),
        Err(portcullis::ports::StoreError::Unavailable(ref why)) if why == "D1: ForeignKey"
    ));
    block_on(d.keep_tokens(&kept("usr_k", "idp", "s-k", "v1.first"))).unwrap();
    block_on(d.keep_tokens(&kept("usr_k", "idp", "s-k", "v1.second"))).unwrap();
    block_on(d.keep_tokens(&kept("usr_k", "github", "7", "v1.gh"))).unwrap();
    assert_eq!(
        block_on(d.kept_tokens("usr_k", "idp"))
            .unwrap()
            .unwrap()
            .access_token,
        "v1.second",
        "replaced, not added"
    );
    assert_eq!(f.count("upstream_tokens"), 2);

    // Unlinking an identity takes its tokens.
    let offered = portcullis::ports::WaysIn {
        password: true,
        providers: &["idp", "github"],
    };
    assert!(block_on(d.unlink_identity("usr_k", "github", &offered)).unwrap());
    assert_eq!(block_on(d.kept_tokens("usr_k", "github")).unwrap(), None);

    // A revoked grant takes all of the user's.
    let state = chatgpt_grant("gr_k", "usr_k");
    f.db.conn
        .borrow()
        .execute(
            "INSERT INTO oauth_clients (id, name, redirect_uris, kind, created_at) VALUES ('chatgpt', 'ChatGPT', '[]', 'public', 0)",
            [],
        )
        .unwrap();
    block_on(d.record_grant(&state)).unwrap();
    block_on(d.mark_grant_revoked("gr_k", NOW)).unwrap();
    assert_eq!(f.count("upstream_tokens"), 0);
    // Only when the grant becomes revoked: a refused retry of its token later deletes nothing
    // the user connected since.
    block_on(d.keep_tokens(&kept("usr_k", "idp", "s-k", "v1.reconnected"))).unwrap();
    block_on(d.mark_grant_revoked("gr_k", NOW + 60)).unwrap();
    assert_eq!(f.count("upstream_tokens"), 1);
    // Forgetting is conditional on the refresh token this call used.
    let mut with_refresh = kept("usr_k", "idp", "s-k", "v1.r");
    with_refresh.refresh_token = Some("v1.refresh-a".into());
    block_on(d.keep_tokens(&with_refresh)).unwrap();
    block_on(d.forget_tokens("usr_k", "idp", "v1.refresh-b")).unwrap();
    assert_eq!(f.count("upstream_tokens"), 1, "another call's tokens stay");
    block_on(d.forget_tokens("usr_k", "idp", "v1.refresh-a")).unwrap();
    assert_eq!(f.count("upstream_tokens"), 0);
    // A token row is never moved to another user by an upsert.
    block_on(d.keep_tokens(&kept("usr_k", "idp", "s-k", "v1.mine"))).unwrap();
    block_on(d.keep_tokens(&kept("usr_other", "idp", "s-k", "v1.theirs"))).unwrap();
    assert_eq!(
        block_on(d.kept_tokens("usr_k", "idp"))
            .unwrap()
            .unwrap()
            .access_token,
        "v1.mine"
    );

    // Deleting the user takes the rest (through their identities).
    block_on(d.keep_tokens(&kept("usr_k", "idp", "s-k", "v1.again"))).unwrap();
    assert_eq!(
        f.call(Method::Delete, "/admin/api/users/usr_k", Value::Null)
            .0,
        204
    );
    assert_eq!(f.count("upstream_tokens"), 0);
}

mod billing {
    use super::*;
    use portcullis::billing::subscription::{Change, Delivery, SubscriptionRow};
    use portcullis::billing::Standing;
    use portcullis::ports::BillingStore;

    fn delivery(id: &str) -> Delivery {
        Delivery {
            plugin: "todo".into(),
            event_id: id.into(),
            kind: "customer.subscription.updated".into(),
            nonce: format!("n-{id}-{}", rand_suffix()),
            received_at: NOW,
        }
    }

    fn rand_suffix() -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn row(user: &str, sub: &str, status: &str, created: i64) -> Change {
        Change::Subscription(SubscriptionRow {
            plugin: "todo".into(),
            user_id: user.into(),
            plan: "pro".into(),
            status: status.into(),
            stripe_subscription: sub.into(),
            stripe_customer: "cus_1".into(),
            current_period_end: Some(NOW + 86_400),
            event_created: created,
        })
    }

    fn standing(d: &SqlDirectory<'_, SqliteDb>, user: &str) -> Standing {
        block_on(d.subscription_of("todo", user))
            .unwrap()
            .map(|s| s.standing(NOW))
            .unwrap_or(Standing::Free)
    }

    #[test]
    fn each_event_applies_once_and_only_forward_in_the_subscriptions_history() {
        let f = Fixture::new();
        let (_, user) = f.post("/admin/api/users", json!({"email": "payer@example.com"}));
        let uid = user["id"].as_str().unwrap().to_string();
        let d = SqlDirectory {
            sql: &f.db,
            now: NOW,
        };
        let apply = |id: &str, change: Change| {
            block_on(d.apply_billing_event(&delivery(id), &change, NOW)).unwrap()
        };

        assert!(apply("evt_1", row(&uid, "sub_1", "active", 10)));
        assert_eq!(standing(&d, &uid), Standing::Paid("pro".into()));
        assert_eq!(
            block_on(d.customer_of(&uid)).unwrap().as_deref(),
            Some("cus_1")
        );
        // The same event again (Stripe redelivers): nothing changes, and it says so.
        assert!(!apply("evt_1", row(&uid, "sub_1", "canceled", 10)));
        assert_eq!(standing(&d, &uid), Standing::Paid("pro".into()));

        // Deleted at 30; an update from 20 arriving late changes nothing.
        assert!(apply("evt_del", row(&uid, "sub_1", "canceled", 30)));
        assert!(apply("evt_late", row(&uid, "sub_1", "active", 20)));
        assert_eq!(standing(&d, &uid), Standing::Free);
        // At the same second, the cancellation stays.
        assert!(apply("evt_tie", row(&uid, "sub_1", "active", 30)));
        assert_eq!(standing(&d, &uid), Standing::Free);

        // A new subscription later takes the row; a late event of the old one does not undo it.
        assert!(apply("evt_new", row(&uid, "sub_2", "active", 40)));
        assert_eq!(standing(&d, &uid), Standing::Paid("pro".into()));
        assert!(apply("evt_old", row(&uid, "sub_1", "canceled", 50)));
        assert_eq!(
            standing(&d, &uid),
            Standing::Paid("pro".into()),
            "sub_1's end is not sub_2's"
        );

        // A failed payment makes an active subscription past_due (still holding), not an older one.
        let failed = |sub: &str, created: i64| Change::PaymentFailed {
            stripe_subscription: sub.into(),
            event_created: created,
        };
        assert!(apply("evt_fail_old", failed("sub_2", 35)));
        assert_eq!(
            block_on(d.subscription_of("todo", &uid))
                .unwrap()
                .unwrap()
                .status,
            "active"
        );
        assert!(apply("evt_fail", failed("sub_2", 60)));
        let now = block_on(d.subscription_of("todo", &uid)).unwrap().unwrap();
        assert_eq!(
            (now.status.as_str(), now.standing(NOW)),
            ("past_due", Standing::Paid("pro".into()))
        );
        assert_eq!(f.count("billing_events"), 8);
        // An event that names no plan of ours still moves the row its subscription wrote.
        let status = |created: i64, status: &str| Change::Status {
            stripe_subscription: "sub_2".into(),
            status: status.into(),
            current_period_end: None,
            event_created: created,
        };
        assert!(apply("evt_status_old", status(50, "canceled")));
        assert_eq!(
            block_on(d.subscription_of("todo", &uid))
                .unwrap()
                .unwrap()
                .status,
            "past_due",
            "older than the row"
        );
        assert!(apply("evt_status", status(70, "canceled")));
        assert_eq!(standing(&d, &uid), Standing::Free);
        // At one second, `incomplete` never takes a holding status away (Checkout's created and
        // updated events of one second, in either order).
        assert!(apply("evt_new_sub", row(&uid, "sub_3", "active", 80)));
        assert!(apply(
            "evt_incomplete",
            row(&uid, "sub_3", "incomplete", 80)
        ));
        assert_eq!(standing(&d, &uid), Standing::Paid("pro".into()));
        // Past Stripe's redeliveries, the cron forgets them.
        let later = SqlDirectory {
            sql: &f.db,
            now: NOW + portcullis::directory::billing::BILLING_EVENT_MEMORY_SECS + 1,
        };
        assert_eq!(block_on(later.purge_billing_events()).unwrap(), 12);
    }

    #[test]
    fn parallel_deliveries_of_one_event_apply_it_once_and_an_unknown_user_changes_nothing() {
        let f = Fixture::new();
        let (_, user) = f.post("/admin/api/users", json!({"email": "payer2@example.com"}));
        let uid = user["id"].as_str().unwrap().to_string();
        let d = SqlDirectory {
            sql: &f.db,
            now: NOW,
        };
        let (a, b) = (delivery("evt_same"), delivery("evt_same"));
        let first =
            block_on(d.apply_billing_event(&a, &row(&uid, "sub_1", "active", 10), NOW)).unwrap();
        let second =
            block_on(d.apply_billing_event(&b, &row(&uid, "sub_1", "canceled", 11), NOW)).unwrap();
        assert_eq!((first, second), (true, false));
        assert_eq!(standing(&d, &uid), Standing::Paid("pro".into()));
        // A user deleted since: the event is recorded (Stripe stops retrying), nothing else.
        assert!(block_on(d.apply_billing_event(
            &delivery("evt_ghost"),
            &row("usr_gone", "sub_9", "active", 10),
            NOW
        ))
        .unwrap());
        assert_eq!(f.count("subscriptions"), 1);
        // Deleting the user deletes their subscription and customer rows.
        assert_eq!(
            f.call(
                Method::Delete,
                &format!("/admin/api/users/{uid}"),
                Value::Null
            )
            .0,
            204
        );
        assert_eq!(
            (f.count("subscriptions"), f.count("billing_customers")),
            (0, 0)
        );
    }

    #[test]
    fn a_plans_roles_hold_while_its_subscription_does() {
        let f = Fixture::new();
        let (_, resource) = f.post(
            "/admin/api/resources",
            json!({"indicator": "https://api.example.com/notes", "name": "Notes"}),
        );
        let rid = resource["id"].as_str().unwrap().to_string();
        for name in ["read", "write"] {
            f.post(
                &format!("/admin/api/resources/{rid}/permissions"),
                json!({"name": name}),
            );
        }
        f.post(
            "/admin/api/roles",
            json!({"name": "reader", "permissions": [format!("{rid}:read")]}),
        );
        f.post(
            "/admin/api/roles",
            json!({"name": "writer", "permissions": [format!("{rid}:write")]}),
        );
        let (_, own) = f.post(
            "/admin/api/roles",
            json!({"name": "own", "permissions": [format!("{rid}:read")]}),
        );
        let (_, user) = f.post(
            "/admin/api/users",
            json!({"email": "sub@example.com", "roles": [own["id"]]}),
        );
        let uid = user["id"].as_str().unwrap().to_string();
        let d = SqlDirectory {
            sql: &f.db,
            now: NOW,
        };
        // The writer role comes with the todo plugin's pro plan; another plugin's plan of the same
        // name gives nothing here.
        let plan_roles = r#"[{"plugin":"todo","plan":"pro","role":"writer"},{"plugin":"other","plan":"pro","role":"reader"}]"#;
        let held = |d: &SqlDirectory<'_, SqliteDb>| {
            block_on(d.scope_context(
                &uid,
                None,
                Some("https://api.example.com/notes"),
                "",
                plan_roles,
            ))
            .unwrap()
            .permissions
        };
        assert_eq!(held(&d), vec!["read"], "their own role only");
        block_on(d.apply_billing_event(
            &delivery("evt_p1"),
            &row(&uid, "sub_1", "active", 10),
            NOW,
        ))
        .unwrap();
        assert_eq!(
            held(&d),
            vec!["read", "write"],
            "the plan's role while active"
        );
        block_on(d.apply_billing_event(
            &delivery("evt_p2"),
            &row(&uid, "sub_1", "canceled", 20),
            NOW,
        ))
        .unwrap();
        assert_eq!(held(&d), vec!["read"], "gone when it ends");
    }
}

#[test]
fn usage_adds_up_across_books_and_reads_as_charts() {
    use portcullis::usage_book::{day_of, UsageKey};
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "heavy@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let d = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let key = |day: i64, route: &str, user: &str, outcome: &str| UsageKey {
        plugin: "todo".into(),
        day: day_of(NOW - day * 86_400),
        route: route.into(),
        user: user.into(),
        outcome: outcome.into(),
    };
    // Two isolates' books for the same rows, and an old day outside the window.
    for book in [
        vec![
            (key(0, "/todos", &uid, "ok"), 3),
            (key(0, "/todos", "", "rate_limited"), 2),
        ],
        vec![
            (key(0, "/todos", &uid, "ok"), 4),
            (key(1, "/todos/{id}", "usr_other", "ok"), 1),
            (key(30, "/todos", &uid, "ok"), 100),
        ],
    ] {
        block_on(d.add_usage(&book)).unwrap();
    }
    let (status, usage) = f.call(Method::Get, "/admin/api/usage?days=7", Value::Null);
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        usage["by_day"],
        json!([
            {"day": day_of(NOW - 86_400), "route": "/todos/{id}", "calls": 1},
            {"day": day_of(NOW), "route": "/todos", "calls": 7}
        ])
    );
    assert_eq!(
        usage["top_users"][0],
        json!({"user_id": uid, "email": "heavy@example.com", "calls": 7})
    );
    assert_eq!(
        usage["refused"],
        json!([{"reason": "rate_limited", "calls": 2}])
    );
    assert_eq!(
        f.call(Method::Get, "/admin/api/usage?days=0", Value::Null)
            .0,
        400
    );
    assert_eq!(
        f.call(Method::Get, "/admin/api/usage?days=x", Value::Null)
            .0,
        400
    );
    let (status, subs) = f.call(Method::Get, "/admin/api/subscribers", Value::Null);
    assert_eq!((status, subs["items"].as_array().unwrap().len()), (200, 0));
}

#[test]
fn consent_is_remembered_per_plugin_and_a_revocation_forgets_it_at_every_one() {
    use portcullis::ports::ConsentKey;
    let f = Fixture::new();
    let (_, resource) = f.post(
        "/admin/api/resources",
        json!({"indicator": "https://api.example.com/notes", "name": "Notes"}),
    );
    let rid = resource["id"].as_str().unwrap().to_string();
    f.post(
        &format!("/admin/api/resources/{rid}/permissions"),
        json!({"name": "read"}),
    );
    let (_, user) = f.post("/admin/api/users", json!({"email": "c@example.com"}));
    let uid = user["id"].as_str().unwrap().to_string();
    let d = SqlDirectory {
        sql: &f.db,
        now: NOW,
    };
    let todo = ConsentKey {
        issuer: "https://todo.example.com",
        client_id: "chatgpt",
    };
    let mcp = ConsentKey {
        issuer: "https://mcp.example.com",
        client_id: "chatgpt",
    };
    let consented = |key: ConsentKey<'_>| {
        let context = block_on(d.scope_context(
            &uid,
            Some(key),
            Some("https://api.example.com/notes"),
            "",
            "[]",
        ))
        .unwrap();
        assert_eq!(context.resource_name, "Notes");
        context.consented
    };
    let notes = "https://api.example.com/notes";
    block_on(d.record_consent(&uid, todo, notes, &["read".into()], NOW)).unwrap();
    assert_eq!(consented(todo), Some(vec!["read".to_string()]));
    assert_eq!(consented(mcp), None, "given at the todo plugin only");
    // A consent from before consents had an issuer grants nothing at any plugin.
    f.db.conn
        .borrow()
        .execute(
            "INSERT INTO consents (user_id, client_id, resource, issuer, scopes, created_at, updated_at) \
             VALUES (?1, 'legacy', ?2, '', 'read', 1, 1)",
            rusqlite::params![uid, notes],
        )
        .unwrap();
    let legacy = ConsentKey {
        issuer: "https://todo.example.com",
        client_id: "legacy",
    };
    assert_eq!(consented(legacy), None);
    block_on(d.record_consent(&uid, mcp, notes, &["read".into()], NOW)).unwrap();
    assert_eq!(consented(mcp), Some(vec!["read".to_string()]));
    let apps = block_on(d.apps_of(&uid)).unwrap();
    assert_eq!(
        apps.iter().filter(|a| a.client_id == "chatgpt").count(),
        1,
        "one app on the account page, whichever plugins it was allowed at"
    );
    block_on(d.forget_consent(&uid, "chatgpt", notes)).unwrap();
    assert_eq!((consented(todo), consented(mcp)), (None, None));
}

/// Every page of `GET /admin/api/users?{query}`, followed by its cursor to the end.
fn all_pages(f: &Fixture, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(c) => format!("/admin/api/users?{query}&cursor={c}"),
            None => format!("/admin/api/users?{query}"),
        };
        let (status, body) = f.call(Method::Get, &target, Value::Null);
        assert_eq!(status, 200, "{body}");
        pages.push(body["items"].as_array().unwrap().clone());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 100, "the cursor does not move on");
    }
}

fn emails(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn users_are_found_by_an_email_prefix_in_any_case() {
    let f = Fixture::new();
    for email in [
        "Ann@Example.com",
        "anna@example.com",
        "annex@example.com",
        "bob@example.com",
        "an@example.com",
    ] {
        assert_eq!(f.post("/admin/api/users", json!({ "email": email })).0, 201);
    }
    let found = |q: &str| {
        let (status, body) = f.call(Method::Get, &format!("/admin/api/users?q={q}"), Value::Null);
        assert_eq!(status, 200, "{body}");
        emails(body["items"].as_array().unwrap())
    };
    assert_eq!(
        found("ann"),
        ["Ann@Example.com", "anna@example.com", "annex@example.com"]
    );
    assert_eq!(found("ANN"), found("ann"));
    assert_eq!(found("ann%40"), ["Ann@Example.com"]);
    assert_eq!(found("an%40example.com"), ["an@example.com"]);
    assert_eq!(found("b"), ["bob@example.com"]);
    // A cursor from before the prefix's range (another search's) starts the range at its start;
    // one past it finds nothing.
    let before = URL_SAFE_NO_PAD.encode("aaa@example.com");
    let (_, body) = f.call(
        Method::Get,
        &format!("/admin/api/users?q=ann&cursor={before}"),
        Value::Null,
    );
    assert_eq!(emails(body["items"].as_array().unwrap()).len(), 3);
    let past = URL_SAFE_NO_PAD.encode("bob@example.com");
    let (_, body) = f.call(
        Method::Get,
        &format!("/admin/api/users?q=ann&cursor={past}"),
        Value::Null,
    );
    assert!(body["items"].as_array().unwrap().is_empty());
    assert!(found("carol").is_empty());
    // A prefix's characters are text, not a pattern.
    assert!(found("an%25").is_empty());
    assert!(found("_nn").is_empty());
}

#[test]
fn a_user_is_found_by_their_exact_id() {
    let f = Fixture::new();
    let (_, user) = f.post("/admin/api/users", json!({"email": "idlookup@example.com"}));
    f.post("/admin/api/users", json!({"email": "other@example.com"}));
    let id = user["id"].as_str().unwrap();
    let (status, body) = f.call(
        Method::Get,
        &format!("/admin/api/users?q={id}"),
        Value::Null,
    );
    assert_eq!(status, 200);
    assert_eq!(
        emails(body["items"].as_array().unwrap()),
        ["idlookup@example.com"]
    );
    assert_eq!(body["next_cursor"], Value::Null);
    // Part of an id finds nobody: ids are matched whole.
    let (_, body) = f.call(
        Method::Get,
        &format!("/admin/api/users?q={}", &id[..6]),
        Value::Null,
    );
    assert!(body["items"].as_array().unwrap().is_empty());
}

#[test]
fn paging_through_more_users_than_a_page_has_no_duplicates_or_gaps() {
    let f = Fixture::new();
    let mut created = Vec::new();
    for i in 0..123 {
        // Mixed case, so the order is the NOCASE column's and not the bytes'.
        let email = if i % 2 == 0 {
            format!("Page{i:03}@example.com")
        } else {
            format!("page{i:03}@example.com")
        };
        f.post("/admin/api/users", json!({ "email": email }));
        created.push(email);
    }
    f.post("/admin/api/users", json!({"email": "zed@example.com"}));
    let pages = all_pages(&f, "q=PAGE&limit=10");
    assert_eq!(pages.len(), 13);
    assert!(pages[..12].iter().all(|p| p.len() == 10));
    let seen: Vec<String> = pages.iter().flat_map(|p| emails(p)).collect();
    assert_eq!(seen, created, "every user once, in email order");
    // Without `q`, every user, at the default page size of 50.
    let pages = all_pages(&f, "");
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 24]);
    let everyone: Vec<String> = pages.iter().flat_map(|p| emails(p)).collect();
    assert_eq!(everyone.len(), 124);
    assert_eq!(everyone.last().unwrap(), "zed@example.com");
}

#[test]
fn bad_user_list_parameters_are_400s_naming_the_field() {
    let f = Fixture::new();
    for (query, field) in [
        ("cursor=%25%25%25", "cursor"),
        ("cursor=not*base64", "cursor"),
        // Valid base64url, but not UTF-8: not a cursor this API gave.
        ("cursor=__8", "cursor"),
        ("cursor=YQ&after=YQ", "cursor"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("q=a%00b", "q"),
    ] {
        let (status, body) = f.call(
            Method::Get,
            &format!("/admin/api/users?{query}"),
            Value::Null,
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "invalid_request", "{query}");
        assert!(body["fields"][field].is_string(), "{query}: {body}");
    }
    let long = "a".repeat(321);
    assert_eq!(
        f.call(
            Method::Get,
            &format!("/admin/api/users?q={long}"),
            Value::Null
        )
        .0,
        400
    );
    assert_eq!(
        f.call(Method::Get, "/admin/api/users?q=a&q=b", Value::Null)
            .0,
        400
    );
}

#[test]
fn each_listed_user_says_how_they_can_sign_in() {
    let f = Fixture::new();
    let (_, both) = f.post(
        "/admin/api/users",
        json!({"email": "both@example.com", "password": "a-long-enough-password"}),
    );
    f.post("/admin/api/users", json!({"email": "bare@example.com"}));
    for provider in ["github", "google"] {
        let (status, body) = f.post(
            &format!(
                "/admin/api/users/{}/identities",
                both["id"].as_str().unwrap()
            ),
            json!({"provider": provider, "subject": format!("{provider}-1")}),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (_, body) = f.call(Method::Get, "/admin/api/users?q=b", Value::Null);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["email"], "bare@example.com");
    assert_eq!(
        items[0]["sign_in"],
        json!({"password": false, "providers": [], "passkeys": 0, "totp": false})
    );
    assert_eq!(items[1]["has_password"], true);
    let mut providers: Vec<&str> = items[1]["sign_in"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    providers.sort();
    assert_eq!(providers, ["github", "google"]);
    assert_eq!(items[1]["sign_in"]["password"], true);
    // One user's answer says the same.
    let (_, one) = f.call(
        Method::Get,
        &format!("/admin/api/users/{}", both["id"].as_str().unwrap()),
        Value::Null,
    );
    assert_eq!(one["sign_in"]["password"], true);
    assert_eq!(one["sign_in"]["providers"].as_array().unwrap().len(), 2);
}

/// SQLite's plan for a statement: each step's `detail`.
fn query_plan(db: &SqliteDb, sql: &str, args: usize) -> Vec<String> {
    let conn = db.conn.borrow();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let params: Vec<rusqlite::types::Value> = (0..args)
        .map(|_| rusqlite::types::Value::Text("a".into()))
        .collect();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn the_user_search_reads_the_email_index_and_never_scans_or_sorts() {
    let db = SqliteDb::migrated();
    for (sql, args) in [
        (portcullis::directory::admin::USERS_BY_EMAIL_PREFIX, 3),
        (portcullis::directory::admin::USERS_BY_EMAIL_PREFIX_AFTER, 3),
        (portcullis::directory::admin::USERS_AFTER, 2),
    ] {
        let plan = query_plan(&db, sql, args);
        let main = plan
            .iter()
            .find(|d| d.contains(" u "))
            .unwrap_or_else(|| panic!("{plan:?}"));
        // One lower bound and, for a prefix, the upper one: the index is entered where the
        // page starts, whatever the cursor.
        assert!(
            main.starts_with("SEARCH u USING INDEX users_by_email (email>? AND email<?)")
                || main.starts_with("SEARCH u USING INDEX users_by_email (email>?)"),
            "{plan:?}"
        );
        assert_eq!(sql.matches("u.email >").count(), 1, "{sql}");
        assert!(!plan.iter().any(|d| d.starts_with("SCAN u")), "{plan:?}");
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
        // The nested lists are found by index too.
        assert!(!plan.iter().any(|d| d.starts_with("SCAN i")), "{plan:?}");
    }
    let plan = query_plan(&db, portcullis::directory::admin::USER_BY_ID, 1);
    assert!(
        plan.iter()
            .any(|d| d.starts_with("SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)")),
        "{plan:?}"
    );
}

/// An administrator sees a user's passkeys and authenticator app beside their other ways in,
/// and removes them all (a lost device): the user's sessions end with them.
#[test]
fn an_administrator_sees_and_resets_a_users_second_factors() {
    use portcullis::sql::Sql;
    let f = Fixture::new();
    let (_, user) = f.post(
        "/admin/api/users",
        json!({"email": "lost@example.com", "password": "a-long-enough-password"}),
    );
    let id = user["id"].as_str().unwrap().to_string();
    common::block_on(f.db.batch(vec![
        (
            "INSERT INTO passkeys (id, user_id, name, credential, sign_count, backup_state, created_at) VALUES ('cred-1', ?1, 'Phone', '{}', 0, 0, 1), ('cred-2', ?1, 'Laptop', '{}', 0, 0, 1)",
            vec![id.as_str().into()],
        ),
        (
            "INSERT INTO user_totp (user_id, sealed_secret, created_at) VALUES (?1, 'sealed', 1)",
            vec![id.as_str().into()],
        ),
        (
            "INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?1, 'h1', 1)",
            vec![id.as_str().into()],
        ),
    ]))
    .unwrap();
    let (_, one) = f.call(Method::Get, &format!("/admin/api/users/{id}"), Value::Null);
    assert_eq!(one["sign_in"]["passkeys"], 2);
    assert_eq!(one["sign_in"]["totp"], true);
    let (_, listed) = f.call(Method::Get, "/admin/api/users?q=lost", Value::Null);
    assert_eq!(listed["items"][0]["sign_in"]["passkeys"], 2);
    let (status, _) = f.call(
        Method::Delete,
        &format!("/admin/api/users/{id}/factors"),
        Value::Null,
    );
    assert_eq!(status, 204);
    let (_, one) = f.call(Method::Get, &format!("/admin/api/users/{id}"), Value::Null);
    assert_eq!(one["sign_in"]["passkeys"], 0);
    assert_eq!(one["sign_in"]["totp"], false);
    let left = common::block_on(f.db.query(
        "SELECT (SELECT COUNT(*) FROM recovery_codes) AS codes, (SELECT session_epoch FROM users WHERE id = ?1) AS epoch",
        vec![id.as_str().into()],
    ))
    .unwrap();
    assert_eq!(
        (left[0]["codes"].as_i64(), left[0]["epoch"].as_i64()),
        (Some(0), Some(1))
    );
    let (status, _) = f.call(
        Method::Delete,
        "/admin/api/users/usr_nobody/factors",
        Value::Null,
    );
    assert_eq!(status, 404);
}
