//! Access tokens as the proxy receives them: the pure verifier, the cache, and the header checks
//! done before WebCrypto. None may panic; none may accept what is not ours.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::keys::KeySet;
use portcullis::oauth::access_token::{
    prepare_signature_check, verify_access_token, VerifiedTokenCache, VerifyPolicy,
};

const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

fuzz_target!(|token: &str| {
    let keys = KeySet::from_secrets(Some(SEED), None).expect("the test key parses");
    let policy = VerifyPolicy {
        issuer: "https://todo.example.com",
        audience: Some("https://todo.example.com"),
        now: 1_790_000_000,
    };
    // Fuzzed input cannot carry a valid Ed25519 signature by our key.
    assert!(verify_access_token(token, &keys, &policy).is_err());
    let mut cache = VerifiedTokenCache::with_capacity(4);
    assert!(cache.verify(token, &keys, &policy).is_err());
    assert!(cache.is_empty());
    let _ = prepare_signature_check(token, &keys);
});
