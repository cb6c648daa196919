//! The HTTP surface: routes, the GraphQL endpoint, CSV/JSON exports, the report pages, health
//! checks, metrics and request logging.

pub mod access;
mod documents;
mod export;
mod graphiql;
mod graphql;
mod health;
pub mod metrics;
mod request_log;
mod subscriptions;
mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub use metrics::Metrics;
pub use request_log::{RequestId, log_requests};

use crate::auth::TokenKeys;
use crate::db::Db;
use crate::graphql::AppSchema;
use crate::graphql::bounds::DocumentLimits;
use crate::rate_limit::SurveyLimits;

/// Whether the start-up migrations have run (until then GraphQL answers 503), and what the
/// background tasks have done since: operators and tests read it at /metrics to know that a task
/// has looked, whether or not it found anything to do.
#[derive(Default)]
pub struct Startup {
    migrated: AtomicBool,
    scheduler_passes: AtomicU64,
    daily_retention_attempts: AtomicU64,
    sla_watch_passes: AtomicU64,
    sla_breaches: AtomicU64,
}

impl Startup {
    /// Counts one finished pass of the report and outcome scheduler (src/schedule.rs).
    pub fn count_scheduler_pass(&self) {
        self.scheduler_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one finished pass of the SLA breach watch (src/schedule.rs).
    pub fn count_sla_watch_pass(&self) {
        self.sla_watch_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts SLA breaches this instance recorded.
    pub fn count_sla_breaches(&self, recorded: u64) {
        self.sla_breaches.fetch_add(recorded, Ordering::Relaxed);
    }

    pub fn scheduler_passes(&self) -> u64 {
        self.scheduler_passes.load(Ordering::Relaxed)
    }

    /// Counts one finished attempt of the daily retention run: it ran, found the day's run done,
    /// or found another run holding the lock.
    pub fn count_daily_retention_attempt(&self) {
        self.daily_retention_attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn daily_retention_attempts(&self) -> u64 {
        self.daily_retention_attempts.load(Ordering::Relaxed)
    }

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
    /// A small pool of its own for the token check every request makes, so that it never waits
    /// behind slow work holding the main pool.
    pub access_db: Db,
    pub survey_limits: Arc<SurveyLimits>,
    pub startup: Arc<Startup>,
    /// Answer each GraphQL request with its SQL statement count (`X-Db-Statements`).
    pub expose_statement_count: bool,
    pub document_limits: DocumentLimits,
    /// Documents parsed once per distinct text.
    pub documents: documents::DocumentCache,
    /// Whether staff may introspect the schema.
    pub introspection: bool,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    pub metrics: Metrics,
    /// Room for CSV exports streaming at once (each holds a pooled connection).
    pub export_slots: Arc<tokio::sync::Semaphore>,
    pub export_stall_timeout: Duration,
    /// GraphQL subscriptions: the change feed, the caps and the WebSocket settings.
    pub live: crate::live::Live,
}

/// The public listener's routes; GraphiQL's only when `graphiql` is on.
pub fn routes(config: &mut web::ServiceConfig, graphiql: bool) {
    config
        .route("/graphql", web::post().to(graphql::execute))
        .route("/graphql", web::get().to(subscriptions::connect))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/status", web::get().to(health::status))
        .configure(export::routes)
        .configure(ui::routes);
    if graphiql {
        config.configure(graphiql::routes);
    }
}

/// The metrics listener's one route.
pub fn metrics_routes(config: &mut web::ServiceConfig) {
    config.route("/metrics", web::get().to(metrics_endpoint));
}

/// Headers on every answer: browsers must not guess a content type (a CSV or JSON export
/// rendered as HTML).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new().add((X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// GET /metrics: Prometheus's text format.
async fn metrics_endpoint(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.db.pool();
    let pool_state = pool.state();
    let usage = metrics::PoolUsage {
        max_size: pool.max_size(),
        connections: pool_state.connections,
        idle: pool_state.idle_connections,
    };
    let mut body = state.metrics.render(usage);
    body.push_str(&format!(
        "# HELP deskpulse_scheduler_passes_total Finished passes of the report and outcome scheduler.\n\
         # TYPE deskpulse_scheduler_passes_total counter\n\
         deskpulse_scheduler_passes_total {}\n\
         # HELP deskpulse_retention_daily_attempts_total Finished attempts of the daily retention run.\n\
         # TYPE deskpulse_retention_daily_attempts_total counter\n\
         deskpulse_retention_daily_attempts_total {}\n\
         # HELP deskpulse_sla_watch_passes_total Finished passes of the SLA breach watch.\n\
         # TYPE deskpulse_sla_watch_passes_total counter\n\
         deskpulse_sla_watch_passes_total {}\n\
         # HELP deskpulse_sla_breaches_recorded_total SLA breaches this instance recorded.\n\
         # TYPE deskpulse_sla_breaches_recorded_total counter\n\
         deskpulse_sla_breaches_recorded_total {}\n",
        state.startup.scheduler_passes(),
        state.startup.daily_retention_attempts(),
        state.startup.sla_watch_passes.load(Ordering::Relaxed),
        state.startup.sla_breaches.load(Ordering::Relaxed)
    ));
    body.push_str(&format!(
        "# HELP deskpulse_ws_connections Open GraphQL WebSocket connections.\n\
         # TYPE deskpulse_ws_connections gauge\n\
         deskpulse_ws_connections {}\n\
         # HELP deskpulse_ws_subscriptions Subscriptions listening to the change feed.\n\
         # TYPE deskpulse_ws_subscriptions gauge\n\
         deskpulse_ws_subscriptions {}\n",
        state.live.open_connections(),
        state.live.feed.subscribers()
    ));
    state.db.replicas().render_metrics(&mut body);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body)
}

/// A GraphQL-shaped error answer for requests refused before execution.
/// A page of this server's own where tokens are handled (GraphiQL, the report pages): under its
/// content security `policy`, never framed, never cached, and sending no referrer.
fn token_page(policy: &'static str, body: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, policy))
        .insert_header((X_FRAME_OPTIONS, "DENY"))
        .insert_header((REFERRER_POLICY, "no-referrer"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}

pub fn refuse(status: StatusCode, code: &str, message: &str, request_id: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Bearer"));
    }
    let message = crate::domain::limits::shortened_message(message).unwrap_or_else(|| message.to_owned());
    response.json(json!({
        "errors": [{ "message": message, "extensions": { "code": code, "requestId": request_id } }]
    }))
}
