//! Why a store or platform call (D1, a Durable Object, WebCrypto, a fetch) gave no answer.
//!
//! The reason is for the log line only: [`ApiError`](super::ApiError) renders each variant with
//! a generic description, never the text.

use std::fmt;

/// A store or platform call that gave no answer: not a decision about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store failed or answered something unreadable; the request may be retried. The text
    /// names what failed, for the log.
    Unavailable(String),
    /// The store refused the call for now (the caller's address caused too many fetches of
    /// client metadata documents); the request is answered 429 with this retry time.
    Throttled { retry_after_secs: u64 },
}

impl StoreError {
    /// A failure, with what failed for the log.
    pub fn unavailable(why: impl Into<String>) -> StoreError {
        StoreError::Unavailable(why.into())
    }
}

/// The internal reason, for the log line (never sent to a client).
impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => f.write_str(why),
            StoreError::Throttled { retry_after_secs } => {
                write!(f, "throttled: retry after {retry_after_secs} s")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn an_unavailable_store_is_a_503_that_keeps_its_reason_for_the_log() {
        let error = ApiError::from(StoreError::unavailable("D1: disk on fire"));
        assert_eq!(error.status(), 503);
        assert_eq!(error.internal_reason(), Some("D1: disk on fire"));
        assert!(!String::from_utf8_lossy(&error.to_reply().body).contains("disk"));
    }

    #[test]
    fn a_throttled_store_is_a_429_with_its_retry_time() {
        let error = ApiError::from(StoreError::Throttled {
            retry_after_secs: 60,
        });
        assert_eq!(
            error,
            ApiError::Throttled {
                retry_after_secs: 60
            }
        );
        assert_eq!(error.to_reply().status, 429);
    }
}
