//! The HTML pages every page-serving part renders (the authorization server's consent, the portal,
//! billing, upstream sign-in), from the templates in `static/portal/`.
//!
//! Templates use `{{name}}` for text (HTML-escaped) and `{{{name}}}` for fragments this module
//! built itself. Every page is sent with `Cache-Control: no-store`, a CSP without scripts,
//! `frame-ancestors 'none'` and `X-Frame-Options: DENY` (no clickjacking), and no referrer.
//! Pages need no JavaScript.

use crate::http::Reply;

const PAGE: &str = include_str!("../../static/portal/page.html");
const LOGIN: &str = include_str!("../../static/portal/login.html");
const CONSENT: &str = include_str!("../../static/portal/consent.html");
const MESSAGE: &str = include_str!("../../static/portal/message.html");
const ACCOUNT: &str = include_str!("../../static/portal/account.html");
const PROVIDER: &str = include_str!("../../static/portal/providers.html");
const LINK: &str = include_str!("../../static/portal/link.html");

/// Content-Security-Policy of every portal page.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Fills a template. Unknown placeholders render empty.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let raw = rest[start..].starts_with("{{{");
        let (open, close) = if raw { (3, "}}}") } else { (2, "}}") };
        let after = &rest[start + open..];
        let Some(end) = after.find(close) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .unwrap_or("");
        if raw {
            out.push_str(value);
        } else {
            out.push_str(&escape_html(value));
        }
        rest = &after[end + close.len()..];
    }
    out.push_str(rest);
    out
}

/// Branding shared by every page.
#[derive(Debug, Clone, Copy)]
pub struct Brand<'a> {
    pub plugin_name: &'a str,
    pub logo_url: &'a str,
}

/// A complete page with the portal's security headers.
pub fn page(status: u16, brand: Brand<'_>, title: &str, body_html: &str) -> Reply {
    let html = render(
        PAGE,
        &[
            ("title", title),
            ("plugin_name", brand.plugin_name),
            ("logo_url", brand.logo_url),
            ("body", body_html),
        ],
    );
    let mut reply = Reply::new(status);
    reply.body = html.into_bytes();
    reply
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header("cache-control", "no-store")
        .with_header("content-security-policy", PAGE_CSP)
        .with_header("x-frame-options", "DENY")
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
}

/// A button that starts a sign-in at an upstream provider.
pub struct ProviderButton<'a> {
    /// The path the button posts to.
    pub action: String,
    pub name: &'a str,
}

pub struct LoginForm<'a> {
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub email: &'a str,
    pub notice: Option<&'a str>,
    /// Whether the email and password form is offered.
    pub password: bool,
    pub providers: &'a [ProviderButton<'a>],
    /// Links under the form: (path with its query, text), e.g. making an account.
    pub links: &'a [(String, &'a str)],
    /// The passkey button (`web::passkey_pages::sign_in_fragment`), empty where passkeys are
    /// off; with it, the email field offers passkeys in the browser's autofill.
    pub passkey: &'a str,
}

pub(crate) fn notice_html(notice: Option<&str>) -> String {
    notice
        .map(|n| format!("<p class=\"notice\" role=\"alert\">{}</p>", escape_html(n)))
        .unwrap_or_default()
}

/// The sign-in page: the password form, the provider buttons, or both.
pub fn login_page(status: u16, brand: Brand<'_>, form: &LoginForm<'_>) -> Reply {
    let mut body = notice_html(form.notice);
    if form.password {
        body.push_str(&render(
            LOGIN,
            &[
                ("notice", ""),
                ("csrf_token", form.csrf_token),
                ("return_to", form.return_to),
                ("email", form.email),
                (
                    "email_autocomplete",
                    if form.passkey.is_empty() {
                        "username"
                    } else {
                        "username webauthn"
                    },
                ),
            ],
        ));
        if !form.providers.is_empty() || !form.passkey.is_empty() {
            body.push_str("<p class=\"or\">or</p>\n");
        }
    }
    body.push_str(form.passkey);
    for provider in form.providers {
        body.push_str(&provider_button(
            provider,
            form.csrf_token,
            form.return_to,
            false,
        ));
    }
    if !form.links.is_empty() {
        body.push_str("<p class=\"links\">");
        for (href, text) in form.links {
            body.push_str(&format!(
                "<a href=\"{}\">{}</a>",
                escape_html(href),
                escape_html(text)
            ));
        }
        body.push_str("</p>\n");
    }
    page(status, brand, "Sign in", &body)
}

/// One provider's button: a form that starts its sign-in, or (`link`) links it to the signed-in
/// user.
fn provider_button(
    button: &ProviderButton<'_>,
    csrf_token: &str,
    return_to: &str,
    link: bool,
) -> String {
    render(
        PROVIDER,
        &[
            ("action", &button.action),
            ("csrf_token", csrf_token),
            ("return_to", return_to),
            ("name", button.name),
            (
                "link",
                if link {
                    "<input type=\"hidden\" name=\"link\" value=\"1\">"
                } else {
                    ""
                },
            ),
        ],
    )
}

/// The signed-in user must sign in with `button`'s provider before the app can be allowed: its
/// routes forward the user's token there, and none is kept. The button links the provider to
/// the signed-in account and comes back to `return_to`.
pub fn provider_required_page(
    brand: Brand<'_>,
    button: &ProviderButton<'_>,
    csrf_token: &str,
    return_to: &str,
) -> Reply {
    let body = format!(
        "{}{}",
        render(
            MESSAGE,
            &[(
                "message",
                &format!(
                    "This app works with your {} account. Sign in with {} once to connect it.",
                    button.name, button.name
                ),
            )],
        ),
        provider_button(button, csrf_token, return_to, true)
    );
    page(200, brand, "Connect your account", &body)
}

pub struct LinkForm<'a> {
    pub email: &'a str,
    pub provider: &'a str,
    pub csrf_token: &'a str,
    /// Where "Cancel" goes.
    pub back: &'a str,
    pub notice: Option<&'a str>,
}

/// Asks for the password of the existing account a provider's verified email matched.
pub fn link_page(status: u16, brand: Brand<'_>, form: &LinkForm<'_>) -> Reply {
    let body = render(
        LINK,
        &[
            ("notice", &notice_html(form.notice)),
            ("email", form.email),
            ("provider", form.provider),
            ("csrf_token", form.csrf_token),
            ("back", form.back),
        ],
    );
    page(status, brand, "Link your account", &body)
}

pub struct ConsentForm<'a> {
    pub client_name: &'a str,
    /// No administrator vetted the client (it registered itself, or is a metadata document):
    /// its name is its own claim, so it is marked and where access goes is said plainly.
    pub unverified: bool,
    /// The API the permissions are on: its resource indicator (`None` for a grant without one,
    /// which asks only who the user is) and its name in the directory (may be empty).
    pub resource: Option<(&'a str, &'a str)>,
    pub redirect_host: &'a str,
    pub user_email: &'a str,
    /// `(scope, description)` pairs asked for now.
    pub scopes: &'a [(String, String)],
    /// `(scope, description)` pairs the user allowed this app before (not asked again).
    pub already_allowed: &'a [(String, String)],
    pub csrf_token: &'a str,
    pub logout_csrf_token: &'a str,
    /// The authorization request's parameters, carried through the form.
    pub params: &'a [(String, String)],
}

fn scope_items(scopes: &[(String, String)]) -> String {
    scopes
        .iter()
        .map(|(scope, description)| {
            if scope == description {
                format!("<li><code>{}</code></li>", escape_html(scope))
            } else {
                format!(
                    "<li>{} <code>{}</code></li>",
                    escape_html(description),
                    escape_html(scope)
                )
            }
        })
        .collect()
}

pub fn consent_page(brand: Brand<'_>, form: &ConsentForm<'_>) -> Reply {
    // The API being granted, named as the directory names it and by its indicator (what the
    // token's `aud` will be), so a page at one plugin cannot pass off another's API as its own.
    let mut permissions = match form.resource {
        Some((indicator, name)) if !name.is_empty() && name != indicator => format!(
            "<p class=\"resource\">On the API <strong>{}</strong> (<code>{}</code>).</p>",
            escape_html(name),
            escape_html(indicator)
        ),
        Some((indicator, _)) => format!(
            "<p class=\"resource\">On the API <code>{}</code>.</p>",
            escape_html(indicator)
        ),
        None => String::new(),
    };
    permissions.push_str(
        &match (form.scopes.is_empty(), form.already_allowed.is_empty()) {
            (true, true) => {
                "<p>It asks for no permissions beyond knowing who you are.</p>".to_string()
            }
            (true, false) => "<p>It asks for nothing new.</p>".to_string(),
            (false, true) => format!(
                "<p>It asks for these permissions:</p><ul class=\"scopes\">{}</ul>",
                scope_items(form.scopes)
            ),
            (false, false) => format!(
                "<p>It asks for these new permissions:</p><ul class=\"scopes new\">{}</ul>",
                scope_items(form.scopes)
            ),
        },
    );
    if !form.already_allowed.is_empty() {
        permissions.push_str(&format!(
            "<p class=\"muted\">You already allowed it to:</p><ul class=\"scopes allowed\">{}</ul>",
            scope_items(form.already_allowed)
        ));
    }
    let hidden: String = form
        .params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    // Client-provided text is isolated (`<bdi>`) so no direction in it moves the sentence.
    let (marker, notice) = if form.unverified {
        (
            " <span class=\"unverified-mark\">(unverified)</span>".to_string(),
            format!(
                "<p class=\"unverified\" role=\"note\"><strong>This app is unverified:</strong> {} has not checked who it is, and its name is its own claim. If you allow it, access to your account will be sent to <strong><bdi>{}</bdi></strong>.</p>",
                escape_html(brand.plugin_name),
                escape_html(form.redirect_host)
            ),
        )
    } else {
        (String::new(), String::new())
    };
    let body = render(
        CONSENT,
        &[
            ("client_name", form.client_name),
            ("unverified_marker", &marker),
            ("unverified_notice", &notice),
            ("plugin_name", brand.plugin_name),
            ("user_email", form.user_email),
            ("redirect_host", form.redirect_host),
            ("permissions", &permissions),
            ("csrf_token", form.csrf_token),
            ("logout_csrf_token", form.logout_csrf_token),
            ("hidden_params", &hidden),
        ],
    );
    page(200, brand, "Allow access?", &body)
}

/// One row of the account page: what it is, and its button (revoke, unlink) or, without one,
/// its state.
pub struct AccountItem {
    pub kind: &'static str,
    pub id: String,
    pub title: String,
    pub detail: String,
    /// The button's label; the form posts `action=revoke-{kind}` (`unlink-{kind}` for
    /// identities).
    pub button: Option<&'static str>,
    /// Shown instead of a button.
    pub status: &'static str,
    /// A key its user manages here (on a `user_http` plugin): its name, for the rename field;
    /// the row also offers to rotate it.
    pub manage: Option<String>,
}

/// The account page's own-key forms, on `user_http` plugins: make a key, and the one just made
/// or rotated, shown this once.
pub struct KeyManager<'a> {
    pub shown: Option<ShownKey<'a>>,
    /// How many more live keys the user may make here.
    pub room: usize,
    /// The most live keys one account holds here.
    pub limit: usize,
}

/// A key just made: its name and the key, which this page alone ever shows.
pub struct ShownKey<'a> {
    pub name: &'a str,
    pub key: &'a str,
}

pub struct AccountView<'a> {
    pub user_email: &'a str,
    /// The plan section (built by `billing::pages`), empty for plugins without plans.
    pub billing: &'a str,
    /// The passkey section (`web::passkey_pages::section`), empty where passkeys are off.
    pub passkeys: &'a str,
    /// The second factor's section (built by `second_factor_pages`).
    pub second_factor: &'a str,
    pub grants: &'a [AccountItem],
    pub keys: &'a [AccountItem],
    /// Linked upstream identities; the section shows only when `identities` or `link_buttons`
    /// has something.
    pub identities: &'a [AccountItem],
    /// Providers the user can link: (path to post to, name).
    pub link_buttons: &'a [ProviderButton<'a>],
    pub csrf_token: &'a str,
    pub logout_csrf_token: &'a str,
    /// `Some` on `user_http` plugins, where users make their own keys.
    pub key_manager: Option<KeyManager<'a>>,
}

/// A form posting `action` (and `id`) to the account page, with the page's CSRF token.
fn account_form(csrf_token: &str, action: &str, id: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/account\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">{fields}<button type=\"submit\" class=\"secondary\">{}</button></form>",
        escape_html(csrf_token),
        escape_html(action),
        escape_html(id),
        escape_html(button)
    )
}

/// A managed key's forms: rename, rotate, revoke.
fn key_forms(csrf_token: &str, id: &str, name: &str) -> String {
    let rename = format!(
        "<input name=\"name\" value=\"{}\" maxlength=\"{}\" required aria-label=\"New name of {}\">",
        escape_html(name),
        crate::accounts::api_keys::MAX_API_KEY_NAME_CHARS,
        escape_html(name)
    );
    format!(
        "<span class=\"key-actions\">{}{}{}</span>",
        account_form(csrf_token, "rename-key", id, &rename, "Rename"),
        account_form(csrf_token, "rotate-key", id, "", "Rotate"),
        account_form(csrf_token, "revoke-key", id, "", "Revoke")
    )
}

/// The key just made, shown once, and the form that makes another (or why it cannot).
fn key_manager(manager: &KeyManager<'_>, csrf_token: &str) -> String {
    let mut out = String::new();
    if let Some(shown) = &manager.shown {
        out.push_str(&format!(
            "<div class=\"new-key\" role=\"status\"><p><strong>Your new key <bdi>{}</bdi></strong></p><input class=\"key\" readonly value=\"{}\" aria-label=\"Your new API key\"><p class=\"muted\">Copy it now (select it, then copy) and paste it where your assistant asks for an API key. It is shown only this once: if you lose it, rotate the key for a new one.</p></div>",
            escape_html(shown.name),
            escape_html(shown.key)
        ));
    }
    if manager.room == 0 {
        out.push_str(&format!(
            "<p class=\"muted\" id=\"key-limit\">You hold {} live keys, the most one account may hold here. Revoke one to make another.</p>",
            manager.limit
        ));
    } else {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/account\" class=\"new-key-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"create-key\"><label>New key's name <input name=\"name\" maxlength=\"{}\" required placeholder=\"ChatGPT\"></label><button type=\"submit\">Create key</button></form>",
            escape_html(csrf_token),
            crate::accounts::api_keys::MAX_API_KEY_NAME_CHARS
        ));
    }
    out
}

fn account_items(items: &[AccountItem], csrf_token: &str, empty: &str) -> String {
    if items.is_empty() {
        return format!("<p class=\"muted\">{}</p>", escape_html(empty));
    }
    let rows: String = items
        .iter()
        .map(|item| {
            let action = match (&item.manage, item.button) {
                (Some(name), Some(_)) => key_forms(csrf_token, &item.id, name),
                (_, Some(label)) => format!(
                    "<form method=\"post\" action=\"/account\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{}-{}\"><input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form>",
                    escape_html(csrf_token),
                    if item.kind == "identity" { "unlink" } else { "revoke" },
                    item.kind,
                    escape_html(&item.id),
                    escape_html(label)
                ),
                (_, None) => format!("<span class=\"status\">{}</span>", escape_html(item.status)),
            };
            format!(
                "<li data-id=\"{}\"><span><strong><bdi>{}</bdi></strong><br><span class=\"status\">{}</span></span>{action}</li>",
                escape_html(&item.id),
                escape_html(&item.title),
                escape_html(&item.detail)
            )
        })
        .collect();
    format!("<ul class=\"items\">{rows}</ul>")
}

pub fn account_page(brand: Brand<'_>, view: &AccountView<'_>) -> Reply {
    let grants = account_items(
        view.grants,
        view.csrf_token,
        "No app has access to your account.",
    );
    let mut keys = String::new();
    if let Some(manager) = &view.key_manager {
        keys.push_str(&key_manager(manager, view.csrf_token));
    }
    keys.push_str(&account_items(
        view.keys,
        view.csrf_token,
        "You have no API keys.",
    ));
    let mut identities = String::new();
    if !view.identities.is_empty() || !view.link_buttons.is_empty() {
        identities.push_str("<h2>Sign-in methods</h2>");
        identities.push_str(&account_items(
            view.identities,
            view.csrf_token,
            "No other sign-in is linked.",
        ));
        for button in view.link_buttons {
            identities.push_str(&format!(
                "<form method=\"post\" action=\"{}\" class=\"provider\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"link\" value=\"1\"><button type=\"submit\">Link {}</button></form>",
                escape_html(&button.action),
                escape_html(view.csrf_token),
                escape_html(button.name)
            ));
        }
    }
    let body = render(
        ACCOUNT,
        &[
            ("user_email", view.user_email),
            ("billing", view.billing),
            ("grants", &grants),
            ("keys", &keys),
            ("identities", &identities),
            ("passkeys", view.passkeys),
            ("second_factor", view.second_factor),
            ("logout_csrf_token", view.logout_csrf_token),
            ("csrf_token", view.csrf_token),
        ],
    );
    page(200, brand, "Your account", &body)
}

/// A message with a way on: a link to `href` (a path on this site).
pub fn message_with_link(
    status: u16,
    brand: Brand<'_>,
    title: &str,
    message: &str,
    href: &str,
    link_text: &str,
) -> Reply {
    let body = format!(
        "{}<p><a href=\"{}\">{}</a></p>",
        render(MESSAGE, &[("message", message)]),
        escape_html(href),
        escape_html(link_text)
    );
    page(status, brand, title, &body)
}

pub fn message_page(status: u16, brand: Brand<'_>, title: &str, message: &str) -> Reply {
    page(
        status,
        brand,
        title,
        &render(MESSAGE, &[("message", message)]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: Brand<'static> = Brand {
        plugin_name: "Todo <Demo>",
        logo_url: "https://x.example.com/logo.svg",
    };

    #[test]
    fn text_is_escaped_and_fragments_are_not() {
        assert_eq!(
            render(
                "{{a}}|{{{b}}}|{{missing}}",
                &[("a", "<b>\"'&"), ("b", "<i>x</i>")]
            ),
            "&lt;b&gt;&quot;&#39;&amp;|<i>x</i>|"
        );
    }

    #[test]
    fn pages_carry_anti_framing_and_no_store_headers() {
        let reply = message_page(400, BRAND, "Oops", "bad");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert!(reply
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let html = String::from_utf8(reply.body).unwrap();
        assert!(html.contains("Todo &lt;Demo&gt;"));
    }

    #[test]
    fn the_login_form_carries_csrf_and_return_to_escaped() {
        let reply = login_page(
            200,
            BRAND,
            &LoginForm {
                csrf_token: "tok",
                return_to: "/authorize?a=1&b=\"x\"",
                email: "",
                notice: Some("Wrong <password>"),
                password: true,
                providers: &[ProviderButton {
                    action: "/login/provider/google".into(),
                    name: "Google <Workspace>",
                }],
                links: &[(
                    "/signup?return_to=%2Fauthorize".into(),
                    "Create <an> account",
                )],
                passkey: "",
            },
        );
        let html = String::from_utf8(reply.body).unwrap();
        assert!(html.contains("name=\"csrf_token\" value=\"tok\""));
        assert!(html.contains("value=\"/authorize?a=1&amp;b=&quot;x&quot;\""));
        assert!(html.contains("Wrong &lt;password&gt;"));
        assert!(html.contains("action=\"/login/provider/google\""));
        assert!(html.contains("Continue with Google &lt;Workspace&gt;"));
        assert!(html
            .contains("<a href=\"/signup?return_to=%2Fauthorize\">Create &lt;an&gt; account</a>"));
        assert_eq!(
            html.matches("value=\"tok\"").count(),
            2,
            "both forms carry the token"
        );
    }

    #[test]
    fn a_provider_only_sign_in_has_no_password_field() {
        let buttons = [ProviderButton {
            action: "/login/provider/demo".into(),
            name: "Demo",
        }];
        let reply = login_page(
            200,
            BRAND,
            &LoginForm {
                csrf_token: "tok",
                return_to: "",
                email: "",
                notice: None,
                password: false,
                providers: &buttons,
                links: &[],
                passkey: "",
            },
        );
        let html = String::from_utf8(reply.body).unwrap();
        assert!(!html.contains("type=\"password\""));
        assert!(!html.contains("class=\"or\""));
        assert!(html.contains("Continue with Demo"));
    }

    #[test]
    fn the_consent_page_names_client_host_and_scopes() {
        let scopes = vec![("todos:read".to_string(), "Read your todos".to_string())];
        let params = vec![("client_id".to_string(), "chat\"gpt".to_string())];
        let reply = consent_page(
            BRAND,
            &ConsentForm {
                client_name: "ChatGPT",
                unverified: false,
                resource: Some(("https://todo.example.com/<api>", "Todo <API>")),
                redirect_host: "chatgpt.com",
                user_email: "demo@example.com",
                scopes: &scopes,
                already_allowed: &[],
                csrf_token: "c1",
                logout_csrf_token: "c2",
                params: &params,
            },
        );
        let html = String::from_utf8(reply.body).unwrap();
        assert!(html.contains("<strong><bdi>ChatGPT</bdi></strong> wants to use"));
        assert!(html.contains("chatgpt.com"));
        assert!(!html.contains("unverified"));
        assert!(html.contains("<li>Read your todos <code>todos:read</code></li>"));
        assert!(html.contains("value=\"chat&quot;gpt\""));
        // The API granted, its name and indicator escaped.
        assert!(html.contains(
            "On the API <strong>Todo &lt;API&gt;</strong> (<code>https://todo.example.com/&lt;api&gt;</code>)"
        ));
    }

    #[test]
    fn an_unverified_client_is_marked_in_words_with_where_access_goes() {
        let reply = consent_page(
            BRAND,
            &ConsentForm {
                client_name: "Notes <b>",
                unverified: true,
                resource: None,
                redirect_host: "notes.example.net",
                user_email: "demo@example.com",
                scopes: &[],
                already_allowed: &[],
                csrf_token: "c1",
                logout_csrf_token: "c2",
                params: &[],
            },
        );
        let html = String::from_utf8(reply.body).unwrap();
        assert!(html.contains(
            "<strong><bdi>Notes &lt;b&gt;</bdi></strong> <span class=\"unverified-mark\">(unverified)</span> wants to use"
        ));
        assert!(html.contains("will be sent to <strong><bdi>notes.example.net</bdi></strong>."));
        assert!(html.contains("role=\"note\""));
    }
}
