//! The KPI metrics by name, as improvement actions and change lists refer to them.

use crate::store::kpis::KpiValues;

/// Every KPI as one number (means for durations are listed with their median and p90).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KpiMetric {
    TicketsOpened,
    TicketsResolved,
    TicketsClosed,
    Backlog,
    FirstResponseSecondsMean,
    FirstResponseSecondsMedian,
    FirstResponseSecondsP90,
    AwaitingFirstResponse,
    ResolutionSecondsMean,
    ResolutionSecondsMedian,
    ResolutionSecondsP90,
    FirstResolutionSecondsMean,
    FirstResolutionSecondsMedian,
    FirstResolutionSecondsP90,
    ResolutionRate,
    ReopenRate,
    CsatAverage,
    CsatCount,
    CsatSatisfiedShare,
    Interactions,
}

impl KpiMetric {
    pub const ALL: &'static [KpiMetric] = &[
        KpiMetric::TicketsOpened,
        KpiMetric::TicketsResolved,
        KpiMetric::TicketsClosed,
        KpiMetric::Backlog,
        KpiMetric::FirstResponseSecondsMean,
        KpiMetric::FirstResponseSecondsMedian,
        KpiMetric::FirstResponseSecondsP90,
        KpiMetric::AwaitingFirstResponse,
        KpiMetric::ResolutionSecondsMean,
        KpiMetric::ResolutionSecondsMedian,
        KpiMetric::ResolutionSecondsP90,
        KpiMetric::FirstResolutionSecondsMean,
        KpiMetric::FirstResolutionSecondsMedian,
        KpiMetric::FirstResolutionSecondsP90,
        KpiMetric::ResolutionRate,
        KpiMetric::ReopenRate,
        KpiMetric::CsatAverage,
        KpiMetric::CsatCount,
        KpiMetric::CsatSatisfiedShare,
        KpiMetric::Interactions,
    ];
}

/// One metric of `values`; null where the KPI has no data.
pub fn metric_value(values: &KpiValues, metric: KpiMetric) -> Option<f64> {
    use KpiMetric::*;
    let count = |n: i64| Some(n as f64);
    match metric {
        TicketsOpened => count(values.tickets_opened),
        TicketsResolved => count(values.tickets_resolved),
        TicketsClosed => count(values.tickets_closed),
        Backlog => count(values.backlog),
        FirstResponseSecondsMean => values.first_response.mean,
        FirstResponseSecondsMedian => values.first_response.median,
        FirstResponseSecondsP90 => values.first_response.p90,
        AwaitingFirstResponse => count(values.awaiting_first_response),
        ResolutionSecondsMean => values.resolution.mean,
        ResolutionSecondsMedian => values.resolution.median,
        ResolutionSecondsP90 => values.resolution.p90,
        FirstResolutionSecondsMean => values.first_resolution.mean,
        FirstResolutionSecondsMedian => values.first_resolution.median,
        FirstResolutionSecondsP90 => values.first_resolution.p90,
        ResolutionRate => values.resolution_rate(),
        ReopenRate => values.reopen_rate(),
        CsatAverage => values.csat_average,
        CsatCount => count(values.csat_count),
        CsatSatisfiedShare => values.csat_satisfied_share(),
        Interactions => count(values.interactions.iter().map(|i| i.count).sum()),
    }
}
