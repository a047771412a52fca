//! JOSE: our keys and their JWKS (`keys`), JSON Web Keys and algorithms (`jwk`), compact JWS
//! signing (`signing`), and the two ports a signature goes through: WebCrypto at the edge, Rust in
//! native tests.

// The ports are used inside this crate only, on one thread (wasm), where `Send` is no concern.
#![allow(async_fn_in_trait)]

pub mod jwk;
pub mod keys;
pub mod signing;

use crate::error::StoreError;
use jwk::{JwsAlgorithm, PublicJwk};
use keys::{RsaSigningKey, SigningKey};

/// Signature checks of client assertions: WebCrypto at the edge.
pub trait JwsVerifier {
    /// Whether `signature` over `message` verifies with `key` under `alg`.
    async fn verify_jws(
        &self,
        alg: JwsAlgorithm,
        key: &PublicJwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, StoreError>;
}

/// Signatures with our keys. At the edge both go through WebCrypto: no RSA code ships in the
/// wasm, and workerd's native Ed25519 signs in a fraction of the time the wasm takes.
pub trait JwsSigner {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` with `key` (RFC 7518 §3.3).
    async fn sign_rs256(&self, key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Ed25519 over `message` with `key` (RFC 8037). By default in Rust (in wasm at the edge,
    /// where the platform's signer is preferred and this is the fallback).
    async fn sign_ed25519(&self, key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(key.secret().sign(message, None).to_vec())
    }
}
