//! Sealed blocks of KPI facts (migration 2026-12-02-000011): one packed value per UTC day, so
//! that a period's facts are read as a few dozen values rather than one row per ticket.
//!
//! Freshness never depends on the sealer: a change to a day's facts leaves a dirty row for that
//! day in its own transaction, and readers skip a block whose day has one. The sealer only makes
//! reads cheaper again; if it stops, reads fall back to the fact rows day by day.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Bytea, Date, Integer};

use crate::error::AppError;

/// One advisory lock key for every sealer of a database: two instances never seal at once.
const SEALER_LOCK: i64 = 0x6b70_695f_7365_616c; // "kpi_seal"

/// What one pass of the sealer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SealPass {
    /// Days whose block was rebuilt (or dropped, for a day left without facts).
    pub days_sealed: usize,
    /// Whether another sealer held the lock, so this one did nothing.
    pub skipped: bool,
}

#[derive(QueryableByName)]
struct DueDay {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Seals up to `limit` days whose block is missing or stale, oldest first, each in its own
/// short repeatable-read transaction; then drops the surplus dirty rows of the current day
/// (which is never sealed: its facts change all the time), keeping one so it is sealed once it
/// is over.
pub fn seal_due(conn: &mut PgConnection, limit: i64) -> Result<SealPass, AppError> {
    let due: Vec<DueDay> = diesel::sql_query(
        "SELECT DISTINCT day FROM kpi_dirty_days WHERE day < kpi_block_day(now()) ORDER BY day LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    let mut pass = SealPass::default();
    for DueDay { day } in due {
        let sealed = in_sealer_snapshot(conn, |conn| {
            diesel::sql_query("SELECT kpi_seal_block($1)").bind::<Date, _>(day).execute(conn)?;
            Ok(())
        })?;
        if sealed.is_none() {
            pass.skipped = true;
            return Ok(pass);
        }
        pass.days_sealed += 1;
    }
    let tidied = in_sealer_snapshot(conn, |conn| {
        diesel::sql_query(
            // One row kept per day, found by one grouping: a correlated look-up per row took
            // quadratic time, minutes on a day of 500,000 writes.
            "DELETE FROM kpi_dirty_days d
             USING (SELECT day, min(ctid) AS kept FROM kpi_dirty_days
                    WHERE day >= kpi_block_day(now()) GROUP BY day) k
             WHERE d.day = k.day AND d.ctid <> k.kept
               AND NOT EXISTS (SELECT 1 FROM kpi_fact_blocks b WHERE b.day = d.day)",
        )
        .execute(conn)?;
        Ok(())
    })?;
    pass.skipped = tidied.is_none();
    Ok(pass)
}

/// Seals every day that needs it (after a bulk load, or from the command line). While another
/// sealer (a server's) holds the lock for one of its short transactions, it waits and goes on.
pub fn seal_all(conn: &mut PgConnection) -> Result<usize, AppError> {
    let mut sealed = 0;
    loop {
        let pass = seal_due(conn, 1_000)?;
        sealed += pass.days_sealed;
        if pass.skipped {
            std::thread::sleep(std::time::Duration::from_millis(50));
        } else if pass.days_sealed == 0 {
            return Ok(sealed);
        }
    }
}

/// Marks every day with a block or with facts as due, so that the sealer rebuilds them all;
/// reads use the fact rows meanwhile.
pub fn mark_all_due(conn: &mut PgConnection) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO kpi_dirty_days (day)
         SELECT day FROM kpi_fact_blocks UNION SELECT DISTINCT kpi_block_day(starts_at) FROM kpi_ticket_facts",
    )
    .execute(conn)?;
    Ok(())
}

/// Runs `work` in one repeatable-read transaction holding the sealer's lock: the dirty rows a
/// seal deletes and the facts it packs come from one snapshot. None when another sealer holds
/// the lock.
fn in_sealer_snapshot(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<(), AppError>,
) -> Result<Option<()>, AppError> {
    conn.build_transaction().repeatable_read().run(|conn| {
        let Locked { locked } = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<BigInt, _>(SEALER_LOCK)
            .get_result(conn)?;
        if !locked {
            return Ok(None);
        }
        work(conn)?;
        Ok(Some(()))
    })
}

/// A day's block that no change has touched since it was sealed, and which version of it.
#[derive(QueryableByName)]
pub struct FreshBlock {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    /// Changes with every write of the block's row (migration 2026-12-02-000013).
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
}

/// The fresh blocks of the days in `[first, end)`, in day order. Call it in the snapshot the
/// rest of the read uses: a block and the dirty rows that void it must be seen together.
pub fn fresh_blocks(conn: &mut PgConnection, first: NaiveDate, end: NaiveDate) -> Result<Vec<FreshBlock>, AppError> {
    Ok(diesel::sql_query(
        "SELECT b.day, b.generation FROM kpi_fact_blocks b
         WHERE b.day >= $1 AND b.day < $2
           AND NOT EXISTS (SELECT 1 FROM kpi_dirty_days d WHERE d.day = b.day)
         ORDER BY b.day",
    )
    .bind::<Date, _>(first)
    .bind::<Date, _>(end)
    .load(conn)?)
}

/// A block's content.
#[derive(QueryableByName)]
pub struct BlockFacts {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    #[diesel(sql_type = Bytea)]
    pub facts: Vec<u8>,
}

/// The blocks of these days, in day order (in the snapshot that listed them fresh).
pub fn block_facts(conn: &mut PgConnection, days: &[NaiveDate]) -> Result<Vec<BlockFacts>, AppError> {
    Ok(diesel::sql_query("SELECT day, generation, facts FROM kpi_fact_blocks WHERE day = ANY($1) ORDER BY day")
        .bind::<diesel::sql_types::Array<Date>, _>(days)
        .load(conn)?)
}

/// Fresh blocks whose content differs from their day's fact rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BlockDrift {
    pub blocks_checked: i64,
    pub blocks_drifted: i64,
    /// Up to ten of those days.
    pub sample: Vec<NaiveDate>,
}

#[derive(QueryableByName)]
struct BlockDriftRow {
    #[diesel(sql_type = BigInt)]
    checked: i64,
    #[diesel(sql_type = BigInt)]
    drifted: i64,
    #[diesel(sql_type = diesel::sql_types::Array<Date>)]
    sample: Vec<NaiveDate>,
}

/// Compares every fresh block with its day's fact rows. Call it in a repeatable-read snapshot.
pub fn verify(conn: &mut PgConnection) -> Result<BlockDrift, AppError> {
    let row: BlockDriftRow = diesel::sql_query(
        "WITH fresh AS (
             SELECT b.* FROM kpi_fact_blocks b
             WHERE NOT EXISTS (SELECT 1 FROM kpi_dirty_days d WHERE d.day = b.day))
         SELECT (SELECT count(*) FROM fresh) AS checked, count(*) AS drifted,
                coalesce((array_agg(f.day ORDER BY f.day))[1:10], '{}') AS sample
         FROM fresh f LEFT JOIN kpi_fact_block_source s USING (day)
         WHERE (f.tickets, f.facts) IS DISTINCT FROM (s.tickets, s.facts)",
    )
    .get_result(conn)?;
    Ok(BlockDrift { blocks_checked: row.checked, blocks_drifted: row.drifted, sample: row.sample })
}

/// How many blocks there are and how many days wait for the sealer (for `kpi verify`'s report).
pub fn counts(conn: &mut PgConnection) -> Result<(i64, i64), AppError> {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = Integer)]
        blocks: i32,
        #[diesel(sql_type = Integer)]
        due: i32,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM kpi_fact_blocks)::int AS blocks,
                (SELECT count(DISTINCT day) FROM kpi_dirty_days WHERE day < kpi_block_day(now()))::int AS due",
    )
    .get_result(conn)?;
    Ok((i64::from(counts.blocks), i64::from(counts.due)))
}
