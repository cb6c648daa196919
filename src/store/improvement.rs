//! Improvement actions and their change log.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::kpis::{self, Grouping, KpiFilter, KpiQuery};
use crate::domain::improvement::{ActionKind, ActionStatus, outcome_window};
use crate::domain::kpi::{KpiMetric, metric_value};
use crate::error::AppError;
use crate::models::{ImprovementAction, ImprovementActionChange, NewImprovementAction, NewImprovementActionChange};
use crate::schema::{improvement_action_changes, improvement_actions};

/// What filing an action did.
pub enum Filed {
    Created(ImprovementAction),
    /// The idempotency key was used before with the same payload: the first action, unchanged.
    Replayed(ImprovementAction),
}

/// Files `new` and logs its creation. A key the same caller used before returns the first action
/// when its payload fingerprint matches, and is a CONFLICT when it does not.
pub fn file(conn: &mut PgConnection, new: NewImprovementAction) -> Result<Filed, AppError> {
    if let Some(key) = new.idempotency_key.as_deref()
        && let Some(existing) = by_key(conn, &new.created_by, key)?
    {
        return replay(existing, &new.request_hash);
    }
    let inserted = conn.transaction(|conn| {
        let action = diesel::insert_into(improvement_actions::table)
            .values(&new)
            .returning(ImprovementAction::as_returning())
            .get_result(conn)?;
        log_changes(
            conn,
            action.id,
            &new.created_by,
            new.created_at,
            vec![("status", None, Some(action.status.to_string()))],
        )?;
        Ok::<_, DieselError>(action)
    });
    match (inserted, new.idempotency_key.as_deref()) {
        (Ok(action), _) => Ok(Filed::Created(action)),
        // Another request with the same key got there between the look-up and the insert.
        (Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)), Some(key)) => {
            match by_key(conn, &new.created_by, key)? {
                Some(existing) => replay(existing, &new.request_hash),
                None => Err(AppError::Conflict("idempotencyKey: a concurrent filing got there first; retry".into())),
            }
        }
        (Err(err), _) => Err(err.into()),
    }
}

/// The first filing under `key` answers a retry: the same fingerprint replays it, another is a
/// CONFLICT.
pub fn replay(existing: ImprovementAction, request_hash: &str) -> Result<Filed, AppError> {
    if existing.request_hash == request_hash {
        Ok(Filed::Replayed(existing))
    } else {
        Err(AppError::Conflict(format!(
            "idempotencyKey: already used for action {} with a different payload",
            existing.id
        )))
    }
}

/// The action `caller` filed under `key`, if any (keys are per caller).
pub fn by_key(conn: &mut PgConnection, caller: &str, key: &str) -> Result<Option<ImprovementAction>, AppError> {
    Ok(improvement_actions::table
        .filter(improvement_actions::created_by.eq(caller))
        .filter(improvement_actions::idempotency_key.eq(key))
        .select(ImprovementAction::as_select())
        .first(conn)
        .optional()?)
}

/// An action's id, end and baseline window: what says when its outcome is due.
type OutcomeTiming = (i64, Option<DateTime<Utc>>, DateTime<Utc>, DateTime<Utc>);

/// The COMPLETED actions whose outcome window has ended by `now` and whose outcome is not kept
/// yet, oldest first.
pub fn outcomes_due(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<i64>, AppError> {
    let unkept: Vec<OutcomeTiming> = improvement_actions::table
        .filter(improvement_actions::status.eq(ActionStatus::Completed))
        .filter(improvement_actions::outcome_measured_at.is_null())
        .order(improvement_actions::id)
        .select((
            improvement_actions::id,
            improvement_actions::ended_at,
            improvement_actions::baseline_from,
            improvement_actions::baseline_to,
        ))
        .load(conn)?;
    Ok(unkept
        .into_iter()
        .filter(|(_, ended_at, from, to)| {
            ended_at.is_some_and(|ended_at| outcome_window(ended_at, *from, *to).1 <= now)
        })
        .map(|(id, ..)| id)
        .collect())
}

/// Measures the outcome of action `id` over its window and keeps it, logged as a change by
/// [`OUTCOME_ACTOR`], if its window has ended by `now` and no one has kept it yet. Exactly once
/// however many schedulers race: the row is locked first (a scheduler that finds it locked
/// skips it, `None`), and the measurement and the write share one repeatable-read snapshot.
/// Another instance committing the same action meanwhile makes this one a CONFLICT, and it
/// writes nothing.
pub fn keep_outcome(
    conn: &mut PgConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ImprovementAction>, AppError> {
    conn.build_transaction().repeatable_read().run(|conn| {
        let Some(action) = improvement_actions::table
            .find(id)
            .filter(improvement_actions::status.eq(ActionStatus::Completed))
            .filter(improvement_actions::outcome_measured_at.is_null())
            .for_update()
            .skip_locked()
            .select(ImprovementAction::as_select())
            .get_result(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let Some(ended_at) = action.ended_at else { return Ok(None) };
        let (from, to) = outcome_window(ended_at, action.baseline_from, action.baseline_to);
        if to > now {
            return Ok(None);
        }
        let scope = scope_of(&action)?;
        let query = KpiQuery::whole(from, to, Grouping::None, &scope);
        let measured = kpis::compute_many(conn, &[query])?;
        let values = measured.into_iter().next().and_then(|frame| frame.points.into_iter().next()).map(|p| p.values);
        let value = metric_value(&values.unwrap_or_default(), action.target_metric);
        let kept = diesel::update(improvement_actions::table.find(id))
            .set((improvement_actions::outcome_value.eq(value), improvement_actions::outcome_measured_at.eq(now)))
            .returning(ImprovementAction::as_returning())
            .get_result(conn)?;
        let to_value = Some(value.map_or_else(|| "null".to_owned(), |v| v.to_string()));
        log_changes(conn, id, OUTCOME_ACTOR, now, vec![("outcomeValue", None, to_value)])?;
        Ok(Some(kept))
    })
}

/// The part of the team an action's baseline and outcome measure.
pub fn scope_of(action: &ImprovementAction) -> Result<KpiFilter, AppError> {
    serde_json::from_value(action.scope.clone())
        .map_err(|err| AppError::internal(format!("action {} has an unreadable scope: {err}", action.id)))
}

/// The actor of changes deskpulse makes by itself (keeping a measured outcome).
pub const OUTCOME_ACTOR: &str = "deskpulse";

/// Field changes requested by `updateImprovementAction`; None leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct ActionChanges {
    pub status: Option<ActionStatus>,
    /// When a COMPLETED or ABANDONED action ended, if not now (history brought in by scripts).
    pub ended_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub kind: Option<ActionKind>,
    pub target_value: Option<f64>,
    pub owner: Option<String>,
    /// Some(None) clears the due date.
    pub due_date: Option<Option<NaiveDate>>,
    pub outcome_notes: Option<String>,
}

/// Applies `changes` under a row lock, logging one change per field that differs. A stale
/// `expected_version` is a CONFLICT; so is a move the action's lifecycle forbids.
pub fn update(
    conn: &mut PgConnection,
    id: i64,
    expected_version: Option<i32>,
    changes: ActionChanges,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<ImprovementAction, AppError> {
    conn.transaction(|conn| {
        let current: ImprovementAction = improvement_actions::table
            .find(id)
            .for_update()
            .select(ImprovementAction::as_select())
            .get_result(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("improvement action {id}")))?;
        if let Some(expected) = expected_version.filter(|expected| *expected != current.version) {
            return Err(AppError::Conflict(format!(
                "expectedVersion: the action is at version {}, not {expected}; reload it",
                current.version
            )));
        }
        let mut next = current.clone();
        let mut log: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
        let mut record = |field, from: Option<String>, to: Option<String>| {
            if from != to {
                log.push((field, from, to));
            }
        };

        if let Some(status) = changes.status.filter(|status| *status != current.status) {
            if !current.status.may_become(status) {
                return Err(AppError::Conflict(format!(
                    "status: an action cannot go from {} to {status}",
                    current.status
                )));
            }
            record("status", Some(current.status.to_string()), Some(status.to_string()));
            next.status = status;
            if status.is_ended() {
                let ended_at = changes.ended_at.unwrap_or(now);
                if ended_at > now || ended_at < current.baseline_to {
                    return Err(AppError::bad_input(
                        "endedAt",
                        "must be between the end of the baseline window and now",
                    ));
                }
                record("endedAt", None, Some(ended_at.to_rfc3339()));
                next.ended_at = Some(ended_at);
            }
        } else if changes.ended_at.is_some_and(|at| Some(at) != current.ended_at) {
            // A retried completion carries the same instant and changes nothing.
            return Err(AppError::bad_input("endedAt", "only given when the status becomes COMPLETED or ABANDONED"));
        }
        if let Some(title) = changes.title {
            record("title", Some(current.title.clone()), Some(title.clone()));
            next.title = title;
        }
        if let Some(description) = changes.description {
            record("description", Some(current.description.clone()), Some(description.clone()));
            next.description = description;
        }
        if let Some(kind) = changes.kind {
            record("kind", Some(current.kind.to_string()), Some(kind.to_string()));
            next.kind = kind;
        }
        if let Some(target) = changes.target_value {
            record("targetValue", Some(current.target_value.to_string()), Some(target.to_string()));
            next.target_value = target;
        }
        if let Some(owner) = changes.owner {
            record("owner", Some(current.owner.clone()), Some(owner.clone()));
            next.owner = owner;
        }
        if let Some(due_date) = changes.due_date {
            record("dueDate", current.due_date.map(|d| d.to_string()), due_date.map(|d| d.to_string()));
            next.due_date = due_date;
        }
        if let Some(notes) = changes.outcome_notes {
            record("outcomeNotes", current.outcome_notes.clone(), Some(notes.clone()));
            next.outcome_notes = Some(notes);
        }
        if log.is_empty() {
            // Nothing differs (a retried request, say): nothing to change or log.
            return Ok(current);
        }
        if current.status.is_ended() && log.iter().any(|(field, _, _)| *field != "outcomeNotes") {
            return Err(AppError::Conflict(format!(
                "the action is {}: only its outcomeNotes can change",
                current.status
            )));
        }

        let updated = diesel::update(improvement_actions::table.find(id))
            .set((
                improvement_actions::status.eq(next.status),
                improvement_actions::ended_at.eq(next.ended_at),
                improvement_actions::title.eq(&next.title),
                improvement_actions::description.eq(&next.description),
                improvement_actions::kind.eq(next.kind),
                improvement_actions::target_value.eq(next.target_value),
                improvement_actions::owner.eq(&next.owner),
                improvement_actions::due_date.eq(next.due_date),
                improvement_actions::outcome_notes.eq(&next.outcome_notes),
                improvement_actions::updated_at.eq(now),
                improvement_actions::version.eq(current.version + 1),
            ))
            .returning(ImprovementAction::as_returning())
            .get_result(conn)?;
        log_changes(conn, updated.id, actor, now, log)?;
        Ok(updated)
    })
}

fn log_changes(
    conn: &mut PgConnection,
    action_id: i64,
    actor: &str,
    at: DateTime<Utc>,
    changes: Vec<(&str, Option<String>, Option<String>)>,
) -> Result<(), DieselError> {
    let rows: Vec<NewImprovementActionChange> = changes
        .into_iter()
        .map(|(field, from_value, to_value)| NewImprovementActionChange {
            action_id,
            at,
            actor: actor.to_owned(),
            field: field.to_owned(),
            from_value,
            to_value,
        })
        .collect();
    diesel::insert_into(improvement_action_changes::table).values(rows).execute(conn)?;
    Ok(())
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, ImprovementAction>, AppError> {
    Ok(improvement_actions::table
        .filter(improvement_actions::id.eq_any(ids))
        .select(ImprovementAction::as_select())
        .load(conn)?
        .into_iter()
        .map(|action| (action.id, action))
        .collect())
}

/// The change logs of `action_ids`, each oldest first, keyed by action id.
pub fn changes_of(
    conn: &mut PgConnection,
    action_ids: &[i64],
) -> Result<HashMap<i64, Vec<ImprovementActionChange>>, AppError> {
    let rows: Vec<ImprovementActionChange> = improvement_action_changes::table
        .filter(improvement_action_changes::action_id.eq_any(action_ids))
        .order((improvement_action_changes::at.asc(), improvement_action_changes::id.asc()))
        .select(ImprovementActionChange::as_select())
        .load(conn)?;
    let mut logs: HashMap<i64, Vec<ImprovementActionChange>> = HashMap::new();
    for row in rows {
        logs.entry(row.action_id).or_default().push(row);
    }
    Ok(logs)
}

/// Which actions a list holds; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub statuses: Vec<ActionStatus>,
    pub metrics: Vec<KpiMetric>,
    pub owner: Option<String>,
    pub source_report_id: Option<i64>,
}

fn filtered(filter: &ActionFilter) -> improvement_actions::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = improvement_actions::table.into_boxed();
    if !filter.statuses.is_empty() {
        query = query.filter(improvement_actions::status.eq_any(filter.statuses.clone()));
    }
    if !filter.metrics.is_empty() {
        query = query.filter(improvement_actions::target_metric.eq_any(filter.metrics.clone()));
    }
    if let Some(owner) = &filter.owner {
        query = query.filter(improvement_actions::owner.eq(owner.clone()));
    }
    if let Some(report) = filter.source_report_id {
        query = query.filter(improvement_actions::source_report_id.eq(report));
    }
    query
}

/// Actions, newest first, after the id `after`.
pub fn list(
    conn: &mut PgConnection,
    filter: &ActionFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<ImprovementAction>, AppError> {
    let mut query = filtered(filter);
    if let Some(after) = after {
        query = query.filter(improvement_actions::id.lt(after));
    }
    Ok(query.order(improvement_actions::id.desc()).limit(limit).select(ImprovementAction::as_select()).load(conn)?)
}

pub fn count(conn: &mut PgConnection, filter: &ActionFilter) -> Result<i64, AppError> {
    Ok(filtered(filter).count().get_result(conn)?)
}
