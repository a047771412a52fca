//! Kept upstream tokens on the library API (issue 16): sealed at rest, forwarded fresh, refreshed
//! when they are about to expire, forgotten when the provider refuses them, and gone with any grant
//! the user revokes. The provider is played through the memory backend's upstream answers.

mod common;

use common::{block_on, issued_grant, unseal_aes_gcm, MemoryBackend};
use portcullis::federation::oidc::TokenResponse;
use portcullis::federation::tokens::{
    aad, access_token_for, keep, NoToken, Owner, REFRESH_MARGIN_SECS,
};
use portcullis::federation::{ClientAuth, IdentityProvider, ProviderKind, Provisioning, TokenKey};
use portcullis::oauth::grant_stores::Grants;
use portcullis::ports::{AccountStore, UpstreamResponse};
use portcullis::primitives::secret::Secret;

const NOW: i64 = 1_790_000_000;
const KEY: TokenKey = TokenKey([9u8; 32]);
const TOKEN_ENDPOINT: &str = "https://github.example/login/oauth/access_token";

fn github() -> IdentityProvider {
    IdentityProvider {
        id: "github".into(),
        name: "GitHub".into(),
        kind: ProviderKind::GitHub {
            authorization_endpoint: "https://github.example/login/oauth/authorize".into(),
            token_endpoint: TOKEN_ENDPOINT.into(),
            api_base_url: "https://api.github.example".into(),
        },
        client_id: "Iv1.abc".into(),
        client_secret: Secret::new("s3cret with spaces".into()),
        client_auth: ClientAuth::Basic,
        scopes: vec!["read:user".into()],
        provisioning: Provisioning::default(),
        link_by_email: true,
        keep_tokens: true,
    }
}

fn owner<'a>(user_id: &'a str, subject: &'a str) -> Owner<'a> {
    Owner {
        user_id,
        provider: "github",
        subject,
    }
}

fn tokens(access: &str, refresh: Option<&str>, expires_in: Option<i64>) -> TokenResponse {
    TokenResponse {
        access_token: access.into(),
        id_token: None,
        refresh_token: refresh.map(str::to_string),
        expires_in,
        scope: Some("read:user".into()),
    }
}

fn answer_refresh(backend: &MemoryBackend, status: u16, body: &str) {
    backend.upstream_answers.borrow_mut().insert(
        format!("POST {TOKEN_ENDPOINT}"),
        UpstreamResponse {
            status,
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
        },
    );
}

#[test]
fn tokens_are_sealed_at_rest_and_forwarded_in_the_clear() {
    let b = MemoryBackend::default();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("gho_access", Some("ghr_refresh"), None),
        None,
        NOW,
    ))
    .unwrap();
    let kept = b.kept.borrow()[0].clone();
    assert!(!kept.access_token.contains("gho_access") && kept.access_token.starts_with("v1."));
    assert!(!kept
        .refresh_token
        .as_deref()
        .unwrap()
        .contains("ghr_refresh"));
    assert_eq!(kept.expires_at, None, "no lifetime given: until revoked");
    // Bound to what it is and whose: not another identity's, not the refresh token's place.
    assert_eq!(
        unseal_aes_gcm(
            &KEY.0,
            &kept.access_token,
            &aad("access", "github", "583231")
        )
        .as_deref(),
        Some("gho_access")
    );
    assert_eq!(
        unseal_aes_gcm(&KEY.0, &kept.access_token, &aad("access", "github", "666")),
        None
    );
    assert_eq!(
        unseal_aes_gcm(
            &KEY.0,
            &kept.access_token,
            &aad("refresh", "github", "583231")
        ),
        None
    );

    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 86_400)).unwrap(),
        "gho_access"
    );
    assert!(
        b.upstream_requests.borrow().is_empty(),
        "a token without expiry is never refreshed"
    );
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_2", NOW)),
        Err(NoToken::NotKept)
    );
    // Under another key (UPSTREAM_TOKEN_KEY replaced) nothing opens: the user signs in again.
    assert_eq!(
        block_on(access_token_for(
            &b,
            &github(),
            &TokenKey([1u8; 32]),
            "usr_1",
            NOW
        )),
        Err(NoToken::NotKept)
    );
}

#[test]
fn an_expiring_token_is_refreshed_with_the_client_credentials_and_kept_anew() {
    let b = MemoryBackend::default();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("old", Some("ghr_1"), Some(28_800)),
        None,
        NOW,
    ))
    .unwrap();
    // Still fresh a minute before the margin.
    assert_eq!(
        block_on(access_token_for(
            &b,
            &github(),
            &KEY,
            "usr_1",
            NOW + 28_800 - REFRESH_MARGIN_SECS - 1
        ))
        .unwrap(),
        "old"
    );

    answer_refresh(
        &b,
        200,
        r#"{"access_token":"new","token_type":"bearer","expires_in":28800}"#,
    );
    let later = NOW + 28_800 - 30;
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", later)).unwrap(),
        "new"
    );
    let sent = b.upstream_requests.borrow()[0].clone();
    let form = sent.form.unwrap();
    assert!(
        form.contains("grant_type=refresh_token") && form.contains("refresh_token=ghr_1"),
        "{form}"
    );
    let basic = sent
        .headers
        .iter()
        .find(|(k, _)| *k == "authorization")
        .unwrap()
        .1
        .clone();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim_start_matches("Basic "))
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "Iv1.abc:s3cret+with+spaces",
        "RFC 6749 §2.3.1"
    );
    // Kept anew; without a new refresh token the old one stays.
    let kept = b.kept.borrow()[0].clone();
    assert_eq!(kept.expires_at, Some(later + 28_800));
    assert_eq!(
        unseal_aes_gcm(
            &KEY.0,
            kept.refresh_token.as_deref().unwrap(),
            &aad("refresh", "github", "583231")
        )
        .as_deref(),
        Some("ghr_1")
    );
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", later + 1)).unwrap(),
        "new"
    );
}

#[test]
fn a_refused_refresh_forgets_and_a_silent_provider_keeps() {
    let b = MemoryBackend::default();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("old", Some("ghr_1"), Some(10)),
        None,
        NOW,
    ))
    .unwrap();
    // The provider does not answer: the call may be retried, the tokens stay.
    assert!(matches!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 5)),
        Err(NoToken::Unavailable(_))
    ));
    assert_eq!(b.kept.borrow().len(), 1);
    // GitHub refuses with 200 and an error: forgotten, the user signs in again.
    answer_refresh(
        &b,
        200,
        r#"{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}"#,
    );
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 5)),
        Err(NoToken::NotKept)
    );
    assert!(b.kept.borrow().is_empty());
    // An expired token with no refresh token: none to forward.
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("short", None, Some(10)),
        None,
        NOW,
    ))
    .unwrap();
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 5)),
        Err(NoToken::NotKept)
    );
}

#[test]
fn revoking_a_grant_takes_the_users_upstream_tokens_with_it() {
    let b = MemoryBackend::default();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("gho", None, None),
        None,
        NOW,
    ))
    .unwrap();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_2", "42"),
        &tokens("other", None, None),
        None,
        NOW,
    ))
    .unwrap();
    let grant = issued_grant("gr_1", "usr_1", "chatgpt", NOW);
    block_on(b.record_grant(&grant)).unwrap();
    block_on(Grants::new(&b, &b).revoke("gr_1", NOW)).unwrap();
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW)),
        Err(NoToken::NotKept)
    );
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_2", NOW)).unwrap(),
        "other",
        "only the user's"
    );
}

#[test]
fn only_a_refused_grant_forgets_other_errors_keep_the_tokens() {
    for (status, body) in [
        (
            401,
            r#"{"error":"invalid_client","error_description":"wrong secret"}"#,
        ),
        (200, r#"{"error":"incorrect_client_credentials"}"#),
        (503, r#"{"error":"temporarily_unavailable"}"#),
        (500, "<html>oops</html>"),
    ] {
        let b = MemoryBackend::default();
        block_on(keep(
            &b,
            &KEY,
            owner("usr_1", "583231"),
            &tokens("old", Some("ghr_1"), Some(10)),
            None,
            NOW,
        ))
        .unwrap();
        answer_refresh(&b, status, body);
        let got = block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 5));
        assert!(
            matches!(got, Err(NoToken::Unavailable(_))),
            "{body}: {got:?}"
        );
        assert_eq!(b.kept.borrow().len(), 1, "{body}: kept");
    }
}

#[test]
fn a_parallel_refresh_that_won_serves_the_one_that_lost() {
    let b = MemoryBackend::default();
    block_on(keep(
        &b,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("old", Some("ghr_1"), Some(10)),
        None,
        NOW,
    ))
    .unwrap();
    // Another call refreshes first and stores new tokens; the provider (rotating refresh tokens)
    // then refuses this call's now-used refresh token.
    let winner = MemoryBackend::default();
    block_on(keep(
        &winner,
        &KEY,
        owner("usr_1", "583231"),
        &tokens("won", Some("ghr_2"), Some(28_800)),
        None,
        NOW + 5,
    ))
    .unwrap();
    *b.kept_meanwhile.borrow_mut() = Some(winner.kept.borrow()[0].clone());
    answer_refresh(&b, 400, r#"{"error":"invalid_grant"}"#);
    assert_eq!(
        block_on(access_token_for(&b, &github(), &KEY, "usr_1", NOW + 5)).unwrap(),
        "won"
    );
    assert_eq!(b.kept.borrow().len(), 1, "the winner's tokens stay");
}
