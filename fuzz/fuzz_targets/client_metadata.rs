//! Client ID metadata documents: the URL check before any fetch, then the document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::address::url_host_is_public;
use portcullis::oauth::registration::{
    check_metadata_document_url, host_is_public, parse_metadata_document,
};

fuzz_target!(|data: &[u8]| {
    let (url, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(url) = std::str::from_utf8(url) else {
        return;
    };
    if let Ok(parsed) = check_metadata_document_url(url, false) {
        assert_eq!(parsed.scheme(), "https");
        assert!(url_host_is_public(&parsed));
        assert!(host_is_public(parsed.host_str().unwrap_or("")));
    }
    if let Ok(client) = parse_metadata_document(url, body) {
        assert_eq!(client.id, url);
        assert!(client.secret_hash.is_none());
        assert!(!client.redirect_uris.is_empty());
    }
});
