//! Accounts people make, recover and secure themselves, pure: what the portal's sign-up,
//! verification, reset, passkey and second-factor pages decide. The handlers are `portal/`'s.

pub mod challenge;
pub mod issue;
pub mod mail;
pub mod recovery;
pub mod totp;
pub mod webauthn;
