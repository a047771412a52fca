//! The login portal: passwords, and the sign-in and account pages' handlers (their HTML is
//! `web::pages`, sessions and CSRF tokens `web::session`).

pub mod password;

pub mod account;
pub mod email_code;
pub mod invitations;
pub mod login;
pub mod own_account;
pub mod passkeys;
pub mod proof;
pub mod reset;
pub mod second_factor;
pub mod signup;
