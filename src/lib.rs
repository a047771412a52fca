//! Portcullis: an edge auth gateway for the APIs that AI assistants call.
//!
//! Everything that decides lives in these modules and builds natively; `edge` (wasm32 only) is
//! the thin layer that talks to the Workers runtime. See `docs/architecture.md`.

/// The newest D1 migration this build's queries rely on; `/healthz` reports 503 until it is applied.
pub const LATEST_MIGRATION: &str = "0023_second_factor.sql";

pub mod accounts;
pub mod address;
pub mod admin;
pub mod app;
pub mod assets;
pub mod billing;
pub mod config;
pub mod directory;
pub mod discovery;
pub mod error;
pub mod federation;
pub mod gateway;
pub mod http;
pub mod jose;
pub mod oauth;
pub mod openapi;
pub mod paths;
pub mod portal;
pub mod ports;
pub mod primitives;
pub mod proxy;
pub mod quota;
pub mod rbac;
pub mod request_log;
pub mod routes;
pub mod sql;
pub mod throttle;
pub mod usage_book;
pub mod web;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod edge;
