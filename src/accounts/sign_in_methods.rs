//! The ways a user can sign in, as the admin console shows them beside each user.

use serde::Serialize;

/// How a user can sign in today. The admin API renders it as the user's `sign_in` object.
///
/// Passkeys (WebAuthn credentials) and a second factor (TOTP) belong here too once the account
/// pages store them: a `passkeys` count and a `totp` flag, read with the same page query, so the
/// console learns of them without a second call per user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignInMethods {
    /// The user has a password hash, so the sign-in form's password works for them.
    pub password: bool,
    /// The upstream providers (`github`, `google`, …) with an identity linked to the user, by id.
    pub providers: Vec<String>,
}
