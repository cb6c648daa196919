//! A randomized equivalence test of the KPI engine against a plain reference model.
//!
//! A seeded dataset of several hundred tickets goes in through the public GraphQL API only: the
//! history import (`importTickets`, for dated histories and ratings), `createTicket` with a past
//! `openedAt`, live changes dated now (`transitionTicket`, `assignTicket`,
//! `changeTicketPriority`, `recordSatisfaction`), `logInteraction` with and without
//! `occurredAt` (and corrections), `updateTechnician` and `deactivateTechnician`. The raw rows are
//! then read back from the test database and PRODUCT.md's KPI definitions are evaluated over them
//! in straightforward Rust below (no deskpulse code, no SQL aggregation), and the answers of many
//! random `kpis`, `kpiSeries` and `technicianPerformance` queries are compared value by value.
//!
//! The seed is printed; `KPI_EQUIVALENCE_SEED=<hex>` runs another one. Dated history ends at a
//! fixed instant, so one seed gives one dataset (only the live changes carry the run's "now").
//! `KPI_EQUIVALENCE_SAME_INSTANT_REOPENS=0` moves imported reopens that share their resolution's
//! instant one second later (the rest of the dataset unchanged); `KPI_EQUIVALENCE_KEEP_DB=1`
//! keeps the test database for inspection and prints its name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Integer, Nullable, SmallInt, Text, Timestamptz};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const DEFAULT_SEED: u64 = 0x0d35_c9a1_5e00_2026;

/// The dated history lies in [HISTORY_STARTS, HISTORY_ENDS).
const HISTORY_STARTS: &str = "2025-09-15T00:00:00Z";
const HISTORY_ENDS: &str = "2026-11-25T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// A small deterministic PRNG (splitmix64).

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0 to n - 1.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// lo to hi, both included.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Up to `max` distinct items, at least one.
    fn some_of<T: Clone + PartialEq>(&mut self, items: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max.min(items.len()));
        let mut chosen = Vec::new();
        while chosen.len() < n {
            let item = self.pick(items).clone();
            if !chosen.contains(&item) {
                chosen.push(item);
            }
        }
        chosen
    }
}

// ---------------------------------------------------------------------------------------------
// Instants, local dates and buckets.

const ZONES: [Tz; 4] =
    [chrono_tz::UTC, chrono_tz::America::New_York, chrono_tz::Europe::Berlin, chrono_tz::Asia::Kolkata];

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).with_timezone(&Utc)
}

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The earliest instant whose local date in `tz` is `day`.
fn first_instant(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    use chrono::LocalResult;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap();
    let mut minutes = 0;
    loop {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(at) => return at.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            LocalResult::None => minutes += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Week,
    Month,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Day => "DAY",
            Unit::Week => "WEEK",
            Unit::Month => "MONTH",
        }
    }

    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Unit::Day => day,
            Unit::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Unit::Month => day.with_day(1).unwrap(),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Unit::Day => start + Duration::days(1),
            Unit::Week => start + Duration::days(7),
            Unit::Month => start.checked_add_months(chrono::Months::new(1)).unwrap(),
        }
    }
}

/// PRODUCT.md's buckets: from the first instant of each local calendar unit to the first instant
/// of the next, clipped to `[from, to)`.
fn buckets(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz, unit: Unit) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut day = unit.start(from.with_timezone(&tz).date_naive());
    let mut out = Vec::new();
    loop {
        let start = first_instant(tz, day);
        if start >= to {
            return out;
        }
        let next = unit.next(day);
        let end = first_instant(tz, next);
        if end > from {
            out.push((start.max(from), end.min(to)));
        }
        day = next;
    }
}

fn seconds(d: Duration) -> f64 {
    d.num_microseconds().expect("a duration in range") as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// Raw rows.

#[derive(diesel::QueryableByName)]
struct TicketRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    category: String,
    #[diesel(sql_type = Text)]
    priority: String,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    assignee_id: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    opened_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first_response_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first_resolved_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    resolved_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    closed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Integer)]
    reopen_count: i32,
}

#[derive(diesel::QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    ticket_id: i64,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    from_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    to_value: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct InteractionRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    ticket_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    technician_id: Option<i64>,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Text)]
    direction: String,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Integer>)]
    duration_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    corrects_id: Option<i64>,
}

#[derive(diesel::QueryableByName)]
struct RatingRow {
    #[diesel(sql_type = BigInt)]
    ticket_id: i64,
    #[diesel(sql_type = SmallInt)]
    rating: i16,
    #[diesel(sql_type = Timestamptz)]
    submitted_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    superseded_at: Option<DateTime<Utc>>,
}

#[derive(diesel::QueryableByName)]
struct TechnicianRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    team: String,
}

// ---------------------------------------------------------------------------------------------
// The reference model: PRODUCT.md's "KPI definitions", over the raw rows.

struct RefTicket {
    id: i64,
    category: String,
    priority: String,
    channel: String,
    assignee: Option<i64>,
    opened_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    first_resolved_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    reopen_count: i32,
    status: String,
    /// Every status the event log moves the ticket to, oldest first (events at one instant in
    /// the order they were written).
    statuses: Vec<(DateTime<Utc>, String)>,
}

impl RefTicket {
    /// The status at `at` by the event log, counting events at exactly `at`.
    fn status_at(&self, at: DateTime<Utc>) -> &str {
        let mut status = "OPEN";
        for (when, to) in &self.statuses {
            if *when > at {
                break;
            }
            status = to;
        }
        status
    }
}

struct RefInteraction {
    ticket: Option<i64>,
    technician: Option<i64>,
    channel: String,
    direction: String,
    occurred_at: DateTime<Utc>,
    duration: i64,
}

struct RefRating {
    ticket: i64,
    rating: i16,
    submitted_at: DateTime<Utc>,
}

struct Model {
    tickets: Vec<RefTicket>,
    index: HashMap<i64, usize>,
    /// Only the entries no later entry corrects.
    interactions: Vec<RefInteraction>,
    /// Only current ratings.
    ratings: Vec<RefRating>,
    teams: HashMap<i64, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    None,
    Technician,
    Team,
    Category,
    Priority,
    Channel,
}

impl Grouping {
    const ALL: [Grouping; 6] = [
        Grouping::None,
        Grouping::Technician,
        Grouping::Team,
        Grouping::Category,
        Grouping::Priority,
        Grouping::Channel,
    ];

    fn name(self) -> &'static str {
        match self {
            Grouping::None => "NONE",
            Grouping::Technician => "TECHNICIAN",
            Grouping::Team => "TEAM",
            Grouping::Category => "CATEGORY",
            Grouping::Priority => "PRIORITY",
            Grouping::Channel => "CHANNEL",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Filter {
    technicians: Vec<i64>,
    teams: Vec<String>,
    categories: Vec<String>,
    priorities: Vec<String>,
    channels: Vec<String>,
}

impl Filter {
    fn to_json(&self) -> Value {
        let mut filter = serde_json::Map::new();
        if !self.technicians.is_empty() {
            filter.insert(
                "technicianIds".into(),
                json!(self.technicians.iter().map(|id| id.to_string()).collect::<Vec<_>>()),
            );
        }
        for (name, values) in [
            ("teams", &self.teams),
            ("categories", &self.categories),
            ("priorities", &self.priorities),
            ("channels", &self.channels),
        ] {
            if !values.is_empty() {
                filter.insert(name.into(), json!(values));
            }
        }
        if filter.is_empty() { Value::Null } else { Value::Object(filter) }
    }
}

/// The raw material of one bucket and group's KPIs.
#[derive(Debug, Clone, Default)]
struct Values {
    opened: i64,
    resolved: i64,
    closed: i64,
    backlog: i64,
    awaiting: i64,
    opened_now_resolved: i64,
    resolved_reopened: i64,
    first_response: Vec<f64>,
    resolution: Vec<f64>,
    first_resolution: Vec<f64>,
    ratings: Vec<i16>,
    /// (channel, direction) -> (count, durationSeconds).
    interactions: BTreeMap<(String, String), (i64, i64)>,
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `percentile_cont(p)`: position p * (n - 1) in the sorted values, interpolated linearly.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let position = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64))
}

impl Values {
    fn has_data(&self) -> bool {
        self.opened > 0
            || self.resolved > 0
            || self.closed > 0
            || self.backlog > 0
            || !self.first_resolution.is_empty()
            || !self.ratings.is_empty()
            || !self.interactions.is_empty()
    }

    fn csat_average(&self) -> Option<f64> {
        (!self.ratings.is_empty())
            .then(|| self.ratings.iter().map(|r| f64::from(*r)).sum::<f64>() / self.ratings.len() as f64)
    }

    fn csat_satisfied_share(&self) -> Option<f64> {
        share(self.ratings.iter().filter(|r| **r >= 4).count() as i64, self.ratings.len() as i64)
    }

    fn interaction_count(&self) -> i64 {
        self.interactions.values().map(|(n, _)| n).sum()
    }

    /// The value of a KpiMetric, as `changes` lists them.
    fn metric(&self, metric: &str) -> Option<f64> {
        let count = |n: i64| Some(n as f64);
        match metric {
            "TICKETS_OPENED" => count(self.opened),
            "TICKETS_RESOLVED" => count(self.resolved),
            "TICKETS_CLOSED" => count(self.closed),
            "BACKLOG" => count(self.backlog),
            "FIRST_RESPONSE_SECONDS_MEAN" => mean(&self.first_response),
            "FIRST_RESPONSE_SECONDS_MEDIAN" => percentile(&self.first_response, 0.5),
            "FIRST_RESPONSE_SECONDS_P90" => percentile(&self.first_response, 0.9),
            "AWAITING_FIRST_RESPONSE" => count(self.awaiting),
            "RESOLUTION_SECONDS_MEAN" => mean(&self.resolution),
            "RESOLUTION_SECONDS_MEDIAN" => percentile(&self.resolution, 0.5),
            "RESOLUTION_SECONDS_P90" => percentile(&self.resolution, 0.9),
            "FIRST_RESOLUTION_SECONDS_MEAN" => mean(&self.first_resolution),
            "FIRST_RESOLUTION_SECONDS_MEDIAN" => percentile(&self.first_resolution, 0.5),
            "FIRST_RESOLUTION_SECONDS_P90" => percentile(&self.first_resolution, 0.9),
            "RESOLUTION_RATE" => share(self.opened_now_resolved, self.opened),
            "REOPEN_RATE" => share(self.resolved_reopened, self.resolved),
            "CSAT_AVERAGE" => self.csat_average(),
            "CSAT_COUNT" => count(self.ratings.len() as i64),
            "CSAT_SATISFIED_SHARE" => self.csat_satisfied_share(),
            "INTERACTIONS" => count(self.interaction_count()),
            // The data set has no SLA policy, so no ticket carries a clock: tests/api/sla.rs
            // checks the SLA KPIs against hand-computed business time.
            "SLA_FIRST_RESPONSE_BREACHES" | "SLA_RESOLUTION_BREACHES" => count(0),
            "SLA_FIRST_RESPONSE_ATTAINMENT"
            | "SLA_FIRST_RESPONSE_BUSINESS_SECONDS_MEAN"
            | "SLA_RESOLUTION_ATTAINMENT"
            | "SLA_RESOLUTION_BUSINESS_SECONDS_MEAN" => None,
            other => panic!("unknown metric {other}"),
        }
    }
}

const METRICS: [&str; 26] = [
    "TICKETS_OPENED",
    "TICKETS_RESOLVED",
    "TICKETS_CLOSED",
    "BACKLOG",
    "FIRST_RESPONSE_SECONDS_MEAN",
    "FIRST_RESPONSE_SECONDS_MEDIAN",
    "FIRST_RESPONSE_SECONDS_P90",
    "AWAITING_FIRST_RESPONSE",
    "RESOLUTION_SECONDS_MEAN",
    "RESOLUTION_SECONDS_MEDIAN",
    "RESOLUTION_SECONDS_P90",
    "FIRST_RESOLUTION_SECONDS_MEAN",
    "FIRST_RESOLUTION_SECONDS_MEDIAN",
    "FIRST_RESOLUTION_SECONDS_P90",
    "RESOLUTION_RATE",
    "REOPEN_RATE",
    "CSAT_AVERAGE",
    "CSAT_COUNT",
    "CSAT_SATISFIED_SHARE",
    "INTERACTIONS",
    "SLA_FIRST_RESPONSE_ATTAINMENT",
    "SLA_FIRST_RESPONSE_BREACHES",
    "SLA_FIRST_RESPONSE_BUSINESS_SECONDS_MEAN",
    "SLA_RESOLUTION_ATTAINMENT",
    "SLA_RESOLUTION_BREACHES",
    "SLA_RESOLUTION_BUSINESS_SECONDS_MEAN",
];

impl Model {
    /// Reads the raw tables and replays each ticket's event log. The lifecycle columns the
    /// engine keeps on a ticket must tell the same story as its events and interactions.
    fn load(app: &TestApp) -> Model {
        let mut conn = app.database.connect();
        let ticket_rows: Vec<TicketRow> = diesel::sql_query(
            "SELECT id, category, priority, channel, status, assignee_id, opened_at, first_response_at, \
             first_resolved_at, resolved_at, closed_at, reopen_count FROM tickets ORDER BY id",
        )
        .load(&mut conn)
        .expect("read tickets");
        let event_rows: Vec<EventRow> = diesel::sql_query(
            "SELECT id, ticket_id, at, kind, from_value, to_value FROM ticket_events ORDER BY at, id",
        )
        .load(&mut conn)
        .expect("read ticket_events");
        let interaction_rows: Vec<InteractionRow> = diesel::sql_query(
            "SELECT id, ticket_id, technician_id, channel, direction, occurred_at, duration_seconds, corrects_id \
             FROM interactions ORDER BY id",
        )
        .load(&mut conn)
        .expect("read interactions");
        let rating_rows: Vec<RatingRow> = diesel::sql_query(
            "SELECT ticket_id, rating, submitted_at, superseded_at FROM satisfaction_ratings ORDER BY id",
        )
        .load(&mut conn)
        .expect("read satisfaction_ratings");
        let technician_rows: Vec<TechnicianRow> = diesel::sql_query("SELECT id, team FROM technicians ORDER BY id")
            .load(&mut conn)
            .expect("read technicians");

        // Read ordered by (at, id): within one instant, in the order the events were written.
        let mut events: HashMap<i64, Vec<&EventRow>> = HashMap::new();
        for event in &event_rows {
            events.entry(event.ticket_id).or_default().push(event);
        }
        let mut first_outbound: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
        for i in &interaction_rows {
            if let (Some(ticket), "OUTBOUND") = (i.ticket_id, i.direction.as_str()) {
                // Every logged entry counts as contact, corrected or not: entries are never
                // edited and "a correction can move firstResponseAt earlier, never later"
                // (docs/api.md).
                first_outbound.entry(ticket).or_default().push(i.occurred_at);
            }
        }

        let mut inconsistencies = Vec::new();
        let mut tickets = Vec::new();
        for row in ticket_rows {
            let log = events.remove(&row.id).unwrap_or_default();
            let mut statuses = Vec::new();
            let mut left_open = None;
            let mut reopen_count = 0;
            let mut assignee = None;
            let mut current = "OPEN".to_owned();
            for event in &log {
                match event.kind.as_str() {
                    "CREATED" => statuses.push((event.at, "OPEN".to_owned())),
                    "STATUS_CHANGED" | "REOPENED" => {
                        let to = event.to_value.clone().expect("a status event names its status");
                        if current == "OPEN" && to != "OPEN" && left_open.is_none() {
                            left_open = Some(event.at);
                        }
                        if event.kind == "REOPENED" {
                            reopen_count += 1;
                        }
                        assert_eq!(
                            event.from_value.as_deref(),
                            Some(current.as_str()),
                            "ticket {} event {}",
                            row.id,
                            event.id
                        );
                        current = to.clone();
                        statuses.push((event.at, to));
                    }
                    "ASSIGNED" => {
                        assignee = event.to_value.as_ref().map(|v| v.parse::<i64>().expect("a technician id"))
                    }
                    _ => {}
                }
            }
            let created = statuses.first().map(|(at, _)| *at);
            assert_eq!(created, Some(row.opened_at), "ticket {}: a CREATED event at openedAt", row.id);
            let first_resolved_at = statuses.iter().find(|(_, s)| s == "RESOLVED").map(|(at, _)| *at);
            let resolved_at = matches!(current.as_str(), "RESOLVED" | "CLOSED")
                .then(|| statuses.iter().rev().find(|(_, s)| s == "RESOLVED").map(|(at, _)| *at))
                .flatten();
            let closed_at = statuses.iter().find(|(_, s)| s == "CLOSED").map(|(at, _)| *at);
            let outbound = first_outbound
                .get(&row.id)
                .and_then(|times| times.iter().filter(|at| **at >= row.opened_at).min().copied());
            let first_response_at = match (left_open, outbound) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut check = |field: &str, derived: String, column: String| {
                if derived != column {
                    inconsistencies
                        .push(format!("ticket {} {field}: history says {derived}, column says {column}", row.id));
                }
            };
            check("status", current.clone(), row.status.clone());
            check("firstResponseAt", format!("{first_response_at:?}"), format!("{:?}", row.first_response_at));
            check("firstResolvedAt", format!("{first_resolved_at:?}"), format!("{:?}", row.first_resolved_at));
            check("resolvedAt", format!("{resolved_at:?}"), format!("{:?}", row.resolved_at));
            check("closedAt", format!("{closed_at:?}"), format!("{:?}", row.closed_at));
            check("reopenCount", reopen_count.to_string(), row.reopen_count.to_string());
            check("assignee", format!("{assignee:?}"), format!("{:?}", row.assignee_id));
            tickets.push(RefTicket {
                id: row.id,
                category: row.category,
                priority: row.priority,
                channel: row.channel,
                assignee,
                opened_at: row.opened_at,
                first_response_at,
                first_resolved_at,
                resolved_at,
                closed_at,
                reopen_count,
                status: current,
                statuses,
            });
        }
        assert!(
            inconsistencies.is_empty(),
            "the stored tickets disagree with their history:\n{}",
            inconsistencies.join("\n")
        );

        let corrected: BTreeSet<i64> = interaction_rows.iter().filter_map(|i| i.corrects_id).collect();
        let interactions = interaction_rows
            .iter()
            .filter(|i| !corrected.contains(&i.id))
            .map(|i| RefInteraction {
                ticket: i.ticket_id,
                technician: i.technician_id,
                channel: i.channel.clone(),
                direction: i.direction.clone(),
                occurred_at: i.occurred_at,
                duration: i64::from(i.duration_seconds.unwrap_or(0)),
            })
            .collect();
        let mut current_per_ticket = BTreeSet::new();
        let ratings = rating_rows
            .iter()
            .filter(|r| r.superseded_at.is_none())
            .map(|r| {
                assert!(current_per_ticket.insert(r.ticket_id), "ticket {} has two current ratings", r.ticket_id);
                RefRating { ticket: r.ticket_id, rating: r.rating, submitted_at: r.submitted_at }
            })
            .collect();
        let index = tickets.iter().enumerate().map(|(n, t)| (t.id, n)).collect();
        let teams = technician_rows.into_iter().map(|t| (t.id, t.team)).collect();
        Model { tickets, index, interactions, ratings, teams }
    }

    fn ticket(&self, id: i64) -> &RefTicket {
        &self.tickets[self.index[&id]]
    }

    fn team_of(&self, technician: Option<i64>) -> Option<&String> {
        technician.and_then(|id| self.teams.get(&id))
    }

    fn ticket_group(&self, t: &RefTicket, grouping: Grouping) -> Option<String> {
        match grouping {
            Grouping::None => None,
            Grouping::Technician => t.assignee.map(|id| id.to_string()),
            Grouping::Team => self.team_of(t.assignee).cloned(),
            Grouping::Category => Some(t.category.clone()),
            Grouping::Priority => Some(t.priority.clone()),
            Grouping::Channel => Some(t.channel.clone()),
        }
    }

    fn interaction_group(&self, i: &RefInteraction, grouping: Grouping) -> Option<String> {
        match grouping {
            Grouping::Technician => i.technician.map(|id| id.to_string()),
            Grouping::Team => self.team_of(i.technician).cloned(),
            _ => i.ticket.and_then(|id| self.ticket_group(self.ticket(id), grouping)),
        }
    }

    fn ticket_passes(&self, t: &RefTicket, f: &Filter) -> bool {
        (f.technicians.is_empty() || t.assignee.is_some_and(|a| f.technicians.contains(&a)))
            && (f.teams.is_empty() || self.team_of(t.assignee).is_some_and(|team| f.teams.contains(team)))
            && (f.categories.is_empty() || f.categories.contains(&t.category))
            && (f.priorities.is_empty() || f.priorities.contains(&t.priority))
            && (f.channels.is_empty() || f.channels.contains(&t.channel))
    }

    /// Technician and team by who logged it; category, priority and channel by its ticket
    /// (without one it is left out by those filters).
    fn interaction_passes(&self, i: &RefInteraction, f: &Filter) -> bool {
        let ticket = i.ticket.map(|id| self.ticket(id));
        (f.technicians.is_empty() || i.technician.is_some_and(|a| f.technicians.contains(&a)))
            && (f.teams.is_empty() || self.team_of(i.technician).is_some_and(|team| f.teams.contains(team)))
            && (f.categories.is_empty() || ticket.is_some_and(|t| f.categories.contains(&t.category)))
            && (f.priorities.is_empty() || ticket.is_some_and(|t| f.priorities.contains(&t.priority)))
            && (f.channels.is_empty() || ticket.is_some_and(|t| f.channels.contains(&t.channel)))
    }

    /// The tickets of a point whose event log changes status twice at one instant in `(from, at]`
    /// (a resolution and its reopen written with one timestamp, say): named beside a backlog
    /// mismatch, as they are where a running count of status changes may slip.
    fn status_ties(
        &self,
        from: DateTime<Utc>,
        at: DateTime<Utc>,
        filter: &Filter,
        grouping: Grouping,
        group: &Option<String>,
    ) -> String {
        let mut ties = Vec::new();
        for t in &self.tickets {
            if !self.ticket_passes(t, filter) || self.ticket_group(t, grouping) != *group {
                continue;
            }
            // Status changes after the opening (the CREATED entry is statuses[0]).
            for pair in t.statuses[1..].windows(2) {
                if pair[0].0 == pair[1].0 && pair[0].0 > from && pair[0].0 <= at {
                    ties.push(format!("ticket {} at {}: {} then {}", t.id, rfc(pair[0].0), pair[0].1, pair[1].1));
                }
            }
        }
        if ties.is_empty() {
            String::new()
        } else {
            format!(
                " (status changes at one instant after the period's start, by this point's end: {})",
                ties.join("; ")
            )
        }
    }

    /// Every KPI of `[from, to)` per group (backlog at `to`).
    fn compute(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &Filter,
        grouping: Grouping,
    ) -> BTreeMap<Option<String>, Values> {
        let mut out: BTreeMap<Option<String>, Values> = BTreeMap::new();
        if grouping == Grouping::None {
            out.entry(None).or_default();
        }
        let within = |at: DateTime<Utc>| from <= at && at < to;
        for t in &self.tickets {
            if !self.ticket_passes(t, filter) {
                continue;
            }
            let opened = within(t.opened_at);
            let resolved = t.resolved_at.is_some_and(within);
            let first_resolved = t.first_resolved_at.is_some_and(within);
            let closed = t.closed_at.is_some_and(within);
            let backlog = t.opened_at < to && matches!(t.status_at(to), "OPEN" | "IN_PROGRESS");
            if !(opened || resolved || first_resolved || closed || backlog) {
                continue;
            }
            let v = out.entry(self.ticket_group(t, grouping)).or_default();
            if opened {
                v.opened += 1;
                match t.first_response_at {
                    Some(at) => v.first_response.push(seconds(at - t.opened_at)),
                    None => v.awaiting += 1,
                }
                if matches!(t.status.as_str(), "RESOLVED" | "CLOSED") {
                    v.opened_now_resolved += 1;
                }
            }
            if resolved {
                v.resolved += 1;
                v.resolution.push(seconds(t.resolved_at.unwrap() - t.opened_at));
                if t.reopen_count > 0 {
                    v.resolved_reopened += 1;
                }
            }
            if first_resolved {
                v.first_resolution.push(seconds(t.first_resolved_at.unwrap() - t.opened_at));
            }
            if closed {
                v.closed += 1;
            }
            if backlog {
                v.backlog += 1;
            }
        }
        for r in &self.ratings {
            let t = self.ticket(r.ticket);
            if within(r.submitted_at) && self.ticket_passes(t, filter) {
                out.entry(self.ticket_group(t, grouping)).or_default().ratings.push(r.rating);
            }
        }
        for i in &self.interactions {
            if within(i.occurred_at) && self.interaction_passes(i, filter) {
                let v = out.entry(self.interaction_group(i, grouping)).or_default();
                let slot = v.interactions.entry((i.channel.clone(), i.direction.clone())).or_default();
                slot.0 += 1;
                slot.1 += i.duration;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

struct Checker {
    compared: u64,
    mismatches: u64,
    failed_queries: u64,
    /// Unfiltered leaderboards, and those that leave out a technician without data.
    leaderboards: u64,
    leaderboards_short: u64,
    by_field: BTreeMap<String, u64>,
    messages: Vec<String>,
    query: String,
    query_failed: bool,
    tag: String,
    /// Per field and time zone: (queries, failed queries).
    by_tag: BTreeMap<String, (u64, u64)>,
}

impl Checker {
    fn new() -> Checker {
        Checker {
            compared: 0,
            mismatches: 0,
            failed_queries: 0,
            leaderboards: 0,
            leaderboards_short: 0,
            by_field: BTreeMap::new(),
            messages: Vec::new(),
            query: String::new(),
            query_failed: false,
            tag: String::new(),
            by_tag: BTreeMap::new(),
        }
    }

    /// Begins a query; `tag` (its field and time zone) tallies queries run and failed.
    fn start(&mut self, tag: String, query: String) {
        self.query = query;
        self.query_failed = false;
        self.by_tag.entry(tag.clone()).or_default().0 += 1;
        self.tag = tag;
    }

    fn finish_query(&mut self) {
        if self.query_failed {
            self.failed_queries += 1;
            self.by_tag.entry(self.tag.clone()).or_default().1 += 1;
        }
    }

    fn fail(&mut self, point: &str, field: &str, expected: String, actual: String) {
        self.mismatches += 1;
        self.query_failed = true;
        *self.by_field.entry(field.to_owned()).or_default() += 1;
        if self.messages.len() < 40 {
            self.messages
                .push(format!("{}\n    at {point}, field {field}: expected {expected}, got {actual}", self.query));
        }
    }

    fn int(&mut self, point: &str, field: &str, expected: i64, actual: &Value) {
        self.compared += 1;
        if actual.as_i64() != Some(expected) {
            self.fail(point, field, expected.to_string(), actual.to_string());
        }
    }

    /// Floats agree to a relative 1e-9 of `scale` (at least of the values themselves).
    fn float_scaled(&mut self, point: &str, field: &str, expected: Option<f64>, actual: &Value, scale: f64) {
        self.compared += 1;
        let ok = match (expected, actual.as_f64()) {
            (None, None) => actual.is_null(),
            (Some(e), Some(a)) => (e - a).abs() <= 1e-9 * scale.max(e.abs()).max(a.abs()) + 1e-12,
            _ => false,
        };
        if !ok {
            self.fail(point, field, format!("{expected:?}"), actual.to_string());
        }
    }

    fn float(&mut self, point: &str, field: &str, expected: Option<f64>, actual: &Value) {
        self.float_scaled(point, field, expected, actual, 0.0);
    }

    fn instant(&mut self, point: &str, field: &str, expected: DateTime<Utc>, actual: &Value) {
        self.compared += 1;
        if actual.as_str().map(utc) != Some(expected) {
            self.fail(point, field, rfc(expected), actual.to_string());
        }
    }

    fn text(&mut self, point: &str, field: &str, expected: Option<&str>, actual: &Value) {
        self.compared += 1;
        if actual.as_str() != expected {
            self.fail(point, field, format!("{expected:?}"), actual.to_string());
        }
    }

    fn stats(&mut self, point: &str, field: &str, expected: &[f64], actual: &Value) {
        self.float(point, &format!("{field}.mean"), mean(expected), &actual["mean"]);
        self.float(point, &format!("{field}.median"), percentile(expected, 0.5), &actual["median"]);
        self.float(point, &format!("{field}.p90"), percentile(expected, 0.9), &actual["p90"]);
    }

    /// Every field of a KpiValues selection (see VALUES); `ties` explains a backlog mismatch.
    fn values(&mut self, point: &str, e: &Values, a: &Value, ties: impl Fn() -> String) {
        self.int(point, "ticketsOpened", e.opened, &a["ticketsOpened"]);
        self.int(point, "ticketsResolved", e.resolved, &a["ticketsResolved"]);
        self.int(point, "ticketsClosed", e.closed, &a["ticketsClosed"]);
        self.compared += 1;
        if a["backlog"].as_i64() != Some(e.backlog) {
            self.fail(point, "backlog", format!("{}{}", e.backlog, ties()), a["backlog"].to_string());
        }
        self.int(point, "awaitingFirstResponse", e.awaiting, &a["awaitingFirstResponse"]);
        self.stats(point, "firstResponseSeconds", &e.first_response, &a["firstResponseSeconds"]);
        self.stats(point, "resolutionSeconds", &e.resolution, &a["resolutionSeconds"]);
        self.stats(point, "firstResolutionSeconds", &e.first_resolution, &a["firstResolutionSeconds"]);
        self.float(point, "resolutionRate", share(e.opened_now_resolved, e.opened), &a["resolutionRate"]);
        self.float(point, "reopenRate", share(e.resolved_reopened, e.resolved), &a["reopenRate"]);
        self.float(point, "csatAverage", e.csat_average(), &a["csatAverage"]);
        self.int(point, "csatCount", e.ratings.len() as i64, &a["csatCount"]);
        self.float(point, "csatSatisfiedShare", e.csat_satisfied_share(), &a["csatSatisfiedShare"]);
        let interactions = &a["interactions"];
        self.int(point, "interactions.count", e.interaction_count(), &interactions["count"]);
        self.int(
            point,
            "interactions.durationSeconds",
            e.interactions.values().map(|(_, d)| d).sum(),
            &interactions["durationSeconds"],
        );
        let mut listed: BTreeMap<(String, String), &Value> = BTreeMap::new();
        for entry in interactions["byChannelAndDirection"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let key = (
                entry["channel"].as_str().unwrap_or("?").to_owned(),
                entry["direction"].as_str().unwrap_or("?").to_owned(),
            );
            if listed.insert(key.clone(), entry).is_some() {
                self.fail(
                    point,
                    "interactions.byChannelAndDirection",
                    "each pair once".into(),
                    format!("{key:?} twice"),
                );
            }
        }
        let keys: BTreeSet<(String, String)> = listed.keys().chain(e.interactions.keys()).cloned().collect();
        for key in keys {
            let (count, duration) = e.interactions.get(&key).copied().unwrap_or((0, 0));
            let field = format!("interactions.byChannelAndDirection[{} {}]", key.0, key.1);
            match listed.get(&key) {
                Some(entry) => {
                    self.int(point, &format!("{field}.count"), count, &entry["count"]);
                    self.int(point, &format!("{field}.durationSeconds"), duration, &entry["durationSeconds"]);
                }
                None => {
                    self.compared += 1;
                    self.fail(point, &field, format!("count {count}, durationSeconds {duration}"), "not listed".into());
                }
            }
        }
    }
}

const VALUES: &str = "ticketsOpened ticketsResolved ticketsClosed backlog awaitingFirstResponse \
    firstResponseSeconds { mean median p90 } resolutionSeconds { mean median p90 } \
    firstResolutionSeconds { mean median p90 } resolutionRate reopenRate csatAverage csatCount csatSatisfiedShare \
    interactions { count durationSeconds byChannelAndDirection { channel direction count durationSeconds } }";

// ---------------------------------------------------------------------------------------------
// The dataset, through the public API.

const CATEGORIES: [&str; 5] = ["network", "hardware", "email", "access", "billing"];
const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];
const CHANNELS: [&str; 4] = ["PHONE", "EMAIL", "CHAT", "WEB"];

/// The instants events like to fall on: month starts and week starts (local midnights in every
/// zone of the test), the days around each daylight-saving change and its very instant.
fn edge_instants(until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut edges = Vec::new();
    let mut month = date(2025, 9, 1);
    while month <= date(2026, 12, 1) {
        for tz in ZONES {
            edges.push(first_instant(tz, month));
        }
        month = Unit::Month.next(month);
    }
    let mut monday = date(2025, 9, 15);
    while monday <= date(2026, 12, 1) {
        for tz in ZONES {
            edges.push(first_instant(tz, monday));
        }
        monday += Duration::days(35);
    }
    for day in dst_days() {
        for tz in ZONES {
            edges.push(first_instant(tz, day));
        }
    }
    for change in dst_changes() {
        edges.push(change);
        edges.push(change - Duration::seconds(1));
        edges.push(change + Duration::minutes(30));
    }
    edges.retain(|at| *at <= until);
    edges.sort();
    edges.dedup();
    edges
}

/// Daylight-saving days of 2026 (New York: 8 March, 1 November; Berlin: 29 March, 25 October)
/// and the days after them.
fn dst_days() -> Vec<NaiveDate> {
    let mut days = Vec::new();
    for day in [date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25)] {
        days.push(day);
        days.push(day + Duration::days(1));
    }
    days
}

/// The instants of those changes.
fn dst_changes() -> Vec<DateTime<Utc>> {
    ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"]
        .iter()
        .map(|at| utc(at))
        .collect()
}

struct Gen {
    rng: Rng,
    /// Whether an imported reopen may carry the very instant of the resolution it undoes.
    same_instant_reopens: bool,
    edges: Vec<DateTime<Utc>>,
    start: DateTime<Utc>,
    limit: DateTime<Utc>,
}

impl Gen {
    fn uniform(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let span = (to - from).num_seconds().max(1);
        from + Duration::seconds(self.rng.between(0, span - 1))
    }

    /// Some milliseconds, now and then (live changes carry microseconds anyway).
    fn jitter(&mut self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.rng.chance(0.1) { at + Duration::milliseconds(self.rng.between(1, 999)) } else { at }
    }

    /// When a ticket comes in: often at an edge or on a daylight-saving day.
    fn opened(&mut self) -> DateTime<Utc> {
        let latest = self.limit - Duration::days(2);
        match self.rng.below(100) {
            0..=21 => {
                let edges: Vec<_> = self.edges.iter().copied().filter(|at| *at <= latest).collect();
                *self.rng.pick(&edges)
            }
            22..=33 => {
                let change = *self.rng.pick(&dst_changes());
                let at = change + Duration::minutes(self.rng.between(-36 * 60, 36 * 60));
                self.jitter(at)
            }
            _ => {
                let at = self.uniform(self.start, latest);
                self.jitter(at)
            }
        }
    }

    /// A later (or the same) instant.
    fn later(&mut self, at: DateTime<Utc>) -> DateTime<Utc> {
        let next = match self.rng.below(100) {
            0..=7 => at,
            8..=12 => at + Duration::seconds(self.rng.between(1, 59)),
            13..=37 => at + Duration::minutes(self.rng.between(1, 180)),
            38..=66 => at + Duration::minutes(self.rng.between(60, 72 * 60)),
            67..=86 => at + Duration::seconds(self.rng.between(86_400, 25 * 86_400)),
            _ => {
                let next: Vec<_> =
                    self.edges.iter().copied().filter(|e| *e > at && *e < at + Duration::days(60)).collect();
                if next.is_empty() { at + Duration::hours(5) } else { next[self.rng.below(next.len().min(3))] }
            }
        };
        if next == at { next } else { self.jitter(next) }
    }
}

struct History {
    first_response: Option<DateTime<Utc>>,
    resolutions: Vec<DateTime<Utc>>,
    reopens: Vec<DateTime<Utc>>,
    closed: Option<DateTime<Utc>>,
}

fn history(g: &mut Gen, opened: DateTime<Utc>) -> History {
    let mut h = History { first_response: None, resolutions: Vec::new(), reopens: Vec::new(), closed: None };
    let mut at = opened;
    if g.rng.chance(0.55) {
        let response = g.later(at);
        if response <= g.limit {
            h.first_response = Some(response);
            at = response;
        }
    }
    let resolutions = match g.rng.below(100) {
        0..=29 => 0,
        30..=74 => 1,
        75..=89 => 2,
        _ => 3,
    };
    // Now and then a resolution on first contact, the instant the ticket opened.
    let instant = resolutions > 0 && h.first_response.is_none() && g.rng.chance(0.15);
    for n in 0..resolutions {
        let resolved = if n == 0 && instant { opened } else { g.later(at) };
        if resolved > g.limit {
            break;
        }
        h.resolutions.push(resolved);
        at = resolved;
        if n + 1 < resolutions || g.rng.chance(0.12) {
            let mut reopened = g.later(at);
            if reopened == at && !g.same_instant_reopens {
                reopened += Duration::seconds(1);
            }
            if reopened > g.limit {
                break;
            }
            h.reopens.push(reopened);
            at = reopened;
        }
    }
    if h.resolutions.len() > h.reopens.len() && g.rng.chance(0.4) {
        let closed = g.later(at);
        if closed <= g.limit {
            h.closed = Some(closed);
        }
    }
    h
}

/// A ticket as the test made it.
struct Made {
    id: String,
    customer: i64,
    version: i64,
    status: String,
    opened_at: DateTime<Utc>,
}

struct Dataset {
    technicians: Vec<i64>,
    teams: Vec<String>,
    tickets: usize,
}

const IMPORT: &str = "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) { created tickets { externalRef ticket { id version status } } } }";
const CREATE: &str =
    "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id version status openedAt } }";
const TRANSITION: &str = "mutation($id: ID!, $version: Int!, $to: TicketStatus!) { transitionTicket(id: $id, version: $version, to: $to) { version status } }";
const ASSIGN: &str = "mutation($id: ID!, $version: Int!, $to: ID) { assignTicket(id: $id, version: $version, assigneeId: $to) { version } }";
const PRIORITY: &str = "mutation($id: ID!, $version: Int!, $priority: Priority!) { changeTicketPriority(id: $id, version: $version, priority: $priority) { version } }";
const RATE: &str =
    "mutation($id: ID!, $rating: Int!) { recordSatisfaction(ticketId: $id, rating: $rating) { rating } }";
const LOG: &str = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id occurredAt } }";

async fn build_dataset(app: &TestApp, rng: Rng) -> Dataset {
    let admin = app.admin();
    let sam = app.supervisor();
    // Dated history ends at a fixed instant (or a little before now, if that is earlier), so
    // that one seed gives one dataset whenever it runs; only the live changes are dated now.
    let limit = utc(HISTORY_ENDS).min(Utc::now() - Duration::minutes(5));
    let same_instant_reopens = std::env::var("KPI_EQUIVALENCE_SAME_INSTANT_REOPENS").map_or(true, |v| v != "0");
    let mut g = Gen { rng, same_instant_reopens, edges: edge_instants(limit), start: utc(HISTORY_STARTS), limit };

    // Technicians in three teams (and one without a team); one changes team and one leaves at
    // the end, so "current" matters.
    let roster = [
        ("Eq Ada", "alpha"),
        ("Eq Bob", "alpha"),
        ("Eq Cy", "bravo"),
        ("Eq Di", "bravo"),
        ("Eq Ed", "charlie"),
        ("Eq Flo", "charlie"),
        ("Eq Gus", "alpha"),
        ("Eq Hal", ""),
    ];
    let mut technicians = Vec::new();
    for (name, team) in roster {
        technicians.push(app.create_technician(name, team).await);
    }
    let mut customers = Vec::new();
    for n in 0..8 {
        customers.push(app.create_customer(&format!("Eq Customer {n}")).await);
    }

    let mut made: Vec<Made> = Vec::new();
    let mut stats: BTreeMap<&str, usize> = BTreeMap::new();

    // History import: 480 tickets in three batches.
    let mut reference = 0;
    for _ in 0..3 {
        let mut batch = Vec::new();
        let mut customers_of = Vec::new();
        for _ in 0..160 {
            reference += 1;
            let opened = g.opened();
            let h = history(&mut g, opened);
            let customer = *g.rng.pick(&customers);
            let assignee = (!g.rng.chance(0.15)).then(|| *g.rng.pick(&technicians));
            let rating = match h.resolutions.first() {
                Some(first) if g.rng.chance(0.4) => {
                    let at = g.later(*first).min(limit);
                    Some(json!({ "rating": g.rng.between(1, 5), "submittedAt": rfc(at) }))
                }
                _ => None,
            };
            if h.resolutions.first() == Some(&opened) {
                *stats.entry("resolved the instant they opened").or_default() += 1;
            }
            if h.reopens.iter().zip(&h.resolutions).any(|(reopen, resolution)| reopen == resolution) {
                *stats.entry("reopened the instant they were resolved").or_default() += 1;
            }
            batch.push(json!({
                "externalRef": format!("EQ-{reference:04}"),
                "customerId": customer.to_string(),
                "subject": format!("Equivalence {reference}"),
                "category": g.rng.pick(&CATEGORIES),
                "priority": g.rng.pick(&PRIORITIES),
                "channel": g.rng.pick(&CHANNELS),
                "assigneeId": assignee.map(|id| id.to_string()),
                "openedAt": rfc(opened),
                "firstResponseAt": h.first_response.map(rfc),
                "resolvedAt": h.resolutions.iter().map(|at| rfc(*at)).collect::<Vec<_>>(),
                "reopenedAt": h.reopens.iter().map(|at| rfc(*at)).collect::<Vec<_>>(),
                "closedAt": h.closed.map(rfc),
                "rating": rating,
            }));
            customers_of.push((customer, opened));
        }
        let data = app.query_ok(&sam, IMPORT, json!({ "batch": batch })).await;
        let rows = data["importTickets"]["tickets"].as_array().expect("imported tickets");
        assert_eq!(rows.len(), customers_of.len());
        for (row, (customer, opened_at)) in rows.iter().zip(customers_of) {
            made.push(Made {
                id: row["ticket"]["id"].as_str().unwrap().to_owned(),
                customer,
                version: row["ticket"]["version"].as_i64().unwrap(),
                status: row["ticket"]["status"].as_str().unwrap().to_owned(),
                opened_at,
            });
        }
    }

    // Live tickets: 35 opened in the past (supervisors may), 15 opened now.
    for n in 0..50 {
        let customer = *g.rng.pick(&customers);
        let mut input = json!({
            "customerId": customer.to_string(),
            "subject": format!("Live {n}"),
            "category": g.rng.pick(&CATEGORIES),
            "priority": g.rng.pick(&PRIORITIES),
            "channel": g.rng.pick(&CHANNELS),
        });
        if g.rng.chance(0.8) {
            input["assigneeId"] = json!(g.rng.pick(&technicians).to_string());
        }
        if n < 35 {
            input["openedAt"] = json!(rfc(g.opened()));
        }
        let data = app.query_ok(&sam, CREATE, json!({ "input": input })).await;
        let t = &data["createTicket"];
        made.push(Made {
            id: t["id"].as_str().unwrap().to_owned(),
            customer,
            version: t["version"].as_i64().unwrap(),
            status: t["status"].as_str().unwrap().to_owned(),
            opened_at: utc(t["openedAt"].as_str().unwrap()),
        });
    }

    // Live changes, dated now: transitions (reopens included), reassignments, priorities.
    let transition = |status: &str, rng: &mut Rng| -> Option<&'static str> {
        match status {
            "OPEN" => Some(if rng.chance(0.5) { "IN_PROGRESS" } else { "RESOLVED" }),
            "IN_PROGRESS" => Some("RESOLVED"),
            "RESOLVED" => Some(if rng.chance(0.6) { "IN_PROGRESS" } else { "CLOSED" }),
            _ => None,
        }
    };
    for _ in 0..110 {
        let n = g.rng.below(made.len());
        for _ in 0..g.rng.between(1, 3) {
            let Some(to) = transition(&made[n].status, &mut g.rng) else { break };
            let data =
                app.query_ok(&sam, TRANSITION, json!({ "id": made[n].id, "version": made[n].version, "to": to })).await;
            made[n].version = data["transitionTicket"]["version"].as_i64().unwrap();
            made[n].status = data["transitionTicket"]["status"].as_str().unwrap().to_owned();
            *stats.entry("live transitions").or_default() += 1;
        }
    }
    for _ in 0..50 {
        let n = g.rng.below(made.len());
        let to = (!g.rng.chance(0.2)).then(|| g.rng.pick(&technicians).to_string());
        let data = app.query_ok(&sam, ASSIGN, json!({ "id": made[n].id, "version": made[n].version, "to": to })).await;
        made[n].version = data["assignTicket"]["version"].as_i64().unwrap();
        *stats.entry("live (re/un)assignments").or_default() += 1;
    }
    for _ in 0..25 {
        let n = g.rng.below(made.len());
        let priority = g.rng.pick(&PRIORITIES);
        let data = app
            .query_ok(&sam, PRIORITY, json!({ "id": made[n].id, "version": made[n].version, "priority": priority }))
            .await;
        made[n].version = data["changeTicketPriority"]["version"].as_i64().unwrap();
    }

    // Ratings now: some replace an imported rating, some are replaced again.
    let rateable: Vec<usize> =
        (0..made.len()).filter(|n| matches!(made[*n].status.as_str(), "RESOLVED" | "CLOSED")).collect();
    for _ in 0..70 {
        let n = *g.rng.pick(&rateable);
        app.query_ok(&sam, RATE, json!({ "id": made[n].id, "rating": g.rng.between(1, 5) })).await;
        *stats.entry("live ratings").or_default() += 1;
    }

    // Interactions: on tickets of the same customer or on none, by a technician or nobody,
    // dated in the past (sometimes exactly at the opening, sometimes before it) or now; then
    // corrections, some of corrections.
    let mut tickets_of: HashMap<i64, Vec<usize>> = HashMap::new();
    for (n, t) in made.iter().enumerate() {
        tickets_of.entry(t.customer).or_default().push(n);
    }
    let mut logged: Vec<(String, i64, Value)> = Vec::new();
    for n in 0..380 {
        let customer = *g.rng.pick(&customers);
        let ticket = if g.rng.chance(0.7) { Some(*g.rng.pick(&tickets_of[&customer])) } else { None };
        let channel = *g.rng.pick(&["CALL", "EMAIL", "CHAT"]);
        let mut input = json!({
            "customerId": customer.to_string(),
            "ticketId": ticket.map(|t| made[t].id.clone()),
            "channel": channel,
            "direction": if g.rng.chance(0.55) { "OUTBOUND" } else { "INBOUND" },
            "summary": format!("contact {n}"),
        });
        if g.rng.chance(0.85) {
            input["technicianId"] = json!(g.rng.pick(&technicians).to_string());
        }
        if channel == "CALL" || g.rng.chance(0.4) {
            input["durationSeconds"] = json!(g.rng.between(0, 5_400));
        }
        if n < 360 {
            let at = match ticket {
                Some(t) if g.rng.chance(0.75) => {
                    let opened = made[t].opened_at;
                    if g.rng.chance(0.1) { opened } else { g.later(opened) }
                }
                Some(t) if g.rng.chance(0.3) => made[t].opened_at - Duration::minutes(g.rng.between(1, 600)),
                _ => g.opened(),
            };
            if at <= limit {
                input["occurredAt"] = json!(rfc(at));
            }
        }
        let data = app.query_ok(&sam, LOG, json!({ "input": input.clone() })).await;
        logged.push((data["logInteraction"]["id"].as_str().unwrap().to_owned(), customer, input));
        if ticket.is_none() {
            *stats.entry("interactions without a ticket").or_default() += 1;
        }
    }
    for n in 0..45 {
        let (corrected, customer, original) = logged[g.rng.below(logged.len())].clone();
        let mut input = original.clone();
        input["correctsId"] = json!(corrected);
        input["summary"] = json!(format!("correction {n}"));
        if g.rng.chance(0.5) {
            input["ticketId"] = if g.rng.chance(0.3) {
                Value::Null
            } else {
                json!(made[*g.rng.pick(&tickets_of[&customer])].id.clone())
            };
        }
        if g.rng.chance(0.4) {
            input["channel"] = json!(g.rng.pick(&["CALL", "EMAIL", "CHAT"]));
        }
        if g.rng.chance(0.3) {
            input["direction"] = json!(if original["direction"] == "OUTBOUND" { "INBOUND" } else { "OUTBOUND" });
        }
        if input["channel"] == "CALL" || g.rng.chance(0.5) {
            input["durationSeconds"] = json!(g.rng.between(0, 3_600));
        }
        if g.rng.chance(0.3) {
            let at = input["occurredAt"].as_str().map(utc).unwrap_or(limit);
            input["occurredAt"] = json!(rfc((at + Duration::minutes(g.rng.between(-90, 90))).min(limit)));
        }
        if g.rng.chance(0.2) {
            input["technicianId"] = json!(g.rng.pick(&technicians).to_string());
        }
        let data = app.query_ok(&sam, LOG, json!({ "input": input.clone() })).await;
        logged.push((data["logInteraction"]["id"].as_str().unwrap().to_owned(), customer, input));
        *stats.entry("corrections").or_default() += 1;
    }

    // Gus moves from alpha to charlie; Flo leaves (her tickets and contacts stay hers).
    app.query_ok(
        &admin,
        "mutation($id: ID!) { updateTechnician(id: $id, input: { team: \"charlie\" }) { team } }",
        json!({ "id": technicians[6].to_string() }),
    )
    .await;
    app.query_ok(
        &admin,
        "mutation($id: ID!) { deactivateTechnician(id: $id) { active } }",
        json!({ "id": technicians[5].to_string() }),
    )
    .await;

    println!("kpi equivalence dataset: {} tickets; {stats:?}", made.len());
    Dataset {
        technicians,
        teams: vec!["alpha".into(), "bravo".into(), "charlie".into(), String::new(), "nobody".into()],
        tickets: made.len(),
    }
}

/// What the dataset holds, by the reference model: the shapes the brief asks for are there.
fn describe(model: &Model) -> BTreeMap<&'static str, usize> {
    let mut facts = BTreeMap::new();
    let mut count = |name: &'static str, n: usize| {
        facts.insert(name, n);
    };
    let t = &model.tickets;
    count("tickets", t.len());
    count("reopened once", t.iter().filter(|t| t.reopen_count == 1).count());
    count("reopened twice or more", t.iter().filter(|t| t.reopen_count >= 2).count());
    count("unassigned", t.iter().filter(|t| t.assignee.is_none()).count());
    count(
        "still open or in progress",
        t.iter().filter(|t| matches!(t.status.as_str(), "OPEN" | "IN_PROGRESS")).count(),
    );
    count("closed", t.iter().filter(|t| t.closed_at.is_some()).count());
    count("resolved the instant they opened", t.iter().filter(|t| t.first_resolved_at == Some(t.opened_at)).count());
    count(
        "reopened the instant they were resolved",
        t.iter()
            .filter(|t| {
                t.statuses.windows(2).any(|w| w[0].0 == w[1].0 && w[0].1 == "RESOLVED" && w[1].1 == "IN_PROGRESS")
            })
            .count(),
    );
    count("awaiting a first response", t.iter().filter(|t| t.first_response_at.is_none()).count());
    count("current ratings", model.ratings.len());
    count("counted interactions", model.interactions.len());
    count("counted interactions without a ticket", model.interactions.iter().filter(|i| i.ticket.is_none()).count());
    count(
        "counted interactions without a technician",
        model.interactions.iter().filter(|i| i.technician.is_none()).count(),
    );
    facts
}

// ---------------------------------------------------------------------------------------------
// Random queries.

/// Local dates periods like to start on: the daylight-saving days, month and week starts.
fn special_dates() -> Vec<NaiveDate> {
    let mut days = dst_days();
    for day in [date(2026, 3, 7), date(2026, 10, 31), date(2026, 3, 28), date(2026, 10, 24)] {
        days.push(day);
    }
    let mut month = date(2025, 10, 1);
    while month <= date(2026, 12, 1) {
        days.push(month);
        month = Unit::Month.next(month);
    }
    for monday in [
        date(2025, 12, 29),
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 23),
        date(2026, 10, 26),
        date(2026, 11, 30),
    ] {
        days.push(monday);
    }
    days
}

struct PeriodGen<'a> {
    rng: &'a mut Rng,
    edges: &'a [DateTime<Utc>],
    specials: &'a [NaiveDate],
}

impl PeriodGen<'_> {
    fn random_date(&mut self) -> NaiveDate {
        date(2025, 9, 1) + Duration::days(self.rng.between(0, 470))
    }

    /// A period in `tz` of about `min_days` to `max_days` days (or a few hours when `hours`).
    fn period(&mut self, tz: Tz, min_days: i64, max_days: i64, hours: bool) -> (DateTime<Utc>, DateTime<Utc>) {
        let (from, aligned) = match self.rng.below(100) {
            0..=44 => {
                let day = *self.rng.pick(self.specials);
                (first_instant(tz, day), Some(day))
            }
            45..=69 => {
                let day = self.random_date();
                (first_instant(tz, day), Some(day))
            }
            70..=84 => (*self.rng.pick(self.edges), None),
            _ => {
                let day = self.random_date();
                (first_instant(chrono_tz::UTC, day) + Duration::seconds(self.rng.between(0, 86_399)), None)
            }
        };
        if hours && self.rng.chance(0.25) {
            return (from, from + Duration::minutes(self.rng.between(1, 72 * 60)));
        }
        let days = self.rng.between(min_days, max_days);
        let to = match aligned {
            Some(day) if self.rng.chance(0.75) => first_instant(tz, day + Duration::days(days)),
            _ if self.rng.chance(0.3) => {
                let later: Vec<_> =
                    self.edges.iter().copied().filter(|e| *e > from && *e <= from + Duration::days(max_days)).collect();
                if later.is_empty() { from + Duration::days(days) } else { *self.rng.pick(&later) }
            }
            _ => from + Duration::seconds(self.rng.between(3_600, days * 86_400)),
        };
        (from, to)
    }
}

fn random_filter(rng: &mut Rng, data: &Dataset) -> Filter {
    let mut filter = Filter::default();
    let kinds = match rng.below(100) {
        0..=34 => 0,
        35..=74 => 1,
        _ => rng.between(2, 3) as usize,
    };
    let mut chosen = BTreeSet::new();
    while chosen.len() < kinds {
        chosen.insert(rng.below(5));
    }
    for kind in chosen {
        match kind {
            0 => filter.technicians = rng.some_of(&data.technicians, 2),
            1 => filter.teams = rng.some_of(&data.teams, 2),
            2 => filter.categories = rng.some_of(&CATEGORIES.map(String::from), 3),
            3 => filter.priorities = rng.some_of(&PRIORITIES.map(String::from), 2),
            _ => filter.channels = rng.some_of(&CHANNELS.map(String::from), 2),
        }
    }
    filter
}

fn describe_query(
    kind: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    tz: Tz,
    extra: &str,
    filter: &Filter,
) -> String {
    format!("{kind} period [{}, {}) timeZone {} {extra} filter {}", rfc(from), rfc(to), tz.name(), filter.to_json())
}

fn period_json((from, to): (DateTime<Utc>, DateTime<Utc>)) -> Value {
    json!({ "from": rfc(from), "to": rfc(to) })
}

async fn check_summary(
    app: &TestApp,
    token: &str,
    model: &Model,
    check: &mut Checker,
    period: (DateTime<Utc>, DateTime<Utc>),
    tz: Tz,
    filter: &Filter,
) {
    let query = format!(
        "query($period: PeriodInput!, $tz: String!, $filter: KpiFilterInput) {{ kpis(period: $period, timeZone: $tz, filter: $filter) {{ \
         from to timeZone previousFrom previousTo current {{ {VALUES} }} previous {{ {VALUES} }} \
         changes {{ metric current previous absolute relative }} }} }}"
    );
    check.start(format!("kpis {}", tz.name()), describe_query("kpis", period, tz, "", filter));
    let data = app
        .query_ok(token, &query, json!({ "period": period_json(period), "tz": tz.name(), "filter": filter.to_json() }))
        .await;
    let k = &data["kpis"];
    let (from, to) = period;
    let previous = (from - (to - from), from);
    check.instant("summary", "from", from, &k["from"]);
    check.instant("summary", "to", to, &k["to"]);
    check.text("summary", "timeZone", Some(tz.name()), &k["timeZone"]);
    check.instant("summary", "previousFrom", previous.0, &k["previousFrom"]);
    check.instant("summary", "previousTo", previous.1, &k["previousTo"]);
    let current = model.compute(from, to, filter, Grouping::None).remove(&None).unwrap_or_default();
    let before = model.compute(previous.0, previous.1, filter, Grouping::None).remove(&None).unwrap_or_default();
    check.values("current", &current, &k["current"], || model.status_ties(from, to, filter, Grouping::None, &None));
    check.values("previous", &before, &k["previous"], || {
        model.status_ties(previous.0, previous.1, filter, Grouping::None, &None)
    });

    let changes: HashMap<&str, &Value> =
        k["changes"].as_array().expect("changes").iter().map(|c| (c["metric"].as_str().unwrap_or("?"), c)).collect();
    check.compared += 1;
    if changes.len() != METRICS.len() {
        check.fail("changes", "metrics", format!("{} metrics", METRICS.len()), format!("{}", changes.len()));
    }
    for metric in METRICS {
        let Some(change) = changes.get(metric) else {
            check.fail("changes", metric, "listed".into(), "missing".into());
            continue;
        };
        let (c, p) = (current.metric(metric), before.metric(metric));
        let scale = c.unwrap_or(0.0).abs().max(p.unwrap_or(0.0).abs());
        let absolute = c.zip(p).map(|(c, p)| c - p);
        let relative = absolute.zip(p).and_then(|(a, p)| (p != 0.0).then(|| a / p));
        let field = |name: &str| format!("changes[{metric}].{name}");
        check.float("changes", &field("current"), c, &change["current"]);
        check.float("changes", &field("previous"), p, &change["previous"]);
        check.float_scaled("changes", &field("absolute"), absolute, &change["absolute"], scale);
        let relative_scale = p.map_or(0.0, |p| scale / p.abs().max(1e-300));
        check.float_scaled("changes", &field("relative"), relative, &change["relative"], relative_scale);
    }
    check.finish_query();
}

#[allow(clippy::too_many_arguments)]
async fn check_series(
    app: &TestApp,
    token: &str,
    model: &Model,
    check: &mut Checker,
    period: (DateTime<Utc>, DateTime<Utc>),
    tz: Tz,
    unit: Unit,
    grouping: Grouping,
    filter: &Filter,
) {
    let query = format!(
        "query($period: PeriodInput!, $tz: String!, $bucket: KpiBucket!, $groupBy: KpiGroupBy!, $filter: KpiFilterInput) {{ \
         kpiSeries(period: $period, timeZone: $tz, bucket: $bucket, groupBy: $groupBy, filter: $filter) {{ \
         starts ends group technician {{ id }} values {{ {VALUES} }} }} }}"
    );
    let extra = format!("bucket {} groupBy {}", unit.name(), grouping.name());
    check.start(
        format!("kpiSeries {} {}", unit.name(), tz.name()),
        describe_query("kpiSeries", period, tz, &extra, filter),
    );
    let variables = json!({
        "period": period_json(period), "tz": tz.name(), "bucket": unit.name(), "groupBy": grouping.name(), "filter": filter.to_json(),
    });
    let data = app.query_ok(token, &query, variables).await;
    let points = data["kpiSeries"].as_array().expect("a series");

    let expected_buckets = buckets(period.0, period.1, tz, unit);
    let expected: Vec<BTreeMap<Option<String>, Values>> =
        expected_buckets.iter().map(|(s, e)| model.compute(*s, *e, filter, grouping)).collect();

    let mut listed: BTreeMap<Option<String>, Vec<&Value>> = BTreeMap::new();
    for point in points {
        let group = point["group"].as_str().map(str::to_owned);
        check.compared += 1;
        match (grouping, &group) {
            (Grouping::None, Some(g)) => check.fail("series", "group", "null".into(), g.clone()),
            (Grouping::Technician, _) => {
                let technician = point["technician"]["id"].as_str().map(str::to_owned);
                if technician != group {
                    check.fail("series", "technician.id", format!("{group:?}"), format!("{technician:?}"));
                }
            }
            _ => {}
        }
        listed.entry(group).or_default().push(point);
    }
    let with_data: BTreeSet<Option<String>> = expected
        .iter()
        .flat_map(|bucket| bucket.iter().filter(|(_, v)| v.has_data()).map(|(g, _)| g.clone()))
        .collect();
    let mut groups: BTreeSet<Option<String>> = listed.keys().cloned().collect();
    groups.extend(with_data.iter().cloned());
    if grouping == Grouping::None {
        groups.insert(None);
    }
    let empty = Values::default();
    for group in groups {
        let label =
            |(s, e): &(DateTime<Utc>, DateTime<Utc>)| format!("bucket [{}, {}) group {group:?}", rfc(*s), rfc(*e));
        let Some(actual) = listed.get(&group) else {
            check.compared += 1;
            check.fail(&format!("group {group:?}"), "group", "listed (it has data)".into(), "not listed".into());
            continue;
        };
        check.compared += 1;
        if actual.len() != expected_buckets.len() {
            check.fail(
                &format!("group {group:?}"),
                "points",
                format!("{} buckets", expected_buckets.len()),
                format!("{} points", actual.len()),
            );
            continue;
        }
        for (n, bucket) in expected_buckets.iter().enumerate() {
            let point = label(bucket);
            check.instant(&point, "starts", bucket.0, &actual[n]["starts"]);
            check.instant(&point, "ends", bucket.1, &actual[n]["ends"]);
            let values = expected[n].get(&group).unwrap_or(&empty);
            check.values(&point, values, &actual[n]["values"], || {
                model.status_ties(period.0, bucket.1, filter, grouping, &group)
            });
        }
    }
    check.finish_query();
}

#[allow(clippy::too_many_arguments)]
async fn check_performance(
    app: &TestApp,
    token: &str,
    model: &Model,
    check: &mut Checker,
    period: (DateTime<Utc>, DateTime<Utc>),
    order: &str,
    filter: &Filter,
    technicians: &[i64],
) {
    let query = format!(
        "query($period: PeriodInput!, $order: LeaderboardOrder!, $filter: KpiFilterInput) {{ \
         technicianPerformance(period: $period, orderBy: $order, filter: $filter) {{ technician {{ id }} \
         ticketsAssigned ticketsResolved resolutionRate firstResponseSeconds {{ mean median p90 }} \
         resolutionSeconds {{ mean median p90 }} reopenRate csatAverage csatCount values {{ {VALUES} }} }} }}"
    );
    let described =
        describe_query("technicianPerformance", period, chrono_tz::UTC, &format!("orderBy {order}"), filter);
    check.start("technicianPerformance".into(), described);
    let data = app
        .query_ok(token, &query, json!({ "period": period_json(period), "order": order, "filter": filter.to_json() }))
        .await;
    let rows = data["technicianPerformance"].as_array().expect("a leaderboard");
    let expected = model.compute(period.0, period.1, filter, Grouping::Technician);
    let empty = Values::default();
    let mut listed = BTreeSet::new();
    for row in rows {
        let Some(id) = row["technician"]["id"].as_str() else {
            check.compared += 1;
            check.fail("leaderboard", "technician", "a technician".into(), row["technician"].to_string());
            continue;
        };
        check.compared += 1;
        if !listed.insert(id.to_owned()) {
            check.fail("leaderboard", "technician", "listed once".into(), format!("{id} twice"));
        }
        let e = expected.get(&Some(id.to_owned())).unwrap_or(&empty);
        let point = format!("technician {id}");
        check.int(&point, "ticketsAssigned", e.opened, &row["ticketsAssigned"]);
        check.int(&point, "ticketsResolved", e.resolved, &row["ticketsResolved"]);
        check.float(&point, "resolutionRate", share(e.opened_now_resolved, e.opened), &row["resolutionRate"]);
        check.stats(&point, "firstResponseSeconds", &e.first_response, &row["firstResponseSeconds"]);
        check.stats(&point, "resolutionSeconds", &e.resolution, &row["resolutionSeconds"]);
        check.float(&point, "reopenRate", share(e.resolved_reopened, e.resolved), &row["reopenRate"]);
        check.float(&point, "csatAverage", e.csat_average(), &row["csatAverage"]);
        check.int(&point, "csatCount", e.ratings.len() as i64, &row["csatCount"]);
        let group = Some(id.to_owned());
        check.values(&point, e, &row["values"], || {
            model.status_ties(period.0, period.1, filter, Grouping::Technician, &group)
        });
    }
    for (group, values) in &expected {
        if let Some(id) = group
            && values.has_data()
            && !listed.contains(id)
        {
            check.compared += 1;
            check.fail(&format!("technician {id}"), "row", "listed (has data)".into(), "not listed".into());
        }
    }
    // PRODUCT.md: "The leaderboard lists every technician, with zeros and nulls for those
    // without data". The engine lists those with data; that is counted, not failed.
    if filter.to_json().is_null() {
        check.leaderboards += 1;
        if technicians.iter().any(|id| !listed.contains(&id.to_string())) {
            check.leaderboards_short += 1;
        }
    }
    // Best first by the ordering's key, rows without one last, ties by technician id.
    let key = |row: &Value| -> Option<f64> {
        match order {
            "TICKETS_ASSIGNED" => row["ticketsAssigned"].as_f64(),
            "RESOLUTION_RATE" => row["resolutionRate"].as_f64(),
            "FIRST_RESPONSE_MEDIAN" => row["firstResponseSeconds"]["median"].as_f64().map(|v| -v),
            "RESOLUTION_MEDIAN" => row["resolutionSeconds"]["median"].as_f64().map(|v| -v),
            "CSAT_AVERAGE" => row["csatAverage"].as_f64(),
            _ => row["ticketsResolved"].as_f64(),
        }
    };
    let id = |row: &Value| row["technician"]["id"].as_str().and_then(|id| id.parse::<i64>().ok());
    for pair in rows.windows(2) {
        check.compared += 1;
        let (ka, kb) = (key(&pair[0]), key(&pair[1]));
        let ordered = match (ka, kb) {
            (Some(a), Some(b)) if a != b => a > b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            _ => id(&pair[0]) < id(&pair[1]),
        };
        if !ordered {
            check.fail("leaderboard order", order, format!("{ka:?} before {kb:?}"), "the other way round".into());
        }
    }
    check.finish_query();
}

#[tokio::test]
async fn the_kpi_engine_agrees_with_a_reference_model_of_product_md() {
    let started = Instant::now();
    let seed = std::env::var("KPI_EQUIVALENCE_SEED")
        .ok()
        .map(|s| s.trim_start_matches("0x").to_owned())
        .map(|s| u64::from_str_radix(&s, 16).expect("KPI_EQUIVALENCE_SEED in hex"))
        .unwrap_or(DEFAULT_SEED);
    println!("kpi equivalence: seed {seed:#x}");
    let app = spawn_app_with(|settings| {
        settings.limits.max_complexity = 1_000_000;
        // The test seals the blocks itself, below.
        settings.kpi_blocks.seal_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let data = build_dataset(&app, Rng(seed)).await;
    // Answers come from sealed blocks, and from the rows of the days whose block is stale (one
    // day in three, as if changed since the seal).
    let mut conn = app.database.connect();
    let sealed = deskpulse::store::kpi_blocks::seal_all(&mut conn).expect("seal the blocks");
    let voided = diesel::sql_query(
        "INSERT INTO kpi_dirty_days (day) SELECT day FROM kpi_fact_blocks WHERE extract(doy FROM day)::int % 3 = 0",
    )
    .execute(&mut conn)
    .unwrap();
    println!("kpi equivalence: {sealed} days sealed into blocks, {voided} of them made stale");
    assert!(sealed > 200 && voided > 50, "the dataset spans many sealed days");
    let model = Model::load(&app);
    assert_eq!(model.tickets.len(), data.tickets);
    println!("kpi equivalence dataset by the reference model: {:?}", describe(&model));
    println!("kpi equivalence: dataset built in {:.1?}", started.elapsed());

    let token = app.supervisor();
    let mut rng = Rng(seed ^ 0x5175_6572_6965_7321);
    let edges = edge_instants(utc("2027-01-31T00:00:00Z"));
    let specials = special_dates();
    let mut check = Checker::new();
    let mut queries = 0;
    let orders = [
        "TICKETS_RESOLVED",
        "TICKETS_ASSIGNED",
        "RESOLUTION_RATE",
        "FIRST_RESPONSE_MEDIAN",
        "RESOLUTION_MEDIAN",
        "CSAT_AVERAGE",
    ];
    let plan: Vec<u8> = (0..480).map(|n| (n % 6) as u8).collect();
    for step in plan {
        let tz = *rng.pick(&ZONES);
        let filter = random_filter(&mut rng, &data);
        let grouping = *rng.pick(&Grouping::ALL);
        let order = *rng.pick(&orders);
        let mut periods = PeriodGen { rng: &mut rng, edges: &edges, specials: &specials };
        match step {
            0 | 1 => {
                let period = periods.period(tz, 1, 400, true);
                check_summary(&app, &token, &model, &mut check, period, tz, &filter).await;
            }
            2 => {
                let period = periods.period(tz, 1, 62, false);
                check_series(&app, &token, &model, &mut check, period, tz, Unit::Day, grouping, &filter).await;
            }
            3 => {
                let period = periods.period(tz, 7, 400, false);
                check_series(&app, &token, &model, &mut check, period, tz, Unit::Week, grouping, &filter).await;
            }
            4 => {
                let period = periods.period(tz, 20, 550, false);
                check_series(&app, &token, &model, &mut check, period, tz, Unit::Month, grouping, &filter).await;
            }
            _ => {
                let period = periods.period(tz, 1, 400, true);
                check_performance(&app, &token, &model, &mut check, period, order, &filter, &data.technicians).await;
            }
        }
        queries += 1;
    }
    println!(
        "kpi equivalence: {} values compared over {queries} queries in {:.1?} (seed {seed:#x})",
        check.compared,
        started.elapsed()
    );
    println!(
        "kpi equivalence: {} of {} unfiltered leaderboards leave out a technician without data in the period",
        check.leaderboards_short, check.leaderboards
    );
    if std::env::var("KPI_EQUIVALENCE_KEEP_DB").is_ok() {
        println!("kept database {}", app.database.name);
        std::mem::forget(app);
    }
    assert!(
        check.mismatches == 0,
        "kpi equivalence: {} mismatches in {} of {queries} queries (seed {seed:#x}); by field: {:?}; \
         (queries, failed) by query and zone: {:?}\nfirst ones:\n{}",
        check.mismatches,
        check.failed_queries,
        check.by_field,
        check.by_tag,
        check.messages.join("\n")
    );
}
