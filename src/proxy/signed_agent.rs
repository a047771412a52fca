//! Signed agents: HTTP Message Signatures (RFC 9421) on incoming calls, in the Web Bot Auth
//! profile. An agent (ChatGPT's, say) signs each request with an Ed25519 key whose public half it
//! publishes at `<its origin>/.well-known/http-message-signatures-directory`, and names that
//! origin in `Signature-Agent`. This module reads the three headers and builds the signature base
//! ([`read`]), pure; [`check`] then finds the key in a trusted agent's directory, verifies the
//! signature and remembers its nonce, through the ports.
//!
//! What a signature must carry to count: `created`, `expires` (now within them, with a minute of
//! clock leeway on `created`, and at most [`MAX_LIFETIME_SECS`] between them), a `keyid` (the
//! key's RFC 7638 thumbprint), no `alg` or `ed25519`, and the covered components `@authority`
//! and, when the request carries `Signature-Agent`, `signature-agent` (so neither can be moved to
//! another host or agent). Of several signatures the one tagged `web-bot-auth` is read; an
//! untagged one only when it is the only one (ChatGPT's agent sends none).

use sfv::{BareItem, Dictionary, FieldType, Item, List, ListEntry, Parser};

use crate::http::RequestHead;
use crate::oauth::client_assertion::{parse_jwks, JwsAlgorithm, PublicJwk};
use crate::ports::{AgentDirectory, JwsVerifier, StoreError, Throttle};

/// Where an agent publishes its keys, under its origin.
pub const DIRECTORY_PATH: &str = "/.well-known/http-message-signatures-directory";
/// The tag of Web Bot Auth signatures.
pub const TAG: &str = "web-bot-auth";
/// Clock skew tolerated on `created` in the future.
pub const CLOCK_LEEWAY_SECS: i64 = 60;
/// The longest a signature may be valid (`expires - created`): the replay window without a nonce.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// The largest `Signature`, `Signature-Input` or `Signature-Agent` header read.
pub const MAX_HEADER_BYTES: usize = 4096;

/// What a plugin asks of signed agents (`[PLUGIN.agents]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentPolicy {
    /// The agents whose signatures count, as origins (`https://chatgpt.com`); only their
    /// directories are ever fetched.
    pub trusted: Vec<String>,
    /// Every call to a route that is not public must be signed by one of them.
    pub require: bool,
    /// On a `none` plugin with an address lock: a trusted signature admits a call from any
    /// address (without it, the lock and a required signature must both hold).
    pub instead_of_ip: bool,
}

/// A signed request whose signature is still to be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// The origin `Signature-Agent` names (`https://chatgpt.com`), if the request sent one.
    pub agent: Option<String>,
    pub keyid: String,
    pub created: i64,
    pub expires: i64,
    pub nonce: Option<String>,
    /// The RFC 9421 §2.5 signature base.
    pub base: Vec<u8>,
    pub signature: Vec<u8>,
}

/// What became of a request's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCheck {
    /// Signed by this trusted agent (its origin).
    Verified(String),
    /// Signed, but the signature does not count, and why.
    Refused(String),
}

impl AgentCheck {
    pub fn agent(&self) -> Option<&str> {
        match self {
            AgentCheck::Verified(origin) => Some(origin),
            AgentCheck::Refused(_) => None,
        }
    }
}

/// The request as its signature covers it.
pub struct Target<'a> {
    pub method: &'a str,
    /// The scheme the caller used (`https`).
    pub scheme: &'a str,
    /// Host and non-default port as the caller addressed them, lower case.
    pub authority: &'a str,
}

/// An agent's origin (`scheme://host[:port]`) from a configured name (`chatgpt.com` is
/// `https://chatgpt.com`) or from `Signature-Agent` (a URL whose path, if any, is ignored).
pub fn agent_origin(text: &str) -> Option<String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// Where `origin` publishes its keys.
pub fn directory_url(origin: &str) -> String {
    format!("{origin}{DIRECTORY_PATH}")
}

fn header<'h>(head: &'h RequestHead, name: &'static str) -> Result<Option<&'h str>, String> {
    let value = head
        .single_header(name)
        .map_err(|_| format!("send one {name} header"))?;
    if value.is_some_and(|v| v.len() > MAX_HEADER_BYTES) {
        return Err(format!(
            "the {name} header is over {MAX_HEADER_BYTES} bytes"
        ));
    }
    Ok(value)
}

fn dictionary(text: &str, name: &str) -> Result<Dictionary, String> {
    Parser::new(text)
        .parse::<Dictionary>()
        .map_err(|e| format!("{name} is not a structured dictionary: {e}"))
}

fn time_param(item: Option<&BareItem>, name: &str) -> Result<Option<i64>, String> {
    match item {
        None => Ok(None),
        Some(BareItem::Integer(n)) => crate::primitives::time::epoch_secs(i64::from(*n))
            .map(Some)
            .ok_or_else(|| format!("{name} is not a time from 1970 to 9999")),
        Some(_) => Err(format!("{name} is not an integer")),
    }
}

fn string<'i>(item: Option<&'i BareItem>, name: &str) -> Result<Option<&'i str>, String> {
    match item {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

/// What a signature's parameters say, once they hold.
struct SignatureParams {
    keyid: String,
    created: i64,
    expires: i64,
    nonce: Option<String>,
}

/// A signature's parameters: an Ed25519 signature (or one that names no algorithm), naming its
/// key, live now and for at most [`MAX_LIFETIME_SECS`].
fn signature_params(params: &sfv::Parameters, now: i64) -> Result<SignatureParams, String> {
    if !matches!(string(params.get("alg"), "alg")?, None | Some("ed25519")) {
        return Err("only ed25519 signatures are accepted".into());
    }
    let keyid = string(params.get("keyid"), "keyid")?
        .ok_or("the signature names no keyid")?
        .to_string();
    let created =
        time_param(params.get("created"), "created")?.ok_or("the signature has no created")?;
    let expires =
        time_param(params.get("expires"), "expires")?.ok_or("the signature has no expires")?;
    if created > now + CLOCK_LEEWAY_SECS {
        return Err("the signature was created in the future".into());
    }
    if expires <= now {
        return Err("the signature expired".into());
    }
    if expires <= created || expires - created > MAX_LIFETIME_SECS {
        return Err(format!(
            "a signature is valid for at most {MAX_LIFETIME_SECS} seconds"
        ));
    }
    let nonce = string(params.get("nonce"), "nonce")?.map(str::to_string);
    Ok(SignatureParams {
        keyid,
        created,
        expires,
        nonce,
    })
}

/// Reads the request's signature: `Ok(None)` when it carries none, `Err` (the reason) when what it
/// carries cannot count, else the call with its signature base.
pub fn read(
    head: &RequestHead,
    target: &Target<'_>,
    now: i64,
) -> Result<Option<SignedCall>, String> {
    let (input, signature) = match (header(head, "signature-input")?, header(head, "signature")?) {
        (None, None) => return Ok(None),
        (Some(input), Some(signature)) => (input, signature),
        _ => return Err("Signature and Signature-Input come together".into()),
    };
    let inputs = dictionary(input, "Signature-Input")?;
    let signatures = dictionary(signature, "Signature")?;
    let tagged = |entry: &ListEntry| match entry {
        ListEntry::InnerList(list) => {
            matches!(list.params.get("tag"), Some(BareItem::String(t)) if t.as_str() == TAG)
        }
        ListEntry::Item(_) => false,
    };
    let (label, entry) = match inputs.iter().find(|(_, e)| tagged(e)) {
        Some(found) => found,
        None if inputs.len() == 1 => inputs.iter().next().ok_or("no signature")?,
        None => return Err(format!("no signature is tagged {TAG}")),
    };
    let ListEntry::InnerList(covered) = entry else {
        return Err("a signature's input is a list of components".into());
    };
    let SignatureParams {
        keyid,
        created,
        expires,
        nonce,
    } = signature_params(&covered.params, now)?;
    let signature = match signatures.get(label) {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::ByteSequence(bytes),
            ..
        })) => bytes.clone(),
        _ => return Err(format!("Signature has no byte sequence for {label}")),
    };
    let signature_agent = header(head, "signature-agent")?;
    let (base, names) = signature_base(head, target, entry)?;
    let covers = |component: &str| names.iter().any(|(n, _)| n == component);
    if !covers("@authority") {
        return Err("the signature does not cover @authority".into());
    }
    // Without a nonce (counted once) a signature can be replayed until it expires, by anyone who
    // saw it (the origin's logs, say): then it must at least name the call it was made for.
    if nonce.is_none() && !(covers("@method") && covers("@path")) {
        return Err("a signature without a nonce must cover @method and @path".into());
    }
    // The agent is read from exactly what the signature covers: the member its `key` names, or
    // the whole field.
    let covered_agent = names.iter().find(|(n, _)| n == "signature-agent");
    let agent = match (signature_agent, covered_agent) {
        (Some(_), None) => return Err("the signature does not cover signature-agent".into()),
        (Some(value), Some((_, key))) => Some(named_agent(value, key.as_deref())?),
        (None, _) => None,
    };
    Ok(Some(SignedCall {
        agent,
        keyid,
        created,
        expires,
        nonce,
        base: base.into_bytes(),
        signature,
    }))
}

/// A covered component: its name, and its `key` parameter when it has one.
type Covered = (String, Option<String>);

/// The RFC 9421 §2.5 signature base of one `Signature-Input` member, and the components it
/// covers.
fn signature_base(
    head: &RequestHead,
    target: &Target<'_>,
    entry: &ListEntry,
) -> Result<(String, Vec<Covered>), String> {
    let ListEntry::InnerList(covered) = entry else {
        return Err("a signature's input is a list of components".into());
    };
    let mut base = String::new();
    let mut names: Vec<Covered> = Vec::new();
    for component in &covered.items {
        let BareItem::String(name) = &component.bare_item else {
            return Err("a covered component is not a string".into());
        };
        let name = name.as_str();
        if names.iter().any(|(n, _)| n == name) {
            return Err(format!("{name} is covered twice"));
        }
        let key = match component.params.get("key") {
            Some(BareItem::String(k)) => Some(k.as_str().to_string()),
            _ => None,
        };
        names.push((name.to_string(), key));
        let value = component_value(head, target, name, &component.params)?;
        base.push_str(&component.serialize());
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    let params_text = List::from(vec![entry.clone()])
        .serialize()
        .ok_or("the signature's parameters cannot be serialized")?;
    base.push_str("\"@signature-params\": ");
    base.push_str(&params_text);
    Ok((base, names))
}

/// The agent a `Signature-Agent` value names, as the signature covers it: with a `key`, the
/// dictionary member of that name (`agent1="https://chatgpt.com"`); without, the whole field, a
/// string (`"https://chatgpt.com"`) or a dictionary of one member.
fn named_agent(value: &str, key: Option<&str>) -> Result<String, String> {
    let member = |entry: Option<&ListEntry>| match entry {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::String(s),
            ..
        })) => Ok(s.as_str().to_string()),
        _ => Err("Signature-Agent names no agent for this signature".to_string()),
    };
    let text = match key {
        Some(key) => member(dictionary(value, "Signature-Agent")?.get(key))?,
        None => match Parser::new(value).parse::<Item>() {
            Ok(Item {
                bare_item: BareItem::String(s),
                ..
            }) => s.as_str().to_string(),
            _ => {
                let members = dictionary(value, "Signature-Agent")?;
                if members.len() != 1 {
                    return Err("Signature-Agent names several agents: cover one by its key".into());
                }
                member(members.values().next())?
            }
        },
    };
    agent_origin(&text).ok_or_else(|| "Signature-Agent is not an http(s) URL".into())
}

/// One covered component's value (RFC 9421 §2.1, §2.2).
fn component_value(
    head: &RequestHead,
    target: &Target<'_>,
    name: &str,
    params: &sfv::Parameters,
) -> Result<String, String> {
    let path = if head.path.is_empty() {
        "/"
    } else {
        head.path.as_str()
    };
    let derived = |value: String| {
        if params.is_empty() {
            Ok(value)
        } else {
            Err(format!("{name} takes no parameters here"))
        }
    };
    match name {
        "@method" => derived(target.method.to_string()),
        "@authority" => derived(target.authority.to_string()),
        "@scheme" => derived(target.scheme.to_string()),
        "@path" => derived(path.to_string()),
        "@query" => derived(format!("?{}", head.query.as_deref().unwrap_or(""))),
        "@request-target" => derived(match &head.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }),
        "@target-uri" => derived(match &head.query {
            Some(q) => format!("{}://{}{path}?{q}", target.scheme, target.authority),
            None => format!("{}://{}{path}", target.scheme, target.authority),
        }),
        n if n.starts_with('@') => Err(format!("the component {n} is not supported")),
        field => {
            if field.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(format!("the component {field} is not lower case"));
            }
            let values: Vec<&str> = head.header_values(field).map(str::trim).collect();
            if values.is_empty() {
                return Err(format!("the covered header {field} is not in the request"));
            }
            let joined = values.join(", ");
            match (params.len(), params.get("key")) {
                (0, _) => Ok(joined),
                (1, Some(BareItem::String(key))) => {
                    match dictionary(&joined, field)?.get(key.as_str()) {
                        Some(ListEntry::Item(item)) => Ok(item.serialize()),
                        Some(list @ ListEntry::InnerList(_)) => List::from(vec![list.clone()])
                            .serialize()
                            .ok_or_else(|| format!("{field} cannot be serialized")),
                        None => Err(format!("{field} has no member {}", key.as_str())),
                    }
                }
                _ => Err(format!(
                    "the component parameters of {field} are not supported"
                )),
            }
        }
    }
}

/// The Ed25519 keys of an agent's directory (a JWKS; keys may carry `nbf` and `exp`), those valid
/// at `now`, and until when the set stays so (the earliest `exp`).
pub fn parse_directory(
    document: &serde_json::Value,
    now: i64,
) -> Result<(Vec<PublicJwk>, Option<i64>), String> {
    let keys = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("the directory has no keys")?;
    let mut usable = Vec::new();
    let mut until: Option<i64> = None;
    for key in keys.iter().take(64) {
        // Seconds, or milliseconds as some directories publish them (Cloudflare's examples); a
        // time that is not an integer makes the key unusable rather than timeless.
        let time = |name: &str| -> Result<Option<i64>, ()> {
            match key.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => match v.as_i64() {
                    Some(t) if t > 100_000_000_000 => Ok(Some(t / 1000)),
                    Some(t) => Ok(Some(t)),
                    None => Err(()),
                },
            }
        };
        let (Ok(nbf), Ok(exp)) = (time("nbf"), time("exp")) else {
            continue;
        };
        let ed25519 = key.get("kty").and_then(serde_json::Value::as_str) == Some("OKP")
            && key.get("crv").and_then(serde_json::Value::as_str) == Some("Ed25519");
        if !ed25519 || nbf.is_some_and(|nbf| now < nbf) || exp.is_some_and(|exp| now >= exp) {
            continue;
        }
        let Ok(mut parsed) = parse_jwks(&serde_json::json!({ "keys": [key] })) else {
            continue;
        };
        if let Some(exp) = exp {
            until = Some(until.map_or(exp, |u| u.min(exp)));
        }
        usable.append(&mut parsed);
    }
    if usable.is_empty() {
        return Err("the directory holds no Ed25519 key valid now".into());
    }
    Ok((usable, until))
}

/// Checks a signed call against the trusted agents: the key named by `keyid` (its thumbprint) in
/// the directory of the agent `Signature-Agent` names, which must be trusted (without the header,
/// every trusted agent's directory is searched); the directory fetched again once when the key is
/// not in it (rotation); the Ed25519 signature over the base; then the nonce, once per agent and
/// key until the signature expires (only after the signature holds, so nobody without the key can
/// use up its nonces). `Err` is a store failure.
pub async fn check<S: AgentDirectory + JwsVerifier + Throttle>(
    store: &S,
    call: &SignedCall,
    policy: &AgentPolicy,
    now: i64,
) -> Result<AgentCheck, StoreError> {
    let refuse = |why: &str| Ok(AgentCheck::Refused(why.to_string()));
    let trusted = &policy.trusted;
    // Where a signature stands in for the address lock, it must not be replayable.
    if policy.instead_of_ip && call.nonce.is_none() {
        return refuse("a signature without a nonce cannot stand in for the address lock");
    }
    let candidates: Vec<&String> = match &call.agent {
        Some(agent) => match trusted.iter().find(|t| *t == agent) {
            Some(found) => vec![found],
            None => return refuse("the signing agent is not one this API trusts"),
        },
        None => trusted.iter().collect(),
    };
    let mut found = None;
    'agents: for origin in candidates {
        for refresh in [false, true] {
            let keys = match store.agent_keys(origin, refresh, now).await? {
                Ok(keys) => keys,
                Err(_) if refresh => continue 'agents,
                Err(_) => continue,
            };
            if let Some(key) = keys.into_iter().find(|k| k.thumbprint() == call.keyid) {
                found = Some((origin, key));
                break 'agents;
            }
        }
    }
    let Some((origin, key)) = found else {
        return refuse("no trusted agent's directory holds the signing key");
    };
    if !store
        .verify_jws(JwsAlgorithm::EdDsa, &key, &call.base, &call.signature)
        .await?
    {
        return refuse("the signature does not verify");
    }
    if let Some(nonce) = &call.nonce {
        let key = format!(
            "agent-nonce:{origin} {} {}",
            call.keyid,
            crate::primitives::hash::sha256_hex(nonce)
        );
        let ttl = u64::try_from(call.expires - now).unwrap_or(1).max(1);
        if !store.remember_once(&key, ttl, now.max(0) as u64).await? {
            return refuse("the signature was already used");
        }
    }
    Ok(AgentCheck::Verified(origin.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use crate::quota::QuotaDecision;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use std::cell::RefCell;
    use std::collections::HashMap;

    const NOW: i64 = 1_790_000_000;
    const AGENT: &str = "https://chatgpt.com";
    const TARGET: Target<'static> = Target {
        method: "GET",
        scheme: "https",
        authority: "todo.example.com",
    };

    /// Polls a future that never waits (the fake store answers at once).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the fake store never waits"),
        }
    }

    fn jwk(pair: &ed25519_compact::KeyPair) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(pair.pk.as_ref())})
    }

    fn keyid(pair: &ed25519_compact::KeyPair) -> String {
        parse_jwks(&serde_json::json!({"keys": [jwk(pair)]})).unwrap()[0].thumbprint()
    }

    /// A request to `GET /todos` signed as ChatGPT's agent signs (client-shapes.json): the
    /// components, then `created`, `keyid`, `expires`, `nonce`, no tag.
    fn signed(pair: &ed25519_compact::KeyPair, params: &str, agent: Option<&str>) -> RequestHead {
        let mut head =
            RequestHead::new(Method::Get, "/todos").with_header("host", "todo.example.com");
        if let Some(agent) = agent {
            head = head.with_header("signature-agent", agent);
        }
        let input: Dictionary = Parser::new(&format!("sig1={params}")).parse().unwrap();
        let (base, _) = signature_base(&head, &TARGET, input.get("sig1").unwrap()).unwrap();
        let signature = pair.sk.sign(base.as_bytes(), None);
        head.with_header("signature-input", &format!("sig1={params}"))
            .with_header(
                "signature",
                &format!("sig1=:{}:", STANDARD.encode(signature.as_ref())),
            )
    }

    fn chatgpt_params(pair: &ed25519_compact::KeyPair) -> String {
        format!(
            r#"("@authority" "@method" "@path" "signature-agent");created={};keyid="{}";expires={};nonce="n-1""#,
            NOW - 10,
            keyid(pair),
            NOW + 50
        )
    }

    #[derive(Default)]
    struct Store {
        directories: HashMap<String, Vec<PublicJwk>>,
        fetches: RefCell<Vec<(String, bool)>>,
        seen: RefCell<Vec<String>>,
    }

    impl AgentDirectory for Store {
        async fn agent_keys(
            &self,
            origin: &str,
            refresh: bool,
            _now: i64,
        ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
            self.fetches
                .borrow_mut()
                .push((origin.to_string(), refresh));
            Ok(self
                .directories
                .get(origin)
                .cloned()
                .ok_or_else(|| "no directory".to_string()))
        }
    }

    impl JwsVerifier for Store {
        async fn verify_jws(
            &self,
            alg: JwsAlgorithm,
            key: &PublicJwk,
            message: &[u8],
            signature: &[u8],
        ) -> Result<bool, StoreError> {
            let crate::oauth::client_assertion::KeyMaterial::Ed25519 { x } = &key.material else {
                return Ok(false);
            };
            let pk = ed25519_compact::PublicKey::from_slice(&URL_SAFE_NO_PAD.decode(x).unwrap())
                .unwrap();
            let Ok(sig) = ed25519_compact::Signature::from_slice(signature) else {
                return Ok(false);
            };
            Ok(alg == JwsAlgorithm::EdDsa && pk.verify(message, &sig).is_ok())
        }
    }

    impl Throttle for Store {
        async fn charge(
            &self,
            _: &str,
            _: u64,
            _: u64,
            _: u64,
        ) -> Result<QuotaDecision, StoreError> {
            unreachable!()
        }
        async fn refund(&self, _: &str, _: u64, _: u64, _: u64) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn peek(&self, _: &str, _: u64, _: u64, _: u64) -> Result<QuotaDecision, StoreError> {
            unreachable!()
        }
        async fn remember_once(&self, key: &str, _: u64, _: u64) -> Result<bool, StoreError> {
            let mut seen = self.seen.borrow_mut();
            if seen.iter().any(|k| k == key) {
                return Ok(false);
            }
            seen.push(key.to_string());
            Ok(true)
        }
    }

    fn trusting(origins: &[&str]) -> AgentPolicy {
        AgentPolicy {
            trusted: origins.iter().map(|o| o.to_string()).collect(),
            ..AgentPolicy::default()
        }
    }

    fn store_with(pair: &ed25519_compact::KeyPair) -> Store {
        let mut store = Store::default();
        let keys = parse_jwks(&serde_json::json!({"keys": [jwk(pair)]})).unwrap();
        store.directories.insert(AGENT.into(), keys);
        store
    }

    #[test]
    fn rfc_9421_b_2_6_base_and_signature_are_reproduced() {
        // RFC 9421 Appendix B.2.6: the ed25519 example, with the key of B.1.4.
        let head = RequestHead {
            method: Some(Method::Post),
            path: "/foo".into(),
            query: Some("param=Value&Pet=dog".into()),
            headers: vec![],
            authority: Some("example.com".into()),
        }
        .with_header("host", "example.com")
        .with_header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .with_header("content-type", "application/json")
        .with_header("content-length", "18");
        let input: Dictionary = Parser::new(
            r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        )
        .parse()
        .unwrap();
        let target = Target {
            method: "POST",
            scheme: "https",
            authority: "example.com",
        };
        let (base, _) = signature_base(&head, &target, input.get("sig-b26").unwrap()).unwrap();
        assert_eq!(
            base,
            [
                r#""date": Tue, 20 Apr 2021 02:07:55 GMT"#,
                r#""@method": POST"#,
                r#""@path": /foo"#,
                r#""@authority": example.com"#,
                r#""content-type": application/json"#,
                r#""content-length": 18"#,
                r#""@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
            ]
            .join("\n")
        );
        let key = ed25519_compact::PublicKey::from_slice(
            &URL_SAFE_NO_PAD
                .decode("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs")
                .unwrap(),
        )
        .unwrap();
        let signature = STANDARD
            .decode("wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==")
            .unwrap();
        assert!(key
            .verify(
                base.as_bytes(),
                &ed25519_compact::Signature::from_slice(&signature).unwrap()
            )
            .is_ok());
    }

    #[test]
    fn a_chatgpt_shaped_signature_verifies_as_its_agent_once() {
        let pair = ed25519_compact::KeyPair::generate();
        let head = signed(
            &pair,
            &chatgpt_params(&pair),
            Some(r#""https://chatgpt.com""#),
        );
        let call = read(&head, &TARGET, NOW).unwrap().unwrap();
        assert_eq!(call.agent.as_deref(), Some(AGENT));
        assert_eq!(call.nonce.as_deref(), Some("n-1"));
        let store = store_with(&pair);
        let trusted = trusting(&[AGENT]);
        assert_eq!(
            block_on(check(&store, &call, &trusted, NOW)).unwrap(),
            AgentCheck::Verified(AGENT.into())
        );
        assert_eq!(
            block_on(check(&store, &call, &trusted, NOW)).unwrap(),
            AgentCheck::Refused("the signature was already used".into()),
            "its nonce is spent"
        );
        // Not trusted: refused without fetching anything.
        let store = store_with(&pair);
        let other = trusting(&["https://claude.ai"]);
        assert!(matches!(
            block_on(check(&store, &call, &other, NOW)).unwrap(),
            AgentCheck::Refused(_)
        ));
        assert!(store.fetches.borrow().is_empty());
    }

    #[test]
    fn the_dictionary_form_of_signature_agent_and_a_tagged_signature_are_read() {
        let pair = ed25519_compact::KeyPair::generate();
        let params = format!(
            r#"("@authority" "signature-agent";key="sig1");created={};expires={};keyid="{}";tag="web-bot-auth";nonce="n-2""#,
            NOW,
            NOW + 60,
            keyid(&pair)
        );
        let head = signed(&pair, &params, Some(r#"sig1="https://chatgpt.com/""#));
        let call = read(&head, &TARGET, NOW).unwrap().unwrap();
        assert_eq!(call.agent.as_deref(), Some(AGENT));
        let base = String::from_utf8(call.base.clone()).unwrap();
        assert!(
            base.starts_with("\"@authority\": todo.example.com\n\"signature-agent\";key=\"sig1\": \"https://chatgpt.com/\"\n"),
            "{base}"
        );
        assert_eq!(
            block_on(check(&store_with(&pair), &call, &trusting(&[AGENT]), NOW)).unwrap(),
            AgentCheck::Verified(AGENT.into())
        );
    }

    #[test]
    fn the_agent_is_the_member_the_signature_covers_whatever_the_label() {
        let pair = ed25519_compact::KeyPair::generate();
        let params = format!(
            r#"("@authority" "signature-agent";key="agent2");created={};expires={};keyid="{}";tag="web-bot-auth";nonce="n""#,
            NOW,
            NOW + 60,
            keyid(&pair)
        );
        // As Cloudflare's vectors spell it: label sig1, member agent2, plus a member nobody signed.
        let header = r#"agent2="https://chatgpt.com", sig1="https://evil.example.com""#;
        let head = signed(&pair, &params, Some(header));
        let call = read(&head, &TARGET, NOW).unwrap().unwrap();
        assert_eq!(call.agent.as_deref(), Some(AGENT));
        assert_eq!(
            block_on(check(&store_with(&pair), &call, &trusting(&[AGENT]), NOW)).unwrap(),
            AgentCheck::Verified(AGENT.into())
        );
        // Covered whole, a dictionary must name one agent.
        let whole = format!(
            r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{}""#,
            NOW,
            NOW + 60,
            keyid(&pair)
        );
        assert_eq!(
            read(&signed(&pair, &whole, Some(header)), &TARGET, NOW)
                .err()
                .as_deref(),
            Some("Signature-Agent names several agents: cover one by its key")
        );
        let one = signed(&pair, &whole, Some(r#"a="https://chatgpt.com""#));
        assert_eq!(
            read(&one, &TARGET, NOW).unwrap().unwrap().agent.as_deref(),
            Some(AGENT)
        );
    }

    #[test]
    fn where_a_signature_stands_in_for_the_address_it_must_carry_a_nonce() {
        let pair = ed25519_compact::KeyPair::generate();
        let params = format!(
            r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{}""#,
            NOW,
            NOW + 60,
            keyid(&pair)
        );
        let call = read(
            &signed(&pair, &params, Some(r#""https://chatgpt.com""#)),
            &TARGET,
            NOW,
        )
        .unwrap()
        .unwrap();
        let instead = AgentPolicy {
            instead_of_ip: true,
            ..trusting(&[AGENT])
        };
        assert!(matches!(
            block_on(check(&store_with(&pair), &call, &instead, NOW)).unwrap(),
            AgentCheck::Refused(_)
        ));
        assert_eq!(
            block_on(check(&store_with(&pair), &call, &trusting(&[AGENT]), NOW)).unwrap(),
            AgentCheck::Verified(AGENT.into())
        );
    }

    #[test]
    fn a_signature_that_cannot_count_says_why() {
        let pair = ed25519_compact::KeyPair::generate();
        let id = keyid(&pair);
        let agent = r#""https://chatgpt.com""#;
        for (why, params) in [
            (
                "no @authority",
                format!(
                    r#"("@method" "signature-agent");created={};expires={};keyid="{id}""#,
                    NOW,
                    NOW + 60
                ),
            ),
            (
                "no signature-agent",
                format!(
                    r#"("@authority");created={};expires={};keyid="{id}""#,
                    NOW,
                    NOW + 60
                ),
            ),
            (
                "expired",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{id}""#,
                    NOW - 120,
                    NOW - 1
                ),
            ),
            (
                "future",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{id}""#,
                    NOW + 120,
                    NOW + 180
                ),
            ),
            (
                "too long",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{id}""#,
                    NOW,
                    NOW + MAX_LIFETIME_SECS + 1
                ),
            ),
            (
                "no expires",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};keyid="{id}""#,
                    NOW
                ),
            ),
            (
                "no keyid",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};expires={}"#,
                    NOW,
                    NOW + 60
                ),
            ),
            (
                "rsa",
                format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{id}";alg="rsa-pss-sha512""#,
                    NOW,
                    NOW + 60
                ),
            ),
            (
                "twice",
                format!(
                    r#"("@authority" "@authority" "@method" "@path" "signature-agent");created={};expires={};keyid="{id}""#,
                    NOW,
                    NOW + 60
                ),
            ),
            (
                "missing header",
                format!(
                    r#"("@authority" "signature-agent" "x-absent");created={};expires={};keyid="{id}""#,
                    NOW,
                    NOW + 60
                ),
            ),
        ] {
            let head = if why == "missing header" || why == "twice" {
                // Signed by hand: the base cannot be built, which is the point.
                RequestHead::new(Method::Get, "/todos")
                    .with_header("signature-agent", agent)
                    .with_header("signature-input", &format!("sig1={params}"))
                    .with_header("signature", "sig1=:AAAA:")
            } else {
                signed(&pair, &params, Some(agent))
            };
            assert!(
                matches!(
                    read(&head, &TARGET, NOW).err().as_deref(),
                    Some(
                        "@authority is covered twice"
                            | "a signature is valid for at most 3600 seconds"
                            | "a signature without a nonce must cover @method and @path"
                            | "only ed25519 signatures are accepted"
                            | "the covered header x-absent is not in the request"
                            | "the signature does not cover @authority"
                            | "the signature expired"
                            | "the signature has no expires"
                            | "the signature names no keyid"
                            | "the signature was created in the future"
                    )
                ),
                "{why}"
            );
        }
        // Headers that are not structured fields, or only half of the pair.
        let half = RequestHead::new(Method::Get, "/").with_header("signature", "sig1=:AAAA:");
        assert_eq!(
            read(&half, &TARGET, NOW).err().as_deref(),
            Some("Signature and Signature-Input come together")
        );
        let junk = RequestHead::new(Method::Get, "/")
            .with_header("signature", "not a dictionary ((")
            .with_header("signature-input", "sig1=(");
        assert_eq!(read(&junk, &TARGET, NOW).err().as_deref(), Some("Signature-Input is not a structured dictionary: unterminated inner list at index 6"));
        assert_eq!(
            read(&RequestHead::new(Method::Get, "/"), &TARGET, NOW),
            Ok(None)
        );
    }

    #[test]
    fn a_changed_request_or_another_key_does_not_verify() {
        let pair = ed25519_compact::KeyPair::generate();
        let head = signed(
            &pair,
            &chatgpt_params(&pair),
            Some(r#""https://chatgpt.com""#),
        );
        let trusted = trusting(&[AGENT]);
        // The same headers on another path or host build another base.
        let mut moved = head.clone();
        moved.path = "/admin".into();
        let call = read(&moved, &TARGET, NOW).unwrap().unwrap();
        assert_eq!(
            block_on(check(&store_with(&pair), &call, &trusted, NOW)).unwrap(),
            AgentCheck::Refused("the signature does not verify".into())
        );
        let elsewhere = Target {
            authority: "evil.example.com",
            ..TARGET
        };
        let call = read(&head, &elsewhere, NOW).unwrap().unwrap();
        assert!(matches!(
            block_on(check(&store_with(&pair), &call, &trusted, NOW)).unwrap(),
            AgentCheck::Refused(_)
        ));
        // A key the directory does not hold: fetched again once, then refused.
        let stranger = ed25519_compact::KeyPair::generate();
        let store = store_with(&stranger);
        let call = read(&head, &TARGET, NOW).unwrap().unwrap();
        assert_eq!(
            block_on(check(&store, &call, &trusted, NOW)).unwrap(),
            AgentCheck::Refused("no trusted agent's directory holds the signing key".into())
        );
        assert_eq!(
            *store.fetches.borrow(),
            vec![(AGENT.to_string(), false), (AGENT.to_string(), true)]
        );
    }

    #[test]
    fn directories_yield_the_ed25519_keys_valid_now() {
        let a = ed25519_compact::KeyPair::generate();
        let b = ed25519_compact::KeyPair::generate();
        let mut current = jwk(&a);
        current["nbf"] = serde_json::json!(NOW - 100);
        current["exp"] = serde_json::json!(NOW + 500);
        let mut expired = jwk(&b);
        expired["exp"] = serde_json::json!(NOW - 1);
        let rsa = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        let doc = serde_json::json!({"keys": [current, expired, rsa], "purpose": "ai"});
        let (keys, until) = parse_directory(&doc, NOW).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].thumbprint(), keyid(&a));
        assert_eq!(until, Some(NOW + 500));
        assert_eq!(
            parse_directory(&serde_json::json!({"keys": []}), NOW)
                .err()
                .as_deref(),
            Some("the directory holds no Ed25519 key valid now")
        );
        // Times in milliseconds, as some directories publish them, are read as such; a time
        // that is not an integer makes the key unusable, not timeless.
        let mut millis = jwk(&a);
        millis["nbf"] = serde_json::json!((NOW - 100) * 1000);
        millis["exp"] = serde_json::json!((NOW + 500) * 1000);
        let (keys, until) = parse_directory(&serde_json::json!({"keys": [millis]}), NOW).unwrap();
        assert_eq!((keys.len(), until), (1, Some(NOW + 500)));
        let mut float = jwk(&a);
        float["exp"] = serde_json::json!(1.0e9);
        assert_eq!(
            parse_directory(&serde_json::json!({"keys": [float]}), NOW)
                .err()
                .as_deref(),
            Some("the directory holds no Ed25519 key valid now")
        );
        assert_eq!(
            parse_directory(&serde_json::json!([]), NOW)
                .err()
                .as_deref(),
            Some("the directory has no keys")
        );
    }

    #[test]
    fn agent_origins_are_normalized() {
        assert_eq!(agent_origin("chatgpt.com").as_deref(), Some(AGENT));
        assert_eq!(agent_origin("https://ChatGPT.com/").as_deref(), Some(AGENT));
        assert_eq!(
            agent_origin("https://chatgpt.com/.well-known/http-message-signatures-directory")
                .as_deref(),
            Some(AGENT)
        );
        assert_eq!(
            agent_origin("http://127.0.0.1:8799").as_deref(),
            Some("http://127.0.0.1:8799")
        );
        for bad in [
            "ftp://chatgpt.com",
            "https://u:p@chatgpt.com",
            "https://chatgpt.com/?x",
            "",
        ] {
            assert_eq!(agent_origin(bad), None, "{bad}");
        }
    }

    /// Issue 29, finding 8: `created` and `expires` at the edges of what a structured field holds
    /// (15 digits either way) are refused or read as instants in 1970 ..= 9999; none overflows.
    #[test]
    fn no_signature_time_overflows_or_is_read_outside_1970_to_9999() {
        let pair = ed25519_compact::KeyPair::generate();
        let edges = [
            -999_999_999_999_999_i64,
            -1,
            0,
            crate::primitives::time::LATEST_SECS,
            crate::primitives::time::LATEST_SECS + 1,
            999_999_999_999_999,
        ];
        for created in edges.iter().copied().chain([NOW - 10]) {
            for expires in edges.iter().copied().chain([NOW + 50]) {
                if (created, expires) == (NOW - 10, NOW + 50) {
                    continue;
                }
                let params = format!(
                    r#"("@authority" "@method" "@path" "signature-agent");created={created};keyid="{}";expires={expires};nonce="n-1""#,
                    keyid(&pair)
                );
                let head = signed(&pair, &params, Some(&format!("\"{AGENT}\"")));
                assert!(
                    read(&head, &TARGET, NOW).is_err(),
                    "created={created} expires={expires}"
                );
            }
        }
    }

    /// Issue 29, finding 5: a signature over `@authority` alone, without a nonce, could be
    /// replayed from the origin's logs to any method and path on the host until it expired.
    #[test]
    fn a_signature_without_a_nonce_must_name_the_call() {
        let pair = ed25519_compact::KeyPair::generate();
        let agent = Some(r#""https://chatgpt.com""#);
        let params = |components: &str, nonce: &str| {
            format!(
                r#"({components});created={};expires={};keyid="{}"{nonce}"#,
                NOW,
                NOW + 60,
                keyid(&pair)
            )
        };
        let at = |p: String| read(&signed(&pair, &p, agent), &TARGET, NOW);
        for components in [
            r#""@authority" "signature-agent""#,
            r#""@authority" "@method" "signature-agent""#,
            r#""@authority" "@path" "signature-agent""#,
            r#""@authority" "@target-uri" "signature-agent""#,
        ] {
            let refused = at(params(components, "")).unwrap_err();
            assert!(refused.contains("nonce"), "{components}: {refused}");
            assert!(
                at(params(components, r#";nonce="n-9""#)).is_ok(),
                "{components}"
            );
        }
        assert!(at(params(
            r#""@authority" "@method" "@path" "signature-agent""#,
            ""
        ))
        .is_ok());
    }
}
