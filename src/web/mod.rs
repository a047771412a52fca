//! What every page-serving part of the gateway shares (the authorization server's consent, the
//! portal, billing, upstream sign-in): signed sessions and CSRF tokens, each bound to its plugin.

pub mod session;
