//! Request paths against route rules: what matches a rule is a path with no traversal left in it,
//! no spelling of a denied path's case gets past its deny rule, and no spelling of a paid route
//! gets the weaker rule of the path parameter beside it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::http::Method;
use portcullis::proxy::rules::{
    fold_case, normalize_path, percent_decode, Access, RouteMatch, RouteRule, RouteTable,
};

fn table() -> RouteTable {
    let rule = |path: &str, methods: &[&str], access: Access, plan: Option<&str>| RouteRule {
        path: path.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        access,
        scopes: Vec::new(),
        max_body_bytes: None,
        case_insensitive: None,
        upstream_token: None,
        plan: plan.map(String::from),
        agents: Vec::new(),
        dpop: false,
    };
    RouteTable::new(vec![
        rule("/todos/export", &["GET"], Access::Token, Some("pro")),
        rule("/todos", &["GET", "POST"], Access::Token, None),
        rule("/todos/{id}", &[], Access::Token, None),
        rule("/admin/*", &[], Access::Deny, None),
        rule("/public/*", &["GET"], Access::Public, None),
        rule("/{a}/x/{b}", &["PUT"], Access::Token, None),
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
    let denied = segments.first().is_some_and(|s| fold_case(s) == "admin");
    let export = segments.len() == 2 && fold_case(&segments[1]) == "export";
    for method in [Method::Get, Method::Head, Method::Post, Method::Put, Method::Other("X".into())] {
        let found = table.find(&method, &segments);
        if let RouteMatch::Rule(i) = found {
            assert!(table.rule(i).is_some());
        }
        if let Method::Other(_) = method {
            // A method outside the usual seven passes only a rule that lists it; none here does.
            assert!(!matches!(found, RouteMatch::Rule(_)), "{path}");
        } else if denied {
            assert_eq!(found, RouteMatch::Rule(3), "{path}");
        } else if export && matches!(method, Method::Get | Method::Head) {
            // The export's plan holds whatever the case: the item rule never takes it.
            assert_ne!(found, RouteMatch::Rule(2), "{path}");
        }
    }
});
