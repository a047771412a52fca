//! The login portal: passwords, the account and sign-in pages, and the HTML (sessions and CSRF
//! tokens are `web::session`).

pub mod pages;
pub mod password;

pub mod account;
pub mod billing;
pub mod login;
pub mod upstream;
