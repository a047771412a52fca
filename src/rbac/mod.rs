//! Roles, permissions and API resources: the Logto/Auth0 RBAC model.

pub mod scope;
