//! The ways a user can sign in, as the admin console shows them beside each user.

use serde::Serialize;

/// How a user can sign in today. The admin API renders it as the user's `sign_in` object, read
/// with the same query as the user (no call per user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignInMethods {
    /// The user has a password hash, so the sign-in form's password works for them.
    pub password: bool,
    /// The upstream providers (`github`, `google`, …) with an identity linked to the user, by id.
    pub providers: Vec<String>,
    /// How many passkeys the user has.
    pub passkeys: i64,
    /// Whether an authenticator app (TOTP) is the user's second factor.
    pub totp: bool,
}
