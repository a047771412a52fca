//! How a user authenticated, as OpenID Connect tells a client: the `amr` values of a session
//! (RFC 8176) and the authentication context class (`acr`, OpenID Connect Core §2) they make,
//! and whether a session meets the classes an authorization request asks for (`acr_values`,
//! §3.1.2.1).
//!
//! Two classes, this gateway's own URNs (no registry defines levels that fit a password and an
//! authenticator app): [`ACR_ONE_FACTOR`] for a session made with one factor (a password, a
//! mailed code, an upstream provider's sign-in, a passkey that did not verify its user) and
//! [`ACR_MFA`] for one where a second factor (a TOTP code or a recovery code) was presented too,
//! or a passkey verified its user.

/// One factor: a password, a mailed code or an upstream provider's sign-in.
pub const ACR_ONE_FACTOR: &str = "urn:portcullis:acr:1fa";

/// Two factors: the first, then a TOTP or recovery code.
pub const ACR_MFA: &str = "urn:portcullis:acr:mfa";

/// The classes this server can say a session met, weakest first (`acr_values_supported`).
pub const ACR_VALUES: [&str; 2] = [ACR_ONE_FACTOR, ACR_MFA];

/// RFC 8176 §2: a password.
pub const AMR_PASSWORD: &str = "pwd";
/// RFC 8176 §2: a one-time password (an authenticator app's code, or a recovery code).
pub const AMR_OTP: &str = "otp";
/// RFC 8176 §2: more than one factor.
pub const AMR_MFA: &str = "mfa";
/// A code mailed to the account's address. RFC 8176 registers no value for it (its `otp` would
/// read as an authenticator app): this one is the gateway's own.
pub const AMR_EMAIL: &str = "email";

/// RFC 8176 §2: proof of possession of a hardware-secured key (a passkey).
pub const AMR_HARDWARE_KEY: &str = "hwk";
/// RFC 8176 §2: the user was verified by the authenticator itself (a PIN, a biometric).
pub const AMR_USER: &str = "user";

/// The `amr` of a passkey sign-in: the key, and with user verification the user too, which
/// makes it two factors.
pub fn passkey_amr(user_verified: bool) -> Vec<String> {
    if user_verified {
        [AMR_HARDWARE_KEY, AMR_USER, AMR_MFA]
            .map(String::from)
            .to_vec()
    } else {
        vec![AMR_HARDWARE_KEY.to_string()]
    }
}

/// At most this many `acr_values` are read: a handful is all any client sends.
const MAX_ACR_VALUES: usize = 8;

/// The class a session's `amr` makes.
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == AMR_MFA) {
        ACR_MFA
    } else {
        ACR_ONE_FACTOR
    }
}

/// What `amr` becomes once a second factor is presented: the first factor's values, then
/// `otp` and `mfa`, each once.
pub fn with_second_factor(amr: &[String]) -> Vec<String> {
    let mut out: Vec<String> = amr.to_vec();
    for value in [AMR_OTP, AMR_MFA] {
        if !out.iter().any(|m| m == value) {
            out.push(value.to_string());
        }
    }
    out
}

/// Whether a session of class `acr` meets the request's `acr_values` (space-separated, in
/// order of preference). Values this server does not know are passed over; when none is known,
/// or no value was sent, any session meets the request. Otherwise the session meets it when it
/// is at least as strong as the weakest known value asked.
pub fn meets_acr_values(acr: &str, acr_values: &str) -> bool {
    let rank = |value: &str| ACR_VALUES.iter().position(|v| *v == value);
    let asked = acr_values
        .split(' ')
        .filter(|v| !v.is_empty())
        .take(MAX_ACR_VALUES)
        .filter_map(rank)
        .min();
    match asked {
        None => true,
        Some(weakest) => rank(acr).is_some_and(|have| have >= weakest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amr(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_session_is_mfa_only_once_a_second_factor_was_presented() {
        assert_eq!(acr_of(&amr(&["pwd"])), ACR_ONE_FACTOR);
        assert_eq!(acr_of(&[]), ACR_ONE_FACTOR);
        let stepped = with_second_factor(&amr(&["pwd"]));
        assert_eq!(stepped, amr(&["pwd", "otp", "mfa"]));
        assert_eq!(acr_of(&stepped), ACR_MFA);
        assert_eq!(with_second_factor(&stepped), stepped, "each value once");
    }

    #[test]
    fn acr_values_are_met_by_a_session_at_least_as_strong_as_the_weakest_known_one() {
        assert!(meets_acr_values(ACR_ONE_FACTOR, ""));
        assert!(meets_acr_values(ACR_ONE_FACTOR, "urn:other:gold"));
        assert!(meets_acr_values(ACR_ONE_FACTOR, ACR_ONE_FACTOR));
        assert!(!meets_acr_values(ACR_ONE_FACTOR, ACR_MFA));
        assert!(!meets_acr_values(
            ACR_ONE_FACTOR,
            &format!("urn:other:gold {ACR_MFA}")
        ));
        assert!(meets_acr_values(
            ACR_ONE_FACTOR,
            &format!("{ACR_MFA} {ACR_ONE_FACTOR}")
        ));
        assert!(meets_acr_values(ACR_MFA, ACR_MFA));
        assert!(meets_acr_values(ACR_MFA, ACR_ONE_FACTOR));
    }
}
