//! Passkey responses (accounts::webauthn): the JSON, attestation objects, authenticator data,
//! COSE keys and DER signatures as a browser or an attacker sends them. None may panic; a
//! registration accepted without a signature check must be `none` attestation, and its
//! credential must survive storage as JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::accounts::webauthn::{
    check_assertion, check_registration, der_to_raw_p256, parse_cose_key, AssertionResponse,
    AuthenticationExpectation, RegistrationExpectation, RegistrationResponse, StoredCredential,
};
use serde_json::{json, Value};
use std::sync::OnceLock;

const FIXTURES: &str = include_str!("../../tests/fixtures/webauthn/fixtures.json");

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // base64url without padding, by hand: the fuzz crate has no base64 of its own.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            let _ = out.write_char(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn case(name: &str) -> Value {
    let fixtures: Value = serde_json::from_str(FIXTURES).expect("the fixtures parse");
    fixtures["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name).cloned())
        .expect("the case is there")
}

/// An honest registration and assertion to put fuzzed parts into, read once.
fn honest() -> &'static (Value, Value) {
    static CASES: OnceLock<(Value, Value)> = OnceLock::new();
    CASES.get_or_init(|| {
        (
            case("registration/es256-none"),
            case("authentication/es256"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (registration, assertion) = honest();
    let expected = RegistrationExpectation {
        rp_id: "portal.example.com",
        origin: "https://portal.example.com",
        challenge: registration["expectation"]["challenge"]
            .as_str()
            .unwrap_or_default(),
        user_handle: registration["expectation"]["user_handle"]
            .as_str()
            .unwrap_or_default(),
        require_user_verification: false,
    };
    match selector % 5 {
        // An attestation object in an otherwise honest registration.
        0 => {
            let mut response = registration["response"].clone();
            response["response"]["attestationObject"] = json!(b64(rest));
            let Ok(parsed) = RegistrationResponse::parse(&response.to_string()) else {
                return;
            };
            if let Ok(checked) = check_registration(&parsed, &expected) {
                let credential = checked.credential;
                assert_eq!(
                    checked.attestation.is_none(),
                    credential.attestation_format == "none"
                );
                let text = serde_json::to_string(&credential).expect("a credential serializes");
                let back: StoredCredential = serde_json::from_str(&text).expect("and reads back");
                assert_eq!(back, credential);
            }
        }
        // Authenticator data in an otherwise honest assertion.
        1 => {
            let honest = RegistrationResponse::parse(&registration["response"].to_string())
                .ok()
                .and_then(|r| check_registration(&r, &expected).ok());
            let Some(stored) = honest.map(|c| c.credential) else {
                return;
            };
            let mut response = assertion["response"].clone();
            response["response"]["authenticatorData"] = json!(b64(rest));
            let Ok(parsed) = AssertionResponse::parse(&response.to_string()) else {
                return;
            };
            let expected = AuthenticationExpectation {
                rp_id: "portal.example.com",
                origin: "https://portal.example.com",
                challenge: assertion["expectation"]["challenge"]
                    .as_str()
                    .unwrap_or_default(),
                user_handle: Some(&stored.user_handle),
                require_user_verification: false,
            };
            let _ = check_assertion(&parsed, &expected, &stored);
        }
        2 => {
            if let Ok((_, used)) = parse_cose_key(rest) {
                assert!(used <= rest.len());
            }
        }
        3 => {
            let _ = der_to_raw_p256(rest);
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = RegistrationResponse::parse(text);
                let _ = AssertionResponse::parse(text);
            }
        }
    }
});
