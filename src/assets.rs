//! The files under `static/`, compiled into the Worker by `build.rs`: the portal's stylesheet, the
//! admin console, and the plugin's own (its logo, a static OpenAPI document).
//!
//! They are served from memory rather than through a Workers assets binding: with one, the
//! runtime's asset router stands in front of every request the Worker serves, proxied API calls
//! included, and under `wrangler dev` that hop alone cost about 0.14 of the proxy's throughput
//! (BENCHMARKS.md). Which paths are served is the route table's decision (`routes::Endpoint::Asset`);
//! this module only answers for a path it was asked about.

use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};

/// One file under `static/`: its URL path, its bytes and a strong `ETag` of its content.
pub struct StaticFile {
    pub path: &'static str,
    pub body: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/static_files.rs"));

/// The file at `path` (as it appears in a URL: `/logo.svg`), if `static/` has one.
pub fn file(path: &str) -> Option<&'static StaticFile> {
    FILES
        .binary_search_by(|f| f.path.cmp(path))
        .ok()
        .map(|i| &FILES[i])
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
    let console = url_path.starts_with(crate::routes::ADMIN_CONSOLE_PREFIX);
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

    #[test]
    fn types_follow_the_extension_in_any_case() {
        assert_eq!(content_type("/a.PNG"), "image/png");
        assert_eq!(content_type("/openapi.yaml"), "application/yaml");
        assert_eq!(content_type("/noextension"), "application/octet-stream");
    }
}
