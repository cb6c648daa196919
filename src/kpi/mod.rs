//! The KPI engine: PRODUCT.md's definitions computed in Rust in one pass over narrow fact rows.
//!
//! `store::kpis` reads the fact rows of a period (one packed row per ticket, kept by database
//! triggers in the transaction of every change: migration 2026-12-01-000010) and hands them,
//! decoded by [`facts`], to an [`engine::Engine`], which places every record by its instant into
//! the buckets of [`calendar`] and accumulates counts, sums and the duration values whose exact
//! (`percentile_cont`) medians and 90th percentiles it takes by selection at the end.

pub mod business;
pub mod calendar;
pub mod durations;
pub mod engine;
pub mod facts;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Direction, InteractionChannel};

/// Calendar units a series is cut into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
    Month,
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
    /// The SLA clocks of the tickets that carry an SLA (docs/kpis.md, "SLA").
    pub sla_first_response: SlaClockValues,
    pub sla_resolution: SlaClockValues,
}

/// One SLA clock's figures in a bucket: the first-response clock stops at the first response,
/// the resolution clock at the ticket's (latest) resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlaClockValues {
    /// Clocks that stopped in the bucket.
    pub stopped: i64,
    /// Of those, the ones that stopped within their target.
    pub met: i64,
    /// Mean business time the stopped clocks had run, in seconds; null without any.
    pub business_seconds_mean: Option<f64>,
    /// Clocks that ran past their target in the bucket (their breach instant is in it).
    pub breaches: i64,
}

impl SlaClockValues {
    /// The share of stopped clocks that met their target; null when none stopped.
    pub fn attainment(&self) -> Option<f64> {
        share(self.met, self.stopped)
    }
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
    /// Whether to count the tickets opened per customer (top customers), which costs a lookup
    /// per ticket.
    pub count_customers: bool,
}

impl<'a> KpiQuery<'a> {
    /// The whole of `[from, to)` as one bucket in UTC, grouped by `grouping`.
    pub fn whole(from: DateTime<Utc>, to: DateTime<Utc>, grouping: Grouping, filter: &'a KpiFilter) -> KpiQuery<'a> {
        KpiQuery { from, to, time_zone: "UTC", bucket: None, grouping, filter, count_customers: false }
    }
}
