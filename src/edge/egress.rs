//! OpenAI's egress ranges at the edge: the newest list in D1 (written by the scheduled refresh),
//! held in memory per isolate for ten minutes, the snapshot shipped in the build otherwise. The
//! proxy's check itself never waits on storage longer than one cached read per isolate per
//! ten minutes, and only for plugins locked to OpenAI.

use crate::edge::fetch::{read_capped, send_within, FetchFailure};
use std::cell::RefCell;
use std::rc::Rc;

use worker::{Env, Request, RequestInit};

use crate::directory::{SqlDirectory, OPENAI_EGRESS_SOURCE};
use crate::proxy::cidr::{
    parse_egress_list, IpRanges, MAX_EGRESS_LIST_BYTES, OPENAI_EGRESS_SNAPSHOT,
};

use super::backend::D1Sql;

/// How long an isolate trusts its copy of the list before reading D1 again.
const CACHE_TTL_MS: u64 = 10 * 60 * 1000;
/// How long the scheduled refresh waits for the publisher.
const FETCH_TIMEOUT_MS: u64 = 10_000;

thread_local! {
    static CACHE: RefCell<Option<(Rc<IpRanges>, u64)>> = const { RefCell::new(None) };
}

fn snapshot() -> IpRanges {
    parse_egress_list(OPENAI_EGRESS_SNAPSHOT.as_bytes())
        .map(|l| l.ranges)
        .unwrap_or_default()
}

fn store_in_cache(ranges: IpRanges, now_ms: u64) -> Rc<IpRanges> {
    let ranges = Rc::new(ranges);
    CACHE.with(|c| *c.borrow_mut() = Some((ranges.clone(), now_ms)));
    ranges
}

/// The current OpenAI egress ranges.
pub async fn openai_ranges(env: &Env) -> Rc<IpRanges> {
    let now_ms = worker::Date::now().as_millis();
    if let Some((ranges, at)) = CACHE.with(|c| c.borrow().clone()) {
        if now_ms.saturating_sub(at) < CACHE_TTL_MS {
            return ranges;
        }
    }
    // A replica's copy is as good: the list changes at most once per cron run.
    let stored = match D1Sql::replica(env) {
        Ok(sql) => SqlDirectory { sql: &sql, now: 0 }
            .egress_cidrs(OPENAI_EGRESS_SOURCE)
            .await
            .ok()
            .flatten()
            .and_then(|cidrs| IpRanges::parse(cidrs.iter().map(String::as_str)).ok()),
        Err(_) => None,
    };
    store_in_cache(stored.unwrap_or_else(snapshot), now_ms)
}

/// The scheduled refresh: fetch the published list, and store it if it parses. A failure keeps
/// the previous list (or the snapshot); it never empties the allowlist.
pub async fn refresh(env: &Env, url: &str) -> Result<usize, String> {
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Get);
    let request = Request::new_with_init(url, &init).map_err(|e| format!("bad URL: {e}"))?;
    let mut response =
        send_within(request, FETCH_TIMEOUT_MS)
            .await
            .map_err(|failure| match failure {
                FetchFailure::Failed(why) => format!("fetch failed: {why}"),
                FetchFailure::TimedOut => format!("no answer within {FETCH_TIMEOUT_MS} ms"),
            })?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    let body = read_capped(&mut response, MAX_EGRESS_LIST_BYTES)
        .await
        .map_err(|why| format!("the list is {why}"))?;
    let list = parse_egress_list(&body).map_err(|e| e.0)?;
    let sql = D1Sql::new(env).map_err(|e| e.to_string())?;
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    SqlDirectory { sql: &sql, now }
        .store_egress_list(
            OPENAI_EGRESS_SOURCE,
            list.creation_time.as_deref(),
            &list.cidrs,
        )
        .await
        .map_err(|e| format!("D1: {}", e))?;
    let count = list.cidrs.len();
    store_in_cache(list.ranges, worker::Date::now().as_millis());
    Ok(count)
}
