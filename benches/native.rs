//! Native micro-benchmarks of the hot decisions (`cargo bench --bench native`).
//! Wasm figures for the same operations come from `npm run bench` against workerd.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use divan::{black_box, Bencher};
use portcullis::http::Method;
use portcullis::keys::KeySet;
use portcullis::oauth::access_token::{
    mint_access_token, verify_access_token, AccessClaims, Audience, VerifyPolicy,
};
use portcullis::proxy::rules::{normalize_path, Access, RouteRule, RouteTable};
use portcullis::rbac::scope::{decide_scopes, parse_scope, Resource, ScopeContext};

const NOW: i64 = 1_790_000_000;
const ISS: &str = "https://todo.example.com";

fn main() {
    divan::main();
}

fn keys() -> KeySet {
    KeySet::from_secrets(Some(&URL_SAFE_NO_PAD.encode([5u8; 32])), None).unwrap()
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub: "usr_demo".into(),
        aud: Audience::One(ISS.into()),
        jti: "jti".into(),
        client_id: "chatgpt".into(),
        scope: "todos:read todos:write".into(),
        gid: Some("g".repeat(22)),
    }
}

#[divan::bench]
fn access_token_sign(bencher: Bencher) {
    let keys = keys();
    bencher.bench(|| mint_access_token(&keys, black_box(claims()), NOW, 3600).unwrap());
}

#[divan::bench]
fn access_token_verify(bencher: Bencher) {
    let keys = keys();
    let token = mint_access_token(&keys, claims(), NOW, 3600).unwrap();
    let policy = VerifyPolicy {
        issuer: ISS,
        audience: Some(ISS),
        now: NOW,
    };
    bencher.bench(|| verify_access_token(black_box(&token), &keys, &policy).unwrap());
}

#[divan::bench]
fn scope_decision(bencher: Bencher) {
    let context = ScopeContext {
        resource: Some(Resource {
            id: "r".into(),
            indicator: ISS.into(),
            access_token_ttl_secs: 3600,
        }),
        user_permissions: (0..50).map(|i| format!("perm:{i}")).collect(),
        descriptions: Vec::new(),
    };
    let requested = parse_scope("perm:1 perm:7 perm:49 other openid");
    bencher.bench(|| decide_scopes(black_box(&requested), None, &context).unwrap());
}

fn table(n: usize) -> RouteTable {
    let rules = (0..n)
        .map(|i| RouteRule {
            path: format!("/api/v1/resource{i}/{{id}}"),
            methods: vec!["GET".into()],
            access: Access::Token,
            scopes: vec!["read".into()],
            max_body_bytes: None,
        })
        .collect();
    RouteTable::new(rules).unwrap()
}

#[divan::bench(args = [10, 1000])]
fn route_match_last_rule(bencher: Bencher, rules: usize) {
    let table = table(rules);
    let path = format!("/api/v1/resource{}/42", rules - 1);
    bencher.bench(|| {
        let segments = normalize_path(black_box(&path)).unwrap();
        table.find(&Method::Get, &segments)
    });
}
