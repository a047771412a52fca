//! What upstream identity providers and Stripe send the gateway: discovery documents, token
//! responses, ID tokens (split and their claims checked), userinfo, GitHub's API, Stripe-Signature
//! headers and webhook events, what clients send as DPoP proofs, signed agents' signature
//! headers and key directories, and enterprise identity assertions. None of it may panic, and a claims check passes only what it must.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::billing::stripe::{parse_event, verify_signature};
use portcullis::federation::oidc::{
    check_id_token, merge_userinfo, parse_discovery, parse_id_token, parse_token_response, Expected,
};
use portcullis::federation::{github, UpstreamIdentity};
use portcullis::oauth::client_assertion::JwsAlgorithm;
use portcullis::primitives::secret::Secret;

const NOW: i64 = 1_790_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_discovery("https://idp.example.com", data);
    let _ = parse_token_response(200, "application/json", data);
    let _ = parse_token_response(200, "application/x-www-form-urlencoded", data);
    if let Ok(jws) = parse_id_token(&text, &JwsAlgorithm::ALL) {
        let expected = Expected {
            issuer: "https://login.microsoftonline.com/{tenantid}/v2.0",
            client_id: "gateway",
            nonce: "n",
            now: NOW,
            allowed_tenants: &[],
        };
        if let Ok(identity) = check_id_token(&jws.claims, &expected) {
            assert!(!identity.subject.is_empty() && identity.subject.len() <= 255);
            assert!(identity.email_verified <= !identity.email.is_empty());
            assert_eq!(jws.claims.get("nonce").and_then(|n| n.as_str()), Some("n"));
        }
    }
    let seed = UpstreamIdentity { subject: "s".into(), email: String::new(), email_verified: false, name: String::new() };
    if let Ok(merged) = merge_userinfo(seed, data) {
        assert_eq!(merged.subject, "s");
    }
    let _ = github::identity((200, data), (200, data));
    let secrets = [Secret::new("whsec_fuzz".into())];
    let _ = verify_signature(Some(&text), b"{}", &secrets, NOW);
    let _ = parse_event(data);
    // DPoP proofs (RFC 9449): whatever a client sends in the header.
    let expected = portcullis::oauth::dpop::Expected {
        method: "POST",
        url: "https://todo.example.com/token",
        access_token: Some("t"),
        nonce: None,
        now: NOW,
    };
    if let Ok(proof) = portcullis::oauth::dpop::check_proof(&text, &expected) {
        assert_eq!(proof.jkt, proof.key.thumbprint());
    }
    // Signed agents (RFC 9421): the input split into the three headers, and as a key directory.
    use portcullis::http::{Method, RequestHead};
    use portcullis::proxy::signed_agent::{parse_directory, read, Target};
    let mut parts = text.splitn(3, '\n');
    let (input, signature, agent) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let mut head = RequestHead::new(Method::Get, "/todos")
        .with_header("signature-input", input)
        .with_header("signature", signature);
    if let Some(agent) = agent {
        head = head.with_header("signature-agent", agent);
    }
    let target = Target { method: "GET", scheme: "https", authority: "todo.example.com" };
    if let Ok(Some(call)) = read(&head, &target, NOW) {
        assert!(call.expires > NOW && call.created <= NOW + 60);
        assert!(String::from_utf8_lossy(&call.base).contains("\"@authority\": todo.example.com"));
    }
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok((keys, _)) = parse_directory(&document, NOW) {
            assert!(!keys.is_empty());
        }
    }
    // Identity assertions (ID-JAG) from enterprise providers.
    use portcullis::oauth::id_jag::{check_claims, EnterpriseIdp};
    if let Ok(jws) = portcullis::oauth::client_assertion::parse_compact_jws(&text, 16 * 1024) {
        let idp = EnterpriseIdp {
            id: "acme".into(),
            issuer: "https://idp.example".into(),
            jwks_uri: "https://idp.example/keys".into(),
            clients: vec!["app".into()],
            provision: true,
            default_roles: vec!["member".into()],
            allowed_domains: vec![],
            link_by_email: false,
        };
        if let Ok(a) = check_claims(&jws, &idp, "https://todo.example.com", "https://todo.example.com/token", "app", NOW) {
            assert!(!a.subject.is_empty() && a.expires_at + 60 > NOW);
        }
    }
});
