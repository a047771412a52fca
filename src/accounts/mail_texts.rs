//! The mails accounts send: each written once as parts, rendered as HTML (the plugin's name and
//! logo, inline styles, as mail clients need) and as plain text from the same parts.
//!
//! English is the language built in. Nothing a caller typed reaches a mail but the address it
//! goes to: a name or a "return to" could carry a phishing line into a mail that comes from the
//! plugin's own domain.

use super::mail::Mail;
use crate::web::pages::{escape_html, render, Brand};

const LAYOUT: &str = include_str!("../../static/mail/layout.html");
const ACCENT: &str = "#1f3a5f";

/// One part of a mail's body.
enum Part<'a> {
    Text(&'a str),
    /// A code, shown large and spaced.
    Code(&'a str),
    /// A link, as a button in HTML and on its own line in text.
    Button(&'a str, &'a str),
    /// A footnote.
    Small(&'a str),
}

fn compose(brand: Brand<'_>, to: &str, subject: &str, parts: &[Part<'_>]) -> Mail {
    let mut html = String::new();
    let mut text = String::new();
    for part in parts {
        match part {
            Part::Text(t) => {
                html.push_str(&format!(
                    "<tr><td style=\"padding:6px 0\">{}</td></tr>\n",
                    escape_html(t)
                ));
                text.push_str(&format!("{t}\n\n"));
            }
            Part::Code(code) => {
                html.push_str(&format!(
                    "<tr><td style=\"padding:10px 0;font:600 28px/1.2 ui-monospace,Menlo,monospace;letter-spacing:6px\">{}</td></tr>\n",
                    escape_html(code)
                ));
                text.push_str(&format!("    {code}\n\n"));
            }
            Part::Button(label, url) => {
                html.push_str(&format!(
                    "<tr><td style=\"padding:12px 0\"><a href=\"{}\" style=\"display:inline-block;padding:10px 18px;border-radius:8px;background:{ACCENT};color:#fff;text-decoration:none\">{}</a></td></tr>\n",
                    escape_html(url),
                    escape_html(label)
                ));
                text.push_str(&format!("{label}:\n{url}\n\n"));
            }
            Part::Small(t) => {
                html.push_str(&format!(
                    "<tr><td style=\"padding-top:14px;color:#666;font-size:13px\">{}</td></tr>\n",
                    escape_html(t)
                ));
                text.push_str(&format!("-- \n{t}\n"));
            }
        }
    }
    let html = render(
        LAYOUT,
        &[
            ("subject", subject),
            ("logo_url", brand.logo_url),
            ("plugin_name", brand.plugin_name),
            ("parts", &html),
        ],
    );
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: format!("{}\n\n{text}", brand.plugin_name),
        html,
    }
}

fn minutes(secs: i64) -> i64 {
    (secs / 60).max(1)
}

/// The code and link that finish a sign-up.
pub fn sign_up_code(brand: Brand<'_>, to: &str, code: &str, link: &str, ttl_secs: i64) -> Mail {
    let subject = format!("{code} is your {} sign-up code", brand.plugin_name);
    let works = format!(
        "The code and the link work for {} minutes.",
        minutes(ttl_secs)
    );
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("Enter this code on the sign-up page to confirm your email address:"),
            Part::Code(code),
            Part::Text("Or confirm it with this link:"),
            Part::Button("Confirm my email address", link),
            Part::Text(&works),
            Part::Small("You get this mail because someone signed up with this address. If it was not you, ignore it: no account is made without the code."),
        ],
    )
}

/// A sign-up with an address that already has an account: the ways back in instead of a code.
pub fn already_registered(brand: Brand<'_>, to: &str, sign_in: &str, reset: Option<&str>) -> Mail {
    let subject = format!("You already have a {} account", brand.plugin_name);
    let mut parts = vec![
        Part::Text("Someone tried to sign up with this address, but it already has an account."),
        Part::Button("Sign in", sign_in),
    ];
    if let Some(reset) = reset {
        parts.push(Part::Text("Forgot your password? Choose a new one:"));
        parts.push(Part::Button("Reset my password", reset));
    }
    parts.push(Part::Small(
        "If it was not you, ignore this mail: nothing changed.",
    ));
    compose(brand, to, &subject, &parts)
}

/// The code and link of a sign-in without a password.
pub fn sign_in_code(brand: Brand<'_>, to: &str, code: &str, link: &str, ttl_secs: i64) -> Mail {
    let subject = format!("{code} is your {} sign-in code", brand.plugin_name);
    let works = format!(
        "The code and the link work for {} minutes, once.",
        minutes(ttl_secs)
    );
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("Enter this code on the sign-in page:"),
            Part::Code(code),
            Part::Text("Or sign in with this link:"),
            Part::Button("Sign in", link),
            Part::Text(&works),
            Part::Small("If it was not you who asked, ignore this mail: nobody can sign in without the code."),
        ],
    )
}

/// A request (a sign-in code, a reset) for an address without an account here.
pub fn no_account(brand: Brand<'_>, to: &str, sign_up: Option<&str>) -> Mail {
    let subject = format!("No {} account uses this address", brand.plugin_name);
    let mut parts = vec![Part::Text(
        "Someone asked to sign in or to reset a password with this address, but no account uses it.",
    )];
    match sign_up {
        Some(link) => {
            parts.push(Part::Text("You can make one:"));
            parts.push(Part::Button("Sign up", link));
        }
        None => parts.push(Part::Text(
            "If you have an account, it may use another address.",
        )),
    }
    parts.push(Part::Small("If it was not you, ignore this mail."));
    compose(brand, to, &subject, &parts)
}

/// A password reset link.
pub fn reset_link(brand: Brand<'_>, to: &str, link: &str, ttl_secs: i64) -> Mail {
    let subject = format!("Reset your {} password", brand.plugin_name);
    let works = format!(
        "The link works once, for {} minutes. Choosing a new password signs you out everywhere.",
        minutes(ttl_secs)
    );
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("Someone asked to reset the password of your account. To choose a new one:"),
            Part::Button("Choose a new password", link),
            Part::Text(&works),
            Part::Small("If it was not you, ignore this mail: your password stays as it is."),
        ],
    )
}

/// After a reset: the owner of the address hears of it.
pub fn password_changed(brand: Brand<'_>, to: &str, reset: &str) -> Mail {
    let subject = format!("Your {} password was changed", brand.plugin_name);
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text(
                "The password of your account was just changed, and every session signed out.",
            ),
            Part::Text("If it was not you, choose a new password now:"),
            Part::Button("Reset my password", reset),
        ],
    )
}

/// The code and link that make a new address an account's.
pub fn email_change_code(
    brand: Brand<'_>,
    to: &str,
    code: &str,
    link: &str,
    ttl_secs: i64,
) -> Mail {
    let subject = format!("{code} confirms your new {} address", brand.plugin_name);
    let works = format!(
        "The code and the link work for {} minutes.",
        minutes(ttl_secs)
    );
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("Enter this code to make this your account's address:"),
            Part::Code(code),
            Part::Text("Or confirm it with this link:"),
            Part::Button("Make this my address", link),
            Part::Text(&works),
            Part::Small(
                "If it was not you who asked, ignore this mail: nothing changes without the code.",
            ),
        ],
    )
}

/// After an address changed: the old address hears of it (not the new one).
pub fn email_changed(brand: Brand<'_>, to: &str, reset: &str) -> Mail {
    let subject = format!("Your {} account's address was changed", brand.plugin_name);
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("Your account's email address was just changed to another one, and this address no longer signs in."),
            Part::Text("If it was not you, reset your password now from the new address's account, or contact the plugin's support."),
            Part::Button("Reset a password", reset),
        ],
    )
}

/// An administrator's invitation to make an account.
pub fn invitation(brand: Brand<'_>, to: &str, link: &str, ttl_secs: i64) -> Mail {
    let subject = format!("You are invited to {}", brand.plugin_name);
    let works = format!(
        "The invitation works once, for {} days.",
        (ttl_secs / 86_400).max(1)
    );
    compose(
        brand,
        to,
        &subject,
        &[
            Part::Text("You are invited to make an account. To accept:"),
            Part::Button("Make my account", link),
            Part::Text(&works),
            Part::Small("If you did not expect this, ignore this mail."),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: Brand<'static> = Brand {
        plugin_name: "Todo <Demo>",
        logo_url: "https://todo.example/logo.svg",
    };

    #[test]
    fn both_forms_carry_the_code_and_the_link_and_html_is_escaped() {
        let m = sign_up_code(
            BRAND,
            "a@b.example",
            "012345",
            "https://todo.example/signup/verify?token=x&y=\"z\"",
            900,
        );
        assert_eq!(m.subject, "012345 is your Todo <Demo> sign-up code");
        assert!(
            m.text.contains("    012345\n")
                && m.text
                    .contains("https://todo.example/signup/verify?token=x&y=\"z\"")
        );
        assert!(m.text.contains("15 minutes"));
        assert!(m.html.contains("012345"));
        assert!(m
            .html
            .contains("href=\"https://todo.example/signup/verify?token=x&amp;y=&quot;z&quot;\""));
        assert!(m.html.contains("Todo &lt;Demo&gt;") && !m.html.contains("Todo <Demo>"));
    }

    #[test]
    fn every_mail_names_the_plugin_and_says_what_to_do_if_it_was_not_you() {
        let mails = [
            already_registered(
                BRAND,
                "a@b.example",
                "https://t/login",
                Some("https://t/login/reset"),
            ),
            no_account(BRAND, "a@b.example", None),
            reset_link(BRAND, "a@b.example", "https://t/login/reset?token=t", 1800),
            sign_in_code(
                BRAND,
                "a@b.example",
                "111111",
                "https://t/login/code?token=t",
                900,
            ),
        ];
        for m in &mails {
            assert!(m.text.starts_with("Todo <Demo>\n"), "{}", m.subject);
            assert!(m.text.contains("not you"), "{}", m.subject);
            assert_eq!(m.to, "a@b.example");
        }
        assert!(mails[2].text.contains("30 minutes"));
    }
}
