//! The scheduler inside `serve`: last week's report every Monday, last month's on the 1st, and
//! the outcome of every completed improvement action once its window has ended.
//!
//! It checks on an interval rather than sleeping until midnight, so a server that was down at
//! the turn of the week still makes the report when it comes back. A period is due a configurable
//! delay after it ends. Any number of instances may run it: `store::reports::generate` stores one
//! SCHEDULED report per period, and `store::improvement::keep_outcome` keeps each outcome once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{parse_bool, parse_duration};
use crate::db::Db;
use crate::domain::report::{ReportKind, ReportPeriod};
use crate::error::AppError;
use crate::http::Startup;
use crate::store;

/// Recorded as `generatedBy` of scheduled reports.
pub const SCHEDULER_ACTOR: &str = "scheduler";

#[derive(Debug, Clone, clap::Args)]
pub struct ReportScheduleSettings {
    /// Generate last week's report every Monday and last month's on the 1st, and keep completed
    /// improvement actions' outcomes once their windows end (true/false).
    #[arg(id = "report_schedule", long = "report-schedule", env = "DESKPULSE_REPORT_SCHEDULE", value_name = "BOOL", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// The IANA time zone scheduled reports cut their weeks and months in.
    #[arg(id = "report_time_zone", long = "report-time-zone", env = "DESKPULSE_REPORT_TIME_ZONE", value_name = "ZONE", default_value = "UTC",
          value_parser = parse_time_zone)]
    pub time_zone: Tz,
    /// How often the scheduler looks for a report that is due, e.g. 1m, 10m.
    #[arg(id = "report_check_interval", long = "report-check-interval", env = "DESKPULSE_REPORT_CHECK_INTERVAL", value_name = "DURATION",
          default_value = "5m", value_parser = parse_check_interval)]
    pub check_interval: Duration,
    /// How long after a week or month ends its report waits, for late imports and clocks a little
    /// behind (a Monday report with the default 1h is made from 01:00 on).
    #[arg(id = "report_delay", long = "report-delay", env = "DESKPULSE_REPORT_DELAY", value_name = "DURATION",
          default_value = "1h", value_parser = parse_duration)]
    pub delay: Duration,
}

/// At least a second: a zero interval would spin (and tokio refuses it).
pub(crate) fn parse_check_interval(value: &str) -> Result<Duration, String> {
    let interval = parse_duration(value)?;
    if interval < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(interval)
}

pub fn parse_time_zone(value: &str) -> Result<Tz, String> {
    value.parse::<Tz>().map_err(|_| format!("{value:?} is not an IANA time zone (example: Europe/Paris)"))
}

/// The instant whose completed periods are due: `delay` before now.
pub fn due_by(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero())
}

#[derive(Debug, Clone, clap::Args)]
pub struct SlaWatchSettings {
    /// Record each SLA breach as an SLA_BREACHED ticket event when it happens (true/false).
    #[arg(id = "sla_watch", long = "sla-watch", env = "DESKPULSE_SLA_WATCH", value_name = "BOOL", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// How often the SLA watch looks for breaches, e.g. 30s: a breach is recorded within this
    /// (plus the pass) of happening.
    #[arg(id = "sla_check_interval", long = "sla-check-interval", env = "DESKPULSE_SLA_CHECK_INTERVAL", value_name = "DURATION",
          default_value = "30s", value_parser = parse_check_interval)]
    pub check_interval: Duration,
}

/// Records SLA breaches as they happen, for the life of the server. Any number of instances may
/// run it: `store::sla::record_breaches` marks and records each breach in one statement.
pub async fn run_sla_watch(db: Db, settings: SlaWatchSettings, startup: Arc<Startup>) {
    let mut ticker = tokio::time::interval(settings.check_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !startup.is_migrated() {
            continue;
        }
        match db.run(|conn| store::sla::record_breaches(conn, Utc::now())).await {
            Ok(recorded) => {
                for breach in &recorded {
                    tracing::info!(ticket = breach.ticket_id, clock = %breach.clock, at = %breach.at, "SLA breach recorded");
                }
                startup.count_sla_breaches(recorded.len() as u64);
            }
            Err(err) => tracing::warn!(error = %err, "recording SLA breaches failed; retrying later"),
        }
        startup.count_sla_watch_pass();
    }
}

/// Runs for the life of the server.
pub async fn run_report_schedule(db: Db, settings: ReportScheduleSettings, startup: Arc<Startup>) {
    let mut ticker = tokio::time::interval(settings.check_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !startup.is_migrated() {
            continue;
        }
        for kind in ReportKind::ALL.iter().copied() {
            let period = ReportPeriod::last_completed(kind, due_by(Utc::now(), settings.delay), settings.time_zone);
            let generated =
                db.run(move |conn| store::reports::generate_scheduled(conn, &period, SCHEDULER_ACTOR)).await;
            match generated {
                Ok(Some(report)) => tracing::info!(
                    report = report.id,
                    kind = %kind,
                    period_start = %period.start_date,
                    time_zone = %settings.time_zone,
                    "scheduled report generated"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, kind = %kind, "scheduled report failed; retrying later"),
            }
        }
        keep_due_outcomes(&db).await;
        startup.count_scheduler_pass();
    }
}

/// Measures and keeps the outcome of every completed action whose window has ended. A read of
/// `outcome` never writes; until this pass keeps it, it is measured when read.
async fn keep_due_outcomes(db: &Db) {
    let now = Utc::now();
    let due = match db.run(move |conn| store::improvement::outcomes_due(conn, now)).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list the outcomes due; retrying later");
            return;
        }
    };
    for id in due {
        match db.run(move |conn| store::improvement::keep_outcome(conn, id, Utc::now())).await {
            Ok(Some(action)) => {
                tracing::info!(action = action.id, value = ?action.outcome_value, "improvement outcome kept")
            }
            // Another instance has it (locked, or committed it first).
            Ok(None) => {}
            Err(err) if matches!(err.root(), AppError::Conflict(_)) => {}
            Err(err) => tracing::warn!(action = id, error = %err, "keeping an outcome failed; retrying later"),
        }
    }
}
