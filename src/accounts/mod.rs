//! Accounts people make, recover and secure themselves, pure: what the portal's sign-up,
//! verification, reset, passkey and second-factor pages decide, and the API keys users and
//! administrators issue. The handlers are `portal/`'s and `admin/`'s.

pub mod api_keys;
pub mod challenge;
pub mod issue;
pub mod mail;
pub mod mail_texts;
pub mod recovery;
mod sign_in_methods;
pub mod totp;
pub mod turnstile;
pub mod webauthn;

pub use sign_in_methods::SignInMethods;
