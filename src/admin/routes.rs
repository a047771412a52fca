//! `GET /admin/api/routes`: the route table the gateway enforces, and the OpenAPI document's
//! operations beside it, so an owner sees where the two disagree (the console's Routes section).

use serde_json::{json, Value};

use super::{ok, Admin};
use crate::config::OpenApiSource;
use crate::error::ApiError;
use crate::http::Reply;
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::proxy::derived::{compare, describe, from_static, StaticDocumentError};
use crate::sql::Sql;

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) fn routes(&self) -> Result<Reply, ApiError> {
        let Some(site) = self.site else {
            return Err(ApiError::NotFound);
        };
        let table = &site.routes;
        let explicit = table.rules().len() - site.derived_routes.len();
        let rules: Vec<Value> = table
            .rules()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "path": r.pattern,
                    "methods": r.method_names(),
                    "rule": describe(r.access, &r.scopes),
                    "source": if i < explicit { "configuration" } else { "openapi" },
                    "plan": r.plan,
                    "agents": r.agents,
                })
            })
            .collect();
        // The document's operations, as it asks and as the table does; derived anew when the
        // table was written by hand, so drift shows either way.
        // A document the configuration names must exist (the configuration is refused without
        // it), so a missing one is the default path of a plugin that has none, such as an MCP
        // server: nothing to compare, which is no problem.
        let mut has_document = true;
        let document = match &site.openapi_source {
            OpenApiSource::Static(path) => match from_static(path, &site.auth) {
                Ok(derived) => Ok(derived),
                Err(StaticDocumentError::Missing) => {
                    has_document = false;
                    Ok(Vec::new())
                }
                Err(StaticDocumentError::Unreadable(e)) => {
                    Err(format!("{path} cannot be read: {e:?}"))
                }
                Err(StaticDocumentError::Underivable(e)) => Err(e.to_string()),
            },
            OpenApiSource::Origin(path) => Err(format!(
                "the document is read from the origin ({path}) only when asked for; the comparison needs one deployed with the Worker (openapi_file)"
            )),
        };
        let (operations, problem) = match document {
            Ok(derived) => {
                let compared: Vec<Value> = compare(&derived, table)
                    .iter()
                    .map(|c| {
                        json!({
                            "method": c.method,
                            "path": c.path,
                            "document": c.document,
                            "gateway": c.gateway,
                            "agrees": c.agrees(),
                        })
                    })
                    .collect();
                (compared, Value::Null)
            }
            Err(why) => (Vec::new(), Value::String(why)),
        };
        let disagreements = operations.iter().filter(|o| o["agrees"] == false).count();
        ok(
            200,
            json!({
                "from_openapi": !site.derived_routes.is_empty(),
                "document": has_document,
                "rules": rules,
                "operations": operations,
                "disagreements": disagreements,
                "problem": problem,
            }),
        )
    }
}
