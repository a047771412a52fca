//! The plugin's OpenAPI document: read from `static/` or the origin, in JSON or YAML, published
//! with `servers` pointing at the gateway, in the format its public path names.
//!
//! Parsing is bounded: a size cap before parsing, a node budget that counts YAML alias expansions
//! (so a "billion laughs" document fails fast instead of exhausting the isolate), and the YAML
//! parser's own nesting limit. Rendering YAML re-reads its own output and falls back to JSON text
//! (which is valid YAML 1.2) if the emitter would change any value.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::{yaml::Hash, Yaml, YamlEmitter};

/// The largest document accepted, from either source.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;
/// Nodes a parsed document may hold, counting every copy an alias makes.
pub const MAX_NODES: usize = 250_000;
/// How long a fetched document is served before it is fetched again, unless the origin's
/// `Cache-Control` says otherwise.
pub const DEFAULT_CACHE_SECS: u64 = 300;
/// How long a stale copy may still be served while the origin fails to give a new one.
pub const STALE_IF_ERROR_SECS: u64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    Json,
    Yaml,
}

impl DocFormat {
    /// The format a path's extension names (`.json`, `.yaml`, `.yml`).
    pub fn from_path(path: &str) -> Option<DocFormat> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(DocFormat::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(DocFormat::Yaml)
        } else {
            None
        }
    }

    /// The format a `Content-Type` names, if it names one.
    pub fn from_content_type(content_type: &str) -> Option<DocFormat> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Some(DocFormat::Json)
        } else if essence.contains("yaml") {
            Some(DocFormat::Yaml)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            DocFormat::Json => "application/json",
            DocFormat::Yaml => "application/yaml; charset=utf-8",
        }
    }
}

/// Why a document cannot be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    TooLarge,
    Malformed(String),
    /// Parsed, but not an OpenAPI (or Swagger) document.
    NotOpenApi,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentError::TooLarge => write!(f, "larger than {MAX_DOCUMENT_BYTES} bytes"),
            DocumentError::Malformed(why) => write!(f, "not valid JSON or YAML: {why}"),
            DocumentError::NotOpenApi => {
                f.write_str("not an OpenAPI document (no top-level `openapi` or `swagger`)")
            }
        }
    }
}

/// A document ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// Reads `bytes` (in `hint`'s format, else whichever parses), points `servers` at `base_url`
/// and renders it as `format`.
pub fn publish(
    bytes: &[u8],
    hint: Option<DocFormat>,
    base_url: &str,
    format: DocFormat,
) -> Result<Published, DocumentError> {
    let mut document = parse(bytes, hint)?;
    point_servers_at(&mut document, base_url);
    Ok(Published {
        body: render(&document, format),
        content_type: format.content_type(),
    })
}

/// Parses an OpenAPI document in JSON or YAML.
pub fn parse(bytes: &[u8], hint: Option<DocFormat>) -> Result<Value, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DocumentError::Malformed("the document is not UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let looks_like_json = text.trim_start().starts_with('{');
    let value = match hint {
        Some(DocFormat::Json) => serde_json::from_str(text)
            .map_err(|e| DocumentError::Malformed(format!("JSON: {e}")))?,
        None if looks_like_json => serde_json::from_str(text)
            .or_else(|_| parse_yaml(text))
            .map_err(|e| DocumentError::Malformed(e.to_string()))?,
        _ => parse_yaml(text).map_err(DocumentError::Malformed)?,
    };
    let is_openapi = value
        .as_object()
        .is_some_and(|o| o.get("openapi").or_else(|| o.get("swagger")).is_some());
    if !is_openapi {
        return Err(DocumentError::NotOpenApi);
    }
    Ok(value)
}

/// `servers` becomes the gateway alone: the origin's own addresses are never published, and
/// clients call through the gateway. The first server's description and variables are kept.
pub fn point_servers_at(document: &mut Value, base_url: &str) {
    let Some(object) = document.as_object_mut() else {
        return;
    };
    let mut server = object
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(Value::as_object)
        .map(|first| {
            first
                .iter()
                .filter(|(k, _)| *k == "description")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>()
        })
        .unwrap_or_default();
    server.insert("url".into(), Value::String(base_url.into()));
    object.insert("servers".into(), Value::Array(vec![Value::Object(server)]));
    // Path items and operations may name servers of their own: removed, so that no call goes
    // past the gateway. (Callbacks and webhooks are the origin's calls out, not the client's.)
    drop_servers(object.get_mut("paths"));
    drop_servers(
        object
            .get_mut("components")
            .and_then(|c| c.get_mut("pathItems")),
    );
    drop_link_servers(
        object
            .get_mut("components")
            .and_then(|c| c.get_mut("links")),
    );
    // Swagger 2.0 names its server in `host`, `basePath` and `schemes`.
    if object.contains_key("swagger") {
        if let Some((scheme, host)) = base_url.split_once("://") {
            object.insert("host".into(), Value::String(host.into()));
            object.insert("schemes".into(), Value::Array(vec![scheme.into()]));
            object.remove("basePath");
        }
    }
}

/// Removes `servers` from each path item and each of its operations.
fn drop_servers(items: Option<&mut Value>) {
    let Some(items) = items.and_then(Value::as_object_mut) else {
        return;
    };
    for item in items.values_mut().filter_map(Value::as_object_mut) {
        item.remove("servers");
        for operation in item.values_mut().filter_map(Value::as_object_mut) {
            operation.remove("servers");
            // A response's links may name a server for the operation they lead to.
            let responses = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut);
            for response in responses.into_iter().flat_map(|r| r.values_mut()) {
                drop_link_servers(response.get_mut("links"));
            }
        }
    }
}

/// Removes `server` from each Link Object.
fn drop_link_servers(links: Option<&mut Value>) {
    for link in links
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|l| l.values_mut())
        .filter_map(Value::as_object_mut)
    {
        link.remove("server");
    }
}

/// Renders a document; YAML output that would not read back identically is replaced by JSON.
pub fn render(document: &Value, format: DocFormat) -> Vec<u8> {
    let json = || serde_json::to_vec_pretty(document).unwrap_or_default();
    match format {
        DocFormat::Json => json(),
        DocFormat::Yaml => {
            let mut out = String::new();
            let mut emitter = YamlEmitter::new(&mut out);
            emitter.multiline_strings(true);
            if emitter.dump(&to_yaml(document)).is_err() {
                return json();
            }
            out.push('\n');
            match parse_yaml(&out) {
                Ok(read_back) if read_back == *document => out.into_bytes(),
                _ => json(),
            }
        }
    }
}

/// How long a fetched document stays fresh, from the origin's `Cache-Control`.
pub fn freshness_secs(cache_control: Option<&str>, default_secs: u64) -> u64 {
    let Some(header) = cache_control else {
        return default_secs;
    };
    let mut max_age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        match directive.split_once('=') {
            None if directive == "no-store" || directive == "no-cache" => return 0,
            Some(("max-age" | "s-maxage", secs)) => {
                if let Ok(secs) = secs.trim_matches('"').parse::<u64>() {
                    max_age = Some(max_age.map_or(secs, |m: u64| m.min(secs)));
                }
            }
            _ => {}
        }
    }
    max_age.unwrap_or(default_secs).min(STALE_IF_ERROR_SECS)
}

/// A published document and when to fetch it again.
#[derive(Debug, Clone)]
pub struct CachedDocument {
    pub published: Published,
    pub fresh_until: u64,
    pub stale_until: u64,
}

/// Per-isolate copies of each plugin's document, keyed by plugin name.
#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: HashMap<String, CachedDocument>,
}

/// What the cache says for a request at `now`.
pub enum Lookup<'a> {
    Fresh(&'a Published),
    /// Fetch again; serve this copy if the fetch fails.
    Stale(Option<&'a Published>),
}

impl DocumentCache {
    pub fn lookup(&self, plugin: &str, now: u64) -> Lookup<'_> {
        match self.entries.get(plugin) {
            Some(entry) if now < entry.fresh_until => Lookup::Fresh(&entry.published),
            Some(entry) if now < entry.stale_until => Lookup::Stale(Some(&entry.published)),
            _ => Lookup::Stale(None),
        }
    }

    pub fn store(&mut self, plugin: &str, published: Published, now: u64, fresh_secs: u64) {
        self.entries.insert(
            plugin.to_string(),
            CachedDocument {
                published,
                fresh_until: now + fresh_secs,
                stale_until: now + fresh_secs + STALE_IF_ERROR_SECS,
            },
        );
    }
}

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (k, v) in map {
                hash.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

/// Reads one YAML document into JSON values, under the node budget.
fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e| format!("YAML: {e}"))?;
    if let Some(error) = builder.error {
        return Err(format!("YAML: {error}"));
    }
    builder
        .root
        .ok_or_else(|| "YAML: the document is empty".into())
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
        first_node: usize,
    },
    Mapping {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        first_node: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored values with the number of nodes each holds.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    root: Option<Value>,
    error: Option<String>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.accept(event) {
            self.error = Some(e);
        }
    }
}

impl Builder {
    fn count(&mut self, nodes: usize) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "more than {MAX_NODES} nodes (counting alias expansions)"
            ));
        }
        Ok(())
    }

    fn accept(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1)?;
                let value = scalar(text, style, tag.as_ref().map(|t| t.suffix.as_str()))?;
                self.complete(value, anchor, 1)
            }
            Event::SequenceStart(anchor, _) => {
                self.count(1)?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                    first_node: self.nodes,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.count(1)?;
                self.stack.push(Frame::Mapping {
                    map: Map::new(),
                    key: None,
                    anchor,
                    first_node: self.nodes,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, first_node) = match self.stack.pop() {
                    Some(Frame::Sequence {
                        items,
                        anchor,
                        first_node,
                    }) => (Value::Array(items), anchor, first_node),
                    Some(Frame::Mapping {
                        map,
                        anchor,
                        first_node,
                        ..
                    }) => (Value::Object(map), anchor, first_node),
                    None => return Err("unbalanced collection".into()),
                };
                let nodes = self.nodes - first_node + 1;
                self.complete(value, anchor, nodes)
            }
            Event::Alias(id) => {
                let (value, nodes) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or("an alias to an unknown anchor")?;
                self.count(nodes)?;
                self.complete(value, 0, nodes)
            }
            Event::DocumentStart => {
                if self.root.is_some() {
                    return Err("more than one document in the stream".into());
                }
                Ok(())
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
        }
    }

    fn complete(&mut self, value: Value, anchor: usize, nodes: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(Frame::Sequence { items, .. }) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Mapping { map, key, .. }) => {
                match key.take() {
                    Some(k) => {
                        map.insert(k, value);
                    }
                    None => {
                        *key = Some(match value {
                            Value::String(s) => s,
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => "null".into(),
                            _ => return Err("a mapping key that is not a scalar".into()),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

/// A scalar as the YAML 1.2 core schema reads it: quoted scalars and `!!str` are strings.
fn scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    if style != TScalarStyle::Plain || tag == Some("str") {
        return Ok(Value::String(text));
    }
    Ok(match Yaml::from_str(&text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => match r.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            // `.inf`, `.nan` and the like have no JSON form.
            None => Value::String(r),
        },
        _ => Value::String(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const YAML_DOC: &str = "openapi: 3.1.0\ninfo:\n  title: Todos\n  version: '1.0'\nservers:\n  - url: https://api.internal.example.com/v1\n    description: production\n  - url: http://10.0.0.5\npaths:\n  /todos:\n    get:\n      operationId: listTodos\n      description: |\n        Lists todos.\n        Two lines.\n      responses:\n        200:\n          description: ok\n        '404':\n          description: \"yes\"\n";

    #[test]
    fn formats_come_from_paths_and_content_types() {
        assert_eq!(DocFormat::from_path("/openapi.YAML"), Some(DocFormat::Yaml));
        assert_eq!(DocFormat::from_path("/openapi.yml"), Some(DocFormat::Yaml));
        assert_eq!(DocFormat::from_path("/openapi.json"), Some(DocFormat::Json));
        assert_eq!(DocFormat::from_path("/openapi"), None);
        assert_eq!(
            DocFormat::from_content_type("application/vnd.oai.openapi+json;version=3.1"),
            Some(DocFormat::Json)
        );
        assert_eq!(
            DocFormat::from_content_type("text/yaml; charset=utf-8"),
            Some(DocFormat::Yaml)
        );
        assert_eq!(DocFormat::from_content_type("text/plain"), None);
    }

    #[test]
    fn yaml_is_read_with_core_schema_types() {
        let doc = parse(YAML_DOC.as_bytes(), None).unwrap();
        assert_eq!(doc["info"]["version"], "1.0");
        let get = &doc["paths"]["/todos"]["get"];
        assert_eq!(get["description"], "Lists todos.\nTwo lines.\n");
        assert_eq!(get["responses"]["200"]["description"], "ok");
        assert_eq!(get["responses"]["404"]["description"], "yes");
        // Key order is kept.
        let keys: Vec<_> = doc.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["openapi", "info", "servers", "paths"]);
    }

    #[test]
    fn path_and_operation_servers_are_not_published() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "servers": [{"url": "https://origin.internal"}],
            "paths": {
                "/upload": {
                    "servers": [{"url": "https://upload.internal/v2"}],
                    "post": {"servers": [{"url": "https://upload2.internal"}], "callbacks": {},
                        "responses": {"201": {"description": "ok", "links": {"get": {"operationId": "g", "server": {"url": "https://link.internal"}}}}}},
                    "parameters": []
                }
            },
            "components": {
                "pathItems": {"P": {"servers": [{"url": "https://p.internal"}], "get": {"servers": []}}},
                "links": {"L": {"operationId": "g", "server": {"url": "https://l.internal"}}}
            }
        });
        point_servers_at(&mut doc, "https://gw.example");
        let text = doc.to_string();
        assert!(!text.contains(".internal"), "{text}");
        assert_eq!(doc["servers"], json!([{"url": "https://gw.example"}]));
        assert!(doc["paths"]["/upload"]["post"].get("callbacks").is_some());
    }

    #[test]
    fn servers_point_at_the_gateway_only() {
        let published = publish(
            YAML_DOC.as_bytes(),
            Some(DocFormat::Yaml),
            "https://todo.example.com",
            DocFormat::Json,
        )
        .unwrap();
        assert_eq!(published.content_type, "application/json");
        let doc: Value = serde_json::from_slice(&published.body).unwrap();
        assert_eq!(
            doc["servers"],
            json!([{ "url": "https://todo.example.com", "description": "production" }])
        );
        let text = String::from_utf8(published.body).unwrap();
        assert!(!text.contains("internal") && !text.contains("10.0.0.5"));

        let yaml = publish(
            YAML_DOC.as_bytes(),
            None,
            "https://todo.example.com",
            DocFormat::Yaml,
        )
        .unwrap();
        assert_eq!(yaml.content_type, "application/yaml; charset=utf-8");
        let text = String::from_utf8(yaml.body).unwrap();
        assert!(text.contains("url: \"https://todo.example.com\""), "{text}");
        assert!(text.contains("operationId: listTodos"), "{text}");
    }

    #[test]
    fn swagger_documents_get_host_and_schemes() {
        let mut doc = json!({ "swagger": "2.0", "host": "api.internal:8080", "basePath": "/v1", "schemes": ["http"] });
        point_servers_at(&mut doc, "https://todo.example.com");
        assert_eq!(doc["host"], "todo.example.com");
        assert_eq!(doc["schemes"], json!(["https"]));
        assert!(doc.get("basePath").is_none());
    }

    #[test]
    fn yaml_output_reads_back_identically() {
        let tricky = json!({
            "openapi": "3.0.3",
            "info": { "title": "x: y # z", "version": "012" },
            "x-strings": ["yes", "on", "1.0", "0o17", "~", "null", "", " padded ", "- dash", "@at", "multi\nline\n"],
            "x-numbers": [0, -1, 1.5, 1e300, 9007199254740993_u64],
            "x-bools": [true, false],
            "x-empty": { "a": [], "b": {} },
            "paths": {}
        });
        let body = render(&tricky, DocFormat::Yaml);
        let read_back = parse(&body, Some(DocFormat::Yaml)).unwrap();
        assert_eq!(read_back, tricky);
        let json_body = render(&tricky, DocFormat::Json);
        assert_eq!(parse(&json_body, None).unwrap(), tricky);
    }

    #[test]
    fn numbers_survive_both_renderings_exactly() {
        // Found by the fuzzer: a plain scalar too long for i64 is a float, and its JSON text must
        // read back to the very same f64 (serde_json's exact float parsing).
        let yaml = format!("openapi: 3.1.0\nx: {}\ny: 0.1\nz: 1e-300\n", "4".repeat(46));
        let doc = parse(yaml.as_bytes(), None).unwrap();
        for format in [DocFormat::Json, DocFormat::Yaml] {
            assert_eq!(parse(&render(&doc, format), Some(format)).unwrap(), doc);
        }
    }

    #[test]
    fn anchors_expand_within_budget_and_bombs_fail_fast() {
        let ok = "openapi: 3.1.0\ncomponents:\n  a: &a {type: string}\n  b: *a\npaths: {}\n";
        let doc = parse(ok.as_bytes(), None).unwrap();
        assert_eq!(doc["components"]["b"], json!({ "type": "string" }));

        let mut bomb = String::from("openapi: 3.1.0\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        match parse(bomb.as_bytes(), None) {
            Err(DocumentError::Malformed(why)) => assert!(why.contains("nodes"), "{why}"),
            other => panic!("expected the node budget to stop it, got {other:?}"),
        }
    }

    #[test]
    fn bad_documents_are_named() {
        assert_eq!(
            parse(b"{\"info\": {}}", None),
            Err(DocumentError::NotOpenApi)
        );
        assert!(matches!(
            parse(b"openapi: [unclosed", None),
            Err(DocumentError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"\xff\xfe", None),
            Err(DocumentError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"openapi: 3.1.0\n---\nopenapi: 3.1.0\n", None),
            Err(DocumentError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"? [a, b]\n: c\nopenapi: 3.1.0\n", None),
            Err(DocumentError::Malformed(_))
        ));
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(parse(&big, None), Err(DocumentError::TooLarge));
        let deep = format!("openapi: 1\nx: {}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(
            matches!(parse(deep.as_bytes(), None), Err(DocumentError::Malformed(ref why)) if *why == "YAML: recursion limit exceeded at byte 269 line 2 column 259")
        );
    }

    #[test]
    fn freshness_follows_cache_control() {
        assert_eq!(freshness_secs(None, 300), 300);
        assert_eq!(freshness_secs(Some("public, max-age=60"), 300), 60);
        assert_eq!(freshness_secs(Some("max-age=600, s-maxage=30"), 300), 30);
        assert_eq!(freshness_secs(Some("no-store"), 300), 0);
        assert_eq!(freshness_secs(Some("no-cache, max-age=60"), 300), 0);
        assert_eq!(
            freshness_secs(Some("max-age=99999999"), 300),
            STALE_IF_ERROR_SECS
        );
        assert_eq!(freshness_secs(Some("private"), 300), 300);
    }

    #[test]
    fn the_cache_serves_fresh_then_stale_then_nothing() {
        let mut cache = DocumentCache::default();
        assert!(matches!(cache.lookup("p", 0), Lookup::Stale(None)));
        let doc = Published {
            body: b"{}".to_vec(),
            content_type: "application/json",
        };
        cache.store("p", doc, 1000, 60);
        assert!(matches!(cache.lookup("p", 1059), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup("p", 1060), Lookup::Stale(Some(_))));
        assert!(matches!(cache.lookup("other", 1000), Lookup::Stale(None)));
        assert!(matches!(
            cache.lookup("p", 1060 + STALE_IF_ERROR_SECS),
            Lookup::Stale(None)
        ));
    }
}
