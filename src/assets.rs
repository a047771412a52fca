//! The files under `static/`, compiled into the Worker by `build.rs`: the portal's stylesheet, the
//! admin console, and the plugin's own (its logo, a static OpenAPI document).
//!
//! A Worker deployed from the published package cannot compile its owner's files in: there the
//! entry module `portcullis init` writes imports them from the owner's own `static/` and hands
//! them over before the first request ([`provide`]). They then take the place of the compiled-in
//! plugin files (the demo's logo and document, never the owner's to serve); the console's and
//! the portal's files stay the gateway's own.
//!
//! They are served from memory rather than through a Workers assets binding: with one, the
//! runtime's asset router stands in front of every request the Worker serves, proxied API calls
//! included, and under `wrangler dev` that hop alone cost about 0.14 of the proxy's throughput
//! (BENCHMARKS.md). Which paths are served is the route table's decision (`routes::Endpoint::Asset`);
//! this module only answers for a path it was asked about.

use std::cell::RefCell;

use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};

mod etag;

/// One file under `static/`: its URL path, its bytes and a strong `ETag` of its content.
pub struct StaticFile {
    pub path: &'static str,
    pub body: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/static_files.rs"));

thread_local! {
    /// The files the entry module provided, sorted by path (`None`: this crate's own build, whose
    /// compiled-in files are all there is); set once per isolate, before the configuration is
    /// read. Leaked on purpose: they live as long as the isolate.
    static PROVIDED: RefCell<Option<&'static [StaticFile]>> = const { RefCell::new(None) };
}

/// Where the admin console's files are served.
pub const CONSOLE_PREFIX: &str = "/admin/";

/// The paths only the gateway's own files may take.
const RESERVED: [&str; 2] = [CONSOLE_PREFIX, "/portal/"];

/// Files as the entry module provides them: URL path and bytes.
pub type Provided = Vec<(String, Vec<u8>)>;

/// Takes the owner's files (URL path, bytes) that the entry module provides, in place of any
/// given before and of the compiled-in plugin files. A path must be absolute, plain (no `.` or `..` segments, no empty ones, no
/// query) and outside the console's and the portal's; nothing is taken when one is not.
pub fn provide(files: Provided) -> Result<(), String> {
    let mut taken = Vec::with_capacity(files.len());
    for (path, body) in files {
        let plain = path.starts_with('/')
            && path[1..]
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['?', '#', '\\']));
        if !plain {
            return Err(format!(
                "a file path such as /openapi.json (absolute, without empty, . or .. segments), got {path:?}"
            ));
        }
        if RESERVED.iter().any(|r| path.starts_with(r)) {
            return Err(format!(
                "{path}: the console's and the portal's files are the gateway's own"
            ));
        }
        let etag = etag::etag(&body);
        taken.push(StaticFile {
            path: Box::leak(path.into_boxed_str()),
            body: Box::leak(body.into_boxed_slice()),
            etag: Box::leak(etag.into_boxed_str()),
        });
    }
    taken.sort_by(|a, b| a.path.cmp(b.path));
    if let Some(twice) = taken.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(format!("{} is provided twice", twice[0].path));
    }
    let taken: &'static [StaticFile] = Box::leak(taken.into_boxed_slice());
    PROVIDED.with(|p| *p.borrow_mut() = Some(taken));
    Ok(())
}

/// Back to this crate's own build (tests).
#[cfg(test)]
pub(crate) fn unprovide() {
    PROVIDED.with(|p| *p.borrow_mut() = None);
}

/// The file at `path` (as it appears in a URL: `/logo.svg`): when the entry module provided
/// files, one of those or one of the gateway's own; else the one compiled in from `static/`.
pub fn file(path: &str) -> Option<&'static StaticFile> {
    let find = |files: &'static [StaticFile]| {
        files
            .binary_search_by(|f| f.path.cmp(path))
            .ok()
            .map(|i| &files[i])
    };
    match PROVIDED.with(|p| *p.borrow()) {
        Some(provided) if !RESERVED.iter().any(|r| path.starts_with(r)) => find(provided),
        _ => find(FILES),
    }
}

/// The media type a file is served with, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Content-Security-Policy of the admin console: its own script and styles, calls to its own
/// API, nothing else, never framed.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The reply for a GET or HEAD of a file: the file (no body for HEAD), 304 when the caller's
/// `If-None-Match` names its version, 404 when `static/` has no such file. The admin console's
/// files carry the console's security headers and are never cached; the others are revalidated
/// on every use, as a Workers assets binding serves them.
pub fn serve(head: &RequestHead) -> Result<Reply, ApiError> {
    let url_path = head.path.as_str();
    // The console's entry is its directory's index page.
    let path = if url_path.ends_with('/') {
        format!("{url_path}index.html")
    } else {
        url_path.to_string()
    };
    let file = file(&path).ok_or(ApiError::NotFound)?;
    let console = url_path.starts_with(CONSOLE_PREFIX);
    let cache = if console {
        "no-store"
    } else {
        "public, max-age=0, must-revalidate"
    };
    let fresh = head
        .header_values("if-none-match")
        .any(|value| names_version(value, file.etag));
    let mut reply = Reply::new(if fresh { 304 } else { 200 })
        .with_header("etag", file.etag)
        .with_header("cache-control", cache);
    if !fresh {
        reply = reply.with_header("content-type", content_type(&path));
        if head.method() != Method::Head {
            reply.body = file.body.to_vec();
        }
    }
    if console {
        for (name, value) in [
            ("content-security-policy", CONSOLE_CSP),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ] {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

/// Whether an `If-None-Match` value (`*`, or a list of entity tags, weak or strong) names `etag`.
/// RFC 9110 §13.1.2 compares weakly: `W/"x"` matches `"x"`.
fn names_version(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> RequestHead {
        RequestHead::new(Method::Get, path)
    }

    #[test]
    fn every_file_the_deployment_serves_is_compiled_in_and_sorted() {
        for path in crate::routes::BUILT_IN_ASSETS {
            let path = if path.ends_with('/') {
                format!("{path}index.html")
            } else {
                path.to_string()
            };
            assert!(file(&path).is_some(), "{path} is not compiled in");
        }
        assert!(file("/logo.svg").is_some());
        assert!(FILES.windows(2).all(|w| w[0].path < w[1].path));
        // The portal's templates are the pages' business, not files to serve.
        assert!(file("/portal/login.html").is_none());
        let on_disk = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/static/admin/admin.js"
        ))
        .unwrap();
        assert_eq!(file("/admin/admin.js").unwrap().body, on_disk.as_slice());
    }

    #[test]
    fn a_file_is_served_with_its_type_and_version_and_revalidated() {
        let reply = serve(&get("/logo.svg")).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
        assert!(String::from_utf8_lossy(&reply.body).contains("<svg"));
        let etag = reply.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'));

        for sent in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".into(),
        ] {
            let again = serve(&get("/logo.svg").with_header("if-none-match", &sent)).unwrap();
            assert_eq!(again.status, 304, "{sent}");
            assert!(again.body.is_empty());
            assert_eq!(again.header("etag"), Some(etag.as_str()));
        }
        let stale = serve(&get("/logo.svg").with_header("if-none-match", "\"other\"")).unwrap();
        assert_eq!(stale.status, 200);
    }

    #[test]
    fn head_has_the_headers_and_no_body() {
        let reply = serve(&RequestHead::new(Method::Head, "/logo.svg")).unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
    }

    #[test]
    fn the_console_is_its_index_with_its_security_headers() {
        let reply = serve(&get("/admin/")).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(reply
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let script = serve(&get("/admin/admin.js")).unwrap();
        assert_eq!(
            script.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(script.header("x-frame-options"), Some("DENY"));
    }

    #[test]
    fn a_missing_file_is_not_found() {
        assert!(matches!(serve(&get("/nope.svg")), Err(ApiError::NotFound)));
        assert!(matches!(
            serve(&get("/portal/login.html")),
            Err(ApiError::NotFound)
        ));
    }

    /// Resets the isolate's provided files when a test ends, however it ends.
    struct Provided;
    impl Drop for Provided {
        fn drop(&mut self) {
            unprovide();
        }
    }

    #[test]
    fn the_owners_files_stand_in_front_of_the_compiled_in_ones() {
        let _reset = Provided;
        let logo = b"<svg>owner</svg>".to_vec();
        provide(vec![
            ("/openapi.yaml".into(), b"openapi: 3.1.0".to_vec()),
            ("/logo.svg".into(), logo.clone()),
        ])
        .unwrap();
        assert_eq!(file("/logo.svg").unwrap().body, logo.as_slice());
        assert_eq!(file("/openapi.yaml").unwrap().body, b"openapi: 3.1.0");
        // The gateway's own still come from static/; the demo's document is not the owner's.
        assert!(file("/admin/admin.js").is_some());
        assert!(file("/portal/portal.css").is_some());
        assert!(FILES.iter().any(|f| f.path == "/openapi.json"));
        assert!(file("/openapi.json").is_none());
        let reply = serve(&get("/logo.svg")).unwrap();
        assert_eq!(reply.body, logo);
        assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
        let etag = reply.header("etag").unwrap().to_string();
        assert_ne!(
            etag,
            FILES.iter().find(|f| f.path == "/logo.svg").unwrap().etag
        );
        let again = serve(&get("/logo.svg").with_header("if-none-match", &etag)).unwrap();
        assert_eq!(again.status, 304);
        // Provided again, the earlier set is gone; provided none, the demo's stay hidden.
        provide(vec![("/other.json".into(), b"{}".to_vec())]).unwrap();
        assert!(file("/openapi.yaml").is_none());
        assert!(file("/logo.svg").is_none());
        provide(Vec::new()).unwrap();
        assert!(file("/logo.svg").is_none());
        assert!(file("/admin/").is_none() && file("/admin/index.html").is_some());
        unprovide();
        assert!(file("/logo.svg").is_some());
    }

    #[test]
    fn a_bad_or_reserved_path_is_refused_and_nothing_is_taken() {
        let _reset = Provided;
        provide(vec![("/kept.json".into(), b"{}".to_vec())]).unwrap();
        for path in [
            "openapi.json",
            "/",
            "/a/",
            "//x",
            "/a/../admin/admin.js",
            "/./a",
            "/a?b",
            "/a#b",
            "/a\\b",
            "/admin/admin.js",
            "/admin/",
            "/portal/portal.css",
        ] {
            let refused = provide(vec![
                ("/fine.json".into(), b"{}".to_vec()),
                (path.into(), b"x".to_vec()),
            ]);
            assert!(matches!(refused.err().as_deref(), Some("/admin/admin.js: the console's and the portal's files are the gateway's own" | "/portal/portal.css: the console's and the portal's files are the gateway's own" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/./a\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"//x\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/a#b\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/a/../admin/admin.js\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/a/\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/a?b\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/a\\\\b\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"/admin/\"" | "a file path such as /openapi.json (absolute, without empty, . or .. segments), got \"openapi.json\"")), "{path}");
            assert!(file("/fine.json").is_none(), "{path}");
            assert!(file("/kept.json").is_some(), "{path}");
        }
        let twice = provide(vec![
            ("/a.json".into(), b"1".to_vec()),
            ("/a.json".into(), b"2".to_vec()),
        ]);
        assert_eq!(twice, Err("/a.json is provided twice".into()));
    }

    #[test]
    fn compiled_in_files_are_tagged_as_provided_ones_are() {
        for f in FILES {
            assert_eq!(f.etag, etag::etag(f.body), "{}", f.path);
        }
    }

    #[test]
    fn types_follow_the_extension_in_any_case() {
        assert_eq!(content_type("/a.PNG"), "image/png");
        assert_eq!(content_type("/openapi.yaml"), "application/yaml");
        assert_eq!(content_type("/noextension"), "application/octet-stream");
    }
}
