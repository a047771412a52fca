//! Mail as the outbox carries it (a [`Mail`], to one address, in both forms) and how the
//! deployment sends it ([`MailSettings`]: the sender, the binding or Resend). What each mail says
//! is `mail_texts`.

/// A mail to send: to one address, in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where mail goes out, and from whom: deployment-wide (`MAIL_FROM`, `MAIL_PROVIDER`).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The sender's address (a domain the provider lets this account send from).
    pub from_address: String,
    /// The sender's name as mail clients show it; empty for the address alone.
    pub from_name: String,
    pub delivery: Delivery,
}

/// How mail is delivered.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Cloudflare's `send_email` binding (Email Service), named `EMAIL`; `wrangler dev` keeps
    /// every mail in its local explorer instead of sending it.
    Binding,
    /// Resend's HTTP API: one bearer key, a JSON body, no request signing to carry in the Worker.
    Resend {
        api_key: crate::primitives::secret::Secret,
        /// `https://api.resend.com`, or a local stand-in in tests.
        api_base: String,
    },
}

/// The name of the `send_email` binding.
pub const MAIL_BINDING: &str = "EMAIL";
pub const RESEND_API_BASE: &str = "https://api.resend.com";

impl MailSettings {
    /// `Name <address>` as `MAIL_FROM` writes it, or a bare address.
    pub fn parse_from(text: &str) -> Result<(String, String), &'static str> {
        const WHY: &str = "the sender, as `Name <no-reply@your.domain>` or `no-reply@your.domain`";
        let text = text.trim();
        let (name, address) = match text.rsplit_once('<') {
            Some((name, rest)) => (
                name.trim().trim_matches('"').trim(),
                rest.strip_suffix('>').ok_or(WHY)?.trim(),
            ),
            None => ("", text),
        };
        if !crate::primitives::syntax::looks_like_email(address)
            || name
                .chars()
                .any(|c| c.is_control() || matches!(c, '<' | '>' | '"'))
        {
            return Err(WHY);
        }
        Ok((name.to_string(), address.to_string()))
    }

    /// The sender as a header writes it.
    pub fn from_header(&self) -> String {
        if self.from_name.is_empty() {
            self.from_address.clone()
        } else {
            format!("{} <{}>", self.from_name, self.from_address)
        }
    }

    /// The `send_email` binding's message (Email Service's structured form).
    pub fn binding_message(&self, mail: &Mail) -> serde_json::Value {
        serde_json::json!({
            "from": {"email": self.from_address, "name": self.from_name},
            "to": mail.to,
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
        })
    }

    /// Resend's `POST /emails` body.
    pub fn resend_body(&self, mail: &Mail) -> serde_json::Value {
        serde_json::json!({
            "from": self.from_header(),
            "to": [mail.to],
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_read_as_mail_from_writes_them() {
        assert_eq!(
            MailSettings::parse_from("Todo <no-reply@todo.example>"),
            Ok(("Todo".into(), "no-reply@todo.example".into()))
        );
        assert_eq!(
            MailSettings::parse_from("\"Todo App\" <a@b.example>"),
            Ok(("Todo App".into(), "a@b.example".into()))
        );
        assert_eq!(
            MailSettings::parse_from(" a@b.example "),
            Ok((String::new(), "a@b.example".into()))
        );
        for bad in [
            "",
            "Todo",
            "Todo <a@b.example",
            "To\ndo <a@b.example>",
            "<>",
            "a@",
        ] {
            assert!(MailSettings::parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
