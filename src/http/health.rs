use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// How long readiness waits for a database connection before it answers 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// GET /healthz: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// GET /readyz: the database answers and every migration has run.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if !state.startup.is_migrated() {
        return unavailable("database migrations have not run yet");
    }
    match state.db.readiness(READINESS_TIMEOUT).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            unavailable("the database is unreachable or not migrated")
        }
    }
}

fn unavailable(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "reason": reason }))
}
