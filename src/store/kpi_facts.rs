//! Upkeep of the KPI fact rows (migration 2026-12-01-000010): database triggers keep them in the
//! transaction of every change; these functions check them against the raw records, rebuild
//! them online, and fill them in bulk after a load that deferred them.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable};

use crate::error::AppError;
use crate::store::kpi_blocks::{self, BlockDrift};

/// Rows whose stored facts differ from what the raw records give.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub tickets_checked: i64,
    pub ticket_rows_drifted: i64,
    /// Up to ten of those tickets.
    pub ticket_sample: Vec<i64>,
    pub loose_interactions_checked: i64,
    pub loose_rows_drifted: i64,
    pub loose_sample: Vec<i64>,
    /// Fresh sealed blocks that differ from their day's fact rows.
    pub blocks: BlockDrift,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.ticket_rows_drifted == 0 && self.loose_rows_drifted == 0 && self.blocks.blocks_drifted == 0
    }
}

#[derive(QueryableByName)]
struct DriftRow {
    #[diesel(sql_type = BigInt)]
    checked: i64,
    #[diesel(sql_type = BigInt)]
    drifted: i64,
    #[diesel(sql_type = Array<BigInt>)]
    sample: Vec<i64>,
}

/// Recomputes every fact row from the raw records (the source views) in one snapshot and
/// compares: a row missing, extra or different is drift; and so is a fresh sealed block that
/// differs from its day's rows.
pub fn verify(conn: &mut PgConnection) -> Result<Drift, AppError> {
    conn.build_transaction().read_only().repeatable_read().run(|conn| {
        diesel::sql_query("SET LOCAL work_mem = '256MB'").execute(conn)?;
        diesel::sql_query("SET LOCAL jit = off").execute(conn)?;
        let tickets: DriftRow = diesel::sql_query(
            "SELECT (SELECT count(*) FROM tickets) AS checked, count(*) AS drifted,
                    coalesce((array_agg(ticket_id ORDER BY ticket_id))[1:10], '{}') AS sample
             FROM kpi_ticket_facts f FULL JOIN kpi_ticket_fact_source s USING (ticket_id)
             WHERE (f.starts_at, f.active_until, f.long_lived, f.facts)
                   IS DISTINCT FROM (s.starts_at, s.active_until, s.long_lived, s.facts)",
        )
        .get_result(conn)?;
        let loose: DriftRow = diesel::sql_query(
            "SELECT (SELECT count(*) FROM interactions WHERE ticket_id IS NULL) AS checked, count(*) AS drifted,
                    coalesce((array_agg(interaction_id ORDER BY interaction_id))[1:10], '{}') AS sample
             FROM kpi_loose_interaction_facts f FULL JOIN kpi_loose_interaction_fact_source s USING (interaction_id)
             WHERE (f.occurred_at, f.facts) IS DISTINCT FROM (s.occurred_at, s.facts)",
        )
        .get_result(conn)?;
        let blocks = kpi_blocks::verify(conn)?;
        Ok(Drift {
            blocks,
            tickets_checked: tickets.checked,
            ticket_rows_drifted: tickets.drifted,
            ticket_sample: tickets.sample,
            loose_interactions_checked: loose.checked,
            loose_rows_drifted: loose.drifted,
            loose_sample: loose.sample,
        })
    })
}

#[derive(QueryableByName)]
struct IdRange {
    #[diesel(sql_type = Nullable<BigInt>)]
    low: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    high: Option<i64>,
}

/// What a rebuild went through.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub batches: u64,
    pub ticket_ids: (i64, i64),
    pub blocks_sealed: usize,
}

/// Rewrites every fact row from the raw records while the server runs: tickets and interactions
/// in id ranges of `batch` ids, each range its own short transaction (it locks those tickets
/// for its moment, like any change to them). Rows that are already right are left alone. Then
/// every sealed block is resealed from the rows (reads use the rows of a day until its block is
/// fresh again).
pub fn rebuild(conn: &mut PgConnection, batch: i64, mut progress: impl FnMut(u64, i64)) -> Result<Rebuilt, AppError> {
    let batch = batch.max(1);
    let mut rebuilt = Rebuilt::default();
    let tickets = "SELECT kpi_refresh_tickets(ARRAY(SELECT id FROM tickets WHERE id >= $1 AND id < $2))";
    if let Some(range) = in_id_batches(conn, "tickets", batch, tickets, |batches, up_to| {
        rebuilt.batches = batches;
        progress(batches, up_to);
    })? {
        rebuilt.ticket_ids = range;
    }
    let loose = "SELECT kpi_refresh_loose_interactions(ARRAY(
                     SELECT id FROM interactions WHERE id >= $1 AND id < $2 AND ticket_id IS NULL
                     UNION SELECT interaction_id FROM kpi_loose_interaction_facts
                           WHERE interaction_id >= $1 AND interaction_id < $2))";
    let ticket_batches = rebuilt.batches;
    in_id_batches(conn, "interactions", batch, loose, |batches, _| rebuilt.batches = ticket_batches + batches)?;
    kpi_blocks::mark_all_due(conn)?;
    rebuilt.blocks_sealed = kpi_blocks::seal_all(conn)?;
    Ok(rebuilt)
}

/// Runs `statement` (binding an id range `[$1, $2)`) over `table`'s ids in ranges of `batch`,
/// each its own transaction; returns the ids' range, None for an empty table.
fn in_id_batches(
    conn: &mut PgConnection,
    table: &str,
    batch: i64,
    statement: &str,
    mut done: impl FnMut(u64, i64),
) -> Result<Option<(i64, i64)>, AppError> {
    let range: IdRange =
        diesel::sql_query(format!("SELECT min(id) AS low, max(id) AS high FROM {table}")).get_result(conn)?;
    let (Some(low), Some(high)) = (range.low, range.high) else { return Ok(None) };
    let (mut start, mut batches) = (low, 0);
    while start <= high {
        conn.transaction(|conn| {
            diesel::sql_query(statement)
                .bind::<BigInt, _>(start)
                .bind::<BigInt, _>(start.saturating_add(batch))
                .execute(conn)
        })?;
        start = start.saturating_add(batch);
        batches += 1;
        done(batches, start.min(high));
    }
    Ok(Some((low, high)))
}

/// Tells the triggers to leave the facts of this transaction's changes to [`fill`] (bulk loads).
pub fn defer_in_transaction(conn: &mut PgConnection) -> Result<(), AppError> {
    diesel::sql_query("SET LOCAL deskpulse.kpi_facts = 'deferred'").execute(conn)?;
    Ok(())
}

/// Writes the fact rows of tickets and interactions just loaded (ids in `[first, end)`), which
/// have none yet, in one pass each; and ends the deferral.
pub fn fill(conn: &mut PgConnection, tickets: (i64, i64), interactions: (i64, i64)) -> Result<(), AppError> {
    // Fresh statistics of what was loaded, or the planner reads the raw records a row at a time
    // the slow way; and no JIT compilation for a statement that runs once.
    diesel::sql_query("ANALYZE tickets, ticket_events, interactions, satisfaction_ratings").execute(conn)?;
    diesel::sql_query("SET LOCAL jit = off").execute(conn)?;
    diesel::sql_query(
        "INSERT INTO kpi_ticket_facts (ticket_id, starts_at, active_until, long_lived, facts)
         SELECT ticket_id, starts_at, active_until, long_lived, facts FROM kpi_ticket_fact_source
         WHERE ticket_id >= $1 AND ticket_id < $2 ORDER BY starts_at",
    )
    .bind::<BigInt, _>(tickets.0)
    .bind::<BigInt, _>(tickets.1)
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO kpi_loose_interaction_facts (interaction_id, occurred_at, facts)
         SELECT interaction_id, occurred_at, facts FROM kpi_loose_interaction_fact_source
         WHERE interaction_id >= $1 AND interaction_id < $2 ORDER BY occurred_at",
    )
    .bind::<BigInt, _>(interactions.0)
    .bind::<BigInt, _>(interactions.1)
    .execute(conn)?;
    diesel::sql_query("SET LOCAL deskpulse.kpi_facts = ''").execute(conn)?;
    Ok(())
}
