//! Native micro-benchmarks of the hot decisions (`cargo bench --bench native`).
//! Wasm figures for the same operations come from `npm run bench` against workerd.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use divan::{black_box, Bencher};
use portcullis::http::Method;
use portcullis::jose::keys::KeySet;
use std::net::IpAddr;

use portcullis::oauth::access_token::{
    mint_access_token, verify_access_token, AccessClaims, Audience, VerifiedTokenCache,
    VerifyPolicy,
};
use portcullis::proxy::cidr::IpRanges;
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
        gty: None,
        cnf: None,
        act: None,
    }
}

fn policy() -> VerifyPolicy<'static> {
    VerifyPolicy {
        issuer: ISS,
        audience: Some(ISS),
        now: NOW,
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
    let policy = policy();
    bencher.bench(|| verify_access_token(black_box(&token), &keys, &policy).unwrap());
}

#[divan::bench]
fn scope_decision(bencher: Bencher) {
    let context = ScopeContext {
        resource: Some(Resource {
            id: "r".into(),
            indicator: ISS.into(),
            access_token_ttl_secs: 3600,
            access_token_alg: Default::default(),
        }),
        permissions: (0..50).map(|i| format!("perm:{i}")).collect(),
        descriptions: Vec::new(),
        consented: None,
        ..ScopeContext::default()
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
            case_insensitive: None,
            upstream_token: None,
            plan: None,
            agents: Vec::new(),
            dpop: false,
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

fn ranges(n: usize) -> IpRanges {
    // Half IPv4 /24s, half IPv6 /48s, spread over the address space like a published list.
    let cidrs: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let k = (i / 2) as u32 * 7919 % (1 << 24);
                format!("{}.{}.{}.0/24", (k >> 16) & 0xff, (k >> 8) & 0xff, k & 0xff)
            } else {
                format!("2001:{:x}:{:x}::/48", (i * 31) % 0xffff + 1, i % 0xffff)
            }
        })
        .collect();
    IpRanges::parse(cidrs.iter().map(String::as_str)).unwrap()
}

#[divan::bench(args = [15, 10_000])]
fn cidr_match(bencher: Bencher, n: usize) {
    let set = ranges(n);
    let inside: IpAddr = "0.0.0.1".parse().unwrap();
    let outside: IpAddr = "203.0.113.77".parse().unwrap();
    let v6: IpAddr = "2001:20:1::5".parse().unwrap();
    bencher.bench(|| {
        (
            set.contains(black_box(inside)),
            set.contains(black_box(outside)),
            set.contains(black_box(v6)),
        )
    });
}

#[divan::bench]
fn access_token_verify_cached(bencher: Bencher) {
    let keys = keys();
    let token = mint_access_token(&keys, claims(), NOW, 3600).unwrap();
    let policy = policy();
    let mut cache = VerifiedTokenCache::default();
    cache.verify(&token, &keys, &policy).unwrap();
    bencher.bench_local(|| cache.verify(black_box(&token), &keys, &policy).unwrap());
}
