//! `deskpulse seed`: the demo data set, or a large realistic one with `--tickets N`.
//!
//! The data is generated deterministically from `--seed` (`generate.rs`) and loaded with binary
//! COPY (`copy.rs`) in one transaction: a failed or interrupted load leaves nothing behind, and
//! the indexes and foreign keys a bulk load drops come back with the rollback. See
//! docs/seeding.md.

mod copy;
mod generate;
mod rng;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use self::copy::{Chunk, Counts, Encoder, IdBases};
use self::generate::{Generator, Plan, Population};
use crate::config::DatabaseSettings;
use crate::db;
use crate::error::BoxError;
use crate::schema::{customers, interactions, satisfaction_ratings, technicians, ticket_events, tickets};

/// The seed used when `--seed` is not given, so two demo databases look alike.
pub const DEFAULT_SEED: u64 = 20_261_127;
/// Tickets per COPY batch: big enough to amortise each statement, small enough to keep memory
/// flat (one batch is being generated while the previous one is copied).
const CHUNK_TICKETS: u64 = 50_000;
/// From this many tickets on, secondary indexes and foreign keys are dropped before the load and
/// restored after it (see `drop_for_bulk_load`).
const BULK_TICKETS: u64 = 50_000;
/// Serialises concurrent seeders, so `--if-empty` seeds once however many instances start.
const SEED_LOCK_KEY: i64 = 0x6465_736b_7365_6564; // "deskseed"
/// The tables a seed writes besides `technicians`.
const LOADED_TABLES: [&str; 5] = ["customers", "tickets", "ticket_events", "interactions", "satisfaction_ratings"];
/// The tables whose secondary indexes and foreign keys are dropped for a bulk load.
const BULK_TABLES: [&str; 4] = ["tickets", "ticket_events", "interactions", "satisfaction_ratings"];

#[derive(Args, Debug, Clone)]
pub struct SeedOptions {
    /// Load a large realistic data set with this many tickets (default: the small demo set).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    pub tickets: Option<u64>,

    /// Do nothing when the tickets table already has rows (for start-up scripts).
    #[arg(long)]
    pub if_empty: bool,

    /// Random seed: the same seed gives the same data (relative to the moment the seed runs).
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Months the tickets spread over, ending now (default: 3 for the demo set, 24 with --tickets).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=120))]
    pub months: Option<u32>,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// Row counts of one seed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    technicians: u64,
    customers: u64,
    rows: Counts,
}

/// Runs `deskpulse seed`: migrates, then loads the data set (blocking; call it off the async
/// runtime). Prints progress and timings to stdout.
pub fn run(options: &SeedOptions) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut conn = db::connect(options.database.url.expose())?;
    for version in db::run_migrations(&mut conn)? {
        println!("applied {version}");
    }
    // A large load runs for minutes; the pool's statement timeout does not apply here.
    conn.batch_execute("SET statement_timeout = 0; SET TIME ZONE 'UTC'")?;

    let now = Utc::now().timestamp();
    let plan = match options.tickets {
        None => Plan::demo(options.seed, now, options.months),
        Some(tickets) => Plan::sized(options.seed, now, tickets, options.months),
    };
    let Some(totals) = conn.transaction(|conn| load(conn, &plan, options.if_empty, started))? else {
        println!("the tickets table already has rows: nothing seeded (--if-empty)");
        return Ok(());
    };
    let analyze = Instant::now();
    // Fresh statistics, so the first queries on the new data get sensible plans.
    conn.batch_execute(&format!("ANALYZE technicians, {}", LOADED_TABLES.join(", ")))?;
    println!("analyzed the tables in {}", seconds(analyze.elapsed()));
    let sealing = Instant::now();
    let days = crate::store::kpi_blocks::seal_all(&mut conn)?;
    println!("sealed the KPI facts of {days} days into blocks in {}", seconds(sealing.elapsed()));
    let rows = totals.rows;
    println!(
        "seeded {} technicians, {} customers, {} tickets, {} ticket events, {} interactions and {} ratings in {}",
        totals.technicians,
        totals.customers,
        rows.tickets,
        rows.events,
        rows.interactions,
        rows.ratings,
        seconds(started.elapsed())
    );
    Ok(())
}

/// Everything inside the one transaction; `None` when `--if-empty` found tickets.
fn load(conn: &mut PgConnection, plan: &Plan, if_empty: bool, started: Instant) -> Result<Option<Totals>, BoxError> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEED_LOCK_KEY})")).execute(conn)?;
    if if_empty && diesel::select(diesel::dsl::exists(tickets::table.select(tickets::id))).get_result::<bool>(conn)? {
        return Ok(None);
    }
    // Other writers wait until the seed commits (the reserved id blocks stay ours); readers go on.
    conn.batch_execute(&format!("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", LOADED_TABLES.join(", ")))?;

    let people = generate::population(plan);
    let technician_ids = upsert_technicians(conn, &people)?;
    let bases = IdBases {
        customer: next_identity(conn, "customers")?,
        ticket: next_identity(conn, "tickets")?,
        number: next_value(conn, "ticket_number_seq")?,
        event: next_identity(conn, "ticket_events")?,
        interaction: next_identity(conn, "interactions")?,
        rating: next_identity(conn, "satisfaction_ratings")?,
    };
    println!(
        "seeding {} tickets over {} months (seed {}): {} technicians in {} teams, {} customers",
        plan.tickets, plan.months, plan.seed, plan.technicians, plan.teams, plan.customers
    );

    // The KPI fact rows of what is loaded are written in one pass at the end, not by the
    // triggers row batch by row batch.
    crate::store::kpi_facts::defer_in_transaction(conn)?;
    let dropped = if plan.tickets >= BULK_TICKETS { drop_for_bulk_load(conn)? } else { Vec::new() };
    if !dropped.is_empty() {
        // Index builds sort in memory; the session default (often 64MB) spills to disk.
        conn.batch_execute("SET LOCAL maintenance_work_mem = '512MB'")?;
    }

    let customer_rows = copy::encode_customers(&people, bases.customer);
    copy::copy_into(conn, "customers", customers::table, copy::CUSTOMER_COLUMNS, &customer_rows)?;
    let rows = load_tickets(conn, plan, &people, &technician_ids, bases, started)?;

    set_identity(conn, "customers", bases.customer, people.customers.len() as u64)?;
    set_identity(conn, "tickets", bases.ticket, rows.tickets)?;
    set_value(conn, "ticket_number_seq", bases.number, rows.tickets)?;
    set_identity(conn, "ticket_events", bases.event, rows.events)?;
    set_identity(conn, "interactions", bases.interaction, rows.interactions)?;
    set_identity(conn, "satisfaction_ratings", bases.rating, rows.ratings)?;

    if !dropped.is_empty() {
        let restore = Instant::now();
        for item in &dropped {
            conn.batch_execute(&item.definition)?;
        }
        println!("restored the indexes and foreign keys in {}", seconds(restore.elapsed()));
    }
    let facts = Instant::now();
    crate::store::kpi_facts::fill(
        conn,
        (bases.ticket, bases.ticket + rows.tickets as i64),
        (bases.interaction, bases.interaction + rows.interactions as i64),
    )?;
    println!("wrote the KPI fact rows in {}", seconds(facts.elapsed()));
    Ok(Some(Totals { technicians: people.technicians.len() as u64, customers: people.customers.len() as u64, rows }))
}

/// Generates the tickets on a second thread while this one copies the previous batch, so the
/// generator and the server work at the same time.
fn load_tickets(
    conn: &mut PgConnection,
    plan: &Plan,
    people: &Population,
    technician_ids: &[i64],
    bases: IdBases,
    started: Instant,
) -> Result<Counts, BoxError> {
    let (sender, receiver) = mpsc::sync_channel::<Chunk>(1);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let generator = Generator::new(plan, people);
            let mut encoder = Encoder::new(people, technician_ids, bases);
            let mut chunk = Chunk::default();
            let mut index = 0;
            for (day_index, day) in generate::calendar(plan).iter().enumerate() {
                for opened_at in generate::opening_times(plan, day_index, day) {
                    encoder.push(&mut chunk, &generator.ticket(index, opened_at, day.incident));
                    index += 1;
                }
                // The receiver is gone only when copying failed: stop generating.
                if chunk.tickets.rows() >= CHUNK_TICKETS && sender.send(std::mem::take(&mut chunk)).is_err() {
                    return encoder.counts();
                }
            }
            if chunk.tickets.rows() > 0 {
                let _ = sender.send(chunk);
            }
            encoder.counts()
        });
        // `receiver` moves into `copy_chunks` and is dropped when it returns, which stops the
        // producer if copying failed half-way.
        let copied = copy_chunks(conn, receiver, plan.tickets, started);
        let generated = producer.join().map_err(|_| "the data generator panicked")?;
        let copied = copied?;
        if copied != generated {
            return Err(format!("generated {generated:?} but copied {copied:?}").into());
        }
        Ok(generated)
    })
}

fn copy_chunks(
    conn: &mut PgConnection,
    receiver: mpsc::Receiver<Chunk>,
    planned: u64,
    started: Instant,
) -> Result<Counts, BoxError> {
    let mut copied = Counts::default();
    for chunk in receiver {
        copy::copy_into(conn, "tickets", tickets::table, copy::TICKET_COLUMNS, &chunk.tickets)?;
        copy::copy_into(conn, "ticket_events", ticket_events::table, copy::EVENT_COLUMNS, &chunk.events)?;
        copy::copy_into(conn, "interactions", interactions::table, copy::INTERACTION_COLUMNS, &chunk.interactions)?;
        copy::copy_into(
            conn,
            "satisfaction_ratings",
            satisfaction_ratings::table,
            copy::RATING_COLUMNS,
            &chunk.ratings,
        )?;
        copied.tickets += chunk.tickets.rows();
        copied.events += chunk.events.rows();
        copied.interactions += chunk.interactions.rows();
        copied.ratings += chunk.ratings.rows();
        println!(
            "  {}/{} tickets, {} events, {} interactions, {} ratings ({})",
            copied.tickets,
            planned,
            copied.events,
            copied.interactions,
            copied.ratings,
            seconds(started.elapsed())
        );
    }
    Ok(copied)
}

#[derive(Insertable)]
#[diesel(table_name = technicians)]
struct NewSeedTechnician<'a> {
    name: &'a str,
    email: &'a str,
    team: &'a str,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

diesel::define_sql_function!(fn lower(text: Text) -> Text);

/// Inserts the staff, keeping technicians that already exist with the same e-mail (a second
/// seed reuses them); returns their ids in population order.
fn upsert_technicians(conn: &mut PgConnection, people: &Population) -> Result<Vec<i64>, BoxError> {
    let rows = people
        .technicians
        .iter()
        .map(|technician| {
            let created_at = utc(technician.created_at)?;
            Ok(NewSeedTechnician {
                name: &technician.name,
                email: &technician.email,
                team: technician.team,
                active: technician.active,
                created_at,
                updated_at: created_at,
            })
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    diesel::insert_into(technicians::table).values(&rows).on_conflict_do_nothing().execute(conn)?;

    let emails: Vec<String> = people.technicians.iter().map(|t| t.email.to_lowercase()).collect();
    let found: HashMap<String, i64> = technicians::table
        .filter(lower(technicians::email).eq_any(&emails))
        .select((lower(technicians::email), technicians::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    emails
        .iter()
        .map(|email| found.get(email).copied().ok_or_else(|| format!("technician {email} was not stored").into()))
        .collect()
}

fn utc(unix: i64) -> Result<DateTime<Utc>, BoxError> {
    DateTime::from_timestamp(unix, 0).ok_or_else(|| format!("timestamp {unix} is out of range").into())
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// The first id of the block this seed writes into `table`; `set_identity` moves the sequence
/// past the block. Safe because the tables are locked against other writers until commit.
fn next_identity(conn: &mut PgConnection, table: &str) -> Result<i64, BoxError> {
    Ok(diesel::sql_query("SELECT nextval(pg_get_serial_sequence($1, 'id')) AS value")
        .bind::<Text, _>(table)
        .get_result::<Number>(conn)?
        .value)
}

fn next_value(conn: &mut PgConnection, sequence: &str) -> Result<i64, BoxError> {
    Ok(diesel::sql_query("SELECT nextval($1::regclass) AS value")
        .bind::<Text, _>(sequence)
        .get_result::<Number>(conn)?
        .value)
}

/// Marks `first .. first + used` as taken (`first` itself was taken by `nextval` already).
fn set_identity(conn: &mut PgConnection, table: &str, first: i64, used: u64) -> Result<(), BoxError> {
    diesel::sql_query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2) AS value")
        .bind::<Text, _>(table)
        .bind::<BigInt, _>(last_used(first, used))
        .get_result::<Number>(conn)?;
    Ok(())
}

fn set_value(conn: &mut PgConnection, sequence: &str, first: i64, used: u64) -> Result<(), BoxError> {
    diesel::sql_query("SELECT setval($1::regclass, $2) AS value")
        .bind::<Text, _>(sequence)
        .bind::<BigInt, _>(last_used(first, used))
        .get_result::<Number>(conn)?;
    Ok(())
}

fn last_used(first: i64, used: u64) -> i64 {
    first + (used as i64 - 1).max(0)
}

/// An index or constraint dropped for a bulk load, and the statement that restores it.
#[derive(QueryableByName, Debug)]
struct Dropped {
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Text)]
    drop_statement: String,
}

/// Drops what slows a bulk load down on the ticket tables and returns how to restore it: plain
/// secondary indexes (one sorted build afterwards beats millions of random insertions) and
/// foreign keys (one validating join afterwards beats a lookup per row). Primary keys, unique
/// indexes (ticket numbers, one current rating) and CHECK constraints stay and check every row.
fn drop_for_bulk_load(conn: &mut PgConnection) -> Result<Vec<Dropped>, BoxError> {
    let tables: Vec<String> = BULK_TABLES.iter().map(|table| (*table).to_owned()).collect();
    let mut dropped: Vec<Dropped> = diesel::sql_query(
        "SELECT x.indexdef AS definition, format('DROP INDEX %I.%I', x.schemaname, x.indexname) AS drop_statement
         FROM pg_indexes x
         JOIN pg_namespace n ON n.nspname = x.schemaname
         JOIN pg_class c ON c.relname = x.indexname AND c.relnamespace = n.oid
         JOIN pg_index i ON i.indexrelid = c.oid
         WHERE x.schemaname = current_schema() AND x.tablename = ANY($1)
           AND NOT i.indisprimary AND NOT i.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
         ORDER BY x.tablename, x.indexname",
    )
    .bind::<Array<Text>, _>(&tables)
    .load(conn)?;
    let indexes = dropped.len();
    // Constraints are restored after the indexes (`dropped` is replayed in order).
    dropped.extend(
        diesel::sql_query(
            "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                           pg_get_constraintdef(k.oid)) AS definition,
                    format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname) AS drop_statement
             FROM pg_constraint k
             JOIN pg_class t ON t.oid = k.conrelid
             WHERE k.contype = 'f' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)
             ORDER BY t.relname, k.conname",
        )
        .bind::<Array<Text>, _>(&tables)
        .load::<Dropped>(conn)?,
    );
    for item in &dropped {
        conn.batch_execute(&item.drop_statement)?;
    }
    println!(
        "dropped {indexes} secondary indexes and {} foreign keys for the load; they are restored at the end",
        dropped.len() - indexes
    );
    Ok(dropped)
}

fn seconds(elapsed: Duration) -> String {
    let total = elapsed.as_secs_f64();
    if total < 60.0 { format!("{total:.1}s") } else { format!("{}m {:.1}s", (total / 60.0) as u64, total % 60.0) }
}
