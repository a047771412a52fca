//! Accounts people make, recover and secure themselves, pure: what the portal's sign-up,
//! verification, reset, passkey and second-factor pages decide. The handlers are `portal/`'s.

mod sign_in_methods;

pub use sign_in_methods::SignInMethods;
