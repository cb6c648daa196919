//! The HTTP surface: routes, the GraphQL endpoint, CSV/JSON exports, health checks and request
//! logging.

mod export;
mod graphql;
mod health;
mod request_log;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub use request_log::{RequestId, log_requests};

use crate::auth::TokenKeys;
use crate::db::Db;
use crate::graphql::AppSchema;

/// Whether the start-up migrations have run; until then GraphQL answers 503.
#[derive(Default)]
pub struct Startup {
    migrated: AtomicBool,
}

impl Startup {
    pub fn mark_migrated(&self) {
        self.migrated.store(true, Ordering::Release);
    }

    pub fn is_migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }
}

/// What every handler shares.
pub struct AppState {
    pub schema: AppSchema,
    pub keys: Arc<TokenKeys>,
    pub db: Db,
    pub startup: Arc<Startup>,
    /// Answer each GraphQL request with its SQL statement count (`X-Db-Statements`).
    pub expose_statement_count: bool,
}

pub fn routes(config: &mut web::ServiceConfig, graphiql: bool) {
    config
        .route("/graphql", web::post().to(graphql::execute))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .configure(export::routes);
    if graphiql {
        config.route("/graphiql", web::get().to(graphql::graphiql));
    }
}

/// A GraphQL-shaped error answer for requests refused before execution.
pub fn refuse(status: StatusCode, code: &str, message: &str, request_id: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Bearer"));
    }
    response.json(json!({
        "errors": [{ "message": message, "extensions": { "code": code, "requestId": request_id } }]
    }))
}
