//! The `GrantLedger` Durable Object: one per grant, named by the grant id. It holds the grant's
//! state (see `oauth::grant`) as one JSON row in its SQLite storage and applies each operation by
//! reading, mutating and writing that row with synchronous SQL inside one request, so every
//! operation is atomic: a code is taken at most once, and of concurrent refreshes with one token
//! exactly one succeeds. An alarm deletes the storage once nothing in it can be used any more.
//! <https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/>

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, SqlStorageValue,
    State,
};

use super::backend::EdgeBackend;
use crate::oauth::grant::{
    expires_at, redeem_code, rotate_refresh, undo, CodeRedemption, GrantError, GrantState, Issued,
    RefreshRotation, Undo,
};
use crate::ports::{GrantStore, StoreError};

const BINDING: &str = "GRANTS";

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Create { grant: Box<GrantState> },
    Redeem { redemption: CodeRedemption },
    Rotate { rotation: RefreshRotation },
    Revoke,
    Undo { step: Undo },
    Load,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Done,
    Issued(Box<Issued>),
    Refused(GrantError),
    Grant(Option<Box<GrantState>>),
}

#[durable_object]
pub struct GrantLedger {
    state: State,
}

impl GrantLedger {
    /// The grant, if this object holds one. Reading never creates storage, so made-up grant ids
    /// cost nothing that lasts.
    fn load(&self) -> worker::Result<Option<GrantState>> {
        #[derive(Deserialize)]
        struct Row {
            state: String,
        }
        #[derive(Deserialize)]
        struct Table {
            #[allow(dead_code)]
            name: String,
        }
        let sql = self.state.storage().sql();
        let tables: Vec<Table> = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'grant_state'",
                None,
            )?
            .to_array()?;
        if tables.is_empty() {
            return Ok(None);
        }
        let rows: Vec<Row> = sql
            .exec("SELECT state FROM grant_state WHERE id = 1", None)?
            .to_array()?;
        match rows.into_iter().next() {
            Some(row) => Ok(Some(serde_json::from_str(&row.state)?)),
            None => Ok(None),
        }
    }

    fn save(&self, grant: &GrantState) -> worker::Result<()> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS grant_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "INSERT INTO grant_state (id, state) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
            vec![SqlStorageValue::String(serde_json::to_string(grant)?)],
        )?;
        Ok(())
    }

    async fn schedule_cleanup(&self, grant: &GrantState) -> worker::Result<()> {
        let at_ms = (expires_at(grant) + 60).saturating_mul(1000);
        if let Some(when) = DateTime::from_timestamp_millis(at_ms) {
            self.state.storage().set_alarm(when).await?;
        }
        Ok(())
    }
}

impl DurableObject for GrantLedger {
    fn new(state: State, _env: Env) -> Self {
        GrantLedger { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let op: Op = req.json().await?;
        // Everything from here to `save` is synchronous: no other request can interleave.
        let current = self.load()?;
        let (answer, changed) = match (op, current) {
            (Op::Create { grant }, None) => (Answer::Done, Some(*grant)),
            (Op::Create { .. }, Some(_)) => {
                return Response::error("grant exists", 409);
            }
            (Op::Redeem { redemption }, Some(mut grant)) => {
                let result = redeem_code(&mut grant, &redemption);
                (to_answer(result), Some(grant))
            }
            (Op::Rotate { rotation }, Some(mut grant)) => {
                let result = rotate_refresh(&mut grant, &rotation);
                (to_answer(result), Some(grant))
            }
            (Op::Revoke, Some(mut grant)) => {
                grant.revoked = true;
                grant.refresh = None;
                (Answer::Done, Some(grant))
            }
            (Op::Undo { step }, Some(mut grant)) => {
                let changed = undo(&mut grant, &step);
                (Answer::Done, changed.then_some(grant))
            }
            (Op::Undo { .. }, None) => (Answer::Done, None),
            (Op::Load, current) => (Answer::Grant(current.map(Box::new)), None),
            (Op::Redeem { .. }, None) => (Answer::Refused(GrantError::NotFound), None),
            (Op::Rotate { .. }, None) => (Answer::Refused(GrantError::RefreshUnknown), None),
            (Op::Revoke, None) => (Answer::Done, None),
        };
        if let Some(grant) = &changed {
            self.save(grant)?;
            // The answer stands once the state is saved: a failed alarm only delays cleanup, and
            // reporting it as an error would make the client retry an operation that happened.
            if let Err(e) = self.schedule_cleanup(grant).await {
                worker::console_error!("grant ledger: cleanup alarm not set: {e}");
            }
        }
        Response::from_json(&answer)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let now = (worker::Date::now().as_millis() / 1000) as i64;
        match self.load()? {
            Some(grant) if expires_at(&grant) + 60 > now => self.schedule_cleanup(&grant).await?,
            _ => self.state.storage().delete_all().await?,
        }
        Response::ok("ok")
    }
}

fn to_answer(result: Result<Issued, GrantError>) -> Answer {
    match result {
        Ok(issued) => Answer::Issued(Box::new(issued)),
        Err(e) => Answer::Refused(e),
    }
}

async fn call(env: &Env, grant_id: &str, op: &Op) -> Result<Answer, StoreError> {
    let fail = |e: worker::Error| StoreError::unavailable(format!("grant ledger: {e}"));
    let stub = env
        .durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(grant_id))
        .map_err(fail)?;
    let body = serde_json::to_string(op).map_err(|e| StoreError::unavailable(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://grants/op", &init).map_err(fail)?;
    let mut resp = stub.fetch_with_request(req).await.map_err(fail)?;
    if resp.status_code() != 200 {
        return Err(StoreError::unavailable(format!(
            "grant ledger answered {}",
            resp.status_code()
        )));
    }
    resp.json().await.map_err(fail)
}

pub async fn create(env: &Env, grant: &GrantState) -> Result<(), StoreError> {
    call(
        env,
        &grant.grant_id,
        &Op::Create {
            grant: Box::new(grant.clone()),
        },
    )
    .await
    .map(|_| ())
}

pub async fn redeem(
    env: &Env,
    grant_id: &str,
    redemption: &CodeRedemption,
) -> Result<Result<Issued, GrantError>, StoreError> {
    issued(
        call(
            env,
            grant_id,
            &Op::Redeem {
                redemption: redemption.clone(),
            },
        )
        .await?,
    )
}

pub async fn rotate(
    env: &Env,
    grant_id: &str,
    rotation: &RefreshRotation,
) -> Result<Result<Issued, GrantError>, StoreError> {
    issued(
        call(
            env,
            grant_id,
            &Op::Rotate {
                rotation: rotation.clone(),
            },
        )
        .await?,
    )
}

pub async fn revoke(env: &Env, grant_id: &str) -> Result<(), StoreError> {
    call(env, grant_id, &Op::Revoke).await.map(|_| ())
}

pub async fn undo_step(env: &Env, grant_id: &str, step: &Undo) -> Result<(), StoreError> {
    call(env, grant_id, &Op::Undo { step: step.clone() })
        .await
        .map(|_| ())
}

pub async fn load(env: &Env, grant_id: &str) -> Result<Option<GrantState>, StoreError> {
    match call(env, grant_id, &Op::Load).await? {
        Answer::Grant(grant) => Ok(grant.map(|g| *g)),
        _ => Err(StoreError::unavailable("grant ledger: unexpected answer")),
    }
}

fn issued(answer: Answer) -> Result<Result<Issued, GrantError>, StoreError> {
    match answer {
        Answer::Issued(i) => Ok(Ok(*i)),
        Answer::Refused(e) => Ok(Err(e)),
        _ => Err(StoreError::unavailable("grant ledger: unexpected answer")),
    }
}

/// The grant store is the grants' Durable Objects.
impl GrantStore for EdgeBackend<'_> {
    async fn create_grant(&self, grant: &GrantState) -> Result<(), StoreError> {
        create(self.env, grant).await
    }
    async fn redeem_code(
        &self,
        grant_id: &str,
        r: &CodeRedemption,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        redeem(self.env, grant_id, r).await
    }
    async fn rotate_refresh(
        &self,
        grant_id: &str,
        r: &RefreshRotation,
    ) -> Result<Result<Issued, GrantError>, StoreError> {
        rotate(self.env, grant_id, r).await
    }
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        revoke(self.env, grant_id).await
    }
    async fn undo_step(
        &self,
        grant_id: &str,
        step: &crate::oauth::grant::Undo,
    ) -> Result<(), StoreError> {
        undo_step(self.env, grant_id, step).await
    }
    async fn load_grant(&self, grant_id: &str) -> Result<Option<GrantState>, StoreError> {
        load(self.env, grant_id).await
    }
}
