//! Passkeys: the relying party's verification of WebAuthn Level 3 registration (§7.1) and
//! authentication (§7.2) responses, pure but for the signature, which goes through
//! [`JwsVerifier`] (WebCrypto at the edge). <https://www.w3.org/TR/webauthn-3/>
//!
//! A response is read from the JSON that `PublicKeyCredential.toJSON()` gives (what
//! `@simplewebauthn/browser` posts): [`RegistrationResponse::parse`], [`AssertionResponse::parse`].
//! Registration yields a [`StoredCredential`] (JSON for storage); authentication checks a response
//! against one and yields it updated (signature counter, backup state).
//!
//! Rules held here, each refused with its own [`WebAuthnError`]:
//! - `clientDataJSON`: `type` is the ceremony's, `challenge` the one issued (base64url, exact),
//!   `origin` the expected one exactly, `crossOrigin` not `true`, no `topOrigin` (the portal is
//!   never framed, so a response made in a frame is not one of ours).
//! - authenticator data: `rpIdHash` = SHA-256(RP ID); UP always; UV when the policy requires it;
//!   BS only with BE (§6.3.3), and BE as it was at registration (§7.2 step 19).
//! - credential keys: COSE ES256 (-7, P-256), RS256 (-257, at least 2048 bits) and EdDSA (-8,
//!   Ed25519), turned into a [`PublicJwk`].
//! - attestation: the portal asks for `none`, so `none` (an empty statement) and `packed` self
//!   attestation (no `x5c`; signed by the credential key itself, with its algorithm) are
//!   accepted. Every other format, and `packed` with a certificate chain, is refused: with
//!   conveyance `none` browsers send `none` for those, and a statement we cannot check is not
//!   stored as if it had been.
//! - the signature counter (§6.1.1): when the stored or the new count is non-zero, the new one
//!   must be greater, or the authenticator may have been cloned ([`WebAuthnError::CounterRegressed`],
//!   checked only after the signature holds, so nobody without the key can raise it).
//! - the user handle: when a response carries one it must be the credential's user's; a
//!   discoverable sign-in (no user named before the ceremony) needs one.
//!
//! Everything from the browser is bounded before it is read: the JSON, each decoded field, CBOR
//! nesting and map sizes. Nothing here panics on any input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use minicbor::data::Type;
use minicbor::Decoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::error::StoreError;
use crate::jose::jwk::{parse_jwks, JwsAlgorithm, KeyMaterial, PublicJwk, MIN_RSA_MODULUS_BITS};
use crate::jose::JwsVerifier;
use crate::primitives::secret::constant_time_eq;

/// The largest response JSON read: a passkey response is a few hundred bytes to a few KiB.
pub const MAX_RESPONSE_JSON_BYTES: usize = 64 * 1024;
/// The largest `clientDataJSON`, decoded.
pub const MAX_CLIENT_DATA_BYTES: usize = 8 * 1024;
/// The largest attestation object or authenticator data, decoded.
pub const MAX_AUTHENTICATOR_BYTES: usize = 16 * 1024;
/// The longest credential ID (§7.1 step 25: at most 1023 bytes).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
/// The longest user handle (§5.4.3: `user.id` is at most 64 bytes).
pub const MAX_USER_HANDLE_BYTES: usize = 64;
/// The longest signature read (an RSA-4096 signature is 512 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 1024;
/// How deep CBOR the gateway does not itself read (extensions, unknown members) may nest.
pub const MAX_CBOR_DEPTH: usize = 8;
/// The most entries a CBOR map or array may declare.
pub const MAX_CBOR_ENTRIES: u64 = 64;
/// The most transports kept for a credential.
pub const MAX_TRANSPORTS: usize = 8;

/// The transports a credential may list (§5.8.4 `AuthenticatorTransport`); others are dropped.
const KNOWN_TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// The credential algorithms accepted, in the order the registration options should list them
/// (`pubKeyCredParams`): EdDSA, ES256, RS256.
pub const SUPPORTED_ALGORITHMS: [CoseAlgorithm; 3] = [
    CoseAlgorithm::EdDsa,
    CoseAlgorithm::Es256,
    CoseAlgorithm::Rs256,
];

/// Flags of the authenticator data (§6.1).
const FLAG_UP: u8 = 1 << 0;
const FLAG_UV: u8 = 1 << 2;
const FLAG_BE: u8 = 1 << 3;
const FLAG_BS: u8 = 1 << 4;
const FLAG_AT: u8 = 1 << 6;
const FLAG_ED: u8 = 1 << 7;

/// Why a response was refused. [`WebAuthnError::code`] names each reason in one word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAuthnError {
    /// Not what a browser sends: the JSON, base64url, CBOR or a length is wrong (what, for the
    /// log).
    Malformed(&'static str),
    /// `type` is not `public-key`.
    WrongCredentialType,
    /// `clientDataJSON.type` is not this ceremony's (`webauthn.create` or `webauthn.get`).
    WrongCeremony,
    /// `clientDataJSON.challenge` is not the one issued.
    ChallengeMismatch,
    /// `clientDataJSON.origin` is not the expected origin.
    WrongOrigin,
    /// Made in a cross-origin frame (`crossOrigin: true`, or a `topOrigin`).
    CrossOrigin,
    /// `rpIdHash` is not SHA-256 of our RP ID.
    WrongRpId,
    /// The UP flag is not set.
    UserNotPresent,
    /// The UV flag is not set where the policy requires user verification.
    UserNotVerified,
    /// BS set without BE (§6.3.3).
    InconsistentBackupFlags,
    /// BE differs from the credential's at registration (§7.2 step 19).
    BackupEligibilityChanged,
    /// The credential key's COSE algorithm is not ES256, RS256 or EdDSA.
    UnsupportedAlgorithm(i64),
    /// An attestation format other than `none` and `packed` self attestation (the format's
    /// name, cut to 32 characters).
    UnsupportedAttestationFormat(String),
    /// A `packed` self attestation whose `alg` is not the credential key's.
    AttestationAlgorithmMismatch,
    /// A `packed` self attestation whose signature does not verify.
    BadAttestationSignature,
    /// The assertion's signature does not verify with the credential's key.
    BadSignature,
    /// The signature counter did not grow (§6.1.1): the authenticator may have been cloned.
    CounterRegressed { stored: u32, received: u32 },
    /// `id` and `rawId` differ, or name another credential than the one checked.
    CredentialIdMismatch,
    /// `userHandle` is not the credential's user's, or the credential not the named user's.
    UserHandleMismatch,
    /// A discoverable sign-in without a `userHandle`.
    UserHandleMissing,
}

impl WebAuthnError {
    /// The reason in one word, stable (the fixtures record it; logs may show it).
    pub fn code(&self) -> &'static str {
        match self {
            WebAuthnError::Malformed(_) => "malformed",
            WebAuthnError::WrongCredentialType => "wrong_credential_type",
            WebAuthnError::WrongCeremony => "wrong_ceremony",
            WebAuthnError::ChallengeMismatch => "challenge_mismatch",
            WebAuthnError::WrongOrigin => "wrong_origin",
            WebAuthnError::CrossOrigin => "cross_origin",
            WebAuthnError::WrongRpId => "wrong_rp_id",
            WebAuthnError::UserNotPresent => "user_not_present",
            WebAuthnError::UserNotVerified => "user_not_verified",
            WebAuthnError::InconsistentBackupFlags => "inconsistent_backup_flags",
            WebAuthnError::BackupEligibilityChanged => "backup_eligibility_changed",
            WebAuthnError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            WebAuthnError::UnsupportedAttestationFormat(_) => "unsupported_attestation_format",
            WebAuthnError::AttestationAlgorithmMismatch => "attestation_algorithm_mismatch",
            WebAuthnError::BadAttestationSignature => "bad_attestation_signature",
            WebAuthnError::BadSignature => "bad_signature",
            WebAuthnError::CounterRegressed { .. } => "counter_regressed",
            WebAuthnError::CredentialIdMismatch => "credential_id_mismatch",
            WebAuthnError::UserHandleMismatch => "user_handle_mismatch",
            WebAuthnError::UserHandleMissing => "user_handle_missing",
        }
    }
}

/// The reason for the log line.
impl fmt::Display for WebAuthnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebAuthnError::Malformed(why) => write!(f, "malformed: {why}"),
            WebAuthnError::UnsupportedAlgorithm(alg) => write!(f, "unsupported COSE alg {alg}"),
            WebAuthnError::UnsupportedAttestationFormat(fmt) => {
                write!(f, "unsupported attestation format {fmt:?}")
            }
            WebAuthnError::CounterRegressed { stored, received } => write!(
                f,
                "signature counter {received} not above {stored}: possibly a cloned authenticator"
            ),
            other => f.write_str(other.code()),
        }
    }
}

fn malformed(why: &'static str) -> WebAuthnError {
    WebAuthnError::Malformed(why)
}

/// A credential algorithm, by its COSE number (RFC 9053); stored as that number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum CoseAlgorithm {
    /// -7: ECDSA on P-256 with SHA-256 (signatures in ASN.1 DER).
    Es256,
    /// -257: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// -8: EdDSA, here Ed25519.
    EdDsa,
}

impl CoseAlgorithm {
    pub fn from_cose(alg: i64) -> Option<CoseAlgorithm> {
        match alg {
            -7 => Some(CoseAlgorithm::Es256),
            -257 => Some(CoseAlgorithm::Rs256),
            -8 => Some(CoseAlgorithm::EdDsa),
            _ => None,
        }
    }

    pub fn cose(self) -> i64 {
        match self {
            CoseAlgorithm::Es256 => -7,
            CoseAlgorithm::Rs256 => -257,
            CoseAlgorithm::EdDsa => -8,
        }
    }

    /// The same algorithm as the [`JwsVerifier`] takes it.
    pub fn jws(self) -> JwsAlgorithm {
        match self {
            CoseAlgorithm::Es256 => JwsAlgorithm::Es256,
            CoseAlgorithm::Rs256 => JwsAlgorithm::Rs256,
            CoseAlgorithm::EdDsa => JwsAlgorithm::EdDsa,
        }
    }
}

impl TryFrom<i64> for CoseAlgorithm {
    type Error = String;
    fn try_from(alg: i64) -> Result<Self, String> {
        CoseAlgorithm::from_cose(alg).ok_or_else(|| format!("unsupported COSE alg {alg}"))
    }
}

impl From<CoseAlgorithm> for i64 {
    fn from(alg: CoseAlgorithm) -> i64 {
        alg.cose()
    }
}

/// A registered passkey, as stored (JSON through serde; the key as its public JWK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredJson", into = "StoredJson")]
pub struct StoredCredential {
    /// The credential ID, base64url.
    pub id: String,
    /// The user handle (`user.id` of the registration options) it was made for, base64url.
    pub user_handle: String,
    pub public_key: PublicJwk,
    pub alg: CoseAlgorithm,
    /// The signature counter last seen (0 for authenticators that keep none).
    pub sign_count: u32,
    /// BE: the credential may be backed up (a synced passkey). Fixed at registration.
    pub backup_eligible: bool,
    /// BS: the credential is backed up now.
    pub backup_state: bool,
    /// The transports the browser reported, known ones only (hints for `allowCredentials`).
    pub transports: Vec<String>,
    /// The authenticator's AAGUID, as a UUID (all zeros under `none` attestation, mostly).
    pub aaguid: String,
    /// Whether the user was verified at registration.
    pub user_verified: bool,
    /// The attestation format it came with: `none` or `packed`.
    pub attestation_format: String,
}

#[derive(Serialize, Deserialize)]
struct StoredJson {
    id: String,
    user_handle: String,
    public_key: serde_json::Value,
    alg: CoseAlgorithm,
    sign_count: u32,
    backup_eligible: bool,
    backup_state: bool,
    #[serde(default)]
    transports: Vec<String>,
    aaguid: String,
    user_verified: bool,
    attestation_format: String,
}

impl From<StoredCredential> for StoredJson {
    fn from(c: StoredCredential) -> StoredJson {
        let mut public_key = c.public_key.to_import_json();
        public_key["alg"] = serde_json::Value::String(c.alg.jws().as_str().into());
        StoredJson {
            id: c.id,
            user_handle: c.user_handle,
            public_key,
            alg: c.alg,
            sign_count: c.sign_count,
            backup_eligible: c.backup_eligible,
            backup_state: c.backup_state,
            transports: c.transports,
            aaguid: c.aaguid,
            user_verified: c.user_verified,
            attestation_format: c.attestation_format,
        }
    }
}

impl TryFrom<StoredJson> for StoredCredential {
    type Error = String;
    fn try_from(s: StoredJson) -> Result<Self, String> {
        let keys = parse_jwks(&serde_json::json!({ "keys": [s.public_key] }))?;
        let public_key = keys
            .into_iter()
            .next()
            .ok_or("the stored public key is not one the gateway verifies with")?;
        Ok(StoredCredential {
            id: s.id,
            user_handle: s.user_handle,
            public_key,
            alg: s.alg,
            sign_count: s.sign_count,
            backup_eligible: s.backup_eligible,
            backup_state: s.backup_state,
            transports: s.transports,
            aaguid: s.aaguid,
            user_verified: s.user_verified,
            attestation_format: s.attestation_format,
        })
    }
}

/// What the registration options said, kept by the server until the response comes back.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationExpectation<'a> {
    /// Our RP ID (the portal's host, or a registrable suffix of it).
    pub rp_id: &'a str,
    /// The portal's origin, exactly as the browser serializes it (`https://host[:port]`).
    pub origin: &'a str,
    /// The challenge issued, base64url.
    pub challenge: &'a str,
    /// `user.id` of the options, base64url: whose credential this becomes.
    pub user_handle: &'a str,
    /// Whether the UV flag is required (`userVerification: "required"`).
    pub require_user_verification: bool,
}

/// What the authentication options said.
#[derive(Debug, Clone, Copy)]
pub struct AuthenticationExpectation<'a> {
    pub rp_id: &'a str,
    pub origin: &'a str,
    /// The challenge issued, base64url.
    pub challenge: &'a str,
    /// The user named before the ceremony (the options listed their credentials in
    /// `allowCredentials`), base64url; `None` for a discoverable sign-in, where the response's
    /// `userHandle` says whose.
    pub user_handle: Option<&'a str>,
    pub require_user_verification: bool,
}

/// A checked authentication: who, and the credential as it should now be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The credential with the new signature counter and backup state.
    pub credential: StoredCredential,
    pub user_verified: bool,
}

/// A JSON object's members, read as `PublicKeyCredential.toJSON()` writes them.
type Members = serde_json::Map<String, Value>;

/// A member that must be text when present (`null` counts as absent).
fn text<'a>(members: &'a Members, key: &str) -> Result<Option<&'a str>, WebAuthnError> {
    match members.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(malformed("a member that should be text is not")),
    }
}

/// A registration response (`navigator.credentials.create()`), read but not yet checked.
#[derive(Debug, Clone)]
pub struct RegistrationResponse {
    id: String,
    raw_id: Vec<u8>,
    client_data_json: Vec<u8>,
    attestation_object: Vec<u8>,
    transports: Vec<String>,
}

/// An authentication response (`navigator.credentials.get()`), read but not yet checked.
#[derive(Debug, Clone)]
pub struct AssertionResponse {
    id: String,
    client_data_json: Vec<u8>,
    authenticator_data: Vec<u8>,
    signature: Vec<u8>,
    user_handle: Option<Vec<u8>>,
}

fn unb64(text: &str, max: usize, what: &'static str) -> Result<Vec<u8>, WebAuthnError> {
    // Four characters carry three bytes: refuse what could not fit before decoding it.
    if text.len() > max.saturating_add(2) / 3 * 4 + 4 {
        return Err(malformed(what));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| malformed(what))?;
    if bytes.len() > max {
        return Err(malformed(what));
    }
    Ok(bytes)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The credential's `id`, `rawId` and `type`, common to both ceremonies, and its `response`.
fn read_credential(json: &str) -> Result<(String, Vec<u8>, Members), WebAuthnError> {
    if json.len() > MAX_RESPONSE_JSON_BYTES {
        return Err(malformed("the response is too large"));
    }
    let Ok(Value::Object(mut credential)) = serde_json::from_str::<Value>(json) else {
        return Err(malformed("the response is not a JSON object"));
    };
    if text(&credential, "type")? != Some("public-key") {
        return Err(WebAuthnError::WrongCredentialType);
    }
    let (Some(id), Some(raw_id)) = (text(&credential, "id")?, text(&credential, "rawId")?) else {
        return Err(malformed("id or rawId is missing"));
    };
    if id != raw_id {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    let raw = unb64(
        raw_id,
        MAX_CREDENTIAL_ID_BYTES,
        "rawId is not a credential ID",
    )?;
    if raw.is_empty() {
        return Err(malformed("rawId is empty"));
    }
    let Some(Value::Object(response)) = credential.remove("response") else {
        return Err(malformed("the response member is missing"));
    };
    // The canonical spelling, so one credential has one stored ID.
    Ok((b64(&raw), raw, response))
}

/// A required base64url member of `response`, decoded and bounded.
fn field(
    response: &Members,
    key: &str,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, WebAuthnError> {
    unb64(text(response, key)?.ok_or(malformed(what))?, max, what)
}

impl RegistrationResponse {
    /// Reads a registration response's JSON. Nothing is checked against expectations yet.
    pub fn parse(json: &str) -> Result<RegistrationResponse, WebAuthnError> {
        let (id, raw_id, response) = read_credential(json)?;
        let client_data_json = field(
            &response,
            "clientDataJSON",
            MAX_CLIENT_DATA_BYTES,
            "clientDataJSON is missing or not base64url of a small JSON",
        )?;
        let attestation_object = field(
            &response,
            "attestationObject",
            MAX_AUTHENTICATOR_BYTES,
            "attestationObject is missing or not base64url of a small CBOR map",
        )?;
        let listed = match response.get("transports") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(listed)) => listed.as_slice(),
            Some(_) => return Err(malformed("transports is not an array")),
        };
        let mut transports: Vec<String> = Vec::new();
        for value in listed {
            let Some(name) = value.as_str() else {
                return Err(malformed("a transport is not a string"));
            };
            if KNOWN_TRANSPORTS.contains(&name)
                && !transports.iter().any(|t| t == name)
                && transports.len() < MAX_TRANSPORTS
            {
                transports.push(name.to_string());
            }
        }
        Ok(RegistrationResponse {
            id,
            raw_id,
            client_data_json,
            attestation_object,
            transports,
        })
    }

    /// The new credential's ID, base64url.
    pub fn credential_id(&self) -> &str {
        &self.id
    }
}

impl AssertionResponse {
    /// Reads an authentication response's JSON. Nothing is checked against expectations yet;
    /// [`AssertionResponse::credential_id`] says which stored credential to check it against.
    pub fn parse(json: &str) -> Result<AssertionResponse, WebAuthnError> {
        let (id, _, response) = read_credential(json)?;
        let client_data_json = field(
            &response,
            "clientDataJSON",
            MAX_CLIENT_DATA_BYTES,
            "clientDataJSON is missing or not base64url of a small JSON",
        )?;
        let authenticator_data = field(
            &response,
            "authenticatorData",
            MAX_AUTHENTICATOR_BYTES,
            "authenticatorData is missing or not base64url",
        )?;
        let signature = field(
            &response,
            "signature",
            MAX_SIGNATURE_BYTES,
            "signature is missing or not base64url",
        )?;
        let user_handle = match text(&response, "userHandle")? {
            None | Some("") => None,
            Some(text) => Some(unb64(
                text,
                MAX_USER_HANDLE_BYTES,
                "userHandle is not base64url of at most 64 bytes",
            )?),
        };
        Ok(AssertionResponse {
            id,
            client_data_json,
            authenticator_data,
            signature,
            user_handle,
        })
    }

    /// The credential it claims to be made with, base64url: the stored one to check it against.
    pub fn credential_id(&self) -> &str {
        &self.id
    }
}

/// `clientDataJSON` (§5.8.1) against the ceremony, challenge and origin (§7.1 steps 5–9,
/// §7.2 steps 8–12).
fn check_client_data(
    bytes: &[u8],
    ceremony: &str,
    challenge: &str,
    origin: &str,
) -> Result<(), WebAuthnError> {
    let Ok(Value::Object(data)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(malformed("clientDataJSON is not a JSON object"));
    };
    let (Some(type_), Some(sent), Some(sent_origin)) = (
        text(&data, "type")?,
        text(&data, "challenge")?,
        text(&data, "origin")?,
    ) else {
        return Err(malformed("clientDataJSON lacks type, challenge or origin"));
    };
    if type_ != ceremony {
        return Err(WebAuthnError::WrongCeremony);
    }
    if !constant_time_eq(sent.as_bytes(), challenge.as_bytes()) {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if sent_origin != origin {
        return Err(WebAuthnError::WrongOrigin);
    }
    let cross_origin = match data.get("crossOrigin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(cross)) => *cross,
        Some(_) => return Err(malformed("crossOrigin is not a boolean")),
    };
    if cross_origin || !matches!(data.get("topOrigin"), None | Some(Value::Null)) {
        return Err(WebAuthnError::CrossOrigin);
    }
    Ok(())
}

/// Authenticator data (§6.1), read.
struct AuthenticatorData<'a> {
    rp_id_hash: &'a [u8],
    flags: u8,
    sign_count: u32,
    attested: Option<AttestedCredential<'a>>,
}

struct AttestedCredential<'a> {
    aaguid: &'a [u8],
    credential_id: &'a [u8],
    key: CredentialKey,
}

/// A credential public key read from COSE (§6.5.1.1, RFC 9052 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialKey {
    pub alg: CoseAlgorithm,
    pub jwk: PublicJwk,
}

/// Reads authenticator data: the fixed 37 bytes, attested credential data when AT says so,
/// extensions when ED says so, and nothing after them.
fn parse_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData<'_>, WebAuthnError> {
    let short = || malformed("authenticator data is too short");
    let rp_id_hash = bytes.get(..32).ok_or_else(short)?;
    let flags = *bytes.get(32).ok_or_else(short)?;
    let count: [u8; 4] = bytes
        .get(33..37)
        .and_then(|c| c.try_into().ok())
        .ok_or_else(short)?;
    let mut rest = bytes.get(37..).ok_or_else(short)?;
    let attested = if flags & FLAG_AT != 0 {
        let aaguid = rest.get(..16).ok_or_else(short)?;
        let len: [u8; 2] = rest
            .get(16..18)
            .and_then(|l| l.try_into().ok())
            .ok_or_else(short)?;
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 || len > MAX_CREDENTIAL_ID_BYTES {
            return Err(malformed("the credential ID length is out of range"));
        }
        let credential_id = rest.get(18..18 + len).ok_or_else(short)?;
        let key_bytes = rest.get(18 + len..).ok_or_else(short)?;
        let (key, used) = parse_cose_key(key_bytes)?;
        rest = key_bytes.get(used..).ok_or_else(short)?;
        Some(AttestedCredential {
            aaguid,
            credential_id,
            key,
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        let mut d = Decoder::new(rest);
        if d.datatype().ok() != Some(Type::Map) {
            return Err(malformed("the extensions are not a CBOR map"));
        }
        skip(&mut d, 0)?;
        rest = rest.get(d.position()..).ok_or_else(short)?;
    }
    if !rest.is_empty() {
        return Err(malformed("authenticator data has bytes after its end"));
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count: u32::from_be_bytes(count),
        attested,
    })
}

fn cbor_error(_: minicbor::decode::Error) -> WebAuthnError {
    malformed("CBOR that does not decode")
}

/// A definite-length map's or array's entry count, bounded.
fn bounded(len: Option<u64>) -> Result<u64, WebAuthnError> {
    match len {
        Some(n) if n <= MAX_CBOR_ENTRIES => Ok(n),
        Some(_) => Err(malformed("a CBOR map or array is too large")),
        // CTAP2's canonical CBOR (which authenticators send) has definite lengths only.
        None => Err(malformed("an indefinite-length CBOR item")),
    }
}

/// Skips one CBOR item the gateway does not read, nesting at most [`MAX_CBOR_DEPTH`] deep.
fn skip(d: &mut Decoder<'_>, depth: usize) -> Result<(), WebAuthnError> {
    if depth > MAX_CBOR_DEPTH {
        return Err(malformed("CBOR nested too deep"));
    }
    match d.datatype().map_err(cbor_error)? {
        Type::Array => {
            for _ in 0..bounded(d.array().map_err(cbor_error)?)? {
                skip(d, depth + 1)?;
            }
        }
        Type::Map => {
            for _ in 0..bounded(d.map().map_err(cbor_error)?)? {
                skip(d, depth + 1)?;
                skip(d, depth + 1)?;
            }
        }
        Type::Tag => {
            d.tag().map_err(cbor_error)?;
            skip(d, depth + 1)?;
        }
        Type::BytesIndef
        | Type::StringIndef
        | Type::ArrayIndef
        | Type::MapIndef
        | Type::Break
        | Type::Unknown(_) => return Err(malformed("an indefinite-length or unknown CBOR item")),
        _ => d.skip().map_err(cbor_error)?,
    }
    Ok(())
}

/// A COSE key label or a text map key.
enum Label<'b> {
    Int(i64),
    Text(&'b str),
}

fn read_label<'b>(d: &mut Decoder<'b>) -> Result<Label<'b>, WebAuthnError> {
    match d.datatype().map_err(cbor_error)? {
        Type::String => Ok(Label::Text(d.str().map_err(cbor_error)?)),
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64 => Ok(Label::Int(d.i64().map_err(cbor_error)?)),
        _ => Err(malformed("a CBOR map key is neither an integer nor text")),
    }
}

fn read_int(d: &mut Decoder<'_>) -> Result<i64, WebAuthnError> {
    d.i64()
        .map_err(|_| malformed("a CBOR integer was expected"))
}

fn read_bytes<'b>(d: &mut Decoder<'b>) -> Result<&'b [u8], WebAuthnError> {
    d.bytes()
        .map_err(|_| malformed("a CBOR byte string was expected"))
}

/// Reads a COSE public key at the start of `bytes`; returns it and how many bytes it took.
pub fn parse_cose_key(bytes: &[u8]) -> Result<(CredentialKey, usize), WebAuthnError> {
    let mut d = Decoder::new(bytes);
    let entries = bounded(d.map().map_err(cbor_error)?)?;
    let (mut kty, mut alg, mut crv) = (None, None, None);
    let (mut x, mut y, mut n, mut e): (Option<&[u8]>, Option<&[u8]>, _, _) =
        (None, None, None, None);
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..entries {
        let label = match read_label(&mut d)? {
            Label::Int(label) => label,
            Label::Text(_) => {
                skip(&mut d, 1)?;
                continue;
            }
        };
        if seen.contains(&label) {
            return Err(malformed("a COSE key label repeats"));
        }
        seen.push(label);
        match label {
            1 => kty = Some(read_int(&mut d)?),
            3 => alg = Some(read_int(&mut d)?),
            // -1 is crv for EC2 and OKP keys, n for RSA; -2 is x, or e; -3 is y.
            -1 => match d.datatype().map_err(cbor_error)? {
                Type::Bytes => n = Some(read_bytes(&mut d)?),
                _ => crv = Some(read_int(&mut d)?),
            },
            -2 => {
                let value = read_bytes(&mut d)?;
                x = Some(value);
                e = Some(value);
            }
            -3 => y = Some(read_bytes(&mut d)?),
            _ => skip(&mut d, 1)?,
        }
    }
    let alg = alg.ok_or(malformed("the COSE key has no alg"))?;
    let alg = CoseAlgorithm::from_cose(alg).ok_or(WebAuthnError::UnsupportedAlgorithm(alg))?;
    let material = match (alg, kty) {
        (CoseAlgorithm::Es256, Some(2)) => match (crv, x, y) {
            (Some(1), Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => KeyMaterial::P256 {
                x: b64(x),
                y: b64(y),
            },
            _ => {
                return Err(malformed(
                    "an ES256 key that is not an uncompressed P-256 point",
                ))
            }
        },
        (CoseAlgorithm::Rs256, Some(3)) => {
            let n = n.map(strip_zeros).unwrap_or_default();
            let e = e.map(strip_zeros).unwrap_or_default();
            if n.len() * 8 < MIN_RSA_MODULUS_BITS || n.len() > 1024 || !(1..=8).contains(&e.len()) {
                return Err(malformed(
                    "an RS256 key under 2048 bits or with an odd exponent",
                ));
            }
            KeyMaterial::Rsa {
                n: b64(n),
                e: b64(e),
            }
        }
        (CoseAlgorithm::EdDsa, Some(1)) => match (crv, x) {
            (Some(6), Some(x)) if x.len() == 32 => KeyMaterial::Ed25519 { x: b64(x) },
            _ => return Err(malformed("an EdDSA key that is not Ed25519")),
        },
        _ => return Err(malformed("the COSE key's type does not fit its alg")),
    };
    let jwk = PublicJwk {
        kid: None,
        alg: Some(alg.jws().as_str().to_string()),
        material,
    };
    Ok((CredentialKey { alg, jwk }, d.position()))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// An attestation object (§6.5.4): its format, statement and authenticator data.
struct AttestationObject<'a> {
    fmt: &'a str,
    statement: Statement<'a>,
    auth_data: &'a [u8],
}

/// The attestation statements read: `none`'s empty one and `packed`'s.
enum Statement<'a> {
    Empty,
    Packed { alg: i64, sig: &'a [u8], x5c: bool },
    Other,
}

fn parse_attestation_object(bytes: &[u8]) -> Result<AttestationObject<'_>, WebAuthnError> {
    let mut d = Decoder::new(bytes);
    let entries = bounded(d.map().map_err(cbor_error)?)?;
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for _ in 0..entries {
        let Label::Text(key) = read_label(&mut d)? else {
            return Err(malformed("an attestation object key is not text"));
        };
        match key {
            "fmt" if fmt.is_none() => {
                fmt = Some(d.str().map_err(|_| malformed("fmt is not text"))?);
            }
            "attStmt" if statement.is_none() => statement = Some(parse_statement(&mut d)?),
            "authData" if auth_data.is_none() => auth_data = Some(read_bytes(&mut d)?),
            "fmt" | "attStmt" | "authData" => {
                return Err(malformed("an attestation object member repeats"))
            }
            _ => skip(&mut d, 1)?,
        }
    }
    if d.position() != bytes.len() {
        return Err(malformed("the attestation object has bytes after its end"));
    }
    match (fmt, statement, auth_data) {
        (Some(fmt), Some(statement), Some(auth_data)) => Ok(AttestationObject {
            fmt,
            statement,
            auth_data,
        }),
        _ => Err(malformed("fmt, attStmt or authData is missing")),
    }
}

fn parse_statement<'b>(d: &mut Decoder<'b>) -> Result<Statement<'b>, WebAuthnError> {
    let entries = bounded(d.map().map_err(|_| malformed("attStmt is not a map"))?)?;
    if entries == 0 {
        return Ok(Statement::Empty);
    }
    let (mut alg, mut sig, mut x5c, mut other) = (None, None, false, false);
    for _ in 0..entries {
        match read_label(d)? {
            Label::Text("alg") if alg.is_none() => alg = Some(read_int(d)?),
            Label::Text("sig") if sig.is_none() => sig = Some(read_bytes(d)?),
            Label::Text("x5c") if !x5c => {
                x5c = true;
                skip(d, 1)?;
            }
            Label::Text("alg" | "sig" | "x5c") => {
                return Err(malformed("an attestation statement member repeats"))
            }
            _ => {
                other = true;
                skip(d, 1)?;
            }
        }
    }
    Ok(match (alg, sig, other) {
        (Some(alg), Some(sig), false) => Statement::Packed { alg, sig, x5c },
        _ => Statement::Other,
    })
}

/// Converts an ASN.1 DER ECDSA signature (`SEQUENCE { r INTEGER, s INTEGER }`, what WebAuthn's
/// ES256 sends) to the 64-byte `r || s` that JWS and WebCrypto take (RFC 7518 §3.4).
pub fn der_to_raw_p256(der: &[u8]) -> Option<[u8; 64]> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let (r, rest) = der_integer(body)?;
    let (s, rest) = der_integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out.get_mut(32 - r.len()..32)?.copy_from_slice(r);
    out.get_mut(64 - s.len()..)?.copy_from_slice(s);
    Some(out)
}

/// One positive DER INTEGER of at most 32 significant bytes, and what follows it.
fn der_integer(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 {
        return None;
    }
    let value = rest.get(..len)?;
    if value.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    let value = strip_zeros(value);
    if value.len() > 32 {
        return None;
    }
    Some((value, rest.get(len..)?))
}

/// A signature to check through the [`JwsVerifier`]: what the pure checks leave to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub alg: JwsAlgorithm,
    /// `authenticatorData || SHA-256(clientDataJSON)`.
    pub message: Vec<u8>,
    /// In the verifier's form (ES256 as `r || s`).
    pub signature: Vec<u8>,
}

impl SignatureCheck {
    /// `None` when the signature cannot be one under `alg` (an ES256 one that is not DER).
    fn new(alg: CoseAlgorithm, auth_data: &[u8], client_data: &[u8], sig: &[u8]) -> Option<Self> {
        let signature = match alg {
            CoseAlgorithm::Es256 => der_to_raw_p256(sig)?.to_vec(),
            CoseAlgorithm::Rs256 | CoseAlgorithm::EdDsa => sig.to_vec(),
        };
        let mut message = auth_data.to_vec();
        message.extend_from_slice(&Sha256::digest(client_data));
        Some(SignatureCheck {
            alg: alg.jws(),
            message,
            signature,
        })
    }

    async fn verify<V: JwsVerifier>(&self, v: &V, key: &PublicJwk) -> Result<bool, StoreError> {
        v.verify_jws(self.alg, key, &self.message, &self.signature)
            .await
    }
}

/// A registration that passed every check but its attestation signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRegistration {
    pub credential: StoredCredential,
    /// The `packed` self attestation's signature, by the credential key; `None` for `none`.
    /// `Some(None)`: a signature that cannot be one (not DER), refused by the verification.
    pub attestation: Option<Option<SignatureCheck>>,
}

fn check_flags(flags: u8, require_uv: bool) -> Result<(), WebAuthnError> {
    if flags & FLAG_UP == 0 {
        return Err(WebAuthnError::UserNotPresent);
    }
    if require_uv && flags & FLAG_UV == 0 {
        return Err(WebAuthnError::UserNotVerified);
    }
    if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
        return Err(WebAuthnError::InconsistentBackupFlags);
    }
    Ok(())
}

fn check_rp_id_hash(hash: &[u8], rp_id: &str) -> Result<(), WebAuthnError> {
    if hash != Sha256::digest(rp_id.as_bytes()).as_slice() {
        return Err(WebAuthnError::WrongRpId);
    }
    Ok(())
}

fn uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match (
        hex.get(..8),
        hex.get(8..12),
        hex.get(12..16),
        hex.get(16..20),
        hex.get(20..),
    ) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => format!("{a}-{b}-{c}-{d}-{e}"),
        _ => hex,
    }
}

/// Registration (§7.1), every check but the attestation signature.
pub fn check_registration(
    response: &RegistrationResponse,
    expected: &RegistrationExpectation<'_>,
) -> Result<CheckedRegistration, WebAuthnError> {
    check_client_data(
        &response.client_data_json,
        "webauthn.create",
        expected.challenge,
        expected.origin,
    )?;
    let object = parse_attestation_object(&response.attestation_object)?;
    let auth = parse_authenticator_data(object.auth_data)?;
    check_rp_id_hash(auth.rp_id_hash, expected.rp_id)?;
    check_flags(auth.flags, expected.require_user_verification)?;
    let attested = auth
        .attested
        .ok_or(malformed("no attested credential data (AT is not set)"))?;
    if attested.credential_id != response.raw_id.as_slice() {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    let attestation = match (object.fmt, object.statement) {
        ("none", Statement::Empty) => None,
        ("none", _) => return Err(malformed("a none attestation with a statement")),
        ("packed", Statement::Packed { x5c: true, .. }) => {
            return Err(WebAuthnError::UnsupportedAttestationFormat(
                "packed (x5c)".into(),
            ))
        }
        ("packed", Statement::Packed { alg, sig, .. }) => {
            if alg != attested.key.alg.cose() {
                return Err(WebAuthnError::AttestationAlgorithmMismatch);
            }
            Some(SignatureCheck::new(
                attested.key.alg,
                object.auth_data,
                &response.client_data_json,
                sig,
            ))
        }
        ("packed", _) => return Err(malformed("a packed statement without alg and sig")),
        (other, _) => {
            return Err(WebAuthnError::UnsupportedAttestationFormat(
                other.chars().take(32).collect(),
            ))
        }
    };
    let credential = StoredCredential {
        id: response.id.clone(),
        user_handle: expected.user_handle.to_string(),
        public_key: attested.key.jwk,
        alg: attested.key.alg,
        sign_count: auth.sign_count,
        backup_eligible: auth.flags & FLAG_BE != 0,
        backup_state: auth.flags & FLAG_BS != 0,
        transports: response.transports.clone(),
        aaguid: uuid(attested.aaguid),
        user_verified: auth.flags & FLAG_UV != 0,
        attestation_format: object.fmt.to_string(),
    };
    Ok(CheckedRegistration {
        credential,
        attestation,
    })
}

/// Registration (§7.1): every check, the self attestation's signature through `verifier`.
/// `Ok(Err)` is a refusal, `Err` a platform failure.
pub async fn verify_registration<V: JwsVerifier>(
    verifier: &V,
    response: &RegistrationResponse,
    expected: &RegistrationExpectation<'_>,
) -> Result<Result<StoredCredential, WebAuthnError>, StoreError> {
    let checked = match check_registration(response, expected) {
        Ok(checked) => checked,
        Err(e) => return Ok(Err(e)),
    };
    let holds = match &checked.attestation {
        None => true,
        Some(None) => false,
        Some(Some(check)) => {
            check
                .verify(verifier, &checked.credential.public_key)
                .await?
        }
    };
    if !holds {
        return Ok(Err(WebAuthnError::BadAttestationSignature));
    }
    Ok(Ok(checked.credential))
}

/// An assertion that passed every check but its signature and the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAssertion {
    /// `None`: a signature that cannot be one under the credential's algorithm.
    pub signature: Option<SignatureCheck>,
    pub sign_count: u32,
    pub backup_state: bool,
    pub user_verified: bool,
}

/// Authentication (§7.2) against the stored `credential`, every check but the signature and
/// the counter (which only count once the signature holds).
pub fn check_assertion(
    response: &AssertionResponse,
    expected: &AuthenticationExpectation<'_>,
    credential: &StoredCredential,
) -> Result<CheckedAssertion, WebAuthnError> {
    if response.id != credential.id {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    if let Some(user) = expected.user_handle {
        if user != credential.user_handle {
            return Err(WebAuthnError::UserHandleMismatch);
        }
    }
    match &response.user_handle {
        Some(handle) if b64(handle) != credential.user_handle => {
            return Err(WebAuthnError::UserHandleMismatch)
        }
        None if expected.user_handle.is_none() => return Err(WebAuthnError::UserHandleMissing),
        _ => {}
    }
    check_client_data(
        &response.client_data_json,
        "webauthn.get",
        expected.challenge,
        expected.origin,
    )?;
    let auth = parse_authenticator_data(&response.authenticator_data)?;
    if auth.attested.is_some() {
        return Err(malformed("an assertion with attested credential data"));
    }
    check_rp_id_hash(auth.rp_id_hash, expected.rp_id)?;
    check_flags(auth.flags, expected.require_user_verification)?;
    if (auth.flags & FLAG_BE != 0) != credential.backup_eligible {
        return Err(WebAuthnError::BackupEligibilityChanged);
    }
    Ok(CheckedAssertion {
        signature: SignatureCheck::new(
            credential.alg,
            &response.authenticator_data,
            &response.client_data_json,
            &response.signature,
        ),
        sign_count: auth.sign_count,
        backup_state: auth.flags & FLAG_BS != 0,
        user_verified: auth.flags & FLAG_UV != 0,
    })
}

/// Authentication (§7.2): every check, the signature through `verifier`, then the counter.
/// `Ok(Err)` is a refusal, `Err` a platform failure.
pub async fn verify_authentication<V: JwsVerifier>(
    verifier: &V,
    response: &AssertionResponse,
    expected: &AuthenticationExpectation<'_>,
    credential: &StoredCredential,
) -> Result<Result<Authenticated, WebAuthnError>, StoreError> {
    let checked = match check_assertion(response, expected, credential) {
        Ok(checked) => checked,
        Err(e) => return Ok(Err(e)),
    };
    let Some(signature) = &checked.signature else {
        return Ok(Err(WebAuthnError::BadSignature));
    };
    if !signature.verify(verifier, &credential.public_key).await? {
        return Ok(Err(WebAuthnError::BadSignature));
    }
    let (stored, received) = (credential.sign_count, checked.sign_count);
    if (stored != 0 || received != 0) && received <= stored {
        return Ok(Err(WebAuthnError::CounterRegressed { stored, received }));
    }
    let mut updated = credential.clone();
    updated.sign_count = received;
    updated.backup_state = checked.backup_state;
    Ok(Ok(Authenticated {
        credential: updated,
        user_verified: checked.user_verified,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::signing::native::NativeCrypto;
    use futures_executor::block_on;
    use serde_json::{json, Value};

    /// Made by `tests/fixtures/webauthn/make-webauthn-fixtures.mjs`; @simplewebauthn/server is
    /// held to the same cases by `tests/e2e/webauthn-differential.test.mjs`.
    const FIXTURES: &str = include_str!("../../tests/fixtures/webauthn/fixtures.json");

    fn fixtures() -> Value {
        serde_json::from_str(FIXTURES).unwrap()
    }

    fn case(name: &str) -> Value {
        fixtures()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}"))
            .clone()
    }

    fn registration_expectation(c: &Value) -> RegistrationExpectation<'_> {
        RegistrationExpectation {
            rp_id: "portal.example.com",
            origin: "https://portal.example.com",
            challenge: c["expectation"]["challenge"].as_str().unwrap(),
            user_handle: c["expectation"]["user_handle"].as_str().unwrap(),
            require_user_verification: c["expectation"]["require_user_verification"] == true,
        }
    }

    fn authentication_expectation(c: &Value) -> AuthenticationExpectation<'_> {
        AuthenticationExpectation {
            rp_id: "portal.example.com",
            origin: "https://portal.example.com",
            challenge: c["expectation"]["challenge"].as_str().unwrap(),
            user_handle: c["expectation"]["user_handle"].as_str(),
            require_user_verification: c["expectation"]["require_user_verification"] == true,
        }
    }

    fn register(c: &Value) -> Result<StoredCredential, WebAuthnError> {
        let response = RegistrationResponse::parse(&c["response"].to_string())?;
        block_on(verify_registration(
            &NativeCrypto,
            &response,
            &registration_expectation(c),
        ))
        .unwrap()
    }

    /// The credential a case's registration stored, through its JSON form, at the case's count.
    fn stored_for(c: &Value) -> StoredCredential {
        let credential = register(&case(c["registration"].as_str().unwrap())).unwrap();
        let text = serde_json::to_string(&credential).unwrap();
        let mut back: StoredCredential = serde_json::from_str(&text).unwrap();
        assert_eq!(back, credential);
        back.sign_count = c["stored_sign_count"].as_u64().unwrap() as u32;
        back
    }

    fn authenticate(c: &Value, stored: &StoredCredential) -> Result<Authenticated, WebAuthnError> {
        let response = AssertionResponse::parse(&c["response"].to_string())?;
        block_on(verify_authentication(
            &NativeCrypto,
            &response,
            &authentication_expectation(c),
            stored,
        ))
        .unwrap()
    }

    fn verdict<T>(result: Result<T, WebAuthnError>) -> String {
        match result {
            Ok(_) => "ok".into(),
            Err(e) => e.code().into(),
        }
    }

    #[test]
    fn every_fixture_gets_the_verdict_it_records() {
        let fixtures = fixtures();
        let cases = fixtures["cases"].as_array().unwrap();
        assert!(cases.len() >= 40);
        for c in cases {
            let got = if c["ceremony"] == "registration" {
                verdict(register(c))
            } else {
                verdict(authenticate(c, &stored_for(c)))
            };
            assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["name"]);
        }
    }

    #[test]
    fn a_registration_stores_the_key_its_algorithm_flags_and_transports() {
        let c = case("registration/eddsa-none-synced");
        let credential = register(&c).unwrap();
        assert_eq!(credential.id, c["response"]["id"].as_str().unwrap());
        assert_eq!(credential.user_handle, c["expectation"]["user_handle"]);
        assert_eq!(credential.alg, CoseAlgorithm::EdDsa);
        assert!(matches!(
            credential.public_key.material,
            KeyMaterial::Ed25519 { .. }
        ));
        assert!(credential.backup_eligible && credential.backup_state);
        assert!(credential.user_verified);
        assert_eq!(credential.sign_count, 0);
        assert_eq!(credential.transports, ["hybrid", "internal"]);
        assert_eq!(credential.aaguid, "00000000-0000-0000-0000-000000000000");
        assert_eq!(credential.attestation_format, "none");
        let stored = serde_json::to_value(&credential).unwrap();
        assert_eq!(stored["alg"], -8);
        assert_eq!(stored["public_key"]["kty"], "OKP");
        assert_eq!(stored["public_key"]["alg"], "EdDSA");

        let packed = register(&case("registration/rs256-packed-self")).unwrap();
        assert_eq!(packed.alg, CoseAlgorithm::Rs256);
        assert_eq!(packed.attestation_format, "packed");
        assert_ne!(packed.aaguid, "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn an_authentication_gives_the_credential_with_its_new_count_and_backup_state() {
        let c = case("authentication/counter-grows");
        let stored = stored_for(&c);
        assert_eq!(stored.sign_count, 10);
        let done = authenticate(&c, &stored).unwrap();
        assert_eq!(done.credential.sign_count, 11);
        assert!(done.user_verified);
        assert_eq!(done.credential.public_key, stored.public_key);

        let c = case("authentication/eddsa-synced");
        let mut stored = stored_for(&c);
        stored.backup_state = false;
        assert!(authenticate(&c, &stored).unwrap().credential.backup_state);
    }

    #[test]
    fn a_regressed_counter_is_reported_only_once_the_signature_holds() {
        let c = case("authentication/es256-flipped-signature");
        let mut stored = stored_for(&c);
        stored.sign_count = 1_000;
        assert_eq!(authenticate(&c, &stored), Err(WebAuthnError::BadSignature));
        let c = case("authentication/counter-regressed");
        assert_eq!(
            authenticate(&c, &stored_for(&c)),
            Err(WebAuthnError::CounterRegressed {
                stored: 10,
                received: 5
            })
        );
    }

    #[test]
    fn an_assertion_is_checked_against_the_credential_it_names_only() {
        let c = case("authentication/es256");
        let other = register(&case("registration/rs256-none")).unwrap();
        assert_eq!(
            authenticate(&c, &other),
            Err(WebAuthnError::CredentialIdMismatch)
        );
        // The credential found is not the user's the ceremony named.
        let mut stored = stored_for(&c);
        stored.user_handle = "c29tZW9uZS1lbHNl".into();
        assert_eq!(
            authenticate(&c, &stored),
            Err(WebAuthnError::UserHandleMismatch)
        );
    }

    #[test]
    fn a_platform_failure_is_an_error_not_a_refusal() {
        struct Down;
        impl JwsVerifier for Down {
            async fn verify_jws(
                &self,
                _: JwsAlgorithm,
                _: &PublicJwk,
                _: &[u8],
                _: &[u8],
            ) -> Result<bool, StoreError> {
                Err(StoreError::unavailable("WebCrypto is down"))
            }
        }
        let c = case("authentication/es256");
        let response = AssertionResponse::parse(&c["response"].to_string()).unwrap();
        let stored = stored_for(&c);
        let result = block_on(verify_authentication(
            &Down,
            &response,
            &authentication_expectation(&c),
            &stored,
        ));
        assert!(result.is_err());
    }

    #[test]
    fn the_credential_json_is_refused_where_it_is_not_a_response() {
        let c = case("registration/es256-none");
        let mut response = c["response"].clone();
        response["type"] = json!("password");
        assert_eq!(
            verdict(RegistrationResponse::parse(&response.to_string())),
            "wrong_credential_type"
        );
        let mut response = c["response"].clone();
        response["id"] = json!("b3RoZXI");
        assert_eq!(
            verdict(RegistrationResponse::parse(&response.to_string())),
            "credential_id_mismatch"
        );
        let padding = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RESPONSE_JSON_BYTES));
        assert_eq!(verdict(AssertionResponse::parse(&padding)), "malformed");
        for text in ["", "null", "[]", "{\"type\":\"public-key\"}", "{\"id\":1}"] {
            assert!(RegistrationResponse::parse(text).is_err(), "{text}");
            assert!(AssertionResponse::parse(text).is_err(), "{text}");
        }
        let mut response = c["response"].clone();
        response["rawId"] = json!(URL_SAFE_NO_PAD.encode([7u8; 1024]));
        response["id"] = response["rawId"].clone();
        assert_eq!(
            verdict(RegistrationResponse::parse(&response.to_string())),
            "malformed"
        );
    }

    #[test]
    fn unknown_transports_are_dropped_and_repeats_kept_once() {
        let c = case("registration/es256-none");
        let mut response = c["response"].clone();
        response["response"]["transports"] = json!(["usb", "usb", "carrier-pigeon", "nfc"]);
        let credential = block_on(verify_registration(
            &NativeCrypto,
            &RegistrationResponse::parse(&response.to_string()).unwrap(),
            &registration_expectation(&c),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(credential.transports, ["usb", "nfc"]);
    }

    /// CBOR as authenticators write it, for hand-made attestation objects and keys.
    enum C {
        Int(i64),
        Bytes(Vec<u8>),
        Text(&'static str),
        Map(Vec<(C, C)>),
        Array(Vec<C>),
        Raw(Vec<u8>),
    }

    fn head(major: u8, n: u64, out: &mut Vec<u8>) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => out.extend([m | 25, (n >> 8) as u8, n as u8]),
            _ => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
        }
    }

    fn cbor(value: &C) -> Vec<u8> {
        let mut out = Vec::new();
        match value {
            C::Int(i) if *i >= 0 => head(0, *i as u64, &mut out),
            C::Int(i) => head(1, (-1 - *i) as u64, &mut out),
            C::Bytes(b) => {
                head(2, b.len() as u64, &mut out);
                out.extend(b);
            }
            C::Text(t) => {
                head(3, t.len() as u64, &mut out);
                out.extend(t.as_bytes());
            }
            C::Array(items) => {
                head(4, items.len() as u64, &mut out);
                items.iter().for_each(|i| out.extend(cbor(i)));
            }
            C::Map(entries) => {
                head(5, entries.len() as u64, &mut out);
                for (k, v) in entries {
                    out.extend(cbor(k));
                    out.extend(cbor(v));
                }
            }
            C::Raw(bytes) => out.extend(bytes),
        }
        out
    }

    fn ec2_key(alg: i64, crv: i64, len: usize) -> C {
        C::Map(vec![
            (C::Int(1), C::Int(2)),
            (C::Int(3), C::Int(alg)),
            (C::Int(-1), C::Int(crv)),
            (C::Int(-2), C::Bytes(vec![1; len])),
            (C::Int(-3), C::Bytes(vec![2; len])),
        ])
    }

    fn key_verdict(key: &C) -> String {
        verdict(parse_cose_key(&cbor(key)))
    }

    #[test]
    fn cose_keys_become_jwks_of_the_three_algorithms_only() {
        let (key, used) = parse_cose_key(&cbor(&ec2_key(-7, 1, 32))).unwrap();
        assert_eq!(used, cbor(&ec2_key(-7, 1, 32)).len());
        assert_eq!(key.alg, CoseAlgorithm::Es256);
        assert_eq!(key.jwk.alg.as_deref(), Some("ES256"));
        assert!(matches!(key.jwk.material, KeyMaterial::P256 { .. }));
        assert_eq!(key_verdict(&ec2_key(-35, 2, 48)), "unsupported_algorithm");
        assert_eq!(key_verdict(&ec2_key(-7, 2, 32)), "malformed");
        assert_eq!(key_verdict(&ec2_key(-7, 1, 31)), "malformed");
        let mut no_alg = cbor(&ec2_key(-7, 1, 32));
        no_alg[3] = 0x04; // label 3 (alg) becomes 4 (key_ops)
        assert_eq!(verdict(parse_cose_key(&no_alg)), "malformed");
        // An OKP key claiming ES256.
        let okp_es256 = C::Map(vec![
            (C::Int(1), C::Int(1)),
            (C::Int(3), C::Int(-7)),
            (C::Int(-1), C::Int(6)),
            (C::Int(-2), C::Bytes(vec![1; 32])),
        ]);
        assert_eq!(key_verdict(&okp_es256), "malformed");
        // A compressed point (y as a bool) is not what WebAuthn sends.
        let compressed = C::Map(vec![
            (C::Int(1), C::Int(2)),
            (C::Int(3), C::Int(-7)),
            (C::Int(-1), C::Int(1)),
            (C::Int(-2), C::Bytes(vec![1; 32])),
            (C::Int(-3), C::Raw(vec![0xf5])),
        ]);
        assert_eq!(key_verdict(&compressed), "malformed");
        let repeated = C::Map(vec![
            (C::Int(1), C::Int(2)),
            (C::Int(1), C::Int(2)),
            (C::Int(3), C::Int(-7)),
        ]);
        assert_eq!(key_verdict(&repeated), "malformed");
        let rsa = |bits: usize| {
            C::Map(vec![
                (C::Int(1), C::Int(3)),
                (C::Int(3), C::Int(-257)),
                (
                    C::Int(-1),
                    C::Bytes([vec![0], vec![0xc5; bits / 8]].concat()),
                ),
                (C::Int(-2), C::Bytes(vec![1, 0, 1])),
            ])
        };
        let (key, _) = parse_cose_key(&cbor(&rsa(2048))).unwrap();
        let KeyMaterial::Rsa { n, e } = key.jwk.material else {
            panic!("an RSA key")
        };
        assert_eq!(
            URL_SAFE_NO_PAD.decode(n).unwrap().len(),
            256,
            "leading zero dropped"
        );
        assert_eq!(e, "AQAB");
        assert_eq!(key_verdict(&rsa(1024)), "malformed");
    }

    #[test]
    fn cbor_is_bounded_in_depth_size_and_form() {
        // Extensions nested past the bound, after an otherwise valid assertion's 37 bytes.
        let mut deep = C::Int(0);
        for _ in 0..=MAX_CBOR_DEPTH + 1 {
            deep = C::Array(vec![deep]);
        }
        let mut data = vec![0u8; 32];
        data.extend([FLAG_UP | FLAG_ED, 0, 0, 0, 1]);
        let ok = [
            data.clone(),
            cbor(&C::Map(vec![(C::Text("credProtect"), C::Int(2))])),
        ]
        .concat();
        assert!(parse_authenticator_data(&ok).is_ok());
        let nested = [data.clone(), cbor(&C::Map(vec![(C::Text("x"), deep)]))].concat();
        assert_eq!(
            verdict(parse_authenticator_data(&nested).map(|_| ())),
            "malformed"
        );
        // Indefinite lengths, a declared size far past the input, trailing bytes.
        for tail in [
            vec![0xbf, 0x61, 0x78, 0x00, 0xff],
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [cbor(&C::Map(vec![])), vec![0]].concat(),
        ] {
            let bytes = [data.clone(), tail].concat();
            assert_eq!(
                verdict(parse_authenticator_data(&bytes).map(|_| ())),
                "malformed"
            );
        }
        let huge = [vec![0xb9, 0xff, 0xff], vec![0; 8]].concat();
        assert_eq!(verdict(parse_cose_key(&huge)), "malformed");
    }

    fn with_attestation(c: &Value, object: &C) -> Value {
        let mut response = c["response"].clone();
        response["response"]["attestationObject"] = json!(URL_SAFE_NO_PAD.encode(cbor(object)));
        response
    }

    fn auth_data_of(c: &Value) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(
                c["response"]["response"]["authenticatorData"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn packed_attestation_with_a_certificate_chain_and_odd_objects_are_refused() {
        let c = case("registration/es256-packed-self");
        let run = |response: Value| {
            verdict(
                RegistrationResponse::parse(&response.to_string())
                    .and_then(|r| check_registration(&r, &registration_expectation(&c))),
            )
        };
        let object = |fmt: &'static str, statement: C| {
            C::Map(vec![
                (C::Text("fmt"), C::Text(fmt)),
                (C::Text("attStmt"), statement),
                (C::Text("authData"), C::Bytes(auth_data_of(&c))),
            ])
        };
        let x5c = C::Map(vec![
            (C::Text("alg"), C::Int(-7)),
            (C::Text("sig"), C::Bytes(vec![0x30, 0])),
            (C::Text("x5c"), C::Array(vec![C::Bytes(vec![0; 40])])),
        ]);
        assert_eq!(
            verdict(
                RegistrationResponse::parse(
                    &with_attestation(&c, &object("packed", x5c)).to_string()
                )
                .and_then(|r| check_registration(&r, &registration_expectation(&c)))
            ),
            "unsupported_attestation_format"
        );
        assert_eq!(
            run(with_attestation(&c, &object("apple", C::Map(vec![])))),
            "unsupported_attestation_format"
        );
        assert_eq!(
            run(with_attestation(&c, &object("packed", C::Map(vec![])))),
            "malformed"
        );
        // The statement signature is not DER: refused as a bad signature, by the verifier step.
        let not_der = C::Map(vec![
            (C::Text("alg"), C::Int(-7)),
            (C::Text("sig"), C::Bytes(vec![1, 2, 3])),
        ]);
        let response = with_attestation(&c, &object("packed", not_der));
        let result = block_on(verify_registration(
            &NativeCrypto,
            &RegistrationResponse::parse(&response.to_string()).unwrap(),
            &registration_expectation(&c),
        ))
        .unwrap();
        assert_eq!(result, Err(WebAuthnError::BadAttestationSignature));
        let twice = C::Map(vec![
            (C::Text("fmt"), C::Text("none")),
            (C::Text("fmt"), C::Text("none")),
            (C::Text("attStmt"), C::Map(vec![])),
            (C::Text("authData"), C::Bytes(auth_data_of(&c))),
        ]);
        assert_eq!(run(with_attestation(&c, &twice)), "malformed");
        let no_at = C::Map(vec![
            (C::Text("fmt"), C::Text("none")),
            (C::Text("attStmt"), C::Map(vec![])),
            (
                C::Text("authData"),
                C::Bytes(auth_data_of(&c)[..37].to_vec()),
            ),
        ]);
        assert_eq!(run(with_attestation(&c, &no_at)), "malformed");
    }

    #[test]
    fn der_signatures_become_left_padded_r_and_s() {
        let mut der = vec![0x30, 0x44, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x1f]);
        der.extend([0x11; 31]);
        let raw = der_to_raw_p256(&der).unwrap();
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &[0x11; 31]);
        assert_eq!(der_to_raw_p256(&[der.clone(), vec![0]].concat()), None);
        let mut negative = der.clone();
        negative[4] = 0x80;
        assert_eq!(der_to_raw_p256(&negative), None);
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0],
            &[0x31, 0x06, 2, 1, 1, 2, 1, 1],
            &[0x30, 0x06, 2, 0, 2, 2, 1, 1],
        ] {
            assert_eq!(der_to_raw_p256(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_truncation_or_bit_flip_of_a_real_response_panics() {
        let fixtures = fixtures();
        for c in fixtures["cases"].as_array().unwrap() {
            let stored = (c["ceremony"] == "authentication").then(|| stored_for(c));
            for field in ["attestationObject", "authenticatorData", "clientDataJSON"] {
                let Some(text) = c["response"]["response"][field].as_str() else {
                    continue;
                };
                let bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
                for cut in 0..bytes.len() {
                    let mut changed = bytes.clone();
                    changed[cut] ^= 0x5a;
                    for variant in [bytes[..cut].to_vec(), changed] {
                        let mut response = c["response"].clone();
                        response["response"][field] = json!(URL_SAFE_NO_PAD.encode(variant));
                        let text = response.to_string();
                        if let Ok(r) = RegistrationResponse::parse(&text) {
                            let _ = check_registration(&r, &registration_expectation(c));
                        }
                        if let (Some(stored), Ok(r)) = (&stored, AssertionResponse::parse(&text)) {
                            let _ = check_assertion(&r, &authentication_expectation(c), stored);
                        }
                    }
                }
            }
        }
    }
}
