//! The per-request log line, and which requests write one.
//!
//! Every refusal (4xx) and every error (5xx) is logged. Successful requests are sampled at the
//! deployment's rate (`REQUEST_LOG_SAMPLE_RATE`, 1% unless set): on a busy plugin a console line
//! per call costs about as much as all the gateway's other work (BENCHMARKS.md), and Workers
//! Logs already records every invocation's URL, status and duration. A sampled line carries its
//! rate, so counts read from the lines can be scaled back up. The draw is taken from the request
//! id, which is random already, so sampling costs no extra random number.

use std::fmt::Write;

/// The share of successful requests that write a line, in millionths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRate {
    per_million: u32,
}

impl SampleRate {
    pub const ALL: SampleRate = SampleRate {
        per_million: 1_000_000,
    };
    pub const NONE: SampleRate = SampleRate { per_million: 0 };
    /// 1%: enough lines to see what a plugin serves, few enough to cost nothing measurable.
    pub const DEFAULT: SampleRate = SampleRate {
        per_million: 10_000,
    };

    /// A decimal between 0 and 1 (`0.01`, `1`, `0`), to the millionth.
    pub fn parse(text: &str) -> Result<SampleRate, String> {
        let value: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..=1.0).contains(v))
            .ok_or_else(|| {
                format!("a number from 0 to 1 (0.01 logs 1% of successful requests), got {text:?}")
            })?;
        Ok(SampleRate {
            per_million: (value * 1_000_000.0).round() as u32,
        })
    }

    /// Whether a request whose random draw is `draw` is among the sampled.
    pub fn keeps(self, draw: u32) -> bool {
        // The draw scaled to [0, 1,000,000): uniform when the draw is.
        ((u64::from(draw) * 1_000_000) >> 32) < u64::from(self.per_million)
    }

    pub fn as_fraction(self) -> f64 {
        f64::from(self.per_million) / 1_000_000.0
    }
}

impl Default for SampleRate {
    fn default() -> Self {
        SampleRate::DEFAULT
    }
}

/// What one request did, as its log line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub plugin: &'a str,
    pub method: &'a str,
    /// The endpoint's name (`proxy`, `token`, …), `none` when routing refused, `config` when the
    /// configuration is invalid.
    pub route: &'a str,
    /// `served`, `forwarded`, or the error code of a refusal.
    pub decision: &'a str,
    pub status: u16,
    pub latency_ms: u64,
    /// Why a page refused or failed, when its handler said (see [`crate::http::Reply::note`]).
    pub reason: Option<&'a str>,
}

impl RequestLine<'_> {
    /// The line to write, or `None` when the request is a success left out by sampling.
    pub fn render(&self, rate: SampleRate) -> Option<String> {
        let sampled = self.status < 400;
        if sampled && !rate.keeps(draw_of(self.request_id)) {
            return None;
        }
        let mut line = String::with_capacity(192);
        line.push_str("{\"request_id\":");
        push_json_string(&mut line, self.request_id);
        line.push_str(",\"plugin\":");
        push_json_string(&mut line, self.plugin);
        line.push_str(",\"method\":");
        push_json_string(&mut line, self.method);
        line.push_str(",\"route\":");
        push_json_string(&mut line, self.route);
        line.push_str(",\"decision\":");
        push_json_string(&mut line, self.decision);
        let _ = write!(
            line,
            ",\"status\":{},\"latency_ms\":{}",
            self.status, self.latency_ms
        );
        if let Some(reason) = self.reason {
            line.push_str(",\"reason\":");
            push_json_string(&mut line, reason);
        }
        if sampled {
            let _ = write!(line, ",\"sample_rate\":{}", rate.as_fraction());
        }
        line.push('}');
        Some(line)
    }
}

/// The first eight hex digits of a request id as a number: the request's random draw. An id that
/// is not hex (the id of a request whose random source failed) draws 0, so it is always kept.
fn draw_of(request_id: &str) -> u32 {
    request_id
        .get(..8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .unwrap_or(0)
}

fn push_json_string(out: &mut String, text: &str) {
    // serde_json's escaping, without building a JSON value first.
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: u16, request_id: &str) -> RequestLine<'_> {
        RequestLine {
            request_id,
            plugin: "todo",
            method: "GET",
            route: "proxy",
            decision: if status < 400 {
                "forwarded"
            } else {
                "invalid_token"
            },
            status,
            latency_ms: 7,
            reason: None,
        }
    }

    #[test]
    fn rates_parse_from_zero_to_one_and_refuse_the_rest() {
        assert_eq!(SampleRate::parse("1"), Ok(SampleRate::ALL));
        assert_eq!(SampleRate::parse("0"), Ok(SampleRate::NONE));
        assert_eq!(SampleRate::parse(" 0.01 "), Ok(SampleRate::DEFAULT));
        assert_eq!(SampleRate::parse("0.000001").unwrap().per_million, 1);
        for bad in ["", "-0.1", "1.5", "1%", "NaN", "inf", "half"] {
            assert!(matches!(SampleRate::parse(bad).err().as_deref(), Some("a number from 0 to 1 (0.01 logs 1% of successful requests), got \"-0.1\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"1%\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"1.5\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"NaN\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"half\"" | "a number from 0 to 1 (0.01 logs 1% of successful requests), got \"inf\"")), "{bad:?}");
        }
    }

    #[test]
    fn refusals_and_errors_are_always_logged_whatever_the_rate() {
        for status in [400, 401, 403, 404, 429, 500, 502, 503, 504] {
            for id in ["00000000aa", "ffffffffaa", "7fffffffaa", "unavailable"] {
                assert!(line(status, id).render(SampleRate::NONE).is_some());
            }
        }
    }

    #[test]
    fn successes_are_kept_at_the_rate_over_uniform_draws() {
        // Every 2^20-th draw across the whole u32 range: the kept share is the rate.
        let kept = |rate: SampleRate| {
            (0..4096u32)
                .filter(|i| {
                    let id = format!("{:08x}", i << 20);
                    line(200, &id).render(rate).is_some()
                })
                .count()
        };
        assert_eq!(kept(SampleRate::ALL), 4096);
        assert_eq!(kept(SampleRate::NONE), 0);
        let one_percent = kept(SampleRate::DEFAULT);
        assert!((40..=42).contains(&one_percent), "{one_percent}");
        assert_eq!(kept(SampleRate::parse("0.5").unwrap()), 2048);
    }

    #[test]
    fn the_line_is_json_with_every_field_and_the_rate_of_a_sampled_success() {
        let success: serde_json::Value =
            serde_json::from_str(&line(200, "00000000ab").render(SampleRate::ALL).unwrap())
                .unwrap();
        assert_eq!(
            success,
            serde_json::json!({
                "request_id": "00000000ab", "plugin": "todo", "method": "GET", "route": "proxy",
                "decision": "forwarded", "status": 200, "latency_ms": 7, "sample_rate": 1
            })
        );
        let refusal: serde_json::Value =
            serde_json::from_str(&line(401, "x").render(SampleRate::NONE).unwrap()).unwrap();
        assert_eq!(refusal["decision"], "invalid_token");
        assert!(
            refusal.get("sample_rate").is_none(),
            "refusals are all logged"
        );
        let odd = RequestLine {
            plugin: "quote\"and\\slash\n",
            ..line(500, "id")
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&odd.render(SampleRate::NONE).unwrap()).unwrap();
        assert_eq!(parsed["plugin"], "quote\"and\\slash\n");
        assert!(parsed.get("reason").is_none());
        let noted = RequestLine {
            reason: Some("upstream: invalid: ID token: the nonce is not this sign-in's"),
            ..line(502, "id")
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&noted.render(SampleRate::NONE).unwrap()).unwrap();
        assert_eq!(
            parsed["reason"],
            "upstream: invalid: ID token: the nonce is not this sign-in's"
        );
    }
}
