//! `_method` in POST bodies: whatever precedes it, a `_method` that asks for another method is
//! found, and a JSON object whose parsed `_method` is not POST is never let through.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proxy::method_override::{body_kind, in_body, in_query, BodyKind};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = in_query(Some(&text));
    let _ = body_kind(Some(&text));
    for kind in [
        BodyKind::Form,
        BodyKind::Json,
        BodyKind::Multipart("B".into()),
    ] {
        let _ = in_body(&kind, data);
    }
    let mut form = data.to_vec();
    form.extend_from_slice(b"&_method=DELETE");
    assert!(in_body(&BodyKind::Form, &form).is_some(), "{text:?}");
    let mut multipart = data.to_vec();
    multipart.extend_from_slice(
        b"\r\n--B\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--B--\r\n",
    );
    assert!(
        in_body(&BodyKind::Multipart("B".into()), &multipart).is_some(),
        "{text:?}"
    );
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_slice(data) {
        let asks_other = members
            .get("_method")
            .is_some_and(|m| m.as_str().is_none_or(|m| !m.trim().eq_ignore_ascii_case("POST")));
        if asks_other {
            assert!(in_body(&BodyKind::Json, data).is_some(), "{text:?}");
        }
    }
});
