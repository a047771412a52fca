//! The grant's two stores, changed together: each domain event that touches both is one
//! operation here, with its order stated and a repair for a failure between the two writes.
//!
//! A grant lives in its ledger ([`GrantStore`], one Durable Object per grant: the code, the
//! refresh tokens, revocation) and in the index ([`AccountStore`], D1 `user_grants`: which grants
//! a user holds, read by the account page and by the sweeps that end a disabled user's grants).
//! The ledger is the truth about what a token can do; the index is how a grant is found. Neither
//! store can join a transaction with the other, so the orders are chosen so that a failure between
//! them never leaves a usable grant that cannot be found, or a revocation reported done that is not:
//!
//! - **Start**: ledger, then index. If the index write fails, the code has not left the server, so
//!   nobody can use the grant; it is revoked in the ledger as well (best effort), and its storage
//!   is deleted by the ledger's own cleanup alarm once the code expires.
//! - **Revoke**: the intent in the index (`revoke_requested_at`), then the ledger, then the index
//!   marked done. A failure after the intent is answered as an error (the caller may retry; every
//!   step is idempotent) and is finished by [`Grants::finish_interrupted`], which the cron runs: a
//!   revocation once asked for always completes. The index only says "revoked" once the ledger
//!   has refused the grant's tokens.
//! - **Refused as revoked**: when the ledger answers that a grant is revoked (a replayed code or
//!   refresh token revokes the grant in the ledger itself), the index is marked too, so the account
//!   page never lists a dead grant as live for long.

use crate::oauth::grant::{GrantError, GrantState};
use crate::ports::{AccountStore, GrantStore, StoreError};

/// How many interrupted revocations one cron run finishes (each is a Durable Object call and a
/// D1 write); the rest wait for the next run.
pub const MAX_REPAIRS_PER_RUN: u32 = 100;

/// The two stores of grants.
pub struct Grants<'a, L, I> {
    pub ledger: &'a L,
    pub index: &'a I,
}

/// What a repair run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    /// Revocations finished.
    pub finished: u32,
    /// Revocations that failed again (left for the next run).
    pub failed: u32,
}

impl<'a, L: GrantStore, I: AccountStore> Grants<'a, L, I> {
    pub fn new(ledger: &'a L, index: &'a I) -> Self {
        Grants { ledger, index }
    }

    /// Starts a grant: the ledger, then the index (see the module's notes for why this order).
    pub async fn start(&self, grant: &GrantState) -> Result<(), StoreError> {
        self.ledger.create_grant(grant).await?;
        if let Err(e) = self.index.record_grant(grant).await {
            // Nobody holds the code: make sure nobody ever can. A failure here changes nothing
            // that matters (the code is never sent), so the index's error is the one reported.
            let _ = self.ledger.revoke_grant(&grant.grant_id).await;
            return Err(e);
        }
        Ok(())
    }

    /// Revokes one grant: intent, ledger, done.
    pub async fn revoke(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.index.request_revocation(grant_id, now).await?;
        self.finish(grant_id, now).await
    }

    /// Revokes every grant the user still holds (a user disabled or deleted), returning how many.
    /// The intents are written in one statement, before any ledger is told.
    pub async fn revoke_all_of(&self, user_id: &str, now: i64) -> Result<usize, StoreError> {
        let grant_ids = self.index.request_revocations_of(user_id, now).await?;
        for grant_id in &grant_ids {
            self.finish(grant_id, now).await?;
        }
        Ok(grant_ids.len())
    }

    /// After the ledger refused a grant's token: if the refusal means the grant is revoked there
    /// (now, by a replay, or before), the index says so too. Idempotent, and only on refusals.
    pub async fn note_refusal(
        &self,
        grant_id: &str,
        refusal: &GrantError,
        now: i64,
    ) -> Result<(), StoreError> {
        match refusal {
            GrantError::CodeReplayed | GrantError::RefreshReused | GrantError::Revoked => {
                self.index.mark_grant_revoked(grant_id, now).await
            }
            _ => Ok(()),
        }
    }

    /// Finishes revocations a failure interrupted (the cron): up to [`MAX_REPAIRS_PER_RUN`] of
    /// them, oldest first. One that fails again is counted and left for the next run.
    pub async fn finish_interrupted(&self, now: i64) -> Result<Repaired, StoreError> {
        let mut repaired = Repaired::default();
        for grant_id in self
            .index
            .unfinished_revocations(MAX_REPAIRS_PER_RUN)
            .await?
        {
            match self.finish(&grant_id, now).await {
                Ok(()) => repaired.finished += 1,
                Err(_) => repaired.failed += 1,
            }
        }
        Ok(repaired)
    }

    async fn finish(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.ledger.revoke_grant(grant_id).await?;
        self.index.mark_grant_revoked(grant_id, now).await
    }
}
