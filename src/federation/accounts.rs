//! Whose account a verified upstream identity is: the one decision of a federated sign-in,
//! made from what the directory holds, with no I/O.
//!
//! - An identity is found by (provider, subject), never by email alone.
//! - An identity whose email is an existing user's is linked to that user only when the provider
//!   asserts the email is verified, the provider allows linking by email, and the user proves
//!   the account with its password (an attacker who controls an unverified address at some
//!   provider takes over nobody; one who controls a verified address still needs the password).
//! - A signed-in user may link any identity not already someone else's, from their account page.
//! - Anyone else is given an account just in time, when the provider provisions, the email is
//!   verified (the directory's users all have one, and it is what an administrator finds them
//!   by), and its domain is allowed; with the provider's default and per-domain roles.

use super::{IdentityProvider, UpstreamIdentity};
use crate::ports::User;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The identity is linked: sign its user in.
    SignIn(User),
    /// A signed-in user is linking this identity from their account page (`already`: it is
    /// theirs already, as when they connect the provider again).
    Link {
        user: User,
        already: bool,
    },
    /// The verified email is this user's: link once they prove the account.
    ProveAccount(User),
    /// Nobody has this identity or its email: create a user with these roles.
    Provision {
        roles: Vec<String>,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user the identity leads to is disabled.
    Disabled,
    /// Linking from the account page an identity that is another user's.
    LinkedToAnother,
    /// The email is an existing user's, and the provider does not say it is verified.
    EmailUnverified,
    /// The email is an existing user's, and this provider does not link by email.
    LinkingOff,
    /// The email is an existing user's, who has no password to prove the account with.
    NoWayToProve,
    /// No account, and no verified email to make one with.
    NoVerifiedEmail,
    /// No account, and the email's domain is not one this provider provisions.
    DomainNotAllowed,
    /// No account, and this provider does not make new ones.
    ProvisioningOff,
}

/// The page a refused upstream sign-in shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalPage {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

impl Refusal {
    /// What the page says: one status and one text for every reason. Which reason it was would
    /// tell whether an address has an account here (an unverified match against nobody, a
    /// disabled account against a domain not provisioned), and at some providers anyone can
    /// claim any address; so the reason goes to the log line only ([`Refusal::as_str`]), as
    /// [`crate::error::ApiError`] keeps its internal reasons.
    pub fn page(self, provider: &str) -> RefusalPage {
        RefusalPage {
            status: 403,
            title: "Sign-in did not complete",
            message: format!(
                "This {provider} sign-in cannot be used here. If you have an account, sign in the way you usually do, then link {provider} from your account page; if that does not work, or you have no account, ask an administrator."
            ),
        }
    }

    /// For the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::LinkedToAnother => "linked_to_another",
            Refusal::EmailUnverified => "email_unverified",
            Refusal::LinkingOff => "linking_off",
            Refusal::NoWayToProve => "no_way_to_prove",
            Refusal::NoVerifiedEmail => "no_verified_email",
            Refusal::DomainNotAllowed => "domain_not_allowed",
            Refusal::ProvisioningOff => "provisioning_off",
        }
    }
}

/// Decides, from the user the identity is linked to (`linked`), the user whose email it carries
/// (`by_email`), the signed-in user linking it from their account page (`linking`), and whether
/// the plugin takes passwords (the only proof of an existing account a stranger can give).
pub fn resolve(
    provider: &IdentityProvider,
    identity: &UpstreamIdentity,
    linked: Option<User>,
    by_email: Option<User>,
    linking: Option<User>,
    passwords: bool,
) -> Resolution {
    if let Some(me) = linking {
        return match linked {
            Some(other) if other.id != me.id => Resolution::Refused(Refusal::LinkedToAnother),
            Some(_) => Resolution::Link {
                user: me,
                already: true,
            },
            None => Resolution::Link {
                user: me,
                already: false,
            },
        };
    }
    if let Some(user) = linked {
        return if user.disabled {
            Resolution::Refused(Refusal::Disabled)
        } else {
            Resolution::SignIn(user)
        };
    }
    if let Some(user) = by_email.filter(|_| !identity.email.is_empty()) {
        return Resolution::Refused(if !identity.email_verified {
            Refusal::EmailUnverified
        } else if !provider.link_by_email {
            Refusal::LinkingOff
        } else if user.disabled {
            Refusal::Disabled
        } else if user.password_hash.is_none() || !passwords {
            Refusal::NoWayToProve
        } else {
            return Resolution::ProveAccount(user);
        });
    }
    if !identity.email_verified {
        return Resolution::Refused(Refusal::NoVerifiedEmail);
    }
    if !provider.provisioning.enabled {
        return Resolution::Refused(Refusal::ProvisioningOff);
    }
    match provider.provisioning.roles_for(&identity.email) {
        Some(roles) => Resolution::Provision { roles },
        None => Resolution::Refused(Refusal::DomainNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::{ClientAuth, ProviderKind, Provisioning};
    use crate::primitives::secret::Secret;

    fn provider() -> IdentityProvider {
        IdentityProvider {
            id: "idp".into(),
            name: "IdP".into(),
            kind: ProviderKind::Oidc {
                issuer: "https://idp.example.com".into(),
                allowed_tenants: vec![],
            },
            client_id: "c".into(),
            client_secret: Secret::new("s".into()),
            client_auth: ClientAuth::Basic,
            scopes: vec!["openid".into()],
            provisioning: Provisioning {
                enabled: true,
                allowed_domains: vec![],
                default_roles: vec!["viewer".into()],
                domain_roles: vec![("acme.com".into(), vec!["member".into()])],
            },
            link_by_email: true,
            keep_tokens: false,
        }
    }

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            email: format!("{id}@acme.com"),
            name: String::new(),
            password_hash: Some("pbkdf2-sha256$1$x$y".into()),
            disabled: false,
            session_epoch: 0,
        }
    }

    fn identity(email: &str, verified: bool) -> UpstreamIdentity {
        UpstreamIdentity {
            subject: "sub-1".into(),
            email: email.into(),
            email_verified: verified,
            name: String::new(),
        }
    }

    /// A refusal and what leads to it: the provider, the identity, the users (linked to it, of
    /// its email, signed in and linking) and whether the plugin takes passwords.
    type Case = (
        Refusal,
        IdentityProvider,
        UpstreamIdentity,
        [Option<User>; 3],
        bool,
    );

    /// Every way the decision refuses, with the inputs that lead there.
    fn every_refusal() -> Vec<Case> {
        let disabled = User {
            disabled: true,
            ..user("ada")
        };
        let no_password = User {
            password_hash: None,
            ..user("ada")
        };
        let linking_off = IdentityProvider {
            link_by_email: false,
            ..provider()
        };
        let mut closed = provider();
        closed.provisioning.enabled = false;
        let mut acme_only = provider();
        acme_only.provisioning.allowed_domains = vec!["acme.com".into()];
        let ada = |verified| identity("ada@acme.com", verified);
        vec![
            (
                Refusal::Disabled,
                provider(),
                ada(true),
                [Some(disabled.clone()), None, None],
                true,
            ),
            (
                Refusal::Disabled,
                provider(),
                ada(true),
                [None, Some(disabled), None],
                true,
            ),
            (
                Refusal::LinkedToAnother,
                provider(),
                ada(true),
                [Some(user("bob")), None, Some(user("ada"))],
                true,
            ),
            (
                Refusal::EmailUnverified,
                provider(),
                ada(false),
                [None, Some(user("ada")), None],
                true,
            ),
            (
                Refusal::LinkingOff,
                linking_off,
                ada(true),
                [None, Some(user("ada")), None],
                true,
            ),
            (
                Refusal::NoWayToProve,
                provider(),
                ada(true),
                [None, Some(no_password), None],
                true,
            ),
            (
                Refusal::NoWayToProve,
                provider(),
                ada(true),
                [None, Some(user("ada")), None],
                false,
            ),
            (
                Refusal::NoVerifiedEmail,
                provider(),
                identity("nobody@acme.com", false),
                [None, None, None],
                true,
            ),
            (
                Refusal::NoVerifiedEmail,
                provider(),
                identity("", false),
                [None, None, None],
                true,
            ),
            (
                Refusal::DomainNotAllowed,
                acme_only,
                identity("new@gmail.com", true),
                [None, None, None],
                true,
            ),
            (
                Refusal::ProvisioningOff,
                closed,
                identity("new@acme.com", true),
                [None, None, None],
                true,
            ),
        ]
    }

    /// Each variant's place, by an exhaustive match: a new reason does not compile until it is
    /// placed here, and the test below then fails until the table leads to it.
    fn place(r: Refusal) -> usize {
        match r {
            Refusal::Disabled => 0,
            Refusal::LinkedToAnother => 1,
            Refusal::EmailUnverified => 2,
            Refusal::LinkingOff => 3,
            Refusal::NoWayToProve => 4,
            Refusal::NoVerifiedEmail => 5,
            Refusal::DomainNotAllowed => 6,
            Refusal::ProvisioningOff => 7,
        }
    }
    const REASONS: usize = 8;

    #[test]
    fn every_refusal_shows_the_same_page_and_only_the_log_tells_them_apart() {
        let mut seen = [false; REASONS];
        let mut pages = Vec::new();
        let mut logged = std::collections::BTreeSet::new();
        for (why, p, id, [linked, by_email, linking], passwords) in every_refusal() {
            assert_eq!(
                resolve(&p, &id, linked, by_email, linking, passwords),
                Resolution::Refused(why),
                "{why:?}"
            );
            seen[place(why)] = true;
            pages.push((why, why.page(&p.name)));
            logged.insert(why.as_str());
        }
        assert!(
            seen.iter().all(|s| *s),
            "the table leads to every reason: {seen:?}"
        );
        let (_, first) = &pages[0];
        for (why, page) in &pages {
            assert_eq!(page, first, "{why:?} shows a page of its own");
        }
        // What tells them apart is the log line's reason, one per variant.
        assert_eq!(logged.len(), REASONS);
    }

    #[test]
    fn a_linked_identity_signs_its_user_in_whatever_its_email_says() {
        let r = resolve(
            &provider(),
            &identity("someone-else@acme.com", false),
            Some(user("ada")),
            Some(user("bob")),
            None,
            true,
        );
        assert_eq!(r, Resolution::SignIn(user("ada")));
        let disabled = User {
            disabled: true,
            ..user("ada")
        };
        assert_eq!(
            resolve(
                &provider(),
                &identity("", false),
                Some(disabled),
                None,
                None,
                true,
            ),
            Resolution::Refused(Refusal::Disabled)
        );
    }

    #[test]
    fn an_email_match_links_only_verified_with_proof() {
        let p = provider();
        assert_eq!(
            resolve(
                &p,
                &identity("ada@acme.com", true),
                None,
                Some(user("ada")),
                None,
                true,
            ),
            Resolution::ProveAccount(user("ada"))
        );
        assert_eq!(
            resolve(
                &p,
                &identity("ada@acme.com", false),
                None,
                Some(user("ada")),
                None,
                true,
            ),
            Resolution::Refused(Refusal::EmailUnverified)
        );
        let no_password = User {
            password_hash: None,
            ..user("ada")
        };
        assert_eq!(
            resolve(
                &p,
                &identity("ada@acme.com", true),
                None,
                Some(no_password),
                None,
                true,
            ),
            Resolution::Refused(Refusal::NoWayToProve)
        );
        assert_eq!(
            resolve(
                &p,
                &identity("ada@acme.com", true),
                None,
                Some(user("ada")),
                None,
                false
            ),
            Resolution::Refused(Refusal::NoWayToProve),
            "a plugin without passwords cannot ask for one"
        );
        let off = IdentityProvider {
            link_by_email: false,
            ..provider()
        };
        assert_eq!(
            resolve(
                &off,
                &identity("ada@acme.com", true),
                None,
                Some(user("ada")),
                None,
                true,
            ),
            Resolution::Refused(Refusal::LinkingOff)
        );
    }

    #[test]
    fn strangers_are_provisioned_with_verified_emails_in_allowed_domains() {
        let p = provider();
        assert_eq!(
            resolve(&p, &identity("new@acme.com", true), None, None, None, true),
            Resolution::Provision {
                roles: vec!["member".into(), "viewer".into()]
            }
        );
        assert_eq!(
            resolve(&p, &identity("new@gmail.com", true), None, None, None, true),
            Resolution::Provision {
                roles: vec!["viewer".into()]
            }
        );
        assert_eq!(
            resolve(&p, &identity("new@acme.com", false), None, None, None, true),
            Resolution::Refused(Refusal::NoVerifiedEmail)
        );
        assert_eq!(
            resolve(&p, &identity("", false), None, None, None, true),
            Resolution::Refused(Refusal::NoVerifiedEmail)
        );
        let mut closed = provider();
        closed.provisioning.enabled = false;
        assert_eq!(
            resolve(
                &closed,
                &identity("new@acme.com", true),
                None,
                None,
                None,
                true
            ),
            Resolution::Refused(Refusal::ProvisioningOff)
        );
        let mut acme_only = provider();
        acme_only.provisioning.allowed_domains = vec!["acme.com".into()];
        assert_eq!(
            resolve(
                &acme_only,
                &identity("new@gmail.com", true),
                None,
                None,
                None,
                true,
            ),
            Resolution::Refused(Refusal::DomainNotAllowed)
        );
    }

    #[test]
    fn linking_from_the_account_page_takes_only_identities_nobody_else_holds() {
        let p = provider();
        assert_eq!(
            resolve(
                &p,
                &identity("x@y.com", false),
                None,
                None,
                Some(user("ada")),
                true,
            ),
            Resolution::Link {
                user: user("ada"),
                already: false
            }
        );
        assert_eq!(
            resolve(
                &p,
                &identity("x@y.com", false),
                Some(user("ada")),
                None,
                Some(user("ada")),
                true,
            ),
            Resolution::Link {
                user: user("ada"),
                already: true
            }
        );
        assert_eq!(
            resolve(
                &p,
                &identity("x@y.com", true),
                Some(user("bob")),
                None,
                Some(user("ada")),
                true,
            ),
            Resolution::Refused(Refusal::LinkedToAnother)
        );
    }
}
