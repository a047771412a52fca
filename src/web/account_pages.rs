//! The pages of accounts people make and recover themselves: sign-up, the code a mail carries,
//! the button a mailed link opens, the email forms (reset, sign-in by code) and a new password.

use super::pages::{escape_html, notice_html, page, render, Brand, PAGE_CSP};
use crate::http::Reply;

const SIGN_UP: &str = include_str!("../../static/portal/signup.html");
const CODE: &str = include_str!("../../static/portal/code.html");
const CONFIRM: &str = include_str!("../../static/portal/confirm.html");
const EMAIL_FORM: &str = include_str!("../../static/portal/email-form.html");
const NEW_PASSWORD: &str = include_str!("../../static/portal/new-password.html");

pub struct SignUpForm<'a> {
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    /// An invitation's link token: the address is the invitation's, not to be changed.
    pub invitation: &'a str,
    /// Whether a password is chosen here (else the account signs in by email code).
    pub password: bool,
    pub min_password_chars: usize,
    /// The plugin's terms, which the user accepts to sign up; empty for none.
    pub terms_url: &'a str,
    pub notice: Option<&'a str>,
    /// The sign-in page, for people who have an account.
    pub sign_in: &'a str,
    /// Cloudflare Turnstile's site key, when the plugin shows the widget.
    pub turnstile_site_key: Option<&'a str>,
}

pub fn sign_up_page(status: u16, brand: Brand<'_>, form: &SignUpForm<'_>) -> Reply {
    let password = if form.password {
        format!(
            "<label for=\"password\">Password <span class=\"muted\">(at least {} characters)</span></label>\n<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{}\" required>",
            form.min_password_chars, form.min_password_chars
        )
    } else {
        String::new()
    };
    let terms = if form.terms_url.is_empty() {
        String::new()
    } else {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"terms\" value=\"accepted\" required> I accept the <a href=\"{}\" target=\"_blank\" rel=\"noopener\">terms and privacy policy</a></label>",
            escape_html(form.terms_url)
        )
    };
    let terms = match form.turnstile_site_key {
        Some(key) => format!(
            "{terms}\n<div class=\"cf-turnstile\" data-sitekey=\"{}\"></div>\n<script src=\"{}/turnstile/v0/api.js\" async defer></script>",
            escape_html(key),
            crate::accounts::turnstile::WIDGET_ORIGIN
        ),
        None => terms,
    };
    let lock = if form.invitation.is_empty() {
        "autofocus"
    } else {
        "readonly"
    };
    let mut body = notice_html(form.notice);
    body.push_str(&render(
        SIGN_UP,
        &[
            ("csrf_token", form.csrf_token),
            ("return_to", form.return_to),
            ("invitation", form.invitation),
            ("email", form.email),
            ("email_lock", lock),
            ("name", form.name),
            ("password", &password),
            ("terms", &terms),
        ],
    ));
    body.push_str(&format!(
        "<p class=\"muted\">Have an account? <a href=\"{}\">Sign in</a></p>",
        escape_html(form.sign_in)
    ));
    let reply = page(status, brand, "Create your account", &body);
    if form.turnstile_site_key.is_none() {
        return reply;
    }
    // The widget's script and frame, from Turnstile's origin only; every other page stays
    // script-free.
    let origin = crate::accounts::turnstile::WIDGET_ORIGIN;
    let csp = format!("{PAGE_CSP}; script-src {origin}; frame-src {origin}; connect-src {origin}");
    let mut reply = reply;
    for (name, value) in reply.headers.iter_mut() {
        if name == "content-security-policy" {
            *value = csp.clone();
        }
    }
    reply
}

pub struct CodeForm<'a> {
    pub title: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub csrf_token: &'a str,
    pub challenge: &'a str,
    pub email: &'a str,
    pub minutes: i64,
    /// Where to start over (a new code).
    pub again: &'a str,
    pub notice: Option<&'a str>,
}

pub fn code_page(status: u16, brand: Brand<'_>, form: &CodeForm<'_>) -> Reply {
    let mut body = notice_html(form.notice);
    body.push_str(&render(
        CODE,
        &[
            ("email", form.email),
            ("minutes", &form.minutes.to_string()),
            ("action", form.action),
            ("csrf_token", form.csrf_token),
            ("challenge", form.challenge),
            ("button", form.button),
            ("again", form.again),
        ],
    ));
    page(status, brand, form.title, &body)
}

/// What a mailed link opens: one button, so that a mail scanner fetching the link uses
/// nothing up.
pub struct ConfirmForm<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub csrf_token: &'a str,
    pub token: &'a str,
}

pub fn confirm_page(brand: Brand<'_>, form: &ConfirmForm<'_>) -> Reply {
    let body = render(
        CONFIRM,
        &[
            ("message", form.message),
            ("action", form.action),
            ("csrf_token", form.csrf_token),
            ("token", form.token),
            ("button", form.button),
        ],
    );
    page(200, brand, form.title, &body)
}

/// An address to send something to: a reset link, a sign-in code.
pub struct EmailForm<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub email: &'a str,
    pub back: &'a str,
    pub notice: Option<&'a str>,
}

pub fn email_form_page(status: u16, brand: Brand<'_>, form: &EmailForm<'_>) -> Reply {
    let mut body = notice_html(form.notice);
    body.push_str(&render(
        EMAIL_FORM,
        &[
            ("message", form.message),
            ("action", form.action),
            ("csrf_token", form.csrf_token),
            ("return_to", form.return_to),
            ("email", form.email),
            ("button", form.button),
            ("back", form.back),
        ],
    ));
    page(status, brand, form.title, &body)
}

pub fn new_password_page(
    status: u16,
    brand: Brand<'_>,
    csrf_token: &str,
    token: &str,
    email: &str,
    min_chars: usize,
    notice: Option<&str>,
) -> Reply {
    let mut body = notice_html(notice);
    body.push_str(&render(
        NEW_PASSWORD,
        &[
            ("csrf_token", csrf_token),
            ("token", token),
            ("email", email),
            ("min", &min_chars.to_string()),
        ],
    ));
    page(status, brand, "Choose a new password", &body)
}
