//! Token, revocation and introspection request bodies, form or JSON, with client credentials.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::http::Authorization;
use portcullis::oauth::client::parse_client_credentials;
use portcullis::oauth::params::Params;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let header = std::str::from_utf8(header).ok().filter(|h| !h.is_empty());
    let mut parsed = Vec::new();
    if let Ok(text) = std::str::from_utf8(body) {
        parsed.push(Params::from_urlencoded(text));
    }
    parsed.push(Params::from_json(body));
    for params in parsed.into_iter().flatten() {
        for (name, value) in params.iter() {
            assert_eq!(params.get(name), Some(value));
        }
        let _ = parse_client_credentials(header.map(Authorization::parse), &params);
    }
});
