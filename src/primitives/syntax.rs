//! The shapes of tokens and words the gateway accepts: scope tokens, grant handles, email
//! addresses. Syntax only; what they mean is decided elsewhere.

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by spaces.
pub fn is_scope_char(c: char) -> bool {
    c == ' ' || c == '\x21' || ('\x23'..='\x5b').contains(&c) || ('\x5d'..='\x7e').contains(&c)
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no whitespace.
/// (Deliverability is the mail system's business; this only catches what is clearly not one.)
pub fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// RFC 9110 §11.2 token68: the characters of a bearer token or a base64 credential.
pub fn is_token68(text: &str) -> bool {
    text.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
    })
}

/// Splits a `<grant id>.<secret>` handle, checking both parts' shape.
pub fn split_handle(handle: &str) -> Option<(&str, &str)> {
    let (id, secret) = handle.split_once('.')?;
    let b64url = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (b64url(id, 22) && b64url(secret, 43)).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_characters_are_rfc6749s() {
        assert!("todos:read offline_access".chars().all(is_scope_char));
        for bad in ['"', '\\', '\x7f', '\u{e9}', '\t'] {
            assert!(!is_scope_char(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert!(looks_like_email("ann@example.com"));
        for bad in [
            "ann",
            "@example.com",
            "ann@example",
            "ann@.com",
            "a n@example.com",
            "a@b@c.com",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn a_handle_is_two_base64url_parts_of_fixed_length() {
        let id = "a".repeat(22);
        let secret = "B-_".repeat(14) + "c";
        assert_eq!(
            split_handle(&format!("{id}.{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
        assert_eq!(split_handle(&format!("{id}.{secret}x")), None);
        assert_eq!(split_handle(&format!("{id}+{secret}")), None);
        assert_eq!(split_handle(&format!("{}.{secret}", "a".repeat(21))), None);
    }
}
