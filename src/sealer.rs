//! The KPI block sealer inside `serve`: on an interval, it rebuilds the sealed blocks of the days
//! whose facts changed (src/store/kpi_blocks.rs). Any number of instances may run it: an
//! advisory lock lets one seal at a time. Answers never wait for it: a day whose block is stale
//! is read from its fact rows until it is sealed again.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Db;
use crate::http::Startup;
use crate::schedule::parse_check_interval;
use crate::store;

/// Days sealed per pass at most, so that one pass stays short after a large import.
const DAYS_PER_PASS: i64 = 400;

/// The sealed KPI blocks: how often they are sealed, and how much of them this server keeps in
/// memory (src/store/kpi_block_cache.rs).
#[derive(Debug, Clone, clap::Args)]
pub struct KpiBlockSettings {
    /// How often the KPI block sealer looks for days whose facts changed, e.g. 10s, 1m.
    #[arg(id = "kpi_seal_interval", long = "kpi-seal-interval", env = "DESKPULSE_KPI_SEAL_INTERVAL", value_name = "DURATION",
          default_value = "30s", value_parser = parse_check_interval)]
    pub seal_interval: Duration,
    /// Memory for sealed KPI blocks read from the database, kept to answer later KPI questions
    /// without reading them again (0: keep none).
    #[arg(long = "kpi-block-cache-mb", env = "DESKPULSE_KPI_BLOCK_CACHE_MB", value_name = "MB",
          default_value_t = store::kpi_block_cache::DEFAULT_CAPACITY_MB)]
    pub cache_mb: usize,
}

/// Runs for the life of the server.
pub async fn run_sealer(db: Db, settings: KpiBlockSettings, startup: Arc<Startup>) {
    let mut ticker = tokio::time::interval(settings.seal_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !startup.is_migrated() || crate::startup::is_stopping() {
            continue;
        }
        match db.run(|conn| store::kpi_blocks::seal_due(conn, DAYS_PER_PASS)).await {
            Ok(pass) if pass.days_sealed > 0 => tracing::debug!(days = pass.days_sealed, "sealed KPI blocks"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "sealing KPI blocks failed; retrying later"),
        }
    }
}
