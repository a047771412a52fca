//! Redirect URI matching: whatever `/authorize` would send the browser to, read with the WHATWG
//! rules (the `url` crate), has a registered URI's scheme, host and path, no userinfo, and the
//! registered port unless that URI is a loopback one. Input: a registered URI, a newline, then
//! the requested one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::oauth::authorize::code_redirect;
use portcullis::oauth::client::{Client, ClientKind, ClientOrigin};
use portcullis::oauth::redirect_uri::{check_redirect_uri, resolve_redirect_uri};
use url::{Host, Url};

fn loopback(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.octets() == [127, 0, 0, 1],
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (registered, requested) = text.split_once('\n').unwrap_or((text, ""));
    if check_redirect_uri(registered).is_err() {
        return;
    }
    let Ok(reg) = Url::parse(registered) else {
        panic!("a registrable URI must parse: {registered:?}");
    };
    for kind in [ClientKind::Public, ClientKind::Confidential] {
        let client = Client {
            id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            redirect_uris: vec![registered.to_string()],
            kind,
            first_party: true,
            origin: ClientOrigin::Admin,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        };
        let Some(base) = resolve_redirect_uri(&client, Some(requested)) else { continue };
        let location = code_redirect(&base, "g.c", Some("st"), "https://issuer.example");
        let sent = Url::parse(&location).expect("the Location must parse");
        assert_eq!(sent.scheme(), reg.scheme(), "{requested:?}");
        assert_eq!(sent.host(), reg.host(), "{requested:?}");
        assert_eq!(sent.path(), reg.path(), "{requested:?}");
        assert!(sent.username().is_empty() && sent.password().is_none(), "{requested:?}");
        if !(kind == ClientKind::Public && loopback(&reg)) {
            assert_eq!(sent.port_or_known_default(), reg.port_or_known_default(), "{requested:?}");
        }
    }
});
