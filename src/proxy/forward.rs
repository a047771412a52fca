//! What the origin receives: the caller's request minus its credentials, plus our identity headers.
//!
//! The caller's `Authorization` and `DPoP` proof, cookies, hop-by-hop headers (RFC 9110 §7.6.1, and any header the
//! `Connection` header names), forwarding and client-address headers and every `X-Portcullis-*`
//! header it tried to set are dropped, whatever their case and whether they are spelled with `_`
//! for `-` (many origin stacks read `X_Portcullis_User` as `X-Portcullis-User`); the gateway then
//! adds the identity it verified and the client address the runtime saw. The origin can therefore
//! trust these headers only because the gateway never lets a caller's copy through.

use crate::http::HeaderChanges;
use url::Url;

/// Headers that describe one connection, never forwarded in either direction.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The prefix of the identity headers only the gateway may set.
pub const IDENTITY_HEADER_PREFIX: &str = "x-portcullis-";

/// Headers some origin stacks (IIS, Symfony, Rails, Express middleware, Flask's reverse-proxy
/// snippet, ASP.NET Core's forwarded headers) honour to rewrite the path, host, scheme or method
/// after routing: a caller could use them to reach what the rules refused.
pub const REWRITE_HEADERS: [&str; 15] = [
    "x-original-url",
    "x-rewrite-url",
    "x-override-url",
    "x-original-path",
    "x-script-name",
    "x-original-host",
    "x-host",
    "x-original-proto",
    "x-scheme",
    "x-url-scheme",
    "front-end-https",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
];

/// What the gateway itself reads and never passes on: DPoP proofs and agent signatures (checked
/// here, and replayable by anyone who reads the origin's logs), and `Expect`, which asks for an
/// interim `100 Continue` the relay cannot turn into a response (RFC 9110 §10.1.1).
pub const CONSUMED_HEADERS: [&str; 5] = [
    "dpop",
    "signature",
    "signature-input",
    "signature-agent",
    "expect",
];

/// What an allowlist of forwarded headers (`forward_headers`, written by `init` for new plugins)
/// always lets through besides the names it lists: content negotiation, the body's description,
/// conditional and range requests, tracing, idempotency keys, and what MCP's Streamable HTTP
/// transport needs (its session and protocol version, and `Last-Event-ID` to resume a stream).
pub const ALWAYS_FORWARDED: [&str; 24] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-encoding",
    "content-language",
    "content-length",
    "content-type",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "idempotency-key",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "pragma",
    "prefer",
    "range",
    "traceparent",
    "tracestate",
    "user-agent",
    "baggage",
];

/// `Ok` for a status a response can be relayed with (200 ..= 599): an interim 1xx (a `100
/// Continue` the caller's `Expect` asked for, a `101` to an upgrade the gateway never forwards,
/// `103 Early Hints`) is no answer to relay, nor is a status outside HTTP's range.
pub fn final_status(status: u16) -> Result<(), String> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(format!(
            "the origin answered with status {status}, not a final response"
        ))
    }
}

/// Who the gateway let through, as the origin will be told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// The user (`sub`) for user-bound credentials; `None` for public routes and shared secrets.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// How the caller authenticated.
    pub caller: Caller,
    /// The signed agent (its origin, `https://chatgpt.com`) whose signature on the call verified.
    pub agent: Option<String>,
}

impl Identity {
    /// The user the request is for: the subject, unless it is a machine client.
    pub fn user(&self) -> Option<&str> {
        self.subject
            .as_deref()
            .filter(|_| !self.caller.is_machine())
    }

    /// Whose quota a request counts against: the user's, or the machine client's (the two never
    /// share a counter, even if an id were written alike).
    pub fn quota_holder(&self) -> Option<String> {
        let subject = self.subject.as_deref()?;
        Some(if self.caller.is_machine() {
            format!("client:{subject}")
        } else {
            subject.to_string()
        })
    }
}

/// How the caller authenticated, as the origin is told (`X-Portcullis-Auth`, the assertion's
/// `auth` claim, where a user's token and a machine client's both read `oauth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caller {
    /// A user's access token from this authorization server.
    UserToken,
    /// A machine client's access token (`client_credentials`): its subject is the client.
    MachineClient,
    /// A user's API key (`user_http`).
    ApiKey,
    /// The plugin's one shared secret (`service_http`).
    SharedSecret,
    /// No credential: a public route, or a `none` plugin (its address lock aside).
    #[default]
    Anonymous,
    /// The gateway itself, asking the origin for its OpenAPI document.
    Gateway,
}

impl Caller {
    /// The name the origin reads: the plugin's auth type, or `gateway`.
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::UserToken | Caller::MachineClient => "oauth",
            Caller::ApiKey => "user_http",
            Caller::SharedSecret => "service_http",
            Caller::Anonymous => "none",
            Caller::Gateway => "gateway",
        }
    }

    /// Whether the subject is a machine client, not a user.
    pub fn is_machine(self) -> bool {
        self == Caller::MachineClient
    }
}

/// The origin URL for a request: the origin's base path joined with the raw request path, so a
/// percent-encoded path reaches the origin exactly as the rules matched it.
pub fn origin_url(origin: &Url, raw_path: &str, query: Option<&str>) -> String {
    let base = origin.as_str().trim_end_matches('/');
    match query {
        Some(q) if !q.is_empty() => format!("{base}{raw_path}?{q}"),
        _ => format!("{base}{raw_path}"),
    }
}

/// Headers that claim who the client is (those PHP's and django-ipware's address lookups, Rails'
/// `remote_ip` and ASP.NET Core read). The caller's are dropped; the gateway states the address
/// the runtime saw (`CF-Connecting-IP`) in `X-Forwarded-For` and `X-Real-IP`.
pub const CLIENT_ADDRESS_HEADERS: [&str; 15] = [
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "fastly-client-ip",
    "x-proxyuser-ip",
    "x-forwarded",
    "forwarded-for",
    "x-original-for",
];

/// A header name as origin stacks that fold `_` into `-` read it (CGI and WSGI environments,
/// several Ruby and PHP servers): lower case, underscores as dashes.
pub fn canonical_header_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether a header (by its canonical name) is the gateway's to set or to strip, so no caller's
/// copy may reach the origin under any spelling.
pub fn is_reserved_header(canonical: &str) -> bool {
    HOP_BY_HOP.contains(&canonical)
        || REWRITE_HEADERS.contains(&canonical)
        || CLIENT_ADDRESS_HEADERS.contains(&canonical)
        || CONSUMED_HEADERS.contains(&canonical)
        || matches!(
            canonical,
            "authorization" | "cookie" | "host" | "x-request-id" | "forwarded"
        )
        || canonical.starts_with("x-forwarded-")
        || canonical.starts_with(IDENTITY_HEADER_PREFIX)
}

/// How the caller's headers become the origin's: the reserved ones and those its `Connection`
/// header names are removed, and the gateway's added. `client_ip` is the address the runtime saw
/// (`CF-Connecting-IP`), stated to the origin as `X-Forwarded-For` and `X-Real-IP`. The edge
/// copies the caller's headers natively and applies these, instead of building the list one
/// header at a time.
pub fn request_header_changes(
    incoming: &[(String, String)],
    allowed: Option<&[String]>,
    identity: &Identity,
    request_id: &str,
    public_host: &str,
    public_scheme: &str,
    client_ip: Option<&str>,
) -> HeaderChanges {
    HeaderChanges {
        remove: dropped_request_headers(incoming, allowed),
        append: gateway_request_headers(
            identity,
            request_id,
            public_host,
            public_scheme,
            client_ip,
        ),
    }
}

/// The caller's headers that never reach the origin, each name once as the caller spelled it:
/// reserved names under any spelling, those its `Connection` header names, and with an allowlist
/// (`forward_headers`) every name neither it nor [`ALWAYS_FORWARDED`] holds.
fn dropped_request_headers(
    incoming: &[(String, String)],
    allowed: Option<&[String]>,
) -> Vec<String> {
    let named_by_connection: Vec<String> = incoming
        .iter()
        .filter(|(n, _)| canonical_header_name(n) == "connection")
        .flat_map(|(_, v)| v.split(',').map(|s| canonical_header_name(s.trim())))
        .collect();
    let mut dropped: Vec<String> = Vec::new();
    for (name, _) in incoming {
        let canonical = canonical_header_name(name);
        let unlisted = allowed.is_some_and(|allowed| {
            !ALWAYS_FORWARDED.contains(&canonical.as_str()) && !allowed.contains(&canonical)
        });
        let drop =
            unlisted || is_reserved_header(&canonical) || named_by_connection.contains(&canonical);
        if drop && !dropped.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            dropped.push(name.clone());
        }
    }
    dropped
}

/// What the gateway tells the origin: the request id, the public host and scheme, the client's
/// address, and who is calling.
fn gateway_request_headers(
    identity: &Identity,
    request_id: &str,
    public_host: &str,
    public_scheme: &str,
    client_ip: Option<&str>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(10);
    out.push(("x-request-id".into(), request_id.into()));
    out.push(("x-forwarded-host".into(), public_host.into()));
    out.push(("x-forwarded-proto".into(), public_scheme.into()));
    if let Some(ip) = client_ip {
        out.push(("x-forwarded-for".into(), ip.into()));
        out.push(("x-real-ip".into(), ip.into()));
    }
    out.push(("x-portcullis-auth".into(), identity.caller.as_str().into()));
    if let Some(user) = identity.user() {
        out.push(("x-portcullis-user".into(), user.into()));
    }
    if identity.caller.is_machine() {
        out.push(("x-portcullis-principal".into(), "client".into()));
    }
    if let Some(client) = &identity.client_id {
        out.push(("x-portcullis-client".into(), client.clone()));
    }
    if !identity.scopes.is_empty() {
        out.push(("x-portcullis-scopes".into(), identity.scopes.join(" ")));
    }
    if let Some(agent) = &identity.agent {
        out.push(("x-portcullis-agent".into(), agent.clone()));
    }
    out
}

/// Whether a response header from the origin may go back to the caller. The origin shares the
/// gateway's host with the login portal, so it may not set the portal's cookies, nor clear them
/// (`Clear-Site-Data`).
pub fn keep_response_header(name: &str, value: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if HOP_BY_HOP.contains(&lower.as_str()) || lower == "clear-site-data" {
        return false;
    }
    if lower == "set-cookie" {
        let name = cookie_name_as_sent(value).to_ascii_lowercase();
        let name = name
            .strip_prefix("__host-")
            .or_else(|| name.strip_prefix("__secure-"))
            .unwrap_or(&name);
        return !name.starts_with("portcullis_");
    }
    true
}

/// The name a server reads from the `Cookie` header a browser sends for this `Set-Cookie`
/// (RFC 6265bis §5.6): the pair before `;`, split at its first `=`; a pair without one, or with
/// an empty name (`=portcullis_session=x`), is a nameless cookie, sent as its value alone, whose
/// own first `=` then names it.
fn cookie_name_as_sent(set_cookie: &str) -> &str {
    // Trimmed of any whitespace, more than browsers trim (space and tab): a name a browser keeps
    // with a no-break space in front is still caught.
    let pair = set_cookie.split(';').next().unwrap_or("");
    match pair.split_once('=') {
        Some((name, _)) if !name.trim().is_empty() => name.trim(),
        Some((_, value)) => value.split('=').next().unwrap_or("").trim(),
        None => pair.trim(),
    }
}

/// Headers added to every proxied response: the origin's content is served on the portal's host,
/// so it is never sniffed into HTML and never runs scripts with the portal's origin.
pub const PROXIED_RESPONSE_HEADERS: [(&str, &str); 2] = [
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "sandbox"),
];

/// The origin's response headers as the caller gets them: hop-by-hop headers, portal cookies and
/// the quota-exemption signal removed, a redirect to the origin's own URL rewritten, and
/// [`PROXIED_RESPONSE_HEADERS`] added (the sandbox CSP always, beside any the origin set). Also
/// whether the origin asked for the call not to count against the quota.
pub fn relayed_headers(
    from_origin: &[(String, String)],
    origin: &Url,
    public_base: &str,
) -> (Vec<(String, String)>, bool) {
    let mut quota_exempt = false;
    let mut out = Vec::with_capacity(from_origin.len() + PROXIED_RESPONSE_HEADERS.len());
    for (name, value) in from_origin {
        if name.eq_ignore_ascii_case(crate::quota::QUOTA_EXEMPT_HEADER) {
            quota_exempt = value.trim().eq_ignore_ascii_case("exempt");
            continue;
        }
        if !keep_response_header(name, value) {
            continue;
        }
        let value = if name.eq_ignore_ascii_case("location") {
            rewrite_location(value, origin, public_base)
        } else {
            value.clone()
        };
        out.push((name.clone(), value));
    }
    for (name, value) in PROXIED_RESPONSE_HEADERS {
        let present = out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if name == "content-security-policy" || !present {
            out.push((name.to_string(), value.to_string()));
        }
    }
    (out, quota_exempt)
}

/// The response headers [`relay_changes`] needs to see: the rest go back as the origin sent them.
pub fn relay_decides_on() -> impl Iterator<Item = &'static str> {
    HOP_BY_HOP.into_iter().chain([
        "set-cookie",
        "clear-site-data",
        "location",
        crate::quota::QUOTA_EXEMPT_HEADER,
        "x-content-type-options",
    ])
}

/// [`relayed_headers`] as changes to the origin's headers, decided from the ones it must see
/// ([`relay_decides_on`]); and whether the origin asked for the call not to count.
pub fn relay_changes(
    seen: &[(String, String)],
    origin: &Url,
    public_base: &str,
) -> (HeaderChanges, bool) {
    let (kept, quota_exempt) = relayed_headers(seen, origin, public_base);
    let mut changes = HeaderChanges::default();
    for (name, _) in seen {
        let lower = name.to_ascii_lowercase();
        if !changes.remove.contains(&lower) {
            changes.remove.push(lower);
        }
    }
    // What was seen is replaced by what is kept of it, plus the headers every relay carries.
    changes.append = kept;
    (changes, quota_exempt)
}

/// An origin redirect to its own base URL, rewritten to the gateway's public one.
pub fn rewrite_location(location: &str, origin: &Url, public_base: &str) -> String {
    let origin_base = origin.as_str().trim_end_matches('/');
    match location.strip_prefix(origin_base) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
            format!("{public_base}{rest}")
        }
        _ => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full list the origin gets, as the tests read it.
    fn request_headers(
        incoming: &[(String, String)],
        identity: &Identity,
        request_id: &str,
        public_host: &str,
        public_scheme: &str,
        client_ip: Option<&str>,
    ) -> Vec<(String, String)> {
        request_header_changes(
            incoming,
            None,
            identity,
            request_id,
            public_host,
            public_scheme,
            client_ip,
        )
        .apply(incoming)
    }

    /// A user signed in through OAuth with ChatGPT.
    fn signed_in() -> Identity {
        Identity {
            subject: Some("user_1".into()),
            client_id: Some("chatgpt".into()),
            scopes: vec!["todos:read".into()],
            caller: Caller::UserToken,
            agent: None,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn the_callers_credentials_never_reach_the_origin() {
        let out = request_headers(
            &h(&[
                ("authorization", "DPoP secret-token"),
                ("dpop", "eyJ.proof.sig"),
                ("cookie", "session=abc"),
                ("proxy-authorization", "Basic x"),
                ("accept", "application/json"),
            ]),
            &Identity::default(),
            "req-1",
            "todo.example.com",
            "https",
            None,
        );
        assert!(get(&out, "authorization").is_empty());
        assert!(get(&out, "cookie").is_empty());
        assert!(
            get(&out, "dpop").is_empty(),
            "a DPoP proof is the caller's credential"
        );
        assert!(get(&out, "proxy-authorization").is_empty());
        assert_eq!(get(&out, "accept"), vec!["application/json"]);
        assert!(!format!("{out:?}").contains("secret-token"));
    }

    #[test]
    fn a_caller_cannot_forge_identity_headers() {
        let identity = signed_in();
        let out = request_headers(
            &h(&[
                ("x-portcullis-user", "admin"),
                ("X-Portcullis-Scopes", "everything"),
                ("x-request-id", "spoofed"),
                ("x-forwarded-for", "1.2.3.4"),
            ]),
            &identity,
            "req-1",
            "todo.example.com",
            "https",
            None,
        );
        assert_eq!(get(&out, "x-portcullis-user"), vec!["user_1"]);
        assert_eq!(get(&out, "x-portcullis-scopes"), vec!["todos:read"]);
        assert!(get(&out, "X-Portcullis-Scopes").is_empty());
        assert_eq!(get(&out, "x-request-id"), vec!["req-1"]);
        assert!(get(&out, "x-forwarded-for").is_empty());
    }

    #[test]
    fn each_way_of_calling_is_named_to_the_origin_by_the_plugins_auth_type() {
        for (caller, named, machine) in [
            (Caller::UserToken, "oauth", false),
            (Caller::MachineClient, "oauth", true),
            (Caller::ApiKey, "user_http", false),
            (Caller::SharedSecret, "service_http", false),
            (Caller::Anonymous, "none", false),
            (Caller::Gateway, "gateway", false),
        ] {
            let identity = Identity {
                caller,
                ..signed_in()
            };
            let out = request_headers(&[], &identity, "req-1", "todo.example.com", "https", None);
            assert_eq!(get(&out, "x-portcullis-auth"), vec![named], "{caller:?}");
            assert_eq!(
                get(&out, "x-portcullis-principal"),
                if machine { vec!["client"] } else { vec![] },
                "{caller:?}"
            );
        }
    }

    #[test]
    fn a_machine_client_is_named_as_a_client_never_as_a_user() {
        let identity = Identity {
            subject: Some("cli_reports".into()),
            client_id: Some("cli_reports".into()),
            scopes: vec!["todos:read".into()],
            caller: Caller::MachineClient,
            agent: None,
        };
        let out = request_headers(
            &h(&[
                ("x-portcullis-principal", "user"),
                ("x_portcullis_user", "admin"),
            ]),
            &identity,
            "req-1",
            "todo.example.com",
            "https",
            None,
        );
        assert!(get(&out, "x-portcullis-user").is_empty());
        assert!(get(&out, "x_portcullis_user").is_empty());
        assert_eq!(get(&out, "x-portcullis-principal"), vec!["client"]);
        assert_eq!(get(&out, "x-portcullis-client"), vec!["cli_reports"]);
        assert_eq!(identity.user(), None);
        assert_eq!(
            identity.quota_holder().as_deref(),
            Some("client:cli_reports")
        );
        let user = Identity {
            caller: Caller::UserToken,
            ..identity
        };
        assert_eq!(user.quota_holder().as_deref(), Some("cli_reports"));
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let out = request_headers(
            &h(&[
                ("connection", "keep-alive, x-private"),
                ("x-private", "1"),
                ("te", "trailers"),
                ("upgrade", "websocket"),
                ("x-kept", "yes"),
            ]),
            &Identity::default(),
            "r",
            "h",
            "https",
            None,
        );
        for gone in ["connection", "x-private", "te", "upgrade"] {
            assert!(get(&out, gone).is_empty(), "{gone}");
        }
        assert_eq!(get(&out, "x-kept"), vec!["yes"]);
    }

    /// Every spelling of a name an origin stack could fold into `canonical`: cases, and `_`
    /// for any of its dashes.
    fn spellings(canonical: &str) -> Vec<String> {
        let dashes: Vec<usize> = canonical.match_indices('-').map(|(i, _)| i).collect();
        let mut out = Vec::new();
        for mask in 0..(1u32 << dashes.len()) {
            let mut name: Vec<u8> = canonical.as_bytes().to_vec();
            for (bit, &i) in dashes.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    name[i] = b'_';
                }
            }
            let name = String::from_utf8(name).unwrap();
            let title: String = name
                .split_inclusive(['-', '_'])
                .map(|part| {
                    let mut chars = part.chars();
                    match chars.next() {
                        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                        None => String::new(),
                    }
                })
                .collect();
            let alternating: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            out.extend([name.clone(), name.to_ascii_uppercase(), title, alternating]);
        }
        out
    }

    /// What the origin gets from a caller who sent `spelling: forged` beside `accept`; fails if
    /// the forged value reached it.
    fn with_forged(spelling: &str) -> Vec<(String, String)> {
        let out = request_headers(
            &h(&[(spelling, "forged"), ("accept", "*/*")]),
            &Identity::default(),
            "req-1",
            "todo.example.com",
            "https",
            Some("203.0.113.9"),
        );
        assert!(
            out.iter().all(|(_, v)| v != "forged"),
            "{spelling} reached the origin: {out:?}"
        );
        out
    }

    #[test]
    fn no_spelling_of_a_reserved_header_reaches_the_origin_from_the_caller() {
        let reserved = [
            "x-portcullis-user",
            "x-portcullis-scopes",
            "x-portcullis-client",
            "x-portcullis-auth",
            "x-portcullis-assertion",
            "x-portcullis-signature",
            "x-request-id",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "forwarded",
            "x-real-ip",
            "true-client-ip",
            "cf-connecting-ip",
            "x-original-url",
            "x-http-method-override",
            "proxy-authorization",
            "transfer-encoding",
            "authorization",
        ];
        for name in reserved {
            for spelling in spellings(name) {
                let out = with_forged(&spelling);
                assert_eq!(get(&out, "accept"), vec!["*/*"], "{spelling}");
            }
        }
    }

    /// What common origin stacks read for the client's address, the host, scheme, path and
    /// method, beyond what the gateway sets itself: PHP's and django-ipware's address lookups,
    /// Rack and Rails (`remote_ip`, `X-Forwarded-*`), WSGI (Werkzeug's ProxyFix, Flask's
    /// `X-Script-Name` snippet), Express with `trust proxy`, ASP.NET Core's forwarded headers and
    /// IIS's URL rewrite, Spring's and Symfony's forwarded and method-override support.
    const WHAT_ORIGIN_STACKS_READ: [&str; 39] = [
        // the client's address
        "x-forwarded-for",
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "x-forwarded",
        "forwarded-for",
        "forwarded",
        "true-client-ip",
        "cf-connecting-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "fastly-client-ip",
        "x-proxyuser-ip",
        "x-original-for",
        // host, scheme, port and path prefix
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-scheme",
        "x-forwarded-ssl",
        "x-forwarded-prefix",
        "x-original-host",
        "x-host",
        "x-original-proto",
        "x-scheme",
        "x-url-scheme",
        "front-end-https",
        "x-script-name",
        // path and method rewrites
        "x-original-url",
        "x-rewrite-url",
        "x-override-url",
        "x-original-path",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-method",
        // what only the gateway reads
        "signature",
        "expect",
    ];

    #[test]
    fn nothing_an_origin_stack_reads_for_address_host_path_or_method_is_the_callers() {
        for name in WHAT_ORIGIN_STACKS_READ.into_iter().chain(CONSUMED_HEADERS) {
            assert!(is_reserved_header(name), "{name} is not reserved");
            for spelling in spellings(name) {
                with_forged(&spelling);
            }
        }
    }

    #[test]
    fn headers_that_only_look_alike_are_kept() {
        let out = request_headers(
            &h(&[
                ("x-portcullisuser", "a"),
                ("x-forwardedx", "b"),
                ("x_custom_header", "c"),
                ("real-ip", "d"),
            ]),
            &Identity::default(),
            "r",
            "h",
            "https",
            None,
        );
        for (name, value) in [
            ("x-portcullisuser", "a"),
            ("x-forwardedx", "b"),
            ("x_custom_header", "c"),
            ("real-ip", "d"),
        ] {
            assert_eq!(get(&out, name), vec![value], "{name}");
        }
    }

    #[test]
    fn the_gateway_states_the_client_address_itself() {
        let out = request_headers(
            &h(&[
                ("x-forwarded-for", "10.0.0.1"),
                ("X_Real_IP", "10.0.0.2"),
                ("true-client-ip", "10.0.0.3"),
                ("cf-connecting-ip", "203.0.113.9"),
            ]),
            &Identity::default(),
            "r",
            "h",
            "https",
            Some("203.0.113.9"),
        );
        assert_eq!(get(&out, "x-forwarded-for"), vec!["203.0.113.9"]);
        assert_eq!(get(&out, "x-real-ip"), vec!["203.0.113.9"]);
        assert!(get(&out, "true-client-ip").is_empty());
        assert!(get(&out, "cf-connecting-ip").is_empty());
        assert!(!format!("{out:?}").contains("10.0.0."));
        // Without an address from the runtime, none is claimed.
        let unknown = request_headers(
            &h(&[("x-real-ip", "10.0.0.2")]),
            &Identity::default(),
            "r",
            "h",
            "https",
            None,
        );
        assert!(get(&unknown, "x-forwarded-for").is_empty());
        assert!(get(&unknown, "x-real-ip").is_empty());
    }

    #[test]
    fn origin_urls_keep_the_base_path_and_the_raw_request() {
        let origin = Url::parse("https://api.internal.example.com/v1/").unwrap();
        assert_eq!(
            origin_url(&origin, "/todos/a%20b", Some("q=1")),
            "https://api.internal.example.com/v1/todos/a%20b?q=1"
        );
        let bare = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            origin_url(&bare, "/todos", None),
            "http://127.0.0.1:9000/todos"
        );
    }

    #[test]
    fn response_hop_by_hop_headers_are_dropped() {
        assert!(!keep_response_header("Transfer-Encoding", "chunked"));
        assert!(keep_response_header("content-type", "application/json"));
    }

    #[test]
    fn the_origin_cannot_set_the_portals_cookies() {
        assert!(!keep_response_header(
            "Set-Cookie",
            "portcullis_session=x; Path=/"
        ));
        assert!(!keep_response_header(
            "set-cookie",
            "__Host-portcullis_csrf=x"
        ));
        assert!(keep_response_header("set-cookie", "theme=dark"));
        // A nameless cookie is sent back as its value: `portcullis_session=planted`.
        assert!(!keep_response_header(
            "set-cookie",
            "=portcullis_session=planted"
        ));
        assert!(!keep_response_header(
            "set-cookie",
            " = __Host-portcullis_csrf=x"
        ));
        // The origin shares the portal's host: it may not wipe the portal's cookies.
        assert!(!keep_response_header("Clear-Site-Data", "\"cookies\""));
    }

    #[test]
    fn method_and_path_override_headers_are_dropped() {
        let out = request_headers(
            &h(&[
                ("X-Original-URL", "/admin"),
                ("x-http-method-override", "DELETE"),
            ]),
            &Identity::default(),
            "r",
            "h",
            "https",
            None,
        );
        assert!(out
            .iter()
            .all(|(n, _)| !REWRITE_HEADERS.contains(&n.to_ascii_lowercase().as_str())));
    }

    #[test]
    fn origin_redirects_are_rewritten_to_the_public_host() {
        let origin = Url::parse("http://10.0.0.5:9000/v1").unwrap();
        assert_eq!(
            rewrite_location(
                "http://10.0.0.5:9000/v1/todos/1",
                &origin,
                "https://todo.example.com"
            ),
            "https://todo.example.com/todos/1"
        );
        assert_eq!(
            rewrite_location(
                "https://elsewhere.example.com/x",
                &origin,
                "https://todo.example.com"
            ),
            "https://elsewhere.example.com/x"
        );
        assert_eq!(
            rewrite_location("http://10.0.0.5:9000/v10", &origin, "https://t"),
            "http://10.0.0.5:9000/v10"
        );
    }
    #[test]
    fn the_relayed_response_keeps_the_origins_headers_but_not_what_is_the_gateways() {
        let origin = Url::parse("http://127.0.0.1:8787/").unwrap();
        let from_origin = h(&[
            ("content-type", "application/json"),
            ("connection", "keep-alive"),
            ("set-cookie", "portcullis_session=stolen"),
            ("set-cookie", "theirs=1"),
            ("location", "http://127.0.0.1:8787/next?a=1"),
            ("X-Portcullis-Quota", " Exempt "),
            ("content-security-policy", "default-src 'none'"),
            ("X-Content-Type-Options", "nosniff"),
        ]);
        let (out, exempt) = relayed_headers(&from_origin, &origin, "https://todo.example.com");
        assert!(exempt);
        assert_eq!(
            out,
            h(&[
                ("content-type", "application/json"),
                ("set-cookie", "theirs=1"),
                ("location", "https://todo.example.com/next?a=1"),
                ("content-security-policy", "default-src 'none'"),
                ("X-Content-Type-Options", "nosniff"),
                ("content-security-policy", "sandbox"),
            ]),
            "the sandbox is added beside the origin's own policy; nosniff is not doubled"
        );
        let (plain, exempt) = relayed_headers(&h(&[("x-portcullis-quota", "count")]), &origin, "x");
        assert!(!exempt);
        assert_eq!(
            plain,
            h(&[
                ("x-content-type-options", "nosniff"),
                ("content-security-policy", "sandbox"),
            ])
        );
    }

    /// A `Headers` object's `delete` then `append`, as the edge applies [`HeaderChanges`].
    fn apply(list: &[(String, String)], changes: &HeaderChanges) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = list
            .iter()
            .filter(|(n, _)| !changes.remove.iter().any(|r| r.eq_ignore_ascii_case(n)))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        out.extend(
            changes
                .append
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
        );
        out.sort();
        out
    }

    fn sorted(list: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut list: Vec<_> = list
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        list.sort();
        list
    }

    /// Header lists drawn from names that matter (reserved ones in odd spellings, ones a
    /// `Connection` header names, cookies, redirects) and ordinary ones, with repeats.
    fn header_lists() -> Vec<Vec<(String, String)>> {
        let pool: [(&str, &str); 16] = [
            ("accept", "application/json"),
            ("Authorization", "Bearer secret"),
            ("X_Portcullis_User", "forged"),
            ("connection", "keep-alive, X-Custom"),
            ("x-custom", "named by connection"),
            ("X-Custom", "again"),
            ("cookie", "portcullis_session=x"),
            ("set-cookie", "portcullis_session=stolen"),
            ("set-cookie", "theirs=1"),
            ("location", "http://127.0.0.1:9000/next"),
            ("x-portcullis-quota", "exempt"),
            ("x-content-type-options", "nosniff"),
            ("content-security-policy", "default-src 'none'"),
            ("cf-connecting-ip", "203.0.113.9"),
            ("transfer-encoding", "chunked"),
            ("x-request-id", "spoofed"),
        ];
        let mut cases = crate::primitives::cases::Cases::new(0x9e37_79b9_7f4a_7c15);
        (0..400)
            .map(|_| {
                (0..cases.below(12))
                    .map(|_| {
                        let (n, v) = cases.pick(&pool);
                        (n.to_string(), v.to_string())
                    })
                    .collect()
            })
            .collect()
    }

    /// The list the origin gets with an allowlist of forwarded headers.
    fn allowing(incoming: &[(String, String)], allowed: &[&str]) -> Vec<(String, String)> {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        request_header_changes(
            incoming,
            Some(&allowed),
            &signed_in(),
            "req-1",
            "todo.example.com",
            "https",
            Some("198.51.100.7"),
        )
        .apply(incoming)
    }

    #[test]
    fn with_an_allowlist_the_caller_is_heard_only_on_the_listed_and_common_headers() {
        // Every spelling of what origin stacks read, and headers nobody listed.
        let mut incoming: Vec<(String, String)> = WHAT_ORIGIN_STACKS_READ
            .iter()
            .flat_map(|name| spellings(name))
            .map(|n| (n, "forged".to_string()))
            .collect();
        for (n, v) in [
            ("accept", "application/json"),
            ("mcp-session-id", "s-1"),
            ("x-tenant", "acme"),
            ("X_Tenant", "underscored"),
            ("x-debug", "1"),
            ("cookie", "a=b"),
            ("openai-conversation-id", "c-1"),
        ] {
            incoming.push((n.into(), v.into()));
        }
        let out = allowing(&incoming, &["x-tenant"]);
        assert!(out.iter().all(|(_, v)| v != "forged"), "{out:?}");
        assert_eq!(get(&out, "accept"), vec!["application/json"]);
        assert_eq!(get(&out, "mcp-session-id"), vec!["s-1"]);
        assert_eq!(get(&out, "x-tenant"), vec!["acme"]);
        assert_eq!(get(&out, "X_Tenant"), vec!["underscored"]);
        for gone in ["x-debug", "cookie", "openai-conversation-id"] {
            assert!(get(&out, gone).is_empty(), "{gone}");
        }
        // The gateway's own headers are there all the same.
        assert_eq!(get(&out, "x-portcullis-user"), vec!["user_1"]);
        assert_eq!(get(&out, "x-forwarded-for"), vec!["198.51.100.7"]);
    }

    #[test]
    fn with_an_allowlist_nothing_unlisted_or_reserved_of_the_callers_passes() {
        let gateway_names: Vec<String> = allowing(&[], &[])
            .into_iter()
            .map(|(n, _)| canonical_header_name(&n))
            .collect();
        for incoming in header_lists() {
            for allowed in [
                &[][..],
                &["x-custom"],
                &["x-content-type-options", "accept"],
            ] {
                let out = allowing(&incoming, allowed);
                for (name, value) in &out {
                    let canonical = canonical_header_name(name);
                    let callers = incoming.iter().any(|(n, v)| n == name && v == value);
                    if !callers {
                        assert!(gateway_names.contains(&canonical), "{name}");
                        continue;
                    }
                    assert!(!is_reserved_header(&canonical), "{name} {incoming:?}");
                    assert!(
                        ALWAYS_FORWARDED.contains(&canonical.as_str())
                            || allowed.contains(&canonical.as_str()),
                        "{name} was not listed: {incoming:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn request_changes_make_exactly_the_headers_the_origin_gets() {
        let identity = signed_in();
        for incoming in header_lists() {
            let args = (
                &identity,
                "req-1",
                "todo.example.com",
                "https",
                Some("198.51.100.7"),
            );
            let full = request_headers(&incoming, args.0, args.1, args.2, args.3, args.4);
            let changes =
                request_header_changes(&incoming, None, args.0, args.1, args.2, args.3, args.4);
            assert_eq!(apply(&incoming, &changes), sorted(full), "{incoming:?}");
        }
    }

    #[test]
    fn relay_changes_decided_on_a_few_headers_make_exactly_the_relayed_ones() {
        let origin = Url::parse("http://127.0.0.1:9000/").unwrap();
        for from_origin in header_lists() {
            let seen: Vec<(String, String)> = from_origin
                .iter()
                .filter(|(n, _)| relay_decides_on().any(|d| d.eq_ignore_ascii_case(n)))
                .cloned()
                .collect();
            let (changes, exempt) = relay_changes(&seen, &origin, "https://todo.example.com");
            let (full, full_exempt) =
                relayed_headers(&from_origin, &origin, "https://todo.example.com");
            assert_eq!(exempt, full_exempt);
            assert_eq!(
                apply(&from_origin, &changes),
                sorted(full),
                "{from_origin:?}"
            );
        }
    }

    #[test]
    fn only_a_final_status_is_relayed() {
        for status in [0, 100, 101, 103, 199, 600, 999] {
            assert!(
                matches!(
                    final_status(status).err().as_deref(),
                    Some(
                        "the origin answered with status 0, not a final response"
                            | "the origin answered with status 100, not a final response"
                            | "the origin answered with status 101, not a final response"
                            | "the origin answered with status 103, not a final response"
                            | "the origin answered with status 199, not a final response"
                            | "the origin answered with status 600, not a final response"
                            | "the origin answered with status 999, not a final response"
                    )
                ),
                "{status}"
            );
        }
        for status in [200, 204, 302, 404, 502, 599] {
            assert!(final_status(status).is_ok(), "{status}");
        }
    }
}
