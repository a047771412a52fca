//! Time-based one-time passwords, a second factor (RFC 6238 over RFC 4226's HOTP), pure: the
//! secret an authenticator app is given (20 random bytes, shown in base32, RFC 4648 §6, and as an
//! `otpauth://` URI, Google Authenticator's Key Uri Format), the six-digit codes, and the
//! verification of one a person typed.
//!
//! The parameters are the ones every authenticator app computes without being told: HMAC-SHA1,
//! six digits, a 30 s period from the Unix epoch (RFC 6238 §4: `T0` = 0, `X` = 30).
//!
//! Verification ([`verify_totp`]) accepts the current step and one step either side
//! ([`WINDOW_STEPS`]), refuses a code whose step is not later than the last one accepted for
//! the secret (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same OTP"),
//! and returns the step it matched, which the caller stores as the new last one. It compares in
//! constant time and computes every step of the window whatever matches. Six digits with three
//! steps open let a guess in about 333,000 through: the caller throttles attempts
//! (RFC 4226 §7.3), as sign-in throttles passwords.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::error::StoreError;
use crate::ports::Rng;
use crate::primitives::secret::constant_time_eq;

/// Bytes of a new secret: 160 bits, RFC 4226 §4's recommended length (R6), and SHA-1's output.
pub const SECRET_BYTES: usize = 20;

/// Fewest bytes a secret read back may have: RFC 4226 §4 (R6) requires 128 bits.
pub const MIN_SECRET_BYTES: usize = 16;

/// Most bytes a secret read back may have: HMAC-SHA1's block, past which the key is hashed first
/// (RFC 2104 §2), so a longer one is no stronger.
pub const MAX_SECRET_BYTES: usize = 64;

/// Digits of a code (RFC 4226 §5.3, `Digit` = 6).
pub const DIGITS: usize = 6;

/// Seconds of one time step (RFC 6238 §4, `X` = 30, its recommended default).
pub const PERIOD_SECS: u64 = 30;

/// Steps accepted either side of the current one: one (RFC 6238 §5.2 recommends "at most one
/// time step ... backward" for network delay; one forward absorbs a phone's clock running up to
/// 30 s fast). A code is thus good for 60 to 90 s from when the app first shows it.
pub const WINDOW_STEPS: u64 = 1;

/// A TOTP secret: the HMAC key the gateway and the authenticator app share. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// Why a base32 secret was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretError {
    /// Not base32 (RFC 4648 §6): a character outside `A`–`Z`, `2`–`7`, a length no bytes have,
    /// padding inside the text, or set bits left over after the last byte.
    NotBase32,
    /// Fewer than [`MIN_SECRET_BYTES`] or more than [`MAX_SECRET_BYTES`] bytes.
    Length,
}

impl TotpSecret {
    /// A new secret of [`SECRET_BYTES`] from the random source.
    pub fn generate(rng: &impl Rng) -> Result<TotpSecret, StoreError> {
        let mut bytes = vec![0; SECRET_BYTES];
        rng.fill(&mut bytes)?;
        Ok(TotpSecret(bytes))
    }

    /// A secret from its bytes (as stored), of [`MIN_SECRET_BYTES`] ..= [`MAX_SECRET_BYTES`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<TotpSecret, SecretError> {
        if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            Ok(TotpSecret(bytes))
        } else {
            Err(SecretError::Length)
        }
    }

    /// A secret from base32 as people copy it: spaces, lower case and `=` padding allowed.
    pub fn from_base32(text: &str) -> Result<TotpSecret, SecretError> {
        // Bounded before decoding: the longest secret, padded, with a space every character.
        if text.len() > 4 * MAX_SECRET_BYTES * 8 / 5 {
            return Err(SecretError::Length);
        }
        TotpSecret::from_bytes(base32_decode(text).ok_or(SecretError::NotBase32)?)
    }

    /// The bytes, to store (sealed) or to compute with.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as an authenticator app's "enter a setup key" field takes it: base32, no
    /// padding.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The code for one time step.
    pub fn code_at_step(&self, step: u64) -> String {
        hotp(&self.0, step)
    }

    /// The code an app shows at `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.code_at_step(step_at(unix_secs))
    }
}

/// RFC 4648 §6's alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648 §6) without padding, as authenticator apps take secrets (Key Uri Format).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Base32 (RFC 4648 §6) as people copy it: ASCII whitespace anywhere is dropped, lower case is
/// read as upper, and `=` padding is allowed at the end. `None` for anything else: another
/// character, padding before the end, a length that holds no whole number of bytes (1, 3 or 6
/// characters past a multiple of 8), or set bits after the last byte (a mistyped last character;
/// RFC 4648 §3.5 lets decoders refuse them).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits, mut chars) = (0u32, 0u32, 0usize);
    let mut padding = false;
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if byte == b'=' {
            padding = true;
            continue;
        }
        if padding {
            return None;
        }
        let value = match byte.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        chars += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if matches!(chars % 8, 1 | 3 | 6) || buffer != 0 {
        return None;
    }
    Some(out)
}

/// Why an `otpauth://` URI was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelError {
    /// The issuer or the account is empty.
    Empty,
    /// The issuer or the account holds a colon, which the Key Uri Format forbids in either
    /// ("Neither issuer nor account name may themselves contain a colon"): apps split the label
    /// at it.
    Colon,
}

/// The `otpauth://` URI an authenticator app scans as a QR code (Google Authenticator's Key Uri
/// Format): `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`,
/// the issuer and account percent-encoded (everything but RFC 3986's unreserved characters; a
/// space as `%20`), the issuer both in the label and as a parameter, as the format recommends.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> Result<String, LabelError> {
    if issuer.is_empty() || account.is_empty() {
        return Err(LabelError::Empty);
    }
    if issuer.contains(':') || account.contains(':') {
        return Err(LabelError::Colon);
    }
    let issuer = percent_encode(issuer);
    Ok(format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        account = percent_encode(account),
        secret = secret.to_base32(),
    ))
}

/// Every byte but RFC 3986's unreserved characters (§2.3) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// RFC 4226 §5.3's `Snum`: HMAC-SHA1 of the 8-byte big-endian counter, dynamically truncated to
/// 31 bits.
pub fn hotp_value(key: &[u8], counter: u64) -> u32 {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let hs: [u8; 20] = mac.finalize().into_bytes().into();
    // The low 4 bits of the last byte pick the offset: at most 15, so 15..19 are in range.
    let offset = usize::from(hs[19] & 0x0f);
    let word = [hs[offset], hs[offset + 1], hs[offset + 2], hs[offset + 3]];
    u32::from_be_bytes(word) & 0x7fff_ffff
}

/// The six-digit HOTP code for `counter` (RFC 4226 §5.3: `Snum mod 10^6`, zero-padded).
pub fn hotp(key: &[u8], counter: u64) -> String {
    format!("{:06}", hotp_value(key, counter) % 1_000_000)
}

/// The time step at `unix_secs` (RFC 6238 §4.2: `T = floor((now - T0) / X)`).
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// Longest text read as a code: six digits with room for the spaces people type.
const MAX_TYPED_LEN: usize = 32;

/// Why a TOTP code was refused. The caller may show them all alike, but counts each as a failed
/// attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpRefusal {
    /// Not six ASCII digits once spaces are dropped.
    Malformed,
    /// No step of the window has this code.
    Wrong,
    /// The code is right, but for a step not later than the last one accepted (RFC 6238 §5.2):
    /// a code used again, or one older than a code already used.
    Replayed,
}

/// Checks a code a person typed against `secret` at `now_secs` (Unix seconds): accepted for the
/// current step or [`WINDOW_STEPS`] either side, when that step is later than `last_step` (the
/// step returned by the last acceptance, `None` before the first). Spaces are dropped (apps show
/// `123 456`); anything but six ASCII digits then is [`TotpRefusal::Malformed`].
///
/// Returns the step matched, for the caller to store as the next `last_step` (atomically with
/// the acceptance, so two requests cannot both spend one code). When a code matches more than one
/// step of the window, the latest is returned, so no step at or before it can be used after.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now_secs: u64,
    last_step: Option<u64>,
) -> Result<u64, TotpRefusal> {
    // Bounded before anything is copied: six digits among a few spaces, not a page of them.
    if code.len() > MAX_TYPED_LEN {
        return Err(TotpRefusal::Malformed);
    }
    let typed: Vec<u8> = code.bytes().filter(|&b| b != b' ').collect();
    if typed.len() != DIGITS || !typed.iter().all(u8::is_ascii_digit) {
        return Err(TotpRefusal::Malformed);
    }
    let current = step_at(now_secs);
    let (mut fresh, mut replayed) = (None, false);
    // Every step of the window is computed and compared, whichever matches.
    for step in current.saturating_sub(WINDOW_STEPS)..=current.saturating_add(WINDOW_STEPS) {
        let matches = constant_time_eq(secret.code_at_step(step).as_bytes(), &typed);
        let later = last_step.is_none_or(|last| step > last);
        if matches && later {
            fresh = Some(step);
        }
        replayed |= matches && !later;
    }
    match fresh {
        Some(step) => Ok(step),
        None if replayed => Err(TotpRefusal::Replayed),
        None => Err(TotpRefusal::Wrong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::cases::Cases;
    use std::cell::Cell;

    /// RFC 4226 Appendix D's and RFC 6238 Appendix B's SHA-1 key: ASCII "12345678901234567890".
    const RFC_KEY: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(RFC_KEY.to_vec()).unwrap()
    }

    /// A random source that counts up from a seed, so each call gives other bytes.
    struct Counting(Cell<u8>);

    impl Rng for Counting {
        fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    struct Broken;

    impl Rng for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), StoreError> {
            Err(StoreError::unavailable("no randomness"))
        }
    }

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        // Appendix D: the truncated decimal values (Snum) and the six-digit HOTP values.
        let rows: [(u32, &str); 10] = [
            (1284755224, "755224"),
            (1094287082, "287082"),
            (137359152, "359152"),
            (1726969429, "969429"),
            (1640338314, "338314"),
            (868254676, "254676"),
            (1918287922, "287922"),
            (82162583, "162583"),
            (673399871, "399871"),
            (645520489, "520489"),
        ];
        for (counter, (snum, code)) in rows.into_iter().enumerate() {
            assert_eq!(hotp_value(RFC_KEY, counter as u64), snum, "count {counter}");
            assert_eq!(hotp(RFC_KEY, counter as u64), code, "count {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1_rows() {
        // Appendix B, the SHA1 rows: time, T in hex, the eight-digit TOTP.
        let rows: [(u64, u64, &str); 6] = [
            (59, 0x1, "94287082"),
            (1111111109, 0x23523EC, "07081804"),
            (1111111111, 0x23523ED, "14050471"),
            (1234567890, 0x273EF07, "89005924"),
            (2000000000, 0x3F940AA, "69279037"),
            (20000000000, 0x27BC86AA, "65353130"),
        ];
        let secret = rfc_secret();
        for (time, t, eight) in rows {
            assert_eq!(step_at(time), t, "T at {time}");
            let value = hotp_value(RFC_KEY, t) % 100_000_000;
            assert_eq!(format!("{value:08}"), eight, "eight digits at {time}");
            // The six-digit code is the last six of the eight (Snum mod 10^6).
            assert_eq!(secret.code_at(time), eight[2..], "six digits at {time}");
            assert_eq!(verify_totp(&secret, &eight[2..], time, None), Ok(t));
        }
    }

    #[test]
    fn base32_matches_rfc_4648_section_10() {
        let rows = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        let padded = [
            "",
            "MY======",
            "MZXQ====",
            "MZXW6===",
            "MZXW6YQ=",
            "MZXW6YTB",
            "MZXW6YTBOI======",
        ];
        for ((plain, encoded), padded) in rows.into_iter().zip(padded) {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(base32_decode(padded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base32_reads_secrets_as_people_copy_them() {
        let bytes = base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(bytes, RFC_KEY);
        for copied in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            " GEZDGNBVGY3TQOJQ\tGEZDGNBVGY3TQOJQ\n",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ========",
        ] {
            assert_eq!(base32_decode(copied).unwrap(), RFC_KEY, "{copied:?}");
        }
    }

    #[test]
    fn base32_refuses_what_is_not_base32() {
        for bad in [
            "MZXW6YT1",  // 1 is not in the alphabet
            "MZXW6YT8",  // nor 8
            "MZXW6YT0",  // nor 0
            "MZ=XW6YTB", // padding before the end
            "M",         // one character holds no byte
            "MZX",       // nor three past a multiple of eight
            "MZXW6Y",    // nor six
            "MZ",        // MY with bits set past the byte: not what any encoder writes
            "MZXW6YTBÖ", // not ASCII
        ] {
            assert_eq!(base32_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trips_every_length() {
        let mut cases = Cases::new(6238);
        for len in 0..70usize {
            let bytes: Vec<u8> = (0..len).map(|_| cases.number() as u8).collect();
            let encoded = base32_encode(&bytes);
            assert_eq!(encoded.len(), (len * 8).div_ceil(5));
            assert_eq!(base32_decode(&encoded).unwrap(), bytes, "length {len}");
            let lower = encoded.to_ascii_lowercase();
            assert_eq!(base32_decode(&lower).unwrap(), bytes, "length {len}");
        }
    }

    #[test]
    fn a_new_secret_is_twenty_bytes_from_the_random_source() {
        let secret = TotpSecret::generate(&Counting(Cell::new(0))).unwrap();
        assert_eq!(secret.expose(), (0..20).collect::<Vec<u8>>());
        assert_eq!(secret.to_base32().len(), 32);
        let read = TotpSecret::from_base32(&secret.to_base32()).unwrap();
        assert_eq!(read, secret);
        assert!(TotpSecret::generate(&Broken).is_err());
    }

    #[test]
    fn a_secret_never_prints() {
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret(..)");
    }

    #[test]
    fn a_secret_read_back_is_refused_outside_16_to_64_bytes() {
        assert_eq!(
            TotpSecret::from_bytes(vec![7; 15]),
            Err(SecretError::Length)
        );
        assert!(TotpSecret::from_bytes(vec![7; 16]).is_ok());
        assert!(TotpSecret::from_bytes(vec![7; 64]).is_ok());
        assert_eq!(
            TotpSecret::from_bytes(vec![7; 65]),
            Err(SecretError::Length)
        );
        assert_eq!(
            TotpSecret::from_base32("JBSWY3DPEHPK3PXP"), // 10 bytes
            Err(SecretError::Length)
        );
        assert_eq!(
            TotpSecret::from_base32("JBSWY3DPEHPK3PX!"),
            Err(SecretError::NotBase32)
        );
        assert_eq!(
            TotpSecret::from_base32(&" ".repeat(10_000)),
            Err(SecretError::Length)
        );
    }

    #[test]
    fn the_uri_follows_the_key_uri_format() {
        let secret = rfc_secret();
        assert_eq!(
            otpauth_uri("Example Co", "alice@example.com", &secret).unwrap(),
            "otpauth://totp/Example%20Co:alice%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Co\
             &algorithm=SHA1&digits=6&period=30"
        );
        // Non-ASCII is percent-encoded as UTF-8; `&`, `?`, `#`, `/` and `+` cannot break out.
        assert_eq!(
            otpauth_uri("Zoë & Co/+?#", "a b", &secret)
                .unwrap()
                .split('?')
                .next(),
            Some("otpauth://totp/Zo%C3%AB%20%26%20Co%2F%2B%3F%23:a%20b")
        );
    }

    #[test]
    fn the_uri_refuses_a_colon_or_an_empty_label() {
        let secret = rfc_secret();
        assert_eq!(
            otpauth_uri("Evil:Bank", "alice", &secret),
            Err(LabelError::Colon)
        );
        assert_eq!(
            otpauth_uri("Bank", "a:lice", &secret),
            Err(LabelError::Colon)
        );
        assert_eq!(otpauth_uri("", "alice", &secret), Err(LabelError::Empty));
        assert_eq!(otpauth_uri("Bank", "", &secret), Err(LabelError::Empty));
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = rfc_secret();
        let now = 1_111_111_111; // step 0x23523ED, 1 s into it
        let current = step_at(now);
        for offset in [-1i64, 0, 1] {
            let step = current.checked_add_signed(offset).unwrap();
            let code = secret.code_at_step(step);
            assert_eq!(verify_totp(&secret, &code, now, None), Ok(step));
        }
        for offset in [-3i64, -2, 2, 3] {
            let step = current.checked_add_signed(offset).unwrap();
            let code = secret.code_at_step(step);
            assert_eq!(
                verify_totp(&secret, &code, now, None),
                Err(TotpRefusal::Wrong),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn the_window_moves_at_the_step_boundary() {
        let secret = rfc_secret();
        let boundary = 1_111_111_110; // the first second of step 0x23523ED
        let old = secret.code_at_step(step_at(boundary) - 2);
        assert!(verify_totp(&secret, &old, boundary - 1, None).is_ok());
        assert_eq!(
            verify_totp(&secret, &old, boundary, None),
            Err(TotpRefusal::Wrong)
        );
        let ahead = secret.code_at_step(step_at(boundary) + 1);
        assert_eq!(
            verify_totp(&secret, &ahead, boundary - 1, None),
            Err(TotpRefusal::Wrong)
        );
        assert!(verify_totp(&secret, &ahead, boundary, None).is_ok());
    }

    #[test]
    fn the_window_starts_at_the_epoch() {
        let secret = rfc_secret();
        assert_eq!(
            verify_totp(&secret, &secret.code_at_step(0), 0, None),
            Ok(0)
        );
        assert_eq!(
            verify_totp(&secret, &secret.code_at_step(1), 0, None),
            Ok(1)
        );
        assert!(verify_totp(&secret, &secret.code_at_step(0), u64::MAX, None).is_err());
        let last = step_at(u64::MAX);
        let code = secret.code_at_step(last);
        assert_eq!(verify_totp(&secret, &code, u64::MAX, None), Ok(last));
    }

    #[test]
    fn a_code_used_once_is_refused_as_a_replay() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = secret.code_at(now);
        let step = verify_totp(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify_totp(&secret, &code, now, Some(step)),
            Err(TotpRefusal::Replayed)
        );
        // Still a replay later in the window.
        assert_eq!(
            verify_totp(&secret, &code, now + 30, Some(step)),
            Err(TotpRefusal::Replayed)
        );
    }

    #[test]
    fn a_code_older_than_the_last_accepted_is_refused_as_a_replay() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let current = step_at(now);
        let ahead = verify_totp(&secret, &secret.code_at_step(current + 1), now, None).unwrap();
        assert_eq!(ahead, current + 1);
        for step in [current - 1, current, current + 1] {
            assert_eq!(
                verify_totp(&secret, &secret.code_at_step(step), now, Some(ahead)),
                Err(TotpRefusal::Replayed),
                "step {step}"
            );
        }
        // The next step's code is good once its time comes.
        let next = secret.code_at_step(current + 2);
        assert_eq!(
            verify_totp(&secret, &next, now + 30, Some(ahead)),
            Ok(current + 2)
        );
    }

    #[test]
    fn a_code_later_than_the_last_accepted_is_still_good() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let current = step_at(now);
        let code = secret.code_at_step(current);
        assert_eq!(
            verify_totp(&secret, &code, now, Some(current - 1)),
            Ok(current)
        );
    }

    #[test]
    fn a_code_is_read_without_its_spaces() {
        let secret = rfc_secret();
        let now = 59;
        assert_eq!(verify_totp(&secret, "287 082", now, None), Ok(1));
        assert_eq!(verify_totp(&secret, " 28 70 82 ", now, None), Ok(1));
    }

    #[test]
    fn anything_but_six_digits_is_malformed() {
        let secret = rfc_secret();
        for bad in [
            "",
            "      ",
            "28708",
            "2870822",
            "94287082", // the eight-digit code
            "28708a",
            "+28708",
            "-28708",
            "２８７０８２", // full-width digits
            "287\u{a0}082",
            "287\t082",
            "287-082",
            "٢٨٧٠٨٢",
            &format!("287082{}", " ".repeat(100)),
        ] {
            assert_eq!(
                verify_totp(&secret, bad, 59, None),
                Err(TotpRefusal::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_wrong_code_is_wrong() {
        let secret = rfc_secret();
        assert_eq!(
            verify_totp(&secret, "000000", 59, None),
            Err(TotpRefusal::Wrong)
        );
        let other = TotpSecret::from_bytes(vec![1; 20]).unwrap();
        assert_eq!(
            verify_totp(&other, "287082", 59, None),
            Err(TotpRefusal::Wrong)
        );
    }

    /// otplib's codes and verdicts (`tests/fixtures/totp/make.mjs`, which
    /// `tests/e2e/totp-differential.test.mjs` reruns against this file every run).
    const OTPLIB: &str = include_str!("../../tests/fixtures/totp/otplib.json");

    #[test]
    fn verdicts_equal_otplibs() {
        let fixture: serde_json::Value = serde_json::from_str(OTPLIB).unwrap();
        assert_eq!(fixture["period"], PERIOD_SECS);
        assert_eq!(fixture["epoch_tolerance_secs"], WINDOW_STEPS * PERIOD_SECS);
        let secrets: Vec<TotpSecret> = fixture["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| TotpSecret::from_base32(s.as_str().unwrap()).unwrap())
            .collect();
        let checks = fixture["checks"].as_array().unwrap();
        assert!(checks.len() > 900, "{} checks", checks.len());
        let (mut accepted, mut replays, mut malformed) = (0, 0, 0);
        for check in checks {
            let secret = &secrets[check["secret"].as_u64().unwrap() as usize];
            let code = check["code"].as_str().unwrap();
            let now = check["now"].as_u64().unwrap();
            let after = check["after_step"].as_u64();
            if let Some(made) = check["made"].as_u64() {
                assert_eq!(secret.code_at(made), code, "made: {check}");
            }
            let ours = verify_totp(secret, code, now, after);
            if check["valid"] == true {
                accepted += 1;
                assert_eq!(ours, Ok(check["step"].as_u64().unwrap()), "{check}");
            } else if check.get("error").is_some() {
                malformed += 1;
                assert_eq!(ours, Err(TotpRefusal::Malformed), "{check}");
            } else {
                assert!(ours.is_err(), "{check}");
                if ours == Err(TotpRefusal::Replayed) {
                    replays += 1;
                    // otplib refused it for its step alone: without `after_step` it is good.
                    assert!(after.is_some() && verify_totp(secret, code, now, None).is_ok());
                }
            }
        }
        assert!(accepted > 300 && replays > 50 && malformed > 30);
        for uri in fixture["uris"].as_array().unwrap() {
            let secret = TotpSecret::from_base32(uri["secret"].as_str().unwrap()).unwrap();
            let ours = otpauth_uri(
                uri["issuer"].as_str().unwrap(),
                uri["account"].as_str().unwrap(),
                &secret,
            )
            .unwrap();
            // otplib leaves out the parameters whose values are the Key Uri Format's defaults;
            // the gateway names them all the same.
            let theirs = uri["uri"].as_str().unwrap();
            assert_eq!(ours, format!("{theirs}&algorithm=SHA1&digits=6&period=30"));
        }
    }

    #[test]
    fn codes_30_s_away_are_accepted_and_90_s_away_refused_at_random_times() {
        let mut cases = Cases::new(4226);
        for round in 0..2000 {
            let mut key = vec![0; SECRET_BYTES];
            key.iter_mut().for_each(|b| *b = cases.number() as u8);
            let secret = TotpSecret::from_bytes(key).unwrap();
            // Any time from 1970 to 9999, past the first three steps.
            let now = 90 + cases.number() % 253_402_300_000;
            for (t, accepted) in [
                (now - 30, true),
                (now, true),
                (now + 30, true),
                (now - 90, false),
                (now + 90, false),
            ] {
                let code = secret.code_at(t);
                let verdict = verify_totp(&secret, &code, now, None);
                if accepted {
                    assert_eq!(verdict, Ok(step_at(t)), "round {round}: {t} at {now}");
                } else {
                    // Refused unless the far code happens to equal one in the window (about
                    // three in a million).
                    let window = [now - 30, now, now + 30].map(|w| secret.code_at(w));
                    assert!(
                        verdict.is_err() || window.contains(&code),
                        "round {round}: {t} at {now}"
                    );
                }
            }
        }
    }
}
