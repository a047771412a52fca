//! OpenAPI documents in JSON or YAML: parse, point servers at the gateway, render both ways, and
//! read the output back to the same document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::openapi::{parse, point_servers_at, render, DocFormat};

fuzz_target!(|data: &[u8]| {
    let Ok(mut document) = parse(data, None) else {
        return;
    };
    point_servers_at(&mut document, "https://todo.example.com");
    for format in [DocFormat::Json, DocFormat::Yaml] {
        let body = render(&document, format);
        let again = parse(&body, Some(format)).expect("our own output reads back");
        assert_eq!(again, document);
    }
});
