//! The login portal: passwords, sessions, CSRF tokens and the HTML pages.

pub mod pages;
pub mod password;
pub mod session;

pub mod account;
pub mod billing;
pub mod login;
pub mod upstream;
