//! The pages of a second factor: the code asked for after the first factor (or to step up), the
//! authenticator app's setup, the recovery codes shown once, the factor's own page, and the
//! account page's section that links to it.

use super::pages::{escape_html, notice_html, page, render, Brand};
use crate::http::Reply;

const CODE: &str = include_str!("../../static/portal/second-factor.html");
const SETUP: &str = include_str!("../../static/portal/totp-setup.html");
const CODES: &str = include_str!("../../static/portal/recovery-codes.html");
const MANAGE: &str = include_str!("../../static/portal/second-factor-manage.html");

/// The code page: `pending` is the sealed half sign-in the form carries back.
pub fn second_factor_code_page(
    status: u16,
    brand: Brand<'_>,
    csrf_token: &str,
    pending: &str,
    email: &str,
    notice: Option<&str>,
) -> Reply {
    let mut body = notice_html(notice);
    body.push_str(&render(
        CODE,
        &[
            ("csrf_token", csrf_token),
            ("pending", pending),
            ("email", email),
        ],
    ));
    page(status, brand, "Two-step sign-in", &body)
}

/// What setting an authenticator app up shows: the key, the `otpauth://` link, the confirming
/// form (`setup`: the sealed secret it carries back).
pub struct TotpSetup<'a> {
    pub key: &'a str,
    pub uri: &'a str,
    pub setup: &'a str,
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub notice: Option<&'a str>,
}

pub fn totp_setup_page(status: u16, brand: Brand<'_>, setup: &TotpSetup<'_>) -> Reply {
    let mut body = notice_html(setup.notice);
    body.push_str(&render(
        SETUP,
        &[
            ("key", &grouped(setup.key)),
            ("uri", setup.uri),
            ("setup", setup.setup),
            ("csrf_token", setup.csrf_token),
            ("return_to", setup.return_to),
        ],
    ));
    page(status, brand, "Set up an authenticator app", &body)
}

/// The recovery codes, shown this once, and the way on (`next`: a path on this site).
pub fn recovery_codes_page(brand: Brand<'_>, codes: &[&str], next: &str, next_text: &str) -> Reply {
    let items: String = codes
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", escape_html(c)))
        .collect();
    let body = render(
        CODES,
        &[("codes", &items), ("next", next), ("next_text", next_text)],
    );
    page(200, brand, "Your recovery codes", &body)
}

/// The factor's own page: since when, the codes left, new codes and turning it off.
pub struct SecondFactorManage<'a> {
    pub email: &'a str,
    pub since: &'a str,
    pub left: usize,
    pub recent_minutes: i64,
    pub csrf_token: &'a str,
    pub notice: Option<&'a str>,
}

pub fn second_factor_manage_page(
    status: u16,
    brand: Brand<'_>,
    view: &SecondFactorManage<'_>,
) -> Reply {
    let mut body = notice_html(view.notice);
    body.push_str(&render(
        MANAGE,
        &[
            ("email", view.email),
            ("since", view.since),
            ("left", &view.left.to_string()),
            ("recent_minutes", &view.recent_minutes.to_string()),
            ("csrf_token", view.csrf_token),
        ],
    ));
    page(status, brand, "Authenticator app", &body)
}

/// The account page's section: whether an authenticator app is set up, and the link to it.
pub fn second_factor_section(enrolled: bool) -> String {
    let (text, link) = if enrolled {
        (
            "Signing in asks for a code from your authenticator app.",
            "Manage your authenticator app",
        )
    } else {
        (
            "Add a code from an authenticator app to your sign-in.",
            "Set up an authenticator app",
        )
    };
    format!(
        "<h2>Two-step sign-in</h2><p class=\"muted\">{text}</p><p><a href=\"{}\">{link}</a></p>",
        crate::paths::SECOND_FACTOR_SETUP_PATH
    )
}

/// A base32 key in groups of four, as apps' "enter a setup key" fields take it.
fn grouped(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_key_is_shown_in_groups_of_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(grouped(""), "");
    }
}
