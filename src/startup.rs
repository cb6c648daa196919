//! Builds the running server: the HTTP app on a bound listener (port 0 in tests), the schema with
//! its data, and the start-up migration that retries until the database is there.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::auth::TokenKeys;
use crate::config::{ConfigError, DatabaseSettings, JwtSettings, LimitSettings, Secret, ServerSettings};
use crate::db::{self, Db};
use crate::graphql::{SurveyTokenTtl, schema_builder};
use crate::http::{AppState, Metrics, Startup, log_requests, metrics_routes, routes, security_headers};
use crate::live::{Live, LiveSettings, run_listener, run_presence};
use crate::rate_limit::SurveyLimits;
use crate::replicas::{ReplicaSettings, Replicas, watch_replicas};
use crate::retention::{RetentionSchedule, RetentionSettings};
use crate::schedule::{ReportScheduleSettings, SlaWatchSettings, run_report_schedule, run_sla_watch};
use crate::sealer::{KpiBlockSettings, run_sealer};

/// Everything `serve` is configured with.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub jwt: JwtSettings,
    #[command(flatten)]
    pub reports: ReportScheduleSettings,
    #[command(flatten)]
    pub limits: LimitSettings,
    #[command(flatten)]
    pub retention: RetentionSettings,
    #[command(flatten)]
    pub retention_schedule: RetentionSchedule,
    #[command(flatten)]
    pub kpi_blocks: KpiBlockSettings,
    #[command(flatten)]
    pub sla_watch: SlaWatchSettings,
    #[command(flatten)]
    pub live: LiveSettings,
    #[command(flatten)]
    pub replicas: ReplicaSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
}

pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener's port and server, when metrics are on.
    metrics: Option<(u16, Server)>,
}

/// Connections of the pool the per-request token check uses (one short statement each).
const ACCESS_POOL_SIZE: u32 = 2;

/// Blocking threads per actix worker, for the blocking work that is not a statement of
/// [`Db::run`] (readiness probes, replica checks; statements run on their pool's own threads):
/// one more than all the connections requests can use (the pool, the token check's pool, the
/// replicas' pools), as when statements ran here, not tokio's default of hundreds.
fn worker_blocking_threads(settings: &ServeSettings) -> usize {
    let replicas = settings.replicas.urls.as_ref().map_or(0, |urls| urls.0.len());
    let replica_connections = replicas * settings.replicas.pool_size as usize;
    settings.database.pool_size as usize + ACCESS_POOL_SIZE as usize + replica_connections + 1
}

/// How often the rate limiters forget clients whose budget is whole again.
const RATE_LIMIT_SWEEP: Duration = Duration::from_secs(60);

/// Added to the request timeout for the graceful shutdown: time to write the last answers.
const SHUTDOWN_MARGIN_SECONDS: u64 = 5;

/// Set when the process is told to stop: long background work checks it between steps so that
/// the process can exit. Process-wide, as stopping is.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether the process has been told to stop.
pub fn is_stopping() -> bool {
    STOPPING.load(Ordering::Acquire)
}

/// Longest pause between two start-up migration attempts.
const MAX_MIGRATION_BACKOFF: Duration = Duration::from_secs(5);

impl Application {
    /// Validates the settings, binds the listener and starts migrating in the background. The
    /// server answers /healthz at once and /readyz once the database is migrated.
    pub fn build(settings: &ServeSettings) -> Result<Application, StartupError> {
        let keys = Arc::new(TokenKeys::from_settings(&settings.jwt)?);
        let replicas = Arc::new(Replicas::new(&settings.replicas, &settings.database)?);
        let db = Db::new(&settings.database).with_replicas(replicas.clone());
        let startup = Arc::new(Startup::default());

        let address = settings.server.bind;
        let listen_error = |source| StartupError::Listen { address: address.to_string(), source };
        let listener = TcpListener::bind(address).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();

        tokio::spawn(migrate_until_done(settings.database.url.clone(), startup.clone()));
        if !replicas.is_empty() {
            tokio::spawn(watch_replicas(db.clone(), replicas, settings.replicas.check_interval));
        }
        if settings.reports.enabled {
            tokio::spawn(run_report_schedule(db.clone(), settings.reports.clone(), startup.clone()));
        }
        if settings.sla_watch.enabled {
            tokio::spawn(run_sla_watch(db.clone(), settings.sla_watch.clone(), startup.clone()));
        }
        crate::store::kpi_block_cache::set_capacity(settings.kpi_blocks.cache_mb.saturating_mul(1 << 20));
        tokio::spawn(run_sealer(db.clone(), settings.kpi_blocks.clone(), startup.clone()));

        crate::retention::spawn_daily_runs(
            db.clone(),
            settings.retention.clone(),
            settings.retention_schedule.clone(),
            startup.clone(),
        );

        let survey_limits =
            Arc::new(SurveyLimits::new(settings.server.survey_rate_per_address, settings.server.survey_rate_per_link));
        tokio::spawn(forget_idle_clients(survey_limits.clone()));

        let live = Live::new(&settings.live, db.clone());
        tokio::spawn(run_listener(settings.database.url.clone(), db.clone(), live.feed.clone()));
        tokio::spawn(run_presence(live.feed.clone()));

        let limits = &settings.limits;
        let schema = schema_builder(limits)
            .data(keys.clone())
            .data(survey_limits.clone())
            .data(SurveyTokenTtl(settings.server.survey_token_ttl))
            .data(settings.retention.clone())
            .data(settings.retention_schedule.clone())
            .finish();
        let state = web::Data::new(AppState {
            schema,
            keys,
            access_db: Db::with_pool_size(&settings.database, ACCESS_POOL_SIZE),
            db,
            survey_limits,
            startup,
            expose_statement_count: settings.server.expose_statement_count,
            document_limits: limits.into(),
            documents: Default::default(),
            introspection: limits.introspection,
            request_timeout: limits.request_timeout,
            max_body_bytes: settings.server.max_body_bytes,
            metrics: Metrics::default(),
            export_slots: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_exports as usize)),
            export_stall_timeout: limits.export_stall_timeout,
            live,
        });
        let graphiql = settings.server.graphiql;
        let body_limit = usize::try_from(settings.server.max_body_bytes).unwrap_or(usize::MAX);
        let metrics = if settings.server.metrics {
            Some(metrics_server(settings.server.metrics_bind, state.clone())?)
        } else {
            None
        };
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(security_headers())
                .wrap(from_fn(log_requests))
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .configure(|config| routes(config, graphiql))
        })
        // On SIGTERM or SIGINT, requests in flight get as long as a request may take. The signals
        // are handled in `run_until_stopped`, so that background work hears of them at once.
        .shutdown_timeout(limits.request_timeout.as_secs().saturating_add(SHUTDOWN_MARGIN_SECONDS))
        .disable_signals()
        .listen(listener)
        .map_err(listen_error)?;
        server = server.worker_max_blocking_threads(worker_blocking_threads(settings));
        if let Some(workers) = settings.server.workers {
            server = server.workers(usize::from(workers));
        }
        Ok(Application { port, server: server.run(), metrics })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when metrics are on.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until the process is told to stop (SIGTERM or SIGINT): the server stops accepting,
    /// requests in flight finish, and background work (a retention run) stops at its next batch,
    /// so that a request waiting on it can finish too.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        tokio::spawn(async move {
            if stop_signal().await.is_ok() {
                tracing::info!("stopping: finishing the requests in flight");
                STOPPING.store(true, Ordering::Release);
                if let Some(metrics) = metrics {
                    metrics.stop(false).await;
                }
                handle.stop(true).await;
            }
        });
        self.server.await
    }
}

/// The metrics listener: GET /metrics and nothing else, on an address of its own, so that the
/// public listener never answers it.
fn metrics_server(address: SocketAddr, state: web::Data<AppState>) -> Result<(u16, Server), StartupError> {
    let listen_error = |source| StartupError::Listen { address: address.to_string(), source };
    let listener = TcpListener::bind(address).map_err(listen_error)?;
    let port = listener.local_addr().map_err(listen_error)?.port();
    let server =
        HttpServer::new(move || App::new().wrap(security_headers()).app_data(state.clone()).configure(metrics_routes))
            // One worker is plenty for a scrape every few seconds.
            .workers(1)
            .shutdown_timeout(SHUTDOWN_MARGIN_SECONDS)
            .disable_signals()
            .listen(listener)
            .map_err(listen_error)?
            .run();
    Ok((port, server))
}

/// Keeps the rate limiters' memory to the clients seen recently.
async fn forget_idle_clients(limits: Arc<SurveyLimits>) {
    let mut sweep = tokio::time::interval(RATE_LIMIT_SWEEP);
    loop {
        sweep.tick().await;
        limits.forget_idle();
    }
}

/// The first SIGTERM or SIGINT.
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut terminate, mut interrupt) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// Applies pending migrations, retrying with backoff while the database is unreachable. The
/// process keeps serving (and /readyz answers 503) meanwhile.
async fn migrate_until_done(database_url: Secret, startup: Arc<Startup>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let url = database_url.clone();
        let attempt = tokio::task::spawn_blocking(move || {
            let mut conn = db::connect(url.expose())?;
            db::run_migrations(&mut conn)
        })
        .await;
        match attempt {
            Ok(Ok(applied)) => {
                if applied.is_empty() {
                    tracing::info!("database schema is current");
                } else {
                    tracing::info!(?applied, "applied database migrations");
                }
                startup.mark_migrated();
                return;
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "database not ready; migrations will be retried");
            }
            Err(err) => tracing::error!(error = %err, "migration task failed; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_MIGRATION_BACKOFF);
    }
}
