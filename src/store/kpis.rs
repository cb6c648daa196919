//! KPI reads: the fact rows of a period from PostgreSQL, computed by the engine in
//! [`crate::kpi`]. The rows come packed (one bytea per slice of time, concatenated by
//! `string_agg`), so the database only scans narrow rows in time order and the client decodes
//! them at memory speed; every figure is then computed in Rust in one pass.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Timestamptz};

use crate::error::AppError;
use crate::kpi::engine::{Engine, FrameResult, FrameSpec};
use crate::kpi::facts::Reader;
use crate::schema::technicians;
use crate::store::kpi_blocks;

pub use crate::kpi::{
    Bucket, DurationStats, Grouping, InteractionTotal, KpiFilter, KpiPoint, KpiQuery, KpiValues,
    tickets_opened_by_group,
};

/// How long before a period the rows starting then are read: a ticket whose facts span more
/// than this is `long_lived` (migration 2026-12-01-000010 uses the same 14 days) and read through
/// its own index instead. It must not be shorter than the migration's.
const LOOKBACK_DAYS: i64 = 14;

/// Rows are read in slices of this many days of their starts, so that no one value grows large.
const SLICE_DAYS: u64 = 7;

/// Values read ahead of the pass at most (each a day's block or a run of days' rows).
const SLICES_IN_FLIGHT: usize = 8;

/// Runs `read` in one read-only, repeatable-read transaction, so that every figure it computes
/// sees the same data.
pub fn in_snapshot<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.build_transaction().read_only().repeatable_read().run(read)
}

/// Answers several questions from one read of the rows their periods need: per question, every
/// KPI of each bucket and group (empty buckets present, counts 0 and averages null; every group
/// seen anywhere in the period gets every bucket). Call it inside [`in_snapshot`].
pub fn compute_many(conn: &mut PgConnection, queries: &[KpiQuery<'_>]) -> Result<Vec<FrameResult>, AppError> {
    let (Some(from), Some(to)) = (queries.iter().map(|q| q.from).min(), queries.iter().map(|q| q.to).max()) else {
        return Ok(Vec::new());
    };
    let specs = queries
        .iter()
        .map(|query| {
            let zone = query
                .time_zone
                .parse::<Tz>()
                .map_err(|_| AppError::bad_input("timeZone", "is not an IANA time zone"))?;
            Ok(FrameSpec {
                from: query.from,
                to: query.to,
                zone,
                bucket: query.bucket,
                grouping: query.grouping,
                filter: query.filter,
                count_customers: query.count_customers,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let teams: Vec<(i64, String)> = technicians::table.select((technicians::id, technicians::team)).load(conn)?;
    let mut engine = Engine::new(&specs, teams);
    // The database sends the next slices while this thread decodes the last one: on two cores
    // the read and the pass overlap instead of taking turns.
    let (sender, slices) = std::sync::mpsc::sync_channel::<(Vec<u8>, SliceKind)>(SLICES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            for_each_fact_slice(conn, from, to, |bytes, kind| {
                // The receiver is gone only when decoding failed: stop reading.
                sender.send((bytes, kind)).map_err(|_| AppError::Internal("the KPI pass stopped".into()))
            })
        });
        let decoded = slices.iter().try_for_each(|(bytes, kind)| {
            let mut reader = Reader::new(&bytes);
            while !reader.is_empty() {
                match kind {
                    SliceKind::Tickets => engine.ticket(&reader.ticket()?),
                    SliceKind::LooseInteractions => engine.loose_interaction(&reader.interaction()?),
                }
            }
            Ok::<_, AppError>(())
        });
        drop(slices);
        let read = reader.join().map_err(|_| AppError::Internal("the KPI read panicked".into()))?;
        decoded.and(read)
    })?;
    Ok(engine.finish())
}

/// The customers with the most tickets opened in `[from, to)`, most first (ties by id).
pub fn top_customers(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(i64, i64)>, AppError> {
    let filter = KpiFilter::default();
    let query = KpiQuery { count_customers: true, ..KpiQuery::whole(from, to, Grouping::None, &filter) };
    let result = compute_many(conn, std::slice::from_ref(&query))?.pop();
    Ok(result.map(|result| top_of(&result.opened_by_customer, limit)).unwrap_or_default())
}

/// The `limit` customers with the most tickets, most first (ties by id).
pub fn top_of(opened_by_customer: &std::collections::HashMap<i64, i64>, limit: usize) -> Vec<(i64, i64)> {
    let mut counts: Vec<(i64, i64)> = opened_by_customer.iter().map(|(id, n)| (*id, *n)).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.truncate(limit);
    counts
}

/// Reads the fact rows a computation over `[from, to)` reads, without decoding them: the
/// database's share of a KPI answer (the benchmark's floor). Returns the bytes read.
pub fn read_facts_only(conn: &mut PgConnection, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<usize, AppError> {
    let mut bytes = 0;
    for_each_fact_slice(conn, from, to, |slice, _| {
        bytes += slice.len();
        Ok(())
    })?;
    Ok(bytes)
}

#[derive(Clone, Copy)]
enum SliceKind {
    Tickets,
    LooseInteractions,
}

#[derive(QueryableByName)]
struct Slice {
    #[diesel(sql_type = Nullable<Bytea>)]
    facts: Option<Vec<u8>>,
}

/// Hands over every fact row a computation over `[from, to)` needs, slice by slice: the tickets
/// whose facts start in the period or up to [`LOOKBACK_DAYS`] before it (whole UTC days: a
/// day's fresh block where there is one, its fact rows otherwise), the long-lived ones still
/// active in it, and the interactions without a ticket that occurred in it. Rows starting after
/// `to` in its last day's block come along; the engine places nothing of theirs in the period.
fn for_each_fact_slice(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut take: impl FnMut(Vec<u8>, SliceKind) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let lookback_from = from.checked_sub_signed(Duration::days(LOOKBACK_DAYS)).unwrap_or(from);
    let first_day = lookback_from.date_naive();
    let end_day = (to - Duration::microseconds(1)).date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    let mut slice_first = first_day;
    while slice_first < end_day {
        let slice_end = slice_first.checked_add_days(Days::new(SLICE_DAYS)).unwrap_or(end_day).min(end_day);
        let blocks = kpi_blocks::fresh_blocks(conn, slice_first, slice_end)?;
        let mut day = slice_first;
        for block in blocks.iter().map(|block| Some(block.day)).chain(std::iter::once(None)) {
            // The days before this block (or the slice's end) that have none: their rows.
            let gap_end = block.unwrap_or(slice_end);
            if day < gap_end {
                take_rows(conn, day_start(day), day_start(gap_end).min(to), &mut take)?;
            }
            day = block.and_then(|day| day.succ_opt()).unwrap_or(slice_end);
        }
        for block in blocks {
            take(block.facts, SliceKind::Tickets)?;
        }
        slice_first = slice_end;
    }
    let long_lived: Slice = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_ticket_facts \
         WHERE long_lived AND active_until >= $1 AND starts_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(day_start(first_day))
    .get_result(conn)?;
    if let Some(bytes) = long_lived.facts {
        take(bytes, SliceKind::Tickets)?;
    }
    let loose: Slice = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_loose_interaction_facts \
         WHERE occurred_at >= $1 AND occurred_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    if let Some(bytes) = loose.facts {
        take(bytes, SliceKind::LooseInteractions)?;
    }
    Ok(())
}

/// The fact rows of the tickets starting in `[from, to)`, as one value.
fn take_rows(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    take: &mut impl FnMut(Vec<u8>, SliceKind) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let rows: Slice = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_ticket_facts WHERE starts_at >= $1 AND starts_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    match rows.facts {
        Some(bytes) => take(bytes, SliceKind::Tickets),
        None => Ok(()),
    }
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}
