//! Write benchmark: ticket changes per second over HTTP, end to end.
//!
//! Run against a seeded database (`deskpulse seed --tickets 1000000`):
//!
//!     DATABASE_URL=postgres://.../bench_before cargo bench --bench writes
//!
//! It starts a release server in-process on a free port of 127.0.0.1, with the server's default
//! settings (pool size, timeouts, one HTTP worker per core) but no report schedule. BENCH_CLIENTS
//! clients (default 32) each act as an active technician of the database, with a real JWT, and
//! loop: `createTicket` for a random existing customer (random category, priority and channel,
//! assigned to themselves), then `transitionTicket` OPEN -> IN_PROGRESS -> RESOLVED with the
//! version each answer gives. After BENCH_WARMUP seconds (default 5) it measures for BENCH_SECONDS
//! (default 30): committed changes (a create or a transition is one change) and tickets per
//! second, p50/p99 latency per request, errors. Then the clients finish the ticket in hand (no
//! new one starts) and it reads back, from the database, every ticket and event the run wrote:
//! none may be missing or extra (CREATED, ASSIGNED and one STATUS_CHANGED per transition).
//!
//! Environment: BENCH_CLIENTS, BENCH_SECONDS, BENCH_WARMUP, BENCH_POOL_SIZE (default: the
//! server's), BENCH_MAX_TICKETS (a cap on tickets started, default 500000). The tickets stay in
//! the database (about 3 changes and 4 events each). Not a test: only a failed events check makes
//! it exit with an error.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use deskpulse::auth::{Role, TokenKeys};
use deskpulse::schema::{customers, technicians, ticket_events, tickets};
use deskpulse::startup::{Application, ServeSettings};
use diesel::prelude::*;
use serde_json::{Value, json};

const CATEGORIES: [&str; 8] = ["software", "hardware", "access", "network", "other", "email", "printing", "billing"];
const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];
const CHANNELS: [&str; 4] = ["EMAIL", "PHONE", "WEB", "CHAT"];
/// The three requests of a ticket's loop, in order.
const STEPS: [&str; 3] = ["createTicket", "transitionTicket to IN_PROGRESS", "transitionTicket to RESOLVED"];
/// Client-side limit on one request; the server's own request timeout is shorter.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

const CREATE: &str = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id status version } }";
const TRANSITION: &str = concat!(
    "mutation($id: ID!, $version: Int!, $to: TicketStatus!) ",
    "{ transitionTicket(id: $id, version: $version, to: $to) { id status version } }",
);

/// The `serve` settings, parsed the way the server parses them, so that every default is its own.
#[derive(Parser)]
struct ServeArgs {
    #[command(flatten)]
    serve: ServeSettings,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().map_err(|_| format!("{name}: not a number: {value:?}")),
        Err(_) => Ok(default),
    }
}

/// splitmix64: enough randomness for picking inputs, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// One answered request.
struct Sample {
    step: usize,
    done: Instant,
    latency: Duration,
    error: Option<String>,
}

/// A ticket a client created, and how far it got.
struct Written {
    id: i64,
    technician: i64,
    /// Requests acknowledged as committed: 1 (created) to 3 (resolved).
    committed: usize,
    /// The version of the last acknowledged answer.
    version: i32,
    /// A request after the create failed: it may or may not have committed.
    uncertain: bool,
}

#[derive(Default)]
struct ClientLog {
    samples: Vec<Sample>,
    tickets: Vec<Written>,
    /// Creates that failed: they may still have committed (the events check finds them).
    failed_creates: usize,
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    technician: i64,
}

/// What a GraphQL answer's mutation field says, or why the request failed.
async fn call(client: &Client, body: &Value, field: &str) -> Result<Value, String> {
    let response = client
        .http
        .post(&client.url)
        .bearer_auth(&client.token)
        .json(body)
        .send()
        .await
        .map_err(|err| if err.is_timeout() { "client timeout".to_owned() } else { format!("transport: {err}") })?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(|err| format!("HTTP {status}: unreadable body: {err}"))?;
    if let Some(errors) = answer.get("errors").and_then(Value::as_array).filter(|errors| !errors.is_empty()) {
        let first = &errors[0];
        let code = first.pointer("/extensions/code").and_then(Value::as_str).unwrap_or("NO_CODE");
        let message = first.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("{code}: {message}"));
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    answer.pointer(&format!("/data/{field}")).filter(|node| !node.is_null()).cloned().ok_or_else(|| {
        format!("no data.{field} in the answer: {}", answer.to_string().chars().take(200).collect::<String>())
    })
}

fn node_version(node: &Value, status: &str) -> Result<(i64, i32), String> {
    let id = node.get("id").and_then(Value::as_str).and_then(|id| id.parse().ok()).ok_or("answer without an id")?;
    let version = node.get("version").and_then(Value::as_i64).ok_or("answer without a version")?;
    match node.get("status").and_then(Value::as_str) {
        Some(got) if got == status => Ok((id, i32::try_from(version).map_err(|_| "version out of range")?)),
        got => Err(format!("status {got:?} where {status} was expected")),
    }
}

async fn run_client(
    client: Client,
    customers: Arc<Vec<i64>>,
    seed: u64,
    stop_at: Instant,
    started: Arc<AtomicU64>,
    max_tickets: u64,
) -> ClientLog {
    let mut rng = Rng(seed);
    let mut log = ClientLog::default();
    while Instant::now() < stop_at && started.fetch_add(1, Ordering::Relaxed) < max_tickets {
        let number = rng.next() % 1_000_000;
        let category = *rng.pick(&CATEGORIES);
        let input = json!({
            "customerId": rng.pick(&customers).to_string(),
            "subject": format!("Benchmark {category} request {number}"),
            "description": "Written by benches/writes.rs.",
            "category": category,
            "priority": rng.pick(&PRIORITIES),
            "channel": rng.pick(&CHANNELS),
            "assigneeId": client.technician.to_string(),
        });
        let body = json!({ "query": CREATE, "variables": { "input": input } });
        let begun = Instant::now();
        let outcome = call(&client, &body, "createTicket").await.and_then(|node| node_version(&node, "OPEN"));
        let done = Instant::now();
        let (id, mut version) = match outcome {
            Ok(created) => {
                log.samples.push(Sample { step: 0, done, latency: done - begun, error: None });
                created
            }
            Err(error) => {
                log.samples.push(Sample { step: 0, done, latency: done - begun, error: Some(error) });
                log.failed_creates += 1;
                continue;
            }
        };
        let mut ticket = Written { id, technician: client.technician, committed: 1, version, uncertain: false };
        for (step, to) in [(1, "IN_PROGRESS"), (2, "RESOLVED")] {
            let body = json!({
                "query": TRANSITION,
                "variables": { "id": id.to_string(), "version": version, "to": to },
            });
            let begun = Instant::now();
            let outcome = call(&client, &body, "transitionTicket").await.and_then(|node| node_version(&node, to));
            let done = Instant::now();
            match outcome {
                Ok((_, next)) => {
                    log.samples.push(Sample { step, done, latency: done - begun, error: None });
                    version = next;
                    ticket.committed += 1;
                    ticket.version = next;
                }
                Err(error) => {
                    log.samples.push(Sample { step, done, latency: done - begun, error: Some(error) });
                    ticket.uncertain = true;
                    break;
                }
            }
        }
        log.tickets.push(ticket);
    }
    log
}

/// Nearest-rank percentile, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// One row of the latency table.
fn latency_row(name: &str, mut latencies: Vec<Duration>, errors: usize, seconds: f64) {
    latencies.sort();
    println!(
        "| {name} | {} | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {errors} |",
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().map_or(f64::NAN, |max| max.as_secs_f64() * 1000.0),
    );
}

/// What the database holds for one ticket of the run.
#[derive(Default)]
struct Stored {
    status: String,
    version: i32,
    assignee: Option<i64>,
    /// (kind, from, to), oldest first.
    events: Vec<(String, Option<String>, Option<String>)>,
}

/// The events a ticket that got through `committed` requests must have.
fn expected_events(committed: usize, technician: i64) -> Vec<(String, Option<String>, Option<String>)> {
    let status = |from: &str, to: &str| ("STATUS_CHANGED".to_owned(), Some(from.to_owned()), Some(to.to_owned()));
    let all = vec![
        ("CREATED".to_owned(), None, Some("OPEN".to_owned())),
        ("ASSIGNED".to_owned(), None, Some(technician.to_string())),
        status("OPEN", "IN_PROGRESS"),
        status("IN_PROGRESS", "RESOLVED"),
    ];
    all.into_iter().take(committed + 1).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a seeded database")?;
    let clients: usize = env_number("BENCH_CLIENTS", 32)?;
    let seconds: u64 = env_number("BENCH_SECONDS", 30)?;
    let warm_up: u64 = env_number("BENCH_WARMUP", 5)?;
    let max_tickets: u64 = env_number("BENCH_MAX_TICKETS", 500_000)?;
    if clients == 0 || clients > 1024 || seconds == 0 || seconds > 3600 || warm_up > 600 {
        return Err("BENCH_CLIENTS must be 1 to 1024, BENCH_SECONDS 1 to 3600, BENCH_WARMUP at most 600".into());
    }

    let mut conn = PgConnection::establish(&url)?;
    let database: String =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_database()")).get_result(&mut conn)?;
    let customer_ids: Vec<i64> = customers::table.select(customers::id).order(customers::id).load(&mut conn)?;
    let technician_ids: Vec<i64> = technicians::table
        .filter(technicians::active.eq(true))
        .select(technicians::id)
        .order(technicians::id)
        .load(&mut conn)?;
    let tickets_before: i64 = tickets::table.count().get_result(&mut conn)?;
    let last_id_before: i64 =
        tickets::table.select(diesel::dsl::max(tickets::id)).first::<Option<i64>>(&mut conn)?.unwrap_or(0);
    if customer_ids.is_empty() || technician_ids.is_empty() {
        return Err(format!("{database} has no customers or no active technicians: seed it first").into());
    }

    let secret = "deskpulse-benchmark-secret-0123456789-abcdef";
    let mut args = vec![
        "bench".to_owned(),
        format!("--database-url={url}"),
        "--bind=127.0.0.1:0".to_owned(),
        format!("--jwt-secret={secret}"),
        "--jwt-algorithm=HS256".to_owned(),
        "--graphiql=false".to_owned(),
        "--metrics=false".to_owned(),
        "--report-schedule=false".to_owned(),
    ];
    if let Ok(pool) = std::env::var("BENCH_POOL_SIZE") {
        args.push(format!("--db-pool-size={}", pool.trim()));
    }
    let settings = ServeArgs::try_parse_from(&args)?.serve;
    let workers = settings
        .server
        .workers
        .map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from);
    let keys = TokenKeys::from_settings(&settings.jwt)?;
    // Marks this run's writes: the events check reads back exactly them.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let actor_prefix = format!("bench-writes-{run}-");

    println!(
        "writes benchmark on {database} ({tickets_before} tickets, {} customers, {} active technicians): \
         {clients} clients, {warm_up} s warm-up, {seconds} s measured; server pool {} connections{}, \
         pool timeout {:?}, {workers} HTTP workers; run {run}",
        customer_ids.len(),
        technician_ids.len(),
        settings.database.pool_size,
        if std::env::var("BENCH_POOL_SIZE").is_ok() { " (BENCH_POOL_SIZE)" } else { " (server default)" },
        settings.database.pool_timeout,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(clients)
        .tcp_nodelay(true)
        .build()?;
    let address = runtime.block_on(async {
        let application = Application::build(&settings)?;
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until_stopped());
        for _ in 0..600 {
            if http.get(format!("{address}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok::<_, Box<dyn std::error::Error>>(address);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the server did not become ready".into())
    })?;

    let customers = Arc::new(customer_ids);
    let started = Arc::new(AtomicU64::new(0));
    let seed = u64::from_str_radix(&run, 16)?;
    let begin = Instant::now();
    let measure_from = begin + Duration::from_secs(warm_up);
    let measure_to = measure_from + Duration::from_secs(seconds);
    let logs: Vec<ClientLog> = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(clients);
        for index in 0..clients {
            let technician = technician_ids[index % technician_ids.len()];
            let subject = format!("{actor_prefix}{technician}");
            let token = keys.issue(&subject, Role::Technician, Some(technician), Duration::from_secs(7200))?;
            let client = Client { http: http.clone(), url: format!("{address}/graphql"), token, technician };
            tasks.push(tokio::spawn(run_client(
                client,
                customers.clone(),
                seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
                measure_to,
                started.clone(),
                max_tickets,
            )));
        }
        let mut logs = Vec::with_capacity(clients);
        for task in tasks {
            logs.push(task.await?);
        }
        Ok::<_, Box<dyn std::error::Error>>(logs)
    })?;
    let drained = begin.elapsed().as_secs_f64();

    // The measured window: requests answered in it.
    let window = seconds as f64;
    let in_window = |sample: &&Sample| sample.done >= measure_from && sample.done < measure_to;
    let mut per_step: [Vec<Duration>; 3] = Default::default();
    let mut all = Vec::new();
    let mut step_errors = [0usize; 3];
    // Every error of the run, by kind (the GraphQL code or the transport failure), with an example.
    let mut errors: BTreeMap<(usize, String), (usize, String)> = BTreeMap::new();
    let mut errors_total = 0;
    for sample in logs.iter().flat_map(|log| &log.samples) {
        if let Some(error) = &sample.error {
            let class = error.split(':').next().unwrap_or_default().to_owned();
            let entry = errors.entry((sample.step, class)).or_insert_with(|| (0, error.chars().take(160).collect()));
            entry.0 += 1;
            errors_total += 1;
        }
    }
    for sample in logs.iter().flat_map(|log| &log.samples).filter(in_window) {
        match sample.error {
            None => {
                per_step[sample.step].push(sample.latency);
                all.push(sample.latency);
            }
            Some(_) => step_errors[sample.step] += 1,
        }
    }
    let changes = all.len();
    let resolved = per_step[2].len();
    let window_errors: usize = step_errors.iter().sum();

    println!();
    println!("| request | committed | per s | p50 | p99 | max | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (step, name) in STEPS.iter().enumerate() {
        latency_row(name, per_step[step].clone(), step_errors[step], window);
    }
    latency_row("all requests", all, window_errors, window);
    println!();
    println!(
        "measured {seconds} s: {:.1} changes/s ({changes} committed changes), {:.1} tickets/s \
         ({resolved} tickets resolved), {window_errors} errors in the window",
        changes as f64 / window,
        resolved as f64 / window,
    );
    let written: Vec<&Written> = logs.iter().flat_map(|log| &log.tickets).collect();
    let failed_creates: usize = logs.iter().map(|log| log.failed_creates).sum();
    println!(
        "whole run ({drained:.1} s with warm-up and the last tickets finishing): {} tickets created, {} resolved, \
         {errors_total} errors",
        written.len(),
        written.iter().filter(|ticket| ticket.committed == 3).count(),
    );
    for ((step, class), (count, example)) in &errors {
        println!("  {class} x{count} on {}, e.g. {example}", STEPS[*step]);
    }

    // Events check: every ticket this run's technicians created, read back from the database.
    let created_here: Vec<i64> = ticket_events::table
        .filter(ticket_events::ticket_id.gt(last_id_before))
        .filter(ticket_events::kind.eq("CREATED"))
        .filter(ticket_events::actor.like(format!("{actor_prefix}%")))
        .select(ticket_events::ticket_id)
        .load(&mut conn)?;
    let mut stored: HashMap<i64, Stored> = HashMap::new();
    for chunk in created_here.chunks(10_000) {
        let rows: Vec<(i64, String, i32, Option<i64>)> = tickets::table
            .filter(tickets::id.eq_any(chunk))
            .select((tickets::id, tickets::status, tickets::version, tickets::assignee_id))
            .load(&mut conn)?;
        for (id, status, version, assignee) in rows {
            stored.insert(id, Stored { status, version, assignee, events: Vec::new() });
        }
        let events: Vec<(i64, String, Option<String>, Option<String>)> = ticket_events::table
            .filter(ticket_events::ticket_id.eq_any(chunk))
            .order((ticket_events::ticket_id, ticket_events::at, ticket_events::id))
            .select((ticket_events::ticket_id, ticket_events::kind, ticket_events::from_value, ticket_events::to_value))
            .load(&mut conn)?;
        for (id, kind, from, to) in events {
            stored.entry(id).or_default().events.push((kind, from, to));
        }
    }
    let event_count: usize = stored.values().map(|ticket| ticket.events.len()).sum();
    let mut problems = Vec::new();
    let mut uncertain_ok = 0;
    for ticket in &written {
        let Some(found) = stored.remove(&ticket.id) else {
            problems.push(format!("ticket {}: acknowledged as created, not in the database", ticket.id));
            continue;
        };
        let acknowledged = expected_events(ticket.committed, ticket.technician);
        // A failed request may still have committed: then the ticket has the next event too.
        let matches = |expected: &[(String, Option<String>, Option<String>)]| found.events == expected;
        let with_next = expected_events(ticket.committed + 1, ticket.technician);
        if matches(&acknowledged) {
            if found.version != ticket.version || found.assignee != Some(ticket.technician) {
                problems.push(format!(
                    "ticket {}: version {} and assignee {:?} where {} and {} were acknowledged",
                    ticket.id, found.version, found.assignee, ticket.version, ticket.technician
                ));
            }
        } else if ticket.uncertain && with_next.len() > acknowledged.len() && matches(&with_next) {
            uncertain_ok += 1;
        } else {
            problems.push(format!(
                "ticket {} ({}, version {}): events {:?} where {} acknowledged requests need {:?}",
                ticket.id, found.status, found.version, found.events, ticket.committed, acknowledged
            ));
        }
        let expected_status = ["OPEN", "IN_PROGRESS", "RESOLVED"][ticket.committed - 1];
        if found.status != expected_status && !ticket.uncertain {
            problems.push(format!(
                "ticket {}: status {} where {expected_status} was acknowledged",
                ticket.id, found.status
            ));
        }
    }
    // Left over: tickets whose create committed though its answer was an error.
    let unacknowledged = stored.len();
    if unacknowledged > failed_creates {
        problems.push(format!(
            "{unacknowledged} tickets in the database were never acknowledged, but only {failed_creates} creates failed"
        ));
    }
    let complete = written.iter().filter(|ticket| ticket.committed == 3).count();
    println!(
        "events check: {} tickets and {event_count} events written by this run in the database \
         ({complete} resolved tickets with 4 events each expected: CREATED, ASSIGNED, 2 STATUS_CHANGED; \
         {uncertain_ok} tickets where a failed request had committed; {unacknowledged} unacknowledged creates): {}",
        created_here.len(),
        if problems.is_empty() { "OK, none lost".to_owned() } else { format!("{} PROBLEMS", problems.len()) },
    );
    for problem in problems.iter().take(20) {
        println!("  {problem}");
    }
    if problems.is_empty() { Ok(()) } else { Err("the events check failed".into()) }
}
