//! Performance reports: computing a period's snapshot and storing it as a new version.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::kpis::{self, Grouping, KpiFilter, KpiPoint, KpiQuery, KpiValues, top_of};
use super::{customers, technicians};
use crate::domain::kpi::{category_trends, changes};
use crate::domain::report::{
    CustomerRow, ReportKind, ReportPeriod, ReportSnapshot, ReportTrigger, SNAPSHOT_FORMAT, TechnicianRow,
};
use crate::error::AppError;
use crate::models::{NewPerformanceReport, PerformanceReport};
use crate::schema::performance_reports;

/// How many categories and customers a report lists.
pub const TOP_LIMIT: usize = 10;

/// Computes everything a report holds, in one consistent read of the database.
pub fn build_snapshot(conn: &mut PgConnection, period: &ReportPeriod) -> Result<ReportSnapshot, AppError> {
    kpis::in_snapshot(conn, |conn| {
        let no_filter = KpiFilter::default();
        let whole = |from, to, grouping| KpiQuery {
            count_customers: from == period.start && grouping == Grouping::None,
            ..KpiQuery::whole(from, to, grouping, &no_filter)
        };
        // Every figure of the report from one read of the rows.
        let mut results = kpis::compute_many(
            conn,
            &[
                whole(period.start, period.end, Grouping::None),
                whole(period.previous_start, period.start, Grouping::None),
                whole(period.start, period.end, Grouping::Technician),
                whole(period.start, period.end, Grouping::Category),
                whole(period.previous_start, period.start, Grouping::Category),
            ],
        )?
        .into_iter();
        let mut next = || results.next().ok_or_else(|| AppError::Internal("a KPI frame is missing".into()));
        let (current_result, previous_result) = (next()?, next()?);
        let customer_counts = top_of(&current_result.opened_by_customer, TOP_LIMIT);
        let single = |points: Vec<KpiPoint>| points.into_iter().next().map(|point| point.values).unwrap_or_default();
        let current = single(current_result.points);
        let previous = single(previous_result.points);
        let by_technician = next()?.points;
        let categories_now = kpis::tickets_opened_by_group(next()?.points);
        let categories_before = kpis::tickets_opened_by_group(next()?.points);

        Ok(ReportSnapshot {
            format: SNAPSHOT_FORMAT,
            previous_start: period.previous_start,
            previous_end: period.start,
            changes: changes(&current, &previous),
            current,
            previous,
            technicians: technician_rows(conn, by_technician)?,
            top_categories: category_trends(categories_now, &categories_before, TOP_LIMIT),
            top_customers: customer_rows(conn, customer_counts)?,
        })
    })
}

/// Every active technician (with empty figures when they had no tickets), everyone else who
/// had tickets, by name, then the unassigned tickets.
fn technician_rows(conn: &mut PgConnection, points: Vec<KpiPoint>) -> Result<Vec<TechnicianRow>, AppError> {
    let mut values: HashMap<Option<i64>, KpiValues> =
        points.into_iter().map(|point| (point.group.and_then(|g| g.parse().ok()), point.values)).collect();
    let mut people = technicians::list(conn, true, None)?;
    let inactive: Vec<i64> =
        values.keys().flatten().copied().filter(|id| !people.iter().any(|t| t.id == *id)).collect();
    people.extend(technicians::by_ids(conn, &inactive)?.into_values());
    people.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut rows: Vec<TechnicianRow> = people
        .into_iter()
        .map(|technician| TechnicianRow {
            values: values.remove(&Some(technician.id)).unwrap_or_default(),
            technician_id: Some(technician.id),
            name: Some(technician.name),
            team: Some(technician.team),
        })
        .collect();
    if let Some(unassigned) = values.remove(&None) {
        rows.push(TechnicianRow { technician_id: None, name: None, team: None, values: unassigned });
    }
    Ok(rows)
}

fn customer_rows(conn: &mut PgConnection, counts: Vec<(i64, i64)>) -> Result<Vec<CustomerRow>, AppError> {
    let ids: Vec<i64> = counts.iter().map(|(id, _)| *id).collect();
    let mut found = customers::by_ids(conn, &ids)?;
    Ok(counts
        .into_iter()
        .filter_map(|(customer_id, tickets)| {
            let customer = found.remove(&customer_id)?;
            Some(CustomerRow { customer_id, name: customer.name, organization: customer.organization, tickets })
        })
        .collect())
}

/// Generates the report of `period` and stores it as the period's next version.
pub fn generate_on_demand(
    conn: &mut PgConnection,
    period: &ReportPeriod,
    generated_by: &str,
) -> Result<PerformanceReport, AppError> {
    let stored = store(conn, period, ReportTrigger::OnDemand, generated_by)?;
    stored.ok_or_else(|| AppError::internal("an on-demand report was not stored"))
}

/// Generates the SCHEDULED report of `period` unless it exists: once per period, however many
/// schedulers race for it (the later ones get `None`).
pub fn generate_scheduled(
    conn: &mut PgConnection,
    period: &ReportPeriod,
    generated_by: &str,
) -> Result<Option<PerformanceReport>, AppError> {
    if scheduled_exists(conn, period)? {
        return Ok(None);
    }
    store(conn, period, ReportTrigger::Scheduled, generated_by)
}

fn store(
    conn: &mut PgConnection,
    period: &ReportPeriod,
    trigger: ReportTrigger,
    generated_by: &str,
) -> Result<Option<PerformanceReport>, AppError> {
    if period.start > Utc::now() {
        return Err(AppError::bad_input("periodStart", "the period has not started yet"));
    }
    let snapshot = build_snapshot(conn, period)?;
    let snapshot = serde_json::to_value(&snapshot).map_err(|err| AppError::internal(err.to_string()))?;
    let time_zone = period.time_zone.name();
    conn.transaction(|conn| {
        // One writer per period at a time, so versions are consecutive and the scheduled check
        // cannot race with another instance's insert.
        let lock_key = format!("performance_report:{}:{}:{time_zone}", period.kind, period.start.to_rfc3339());
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(lock_key)
            .execute(conn)?;
        if trigger == ReportTrigger::Scheduled && scheduled_exists(conn, period)? {
            return Ok(None);
        }
        let latest: Option<i32> = performance_reports::table
            .filter(same_period(period.kind, period.start, time_zone))
            .select(diesel::dsl::max(performance_reports::version))
            .first(conn)?;
        let report = diesel::insert_into(performance_reports::table)
            .values(NewPerformanceReport {
                kind: period.kind,
                period_start: period.start,
                period_end: period.end,
                time_zone: time_zone.to_owned(),
                version: latest.unwrap_or(0) + 1,
                generated_at: Utc::now(),
                generated_by: generated_by.to_owned(),
                trigger,
                snapshot,
            })
            .returning(PerformanceReport::as_returning())
            .get_result(conn)?;
        Ok(Some(report))
    })
}

/// A stored report's snapshot, read back.
pub fn snapshot_of(report: &PerformanceReport) -> Result<ReportSnapshot, AppError> {
    serde_json::from_value(report.snapshot.clone())
        .map_err(|err| AppError::internal(format!("report {} has an unreadable snapshot: {err}", report.id)))
}

type SamePeriod = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::Eq<performance_reports::kind, ReportKind>,
        diesel::dsl::Eq<performance_reports::period_start, DateTime<Utc>>,
    >,
    diesel::dsl::Eq<performance_reports::time_zone, String>,
>;

fn same_period(kind: ReportKind, start: DateTime<Utc>, time_zone: &str) -> SamePeriod {
    performance_reports::kind
        .eq(kind)
        .and(performance_reports::period_start.eq(start))
        .and(performance_reports::time_zone.eq(time_zone.to_owned()))
}

fn scheduled_exists(conn: &mut PgConnection, period: &ReportPeriod) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        performance_reports::table
            .filter(same_period(period.kind, period.start, period.time_zone.name()))
            .filter(performance_reports::trigger.eq(ReportTrigger::Scheduled)),
    ))
    .get_result(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<PerformanceReport, AppError> {
    performance_reports::table
        .find(id)
        .select(PerformanceReport::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("report {id}")))
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, PerformanceReport>, AppError> {
    Ok(performance_reports::table
        .filter(performance_reports::id.eq_any(ids))
        .select(PerformanceReport::as_select())
        .load(conn)?
        .into_iter()
        .map(|report| (report.id, report))
        .collect())
}

/// Which reports a list holds; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub kind: Option<ReportKind>,
    pub time_zone: Option<String>,
    pub trigger: Option<ReportTrigger>,
    /// Reports whose period starts in `[from, to)`.
    pub starts_from: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
}

fn filtered(filter: &ReportFilter) -> performance_reports::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = performance_reports::table.into_boxed();
    if let Some(kind) = filter.kind {
        query = query.filter(performance_reports::kind.eq(kind));
    }
    if let Some(time_zone) = &filter.time_zone {
        query = query.filter(performance_reports::time_zone.eq(time_zone.clone()));
    }
    if let Some(trigger) = filter.trigger {
        query = query.filter(performance_reports::trigger.eq(trigger));
    }
    if let Some(from) = filter.starts_from {
        query = query.filter(performance_reports::period_start.ge(from));
    }
    if let Some(before) = filter.starts_before {
        query = query.filter(performance_reports::period_start.lt(before));
    }
    query
}

/// Reports, the latest period first (and within a period the latest version first), after the
/// keyset position `after` (`period_start`, `id`).
pub fn list(
    conn: &mut PgConnection,
    filter: &ReportFilter,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<PerformanceReport>, AppError> {
    let mut query = filtered(filter);
    if let Some((start, id)) = after {
        query = query.filter(
            performance_reports::period_start
                .lt(start)
                .or(performance_reports::period_start.eq(start).and(performance_reports::id.lt(id))),
        );
    }
    Ok(query
        .order((performance_reports::period_start.desc(), performance_reports::id.desc()))
        .limit(limit)
        .select(PerformanceReport::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut PgConnection, filter: &ReportFilter) -> Result<i64, AppError> {
    Ok(filtered(filter).count().get_result(conn)?)
}
