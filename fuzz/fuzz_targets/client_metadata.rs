//! Client ID metadata documents: the URL check before any fetch, then the document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::address::url_host_is_public;
use portcullis::oauth::display::{check_display_text, skeleton};
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
    if let Ok(client) = parse_metadata_document(url, body, &["Acme Console"]) {
        assert_eq!(client.id, url);
        // Whatever a document may show, shows as what it is, and copies no first-party name.
        assert!(check_display_text(&client.name).is_ok());
        assert_ne!(skeleton(&client.name), skeleton("Acme Console"));
        assert!(client.secret_hash.is_none());
        assert!(!client.redirect_uris.is_empty());
    }
});
