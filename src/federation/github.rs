//! GitHub's OAuth apps: no ID token, so the user is read from the REST API with the access
//! token: `GET /user` for the stable numeric `id` (the account key: a `login` can be renamed and
//! then taken by someone else) and the name, `GET /user/emails` for the primary email and whether
//! GitHub verified it (the `user:email` scope). Every API call carries a `User-Agent`, which
//! GitHub requires (a request without one is refused with 403).

use serde::Deserialize;

use super::{UpstreamError, UpstreamIdentity};

/// GitHub.com's endpoints; GitHub Enterprise Server and tests configure their own.
pub const AUTHORIZATION_ENDPOINT: &str = "https://github.com/login/oauth/authorize";
pub const TOKEN_ENDPOINT: &str = "https://github.com/login/oauth/access_token";
pub const API_BASE_URL: &str = "https://api.github.com";
/// The scopes that read the profile and the verified emails.
pub const DEFAULT_SCOPES: [&str; 2] = ["read:user", "user:email"];

/// The headers of every API call.
pub const API_HEADERS: [(&str, &str); 3] = [
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
    ("user-agent", "Portcullis"),
];

#[derive(Deserialize)]
struct User {
    id: u64,
    #[serde(default)]
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

fn api_error(what: &str, status: u16) -> UpstreamError {
    if status == 401 || status == 403 {
        UpstreamError::Invalid(format!("GitHub refused {what} ({status})"))
    } else {
        UpstreamError::Unavailable(format!("GitHub answered {what} with {status}"))
    }
}

/// The identity from `GET /user` and `GET /user/emails` (status and body of each). Without the
/// `user:email` scope the email list is refused; the user then has no verified email.
pub fn identity(
    user: (u16, &[u8]),
    emails: (u16, &[u8]),
) -> Result<UpstreamIdentity, UpstreamError> {
    if user.0 != 200 {
        return Err(api_error("/user", user.0));
    }
    let profile: User = serde_json::from_slice(user.1)
        .map_err(|_| UpstreamError::Invalid("GitHub's /user is not a user".into()))?;
    let primary = if emails.0 == 200 {
        let list: Vec<Email> = serde_json::from_slice(emails.1)
            .map_err(|_| UpstreamError::Invalid("GitHub's /user/emails is not a list".into()))?;
        list.into_iter().find(|e| e.primary)
    } else if emails.0 == 403 || emails.0 == 404 {
        None
    } else {
        return Err(api_error("/user/emails", emails.0));
    };
    let (email, verified) = match primary {
        Some(e) if crate::primitives::syntax::looks_like_email(&e.email) => {
            (e.email.to_ascii_lowercase(), e.verified)
        }
        _ => (String::new(), false),
    };
    Ok(UpstreamIdentity {
        subject: profile.id.to_string(),
        email,
        email_verified: verified,
        name: profile
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or(profile.login)
            .chars()
            .take(200)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &[u8] = br#"{"login":"octocat","id":583231,"name":"The Octocat","email":null}"#;

    #[test]
    fn the_account_is_the_numeric_id_and_the_email_the_verified_primary() {
        let emails = br#"[{"email":"old@example.com","primary":false,"verified":true,"visibility":null},
                          {"email":"Octo@Example.com","primary":true,"verified":true,"visibility":"private"}]"#;
        let id = identity((200, USER), (200, emails)).unwrap();
        assert_eq!(id.subject, "583231");
        assert_eq!(id.email, "octo@example.com");
        assert!(id.email_verified);
        assert_eq!(id.name, "The Octocat");
    }

    #[test]
    fn an_unverified_primary_or_no_email_scope_leaves_no_verified_email() {
        let unverified = br#"[{"email":"octo@example.com","primary":true,"verified":false},
                              {"email":"other@example.com","primary":false,"verified":true}]"#;
        let id = identity((200, USER), (200, unverified)).unwrap();
        assert_eq!(id.email, "octo@example.com");
        assert!(
            !id.email_verified,
            "a verified secondary is not the primary"
        );
        let no_scope = identity((200, USER), (403, b"{}")).unwrap();
        assert_eq!(
            (no_scope.email.as_str(), no_scope.email_verified),
            ("", false)
        );
        let login_only = identity((200, br#"{"login":"octocat","id":1}"#), (200, b"[]")).unwrap();
        assert_eq!(login_only.name, "octocat");
    }

    #[test]
    fn api_failures_are_told_apart() {
        assert!(matches!(
            identity((401, b"{}"), (200, b"[]")),
            Err(UpstreamError::Invalid(_))
        ));
        assert!(matches!(
            identity((502, b""), (200, b"[]")),
            Err(UpstreamError::Unavailable(_))
        ));
        assert!(matches!(
            identity((200, USER), (500, b"")),
            Err(UpstreamError::Unavailable(_))
        ));
        assert!(matches!(
            identity((200, b"[]"), (200, b"[]")),
            Err(UpstreamError::Invalid(_))
        ));
        assert!(matches!(
            identity((200, br#"{"login":"x","id":"not-a-number"}"#), (200, b"[]")),
            Err(UpstreamError::Invalid(_))
        ));
    }
}
