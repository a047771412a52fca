//! The workers-rs floor: forwards every request to `ORIGIN_URL` with its method, headers and
//! body, and returns the origin's response as it is.

use worker::{event, Context, Env, Fetch, Request, RequestInit, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    let url = req.url()?;
    let mut target = format!("{}{}", origin.trim_end_matches('/'), url.path());
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(req.headers().clone());
    if !matches!(req.method(), worker::Method::Get | worker::Method::Head) {
        init.with_body(Some(req.bytes().await?.into()));
    }
    Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
}
