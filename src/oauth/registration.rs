//! Clients that introduce themselves: RFC 7591 dynamic registration, and client ID metadata
//! documents (an https `client_id` whose URL serves the client's metadata, the registration
//! method of the MCP 2025-11-25 authorization spec).
//!
//! Both validate the same metadata with the same rules; neither trusts anything it is not told
//! in the request or document, and bad metadata changes nothing stored. Every text field holds
//! only characters that show as what they are, and the name copies no first-party one
//! ([`crate::oauth::display`]).

use serde_json::{json, Map, Value};
use url::Url;

use crate::oauth::client::{Client, ClientKeySet, ClientKind, ClientOrigin};
use crate::oauth::client_assertion::{jwks_json, parse_jwks, JwsAlgorithm};
use crate::oauth::display::{check_client_name, check_display_text, client_hosts};
use crate::oauth::redirect_uri::{check_redirect_uri, MAX_URI_CHARS};

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Largest registration request body: real clients send well under 2 KiB.
pub const MAX_REGISTRATION_BYTES: usize = 8 * 1024;
/// Most unused self-registered clients (no grant started yet) the deployment keeps: past it,
/// `/register` answers 503 and everything else goes on. At most 8 KiB each, so the unused ones
/// take at most ~160 MB of D1, and they are forgotten a day after registering.
pub const MAX_UNUSED_REGISTRATIONS: usize = 20_000;
/// Most unused self-registered clients one network (an IPv4 address, or an IPv6 /64) keeps:
/// past it, `/register` answers it 429. Large enough for a client platform that registers from
/// a few egress addresses (every abandoned connection leaves one for a day).
pub const MAX_UNUSED_REGISTRATIONS_PER_NETWORK: usize = 500;
/// Most keys an inline `jwks` may hold.
pub const MAX_INLINE_KEYS: usize = 5;
/// Largest client metadata document fetched.
pub const MAX_METADATA_DOCUMENT_BYTES: usize = 5 * 1024;
/// How long fetching a client metadata document may take.
pub const METADATA_FETCH_TIMEOUT_MS: u64 = 3000;
/// Dynamically registered clients that never start a grant are forgotten after this.
pub const UNUSED_REGISTRATION_TTL_SECS: i64 = 24 * 3600;
/// Bounds on how long a fetched metadata document is trusted.
pub const METADATA_MIN_CACHE_SECS: u64 = 60;
pub const METADATA_DEFAULT_CACHE_SECS: u64 = 300;
pub const METADATA_MAX_CACHE_SECS: u64 = 86_400;

/// An RFC 7591 §3.2.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub code: &'static str,
    pub description: String,
}

impl RegistrationError {
    fn metadata(description: impl Into<String>) -> Self {
        RegistrationError {
            code: "invalid_client_metadata",
            description: description.into(),
        }
    }

    fn redirect(description: impl Into<String>) -> Self {
        RegistrationError {
            code: "invalid_redirect_uri",
            description: description.into(),
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 client assertions, verified with the keys of `jwks_uri` or `jwks`.
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// Validated client metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    /// `jwks_uri` or `jwks`: where a `private_key_jwt` client's keys are.
    pub key_set: Option<ClientKeySet>,
    /// `jwks_uri` or `jwks` as given, echoed back.
    pub key_set_json: Option<(&'static str, Value)>,
    pub grant_types: Vec<String>,
    pub client_name: String,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub dpop_bound: bool,
    /// The optional descriptive fields, as given (validated): `client_uri`, `logo_uri`,
    /// `tos_uri`, `policy_uri`, `contacts`, `scope`, `software_id`, `software_version`.
    pub extra: Map<String, Value>,
}

impl ClientMetadata {
    /// The metadata as RFC 7591 echoes it back.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("redirect_uris".into(), json!(self.redirect_uris));
        out.insert(
            "token_endpoint_auth_method".into(),
            json!(self.auth_method.as_str()),
        );
        out.insert("grant_types".into(), json!(self.grant_types));
        out.insert("response_types".into(), json!(["code"]));
        out.insert("client_name".into(), json!(self.client_name));
        if let Some((field, value)) = &self.key_set_json {
            out.insert((*field).into(), value.clone());
        }
        if self.dpop_bound {
            out.insert("dpop_bound_access_tokens".into(), json!(true));
        }
        for (k, v) in &self.extra {
            out.insert(k.clone(), v.clone());
        }
        out
    }
}

/// Validates RFC 7591 client metadata (a registration request, or a metadata document).
/// Unknown fields are ignored, as §2 allows. Fields are checked in a fixed order, so a document
/// with several faults is always refused for the same one.
pub fn validate_metadata(
    value: &Value,
    allow_secrets: bool,
) -> Result<ClientMetadata, RegistrationError> {
    let object = value
        .as_object()
        .ok_or_else(|| RegistrationError::metadata("the client metadata must be a JSON object"))?;
    let redirect_uris = redirect_uris(object)?;
    let (key_set, key_set_json) = client_keys(object)?;
    let auth_method = auth_method(object, allow_secrets, key_set.is_some())?;
    if !allow_secrets
        && (object.contains_key("client_secret") || object.contains_key("client_secret_expires_at"))
    {
        return Err(RegistrationError::metadata(
            "a client metadata document must not carry a client secret",
        ));
    }
    let grant_types = grant_types(object)?;
    response_types(object)?;
    let client_name = client_name(object, &redirect_uris[0])?;
    let extra = described(object)?;
    if let Some(alg) = text(object, "token_endpoint_auth_signing_alg")? {
        if JwsAlgorithm::parse(alg).is_none() {
            return Err(RegistrationError::metadata(
                "token_endpoint_auth_signing_alg must be RS256, PS256, ES256 or EdDSA",
            ));
        }
    }
    let (key_set, key_set_json) = if auth_method == AuthMethod::PrivateKeyJwt {
        (key_set, key_set_json)
    } else {
        (None, None)
    };
    let dpop_bound = match object.get("dpop_bound_access_tokens") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(RegistrationError::metadata(
                "dpop_bound_access_tokens must be true or false",
            ))
        }
    };
    Ok(ClientMetadata {
        dpop_bound,
        redirect_uris,
        auth_method,
        key_set,
        key_set_json,
        grant_types,
        client_name,
        extra,
    })
}

/// `redirect_uris`: one to [`MAX_REDIRECT_URIS`] registrable URIs, duplicates dropped.
fn redirect_uris(object: &Map<String, Value>) -> Result<Vec<String>, RegistrationError> {
    let uris = match object.get("redirect_uris") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None => {
            return Err(RegistrationError::redirect(
                "redirect_uris must list at least one redirect URI",
            ))
        }
        Some(_) => {
            return Err(RegistrationError::redirect(
                "redirect_uris must be an array of strings",
            ))
        }
    };
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(RegistrationError::redirect(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs may be registered, got {}",
            uris.len()
        )));
    }
    let mut redirect_uris = Vec::with_capacity(uris.len());
    for uri in uris {
        let uri = uri
            .as_str()
            .ok_or_else(|| RegistrationError::redirect("redirect_uris must be strings"))?;
        shown("redirect_uris", uri).map_err(RegistrationError::redirect)?;
        check_redirect_uri(uri).map_err(RegistrationError::redirect)?;
        if !redirect_uris.iter().any(|u| u == uri) {
            redirect_uris.push(uri.to_string());
        }
    }
    Ok(redirect_uris)
}

/// How the client authenticates at the token endpoint. A metadata document (no secrets) may offer
/// several methods: the strongest both sides support wins.
fn auth_method(
    object: &Map<String, Value>,
    allow_secrets: bool,
    has_keys: bool,
) -> Result<AuthMethod, RegistrationError> {
    let offers_assertions = object
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|m| m.as_str() == Some("private_key_jwt")));
    Ok(match text(object, "token_endpoint_auth_method")? {
        Some("private_key_jwt") if has_keys => AuthMethod::PrivateKeyJwt,
        None | Some("none") if !allow_secrets && has_keys && offers_assertions => {
            AuthMethod::PrivateKeyJwt
        }
        Some("private_key_jwt") => {
            return Err(RegistrationError::metadata(
                "token_endpoint_auth_method private_key_jwt needs jwks_uri or jwks",
            ))
        }
        None if allow_secrets => AuthMethod::ClientSecretBasic,
        None | Some("none") => AuthMethod::None,
        Some("client_secret_basic") if allow_secrets => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") if allow_secrets => AuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(RegistrationError::metadata(format!(
                "token_endpoint_auth_method {other:?} is not supported here; use {}",
                if allow_secrets {
                    "none, client_secret_basic, client_secret_post or private_key_jwt"
                } else {
                    "none or private_key_jwt"
                }
            )))
        }
    })
}

/// `grant_types`: `authorization_code`, optionally `refresh_token`, nothing else.
fn grant_types(object: &Map<String, Value>) -> Result<Vec<String>, RegistrationError> {
    let items = match object.get("grant_types") {
        None => return Ok(vec!["authorization_code".to_string()]),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(RegistrationError::metadata(
                "grant_types must be an array of strings",
            ))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        match item.as_str() {
            Some(g @ ("authorization_code" | "refresh_token")) => {
                if !out.iter().any(|o| o == g) {
                    out.push(g.to_string());
                }
            }
            _ => {
                return Err(RegistrationError::metadata(format!(
                    "grant_types may hold authorization_code and refresh_token only, got {item}"
                )))
            }
        }
    }
    if !out.iter().any(|g| g == "authorization_code") {
        return Err(RegistrationError::metadata(
            "grant_types must include authorization_code",
        ));
    }
    Ok(out)
}

/// `response_types`, if sent, may only be `["code"]`.
fn response_types(object: &Map<String, Value>) -> Result<(), RegistrationError> {
    match object.get("response_types") {
        None => Ok(()),
        Some(Value::Array(items))
            if items.iter().all(|i| i.as_str() == Some("code")) && !items.is_empty() =>
        {
            Ok(())
        }
        Some(_) => Err(RegistrationError::metadata(
            "response_types may only be [\"code\"]",
        )),
    }
}

/// The name the consent page shows: `client_name`, or the host users are sent back to.
fn client_name(
    object: &Map<String, Value>,
    first_redirect_uri: &str,
) -> Result<String, RegistrationError> {
    match text(object, "client_name")? {
        Some(name) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(RegistrationError::metadata(
                    "client_name must be 1 to 100 printable characters",
                ));
            }
            Ok(name.to_string())
        }
        None => Ok(Url::parse(first_redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "Unnamed app".into())),
    }
}

/// The fields that describe the client (its pages, scope, software, contacts), checked and kept
/// to be echoed back.
fn described(object: &Map<String, Value>) -> Result<Map<String, Value>, RegistrationError> {
    let mut extra = Map::new();
    for field in ["client_uri", "logo_uri", "tos_uri", "policy_uri"] {
        if let Some(uri) = text(object, field)? {
            let ok = uri.chars().count() <= MAX_URI_CHARS
                && Url::parse(uri).is_ok_and(|u| u.scheme() == "https" && u.fragment().is_none());
            if !ok {
                return Err(RegistrationError::metadata(format!(
                    "{field} must be an https URL without fragment"
                )));
            }
            extra.insert(field.into(), json!(uri));
        }
    }
    if let Some(scope) = text(object, "scope")? {
        if scope.len() > 1000 || !scope.chars().all(crate::primitives::syntax::is_scope_char) {
            return Err(RegistrationError::metadata(
                "scope must be space-separated scope tokens",
            ));
        }
        extra.insert("scope".into(), json!(scope));
    }
    for field in ["software_id", "software_version"] {
        if let Some(v) = text(object, field)? {
            if v.chars().count() > 200 || v.chars().any(char::is_control) {
                return Err(RegistrationError::metadata(format!(
                    "{field} must be at most 200 printable characters"
                )));
            }
            extra.insert(field.into(), json!(v));
        }
    }
    if let Some(contacts) = contacts(object)? {
        extra.insert("contacts".into(), contacts);
    }
    Ok(extra)
}

/// `contacts`: up to five email addresses, each one a person could be shown.
fn contacts(object: &Map<String, Value>) -> Result<Option<Value>, RegistrationError> {
    if let Some(Value::Array(items)) = object.get("contacts") {
        for contact in items.iter().filter_map(Value::as_str) {
            shown("contacts", contact).map_err(RegistrationError::metadata)?;
        }
    }
    match object.get("contacts") {
        None => Ok(None),
        Some(Value::Array(items))
            if items.len() <= 5
                && items.iter().all(|c| {
                    c.as_str()
                        .is_some_and(crate::primitives::syntax::looks_like_email)
                }) =>
        {
            Ok(Some(Value::Array(items.clone())))
        }
        Some(_) => Err(RegistrationError::metadata(
            "contacts must be up to 5 email addresses",
        )),
    }
}

/// A client's keys, and the metadata field that gave them (`jwks_uri` or `jwks`) as echoed back.
pub type ClientKeys = (Option<ClientKeySet>, Option<(&'static str, Value)>);

/// `jwks_uri` or `jwks` (RFC 7591 §2: not both), validated.
pub fn client_keys(object: &Map<String, Value>) -> Result<ClientKeys, RegistrationError> {
    match (object.get("jwks_uri"), object.get("jwks")) {
        (None, None) => Ok((None, None)),
        (Some(_), Some(_)) => Err(RegistrationError::metadata(
            "send jwks_uri or jwks, not both",
        )),
        (Some(uri), None) => {
            // Whether the URL may be fetched is decided when it is (`check_metadata_document_url`:
            // public https only, loopback http only in local development).
            let ok = uri.as_str().filter(|u| {
                u.len() <= MAX_URI_CHARS
                    && Url::parse(u).is_ok_and(|p| {
                        (p.scheme() == "https"
                            || (p.scheme() == "http"
                                && matches!(
                                    p.host_str(),
                                    Some("127.0.0.1" | "[::1]" | "localhost")
                                )))
                            && p.fragment().is_none()
                    })
            });
            let uri = ok.ok_or_else(|| {
                RegistrationError::metadata("jwks_uri must be an https URL without fragment")
            })?;
            Ok((
                Some(ClientKeySet::Uri(uri.to_string())),
                Some(("jwks_uri", json!(uri))),
            ))
        }
        (None, Some(jwks)) => {
            let keys = parse_jwks(jwks)
                .map_err(|why| RegistrationError::metadata(format!("jwks: {why}")))?;
            if keys.is_empty() || keys.len() > MAX_INLINE_KEYS {
                return Err(RegistrationError::metadata(format!(
                    "jwks must hold 1 to {MAX_INLINE_KEYS} public signing keys (RSA, P-256 or Ed25519)"
                )));
            }
            let published = jwks_json(&keys);
            Ok((Some(ClientKeySet::Inline(keys)), Some(("jwks", published))))
        }
    }
}

/// A text field a user may be shown holds only characters that show as what they are (see
/// [`check_display_text`]); the error names the field and the character.
fn shown(field: &str, text: &str) -> Result<(), String> {
    check_display_text(text).map_err(|e| format!("{field} contains {e}"))
}

/// A string field, shown as it is (see [`shown`]).
fn text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, RegistrationError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            shown(field, s).map_err(RegistrationError::metadata)?;
            Ok(Some(s))
        }
        Some(_) => Err(RegistrationError::metadata(format!(
            "{field} must be a string"
        ))),
    }
}

/// Parses a registration request body.
pub fn parse_registration(body: &[u8]) -> Result<ClientMetadata, RegistrationError> {
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(RegistrationError::metadata(format!(
            "the registration request is larger than {MAX_REGISTRATION_BYTES} bytes"
        )));
    }
    let value = crate::primitives::json::parse_unique(body).map_err(|e| {
        RegistrationError::metadata(match e {
            crate::primitives::json::JsonError::Duplicate(key) => {
                format!("the registration request names {key:?} more than once")
            }
            crate::primitives::json::JsonError::Syntax => "the body is not JSON".to_string(),
        })
    })?;
    validate_metadata(&value, true)
}

/// Whether a `client_id` is a metadata document URL rather than a registered id.
pub fn is_metadata_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks a metadata-document `client_id` before anything is fetched: an https URL with a path,
/// no fragment, credentials or dot segments, on a host that is not a private or local address.
/// `allow_loopback` (local development only) also admits http on 127.0.0.1 / localhost.
pub fn check_metadata_document_url(client_id: &str, allow_loopback: bool) -> Result<Url, String> {
    if client_id.len() > MAX_URI_CHARS {
        return Err("the client_id URL is too long".into());
    }
    let url = Url::parse(client_id).map_err(|_| "the client_id is not a URL".to_string())?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let loopback_host = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    let scheme_ok =
        url.scheme() == "https" || (allow_loopback && loopback_host && url.scheme() == "http");
    if !scheme_ok {
        return Err("a client_id URL must use https".into());
    }
    // The URL must be the document's own, exactly: no normalisation may change it.
    if url.as_str() != client_id {
        return Err("the client_id URL is not in normal form".into());
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("a client_id URL has no fragment or credentials".into());
    }
    if url.path() == "/" || url.path().split('/').any(|s| s == "." || s == "..") {
        return Err("a client_id URL needs a path, without dot segments".into());
    }
    if allow_loopback && loopback_host {
        return Ok(url);
    }
    if !crate::address::url_host_is_public(&url) {
        return Err("the client_id URL's host is not a public address".into());
    }
    Ok(url)
}

/// Whether a host may be fetched from the gateway (see [`crate::address`]).
pub use crate::address::host_is_public;

/// Reads a fetched client metadata document for `client_id`. `first_party`: the names no such
/// client may go by (the clients an administrator registered; see [`check_client_name`]).
pub fn parse_metadata_document(
    client_id: &str,
    body: &[u8],
    first_party: &[&str],
) -> Result<Client, RegistrationError> {
    if body.len() > MAX_METADATA_DOCUMENT_BYTES {
        return Err(RegistrationError::metadata(format!(
            "the client metadata document is larger than {MAX_METADATA_DOCUMENT_BYTES} bytes"
        )));
    }
    let value = crate::primitives::json::parse_unique(body).map_err(|_| {
        RegistrationError::metadata("the client metadata document is not JSON, or repeats a key")
    })?;
    if value.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(RegistrationError::metadata(
            "the client metadata document's client_id is not its own URL",
        ));
    }
    let metadata = validate_metadata(&value, false)?;
    let client = Client {
        id: client_id.to_string(),
        name: metadata.client_name,
        secret_hash: None,
        redirect_uris: metadata.redirect_uris,
        // A client that signs assertions with its own keys can keep a credential.
        kind: if metadata.key_set.is_some() {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        },
        first_party: false,
        origin: ClientOrigin::MetadataDocument,
        may_introspect: false,
        key_set: metadata.key_set,
        dpop_bound: metadata.dpop_bound,
    };
    check_client_name(&client.name, &client_hosts(&client), first_party)
        .map_err(|why| RegistrationError::metadata(why.to_string()))?;
    Ok(client)
}

/// How long a fetched metadata document is trusted, from its `Cache-Control`, within bounds.
pub fn metadata_cache_secs(cache_control: Option<&str>) -> u64 {
    let secs = crate::openapi::freshness_secs(cache_control, METADATA_DEFAULT_CACHE_SECS);
    secs.clamp(METADATA_MIN_CACHE_SECS, METADATA_MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: Value) -> Value {
        let mut base = json!({
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "Inspector",
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn an_mcp_style_registration_is_accepted_and_echoed() {
        let m = validate_metadata(
            &request(json!({"scope": "todos:read", "client_uri": "https://inspector.example.com"})),
            true,
        )
        .unwrap();
        assert_eq!(m.auth_method, AuthMethod::None);
        assert_eq!(m.grant_types, ["authorization_code", "refresh_token"]);
        let echoed = Value::Object(m.to_json());
        assert_eq!(
            echoed["redirect_uris"],
            json!(["http://127.0.0.1:33418/callback"])
        );
        assert_eq!(echoed["response_types"], json!(["code"]));
        assert_eq!(echoed["scope"], "todos:read");
        assert_eq!(echoed["client_uri"], "https://inspector.example.com");
    }

    #[test]
    fn the_default_auth_method_is_a_secret_and_names_default_to_the_host() {
        let m = validate_metadata(
            &json!({"redirect_uris": ["https://app.example.com/cb"]}),
            true,
        )
        .unwrap();
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.client_name, "app.example.com");
        assert_eq!(m.grant_types, ["authorization_code"]);
    }

    #[test]
    fn bad_redirect_uris_are_invalid_redirect_uri() {
        for bad in [
            json!(["javascript:alert(1)"]),
            json!(["data:text/html,<script>1</script>"]),
            json!(["https://app.example.com/cb#frag"]),
            json!(["https://*.example.com/cb"]),
            json!(["http://app.example.com/cb"]),
            json!(["https://user:pw@app.example.com/cb"]),
            json!(["/relative"]),
            json!([]),
            json!("https://app.example.com/cb"),
            json!([42]),
            json!((0..10_000)
                .map(|i| format!("https://a.example.com/{i}"))
                .collect::<Vec<_>>()),
        ] {
            let e = validate_metadata(&request(json!({"redirect_uris": bad})), true).unwrap_err();
            assert_eq!(e.code, "invalid_redirect_uri", "{bad}: {e:?}");
        }
        let long = format!("https://a.example.com/{}", "x".repeat(MAX_URI_CHARS));
        assert_eq!(
            check_redirect_uri(&long).err().as_deref(),
            Some("a redirect URI is longer than 2000 characters")
        );
        assert!(check_redirect_uri("http://[::1]:8080/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
    }

    #[test]
    fn bad_metadata_is_invalid_client_metadata() {
        for bad in [
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            json!({"grant_types": ["implicit"]}),
            json!({"grant_types": ["refresh_token"]}),
            json!({"grant_types": "authorization_code"}),
            json!({"response_types": ["token"]}),
            json!({"client_name": ""}),
            json!({"client_name": "a\u{0}b"}),
            json!({"client_name": 5}),
            json!({"logo_uri": "javascript:alert(1)"}),
            json!({"client_uri": "http://plain.example.com"}),
            json!({"scope": "bad\"scope"}),
            json!({"contacts": ["not an email"]}),
            json!({"dpop_bound_access_tokens": "true"}),
        ] {
            let e = validate_metadata(&request(bad.clone()), true).unwrap_err();
            assert_eq!(e.code, "invalid_client_metadata", "{bad}: {e:?}");
        }
        assert_eq!(
            validate_metadata(&json!([1]), true).unwrap_err().code,
            "invalid_client_metadata"
        );
        assert_eq!(
            parse_registration(b"{not json").unwrap_err().code,
            "invalid_client_metadata"
        );
        let big = vec![b' '; MAX_REGISTRATION_BYTES + 1];
        assert_eq!(
            parse_registration(&big).unwrap_err().code,
            "invalid_client_metadata"
        );
    }

    /// Every text field a client gives, with a valid value that has `{c}` where a character is
    /// slipped in, and the error its refusal is.
    fn text_fields() -> Vec<(&'static str, &'static str, &'static str)> {
        vec![
            ("client_name", "Good{c}Name", "invalid_client_metadata"),
            (
                "client_uri",
                "https://app.example.com/a{c}b",
                "invalid_client_metadata",
            ),
            (
                "logo_uri",
                "https://app.example.com/logo{c}.png",
                "invalid_client_metadata",
            ),
            (
                "tos_uri",
                "https://app.example.com/tos?{c}",
                "invalid_client_metadata",
            ),
            (
                "policy_uri",
                "https://app.example.com/{c}policy",
                "invalid_client_metadata",
            ),
            ("software_id", "app-{c}1", "invalid_client_metadata"),
            ("software_version", "1.{c}0", "invalid_client_metadata"),
            (
                "contacts",
                "ops{c}@app.example.com",
                "invalid_client_metadata",
            ),
            (
                "redirect_uris",
                "https://app.example.com/c{c}b",
                "invalid_redirect_uri",
            ),
        ]
    }

    fn with_field(mut base: Value, field: &str, value: &str) -> Value {
        base[field] = if matches!(field, "contacts" | "redirect_uris") {
            json!([value])
        } else {
            json!(value)
        };
        base
    }

    #[test]
    fn every_text_field_refuses_every_invisible_character_at_registration_and_in_documents() {
        use crate::oauth::display::tests::REFUSED;
        let id = "https://app.example.com/client.json";
        let document = json!({"client_id": id, "redirect_uris": ["https://app.example.com/cb"]});
        for (field, template, code) in text_fields() {
            // The field as given is fine…
            let fine = template.replace("{c}", "");
            let registered = validate_metadata(&with_field(request(json!({})), field, &fine), true);
            assert!(registered.is_ok(), "{field}: {registered:?}");
            let doc = with_field(document.clone(), field, &fine).to_string();
            assert!(
                parse_metadata_document(id, doc.as_bytes(), &[]).is_ok(),
                "{field}"
            );
            // …and refused with any of the characters in it, wherever it comes from.
            for &(c, _) in REFUSED {
                let bad = template.replace("{c}", &c.to_string());
                let hex = format!("U+{:04X}", c as u32);
                let e = validate_metadata(&with_field(request(json!({})), field, &bad), true)
                    .unwrap_err();
                assert_eq!(e.code, code, "{field} with {hex}: {e:?}");
                assert!(
                    e.description.contains(field) && e.description.contains(&hex),
                    "{field} with {hex}: {}",
                    e.description
                );
                let doc = with_field(document.clone(), field, &bad).to_string();
                let e = parse_metadata_document(id, doc.as_bytes(), &[]).unwrap_err();
                assert_eq!(e.code, code, "document {field} with {hex}: {e:?}");
                assert!(e.description.contains(&hex), "{}", e.description);
            }
        }
    }

    #[test]
    fn international_names_are_accepted_at_registration_and_in_documents() {
        let id = "https://app.example.com/client.json";
        for name in [
            "Café Notes",
            "日本語アプリ",
            "Ünïcödé",
            "تطبيق الملاحظات",
            "אפליקציית פתקים",
            "Заметки",
        ] {
            let m = validate_metadata(&request(json!({"client_name": name})), true).unwrap();
            assert_eq!(m.client_name, name);
            let doc = json!({"client_id": id, "client_name": name, "redirect_uris": ["https://app.example.com/cb"]});
            let client = parse_metadata_document(id, doc.to_string().as_bytes(), &[]).unwrap();
            assert_eq!(client.name, name);
        }
    }

    #[test]
    fn dpop_bound_access_tokens_is_kept_and_echoed() {
        let bound =
            validate_metadata(&request(json!({"dpop_bound_access_tokens": true})), true).unwrap();
        assert!(bound.dpop_bound);
        assert_eq!(
            Value::Object(bound.to_json())["dpop_bound_access_tokens"],
            true
        );
        let plain = validate_metadata(&request(json!({})), true).unwrap();
        assert!(!plain.dpop_bound);
        assert!(plain.to_json().get("dpop_bound_access_tokens").is_none());
        let document = json!({
            "client_id": "https://app.example.com/client.json",
            "redirect_uris": ["https://app.example.com/cb"],
            "token_endpoint_auth_method": "none",
            "dpop_bound_access_tokens": true,
        });
        let client = parse_metadata_document(
            "https://app.example.com/client.json",
            document.to_string().as_bytes(),
            &[],
        )
        .unwrap();
        assert!(client.dpop_bound);
    }

    #[test]
    fn metadata_document_urls_are_checked_before_any_fetch() {
        assert!(
            check_metadata_document_url("https://app.example.com/oauth/client.json", false).is_ok()
        );
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/client.json#x",
            "https://u:p@app.example.com/client.json",
            "https://127.0.0.1/client.json",
            "https://localhost/client.json",
            "https://10.1.2.3/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "https://[fd00::1]/client.json",
            "https://[::ffff:10.0.0.1]/client.json",
            "https://100.64.0.1/client.json",
            "https://metadata.google.internal/computeMetadata",
            "https://printer.local/client.json",
            "https://intranet/client.json",
            "https://APP.example.com/client.json",
        ] {
            assert!(
                matches!(
                    check_metadata_document_url(bad, false).err().as_deref(),
                    Some(
                        "a client_id URL has no fragment or credentials"
                            | "a client_id URL must use https"
                            | "a client_id URL needs a path, without dot segments"
                            | "the client_id URL is not in normal form"
                            | "the client_id URL's host is not a public address"
                    )
                ),
                "{bad}"
            );
        }
        // Local development may allow loopback over http, and only loopback.
        assert!(check_metadata_document_url("http://127.0.0.1:8788/client.json", true).is_ok());
        assert_eq!(
            check_metadata_document_url("http://10.0.0.1/client.json", true)
                .err()
                .as_deref(),
            Some("a client_id URL must use https")
        );
        assert_eq!(
            check_metadata_document_url("http://127.0.0.1:8788/client.json", false)
                .err()
                .as_deref(),
            Some("a client_id URL must use https")
        );
    }

    #[test]
    fn a_metadata_document_must_name_itself_and_carry_no_secret() {
        let id = "https://app.example.com/client.json";
        let doc = json!({"client_id": id, "client_name": "App", "redirect_uris": ["https://app.example.com/cb"]});
        let client = parse_metadata_document(id, doc.to_string().as_bytes(), &[]).unwrap();
        assert_eq!(client.kind, ClientKind::Public);
        assert_eq!(client.redirect_uris, ["https://app.example.com/cb"]);
        assert_eq!(client.name, "App");

        let other = json!({"client_id": "https://evil.example.com/client.json", "redirect_uris": ["https://app.example.com/cb"]});
        assert!(
            matches!(parse_metadata_document(id, other.to_string().as_bytes(), &[]), Err(ref e) if e.code == "invalid_client_metadata" && e.description == "the client metadata document's client_id is not its own URL")
        );
        let secret = json!({"client_id": id, "client_secret": "x", "redirect_uris": ["https://app.example.com/cb"]});
        assert!(
            matches!(parse_metadata_document(id, secret.to_string().as_bytes(), &[]), Err(ref e) if e.code == "invalid_client_metadata" && e.description == "a client metadata document must not carry a client secret")
        );
        let basic = json!({"client_id": id, "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": ["https://app.example.com/cb"]});
        assert!(
            matches!(parse_metadata_document(id, basic.to_string().as_bytes(), &[]), Err(ref e) if e.code == "invalid_client_metadata" && e.description == "token_endpoint_auth_method \"client_secret_basic\" is not supported here; use none or private_key_jwt")
        );
        let big = vec![b' '; MAX_METADATA_DOCUMENT_BYTES + 1];
        assert!(
            matches!(parse_metadata_document(id, &big, &[]), Err(ref e) if e.code == "invalid_client_metadata" && e.description == "the client metadata document is larger than 5120 bytes")
        );
        assert!(
            matches!(parse_metadata_document(id, b"<html>", &[]), Err(ref e) if e.code == "invalid_client_metadata" && e.description == "the client metadata document is not JSON, or repeats a key")
        );
    }

    /// ChatGPT's published client documents (`tests/data/client-shapes.json`, a copy of the
    /// team's reference data on how real clients present themselves), with `<id>` filled.
    fn chatgpt_documents() -> Vec<(String, Value)> {
        let shapes: Value =
            serde_json::from_str(include_str!("../../tests/data/client-shapes.json")).unwrap();
        [
            "chatgpt_connector_client_metadata_document",
            "chatgpt_platform_client_metadata_document",
        ]
        .iter()
        .map(|name| {
            let text = shapes[name].to_string().replace("<id>", "abc123");
            let doc: Value = serde_json::from_str(&text).unwrap();
            (doc["client_id"].as_str().unwrap().to_string(), doc)
        })
        .collect()
    }

    #[test]
    fn chatgpts_own_documents_make_private_key_jwt_clients() {
        for (id, doc) in chatgpt_documents() {
            let client = parse_metadata_document(&id, doc.to_string().as_bytes(), &[])
                .unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(client.kind, ClientKind::Confidential, "{id}");
            assert_eq!(
                client.key_set,
                Some(ClientKeySet::Uri(
                    "https://chatgpt.com/oauth/jwks.json".into()
                ))
            );
            assert_eq!(client.origin, ClientOrigin::MetadataDocument);
        }
    }

    #[test]
    fn a_document_may_copy_no_first_party_name_unless_it_is_the_assistant_itself() {
        // ChatGPT's own documents, on chatgpt.com, are ChatGPT, even beside an administrator's
        // client named ChatGPT.
        for (id, doc) in chatgpt_documents() {
            let client = parse_metadata_document(&id, doc.to_string().as_bytes(), &["ChatGPT"]);
            assert_eq!(client.map(|c| c.name).as_deref(), Ok("ChatGPT"), "{id}");
        }
        let id = "https://attacker.example/client.json";
        for (name, first_party) in [
            ("ChatGPT", &[][..]),
            ("ChatGРТ", &[]),
            ("Claude", &[]),
            ("Acme Console", &["Acme Console"][..]),
            ("acme  c0nsole", &["Acme Console"]),
        ] {
            let doc = json!({"client_id": id, "client_name": name, "redirect_uris": ["https://chatgpt.com/connector/oauth/x"]});
            let e =
                parse_metadata_document(id, doc.to_string().as_bytes(), first_party).unwrap_err();
            assert_eq!(e.code, "invalid_client_metadata", "{name}");
            assert!(e.description.starts_with("client_name reads as"), "{e:?}");
        }
    }

    #[test]
    fn a_document_offering_several_methods_gets_the_strongest_both_support() {
        let id = "https://app.example.com/client.json";
        let base = json!({"client_id": id, "redirect_uris": ["https://app.example.com/cb"], "jwks_uri": "https://app.example.com/jwks.json"});
        let mut offers = base.clone();
        offers["token_endpoint_auth_method"] = json!("none");
        offers["token_endpoint_auth_methods_supported"] = json!(["none", "private_key_jwt"]);
        let client = parse_metadata_document(id, offers.to_string().as_bytes(), &[]).unwrap();
        assert!(client.key_set.is_some(), "private_key_jwt beats none");
        // Keys without an offer or a choice of private_key_jwt: the document said none.
        let mut plain = base.clone();
        plain["token_endpoint_auth_method"] = json!("none");
        let client = parse_metadata_document(id, plain.to_string().as_bytes(), &[]).unwrap();
        assert_eq!((client.kind, client.key_set), (ClientKind::Public, None));
        // private_key_jwt without keys, both key forms, a bad alg, an http jwks_uri: refused.
        for (field, value) in [
            ("jwks_uri", Value::Null),
            ("jwks", json!({"keys": []})),
            ("token_endpoint_auth_signing_alg", json!("HS256")),
            ("jwks_uri", json!("http://app.example.com/jwks.json")),
            ("jwks_uri", json!("ftp://app.example.com/jwks.json")),
        ] {
            let mut doc = base.clone();
            doc["token_endpoint_auth_method"] = json!("private_key_jwt");
            if value.is_null() {
                doc.as_object_mut().unwrap().remove(field);
            } else {
                doc[field] = value.clone();
            }
            assert!(
                parse_metadata_document(id, doc.to_string().as_bytes(), &[]).is_err(),
                "{field}: {value}"
            );
        }
    }

    #[test]
    fn a_registration_may_choose_private_key_jwt_with_its_keys() {
        use base64::Engine;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        let jwks =
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x, "use": "sig"}]});
        let m = validate_metadata(
            &request(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})),
            true,
        )
        .unwrap();
        assert_eq!(m.auth_method, AuthMethod::PrivateKeyJwt);
        assert!(matches!(m.key_set, Some(ClientKeySet::Inline(ref k)) if k.len() == 1));
        let echoed = m.to_json();
        assert_eq!(echoed["jwks"]["keys"][0]["kid"], "k");
        assert!(
            echoed["jwks"]["keys"][0].get("use").is_none(),
            "public members only"
        );
        // Keys without choosing private_key_jwt are not used: the client gets a secret.
        let m = validate_metadata(
            &request(json!({"token_endpoint_auth_method": null, "jwks_uri": "https://app.example.com/jwks"})),
            true,
        )
            .unwrap();
        assert_eq!(
            (m.auth_method, m.key_set),
            (AuthMethod::ClientSecretBasic, None)
        );
    }

    #[test]
    fn metadata_documents_are_cached_within_bounds() {
        assert_eq!(metadata_cache_secs(None), METADATA_DEFAULT_CACHE_SECS);
        assert_eq!(
            metadata_cache_secs(Some("max-age=5")),
            METADATA_MIN_CACHE_SECS
        );
        assert_eq!(metadata_cache_secs(Some("max-age=3600")), 3600);
        assert_eq!(
            metadata_cache_secs(Some("max-age=9999999")),
            METADATA_MAX_CACHE_SECS
        );
        assert_eq!(
            metadata_cache_secs(Some("no-store")),
            METADATA_MIN_CACHE_SECS
        );
    }
}
