use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::access::{Refused, authenticate};
use super::{AppState, RequestId, refuse};

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

/// GET /status (any staff token): the primary's readiness, and each read replica's state, lag and
/// reads, with the reporting reads the primary answered because no replica was usable.
pub async fn status(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let request_id = RequestId::of(&request);
    if !state.startup.is_migrated() {
        let message = "the server is starting and the database is not ready yet";
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message, &request_id);
    }
    match authenticate(&request, &state).await {
        Ok(_) => {}
        Err(Refused::Token(_)) => {
            let message = "a valid staff bearer token is required";
            return refuse(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message, &request_id);
        }
        Err(Refused::Unchecked(err)) => {
            err.log(&request_id);
            return refuse(err.http_status(), err.code(), &err.client_message(&request_id), &request_id);
        }
    }
    let primary = match state.db.readiness(READINESS_TIMEOUT).await {
        Ok(()) => "ready",
        Err(_) => "unavailable",
    };
    let replicas = state.db.replicas();
    let listed: Vec<_> = replicas
        .statuses()
        .into_iter()
        .map(|(index, address, status, reads)| json!({ "replica": index, "address": address, "status": status, "reads": reads }))
        .collect();
    HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-store")).json(json!({
        "primary": { "status": primary },
        "replicas": listed,
        "replicaMaxLagSeconds": replicas.max_lag().as_secs_f64(),
        "fallbackReads": replicas.fallback_reads(),
    }))
}
