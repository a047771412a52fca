//! RFC 7591 registration requests: whatever is accepted must be echoable, only hold URIs the
//! redirect rule allows, and show only characters that show as what they are.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::oauth::display::{check_display_text, skeleton};
use portcullis::oauth::redirect_uri::check_redirect_uri;
use portcullis::oauth::registration::{parse_registration, MAX_REDIRECT_URIS};

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = parse_registration(data) {
        assert!(!metadata.redirect_uris.is_empty());
        assert!(metadata.redirect_uris.len() <= MAX_REDIRECT_URIS);
        for uri in &metadata.redirect_uris {
            assert!(check_redirect_uri(uri).is_ok());
        }
        assert!(check_display_text(&metadata.client_name).is_ok());
        let _ = skeleton(&metadata.client_name);
        for value in metadata.extra.values() {
            if let Some(text) = value.as_str() {
                assert!(check_display_text(text).is_ok(), "{text:?}");
            }
        }
        let echoed = serde_json::Value::Object(metadata.to_json());
        assert!(serde_json::to_string(&echoed).is_ok());
    }
});
