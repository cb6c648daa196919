//! The KPI metrics by name, as improvement actions and change lists refer to them.

use async_graphql::SimpleObject;
use serde::{Deserialize, Serialize};

use crate::store::kpis::KpiValues;

text_enum! {
    /// Every KPI as one number (durations as their mean, median and p90), by the name improvement
    /// actions and change lists use.
    KpiMetric {
        TicketsOpened => "TICKETS_OPENED",
        TicketsResolved => "TICKETS_RESOLVED",
        TicketsClosed => "TICKETS_CLOSED",
        Backlog => "BACKLOG",
        FirstResponseSecondsMean => "FIRST_RESPONSE_SECONDS_MEAN",
        FirstResponseSecondsMedian => "FIRST_RESPONSE_SECONDS_MEDIAN",
        FirstResponseSecondsP90 => "FIRST_RESPONSE_SECONDS_P90",
        AwaitingFirstResponse => "AWAITING_FIRST_RESPONSE",
        ResolutionSecondsMean => "RESOLUTION_SECONDS_MEAN",
        ResolutionSecondsMedian => "RESOLUTION_SECONDS_MEDIAN",
        ResolutionSecondsP90 => "RESOLUTION_SECONDS_P90",
        FirstResolutionSecondsMean => "FIRST_RESOLUTION_SECONDS_MEAN",
        FirstResolutionSecondsMedian => "FIRST_RESOLUTION_SECONDS_MEDIAN",
        FirstResolutionSecondsP90 => "FIRST_RESOLUTION_SECONDS_P90",
        ResolutionRate => "RESOLUTION_RATE",
        ReopenRate => "REOPEN_RATE",
        CsatAverage => "CSAT_AVERAGE",
        CsatCount => "CSAT_COUNT",
        CsatSatisfiedShare => "CSAT_SATISFIED_SHARE",
        Interactions => "INTERACTIONS",
        SlaFirstResponseAttainment => "SLA_FIRST_RESPONSE_ATTAINMENT",
        SlaFirstResponseBreaches => "SLA_FIRST_RESPONSE_BREACHES",
        SlaFirstResponseBusinessSecondsMean => "SLA_FIRST_RESPONSE_BUSINESS_SECONDS_MEAN",
        SlaResolutionAttainment => "SLA_RESOLUTION_ATTAINMENT",
        SlaResolutionBreaches => "SLA_RESOLUTION_BREACHES",
        SlaResolutionBusinessSecondsMean => "SLA_RESOLUTION_BUSINESS_SECONDS_MEAN",
    }
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
        SlaFirstResponseAttainment => values.sla_first_response.attainment(),
        SlaFirstResponseBreaches => count(values.sla_first_response.breaches),
        SlaFirstResponseBusinessSecondsMean => values.sla_first_response.business_seconds_mean,
        SlaResolutionAttainment => values.sla_resolution.attainment(),
        SlaResolutionBreaches => count(values.sla_resolution.breaches),
        SlaResolutionBusinessSecondsMean => values.sla_resolution.business_seconds_mean,
    }
}

impl KpiMetric {
    /// Whether a smaller value is the better one (durations, backlog, waiting, reopens), used
    /// when a target's direction cannot be read from its baseline.
    pub fn lower_is_better(self) -> bool {
        use KpiMetric::*;
        matches!(
            self,
            Backlog
                | FirstResponseSecondsMean
                | FirstResponseSecondsMedian
                | FirstResponseSecondsP90
                | AwaitingFirstResponse
                | ResolutionSecondsMean
                | ResolutionSecondsMedian
                | ResolutionSecondsP90
                | FirstResolutionSecondsMean
                | FirstResolutionSecondsMedian
                | FirstResolutionSecondsP90
                | ReopenRate
                | TicketsOpened
                | SlaFirstResponseBreaches
                | SlaFirstResponseBusinessSecondsMean
                | SlaResolutionBreaches
                | SlaResolutionBusinessSecondsMean
        )
    }
}

/// A metric now and in an earlier period.
#[derive(SimpleObject, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[graphql(name = "KpiChange", complex)]
pub struct MetricChange {
    pub metric: KpiMetric,
    pub current: Option<f64>,
    pub previous: Option<f64>,
    /// current - previous.
    pub absolute: Option<f64>,
    /// (current - previous) / previous; null when previous is 0 or null.
    pub relative: Option<f64>,
}

#[async_graphql::ComplexObject]
impl MetricChange {
    /// Whether a smaller value is the better one for this metric (durations, backlog, tickets
    /// awaiting a response, reopen rate, tickets opened): how a change reads as better or worse.
    async fn lower_is_better(&self) -> bool {
        self.metric.lower_is_better()
    }
}

impl MetricChange {
    pub fn new(metric: KpiMetric, current: Option<f64>, previous: Option<f64>) -> MetricChange {
        let absolute = current.zip(previous).map(|(c, p)| c - p);
        let relative = absolute.zip(previous).and_then(|(a, p)| (p != 0.0).then(|| a / p));
        MetricChange { metric, current, previous, absolute, relative }
    }
}

/// Every metric's change from `previous` to `current`.
pub fn changes(current: &KpiValues, previous: &KpiValues) -> Vec<MetricChange> {
    KpiMetric::ALL
        .iter()
        .map(|metric| MetricChange::new(*metric, metric_value(current, *metric), metric_value(previous, *metric)))
        .collect()
}

/// A category's ticket count in a period and in the one before (GraphQL: `CategoryTrendNode`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CategoryTrend {
    pub category: String,
    /// Tickets opened in the period.
    pub tickets: i64,
    pub previous_tickets: i64,
    pub change: i64,
    /// null when the previous period had none.
    pub relative_change: Option<f64>,
}

/// The `limit` categories with the most tickets now (ties by name), with their change.
pub fn category_trends(
    current: impl IntoIterator<Item = (String, i64)>,
    previous: &std::collections::HashMap<String, i64>,
    limit: usize,
) -> Vec<CategoryTrend> {
    let mut trends: Vec<CategoryTrend> = current
        .into_iter()
        .filter(|(_, tickets)| *tickets > 0)
        .map(|(category, tickets)| {
            let previous_tickets = previous.get(&category).copied().unwrap_or(0);
            CategoryTrend {
                relative_change: (previous_tickets > 0)
                    .then(|| (tickets - previous_tickets) as f64 / previous_tickets as f64),
                change: tickets - previous_tickets,
                category,
                tickets,
                previous_tickets,
            }
        })
        .collect();
    trends.sort_by(|a, b| b.tickets.cmp(&a.tickets).then(a.category.cmp(&b.category)));
    trends.truncate(limit);
    trends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_match_the_graphql_enum() {
        for metric in KpiMetric::ALL {
            let graphql = async_graphql::InputType::to_value(metric);
            assert_eq!(graphql.to_string(), metric.as_str(), "{metric:?}");
        }
    }

    #[test]
    fn changes_are_null_without_a_base() {
        let change = MetricChange::new(KpiMetric::CsatAverage, Some(4.0), None);
        assert_eq!((change.absolute, change.relative), (None, None));
        let change = MetricChange::new(KpiMetric::TicketsOpened, Some(3.0), Some(0.0));
        assert_eq!((change.absolute, change.relative), (Some(3.0), None));
        let change = MetricChange::new(KpiMetric::TicketsOpened, Some(3.0), Some(4.0));
        assert_eq!((change.absolute, change.relative), (Some(-1.0), Some(-0.25)));
    }

    #[test]
    fn category_trends_rank_by_count_then_name() {
        let previous = [("billing".to_owned(), 2)].into_iter().collect();
        let trends = category_trends(
            [("network".to_owned(), 3), ("billing".to_owned(), 3), ("printers".to_owned(), 0)],
            &previous,
            10,
        );
        let names: Vec<_> = trends.iter().map(|t| t.category.as_str()).collect();
        assert_eq!(names, ["billing", "network"]);
        assert_eq!(trends[0].relative_change, Some(0.5));
        assert_eq!(trends[1].relative_change, None);
    }
}
