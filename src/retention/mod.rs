//! Retention: removes the records PRODUCT.md keeps for a limited time once that time has passed
//! (docs/retention.md).
//!
//! A run computes its cut-offs from one instant, records itself in `retention_runs`, and removes
//! each kind of record in batches, each batch in its own transaction. A dry run counts the same
//! records and removes nothing. Runs hold a PostgreSQL advisory lock from start to finish, so two
//! never overlap, whoever starts them: `deskpulse retention run`, the `runRetention` mutation, or
//! the daily schedule of `serve`.

mod command;
mod schedule;
mod settings;

use chrono::{DateTime, Utc};
use diesel::PgConnection;

pub use command::{RetentionCommand, run_command};
pub use schedule::{next_daily_run, spawn_daily_runs};
pub use settings::{RetentionSchedule, RetentionSettings};

use crate::domain::text_enum;
use crate::error::AppError;
use crate::models::{NewRetentionRun, RetentionRun};
use crate::store;
use crate::store::retention::{RecordCounts, RecordKind};

text_enum! {
    /// Where a retention run is.
    RetentionRunStatus {
        Running => "RUNNING",
        Completed => "COMPLETED",
        /// Stopped by an error (see `error`); what earlier batches removed stays removed and counted.
        Failed => "FAILED",
    }
}

/// `triggered_by` of runs started by `deskpulse retention run`.
pub const CLI_TRIGGER: &str = "cli";
/// `triggered_by` of the daily runs of `serve`.
pub const SCHEDULE_TRIGGER: &str = "scheduler";

/// Longest error text kept in a failed run's record.
const ERROR_TEXT_MAX: usize = 500;

/// The instants before which records are past their retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub tickets_closed_before: DateTime<Utc>,
    pub interactions_before: DateTime<Utc>,
    pub reports_generated_before: DateTime<Utc>,
    pub actions_ended_before: DateTime<Utc>,
}

impl Cutoffs {
    /// The cut-offs of a run started at `now`: each period back from the same instant.
    pub fn at(now: DateTime<Utc>, settings: &RetentionSettings) -> Result<Cutoffs, AppError> {
        let back = |period: std::time::Duration| {
            chrono::Duration::from_std(period).ok().and_then(|period| now.checked_sub_signed(period)).ok_or_else(|| {
                AppError::internal(format!("a retention period of {period:?} reaches before the calendar"))
            })
        };
        Ok(Cutoffs {
            tickets_closed_before: back(settings.tickets)?,
            interactions_before: back(settings.interactions)?,
            reports_generated_before: back(settings.reports)?,
            actions_ended_before: back(settings.improvement_actions)?,
        })
    }
}

/// Runs retention now, or with `dry_run` only counts. Answers CONFLICT when another run is in
/// progress. A run that fails part-way is recorded and returned as FAILED.
pub fn run(
    conn: &mut PgConnection,
    settings: &RetentionSettings,
    triggered_by: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<RetentionRun, AppError> {
    holding_run_lock(conn, |conn| execute(conn, settings, triggered_by, dry_run, now))
}

/// The daily run for `day` (a date in `schedule`'s time zone), unless a scheduled run already
/// started that day: then `None`. Answers CONFLICT when another run is in progress.
pub fn run_scheduled(
    conn: &mut PgConnection,
    settings: &RetentionSettings,
    schedule: &RetentionSchedule,
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Result<Option<RetentionRun>, AppError> {
    holding_run_lock(conn, |conn| {
        // Checked under the lock: another server that ran today has finished and recorded it.
        let recent = store::retention::run_starts_since(conn, SCHEDULE_TRIGGER, now - chrono::Duration::days(2))?;
        if recent.iter().any(|started| started.with_timezone(&schedule.time_zone).date_naive() == day) {
            return Ok(None);
        }
        execute(conn, settings, SCHEDULE_TRIGGER, false, now).map(Some)
    })
}

/// Runs `work` holding the run lock on this connection's session, and releases it whatever
/// happens: when `work` returns (also with an error) and when it panics (the lock's guard unlocks
/// as the panic unwinds). The connection may go back to a pool, where a lock left held would
/// make every later run answer CONFLICT for as long as that connection lives.
pub fn holding_run_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    if !store::retention::try_lock(conn)? {
        return Err(AppError::Conflict("a retention run is in progress; try again when it has finished".into()));
    }
    let mut lock = RunLock { conn: Some(conn) };
    let result = lock.conn.as_deref_mut().map(work);
    let unlocked = lock.release();
    let value = result.ok_or_else(|| AppError::internal("the run lock lost its connection"))??;
    unlocked?;
    Ok(value)
}

/// The held run lock; dropping it without [`RunLock::release`] (a panic unwinding) unlocks.
struct RunLock<'c> {
    conn: Option<&'c mut PgConnection>,
}

impl RunLock<'_> {
    fn release(&mut self) -> Result<(), AppError> {
        self.conn.take().map_or(Ok(()), store::retention::unlock)
    }
}

impl Drop for RunLock<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.release() {
            // The session is unusable; the lock goes when it closes (a pool discards a
            // connection returned while its thread panics).
            tracing::error!(error = %err, "could not release the retention run lock");
        }
    }
}

fn execute(
    conn: &mut PgConnection,
    settings: &RetentionSettings,
    triggered_by: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<RetentionRun, AppError> {
    let cutoffs = Cutoffs::at(now, settings)?;
    let interrupted = store::retention::fail_interrupted_runs(conn, now)?;
    if interrupted > 0 {
        tracing::warn!(interrupted, "retention runs left RUNNING by a stopped process are now marked FAILED");
    }
    let run = store::retention::start_run(
        conn,
        &NewRetentionRun {
            started_at: now,
            dry_run,
            triggered_by: triggered_by.to_owned(),
            tickets_closed_before: cutoffs.tickets_closed_before,
            interactions_before: cutoffs.interactions_before,
            reports_generated_before: cutoffs.reports_generated_before,
            actions_ended_before: cutoffs.actions_ended_before,
        },
    )?;
    tracing::info!(run = run.id, dry_run, triggered_by, ?cutoffs, "retention run started");
    let outcome = if dry_run {
        store::retention::count_expired(conn, &cutoffs)
            .and_then(|counts| store::retention::add_counts(conn, run.id, &counts))
    } else {
        purge(conn, run.id, &cutoffs, i64::from(settings.batch_size))
    };
    let (status, error) = match &outcome {
        Ok(()) => (RetentionRunStatus::Completed, None),
        Err(err) => {
            tracing::error!(run = run.id, error = %err, debug = ?err, "retention run failed");
            (RetentionRunStatus::Failed, Some(error_text(err)))
        }
    };
    let finished = store::retention::finish_run(conn, run.id, status, error.as_deref(), Utc::now())?;
    tracing::info!(
        run = finished.id,
        status = %finished.status,
        tickets = finished.tickets_removed,
        ticket_events = finished.ticket_events_removed,
        ratings = finished.ratings_removed,
        interactions = finished.interactions_removed,
        reports = finished.reports_removed,
        improvement_actions = finished.improvement_actions_removed,
        "retention run finished"
    );
    Ok(finished)
}

/// Removes every expired record, kind by kind, batch by batch, until a batch comes back short.
fn purge(conn: &mut PgConnection, run_id: i64, cutoffs: &Cutoffs, limit: i64) -> Result<(), AppError> {
    for kind in RecordKind::PURGE_ORDER {
        loop {
            if crate::startup::is_stopping() {
                // Every batch so far is committed and counted; the next run removes the rest.
                return Err(AppError::Conflict("stopped: the server is shutting down".into()));
            }
            let batch: RecordCounts = store::retention::remove_batch(conn, kind, cutoffs, run_id, limit)?;
            tracing::debug!(run = run_id, ?kind, ?batch, "retention batch committed");
            if batch.of(kind) < limit {
                break;
            }
        }
    }
    Ok(())
}

/// A failed run's `error`: the cause itself (the record is for ADMINs), cut to a short length.
fn error_text(err: &AppError) -> String {
    let text = match err.root() {
        AppError::Internal(cause) | AppError::Unavailable(cause) => cause.to_string(),
        other => other.to_string(),
    };
    match text.char_indices().nth(ERROR_TEXT_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
