//! KPI reads: the fact rows of a period from PostgreSQL, computed by the engine in
//! [`crate::kpi`]. The rows come packed (a sealed block per day, or the rows of a run of days
//! concatenated by `string_agg`), so the database only sends narrow values in time order; blocks
//! this process has read before come from memory ([`kpi_block_cache`]). Every figure is then
//! computed in Rust, in two passes over the values that are merged at the end.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Timestamptz};

use crate::error::AppError;
use crate::kpi::business::BusinessClocks;
use crate::kpi::engine::{Engine, FrameResult, FrameSpec};
use crate::kpi::facts::DecodedFacts;
use crate::schema::technicians;
use crate::store::{kpi_block_cache, kpi_blocks};

pub use crate::kpi::{
    Bucket, DurationStats, Grouping, InteractionTotal, KpiFilter, KpiPoint, KpiQuery, KpiValues, SlaClockValues,
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
    // The SLA clocks' calendars, laid out over the rows' range (a ticket's clock can start
    // before it: that span is walked by the calendar).
    let calendars = super::sla::calendar_copies(conn)?;
    let clocks = Arc::new(BusinessClocks::new(calendars, from - Duration::days(LOOKBACK_DAYS + 1), to));
    let now = Utc::now();
    // Two passes share the slices, each into its own engine, merged at the end: on two cores a
    // warm answer (its blocks in memory) takes half the time. While blocks come from the
    // database, the read and the passes overlap instead of taking turns.
    let mut engines =
        [Engine::new(&specs, teams.clone(), clocks.clone(), now), Engine::new(&specs, teams, clocks, now)];
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Slice>(SLICES_IN_FLIGHT);
    let slices = Mutex::new(Some(receiver));
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            for_each_fact_slice(conn, from, to, |slice| {
                // The receiver is gone only when a pass stopped: stop reading.
                sender.send(slice).map_err(|_| AppError::Internal("the KPI pass stopped".into()))
            })
        });
        let [first, second] = &mut engines;
        let helper = scope.spawn(|| pass(&slices, second));
        let passed = pass(&slices, first);
        let helped = helper.join().map_err(|_| AppError::Internal("a KPI pass panicked".into()))?;
        let read = reader.join().map_err(|_| AppError::Internal("the KPI read panicked".into()))?;
        passed.and(helped).and(read)
    })?;
    let [mut engine, other] = engines;
    engine.absorb(other);
    Ok(engine.finish())
}

type Slices = Mutex<Option<Receiver<Slice>>>;

/// Feeds slices to `engine` until there are no more, decoding those that come packed (and
/// keeping the blocks among them in memory). However it ends (a slice that does not decode, a
/// panic), it drops the receiver on its way out, so that the reader never waits for a
/// pass that is gone.
fn pass(slices: &Slices, engine: &mut Engine) -> Result<(), AppError> {
    struct StopReadingOnExit<'a>(&'a Slices);
    impl Drop for StopReadingOnExit<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        }
    }
    let _stop = StopReadingOnExit(slices);
    loop {
        let next = match slices.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref() {
            Some(receiver) => receiver.recv(),
            None => return Ok(()),
        };
        match next {
            Ok(Slice::Decoded(facts)) => engine.facts(&facts),
            Ok(Slice::Packed { bytes, kind, block }) => {
                let facts = match kind {
                    SliceKind::Tickets => DecodedFacts::tickets(&bytes)?,
                    SliceKind::LooseInteractions => DecodedFacts::loose_interactions(&bytes)?,
                };
                engine.facts(&facts);
                if let Some((database, day, generation)) = block {
                    kpi_block_cache::insert(database, day, generation, Arc::new(facts));
                }
            }
            Err(_) => return Ok(()),
        }
    }
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
    for_each_fact_slice(conn, from, to, |slice| {
        if let Slice::Packed { bytes: packed, .. } = slice {
            bytes += packed.len();
        }
        Ok(())
    })?;
    Ok(bytes)
}

/// Facts handed from the read to the passes.
enum Slice {
    /// A block this process keeps.
    Decoded(Arc<DecodedFacts>),
    /// Fact rows as the database sent them; a block's day and generation when they are one.
    Packed { bytes: Vec<u8>, kind: SliceKind, block: Option<(kpi_block_cache::DatabaseId, NaiveDate, i64)> },
}

impl Slice {
    fn rows(bytes: Vec<u8>, kind: SliceKind) -> Slice {
        Slice::Packed { bytes, kind, block: None }
    }
}

#[derive(Clone, Copy)]
enum SliceKind {
    Tickets,
    LooseInteractions,
}

#[derive(QueryableByName)]
struct Aggregated {
    #[diesel(sql_type = Nullable<Bytea>)]
    facts: Option<Vec<u8>>,
}

/// Hands over every fact row a computation over `[from, to)` needs: the tickets whose facts
/// start in the period or up to [`LOOKBACK_DAYS`] before it (whole UTC days: a day's fresh block
/// where there is one, from memory when this process holds that version of it, and its fact rows
/// otherwise), the long-lived ones still active in it, and the interactions without a ticket
/// that occurred in it. Rows starting after `to` in its last day's block come along; the engine
/// places nothing of theirs in the period.
fn for_each_fact_slice(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut take: impl FnMut(Slice) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let lookback_from = from.checked_sub_signed(Duration::days(LOOKBACK_DAYS)).unwrap_or(from);
    let first_day = lookback_from.date_naive();
    let end_day = (to - Duration::microseconds(1)).date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    let database = kpi_block_cache::database_id(conn)?;
    let fresh = kpi_blocks::fresh_blocks(conn, first_day, end_day)?;
    let mut fresh = fresh.iter().peekable();
    let mut slice_first = first_day;
    while slice_first < end_day {
        let slice_end = slice_first.checked_add_days(Days::new(SLICE_DAYS)).unwrap_or(end_day).min(end_day);
        let mut missing = Vec::new();
        let mut day = slice_first;
        while day < slice_end {
            match fresh.next_if(|block| block.day < slice_end) {
                Some(block) => {
                    // The days before this block that have none: their rows.
                    if day < block.day {
                        take_rows(conn, day_start(day), day_start(block.day).min(to), &mut take)?;
                    }
                    match kpi_block_cache::get(database, block.day, block.generation) {
                        Some(facts) => take(Slice::Decoded(facts))?,
                        None => missing.push(block.day),
                    }
                    day = block.day.succ_opt().unwrap_or(slice_end);
                }
                None => {
                    take_rows(conn, day_start(day), day_start(slice_end).min(to), &mut take)?;
                    day = slice_end;
                }
            }
        }
        if !missing.is_empty() {
            for block in kpi_blocks::block_facts(conn, &missing)? {
                let block_key = Some((database, block.day, block.generation));
                take(Slice::Packed { bytes: block.facts, kind: SliceKind::Tickets, block: block_key })?;
            }
        }
        slice_first = slice_end;
    }
    let long_lived: Aggregated = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_ticket_facts \
         WHERE long_lived AND active_until >= $1 AND starts_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(day_start(first_day))
    .get_result(conn)?;
    if let Some(bytes) = long_lived.facts {
        take(Slice::rows(bytes, SliceKind::Tickets))?;
    }
    let loose: Aggregated = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_loose_interaction_facts \
         WHERE occurred_at >= $1 AND occurred_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    if let Some(bytes) = loose.facts {
        take(Slice::rows(bytes, SliceKind::LooseInteractions))?;
    }
    Ok(())
}

/// The fact rows of the tickets starting in `[from, to)`, as one value.
fn take_rows(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    take: &mut impl FnMut(Slice) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let rows: Aggregated = diesel::sql_query(
        "SELECT string_agg(facts, ''::bytea) AS facts FROM kpi_ticket_facts WHERE starts_at >= $1 AND starts_at < $2",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    match rows.facts {
        Some(bytes) => take(Slice::rows(bytes, SliceKind::Tickets)),
        None => Ok(()),
    }
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}
