//! The `QuotaCounter` Durable Object: one instance per counter (a user's quota on a plugin, or a
//! throttle key such as `login-source:<address> <email>`), counting events in fixed windows. Its SQLite
//! storage is read and written synchronously inside one request, and a Durable Object runs one
//! request at a time between awaits, so each charge is an atomic read-modify-write: counts stay
//! exact under any concurrency. An alarm deletes the storage once its window has passed, so
//! counters created by anyone's requests do not accumulate.
//! <https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/>

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, SqlStorageValue,
    State,
};

use super::backend::EdgeBackend;
use crate::error::ApiError;
use crate::ports::{StoreError, Throttle};
use crate::quota::Quota;
use crate::quota::{
    charge as charge_window, lease as lease_window, peek as peek_window, refund as refund_window,
    remember_once, report as report_window, usage as usage_of, Lease, LeaseBook, QuotaDecision,
    QuotaUsage, Report, Window,
};

const BINDING: &str = "QUOTA";

/// What a caller asks of a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CounterOp {
    /// Count one event if the window has room.
    #[default]
    Charge,
    /// Give one event back (a throttled attempt that succeeded).
    Refund,
    /// Read the counter without counting.
    Peek,
    /// Record a one-time key for `period_secs`; refused if it is already recorded (a replayed
    /// client assertion `jti`).
    Once,
    /// Hand out up to `lease_max` calls at once, counted as used (see [`crate::quota::lease`]),
    /// after applying the isolate's `report`.
    Lease,
    /// Apply an isolate's `report` of the calls it made and gives back.
    Report,
    /// Read the calls made, for people (see [`crate::quota::QuotaUsage`]).
    Usage,
}

#[derive(Serialize, Deserialize)]
struct CounterRequest {
    limit: u64,
    period_secs: u64,
    now: u64,
    #[serde(default)]
    op: CounterOp,
    #[serde(default)]
    lease_max: u64,
    #[serde(default)]
    report: Report,
}

#[durable_object]
pub struct QuotaCounter {
    state: State,
    /// The window as last read or written: the object is its storage's only writer, so after the
    /// first read each request needs one write and no read.
    window: Cell<Option<Window>>,
    /// Whether the storage holds the table of counters written before `made` was kept
    /// (`quota_window`), which the next write replaces.
    legacy: Cell<bool>,
}

impl QuotaCounter {
    fn read(&self) -> worker::Result<Window> {
        if let Some(window) = self.window.get() {
            return Ok(window);
        }
        let sql = self.state.storage().sql();
        // Reading creates nothing: a counter that is only peeked at (every client authentication
        // peeks at its address's count) leaves no storage behind. The table comes with the first
        // write, and that write sets the alarm that deletes it.
        #[derive(Deserialize)]
        struct Table {
            name: String,
        }
        let tables: Vec<Table> = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('quota_count', 'quota_window')",
                None,
            )?
            .to_array()?;
        let has = |name: &str| tables.iter().any(|t| t.name == name);
        // A counter written before `made` was kept reads with none known made: its window shows
        // "at most" its count until it ends.
        let query = if has("quota_count") {
            Some("SELECT start, used, made FROM quota_count WHERE id = 1")
        } else if has("quota_window") {
            self.legacy.set(true);
            Some("SELECT start, used FROM quota_window WHERE id = 1")
        } else {
            None
        };
        let window = match query {
            Some(query) => {
                let rows: Vec<Window> = sql.exec(query, None)?.to_array()?;
                rows.into_iter().next().unwrap_or_default()
            }
            None => Window::default(),
        };
        self.window.set(Some(window));
        Ok(window)
    }

    /// Deletes the storage at `secs` (since the epoch). A failed alarm only delays the cleanup.
    async fn clean_up_at(&self, secs: u64) {
        if let Some(at) = chrono::DateTime::from_timestamp_millis(secs.saturating_mul(1000) as i64)
        {
            if let Err(e) = self.state.storage().set_alarm(at).await {
                worker::console_error!("quota counter: cleanup alarm not set: {e}");
            }
        }
    }

    fn write(&self, window: Window) -> worker::Result<()> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS quota_count (id INTEGER PRIMARY KEY CHECK (id = 1), start INTEGER NOT NULL, used INTEGER NOT NULL, made INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            "INSERT INTO quota_count (id, start, used, made) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET start = excluded.start, used = excluded.used, made = excluded.made",
            vec![
                SqlStorageValue::Integer(window.start as i64),
                SqlStorageValue::Integer(window.used as i64),
                SqlStorageValue::Integer(window.made as i64),
            ],
        )?;
        if self.legacy.replace(false) {
            sql.exec("DROP TABLE IF EXISTS quota_window", None)?;
        }
        self.window.set(Some(window));
        Ok(())
    }
}

impl DurableObject for QuotaCounter {
    fn new(state: State, _env: Env) -> Self {
        QuotaCounter {
            state,
            window: Cell::new(None),
            legacy: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() == Method::Get {
            // A health ping: answer without touching storage.
            return Response::ok("ok");
        }
        let ask: CounterRequest = req.json().await?;
        let quota = Quota {
            limit: ask.limit,
            period_secs: ask.period_secs.max(1),
        };
        // From here to the write, everything is synchronous: no other request interleaves.
        let current = self.read()?;
        let (next, decision) = match ask.op {
            CounterOp::Charge => charge_window(quota, current, ask.now),
            CounterOp::Refund => {
                let start = ask.now - ask.now % quota.period_secs;
                let next = refund_window(current, start);
                (next, peek_window(quota, next, ask.now))
            }
            CounterOp::Peek => (current, peek_window(quota, current, ask.now)),
            CounterOp::Report => {
                let next = report_window(quota, current, ask.now, ask.report);
                (next, peek_window(quota, next, ask.now))
            }
            CounterOp::Usage => {
                return Response::from_json(&usage_of(quota, current, ask.now));
            }
            CounterOp::Lease => {
                let told = report_window(quota, current, ask.now, ask.report);
                let (next, lease) = lease_window(quota, told, ask.now, ask.lease_max);
                if next != current {
                    self.write(next)?;
                }
                if next.start != current.start {
                    self.clean_up_at(next.start + quota.period_secs + 1).await;
                }
                return Response::from_json(&lease);
            }
            CounterOp::Once => {
                let (next, fresh) = remember_once(current, quota.period_secs, ask.now);
                let decision = QuotaDecision {
                    allowed: fresh,
                    limit: 1,
                    remaining: 0,
                    reset_secs: next.start.saturating_sub(ask.now),
                };
                if fresh {
                    self.write(next)?;
                    self.clean_up_at(next.start + 1).await;
                }
                return Response::from_json(&decision);
            }
        };
        if next != current {
            self.write(next)?;
        }
        if next.start != current.start {
            // A new window: clean up after it.
            self.clean_up_at(next.start + quota.period_secs + 1).await;
        }
        Response::from_json(&decision)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.window.set(None);
        self.state.storage().delete_all().await?;
        Response::ok("ok")
    }
}

/// Charges one call to `key`'s counter; `Err` is the 429 (or 503 when the object fails).
pub async fn charge(
    env: &Env,
    key: &str,
    quota: Quota,
    now: u64,
) -> Result<QuotaDecision, ApiError> {
    let decision = call(env, key, quota, now, CounterOp::Charge)
        .await
        .map_err(|e| ApiError::Unavailable(format!("quota counter: {e}")))?;
    if decision.allowed {
        Ok(decision)
    } else {
        Err(ApiError::TooManyRequests {
            retry_after_secs: decision.reset_secs,
            limit: decision.limit,
            period_secs: quota.period_secs,
            upgrade_url: None,
        })
    }
}

thread_local! {
    /// Calls this isolate leased and has not used yet, per counter (bounded).
    static LEASES: std::cell::RefCell<LeaseBook> = std::cell::RefCell::new(LeaseBook::default());
}

/// Charges one call to `key`'s counter from the calls this isolate leased, leasing more from the
/// counter when none are held: one Durable Object call per lease instead of one per call. `Err`
/// is the 429 (or 503 when the object fails). Never admits more than the limit; see
/// [`LeaseBook`] for what it may under-admit.
pub async fn charge_leased(
    env: &Env,
    key: &str,
    quota: Quota,
    now: u64,
) -> Result<QuotaDecision, ApiError> {
    if let Some(decision) = LEASES.with(|book| book.borrow_mut().take(key, quota, now)) {
        return Ok(decision);
    }
    let (lease_max, report) = LEASES.with(|book| book.borrow_mut().ask(key, quota, now));
    let lease: Lease =
        match request(env, key, quota, now, CounterOp::Lease, lease_max, report).await {
            Ok(lease) => lease,
            Err(e) => {
                LEASES.with(|book| book.borrow_mut().untell(key, quota, now, report));
                return Err(ApiError::Unavailable(format!("quota counter: {e}")));
            }
        };
    let kept = LEASES.with(|book| {
        let mut book = book.borrow_mut();
        // A refusal while calls are held here (leased by requests that ran alongside) is not one.
        book.keep(key, quota, now, &lease)
            .or_else(|| book.take(key, quota, now))
    });
    kept.ok_or(ApiError::TooManyRequests {
        retry_after_secs: lease.decision.reset_secs,
        limit: lease.decision.limit,
        period_secs: quota.period_secs,
        upgrade_url: None,
    })
}

/// Gives a leased call back to this isolate's calls for the window it was charged in; `false`
/// when that window has passed (nothing to give back).
pub fn give_back_leased(key: &str, quota: Quota, charged_at: u64) -> bool {
    LEASES.with(|book| book.borrow_mut().give_back(key, quota, charged_at))
}

/// Tells the counters what this isolate made of its leases and gives back the calls it holds,
/// after the response, once the oldest call not told of is `after_secs` old (the usage book's
/// `USAGE_FLUSH_SECS`): then the account page and the console show calls made exactly. A report
/// that fails leaves its counter showing "at most" until the window ends, and is logged.
pub fn report_if_due(env: &Env, ctx: &worker::Context, after_secs: i64, now: i64) {
    let (now, after_secs) = (now.max(0) as u64, after_secs.max(0) as u64);
    let reports = LEASES.with(|book| {
        let mut book = book.borrow_mut();
        if book.reports_due(now, after_secs) {
            book.drain_reports(now)
        } else {
            Vec::new()
        }
    });
    if reports.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let told = reports.iter().map(|(key, quota, report)| async {
            let sent: worker::Result<QuotaDecision> =
                request(&env, key, *quota, now, CounterOp::Report, 0, *report).await;
            sent.err().map(|e| e.to_string())
        });
        let failed: Vec<String> = futures_util::future::join_all(told)
            .await
            .into_iter()
            .flatten()
            .collect();
        if let Some(why) = failed.first() {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "quota_report_failed", "counters": failed.len(), "reason": why})
            );
        }
    });
}

/// What `key`'s counter shows people: the calls made in the window `now` falls in.
pub async fn usage(env: &Env, key: &str, quota: Quota, now: u64) -> worker::Result<QuotaUsage> {
    request(env, key, quota, now, CounterOp::Usage, 0, Report::default()).await
}

/// One counter operation.
pub async fn call(
    env: &Env,
    key: &str,
    quota: Quota,
    now: u64,
    op: CounterOp,
) -> worker::Result<QuotaDecision> {
    request(env, key, quota, now, op, 0, Report::default()).await
}

async fn request<T: serde::de::DeserializeOwned>(
    env: &Env,
    key: &str,
    quota: Quota,
    now: u64,
    op: CounterOp,
    lease_max: u64,
    report: Report,
) -> worker::Result<T> {
    let stub = env.durable_object(BINDING)?.get_by_name(key)?;
    let body = serde_json::to_string(&CounterRequest {
        limit: quota.limit,
        period_secs: quota.period_secs,
        now,
        op,
        lease_max,
        report,
    })?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://quota/charge", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "status {}",
            resp.status_code()
        )));
    }
    resp.json().await
}

/// For `/healthz`: does a Durable Object answer?
pub async fn ping(env: &Env) -> &'static str {
    let Ok(namespace) = env.durable_object(BINDING) else {
        return "unbound";
    };
    let Ok(stub) = namespace.get_by_name("healthcheck") else {
        return "unavailable";
    };
    match stub.fetch_with_str("https://quota/ping").await {
        Ok(resp) if resp.status_code() == 200 => "ok",
        _ => "unavailable",
    }
}

impl EdgeBackend<'_> {
    async fn counter(
        &self,
        op: CounterOp,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        let quota = Quota {
            limit,
            period_secs: window_secs,
        };
        call(self.env, key, quota, now, op)
            .await
            .map_err(|e| StoreError::unavailable(format!("counter {key}: {e}")))
    }
}

/// Throttles and one-time records are counters in `QuotaCounter` objects.
impl Throttle for EdgeBackend<'_> {
    async fn peek(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.counter(CounterOp::Peek, key, limit, window_secs, now)
            .await
    }
    async fn charge(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<QuotaDecision, StoreError> {
        self.counter(CounterOp::Charge, key, limit, window_secs, now)
            .await
    }
    async fn refund(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.counter(CounterOp::Refund, key, limit, window_secs, now)
            .await
            .map(|_| ())
    }
    async fn remember_once(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        self.counter(CounterOp::Once, key, 1, ttl_secs, now)
            .await
            .map(|d| d.allowed)
    }
    async fn quota_usage(
        &self,
        key: &str,
        quota: Quota,
        now: u64,
    ) -> Result<crate::quota::QuotaUsage, StoreError> {
        usage(self.env, key, quota, now)
            .await
            .map_err(|e| StoreError::unavailable(format!("counter {key}: {e}")))
    }
}
