//! The passkey parts of the portal's pages: the sign-in page's button and the account page's
//! section, each with the ceremony's options for `static/portal/passkey.js`.
//!
//! Portal pages carry no script ([`PAGE_CSP`]); a page with a ceremony allows one, the portal's
//! own file, and nothing inline ([`PASSKEY_PAGE_CSP`], [`allow_passkey_script`]). The options are
//! a `<script type="application/json">` block, which is data and never runs.

use super::pages::{escape_html, render, PAGE_CSP};
use crate::http::Reply;
use crate::paths::{ACCOUNT_PASSKEYS_PATH, PASSKEY_SCRIPT_PATH};

const SECTION: &str = include_str!("../../static/portal/passkeys.html");
const SIGN_IN: &str = include_str!("../../static/portal/passkey-sign-in.html");

/// Content-Security-Policy of a page with a passkey ceremony: the portal's, with the portal's own
/// script (`script-src 'self'`: nothing inline, nothing from elsewhere).
pub const PASSKEY_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'";

/// The page with its CSP widened to [`PASSKEY_PAGE_CSP`].
pub fn allow_passkey_script(mut reply: Reply) -> Reply {
    for (name, value) in reply.headers.iter_mut() {
        if name == "content-security-policy" && value == PAGE_CSP {
            *value = PASSKEY_PAGE_CSP.to_string();
        }
    }
    reply
}

/// The options as a JSON block in the page, and the script that reads them. `<`, `>` and `&`
/// are written as JSON escapes, so no text in the options (a user's name) can close the block.
fn script(options: &serde_json::Value) -> String {
    let json = options
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!(
        "<script type=\"application/json\" id=\"passkey-options\">{json}</script>\n<script src=\"{PASSKEY_SCRIPT_PATH}\" defer></script>\n"
    )
}

/// The sign-in page's passkey button: a form the script shows, fills and posts.
pub fn sign_in_fragment(
    csrf_token: &str,
    return_to: &str,
    state: &str,
    options: &serde_json::Value,
) -> String {
    render(
        SIGN_IN,
        &[
            ("csrf_token", csrf_token),
            ("return_to", return_to),
            ("state", state),
            ("script", &script(options)),
        ],
    )
}

/// A passkey as the account page lists it.
pub struct PasskeyItem {
    pub id: String,
    pub name: String,
    /// When it was added and last used, in words.
    pub detail: String,
}

/// The account page's passkey section: each passkey with a rename and a delete form (which need
/// no script), and the form that adds one (shown by the script).
pub fn section(
    items: &[PasskeyItem],
    csrf_token: &str,
    state: &str,
    options: &serde_json::Value,
) -> String {
    let items = if items.is_empty() {
        "<p class=\"muted\">You have no passkeys.</p>".to_string()
    } else {
        let rows: String = items
            .iter()
            .map(|item| {
                let hidden = format!(
                    "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">",
                    escape_html(csrf_token),
                    escape_html(&item.id)
                );
                format!(
                    "<li data-id=\"{id}\"><span><strong><bdi>{name}</bdi></strong><br><span class=\"status\">{detail}</span></span>\
                     <form method=\"post\" action=\"{ACCOUNT_PASSKEYS_PATH}\" class=\"rename\">{hidden}<input type=\"hidden\" name=\"action\" value=\"rename\"><input type=\"text\" name=\"name\" maxlength=\"64\" required aria-label=\"New name\" value=\"{name}\"><button type=\"submit\" class=\"secondary\">Rename</button></form>\
                     <form method=\"post\" action=\"{ACCOUNT_PASSKEYS_PATH}\">{hidden}<input type=\"hidden\" name=\"action\" value=\"delete\"><button type=\"submit\" class=\"secondary\">Delete</button></form></li>",
                    id = escape_html(&item.id),
                    name = escape_html(&item.name),
                    detail = escape_html(&item.detail),
                )
            })
            .collect();
        format!("<ul class=\"items\">{rows}</ul>")
    };
    render(
        SECTION,
        &[
            ("items", &items),
            ("csrf_token", csrf_token),
            ("state", state),
            ("script", &script(options)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::pages::{message_page, Brand};

    #[test]
    fn nothing_in_the_options_closes_their_block() {
        let options = serde_json::json!({"user": {"name": "</script><script>alert(1)</script>&"}});
        let html = sign_in_fragment("t", "/authorize?a=1", "s", &options);
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(html.contains("\\u003c/script\\u003e"));
        let back: serde_json::Value = serde_json::from_str(
            html.split("id=\"passkey-options\">")
                .nth(1)
                .unwrap()
                .split("</script>")
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(back, options);
        assert!(html.contains("value=\"/authorize?a=1\""));
    }

    #[test]
    fn only_a_page_with_a_ceremony_allows_the_portals_script() {
        let brand = Brand {
            plugin_name: "Todo",
            logo_url: "/logo.svg",
        };
        let page = allow_passkey_script(message_page(200, brand, "Sign in", "x"));
        assert_eq!(
            page.header("content-security-policy"),
            Some(PASSKEY_PAGE_CSP)
        );
        assert!(!PASSKEY_PAGE_CSP.contains("unsafe"));
        assert!(!message_page(200, brand, "x", "y")
            .header("content-security-policy")
            .unwrap()
            .contains("script-src"));
    }

    #[test]
    fn each_passkey_is_listed_with_its_own_rename_and_delete_forms() {
        let items = [PasskeyItem {
            id: "cred<1>".into(),
            name: "Phone \"A\"".into(),
            detail: "added 2026-01-01".into(),
        }];
        let html = section(&items, "tok", "st", &serde_json::json!({}));
        assert!(html.contains("name=\"id\" value=\"cred&lt;1&gt;\""));
        assert!(html.contains("Phone &quot;A&quot;"));
        assert_eq!(html.matches("name=\"csrf_token\" value=\"tok\"").count(), 3);
        assert!(html.contains("value=\"rename\"") && html.contains("value=\"delete\""));
        assert!(html.contains("data-passkey=\"register\" hidden"));
    }
}
