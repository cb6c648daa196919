//! Improvement actions: their lifecycle and how an outcome is judged against its target.

use chrono::{DateTime, Utc};

use super::kpi::KpiMetric;

text_enum! {
    /// What sort of change an improvement action makes.
    ActionKind {
        Training => "TRAINING",
        Process => "PROCESS",
        Tooling => "TOOLING",
        Other => "OTHER",
    }
}

text_enum! {
    /// PROPOSED -> IN_PROGRESS -> COMPLETED, and ABANDONED from either open state.
    ActionStatus {
        Proposed => "PROPOSED",
        InProgress => "IN_PROGRESS",
        Completed => "COMPLETED",
        Abandoned => "ABANDONED",
    }
}

impl ActionStatus {
    /// COMPLETED and ABANDONED are final.
    pub fn is_ended(self) -> bool {
        matches!(self, ActionStatus::Completed | ActionStatus::Abandoned)
    }

    /// Whether an action may move from `self` to `to`.
    pub fn may_become(self, to: ActionStatus) -> bool {
        use ActionStatus::*;
        matches!((self, to), (Proposed, InProgress) | (Proposed, Abandoned) | (InProgress, Completed | Abandoned))
    }
}

/// The window a completed action's outcome is measured over: from its completion, as long as
/// its baseline window.
pub fn outcome_window(
    ended_at: DateTime<Utc>,
    baseline_from: DateTime<Utc>,
    baseline_to: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (ended_at, ended_at + (baseline_to - baseline_from))
}

/// Whether `value` reaches `target`. The wanted direction is read from the baseline when it
/// differs from the target (a target below the baseline asks for a decrease), otherwise from
/// the metric itself (lower durations, backlog and reopen rate are better).
pub fn target_met(metric: KpiMetric, baseline: Option<f64>, target: f64, value: f64) -> bool {
    let decrease_wanted = match baseline {
        Some(baseline) if baseline != target => target < baseline,
        _ => metric.lower_is_better(),
    };
    if decrease_wanted { value <= target } else { value >= target }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionStatus::*;

    #[test]
    fn only_the_documented_moves_are_allowed() {
        let allowed = [(Proposed, InProgress), (Proposed, Abandoned), (InProgress, Completed), (InProgress, Abandoned)];
        for from in ActionStatus::ALL {
            for to in ActionStatus::ALL {
                assert_eq!(from.may_become(*to), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_outcome_window_starts_at_completion_and_lasts_as_long_as_the_baseline() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            outcome_window(at("2026-10-20T00:00:00Z"), at("2026-10-01T00:00:00Z"), at("2026-10-08T00:00:00Z")),
            (at("2026-10-20T00:00:00Z"), at("2026-10-27T00:00:00Z"))
        );
    }

    #[test]
    fn the_direction_comes_from_the_baseline_then_the_metric() {
        // CSAT from 3.9 to 4.2: an increase is wanted.
        assert!(target_met(KpiMetric::CsatAverage, Some(3.9), 4.2, 4.2));
        assert!(!target_met(KpiMetric::CsatAverage, Some(3.9), 4.2, 4.1));
        // Response time from 3600 s to 1800 s: a decrease is wanted.
        assert!(target_met(KpiMetric::FirstResponseSecondsMedian, Some(3600.0), 1800.0, 1700.0));
        assert!(!target_met(KpiMetric::FirstResponseSecondsMedian, Some(3600.0), 1800.0, 2000.0));
        // No baseline: the metric's own direction.
        assert!(target_met(KpiMetric::Backlog, None, 10.0, 8.0));
        assert!(target_met(KpiMetric::TicketsResolved, None, 10.0, 12.0));
        assert!(!target_met(KpiMetric::TicketsResolved, Some(10.0), 10.0, 9.0));
    }
}
