//! One routed request, served natively: from the [`Endpoint`] [`crate::routes::route`] chose, and
//! the request's head and body, to what answers it.
//!
//! The edge asks [`body_to_read`] how much of the body to read, reads it, and hands it to
//! [`App::serve`]; it then performs what the [`Outcome`] names (the proxied call, the health
//! check, the OpenAPI document) and renders the reply. Every decision between (which endpoints
//! exist for this plugin, methods, the admin credential, which handler serves the path) is made
//! here, so the flow tests enter where the edge does.

use crate::admin::Admin;
use crate::config::Config;
use crate::discovery::{plugin_manifest, protected_resource_metadata};
use crate::error::ApiError;
use crate::http::{Method, Reply, RequestHead};
use crate::oauth::server::AuthServer;
use crate::ports::Backend;
use crate::routes::{AdminRoute, AuthEndpoint, Endpoint};
use crate::sql::Sql;

/// What a request comes to.
#[derive(Debug)]
pub enum Outcome {
    /// The answer, made here.
    Reply(Reply),
    /// Forward under the rule at this index of the plugin's route table (the proxied call's own
    /// steps decide the rest).
    Proxy(usize),
    /// The health check, which asks the platform's bindings.
    Health,
    /// The OpenAPI document, from the origin or this isolate's copy of it.
    OpenApi,
}

/// How many bytes of the request body the endpoint reads (`None`: none), once the method and, for
/// the admin API, the credential have been checked: a caller without the admin token never has a
/// body read.
pub fn body_to_read(
    config: &Config,
    endpoint: Endpoint<'_>,
    head: &RequestHead,
) -> Result<Option<usize>, ApiError> {
    admit(config, endpoint, head)?;
    let method = head.method();
    Ok(match endpoint {
        Endpoint::AuthServer(endpoint) if method == Method::Post => Some(endpoint.max_body_bytes()),
        Endpoint::Admin(_) if matches!(method, Method::Post | Method::Put | Method::Patch) => {
            Some(crate::admin::MAX_ADMIN_BODY_BYTES)
        }
        _ => None,
    })
}

/// A body that could not be read: on the portal's pages a too-large form is answered with a page.
pub fn unreadable_body(
    config: &Config,
    endpoint: Endpoint<'_>,
    head: &RequestHead,
    error: ApiError,
) -> Result<Outcome, ApiError> {
    match (endpoint, &error) {
        (Endpoint::AuthServer(_), ApiError::PayloadTooLarge { .. }) => Ok(Outcome::Reply(
            crate::gateway::early_refusal(config, &head.path, &error),
        )),
        _ => Err(error),
    }
}

/// Whether serving the endpoint may have changed the plan a user holds: the isolate's copies of
/// plans are then dropped.
pub fn changes_plans(endpoint: Endpoint<'_>) -> bool {
    endpoint == Endpoint::AuthServer(AuthEndpoint::StripeWebhook)
}

/// The method, and the admin credential (404 where the deployment has no admin API).
fn admit(config: &Config, endpoint: Endpoint<'_>, head: &RequestHead) -> Result<(), ApiError> {
    endpoint.check_method(&head.method())?;
    match endpoint {
        Endpoint::Admin(_) => {
            let token = config.admin_token.as_ref().ok_or(ApiError::NotFound)?;
            crate::admin::authorize_admin(head, token)
        }
        _ => Ok(()),
    }
}

/// What serving a request reads and writes through: the ports, the admin API's SQL, the clock.
pub struct App<'a, B: Backend, S: Sql> {
    pub config: &'a Config,
    pub backend: &'a B,
    pub sql: &'a S,
    pub now: i64,
}

impl<B: Backend, S: Sql> App<'_, B, S> {
    /// Serves a routed request whose body (if [`body_to_read`] asked for one) is `body`.
    pub async fn serve(
        &self,
        endpoint: Endpoint<'_>,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Outcome, ApiError> {
        admit(self.config, endpoint, head)?;
        if let Some(outcome) = without_stores(self.config, endpoint, head) {
            return outcome;
        }
        match self.with_stores(endpoint, head, body).await {
            // A store that refused for now (client metadata fetches from this address): answered
            // as the refusals made before an endpoint runs are, a page on the portal's pages.
            Err(throttled @ ApiError::Throttled { .. })
                if crate::routes::is_portal_page(&head.path) =>
            {
                Ok(Outcome::Reply(crate::gateway::early_refusal(
                    self.config,
                    &head.path,
                    &throttled,
                )))
            }
            outcome => outcome,
        }
    }

    async fn with_stores(
        &self,
        endpoint: Endpoint<'_>,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Outcome, ApiError> {
        let config = self.config;
        let reply = match endpoint {
            Endpoint::AuthServer(endpoint) => {
                let settings = config.portal_settings().ok_or(ApiError::NotFound)?;
                let server = AuthServer {
                    config,
                    settings,
                    backend: self.backend,
                    now: self.now,
                };
                crate::oauth::server::serve(&server, endpoint, head, body).await?
            }
            // Invitations are the portal's: they need its key, its mail and its pages' links.
            Endpoint::Admin(route @ (AdminRoute::Invitations | AdminRoute::Invitation(_))) => {
                route.check_method(&head.method())?;
                let settings = config.portal_settings().ok_or(ApiError::NotFound)?;
                let server = AuthServer {
                    config,
                    settings,
                    backend: self.backend,
                    now: self.now,
                };
                server.invitations(route, head, body, self.sql).await?
            }
            Endpoint::Admin(route) => {
                let admin = Admin {
                    sql: self.sql,
                    backend: self.backend,
                    now: self.now,
                    quota: config
                        .plugin
                        .quota
                        .map(|q| (config.plugin.name_for_model.as_str(), q)),
                    rsa_signing: config.keys.rsa().is_some(),
                    plugin: &config.plugin.name_for_model,
                    site: Some(&config.plugin),
                };
                admin.serve(route, head, body).await?
            }
            _ => {
                return Err(ApiError::Internal(
                    "an endpoint without stores reached them".into(),
                ))
            }
        };
        Ok(Outcome::Reply(reply))
    }
}

/// The endpoints served without a store: the discovery documents and assets answered here, and
/// those the edge performs. `None` for the authorization server and the admin API.
pub fn without_stores(
    config: &Config,
    endpoint: Endpoint<'_>,
    head: &RequestHead,
) -> Option<Result<Outcome, ApiError>> {
    let reply = match endpoint {
        Endpoint::AuthServer(_) | Endpoint::Admin(_) => return None,
        Endpoint::Proxy(rule) => return Some(Ok(Outcome::Proxy(rule))),
        Endpoint::Health => return Some(Ok(Outcome::Health)),
        Endpoint::OpenApi => return Some(Ok(Outcome::OpenApi)),
        Endpoint::PluginManifest => public_json(&plugin_manifest(config)),
        Endpoint::Jwks => public_json(&config.keys.jwks()),
        Endpoint::ProtectedResourceMetadata => public_json(&protected_resource_metadata(config)),
        Endpoint::Asset => match crate::assets::serve(head) {
            Ok(reply) => reply,
            Err(e) => return Some(Err(e)),
        },
    };
    Some(Ok(Outcome::Reply(reply)))
}

/// A discovery document: cacheable for five minutes, readable cross-origin.
fn public_json(value: &serde_json::Value) -> Reply {
    Reply::json(200, value)
        .with_header("cache-control", "public, max-age=300")
        .with_header("access-control-allow-origin", "*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::raw;
    use crate::routes::route;

    const ADMIN_TOKEN: &str = "an-admin-token-of-at-least-32-chars";

    fn config(admin: bool) -> Config {
        let mut raw = raw();
        raw.admin_token = admin.then(|| ADMIN_TOKEN.into());
        Config::parse(raw).unwrap()
    }

    fn head(method: Method, path: &str, bearer: Option<&str>) -> RequestHead {
        let head = RequestHead::new(method, path);
        match bearer {
            Some(token) => head.with_header("authorization", &format!("Bearer {token}")),
            None => head,
        }
    }

    fn to_read(config: &Config, head: &RequestHead) -> Result<Option<usize>, ApiError> {
        body_to_read(config, route(config, head)?, head)
    }

    #[test]
    fn an_admin_body_is_read_only_for_the_admin_and_only_where_there_is_an_admin_api() {
        let users = |bearer| head(Method::Post, "/admin/api/users", bearer);
        assert_eq!(
            to_read(&config(false), &users(Some(ADMIN_TOKEN))),
            Err(ApiError::NotFound)
        );
        let with_admin = config(true);
        assert!(matches!(
            to_read(&with_admin, &users(None)),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            to_read(
                &with_admin,
                &users(Some("another-token-of-at-least-32-chars"))
            ),
            Err(ApiError::Unauthorized(_))
        ));
        assert_eq!(
            to_read(&with_admin, &users(Some(ADMIN_TOKEN))),
            Ok(Some(crate::admin::MAX_ADMIN_BODY_BYTES))
        );
        // Only then is the method checked: a stranger learns nothing of the API's shape.
        let put = head(Method::Put, "/admin/api/users", None);
        assert!(matches!(
            to_read(&with_admin, &put),
            Err(ApiError::Unauthorized(_))
        ));
        let get = head(Method::Get, "/admin/api/users", Some(ADMIN_TOKEN));
        assert_eq!(to_read(&with_admin, &get), Ok(None));
    }

    #[test]
    fn the_authorization_server_reads_a_posted_body_up_to_its_endpoints_cap() {
        let c = config(false);
        assert_eq!(
            to_read(&c, &head(Method::Post, crate::routes::TOKEN_PATH, None)),
            Ok(Some(crate::oauth::params::MAX_FORM_BYTES))
        );
        assert_eq!(
            to_read(&c, &head(Method::Post, crate::routes::REGISTER_PATH, None)),
            Ok(Some(crate::oauth::registration::MAX_REGISTRATION_BYTES))
        );
        assert_eq!(
            to_read(&c, &head(Method::Get, crate::routes::LOGIN_PATH, None)),
            Ok(None)
        );
        assert!(matches!(
            to_read(&c, &head(Method::Get, crate::routes::TOKEN_PATH, None)),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn documents_are_answered_without_stores_and_effects_are_named() {
        let c = config(false);
        let answer = |path: &str| {
            let head = head(Method::Get, path, None);
            let endpoint = route(&c, &head).unwrap();
            match without_stores(&c, endpoint, &head) {
                Some(Ok(Outcome::Reply(reply))) => {
                    format!("{} {:?}", reply.status, reply.header("cache-control"))
                }
                Some(Ok(other)) => format!("{other:?}"),
                Some(Err(e)) => format!("{e:?}"),
                None => "stores".into(),
            }
        };
        assert_eq!(
            answer(crate::routes::MANIFEST_PATH),
            "200 Some(\"public, max-age=300\")"
        );
        assert_eq!(
            answer(crate::routes::JWKS_PATH),
            "200 Some(\"public, max-age=300\")"
        );
        assert_eq!(answer(crate::routes::HEALTH_PATH), "Health");
        assert_eq!(answer("/openapi.json"), "OpenApi");
        assert_eq!(answer("/todos"), "Proxy(0)");
        assert_eq!(answer(crate::routes::LOGIN_PATH), "stores");
        assert_eq!(answer("/admin/api/users"), "stores");
    }

    #[test]
    fn a_form_too_large_for_a_page_is_answered_with_a_page() {
        let c = config(true);
        let too_large = ApiError::PayloadTooLarge { limit_bytes: 10 };
        let login = head(Method::Post, crate::routes::LOGIN_PATH, None);
        let page = unreadable_body(&c, route(&c, &login).unwrap(), &login, too_large.clone());
        match page {
            Ok(Outcome::Reply(reply)) => {
                assert_eq!(reply.status, 413);
                assert!(reply
                    .header("content-type")
                    .unwrap()
                    .starts_with("text/html"));
            }
            other => panic!("{other:?}"),
        }
        let admin = head(Method::Post, "/admin/api/users", Some(ADMIN_TOKEN));
        assert!(matches!(
            unreadable_body(&c, route(&c, &admin).unwrap(), &admin, too_large),
            Err(ApiError::PayloadTooLarge { limit_bytes: 10 })
        ));
    }
}
