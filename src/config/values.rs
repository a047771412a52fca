//! Single configuration values read and checked, each error naming its key: lifetimes in
//! seconds, base and origin URLs, bounded text.

use url::Url;

use super::ConfigError;

pub(crate) fn seconds(
    key: &str,
    value: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match value {
        None | Some("") => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!("seconds between {min} and {max}, got {text:?}"),
                )
            }),
    }
}

pub(crate) fn parse_base_url(key: &str, value: Option<&str>) -> Result<String, ConfigError> {
    let text = value.ok_or_else(|| {
        ConfigError::new(
            key,
            "the public base URL clients reach the gateway at, e.g. https://todo.example.com",
        )
    })?;
    let url = parse_absolute_http_url(key, text)?;
    if url.path() != "/" || url.query().is_some() {
        return Err(ConfigError::new(
            key,
            format!("an origin without path or query (scheme://host[:port]), got {text:?}"),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub(crate) fn parse_absolute_http_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| {
        ConfigError::new(key, format!("an absolute http(s) URL, got {text:?} ({e})"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            key,
            format!("an absolute http(s) URL, got {text:?}"),
        ));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            key,
            format!("a URL without credentials or fragment, got {text:?}"),
        ));
    }
    Ok(url)
}

pub(crate) fn required(
    key: &str,
    value: Option<String>,
    expected: &str,
) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::new(key, expected)),
    }
}

pub(crate) fn bounded(
    key: &str,
    value: Option<String>,
    max_chars: usize,
) -> Result<String, ConfigError> {
    let value = required(key, value, &format!("text of 1 to {max_chars} characters"))?;
    let count = value.chars().count();
    if count > max_chars {
        return Err(ConfigError::new(
            key,
            format!("at most {max_chars} characters, got {count}"),
        ));
    }
    Ok(value)
}

pub(crate) fn resolve_public_url(key: &str, text: &str, base: &str) -> Result<String, ConfigError> {
    if text.starts_with('/') && !text.starts_with("//") {
        return Ok(format!("{base}{text}"));
    }
    Ok(parse_absolute_http_url(key, text)?.as_str().to_string())
}
/// A table arrives as an object; `--var NAME:{...}` or a dashboard text variable as a JSON
/// string. An empty string counts as unset, so a command line can clear wrangler.toml's table.
pub(crate) fn table_value(
    key: &str,
    v: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, ConfigError> {
    match v {
        None => Ok(None),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(text)) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ConfigError::new(key, format!("JSON: {e}"))),
        Some(other) => Ok(Some(other)),
    }
}
