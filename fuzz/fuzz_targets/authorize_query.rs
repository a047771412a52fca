//! `/authorize` query strings against a registered client: the redirect URI is only ever one the
//! client registered.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::oauth::authorize::{check_client_and_redirect, validate_authorize_request};
use portcullis::oauth::client::{Client, ClientKind, ClientOrigin};
use portcullis::oauth::params::Params;

fuzz_target!(|query: &str| {
    let Ok(params) = Params::from_urlencoded(query) else {
        return;
    };
    for kind in [ClientKind::Confidential, ClientKind::Public] {
        let client = Client {
            id: "chatgpt".into(),
            name: "ChatGPT".into(),
            secret_hash: None,
            redirect_uris: vec![
                "https://chatgpt.com/aip/p/oauth/callback".into(),
                "http://127.0.0.1/callback".into(),
            ],
            kind,
            first_party: false,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        };
        if let Ok((client, redirect_uri, sent)) = check_client_and_redirect(&params, Some(client)) {
            let registered = client.redirect_uris.contains(&redirect_uri)
                || (kind == ClientKind::Public && redirect_uri.starts_with("http://127.0.0.1:"));
            assert!(registered, "{redirect_uri}");
            let _ = validate_authorize_request(&params, client, redirect_uri, sent, "todos:read");
        }
    }
});
