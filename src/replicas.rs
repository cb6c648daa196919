//! PostgreSQL streaming replicas for reporting reads: a pool per replica, a watch on each one's
//! replay position, and the choice of a usable replica for each reporting read.
//!
//! How far behind a replica is comes from the primary's WAL: every check interval the primary's
//! write position is sampled with the time just before it was read, so that every change
//! committed before that time lies at or below that position. A replica whose replay position
//! has reached a sample holds every change committed before the sample's time; its last replayed
//! commit's timestamp (`pg_last_xact_replay_timestamp()`) is a second such bound. The later of the
//! two is how fresh its data is proven to be, and its lag is the time since then. A replica that
//! does not answer, is not in recovery, or lags more than the maximum is skipped until a check
//! finds it back under it; with none usable, reporting reads go to the primary and are counted.

use std::collections::VecDeque;
use std::fmt::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Bool, Nullable, Timestamptz};
use diesel::{QueryableByName, RunQueryDsl};
use serde::Serialize;

use crate::config::{ConfigError, DatabaseSettings, Secret, parse_duration};
use crate::db::{Db, PgPool, build_pool};
use crate::error::AppError;

/// The `application_name` of the replicas' pooled connections (`pg_stat_activity` on a replica).
pub const REPLICA_APPLICATION_NAME: &str = "deskpulse-reporting";

/// Most replicas one instance reads from.
const MAX_REPLICAS: usize = 16;

/// How long a check waits for a replica's connection before it counts the replica as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(clap::Args, Debug, Clone)]
pub struct ReplicaSettings {
    /// PostgreSQL streaming replicas of DATABASE_URL for read-only reporting work (KPIs,
    /// leaderboards, top lists, report and improvement-action lists, the ticket CSV export), as
    /// comma-separated URLs. Unset: everything reads the primary.
    #[arg(
        id = "replica_urls",
        long = "replica-urls",
        env = "DESKPULSE_REPLICA_URLS",
        value_name = "URLS",
        hide_env_values = true
    )]
    pub urls: Option<ReplicaUrls>,

    /// A replica whose data is older than this is skipped until it catches up again.
    #[arg(id = "replica_max_lag", long = "replica-max-lag", env = "DESKPULSE_REPLICA_MAX_LAG", value_name = "DURATION",
          default_value = "5s", value_parser = parse_duration)]
    pub max_lag: Duration,

    /// How often each replica's replay position (and the primary's WAL position) is checked;
    /// shorter than the maximum lag.
    #[arg(id = "replica_check_interval", long = "replica-check-interval", env = "DESKPULSE_REPLICA_CHECK_INTERVAL", value_name = "DURATION",
          default_value = "1s", value_parser = parse_duration)]
    pub check_interval: Duration,

    /// Largest number of pooled connections to each replica.
    #[arg(id = "replica_pool_size", long = "replica-pool-size", env = "DESKPULSE_REPLICA_POOL_SIZE", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub pool_size: u32,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            urls: None,
            max_lag: Duration::from_secs(5),
            check_interval: Duration::from_secs(1),
            pool_size: 10,
        }
    }
}

/// Replica URLs, comma-separated (a comma inside a password is written `%2C`).
#[derive(Debug, Clone)]
pub struct ReplicaUrls(pub Vec<Secret>);

impl FromStr for ReplicaUrls {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let urls: Vec<Secret> = value
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .filter_map(|url| url.parse::<Secret>().ok())
            .collect();
        if urls.len() > MAX_REPLICAS {
            return Err(format!("at most {MAX_REPLICAS} replicas"));
        }
        Ok(ReplicaUrls(urls))
    }
}

/// What the last look at a replica found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Not checked yet: not used.
    Unchecked,
    Usable,
    /// Its data is older than the maximum lag (or its age cannot be proven).
    Lagging,
    /// It did not answer, or a read on it failed.
    Down,
    /// It answers but is not in recovery (promoted, or not a standby): never read as a replica.
    NotAStandby,
}

/// One replica's standing, for /status and /metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub state: ReplicaState,
    /// How old its data was at the last check, when that could be told.
    pub lag_seconds: Option<f64>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Why it is not usable.
    pub reason: Option<&'static str>,
}

pub struct Replica {
    index: usize,
    /// host:port/database, without credentials.
    address: String,
    pool: PgPool,
    usable: AtomicBool,
    status: Mutex<ReplicaStatus>,
    reads: AtomicU64,
}

impl Replica {
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Counts one reporting read this replica answered.
    pub fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn status(&self) -> MutexGuard<'_, ReplicaStatus> {
        self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, state: ReplicaState, lag: Option<Duration>, reason: Option<&'static str>) {
        let mut status = self.status();
        if status.state != state {
            match state {
                ReplicaState::Usable => tracing::info!(replica = self.index, address = %self.address, "replica usable"),
                _ => tracing::warn!(replica = self.index, address = %self.address, ?state, reason, "replica skipped"),
            }
        }
        *status = ReplicaStatus {
            state,
            lag_seconds: lag.map(|lag| lag.as_secs_f64()),
            checked_at: Some(Utc::now()),
            reason,
        };
        self.usable.store(state == ReplicaState::Usable, Ordering::Release);
    }

    /// A read found the replica further behind than the maximum lag: skipped until a check
    /// finds it caught up.
    pub fn mark_lagging(&self) {
        self.set(ReplicaState::Lagging, None, Some("a read found it beyond the maximum lag"));
    }

    /// A read on the replica failed with `err`: when the replica itself is the likely cause, it
    /// is skipped until a check finds it answering again.
    pub fn read_failed(&self, err: &AppError) {
        if matches!(err.root(), AppError::Unavailable(_) | AppError::Internal(_)) {
            tracing::warn!(replica = self.index, error = %err, "a reporting read failed on a replica; retried on the primary");
            self.set(ReplicaState::Down, None, Some("a read on it failed"));
        }
    }
}

/// Whether a reporting read that failed on a replica is worth running on the primary: not when
/// the failure is the request's own (bad input, not found, a statement past its timeout).
pub fn replica_may_retry(err: &AppError) -> bool {
    matches!(
        err.root(),
        AppError::Unavailable(_) | AppError::PoolExhausted(_) | AppError::Conflict(_) | AppError::Internal(_)
    )
}

/// The replicas of one server (none: an empty set, and everything reads the primary).
#[derive(Default)]
pub struct Replicas {
    replicas: Vec<Arc<Replica>>,
    max_lag: Duration,
    /// How long primary positions are kept.
    keep_positions: Duration,
    /// Round-robin position among the replicas.
    next: AtomicUsize,
    fallbacks: AtomicU64,
    /// The primary's WAL write position with the time just before it was read, oldest first.
    primary_positions: Mutex<VecDeque<(DateTime<Utc>, i64)>>,
}

#[derive(QueryableByName)]
struct ReplayPosition {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    replay_lsn: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    replayed_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct WalPosition {
    #[diesel(sql_type = BigInt)]
    lsn: i64,
}

/// A replica's replay position, and its last replayed commit's timestamp.
fn replay_position(conn: &mut PgConnection) -> Result<ReplayPosition, AppError> {
    Ok(diesel::sql_query(
        "SELECT pg_is_in_recovery() AS in_recovery, \
                (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replay_lsn, \
                pg_last_xact_replay_timestamp() AS replayed_at",
    )
    .get_result(conn)?)
}

/// `url`'s host, port and database, without user or password: what logs and metrics name it by.
fn address_of(url: &str, index: usize) -> String {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
        return format!("replica {index}");
    };
    let rest = rest.split('?').next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\')).collect()
}

impl Replicas {
    pub fn new(settings: &ReplicaSettings, database: &DatabaseSettings) -> Result<Replicas, ConfigError> {
        let urls = settings.urls.as_ref().map(|urls| urls.0.as_slice()).unwrap_or_default();
        if !urls.is_empty() && settings.check_interval >= settings.max_lag {
            return Err(ConfigError::new(
                "DESKPULSE_REPLICA_CHECK_INTERVAL",
                "must be shorter than DESKPULSE_REPLICA_MAX_LAG",
            ));
        }
        if settings.check_interval < Duration::from_millis(50) {
            return Err(ConfigError::new("DESKPULSE_REPLICA_CHECK_INTERVAL", "must be at least 50ms"));
        }
        let replicas = urls
            .iter()
            .enumerate()
            .map(|(index, url)| {
                Arc::new(Replica {
                    index,
                    address: address_of(url.expose(), index),
                    pool: build_pool(
                        url.expose(),
                        settings.pool_size,
                        database.pool_timeout,
                        database.statement_timeout,
                        REPLICA_APPLICATION_NAME,
                    ),
                    usable: AtomicBool::new(false),
                    status: Mutex::new(ReplicaStatus {
                        state: ReplicaState::Unchecked,
                        lag_seconds: None,
                        checked_at: None,
                        reason: Some("not checked yet"),
                    }),
                    reads: AtomicU64::new(0),
                })
            })
            .collect();
        Ok(Replicas {
            replicas,
            max_lag: settings.max_lag,
            keep_positions: settings.max_lag * 2 + settings.check_interval * 4,
            next: AtomicUsize::new(0),
            fallbacks: AtomicU64::new(0),
            primary_positions: Mutex::default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// A usable replica, taking turns among them; None when none is.
    pub fn pick(&self) -> Option<Arc<Replica>> {
        let count = self.replicas.len();
        if count == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.replicas[(start + offset) % count])
            .find(|replica| replica.usable.load(Ordering::Acquire))
            .cloned()
    }

    /// Counts a reporting read the primary served although replicas are configured.
    pub fn count_fallback(&self) {
        if !self.is_empty() {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn positions(&self) -> MutexGuard<'_, VecDeque<(DateTime<Utc>, i64)>> {
        self.primary_positions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record_primary_position(&self, sampled_at: DateTime<Utc>, lsn: i64) {
        let mut positions = self.positions();
        positions.push_back((sampled_at, lsn));
        let keep_from = sampled_at - chrono::Duration::from_std(self.keep_positions).unwrap_or_default();
        while positions.front().is_some_and(|(at, _)| *at < keep_from) {
            positions.pop_front();
        }
    }

    /// The latest instant a replica at this replay position is proven to hold every change
    /// committed before: the latest primary sample its replay has reached, or its last replayed
    /// commit, whichever is later. None when neither says.
    fn proven_fresh_at(&self, replay_lsn: Option<i64>, replayed_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let by_wal = replay_lsn.and_then(|replayed| {
            self.positions().iter().rev().find(|(_, lsn)| *lsn <= replayed).map(|(sampled_at, _)| *sampled_at)
        });
        by_wal.max(replayed_at)
    }

    fn lag_since(fresh_at: DateTime<Utc>) -> Duration {
        (Utc::now() - fresh_at).to_std().unwrap_or_default()
    }

    /// On a replica's connection, just before a reporting read takes its snapshot: how fresh the
    /// data it will read is proven to be, or None when that is beyond the maximum lag (or cannot
    /// be told), so that the read goes to the primary instead.
    pub fn data_as_of(&self, conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, AppError> {
        let position = replay_position(conn)?;
        if !position.in_recovery {
            return Ok(None);
        }
        let fresh_at = self.proven_fresh_at(position.replay_lsn, position.replayed_at);
        Ok(fresh_at.filter(|at| Self::lag_since(*at) <= self.max_lag))
    }

    /// Checks one replica and records what it found.
    async fn check(&self, replica: &Replica) {
        let pool = replica.pool.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut session = pool.get_timeout(CHECK_TIMEOUT).map_err(|err| err.to_string())?;
            replay_position(session.connection()).map_err(|err| err.to_string())
        })
        .await
        .unwrap_or_else(|err| Err(err.to_string()));
        match answer {
            Err(error) => {
                tracing::debug!(replica = replica.index, %error, "replica check failed");
                replica.set(ReplicaState::Down, None, Some("it does not answer"));
            }
            Ok(position) if !position.in_recovery => {
                replica.set(
                    ReplicaState::NotAStandby,
                    None,
                    Some("it is not in recovery (promoted, or not a standby)"),
                );
            }
            Ok(position) => match self.proven_fresh_at(position.replay_lsn, position.replayed_at) {
                Some(fresh_at) => {
                    let lag = Self::lag_since(fresh_at);
                    if lag <= self.max_lag {
                        replica.set(ReplicaState::Usable, Some(lag), None);
                    } else {
                        replica.set(ReplicaState::Lagging, Some(lag), Some("it lags more than the maximum"));
                    }
                }
                None => {
                    replica.set(ReplicaState::Lagging, None, Some("its replay is behind every primary position kept"))
                }
            },
        }
    }

    /// Every replica's address and standing, in configuration order.
    pub fn statuses(&self) -> Vec<(usize, String, ReplicaStatus, u64)> {
        self.replicas
            .iter()
            .map(|replica| {
                (
                    replica.index,
                    replica.address.clone(),
                    replica.status().clone(),
                    replica.reads.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    pub fn fallback_reads(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// The replicas' metrics in Prometheus's text format (nothing when none is configured).
    pub fn render_metrics(&self, out: &mut String) {
        if self.is_empty() {
            return;
        }
        // Writing to a String cannot fail.
        let _ = self.render_into(out);
    }

    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        let statuses = self.statuses();
        writeln!(out, "# HELP deskpulse_replica_up Whether the replica answered its last check as a standby.")?;
        writeln!(out, "# TYPE deskpulse_replica_up gauge")?;
        for (index, address, status, _) in &statuses {
            let up = matches!(status.state, ReplicaState::Usable | ReplicaState::Lagging);
            writeln!(out, "deskpulse_replica_up{{replica=\"{index}\",address=\"{address}\"}} {}", u8::from(up))?;
        }
        writeln!(out, "# HELP deskpulse_replica_usable Whether reporting reads go to the replica.")?;
        writeln!(out, "# TYPE deskpulse_replica_usable gauge")?;
        for (index, _, status, _) in &statuses {
            let usable = status.state == ReplicaState::Usable;
            writeln!(out, "deskpulse_replica_usable{{replica=\"{index}\"}} {}", u8::from(usable))?;
        }
        writeln!(out, "# HELP deskpulse_replica_lag_seconds Age of the replica's data at its last check.")?;
        writeln!(out, "# TYPE deskpulse_replica_lag_seconds gauge")?;
        for (index, _, status, _) in &statuses {
            if let Some(lag) = status.lag_seconds {
                writeln!(out, "deskpulse_replica_lag_seconds{{replica=\"{index}\"}} {lag}")?;
            }
        }
        writeln!(out, "# HELP deskpulse_replica_reads_total Reporting reads the replica answered.")?;
        writeln!(out, "# TYPE deskpulse_replica_reads_total counter")?;
        for (index, _, _, reads) in &statuses {
            writeln!(out, "deskpulse_replica_reads_total{{replica=\"{index}\"}} {reads}")?;
        }
        writeln!(out, "# HELP deskpulse_replica_pool_connections Pooled connections to the replica by state.")?;
        writeln!(out, "# TYPE deskpulse_replica_pool_connections gauge")?;
        for replica in &self.replicas {
            let state = replica.pool.state();
            let index = replica.index;
            let in_use = state.connections.saturating_sub(state.idle_connections);
            writeln!(
                out,
                "deskpulse_replica_pool_connections{{replica=\"{index}\",state=\"idle\"}} {}",
                state.idle_connections
            )?;
            writeln!(out, "deskpulse_replica_pool_connections{{replica=\"{index}\",state=\"in_use\"}} {in_use}")?;
        }
        writeln!(
            out,
            "# HELP deskpulse_replica_fallback_reads_total Reporting reads the primary answered because no replica was usable."
        )?;
        writeln!(out, "# TYPE deskpulse_replica_fallback_reads_total counter")?;
        writeln!(out, "deskpulse_replica_fallback_reads_total {}", self.fallback_reads())?;
        Ok(())
    }
}

/// Samples the primary's WAL position and checks every replica, each at `interval`, for as long
/// as the process runs.
pub async fn watch_replicas(primary: Db, replicas: Arc<Replicas>, interval: Duration) {
    for replica in replicas.replicas.clone() {
        let replicas = replicas.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                replicas.check(&replica).await;
            }
        });
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Taken before the read: every change committed before it lies at or below the position.
        let sampled_at = Utc::now();
        let position = primary
            .run(|conn| {
                let position: WalPosition =
                    diesel::sql_query("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn")
                        .get_result(conn)?;
                Ok(position.lsn)
            })
            .await;
        match position {
            Ok(lsn) => replicas.record_primary_position(sampled_at, lsn),
            Err(err) => tracing::debug!(error = %err, "cannot read the primary's WAL position"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_leave_out_credentials_and_parameters() {
        assert_eq!(
            address_of("postgres://u:p%40ss@db-2.internal:5433/deskpulse?sslmode=require", 0),
            "db-2.internal:5433/deskpulse"
        );
        assert_eq!(address_of("postgresql://db/x", 1), "db/x");
        assert_eq!(address_of("host=db password=secret", 2), "replica 2");
    }

    #[test]
    fn urls_split_on_commas() {
        let urls: ReplicaUrls = " postgres://a/x , postgres://b/x ,".parse().unwrap();
        assert_eq!(urls.0.len(), 2);
        assert_eq!(urls.0[1].expose(), "postgres://b/x");
    }

    #[test]
    fn freshness_is_the_latest_sample_reached_or_the_last_replayed_commit() {
        let replicas = Replicas {
            max_lag: Duration::from_secs(5),
            keep_positions: Duration::from_secs(60),
            ..Replicas::default()
        };
        let t0 = Utc::now() - chrono::Duration::seconds(3);
        let (t1, t2) = (t0 + chrono::Duration::seconds(1), t0 + chrono::Duration::seconds(2));
        for (at, lsn) in [(t0, 100), (t1, 200), (t2, 300)] {
            replicas.record_primary_position(at, lsn);
        }
        assert_eq!(replicas.proven_fresh_at(Some(250), None), Some(t1));
        assert_eq!(replicas.proven_fresh_at(Some(300), None), Some(t2));
        assert_eq!(replicas.proven_fresh_at(Some(50), None), None);
        let commit = t1 + chrono::Duration::milliseconds(500);
        assert_eq!(replicas.proven_fresh_at(Some(250), Some(commit)), Some(commit));
        assert_eq!(replicas.proven_fresh_at(Some(300), Some(commit)), Some(t2));
    }
}
