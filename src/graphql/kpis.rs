//! KPIs for supervisors and BI dashboards: summaries with the previous period, time series,
//! technician performance, recurring issues.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::staff::{CustomerNode, TechnicianNode};
use super::{caller, cost, db, loaders::Loaders, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::kpi::{self, CategoryTrend, KpiMetric, MetricChange, metric_value};
use crate::domain::limits::{self, PERIOD_MAX_DAYS};
use crate::domain::{Direction, InteractionChannel, Priority, TicketChannel};
use crate::error::AppError;
use crate::store;
use crate::store::kpis::{Bucket, DurationStats, Grouping, KpiFilter, KpiPoint, KpiQuery, KpiValues, SlaClockValues};

/// The most buckets one series may hold.
const MAX_BUCKETS: i64 = 1_000;
/// The most points (buckets times groups) one series may answer.
pub const MAX_SERIES_POINTS: usize = 25_000;

/// A period `[from, to)`.
#[derive(InputObject, Clone, Copy)]
pub struct PeriodInput {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl PeriodInput {
    pub(super) fn checked(self) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
        if self.to <= self.from {
            return Err(AppError::bad_input("period.to", "must be after period.from"));
        }
        if (self.to - self.from).num_days() > PERIOD_MAX_DAYS {
            return Err(AppError::bad_input("period", format!("may span at most {PERIOD_MAX_DAYS} days")));
        }
        limits::period_in_range("period", self.from, self.to)?;
        Ok((self.from, self.to))
    }

    /// The period of the same length just before this one.
    fn previous(from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (from - (to - from), from)
    }
}

/// Optional filters; lists match any of their values.
#[derive(InputObject, Default, Clone, serde::Serialize)]
pub struct KpiFilterInput {
    /// Tickets currently assigned to (interactions logged by) these technicians.
    pub technician_ids: Option<Vec<ID>>,
    pub teams: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    pub priorities: Option<Vec<Priority>>,
    pub channels: Option<Vec<TicketChannel>>,
}

impl KpiFilterInput {
    pub(super) fn into_store(self) -> Result<KpiFilter, AppError> {
        Ok(KpiFilter {
            technician_ids: self
                .technician_ids
                .unwrap_or_default()
                .iter()
                .map(|id| parse_id("filter.technicianIds", id))
                .collect::<Result<_, _>>()?,
            teams: self.teams.unwrap_or_default(),
            categories: self.categories.unwrap_or_default(),
            priorities: self.priorities.unwrap_or_default().iter().map(|p| p.as_str().to_owned()).collect(),
            channels: self.channels.unwrap_or_default().iter().map(|c| c.as_str().to_owned()).collect(),
        })
    }
}

/// How many buckets a series over `[from, to)` holds at most (a clipped bucket at each end).
fn bucket_count(from: DateTime<Utc>, to: DateTime<Utc>, bucket: KpiBucket) -> i64 {
    let days = (to - from).num_days() + 1;
    match bucket {
        KpiBucket::Day => days,
        KpiBucket::Week => days / 7 + 2,
        KpiBucket::Month => days / 28 + 2,
    }
}

/// The points a series returns, for its cost: its buckets, bounded as the resolver bounds them.
fn series_length(period: PeriodInput, bucket: KpiBucket) -> usize {
    usize::try_from(bucket_count(period.from, period.to, bucket).clamp(1, MAX_BUCKETS)).unwrap_or(1)
}

/// A valid IANA time zone name.
pub(super) fn checked_time_zone(time_zone: &str) -> Result<chrono_tz::Tz, AppError> {
    time_zone
        .parse::<chrono_tz::Tz>()
        .map_err(|_| AppError::bad_input("timeZone", format!("{} is not an IANA time zone", limits::quoted(time_zone))))
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum KpiBucket {
    Day,
    /// ISO weeks, Monday 00:00 local time.
    Week,
    /// Calendar months, the 1st 00:00 local time.
    Month,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum KpiGroupBy {
    #[default]
    None,
    /// The ticket's current assignee (interactions: who logged them); unassigned is its own group.
    Technician,
    Team,
    Category,
    Priority,
    Channel,
}

impl From<KpiGroupBy> for Grouping {
    fn from(group: KpiGroupBy) -> Grouping {
        match group {
            KpiGroupBy::None => Grouping::None,
            KpiGroupBy::Technician => Grouping::Technician,
            KpiGroupBy::Team => Grouping::Team,
            KpiGroupBy::Category => Grouping::Category,
            KpiGroupBy::Priority => Grouping::Priority,
            KpiGroupBy::Channel => Grouping::Channel,
        }
    }
}

/// Durations in seconds; null when there is no data.
#[derive(SimpleObject)]
#[graphql(name = "DurationStats")]
pub struct DurationStatsNode {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

impl From<DurationStats> for DurationStatsNode {
    fn from(stats: DurationStats) -> Self {
        DurationStatsNode { mean: stats.mean, median: stats.median, p90: stats.p90 }
    }
}

#[derive(SimpleObject)]
pub struct InteractionCount {
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub count: i64,
    pub duration_seconds: i64,
}

/// Interactions by channel and direction (entries that a later one corrects are not counted).
#[derive(SimpleObject)]
pub struct InteractionTotals {
    pub count: i64,
    pub duration_seconds: i64,
    pub by_channel_and_direction: Vec<InteractionCount>,
}

/// One SLA clock over tickets that carry an SLA (docs/kpis.md, "SLA"). The first-response
/// clock stops at the first response, the resolution clock at the ticket's latest resolution;
/// business time counts in the calendar the ticket's policy was applied with.
#[derive(SimpleObject)]
#[graphql(name = "SlaClockKpis")]
pub struct SlaClockNode {
    /// Clocks that stopped in the period.
    pub stopped: i64,
    /// Of those, the ones that stopped within their target.
    pub met: i64,
    /// met / stopped; null when none stopped.
    pub attainment: Option<f64>,
    /// Clocks that ran past their target in the period (the breach instant is in it, and past).
    pub breaches: i64,
    /// Mean business time the stopped clocks had run, in seconds; null when none stopped.
    pub business_seconds_mean: Option<f64>,
}

impl From<SlaClockValues> for SlaClockNode {
    fn from(values: SlaClockValues) -> Self {
        SlaClockNode {
            stopped: values.stopped,
            met: values.met,
            attainment: values.attainment(),
            breaches: values.breaches,
            business_seconds_mean: values.business_seconds_mean,
        }
    }
}

/// Every KPI of PRODUCT.md for one period (or bucket, or group).
pub struct KpiValuesNode(pub KpiValues);

#[Object(name = "KpiValues")]
impl KpiValuesNode {
    /// Tickets whose openedAt is in the period.
    async fn tickets_opened(&self) -> i64 {
        self.0.tickets_opened
    }
    /// Tickets whose latest resolution is in the period.
    async fn tickets_resolved(&self) -> i64 {
        self.0.tickets_resolved
    }
    async fn tickets_closed(&self) -> i64 {
        self.0.tickets_closed
    }
    /// At the period's end: tickets opened before it that were OPEN or IN_PROGRESS then.
    async fn backlog(&self) -> i64 {
        self.0.backlog
    }
    /// Over tickets opened in the period that have a first response.
    async fn first_response_seconds(&self) -> DurationStatsNode {
        self.0.first_response.into()
    }
    /// Tickets opened in the period with no first response yet.
    async fn awaiting_first_response(&self) -> i64 {
        self.0.awaiting_first_response
    }
    /// Over tickets resolved in the period: resolvedAt - openedAt.
    async fn resolution_seconds(&self) -> DurationStatsNode {
        self.0.resolution.into()
    }
    /// Over tickets first resolved in the period: firstResolvedAt - openedAt.
    async fn first_resolution_seconds(&self) -> DurationStatsNode {
        self.0.first_resolution.into()
    }
    /// Of tickets opened in the period, the share now RESOLVED or CLOSED.
    async fn resolution_rate(&self) -> Option<f64> {
        self.0.resolution_rate()
    }
    /// Of tickets resolved in the period, the share ever reopened.
    async fn reopen_rate(&self) -> Option<f64> {
        self.0.reopen_rate()
    }
    /// Mean of the current ratings submitted in the period.
    async fn csat_average(&self) -> Option<f64> {
        self.0.csat_average
    }
    async fn csat_count(&self) -> i64 {
        self.0.csat_count
    }
    /// Share of those ratings that are 4 or 5.
    async fn csat_satisfied_share(&self) -> Option<f64> {
        self.0.csat_satisfied_share()
    }
    async fn interactions(&self) -> InteractionTotals {
        let by = &self.0.interactions;
        InteractionTotals {
            count: by.iter().map(|i| i.count).sum(),
            duration_seconds: by.iter().map(|i| i.duration_seconds).sum(),
            by_channel_and_direction: by
                .iter()
                .map(|i| InteractionCount {
                    channel: i.channel,
                    direction: i.direction,
                    count: i.count,
                    duration_seconds: i.duration_seconds,
                })
                .collect(),
        }
    }
    /// First-response SLA: clocks stopped by a first response in the period.
    async fn sla_first_response(&self) -> SlaClockNode {
        self.0.sla_first_response.into()
    }
    /// Resolution SLA: clocks stopped by a resolution in the period.
    async fn sla_resolution(&self) -> SlaClockNode {
        self.0.sla_resolution.into()
    }
    /// The listed metrics as (metric, value) pairs: a long format for BI tools.
    async fn metrics(&self, metrics: Option<Vec<KpiMetric>>) -> Vec<KpiMetricValue> {
        let metrics = metrics.unwrap_or_else(|| KpiMetric::ALL.to_vec());
        metrics.into_iter().map(|metric| KpiMetricValue { metric, value: metric_value(&self.0, metric) }).collect()
    }
}

#[derive(SimpleObject)]
pub struct KpiMetricValue {
    pub metric: KpiMetric,
    pub value: Option<f64>,
}

/// A period's KPIs beside the previous period's.
#[derive(SimpleObject)]
pub struct KpiSummary {
    /// The data's freshness: the answer holds every change committed before this instant (the
    /// read's start on the primary; on a read replica, what its replay position proves).
    pub data_as_of: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    pub current: KpiValuesNode,
    pub previous_from: DateTime<Utc>,
    pub previous_to: DateTime<Utc>,
    pub previous: KpiValuesNode,
    /// Every metric's change against the previous period.
    pub changes: Vec<MetricChange>,
}

/// One point of a series.
pub struct KpiSeriesPoint {
    point: KpiPoint,
    grouping: KpiGroupBy,
    data_as_of: DateTime<Utc>,
}

#[Object]
impl KpiSeriesPoint {
    /// The data's freshness (the same for every point of a series): see `KpiSummary.dataAsOf`.
    async fn data_as_of(&self) -> DateTime<Utc> {
        self.data_as_of
    }
    /// The bucket's start (the period's start for a clipped first bucket).
    async fn starts(&self) -> DateTime<Utc> {
        self.point.starts
    }
    /// The bucket's end (the period's end for a clipped last bucket).
    async fn ends(&self) -> DateTime<Utc> {
        self.point.ends
    }
    /// The group: technician id, team, category, priority or channel; null for "no group" and
    /// for unassigned tickets.
    async fn group(&self) -> Option<&str> {
        self.point.group.as_deref()
    }
    /// The technician, when grouped by technician.
    async fn technician(&self, ctx: &Context<'_>) -> Result<Option<TechnicianNode>, AppError> {
        match (self.grouping, self.point.group.as_deref().and_then(|g| g.parse::<i64>().ok())) {
            (KpiGroupBy::Technician, Some(id)) => {
                Ok(ctx.data_unchecked::<Loaders>().technicians.load_one(id).await?.map(TechnicianNode))
            }
            _ => Ok(None),
        }
    }
    async fn values(&self) -> KpiValuesNode {
        KpiValuesNode(self.point.values.clone())
    }
}

/// One technician's numbers for a period.
pub struct PerformanceNode {
    technician_id: Option<i64>,
    values: KpiValues,
    data_as_of: DateTime<Utc>,
}

#[Object(name = "TechnicianPerformance")]
impl PerformanceNode {
    /// The data's freshness: see `KpiSummary.dataAsOf`.
    async fn data_as_of(&self) -> DateTime<Utc> {
        self.data_as_of
    }
    /// Null for the unassigned tickets' row.
    async fn technician(&self, ctx: &Context<'_>) -> Result<Option<TechnicianNode>, AppError> {
        match self.technician_id {
            Some(id) => Ok(ctx.data_unchecked::<Loaders>().technicians.load_one(id).await?.map(TechnicianNode)),
            None => Ok(None),
        }
    }
    /// Tickets opened in the period and assigned to the technician now.
    async fn tickets_assigned(&self) -> i64 {
        self.values.tickets_opened
    }
    async fn tickets_resolved(&self) -> i64 {
        self.values.tickets_resolved
    }
    async fn resolution_rate(&self) -> Option<f64> {
        self.values.resolution_rate()
    }
    async fn first_response_seconds(&self) -> DurationStatsNode {
        self.values.first_response.into()
    }
    async fn resolution_seconds(&self) -> DurationStatsNode {
        self.values.resolution.into()
    }
    async fn reopen_rate(&self) -> Option<f64> {
        self.values.reopen_rate()
    }
    async fn csat_average(&self) -> Option<f64> {
        self.values.csat_average
    }
    async fn csat_count(&self) -> i64 {
        self.values.csat_count
    }
    /// First-response SLA of the technician's tickets.
    async fn sla_first_response(&self) -> SlaClockNode {
        self.values.sla_first_response.into()
    }
    /// Resolution SLA of the technician's tickets.
    async fn sla_resolution(&self) -> SlaClockNode {
        self.values.sla_resolution.into()
    }
    /// Every KPI, for the rest.
    async fn values(&self) -> KpiValuesNode {
        KpiValuesNode(self.values.clone())
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaderboardOrder {
    #[default]
    TicketsResolved,
    TicketsAssigned,
    ResolutionRate,
    /// Fastest first.
    FirstResponseMedian,
    /// Fastest first.
    ResolutionMedian,
    CsatAverage,
}

/// A category's trend as `topCategories` and a report's `topCategories` answer it.
pub struct CategoryTrendNode {
    pub trend: CategoryTrend,
    pub data_as_of: DateTime<Utc>,
}

/// A category's ticket count in a period and in the one before.
#[Object(name = "CategoryTrend")]
impl CategoryTrendNode {
    async fn category(&self) -> &str {
        &self.trend.category
    }
    /// Tickets opened in the period.
    async fn tickets(&self) -> i64 {
        self.trend.tickets
    }
    async fn previous_tickets(&self) -> i64 {
        self.trend.previous_tickets
    }
    async fn change(&self) -> i64 {
        self.trend.change
    }
    /// null when the previous period had none.
    async fn relative_change(&self) -> Option<f64> {
        self.trend.relative_change
    }
    /// The data's freshness: see `KpiSummary.dataAsOf`. In a stored report, the moment it was
    /// generated (reports are computed on the primary).
    async fn data_as_of(&self) -> DateTime<Utc> {
        self.data_as_of
    }
}

pub struct CustomerVolume {
    customer_id: i64,
    tickets: i64,
    data_as_of: DateTime<Utc>,
}

#[Object]
impl CustomerVolume {
    /// The data's freshness: see `KpiSummary.dataAsOf`.
    async fn data_as_of(&self) -> DateTime<Utc> {
        self.data_as_of
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<CustomerNode>, AppError> {
        Ok(ctx.data_unchecked::<Loaders>().customers.load_one(self.customer_id).await?.map(CustomerNode))
    }
    /// Tickets opened in the period.
    async fn tickets(&self) -> i64 {
        self.tickets
    }
}

/// Where a KPI computation reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadFrom {
    /// A usable read replica, else the primary: figures shown, not kept.
    Reporting,
    /// The primary: figures that are stored (an improvement action's baseline).
    Primary,
}

async fn compute(
    ctx: &Context<'_>,
    period: (DateTime<Utc>, DateTime<Utc>),
    time_zone: &str,
    bucket: Option<Bucket>,
    grouping: Grouping,
    filter: &KpiFilter,
) -> Result<(Vec<KpiPoint>, DateTime<Utc>), AppError> {
    let (mut each, as_of) =
        compute_each(ctx, vec![period], time_zone, bucket, grouping, filter, ReadFrom::Reporting).await?;
    Ok((each.pop().unwrap_or_default(), as_of))
}

/// The KPIs of each period, all read in one snapshot so that comparisons between them hold, with
/// the instant the data is at least as fresh as.
async fn compute_each(
    ctx: &Context<'_>,
    periods: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    time_zone: &str,
    bucket: Option<Bucket>,
    grouping: Grouping,
    filter: &KpiFilter,
    read_from: ReadFrom,
) -> Result<(Vec<Vec<KpiPoint>>, DateTime<Utc>), AppError> {
    let (time_zone, filter) = (time_zone.to_owned(), filter.clone());
    let work = move |conn: &mut diesel::PgConnection| {
        store::kpis::in_snapshot(conn, |conn| {
            let queries: Vec<KpiQuery<'_>> = periods
                .iter()
                .map(|&(from, to)| KpiQuery {
                    from,
                    to,
                    time_zone: &time_zone,
                    bucket,
                    grouping,
                    filter: &filter,
                    count_customers: false,
                })
                .collect();
            Ok(store::kpis::compute_many(conn, &queries)?.into_iter().map(|result| result.points).collect())
        })
    };
    let db = db(ctx)?;
    match read_from {
        ReadFrom::Reporting => db.run_reporting(work).await,
        ReadFrom::Primary => {
            let as_of = Utc::now();
            Ok((db.run(work).await?, as_of))
        }
    }
}

/// A period's KPIs and those of the period of the same length before it, read together.
async fn with_previous(
    ctx: &Context<'_>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    grouping: Grouping,
    filter: &KpiFilter,
) -> Result<(Vec<KpiPoint>, Vec<KpiPoint>, DateTime<Utc>), AppError> {
    let periods = vec![(from, to), PeriodInput::previous(from, to)];
    let (each, as_of) = compute_each(ctx, periods, "UTC", None, grouping, filter, ReadFrom::Reporting).await?;
    let mut each = each.into_iter();
    Ok((each.next().unwrap_or_default(), each.next().unwrap_or_default(), as_of))
}

fn single(points: Vec<KpiPoint>) -> KpiValues {
    points.into_iter().next().map(|point| point.values).unwrap_or_default()
}

/// Every KPI of one period, read where `read_from` says, with the data's freshness.
pub(super) async fn whole_period(
    ctx: &Context<'_>,
    period: (DateTime<Utc>, DateTime<Utc>),
    filter: &KpiFilter,
    read_from: ReadFrom,
) -> Result<(KpiValues, DateTime<Utc>), AppError> {
    let (mut each, as_of) = compute_each(ctx, vec![period], "UTC", None, Grouping::None, filter, read_from).await?;
    Ok((single(each.pop().unwrap_or_default()), as_of))
}

#[derive(Default)]
pub struct KpiQueryRoot;

#[Object]
impl KpiQueryRoot {
    /// Every KPI for a period, beside the previous period of the same length. The time zone is
    /// recorded with the answer (a summary has no buckets). SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::kpi(2, 1, child_complexity)")]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "String::from(\"UTC\")")] time_zone: String,
        filter: Option<KpiFilterInput>,
    ) -> Result<Option<KpiSummary>, AppError> {
        let time_zone = checked_time_zone(&time_zone)?.name().to_owned();
        let (from, to) = period.checked()?;
        let filter = filter.unwrap_or_default().into_store()?;
        let (previous_from, previous_to) = PeriodInput::previous(from, to);
        let (current, previous, data_as_of) = with_previous(ctx, (from, to), Grouping::None, &filter).await?;
        let (current, previous) = (single(current), single(previous));
        let changes = kpi::changes(&current, &previous);
        Ok(Some(KpiSummary {
            data_as_of,
            from,
            to,
            time_zone,
            current: KpiValuesNode(current),
            previous_from,
            previous_to,
            previous: KpiValuesNode(previous),
            changes,
        }))
    }

    /// One point per bucket (and group), buckets aligned to local calendar units in `timeZone`
    /// (also across daylight-saving changes) and clipped to the period; empty buckets are there
    /// with counts 0 and averages null. SUPERVISOR and ADMIN only.
    #[graphql(
        guard = "RoleGuard::new(Role::Supervisor)",
        complexity = "cost::kpi(1, series_length(period, bucket), child_complexity)"
    )]
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "String::from(\"UTC\")")] time_zone: String,
        bucket: KpiBucket,
        #[graphql(default)] group_by: KpiGroupBy,
        filter: Option<KpiFilterInput>,
    ) -> Result<Option<Vec<KpiSeriesPoint>>, AppError> {
        let time_zone = checked_time_zone(&time_zone)?.name().to_owned();
        let (from, to) = period.checked()?;
        if bucket_count(from, to, bucket) > MAX_BUCKETS {
            return Err(AppError::bad_input("bucket", format!("the period holds more than {MAX_BUCKETS} buckets")));
        }
        let filter = filter.unwrap_or_default().into_store()?;
        let store_bucket = match bucket {
            KpiBucket::Day => Bucket::Day,
            KpiBucket::Week => Bucket::Week,
            KpiBucket::Month => Bucket::Month,
        };
        let buckets = usize::try_from(bucket_count(from, to, bucket)).unwrap_or(usize::MAX);
        let too_many = |groups: usize| {
            AppError::bad_input(
                "groupBy",
                format!(
                    "{groups} groups times {buckets} buckets is more than {MAX_SERIES_POINTS} points; \
                     take a coarser bucket, a shorter period or a filter"
                ),
            )
        };
        // The groups of most groupings are known before anything is computed (+1: the null group).
        let known_groups = match group_by {
            KpiGroupBy::None => Some(1),
            KpiGroupBy::Priority => Some(Priority::ALL.len() + 1),
            KpiGroupBy::Channel => Some(TicketChannel::ALL.len() + 1),
            KpiGroupBy::Technician | KpiGroupBy::Team => {
                let people = db(ctx)?.run(|conn| store::technicians::list(conn, false, None)).await?;
                let teams: std::collections::HashSet<&str> = people.iter().map(|t| t.team.as_str()).collect();
                Some(1 + if group_by == KpiGroupBy::Team { teams.len() } else { people.len() })
            }
            KpiGroupBy::Category => None,
        };
        if let Some(groups) = known_groups
            && groups.saturating_mul(buckets) > MAX_SERIES_POINTS
        {
            return Err(too_many(groups));
        }
        let (points, data_as_of) =
            compute(ctx, (from, to), &time_zone, Some(store_bucket), group_by.into(), &filter).await?;
        // Categories are only known from the rows: the answer is bounded once they are counted.
        if points.len() > MAX_SERIES_POINTS {
            return Err(too_many(points.len() / buckets.max(1)));
        }
        Ok(Some(points.into_iter().map(|point| KpiSeriesPoint { point, grouping: group_by, data_as_of }).collect()))
    }

    /// Every technician's numbers for a period, ranked: every technician is listed (the
    /// filter's technicians and teams only, when it names them), with counts 0 and averages null
    /// when they had nothing in the period. `activeOnly` leaves out deactivated technicians
    /// without data in the period; `includeUnassigned` adds a row (technician null) for the
    /// tickets nobody is assigned to. SUPERVISOR and ADMIN only.
    #[graphql(
        guard = "RoleGuard::new(Role::Supervisor)",
        complexity = "cost::kpi(1, cost::UNPAGED_LIST_ESTIMATE, child_complexity)"
    )]
    async fn technician_performance(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default)] order_by: LeaderboardOrder,
        filter: Option<KpiFilterInput>,
        #[graphql(default = false)] active_only: bool,
        #[graphql(default = false)] include_unassigned: bool,
    ) -> Result<Option<Vec<PerformanceNode>>, AppError> {
        let period = period.checked()?;
        let filter = filter.unwrap_or_default().into_store()?;
        // The whole period grouped by current assignee.
        let (points, data_as_of) = compute(ctx, period, "UTC", None, Grouping::Technician, &filter).await?;
        let people = db(ctx)?.run(|conn| store::technicians::list(conn, false, None)).await?;
        let mut by_id: std::collections::HashMap<Option<i64>, KpiValues> =
            points.into_iter().map(|point| (point.group.and_then(|g| g.parse().ok()), point.values)).collect();
        let listed = |technician: &crate::models::Technician| {
            (filter.technician_ids.is_empty() || filter.technician_ids.contains(&technician.id))
                && (filter.teams.is_empty() || filter.teams.contains(&technician.team))
        };
        let mut rows: Vec<PerformanceNode> = people
            .iter()
            .filter(|technician| listed(technician))
            .filter_map(|technician| {
                let values = by_id.remove(&Some(technician.id));
                if active_only && !technician.active && values.is_none() {
                    return None;
                }
                Some(PerformanceNode {
                    technician_id: Some(technician.id),
                    values: values.unwrap_or_default(),
                    data_as_of,
                })
            })
            .collect();
        let key = |row: &PerformanceNode| -> Option<f64> {
            match order_by {
                LeaderboardOrder::TicketsResolved => Some(row.values.tickets_resolved as f64),
                LeaderboardOrder::TicketsAssigned => Some(row.values.tickets_opened as f64),
                LeaderboardOrder::ResolutionRate => row.values.resolution_rate(),
                LeaderboardOrder::FirstResponseMedian => row.values.first_response.median.map(|v| -v),
                LeaderboardOrder::ResolutionMedian => row.values.resolution.median.map(|v| -v),
                LeaderboardOrder::CsatAverage => row.values.csat_average,
            }
        };
        // Best first; rows without data last; ties by technician id.
        rows.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            kb.partial_cmp(&ka).unwrap_or(std::cmp::Ordering::Equal).then(a.technician_id.cmp(&b.technician_id))
        });
        if include_unassigned {
            let values = by_id.remove(&None).unwrap_or_default();
            rows.push(PerformanceNode { technician_id: None, values, data_as_of });
        }
        Ok(Some(rows))
    }

    /// Categories by tickets opened in the period, with the change against the previous period.
    /// SUPERVISOR and ADMIN only.
    #[graphql(
        guard = "RoleGuard::new(Role::Supervisor)",
        complexity = "cost::kpi(2, 0, 0) + cost::limited(limit, 100, child_complexity)"
    )]
    async fn top_categories(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default = 10)] limit: i32,
        filter: Option<KpiFilterInput>,
    ) -> Result<Option<Vec<CategoryTrendNode>>, AppError> {
        let (from, to) = period.checked()?;
        let limit = usize::try_from(limit.clamp(1, 100)).unwrap_or(10);
        let filter = filter.unwrap_or_default().into_store()?;
        let (trends, data_as_of) = category_trends(ctx, (from, to), &filter, limit).await?;
        Ok(Some(trends.into_iter().map(|trend| CategoryTrendNode { trend, data_as_of }).collect()))
    }

    /// The customers with the most tickets opened in the period. SUPERVISOR and ADMIN only.
    #[graphql(
        guard = "RoleGuard::new(Role::Supervisor)",
        complexity = "cost::kpi(1, 0, 0) + cost::limited(limit, 100, child_complexity)"
    )]
    async fn top_customers(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default = 10)] limit: i32,
    ) -> Result<Option<Vec<CustomerVolume>>, AppError> {
        let (from, to) = period.checked()?;
        let limit = usize::try_from(limit.clamp(1, 100)).unwrap_or(10);
        let (rows, data_as_of) = db(ctx)?
            .run_reporting(move |conn| {
                store::kpis::in_snapshot(conn, |conn| store::kpis::top_customers(conn, from, to, limit))
            })
            .await?;
        Ok(Some(
            rows.into_iter()
                .map(|(customer_id, tickets)| CustomerVolume { customer_id, tickets, data_as_of })
                .collect(),
        ))
    }
}

/// The `limit` categories with the most tickets opened in the period, with the data's freshness.
async fn category_trends(
    ctx: &Context<'_>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    filter: &KpiFilter,
    limit: usize,
) -> Result<(Vec<CategoryTrend>, DateTime<Utc>), AppError> {
    let (current, previous, as_of) = with_previous(ctx, (from, to), Grouping::Category, filter).await?;
    let previous = store::kpis::tickets_opened_by_group(previous);
    Ok((kpi::category_trends(store::kpis::tickets_opened_by_group(current), &previous, limit), as_of))
}

/// `Technician.performance`: supervisors read anyone's, a technician only their own.
pub async fn performance_of(
    ctx: &Context<'_>,
    technician_id: i64,
    period: PeriodInput,
) -> Result<Option<PerformanceNode>, AppError> {
    let caller = caller(ctx)?;
    if !caller.has_role(Role::Supervisor) && caller.technician_id != Some(technician_id) {
        return Err(AppError::Forbidden("a technician reads only their own performance".into()));
    }
    let period = period.checked()?;
    let filter = KpiFilter { technician_ids: vec![technician_id], ..KpiFilter::default() };
    let (values, data_as_of) = whole_period(ctx, period, &filter, ReadFrom::Reporting).await?;
    Ok(Some(PerformanceNode { technician_id: Some(technician_id), values, data_as_of }))
}
