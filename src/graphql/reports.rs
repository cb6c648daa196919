//! Stored weekly and monthly performance reports: generating them and reading them back.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::kpis::{CategoryTrendNode, KpiValuesNode, checked_time_zone};
use super::pagination::{ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::{caller, cost, db, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::kpi::MetricChange;
use crate::domain::limits;
use crate::domain::report::{ReportKind, ReportPeriod, ReportSnapshot, ReportTrigger};
use crate::error::AppError;
use crate::models::PerformanceReport;
use crate::store;
use crate::store::reports::ReportFilter;

/// A generated report: the KPI snapshot of one week or month, never changed after generation.
pub struct ReportNode {
    report: PerformanceReport,
    snapshot: ReportSnapshot,
}

impl ReportNode {
    pub fn new(report: PerformanceReport) -> Result<ReportNode, AppError> {
        let snapshot = store::reports::snapshot_of(&report)?;
        Ok(ReportNode { report, snapshot })
    }
}

#[Object(name = "PerformanceReport")]
impl ReportNode {
    async fn id(&self) -> ID {
        ID::from(self.report.id)
    }
    async fn kind(&self) -> ReportKind {
        self.report.kind
    }
    /// The period's first instant: local 00:00 of its first day in `timeZone`.
    async fn period_start(&self) -> DateTime<Utc> {
        self.report.period_start
    }
    /// The instant after the period (exclusive).
    async fn period_end(&self) -> DateTime<Utc> {
        self.report.period_end
    }
    async fn time_zone(&self) -> &str {
        &self.report.time_zone
    }
    /// 1 for the period's first report, then one more for each regeneration.
    async fn version(&self) -> i32 {
        self.report.version
    }
    async fn generated_at(&self) -> DateTime<Utc> {
        self.report.generated_at
    }
    /// False when it was generated before the period ended: its figures cover part of it.
    async fn complete(&self) -> bool {
        self.report.generated_at >= self.report.period_end
    }
    /// The token subject that asked for it, or `scheduler` / the CLI's actor.
    async fn generated_by(&self) -> &str {
        &self.report.generated_by
    }
    async fn trigger(&self) -> ReportTrigger {
        self.report.trigger
    }
    /// Every KPI of the period, as `kpis` gave it at generation time.
    async fn current(&self) -> KpiValuesNode {
        KpiValuesNode(self.snapshot.current.clone())
    }
    /// The calendar unit before: the previous week, or the previous month.
    async fn previous_start(&self) -> DateTime<Utc> {
        self.snapshot.previous_start
    }
    async fn previous_end(&self) -> DateTime<Utc> {
        self.snapshot.previous_end
    }
    async fn previous(&self) -> KpiValuesNode {
        KpiValuesNode(self.snapshot.previous.clone())
    }
    /// Every metric's change against the previous period.
    async fn changes(&self) -> &[MetricChange] {
        &self.snapshot.changes
    }
    /// One row per technician (names and teams as they were), then the unassigned tickets.
    async fn technicians(&self) -> Vec<ReportTechnicianRow> {
        self.snapshot
            .technicians
            .iter()
            .map(|row| ReportTechnicianRow {
                technician_id: row.technician_id.map(ID::from),
                name: row.name.clone(),
                team: row.team.clone(),
                values: KpiValuesNode(row.values.clone()),
            })
            .collect()
    }
    /// Categories by tickets opened in the period, with their change.
    async fn top_categories(&self) -> Vec<CategoryTrendNode> {
        let data_as_of = self.report.generated_at;
        self.snapshot
            .top_categories
            .iter()
            .map(|trend| CategoryTrendNode { trend: trend.clone(), data_as_of })
            .collect()
    }
    /// The customers with the most tickets opened in the period.
    async fn top_customers(&self) -> Vec<ReportCustomerRow> {
        self.snapshot
            .top_customers
            .iter()
            .map(|row| ReportCustomerRow {
                customer_id: ID::from(row.customer_id),
                name: row.name.clone(),
                organization: row.organization.clone(),
                tickets: row.tickets,
            })
            .collect()
    }
    /// Where to download this report as CSV (GET, with the same bearer token).
    async fn csv_url(&self) -> String {
        format!("/export/reports/{}.csv", self.report.id)
    }
    /// Where to download this report as JSON.
    async fn json_url(&self) -> String {
        format!("/export/reports/{}.json", self.report.id)
    }
}

#[derive(SimpleObject)]
pub struct ReportTechnicianRow {
    /// Null for the unassigned tickets' row.
    pub technician_id: Option<ID>,
    pub name: Option<String>,
    pub team: Option<String>,
    pub values: KpiValuesNode,
}

#[derive(SimpleObject)]
pub struct ReportCustomerRow {
    pub customer_id: ID,
    pub name: String,
    pub organization: Option<String>,
    /// Tickets opened in the period.
    pub tickets: i64,
}

#[derive(InputObject, Default)]
pub struct ReportFilterInput {
    pub kind: Option<ReportKind>,
    pub time_zone: Option<String>,
    pub trigger: Option<ReportTrigger>,
    /// Reports whose period starts at or after this instant.
    pub starts_from: Option<DateTime<Utc>>,
    /// Reports whose period starts before this instant.
    pub starts_before: Option<DateTime<Utc>>,
}

pub type ReportConnection = Connection<ListCursor<(DateTime<Utc>, i64)>, ReportNode, TotalCount>;

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// Stored reports, the latest period first (within a period, the latest version first).
    /// SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::page(first, child_complexity)")]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReportFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<ReportConnection>, AppError> {
        let filter = filter.unwrap_or_default();
        let filter = ReportFilter {
            kind: filter.kind,
            time_zone: filter.time_zone.as_deref().map(checked_time_zone).transpose()?.map(|tz| tz.name().to_owned()),
            trigger: filter.trigger,
            starts_from: filter.starts_from,
            starts_before: filter.starts_before,
        };
        let limit = limits::page_size("first", first, 20)?;
        let after = decode_cursor::<(DateTime<Utc>, i64)>("after", after.as_deref())?;
        let page_filter = filter.clone();
        let (mut rows, _) =
            db(ctx)?.run_reporting(move |conn| store::reports::list(conn, &page_filter, after, limit + 1)).await?;
        let has_next = trim_page(&mut rows, limit);
        let total = TotalCount::reporting(move |conn| store::reports::count(conn, &filter));
        let mut connection = Connection::with_additional_fields(after.is_some(), has_next, total);
        for report in rows {
            let cursor = cursor_at((report.period_start, report.id));
            connection.edges.push(Edge::new(cursor, ReportNode::new(report)?));
        }
        Ok(Some(connection))
    }

    /// One stored report. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)")]
    async fn report(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ReportNode>, AppError> {
        let id = parse_id("id", &id)?;
        let found = db(ctx)?.run(move |conn| Ok(store::reports::by_ids(conn, &[id])?.remove(&id))).await?;
        found.map(ReportNode::new).transpose()
    }
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// Computes the report of the week (starting on a Monday) or month (starting on the 1st)
    /// that starts on `periodStart` in `timeZone`, and stores it. Generating a period again
    /// stores a new version beside the old ones. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::kpi(5, 1, child_complexity)")]
    async fn generate_report(
        &self,
        ctx: &Context<'_>,
        kind: ReportKind,
        #[graphql(desc = "The local date the period starts on: a Monday for WEEK, the 1st for MONTH.")]
        period_start: NaiveDate,
        #[graphql(default_with = "String::from(\"UTC\")")] time_zone: String,
    ) -> Result<ReportNode, AppError> {
        let time_zone = checked_time_zone(&time_zone)?;
        let period = ReportPeriod::starting(kind, period_start, time_zone)
            .map_err(|message| AppError::bad_input("periodStart", message))?;
        let actor = caller(ctx)?.subject.clone();
        let report = db(ctx)?.run(move |conn| store::reports::generate_on_demand(conn, &period, &actor)).await?;
        ReportNode::new(report)
    }
}
