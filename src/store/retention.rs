//! Retention: the run records, the lock that keeps runs one at a time, and the batches that
//! remove expired records (or, for a dry run, count them).

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::domain::TicketStatus;
use crate::error::AppError;
use crate::models::{NewRetentionRun, RetentionRun};
use crate::retention::{Cutoffs, RetentionRunStatus};
use crate::schema::{
    improvement_actions, interactions, performance_reports, retention_runs, satisfaction_ratings, ticket_events,
    tickets,
};

/// The session-level advisory lock a run holds from start to finish, so runs never overlap
/// (whichever process or server starts them).
pub const RUN_LOCK_KEY: i64 = 0x6465_736b_7265_746e; // "deskretn"

define_sql_function! {
    fn pg_try_advisory_lock(key: BigInt) -> Bool;
}
define_sql_function! {
    fn pg_advisory_unlock(key: BigInt) -> Bool;
}

/// What a run removed (or would remove), per record kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub tickets: i64,
    pub ticket_events: i64,
    pub ratings: i64,
    pub interactions: i64,
    pub reports: i64,
    pub improvement_actions: i64,
}

/// The records a run removes, each in batches, in this order: tickets first, because their
/// interactions go with them whatever their age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Tickets,
    Interactions,
    Reports,
    ImprovementActions,
}

impl RecordKind {
    pub const PURGE_ORDER: [RecordKind; 4] =
        [RecordKind::Tickets, RecordKind::Interactions, RecordKind::Reports, RecordKind::ImprovementActions];
}

impl RecordCounts {
    /// How many records of `kind` itself (not their children) these counts hold.
    pub fn of(&self, kind: RecordKind) -> i64 {
        match kind {
            RecordKind::Tickets => self.tickets,
            RecordKind::Interactions => self.interactions,
            RecordKind::Reports => self.reports,
            RecordKind::ImprovementActions => self.improvement_actions,
        }
    }
}

/// Takes the run lock on this connection's session; false when another session holds it.
pub fn try_lock(conn: &mut PgConnection) -> Result<bool, AppError> {
    Ok(dsl::select(pg_try_advisory_lock(RUN_LOCK_KEY)).get_result(conn)?)
}

pub fn unlock(conn: &mut PgConnection) -> Result<(), AppError> {
    dsl::select(pg_advisory_unlock(RUN_LOCK_KEY)).get_result::<bool>(conn)?;
    Ok(())
}

/// Marks as FAILED every run still RUNNING. Only call it holding the run lock: a run holds the
/// lock while it is RUNNING, so such a row belongs to a run whose process or connection died.
pub fn fail_interrupted_runs(conn: &mut PgConnection, at: DateTime<Utc>) -> Result<usize, AppError> {
    Ok(diesel::update(retention_runs::table.filter(retention_runs::status.eq(RetentionRunStatus::Running)))
        .set((
            retention_runs::status.eq(RetentionRunStatus::Failed),
            retention_runs::finished_at.eq(at),
            retention_runs::error
                .eq("interrupted: the run stopped before it finished (its counts are what it removed)"),
        ))
        .execute(conn)?)
}

pub fn start_run(conn: &mut PgConnection, new: &NewRetentionRun) -> Result<RetentionRun, AppError> {
    Ok(diesel::insert_into(retention_runs::table)
        .values(new)
        .returning(RetentionRun::as_returning())
        .get_result(conn)?)
}

/// Adds `counts` to the run's counters.
pub fn add_counts(conn: &mut PgConnection, run_id: i64, counts: &RecordCounts) -> Result<(), AppError> {
    use retention_runs::dsl as run;
    diesel::update(run::retention_runs.find(run_id))
        .set((
            run::tickets_removed.eq(run::tickets_removed + counts.tickets),
            run::ticket_events_removed.eq(run::ticket_events_removed + counts.ticket_events),
            run::ratings_removed.eq(run::ratings_removed + counts.ratings),
            run::interactions_removed.eq(run::interactions_removed + counts.interactions),
            run::reports_removed.eq(run::reports_removed + counts.reports),
            run::improvement_actions_removed.eq(run::improvement_actions_removed + counts.improvement_actions),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn finish_run(
    conn: &mut PgConnection,
    run_id: i64,
    status: RetentionRunStatus,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<RetentionRun, AppError> {
    Ok(diesel::update(retention_runs::table.find(run_id))
        .set((retention_runs::status.eq(status), retention_runs::finished_at.eq(at), retention_runs::error.eq(error)))
        .returning(RetentionRun::as_returning())
        .get_result(conn)?)
}

/// Tickets past their retention: CLOSED before the cut-off. Tickets in any other status are kept.
type ExpiredTickets = dsl::Filter<
    dsl::Filter<tickets::table, dsl::Eq<tickets::status, TicketStatus>>,
    dsl::Lt<tickets::closed_at, DateTime<Utc>>,
>;

fn expired_tickets(closed_before: DateTime<Utc>) -> ExpiredTickets {
    tickets::table.filter(tickets::status.eq(TicketStatus::Closed)).filter(tickets::closed_at.lt(closed_before))
}

/// Counts what a run with these cut-offs would remove, from one snapshot of the database.
pub fn count_expired(conn: &mut PgConnection, cutoffs: &Cutoffs) -> Result<RecordCounts, AppError> {
    let closed_before = cutoffs.tickets_closed_before;
    let expired_ids = || expired_tickets(closed_before).select(tickets::id);
    conn.build_transaction().read_only().repeatable_read().run(|conn| {
        let old_interactions: i64 = interactions::table
            .filter(interactions::occurred_at.lt(cutoffs.interactions_before))
            .count()
            .get_result(conn)?;
        // Younger interactions of removed tickets go with their ticket.
        let young_with_ticket: i64 = interactions::table
            .filter(interactions::occurred_at.ge(cutoffs.interactions_before))
            .filter(interactions::ticket_id.eq_any(expired_tickets(closed_before).select(tickets::id.nullable())))
            .count()
            .get_result(conn)?;
        Ok(RecordCounts {
            tickets: expired_tickets(closed_before).count().get_result(conn)?,
            ticket_events: ticket_events::table
                .filter(ticket_events::ticket_id.eq_any(expired_ids()))
                .count()
                .get_result(conn)?,
            ratings: satisfaction_ratings::table
                .filter(satisfaction_ratings::ticket_id.eq_any(expired_ids()))
                .count()
                .get_result(conn)?,
            interactions: old_interactions + young_with_ticket,
            reports: performance_reports::table
                .filter(performance_reports::generated_at.lt(cutoffs.reports_generated_before))
                .count()
                .get_result(conn)?,
            improvement_actions: improvement_actions::table
                .filter(improvement_actions::ended_at.lt(cutoffs.actions_ended_before))
                .count()
                .get_result(conn)?,
        })
    })
}

/// Removes up to `limit` expired records of `kind`, oldest first, in one transaction that also
/// adds what it removed to the run's counters: if a later batch fails, the counters still say
/// exactly what is gone. Rows another transaction has locked are skipped (`SKIP LOCKED`) and left
/// for the next run.
pub fn remove_batch(
    conn: &mut PgConnection,
    kind: RecordKind,
    cutoffs: &Cutoffs,
    run_id: i64,
    limit: i64,
) -> Result<RecordCounts, AppError> {
    conn.transaction(|conn| {
        let counts = match kind {
            RecordKind::Tickets => remove_tickets(conn, cutoffs.tickets_closed_before, limit)?,
            RecordKind::Interactions => remove_interactions(conn, cutoffs.interactions_before, limit)?,
            RecordKind::Reports => remove_reports(conn, cutoffs.reports_generated_before, limit)?,
            RecordKind::ImprovementActions => remove_actions(conn, cutoffs.actions_ended_before, limit)?,
        };
        add_counts(conn, run_id, &counts)?;
        Ok(counts)
    })
}

fn removed(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

fn remove_tickets(conn: &mut PgConnection, closed_before: DateTime<Utc>, limit: i64) -> QueryResult<RecordCounts> {
    let ids: Vec<i64> = expired_tickets(closed_before)
        .select(tickets::id)
        .order((tickets::closed_at, tickets::id))
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)?;
    if ids.is_empty() {
        return Ok(RecordCounts::default());
    }
    // The children would go by ON DELETE CASCADE; removing them first is how they get counted.
    let ticket_events =
        diesel::delete(ticket_events::table.filter(ticket_events::ticket_id.eq_any(&ids))).execute(conn)?;
    let ratings = diesel::delete(satisfaction_ratings::table.filter(satisfaction_ratings::ticket_id.eq_any(&ids)))
        .execute(conn)?;
    let interactions =
        diesel::delete(interactions::table.filter(interactions::ticket_id.assume_not_null().eq_any(&ids)))
            .execute(conn)?;
    let tickets = diesel::delete(tickets::table.filter(tickets::id.eq_any(&ids))).execute(conn)?;
    Ok(RecordCounts {
        tickets: removed(tickets),
        ticket_events: removed(ticket_events),
        ratings: removed(ratings),
        interactions: removed(interactions),
        ..RecordCounts::default()
    })
}

/// Interactions that corrected a removed one keep their place; their `corrects_id` becomes NULL
/// (the foreign key's ON DELETE SET NULL, which the append-only trigger allows).
fn remove_interactions(conn: &mut PgConnection, before: DateTime<Utc>, limit: i64) -> QueryResult<RecordCounts> {
    let ids: Vec<i64> = interactions::table
        .filter(interactions::occurred_at.lt(before))
        .select(interactions::id)
        .order((interactions::occurred_at, interactions::id))
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)?;
    let interactions = diesel::delete(interactions::table.filter(interactions::id.eq_any(&ids))).execute(conn)?;
    Ok(RecordCounts { interactions: removed(interactions), ..RecordCounts::default() })
}

/// Reports are immutable (an UPDATE trigger), but may be deleted; improvement actions that cite a
/// removed report keep their place with `source_report_id` NULL (ON DELETE SET NULL).
fn remove_reports(conn: &mut PgConnection, before: DateTime<Utc>, limit: i64) -> QueryResult<RecordCounts> {
    let ids: Vec<i64> = performance_reports::table
        .filter(performance_reports::generated_at.lt(before))
        .select(performance_reports::id)
        .order((performance_reports::generated_at, performance_reports::id))
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)?;
    let reports =
        diesel::delete(performance_reports::table.filter(performance_reports::id.eq_any(&ids))).execute(conn)?;
    Ok(RecordCounts { reports: removed(reports), ..RecordCounts::default() })
}

/// Completed or abandoned actions; their change log goes with them (ON DELETE CASCADE).
fn remove_actions(conn: &mut PgConnection, ended_before: DateTime<Utc>, limit: i64) -> QueryResult<RecordCounts> {
    let ids: Vec<i64> = improvement_actions::table
        .filter(improvement_actions::ended_at.lt(ended_before))
        .select(improvement_actions::id)
        .order((improvement_actions::ended_at, improvement_actions::id))
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)?;
    let actions =
        diesel::delete(improvement_actions::table.filter(improvement_actions::id.eq_any(&ids))).execute(conn)?;
    Ok(RecordCounts { improvement_actions: removed(actions), ..RecordCounts::default() })
}

/// When the non-dry runs `triggered_by` started since `since` began.
pub fn run_starts_since(
    conn: &mut PgConnection,
    triggered_by: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, AppError> {
    Ok(retention_runs::table
        .filter(retention_runs::triggered_by.eq(triggered_by))
        .filter(retention_runs::dry_run.eq(false))
        .filter(retention_runs::started_at.ge(since))
        .select(retention_runs::started_at)
        .load(conn)?)
}

/// One page of runs, newest first, after (started_at, id).
pub fn list_runs(
    conn: &mut PgConnection,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<RetentionRun>, AppError> {
    let mut query = retention_runs::table.select(RetentionRun::as_select()).into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            retention_runs::started_at.lt(at).or(retention_runs::started_at.eq(at).and(retention_runs::id.lt(id))),
        );
    }
    Ok(query.order((retention_runs::started_at.desc(), retention_runs::id.desc())).limit(limit).load(conn)?)
}

pub fn count_runs(conn: &mut PgConnection) -> Result<i64, AppError> {
    Ok(retention_runs::table.count().get_result(conn)?)
}
