//! `Authorization: Basic` client credentials (RFC 6749 §2.3.1, percent-decoded).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::http::Authorization;
use portcullis::oauth::client::parse_client_credentials;
use portcullis::oauth::params::Params;

fuzz_target!(|header: &str| {
    let empty = Params::default();
    let _ = parse_client_credentials(Some(Authorization::parse(header)), &empty);
    let basic = format!("Basic {header}");
    let _ = parse_client_credentials(Some(Authorization::parse(&basic)), &empty);
});
