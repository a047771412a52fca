//! Delivering the mail a request posted ([`crate::ports::Outbox`]), after its response: through
//! the `send_email` binding (Cloudflare Email Service; `wrangler dev` keeps each mail in its
//! local explorer), or Resend's HTTP API. A failure is logged with the recipient's domain only.

use wasm_bindgen::JsCast;
use worker::{Context, Env};

use super::fetch::{read_capped, send_within, FetchFailure};
use crate::accounts::mail::{Delivery, Mail, MailSettings, MAIL_BINDING};

const RESEND_TIMEOUT_MS: u64 = 10_000;

/// Delivers `mails` once the response is sent.
pub fn deliver_later(env: &Env, ctx: &Context, settings: Option<&MailSettings>, mails: Vec<Mail>) {
    if mails.is_empty() {
        return;
    }
    let Some(settings) = settings.cloned() else {
        worker::console_error!("{} mail(s) dropped: no MAIL_FROM", mails.len());
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move {
        for mail in &mails {
            if let Err(why) = deliver(&env, &settings, mail).await {
                let domain = mail.to.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                worker::console_error!("mail to an address at {domain} not sent: {why}");
            }
        }
    });
}

async fn deliver(env: &Env, settings: &MailSettings, mail: &Mail) -> Result<(), String> {
    match &settings.delivery {
        Delivery::Binding => {
            let binding = env
                .send_email(MAIL_BINDING)
                .map_err(|e| format!("the send_email binding {MAIL_BINDING}: {e}"))?;
            let message = js_sys::JSON::parse(&settings.binding_message(mail).to_string())
                .map_err(|_| "the message could not be built".to_string())?;
            binding
                .send_with_builder(message.unchecked_ref())
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }
        Delivery::Resend { api_key, api_base } => {
            let headers = worker::Headers::new();
            let set =
                |name: &str, value: &str| headers.set(name, value).map_err(|e| format!("{e}"));
            set("authorization", &format!("Bearer {}", api_key.expose()))?;
            set("content-type", "application/json")?;
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::Post)
                .with_redirect(worker::RequestRedirect::Manual)
                .with_body(Some(wasm_bindgen::JsValue::from_str(
                    &settings.resend_body(mail).to_string(),
                )));
            init.with_headers(headers);
            let request = worker::Request::new_with_init(&format!("{api_base}/emails"), &init)
                .map_err(|e| format!("{e}"))?;
            let mut response =
                send_within(request, RESEND_TIMEOUT_MS)
                    .await
                    .map_err(|f| match f {
                        FetchFailure::Failed(why) => format!("Resend: {why}"),
                        FetchFailure::TimedOut => {
                            format!("Resend: no answer within {RESEND_TIMEOUT_MS} ms")
                        }
                    })?;
            let status = response.status_code();
            if (200..300).contains(&status) {
                return Ok(());
            }
            // Resend's error body names what was wrong (never the key).
            let body = read_capped(&mut response, 2048).await.unwrap_or_default();
            Err(format!(
                "Resend answered {status}: {}",
                String::from_utf8_lossy(&body)
            ))
        }
    }
}
