//! What every page-serving part of the gateway shares (the authorization server's consent, the
//! portal, billing, upstream sign-in): the HTML pages, rendered from `static/portal/`
//! (`pages.rs`), and signed sessions and CSRF tokens, each bound to its plugin (`session.rs`).

pub mod account_pages;
pub mod pages;
pub mod passkey_pages;
pub mod second_factor_pages;
pub mod session;
