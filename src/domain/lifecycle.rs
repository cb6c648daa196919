//! The ticket lifecycle: which transitions exist and what each does to the ticket's timestamps.

use chrono::{DateTime, Utc};

use super::{EventKind, TicketStatus};

impl TicketStatus {
    /// The statuses a ticket in this status may move to, and nothing else.
    pub fn allowed_next(self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            Open => &[InProgress, Resolved],
            InProgress => &[Resolved],
            Resolved => &[InProgress, Closed],
            Closed => &[],
        }
    }
}

/// The lifecycle fields of a ticket, before or after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleState {
    pub status: TicketStatus,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_resolved_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
}

impl LifecycleState {
    /// A ticket just logged: OPEN, nothing else yet.
    pub fn opened() -> LifecycleState {
        LifecycleState {
            status: TicketStatus::Open,
            first_response_at: None,
            first_resolved_at: None,
            resolved_at: None,
            closed_at: None,
            reopen_count: 0,
        }
    }
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} ticket cannot move to {to}; allowed next: {}", allowed_list(*from))]
pub struct InvalidTransition {
    pub from: TicketStatus,
    pub to: TicketStatus,
}

fn allowed_list(from: TicketStatus) -> String {
    let allowed = from.allowed_next();
    if allowed.is_empty() {
        "none (CLOSED is final)".to_owned()
    } else {
        allowed.iter().map(|status| status.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The state after moving `state` to `to` at `at`, and the kind of event that records it.
///
/// - Leaving OPEN is the first response unless an earlier one is already recorded.
/// - A resolution sets `resolved_at`; the first one also sets `first_resolved_at`, for good.
/// - A reopen (RESOLVED -> IN_PROGRESS) clears `resolved_at` and counts the reopen.
pub fn transition(
    state: &LifecycleState,
    to: TicketStatus,
    at: DateTime<Utc>,
) -> Result<(LifecycleState, EventKind), InvalidTransition> {
    use TicketStatus::*;
    let from = state.status;
    if !from.allowed_next().contains(&to) {
        return Err(InvalidTransition { from, to });
    }
    let mut next = state.clone();
    next.status = to;
    if from == Open {
        next.first_response_at = Some(state.first_response_at.map_or(at, |earlier| earlier.min(at)));
    }
    let kind = match (from, to) {
        (Resolved, InProgress) => {
            next.resolved_at = None;
            next.reopen_count += 1;
            EventKind::Reopened
        }
        (_, Resolved) => {
            next.resolved_at = Some(at);
            next.first_resolved_at = Some(state.first_resolved_at.unwrap_or(at));
            EventKind::StatusChanged
        }
        (_, Closed) => {
            next.closed_at = Some(at);
            EventKind::StatusChanged
        }
        _ => EventKind::StatusChanged,
    };
    Ok((next, kind))
}

/// A ticket's imported history: when it opened, was first answered, resolved (each time),
/// reopened (each time) and closed.
#[derive(Debug, Clone)]
pub struct History {
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolutions: Vec<DateTime<Utc>>,
    pub reopens: Vec<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One step of a replayed history, as its ticket event records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub from: TicketStatus,
    pub to: TicketStatus,
    /// The part of the history it comes from, which names its actor.
    pub source: StepSource,
}

/// Which instant of a [`History`] a step replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSource {
    FirstResponse,
    /// The n-th resolution (from 0).
    Resolution(usize),
    /// The n-th reopen (from 0).
    Reopen(usize),
    Close,
}

/// Why a history cannot be replayed: the input field at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError {
    pub field: &'static str,
    pub message: String,
}

fn history_error(field: &'static str, message: impl Into<String>) -> HistoryError {
    HistoryError { field, message: message.into() }
}

/// Replays an imported history through the same lifecycle rules live changes follow and returns
/// the final state and each step. A first response before the first resolution is the move to
/// IN_PROGRESS; resolutions and reopens alternate; a close follows the last resolution.
pub fn replay(history: &History, now: DateTime<Utc>) -> Result<(LifecycleState, Vec<Step>), HistoryError> {
    let History { opened_at, first_response_at, resolutions, reopens, closed_at } = history;
    if *opened_at > now {
        return Err(history_error("openedAt", "must not be in the future"));
    }
    if reopens.len() > resolutions.len() || reopens.len() + 1 < resolutions.len() {
        return Err(history_error(
            "reopenedAt",
            "resolutions and reopens alternate: give as many reopens as resolutions, or one fewer",
        ));
    }
    if closed_at.is_some() && reopens.len() == resolutions.len() {
        return Err(history_error("closedAt", "a ticket is closed only after its last resolution"));
    }
    let mut planned: Vec<(DateTime<Utc>, TicketStatus, &'static str, StepSource)> = Vec::new();
    if let Some(response) = first_response_at {
        if response < opened_at {
            return Err(history_error("firstResponseAt", "must not be before openedAt"));
        }
        if resolutions.first().is_none_or(|first| response < first) {
            planned.push((*response, TicketStatus::InProgress, "firstResponseAt", StepSource::FirstResponse));
        }
    }
    for (index, resolved) in resolutions.iter().enumerate() {
        planned.push((*resolved, TicketStatus::Resolved, "resolvedAt", StepSource::Resolution(index)));
        if let Some(reopened) = reopens.get(index) {
            planned.push((*reopened, TicketStatus::InProgress, "reopenedAt", StepSource::Reopen(index)));
        }
    }
    if let Some(closed) = closed_at {
        planned.push((*closed, TicketStatus::Closed, "closedAt", StepSource::Close));
    }

    let mut state = LifecycleState::opened();
    let mut steps = Vec::with_capacity(planned.len());
    let mut previous = *opened_at;
    for (at, to, field, source) in planned {
        if at < previous {
            return Err(history_error(field, format!("{at} is before the step it follows ({previous})")));
        }
        if at > now {
            return Err(history_error(field, "must not be in the future"));
        }
        let (next, kind) = transition(&state, to, at).map_err(|invalid| history_error(field, invalid.to_string()))?;
        steps.push(Step { at, kind, from: state.status, to, source });
        state = next;
        previous = at;
    }
    Ok((state, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0).unwrap()
    }

    fn open() -> LifecycleState {
        LifecycleState::opened()
    }

    #[test]
    fn only_the_documented_transitions_exist() {
        use TicketStatus::*;
        let allowed =
            [(Open, InProgress), (Open, Resolved), (InProgress, Resolved), (Resolved, InProgress), (Resolved, Closed)];
        for from in TicketStatus::ALL {
            for to in TicketStatus::ALL {
                let state = LifecycleState { status: *from, ..open() };
                let result = transition(&state, *to, at(1));
                assert_eq!(result.is_ok(), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_reopen_counts_and_clears_the_resolution_but_keeps_the_first() {
        let (progress, _) = transition(&open(), TicketStatus::InProgress, at(1)).unwrap();
        assert_eq!(progress.first_response_at, Some(at(1)));
        let (resolved, _) = transition(&progress, TicketStatus::Resolved, at(2)).unwrap();
        let (reopened, kind) = transition(&resolved, TicketStatus::InProgress, at(3)).unwrap();
        assert_eq!(kind, EventKind::Reopened);
        assert_eq!((reopened.reopen_count, reopened.resolved_at, reopened.first_resolved_at), (1, None, Some(at(2))));
        let (again, _) = transition(&reopened, TicketStatus::Resolved, at(4)).unwrap();
        assert_eq!((again.first_resolved_at, again.resolved_at), (Some(at(2)), Some(at(4))));
        assert_eq!(again.first_response_at, Some(at(1)), "only leaving OPEN is a first response");
    }

    #[test]
    fn an_earlier_first_response_is_kept() {
        let state = LifecycleState { first_response_at: Some(at(0)), ..open() };
        let (next, _) = transition(&state, TicketStatus::Resolved, at(5)).unwrap();
        assert_eq!(next.first_response_at, Some(at(0)));
        assert_eq!(next.first_resolved_at, Some(at(5)));
    }

    #[test]
    fn a_history_replays_through_the_lifecycle() {
        let history = History {
            opened_at: at(0),
            first_response_at: Some(at(1)),
            resolutions: vec![at(2), at(4)],
            reopens: vec![at(3)],
            closed_at: Some(at(5)),
        };
        let (state, steps) = replay(&history, at(59)).unwrap();
        assert_eq!(state.status, TicketStatus::Closed);
        assert_eq!(
            (state.first_response_at, state.first_resolved_at, state.resolved_at),
            (Some(at(1)), Some(at(2)), Some(at(4)))
        );
        assert_eq!(state.reopen_count, 1);
        let kinds: Vec<EventKind> = steps.iter().map(|s| s.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, [StatusChanged, StatusChanged, Reopened, StatusChanged, StatusChanged]);
    }

    #[test]
    fn an_impossible_history_names_its_field() {
        let base = History {
            opened_at: at(5),
            first_response_at: None,
            resolutions: vec![],
            reopens: vec![],
            closed_at: None,
        };
        let early = History { resolutions: vec![at(4)], ..base.clone() };
        assert_eq!(replay(&early, at(59)).unwrap_err().field, "resolvedAt");
        let reopen_without_resolution = History { reopens: vec![at(6)], ..base.clone() };
        assert_eq!(replay(&reopen_without_resolution, at(59)).unwrap_err().field, "reopenedAt");
        let closed_open = History { closed_at: Some(at(6)), ..base.clone() };
        assert_eq!(replay(&closed_open, at(59)).unwrap_err().field, "closedAt");
        let future = History { resolutions: vec![at(50)], ..base };
        assert_eq!(replay(&future, at(10)).unwrap_err().field, "resolvedAt");
    }

    #[test]
    fn the_refusal_names_the_current_state_and_the_allowed_ones() {
        let closed = LifecycleState { status: TicketStatus::Closed, ..open() };
        let error = transition(&closed, TicketStatus::Open, at(1)).unwrap_err();
        assert_eq!(error.to_string(), "a CLOSED ticket cannot move to OPEN; allowed next: none (CLOSED is final)");
        let error = transition(&open(), TicketStatus::Closed, at(1)).unwrap_err();
        assert_eq!(error.to_string(), "a OPEN ticket cannot move to CLOSED; allowed next: IN_PROGRESS, RESOLVED");
    }
}
