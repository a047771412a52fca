//! Access tokens as the proxy receives them: the pure verifier, the cache, and the header checks
//! done before WebCrypto. None may panic; none may accept what is not ours.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::jose::keys::KeySet;
use portcullis::oauth::access_token::{
    prepare_signature_check, verify_access_token, VerifiedTokenCache, VerifyPolicy,
};

const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RSA_KEY: &str = include_str!("../../tests/fixtures/rsa-2048-a.jwk.json");

fuzz_target!(|token: &str| {
    let keys = KeySet::from_secrets(Some(SEED), None)
        .and_then(|k| k.with_rsa(Some(RSA_KEY), None))
        .expect("the test keys parse");
    let policy = VerifyPolicy {
        issuer: "https://todo.example.com",
        audience: Some("https://todo.example.com"),
        now: 1_790_000_000,
    };
    // Fuzzed input cannot carry a valid Ed25519 signature by our key, and RS256 is never accepted
    // without the platform's check.
    assert!(verify_access_token(token, &keys, &policy).is_err());
    let mut cache = VerifiedTokenCache::with_capacity(4);
    assert!(cache.verify(token, &keys, &policy).is_err());
    assert!(cache.is_empty());
    let _ = prepare_signature_check(token, &keys);
});
