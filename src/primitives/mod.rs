//! Leaf primitives every layer shares: secrets and constant-time comparison, hashing, token
//! syntax, and the bounded cache with expiry. They import nothing of the crate, so nothing that
//! uses them can form a circle.

pub mod bounded_cache;
#[cfg(test)]
pub mod cases;
pub mod duration;
pub mod hash;
pub mod json;
pub mod secret;
pub mod syntax;
pub mod time;
