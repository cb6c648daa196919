//! KPI queries: PRODUCT.md's definitions in SQL. Every figure is computed by PostgreSQL
//! (counts, sums, `percentile_cont`), bucketed with `date_trunc` in the requested time zone, over
//! the covering indexes of migration 2026-11-27-000007. A summary is the one-bucket case of a
//! series, so both share every query.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Timestamp, Timestamptz};
use serde::{Deserialize, Serialize};

use crate::domain::{Direction, InteractionChannel};
use crate::error::AppError;

/// Calendar units a series is cut into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
    Month,
}

impl Bucket {
    fn unit(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }
}

/// What a series is grouped by. Tickets (and their ratings) are grouped by their current
/// attributes; interactions by the technician who logged them and by their linked ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    None,
    Technician,
    Team,
    Category,
    Priority,
    Channel,
}

/// Optional filters; empty lists mean "any". Stored as an improvement action's scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KpiFilter {
    pub technician_ids: Vec<i64>,
    pub teams: Vec<String>,
    pub categories: Vec<String>,
    pub priorities: Vec<String>,
    pub channels: Vec<String>,
}

/// Mean, median and 90th percentile of durations, in seconds; null without data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DurationStats {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionTotal {
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub count: i64,
    pub duration_seconds: i64,
}

/// Every KPI of one bucket (and group). Serialized into stored reports: a field added later reads
/// as its default from older reports; renaming one breaks them (a test reads a format-1 sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KpiValues {
    pub tickets_opened: i64,
    pub tickets_resolved: i64,
    pub tickets_closed: i64,
    pub backlog: i64,
    pub first_response: DurationStats,
    pub awaiting_first_response: i64,
    pub resolution: DurationStats,
    pub first_resolution: DurationStats,
    /// Of the tickets opened, how many are RESOLVED or CLOSED now.
    pub opened_now_resolved: i64,
    /// Of the tickets resolved, how many were ever reopened.
    pub resolved_reopened: i64,
    pub csat_average: Option<f64>,
    pub csat_count: i64,
    pub csat_satisfied: i64,
    pub interactions: Vec<InteractionTotal>,
}

impl KpiValues {
    pub fn resolution_rate(&self) -> Option<f64> {
        share(self.opened_now_resolved, self.tickets_opened)
    }
    pub fn reopen_rate(&self) -> Option<f64> {
        share(self.resolved_reopened, self.tickets_resolved)
    }
    pub fn csat_satisfied_share(&self) -> Option<f64> {
        share(self.csat_satisfied, self.csat_count)
    }
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// One point of a series: a bucket `[starts, ends)` (clipped to the period) and a group.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiPoint {
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// The group's key (technician id, team, category, ...); None for "no group"/unassigned.
    pub group: Option<String>,
    pub values: KpiValues,
}

/// Tickets opened per group (categories, say) of a grouped computation; the null group is left
/// out.
pub fn tickets_opened_by_group(points: Vec<KpiPoint>) -> std::collections::HashMap<String, i64> {
    points.into_iter().filter_map(|point| point.group.map(|group| (group, point.values.tickets_opened))).collect()
}

/// A bind parameter of a dynamically built statement.
enum Bind {
    Instant(DateTime<Utc>),
    Text(String),
    Texts(Vec<String>),
    Ids(Vec<i64>),
}

/// SQL text with numbered placeholders and their values, built piece by piece.
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

impl Statement {
    fn new() -> Statement {
        Statement { sql: String::new(), binds: Vec::new() }
    }

    /// Adds a bind and returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn query(self) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed();
        for value in self.binds {
            query = match value {
                Bind::Instant(at) => query.bind::<Timestamptz, _>(at),
                Bind::Text(text) => query.bind::<Text, _>(text),
                Bind::Texts(texts) => query.bind::<Array<Text>, _>(texts),
                Bind::Ids(ids) => query.bind::<Array<BigInt>, _>(ids),
            };
        }
        query
    }
}

/// The period, time zone, bucketing and grouping of one computation, with their placeholders.
struct Frame {
    from: String,
    to: String,
    tz: Option<String>,
    bucket: Option<Bucket>,
    grouping: Grouping,
}

impl Frame {
    /// The bucket key of instant expression `at`: its local calendar unit's start, or a constant
    /// for a one-bucket summary. `at` is assigned to `[start, end)`.
    fn bucket_of(&self, at: &str) -> String {
        match (self.bucket, &self.tz) {
            (Some(bucket), Some(tz)) => format!("date_trunc('{}', ({at}) AT TIME ZONE {tz})", bucket.unit()),
            _ => "'epoch'::timestamp".to_owned(),
        }
    }

    /// The bucket whose `(start, end]` holds `at`: status events at a boundary count for the
    /// backlog at that boundary.
    fn bucket_ending_at(&self, at: &str) -> String {
        self.bucket_of(&format!("({at}) - interval '1 microsecond'"))
    }

    /// The group key of a ticket row `t` (team through the joined technician `tm`).
    fn ticket_group(&self) -> &'static str {
        match self.grouping {
            Grouping::None => "NULL::text",
            Grouping::Technician => "t.assignee_id::text",
            Grouping::Team => "tm.team",
            Grouping::Category => "t.category",
            Grouping::Priority => "t.priority",
            Grouping::Channel => "t.channel",
        }
    }
}

/// `AND ...` conditions of the filter on a ticket row `t` (joined technician `tm`).
fn ticket_conditions(statement: &mut Statement, filter: &KpiFilter) -> String {
    let mut conditions = String::new();
    if !filter.technician_ids.is_empty() {
        let ids = statement.bind(Bind::Ids(filter.technician_ids.clone()));
        conditions.push_str(&format!(" AND t.assignee_id = ANY({ids})"));
    }
    if !filter.teams.is_empty() {
        let teams = statement.bind(Bind::Texts(filter.teams.clone()));
        conditions.push_str(&format!(" AND tm.team = ANY({teams})"));
    }
    for (column, values) in
        [("category", &filter.categories), ("priority", &filter.priorities), ("channel", &filter.channels)]
    {
        if !values.is_empty() {
            let placeholder = statement.bind(Bind::Texts(values.clone()));
            conditions.push_str(&format!(" AND t.{column} = ANY({placeholder})"));
        }
    }
    conditions
}

const TEAM_JOIN: &str = "LEFT JOIN technicians tm ON tm.id = t.assignee_id";

/// Seconds between two instants as float8 (`date_part`, unlike EXTRACT's numeric, keeps the
/// aggregates in fast floating point).
fn seconds(later: &str, earlier: &str) -> String {
    format!("date_part('epoch', {later} - {earlier})")
}

fn duration_stats(expression: &str) -> String {
    format!(
        "avg({e}) AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY {e}) AS median, \
         percentile_cont(0.9) WITHIN GROUP (ORDER BY {e}) AS p90",
        e = expression
    )
}

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Timestamptz)]
    starts: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    ends: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct OpenedRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    opened: i64,
    #[diesel(sql_type = BigInt)]
    awaiting: i64,
    #[diesel(sql_type = BigInt)]
    now_resolved: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p90: Option<f64>,
}

#[derive(QueryableByName)]
struct ResolvedRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    reopened: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p90: Option<f64>,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct CsatRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    average: Option<f64>,
}

#[derive(QueryableByName)]
struct InteractionRow {
    #[diesel(sql_type = Timestamp)]
    key: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Text)]
    direction: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    duration: i64,
}

/// The inputs of one computation.
pub struct KpiQuery<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// IANA name, already validated.
    pub time_zone: &'a str,
    /// None: one bucket, the whole period.
    pub bucket: Option<Bucket>,
    pub grouping: Grouping,
    pub filter: &'a KpiFilter,
}

/// Computes every KPI for each bucket and group of `query`, in one read-only snapshot. Empty
/// buckets are present (counts 0, averages null); every group seen anywhere in the period gets
/// every bucket.
pub fn compute(conn: &mut PgConnection, query: &KpiQuery<'_>) -> Result<Vec<KpiPoint>, AppError> {
    in_snapshot(conn, |conn| compute_in_snapshot(conn, query))
}

/// Runs `read` in one read-only, repeatable-read transaction tuned for KPI queries, so that every
/// figure it computes sees the same data.
pub fn in_snapshot<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.build_transaction().read_only().repeatable_read().run(|conn| {
        // Percentile sorts of a year's tickets fit in memory instead of spilling to disk, and
        // index lookups are priced as on SSD (or cached) storage, so that joining a month's
        // ratings to their tickets looks up each ticket rather than scanning them all.
        diesel::sql_query("SET LOCAL work_mem = '64MB'").execute(conn)?;
        diesel::sql_query("SET LOCAL random_page_cost = 1.1").execute(conn)?;
        read(conn)
    })
}

fn frame(statement: &mut Statement, query: &KpiQuery<'_>) -> Frame {
    let from = statement.bind(Bind::Instant(query.from));
    let to = statement.bind(Bind::Instant(query.to));
    let tz = query.bucket.map(|_| statement.bind(Bind::Text(query.time_zone.to_owned())));
    Frame { from, to, tz, bucket: query.bucket, grouping: query.grouping }
}

type Key = (NaiveDateTime, Option<String>);

/// Per bucket and group values while they are being filled, plus the groups seen.
#[derive(Default)]
struct Collected {
    values: BTreeMap<Key, KpiValues>,
    groups: BTreeSet<Option<String>>,
    /// The backlog at the period's start, per group.
    base_backlog: BTreeMap<Option<String>, i64>,
    /// Per bucket and group: openings minus resolutions plus reopens, for the running backlog.
    backlog_change: BTreeMap<Key, i64>,
}

impl Collected {
    fn slot(&mut self, key: NaiveDateTime, group: Option<String>) -> &mut KpiValues {
        self.groups.insert(group.clone());
        self.values.entry((key, group)).or_default()
    }
}

/// [`compute`] inside a transaction opened by [`in_snapshot`].
pub fn compute_in_snapshot(conn: &mut PgConnection, query: &KpiQuery<'_>) -> Result<Vec<KpiPoint>, AppError> {
    let buckets = bucket_list(conn, query)?;
    let mut collected = Collected::default();
    if query.grouping == Grouping::None {
        collected.groups.insert(None);
    }

    // Tickets opened in the period: volume, first responses, awaiting, resolution rate.
    let (mut s, f, conditions) = start(query);
    s.sql = format!(
        "SELECT {key} AS key, {grp} AS grp, count(*) AS opened, \
         count(*) FILTER (WHERE t.first_response_at IS NULL) AS awaiting, \
         count(*) FILTER (WHERE t.status IN ('RESOLVED', 'CLOSED')) AS now_resolved, {stats} \
         FROM tickets t {TEAM_JOIN} WHERE t.opened_at >= {from} AND t.opened_at < {to}{conditions} GROUP BY 1, 2",
        key = f.bucket_of("t.opened_at"),
        grp = f.ticket_group(),
        stats = duration_stats(&seconds("t.first_response_at", "t.opened_at")),
        from = f.from,
        to = f.to,
    );
    for row in s.query().load::<OpenedRow>(conn)? {
        *collected.backlog_change.entry((row.key, row.grp.clone())).or_default() += row.opened;
        let values = collected.slot(row.key, row.grp);
        values.tickets_opened = row.opened;
        values.awaiting_first_response = row.awaiting;
        values.opened_now_resolved = row.now_resolved;
        values.first_response = DurationStats { mean: row.mean, median: row.median, p90: row.p90 };
    }

    // Resolutions (the latest one of each ticket) and first resolutions in the period.
    for (column, first) in [("t.resolved_at", false), ("t.first_resolved_at", true)] {
        let (mut s, f, conditions) = start(query);
        s.sql = format!(
            "SELECT {key} AS key, {grp} AS grp, count(*) AS n, count(*) FILTER (WHERE t.reopen_count > 0) AS reopened, \
             {stats} FROM tickets t {TEAM_JOIN} WHERE {column} >= {from} AND {column} < {to}{conditions} GROUP BY 1, 2",
            key = f.bucket_of(column),
            grp = f.ticket_group(),
            stats = duration_stats(&seconds(column, "t.opened_at")),
            from = f.from,
            to = f.to,
        );
        for row in s.query().load::<ResolvedRow>(conn)? {
            let values = collected.slot(row.key, row.grp);
            let stats = DurationStats { mean: row.mean, median: row.median, p90: row.p90 };
            if first {
                values.first_resolution = stats;
            } else {
                values.tickets_resolved = row.n;
                values.resolved_reopened = row.reopened;
                values.resolution = stats;
            }
        }
    }

    // Closures.
    let (mut s, f, conditions) = start(query);
    s.sql = format!(
        "SELECT {key} AS key, {grp} AS grp, count(*) AS n FROM tickets t {TEAM_JOIN} \
         WHERE t.closed_at >= {from} AND t.closed_at < {to}{conditions} GROUP BY 1, 2",
        key = f.bucket_of("t.closed_at"),
        grp = f.ticket_group(),
        from = f.from,
        to = f.to,
    );
    for row in s.query().load::<CountRow>(conn)? {
        collected.slot(row.key, row.grp).tickets_closed = row.n;
    }

    backlog(conn, query, &mut collected)?;

    // CSAT: current ratings submitted in the period, grouped by their ticket.
    let (mut s, f, conditions) = start(query);
    s.sql = format!(
        "SELECT {key} AS key, {grp} AS grp, count(*) AS n, count(*) FILTER (WHERE sr.rating >= 4) AS satisfied, \
         avg(sr.rating)::float8 AS average FROM satisfaction_ratings sr JOIN tickets t ON t.id = sr.ticket_id {TEAM_JOIN} \
         WHERE sr.superseded_at IS NULL AND sr.submitted_at >= {from} AND sr.submitted_at < {to}{conditions} GROUP BY 1, 2",
        key = f.bucket_of("sr.submitted_at"),
        grp = f.ticket_group(),
        from = f.from,
        to = f.to,
    );
    for row in s.query().load::<CsatRow>(conn)? {
        let values = collected.slot(row.key, row.grp);
        values.csat_count = row.n;
        values.csat_satisfied = row.satisfied;
        values.csat_average = row.average;
    }

    interactions(conn, query, &mut collected)?;
    Ok(assemble(buckets, collected))
}

fn start(query: &KpiQuery<'_>) -> (Statement, Frame, String) {
    let mut statement = Statement::new();
    let frame = frame(&mut statement, query);
    let conditions = ticket_conditions(&mut statement, query.filter);
    (statement, frame, conditions)
}

/// The backlog at each bucket's end, by the status history: tickets opened before that instant
/// and not resolved at it, counting status events at exactly the instant. It is the backlog at
/// the period's start plus, bucket by bucket, the openings (already counted) minus resolutions
/// plus reopens. Tickets never reopened have one resolution, their first_resolved_at; only the
/// reopened ones' status events are read.
fn backlog(conn: &mut PgConnection, query: &KpiQuery<'_>, collected: &mut Collected) -> Result<(), AppError> {
    let (mut s, f, conditions) = start(query);
    let from = &f.from;
    let grp = f.ticket_group();
    let status_events = "(e.kind = 'REOPENED' OR (e.kind = 'STATUS_CHANGED' AND e.to_value = 'RESOLVED'))";
    s.sql = format!(
        "SELECT grp, sum(n)::bigint AS n FROM ( \
           SELECT {grp} AS grp, count(*) AS n FROM tickets t {TEAM_JOIN} \
           WHERE coalesce(t.first_resolved_at, 'infinity') > {from} AND t.opened_at < {from}{conditions} GROUP BY 1 \
           UNION ALL \
           SELECT {grp}, count(*) FROM tickets t {TEAM_JOIN} \
           WHERE t.reopen_count > 0 AND coalesce(t.resolved_at, 'infinity') > {from} \
             AND t.opened_at < {from} AND t.first_resolved_at <= {from}{conditions} \
             AND (SELECT count(*) FILTER (WHERE e.kind = 'REOPENED') - count(*) FILTER (WHERE e.kind <> 'REOPENED') \
                  FROM ticket_events e WHERE e.ticket_id = t.id AND e.at <= {from} AND {status_events}) >= 0 \
           GROUP BY 1 \
         ) AS base GROUP BY 1"
    );
    for row in s.query().load::<GroupCountRow>(conn)? {
        collected.groups.insert(row.grp.clone());
        collected.base_backlog.insert(row.grp, row.n);
    }

    let (mut s, f, conditions) = start(query);
    let (from, to) = (&f.from, &f.to);
    // A ticket resolved the instant it opened leaves the backlog in the bucket it entered it.
    s.sql = format!(
        "SELECT key, grp, sum(d)::bigint AS n FROM ( \
           SELECT {resolved_key} AS key, {grp} AS grp, -1 AS d FROM tickets t {TEAM_JOIN} \
           WHERE t.first_resolved_at > {from} AND t.first_resolved_at <= {to} \
             AND t.first_resolved_at <> t.opened_at{conditions} \
           UNION ALL \
           SELECT {opened_key}, {grp}, -1 FROM tickets t {TEAM_JOIN} \
           WHERE t.opened_at >= {from} AND t.opened_at < {to} AND t.first_resolved_at = t.opened_at{conditions} \
           UNION ALL \
           SELECT {event_key}, {grp}, CASE WHEN e.kind = 'REOPENED' THEN 1 ELSE -1 END \
           FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id {TEAM_JOIN} \
           WHERE t.reopen_count > 0 AND coalesce(t.resolved_at, 'infinity') > {from} AND t.first_resolved_at < {to} \
             AND e.at > {from} AND e.at <= {to} AND {status_events} AND e.at > t.first_resolved_at{conditions} \
         ) AS changes GROUP BY 1, 2",
        opened_key = f.bucket_of("t.opened_at"),
        resolved_key = f.bucket_ending_at("t.first_resolved_at"),
        event_key = f.bucket_ending_at("e.at"),
    );
    for row in s.query().load::<CountRow>(conn)? {
        collected.groups.insert(row.grp.clone());
        *collected.backlog_change.entry((row.key, row.grp)).or_default() += row.n;
    }
    Ok(())
}

/// Interactions in the period by channel and direction, without entries a later one corrects.
/// Technician and team come from who logged them; category, priority and channel from their
/// ticket (none: the null group, and excluded by those filters).
fn interactions(conn: &mut PgConnection, query: &KpiQuery<'_>, collected: &mut Collected) -> Result<(), AppError> {
    let mut s = Statement::new();
    let f = frame(&mut s, query);
    let mut conditions = String::new();
    if !query.filter.technician_ids.is_empty() {
        let ids = s.bind(Bind::Ids(query.filter.technician_ids.clone()));
        conditions.push_str(&format!(" AND i.technician_id = ANY({ids})"));
    }
    if !query.filter.teams.is_empty() {
        let teams = s.bind(Bind::Texts(query.filter.teams.clone()));
        conditions.push_str(&format!(" AND tm.team = ANY({teams})"));
    }
    for (column, values) in [
        ("category", &query.filter.categories),
        ("priority", &query.filter.priorities),
        ("channel", &query.filter.channels),
    ] {
        if !values.is_empty() {
            let placeholder = s.bind(Bind::Texts(values.clone()));
            conditions.push_str(&format!(" AND t.{column} = ANY({placeholder})"));
        }
    }
    let grp = match query.grouping {
        Grouping::Technician => "i.technician_id::text",
        Grouping::Team => "tm.team",
        _ => f.ticket_group(),
    };
    // All entries, minus those a later entry corrects (few: read through their partial index),
    // so the large part is an index-only scan.
    let from_interactions = "FROM interactions i LEFT JOIN tickets t ON t.id = i.ticket_id \
                             LEFT JOIN technicians tm ON tm.id = i.technician_id";
    s.sql = format!(
        "SELECT key, grp, channel, direction, sum(n)::bigint AS n, sum(duration)::bigint AS duration FROM ( \
           SELECT {key} AS key, {grp} AS grp, i.channel, i.direction, count(*) AS n, \
                  coalesce(sum(i.duration_seconds), 0) AS duration {from_interactions} \
           WHERE i.occurred_at >= {from} AND i.occurred_at < {to}{conditions} GROUP BY 1, 2, 3, 4 \
           UNION ALL \
           SELECT {key}, {grp}, i.channel, i.direction, -count(*), -coalesce(sum(i.duration_seconds), 0) {from_interactions} \
           WHERE i.id IN (SELECT c.corrects_id FROM interactions c WHERE c.corrects_id IS NOT NULL) \
             AND i.occurred_at >= {from} AND i.occurred_at < {to}{conditions} GROUP BY 1, 2, 3, 4 \
         ) AS counted GROUP BY 1, 2, 3, 4 HAVING sum(n) > 0 ORDER BY 3, 4",
        key = f.bucket_of("i.occurred_at"),
        from = f.from,
        to = f.to,
    );
    for row in s.query().load::<InteractionRow>(conn)? {
        let (Ok(channel), Ok(direction)) = (row.channel.parse(), row.direction.parse()) else { continue };
        collected.slot(row.key, row.grp).interactions.push(InteractionTotal {
            channel,
            direction,
            count: row.n,
            duration_seconds: row.duration,
        });
    }
    Ok(())
}

#[derive(QueryableByName)]
struct GroupCountRow {
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn bucket_list(conn: &mut PgConnection, query: &KpiQuery<'_>) -> Result<Vec<BucketRow>, AppError> {
    let mut s = Statement::new();
    let f = frame(&mut s, query);
    s.sql = match (f.bucket, &f.tz) {
        (Some(bucket), Some(tz)) => format!(
            "SELECT b AS key, greatest(b AT TIME ZONE {tz}, {from}) AS starts, \
             least((b + interval '1 {unit}') AT TIME ZONE {tz}, {to}) AS ends \
             FROM generate_series(date_trunc('{unit}', {from} AT TIME ZONE {tz}), \
                                  date_trunc('{unit}', ({to} - interval '1 microsecond') AT TIME ZONE {tz}), \
                                  interval '1 {unit}') AS b",
            unit = bucket.unit(),
            from = f.from,
            to = f.to,
        ),
        _ => format!("SELECT 'epoch'::timestamp AS key, {} AS starts, {} AS ends", f.from, f.to),
    };
    Ok(s.query().load(conn)?)
}

fn assemble(buckets: Vec<BucketRow>, mut collected: Collected) -> Vec<KpiPoint> {
    let mut points = Vec::with_capacity(buckets.len() * collected.groups.len());
    for group in &collected.groups {
        let mut backlog = collected.base_backlog.get(group).copied().unwrap_or(0);
        for bucket in &buckets {
            let key = (bucket.key, group.clone());
            backlog += collected.backlog_change.get(&key).copied().unwrap_or(0);
            let mut values = collected.values.remove(&key).unwrap_or_default();
            values.backlog = backlog;
            points.push(KpiPoint { starts: bucket.starts, ends: bucket.ends, group: group.clone(), values });
        }
    }
    points
}
