//! Request paths against route rules: what matches a rule is a path with no traversal left in it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::http::Method;
use portcullis::proxy::rules::{normalize_path, percent_decode, Access, RouteMatch, RouteRule, RouteTable};

fn table() -> RouteTable {
    let rule = |path: &str, methods: &[&str], access: Access| RouteRule {
        path: path.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        access,
        scopes: Vec::new(),
        max_body_bytes: None,
    };
    RouteTable::new(vec![
        rule("/todos", &["GET", "POST"], Access::Token),
        rule("/todos/{id}", &[], Access::Token),
        rule("/admin/*", &[], Access::Deny),
        rule("/public/*", &["GET"], Access::Public),
        rule("/{a}/x/{b}", &["PUT"], Access::Token),
    ])
    .expect("the rules are valid")
}

fuzz_target!(|path: &str| {
    let _ = percent_decode(path);
    let Ok(segments) = normalize_path(path) else {
        return;
    };
    for segment in &segments {
        assert!(segment != "." && segment != "..");
        assert!(!segment.contains('/') && !segment.contains('\\'));
    }
    let table = table();
    for method in [Method::Get, Method::Head, Method::Post, Method::Put, Method::Other("X".into())] {
        if let RouteMatch::Rule(i) = table.find(&method, &segments) {
            assert!(table.rule(i).is_some());
        }
    }
});
