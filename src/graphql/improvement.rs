//! Improvement actions: filed with a measured baseline, moved through their lifecycle, and
//! judged by the same metric measured after completion.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::kpis::{KpiFilterInput, PeriodInput, ReadFrom, whole_period};
use super::loaders::Loaders;
use super::pagination::{ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::reports::ReportNode;
use super::{caller, cost, db, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::improvement::{ActionKind, ActionStatus, outcome_window, target_met};
use crate::domain::kpi::{KpiMetric, metric_value};
use crate::domain::limits::{self, DESCRIPTION_MAX, EXTERNAL_REF_MAX, NAME_MAX, NOTE_MAX};
use crate::domain::{Priority, TicketChannel};
use crate::error::AppError;
use crate::models::{ImprovementAction, ImprovementActionChange, NewImprovementAction};
use crate::store;
use crate::store::improvement::{ActionChanges, ActionFilter, Filed};

/// The baseline window when none is given: the 4 weeks before filing (PRODUCT.md).
const DEFAULT_BASELINE_DAYS: i64 = 28;

pub struct ImprovementActionNode(pub ImprovementAction);

#[Object(name = "ImprovementAction")]
impl ImprovementActionNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn kind(&self) -> ActionKind {
        self.0.kind
    }
    async fn target_metric(&self) -> KpiMetric {
        self.0.target_metric
    }
    async fn target_value(&self) -> f64 {
        self.0.target_value
    }
    /// The metric over the baseline window, measured when the action was filed (null: no data).
    async fn baseline_value(&self) -> Option<f64> {
        self.0.baseline_value
    }
    async fn baseline_from(&self) -> DateTime<Utc> {
        self.0.baseline_from
    }
    async fn baseline_to(&self) -> DateTime<Utc> {
        self.0.baseline_to
    }
    async fn owner(&self) -> &str {
        &self.0.owner
    }
    /// The part of the team whose numbers the baseline and outcome measure.
    async fn scope(&self) -> Result<ActionScope, AppError> {
        let scope = store::improvement::scope_of(&self.0)?;
        Ok(ActionScope {
            technician_ids: scope.technician_ids.into_iter().map(ID::from).collect(),
            teams: scope.teams,
            categories: scope.categories,
            priorities: scope.priorities.iter().filter_map(|p| p.parse().ok()).collect(),
            channels: scope.channels.iter().filter_map(|c| c.parse().ok()).collect(),
        })
    }
    async fn due_date(&self) -> Option<NaiveDate> {
        self.0.due_date
    }
    async fn status(&self) -> ActionStatus {
        self.0.status
    }
    async fn outcome_notes(&self) -> Option<&str> {
        self.0.outcome_notes.as_deref()
    }
    /// The report the action came from; null when none was named or it has been purged.
    async fn source_report(&self, ctx: &Context<'_>) -> Result<Option<ReportNode>, AppError> {
        let Some(id) = self.0.source_report_id else { return Ok(None) };
        ctx.data_unchecked::<Loaders>().reports.load_one(id).await?.map(ReportNode::new).transpose()
    }
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }
    /// The token subject that filed it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When it was completed or abandoned.
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
    /// Raised by every change; pass it as `expectedVersion` to refuse stale edits.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Every change with its actor and time, oldest first (filing is the first).
    #[graphql(complexity = "cost::unpaged(child_complexity)")]
    async fn changes(&self, ctx: &Context<'_>) -> Result<Vec<ActionChangeNode>, AppError> {
        let log = ctx.data_unchecked::<Loaders>().action_changes.load_one(self.0.id).await?;
        Ok(log.unwrap_or_default().into_iter().map(ActionChangeNode).collect())
    }
    /// For a COMPLETED action: the metric over a window as long as the baseline's, starting at
    /// completion, beside the baseline and the target. Measured live until the scheduler has
    /// kept it (soon after the window ends); from then on read back. Null for any other status.
    #[graphql(complexity = "cost::kpi(1, 1, child_complexity)")]
    async fn outcome(&self, ctx: &Context<'_>) -> Result<Option<ActionOutcome>, AppError> {
        let action = &self.0;
        let (ActionStatus::Completed, Some(ended_at)) = (action.status, action.ended_at) else { return Ok(None) };
        let (from, to) = outcome_window(ended_at, action.baseline_from, action.baseline_to);
        let now = Utc::now();
        // A read never writes: keeping the outcome is the scheduler's (src/schedule.rs).
        let value = match action.outcome_measured_at {
            Some(_) => action.outcome_value,
            None if now <= from => None,
            None => {
                let scope = store::improvement::scope_of(action)?;
                let (values, _) = whole_period(ctx, (from, to.min(now)), &scope, ReadFrom::Reporting).await?;
                metric_value(&values, action.target_metric)
            }
        };
        let complete = to <= now;
        let (baseline, target) = (action.baseline_value, action.target_value);
        let absolute_change = value.zip(baseline).map(|(v, b)| v - b);
        Ok(Some(ActionOutcome {
            baseline_value: baseline,
            baseline_from: action.baseline_from,
            baseline_to: action.baseline_to,
            from,
            to,
            complete,
            value,
            measured_at: action.outcome_measured_at,
            target_value: target,
            absolute_change,
            relative_change: absolute_change.zip(baseline).and_then(|(a, b)| (b != 0.0).then(|| a / b)),
            target_met: value
                .filter(|_| complete)
                .map(|value| target_met(action.target_metric, baseline, target, value)),
        }))
    }
}

/// An action's scope: empty lists mean everyone.
#[derive(SimpleObject)]
pub struct ActionScope {
    pub technician_ids: Vec<ID>,
    pub teams: Vec<String>,
    pub categories: Vec<String>,
    pub priorities: Vec<Priority>,
    pub channels: Vec<TicketChannel>,
}

/// The metric after completion against the baseline and the target.
#[derive(SimpleObject)]
pub struct ActionOutcome {
    pub baseline_value: Option<f64>,
    pub baseline_from: DateTime<Utc>,
    pub baseline_to: DateTime<Utc>,
    /// The measurement window: from completion, as long as the baseline window.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// False while the window has not ended; `value` then covers the part that has elapsed.
    pub complete: bool,
    /// The metric over the window (null: no data).
    pub value: Option<f64>,
    /// When the value was measured and kept, after the window ended; null while it is measured
    /// when read.
    pub measured_at: Option<DateTime<Utc>>,
    pub target_value: f64,
    /// value - baseline.
    pub absolute_change: Option<f64>,
    /// (value - baseline) / baseline; null when the baseline is 0 or null.
    pub relative_change: Option<f64>,
    /// Null until the window is complete and has data. A target below the baseline asks for a
    /// decrease, one above for an increase; with no baseline, the metric's own better direction.
    pub target_met: Option<bool>,
}

pub struct ActionChangeNode(ImprovementActionChange);

#[Object(name = "ImprovementActionChange")]
impl ActionChangeNode {
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The token subject that made the change.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The field's GraphQL name (`status`, `targetValue`, `endedAt`, ...).
    async fn field(&self) -> &str {
        &self.0.field
    }
    async fn from_value(&self) -> Option<&str> {
        self.0.from_value.as_deref()
    }
    async fn to_value(&self) -> Option<&str> {
        self.0.to_value.as_deref()
    }
}

#[derive(InputObject, Serialize)]
pub struct FileImprovementActionInput {
    pub title: String,
    #[graphql(default)]
    pub description: String,
    pub kind: ActionKind,
    pub target_metric: KpiMetric,
    pub target_value: f64,
    /// Who is responsible: a name or e-mail address.
    pub owner: String,
    pub due_date: Option<NaiveDate>,
    pub source_report_id: Option<ID>,
    /// Where the baseline is measured; default: the 4 weeks before filing.
    #[serde(skip)]
    pub baseline_window: Option<PeriodInput>,
    /// The part of the team the action targets (a technician, a team, categories, ...): its
    /// baseline and outcome are measured over it. Default: everyone. Fixed once filed.
    pub scope: Option<KpiFilterInput>,
}

/// What a filing asked for, fingerprinted to tell a retry from a different filing that reuses
/// its key. The baseline window is taken as given, so a retried default window still matches.
#[derive(Serialize)]
struct FilingFingerprint<'a> {
    input: &'a FileImprovementActionInput,
    baseline_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(SimpleObject)]
pub struct FileImprovementActionPayload {
    pub action: ImprovementActionNode,
    /// True when the idempotency key had been used with this payload: `action` is the first
    /// filing, unchanged.
    pub replayed: bool,
}

fn filed_payload(filed: Filed) -> Result<FileImprovementActionPayload, AppError> {
    Ok(match filed {
        Filed::Created(action) => {
            FileImprovementActionPayload { action: ImprovementActionNode(action), replayed: false }
        }
        Filed::Replayed(action) => {
            FileImprovementActionPayload { action: ImprovementActionNode(action), replayed: true }
        }
    })
}

#[derive(InputObject, Default)]
pub struct UpdateImprovementActionInput {
    pub status: Option<ActionStatus>,
    /// With status COMPLETED or ABANDONED: when that happened, if not now (for history brought
    /// in by scripts); between the baseline window's end and now.
    pub ended_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub kind: Option<ActionKind>,
    pub target_value: Option<f64>,
    pub owner: Option<String>,
    /// null clears it.
    pub due_date: MaybeUndefined<NaiveDate>,
    pub outcome_notes: Option<String>,
}

#[derive(InputObject, Default)]
pub struct ImprovementActionFilterInput {
    pub status: Option<Vec<ActionStatus>>,
    pub target_metric: Option<Vec<KpiMetric>>,
    pub owner: Option<String>,
    pub source_report_id: Option<ID>,
}

pub type ImprovementActionConnection = Connection<ListCursor<i64>, ImprovementActionNode, TotalCount>;

#[derive(Default)]
pub struct ImprovementQuery;

#[Object]
impl ImprovementQuery {
    /// Improvement actions, newest first. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::page(first, child_complexity)")]
    async fn improvement_actions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ImprovementActionFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<ImprovementActionConnection>, AppError> {
        let filter = filter.unwrap_or_default();
        let filter = ActionFilter {
            statuses: filter.status.unwrap_or_default(),
            metrics: filter.target_metric.unwrap_or_default(),
            owner: filter.owner.map(|owner| owner.trim().to_owned()),
            source_report_id: filter.source_report_id.map(|id| parse_id("filter.sourceReportId", &id)).transpose()?,
        };
        let limit = limits::page_size("first", first, 20)?;
        let after = decode_cursor::<i64>("after", after.as_deref())?;
        let page_filter = filter.clone();
        let (mut rows, _) =
            db(ctx)?.run_reporting(move |conn| store::improvement::list(conn, &page_filter, after, limit + 1)).await?;
        let has_next = trim_page(&mut rows, limit);
        let total = TotalCount::reporting(move |conn| store::improvement::count(conn, &filter));
        let mut connection = Connection::with_additional_fields(after.is_some(), has_next, total);
        connection
            .edges
            .extend(rows.into_iter().map(|action| Edge::new(cursor_at(action.id), ImprovementActionNode(action))));
        Ok(Some(connection))
    }

    /// One improvement action. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)")]
    async fn improvement_action(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ImprovementActionNode>, AppError> {
        let id = parse_id("id", &id)?;
        let found = db(ctx)?.run(move |conn| Ok(store::improvement::by_ids(conn, &[id])?.remove(&id))).await?;
        Ok(found.map(ImprovementActionNode))
    }
}

#[derive(Default)]
pub struct ImprovementMutation;

#[Object]
impl ImprovementMutation {
    /// Files an improvement action and measures its baseline. Scripts pass an `idempotencyKey`:
    /// a retry with the same key and payload returns the first action unchanged
    /// (`replayed: true`); the same key with another payload is a CONFLICT.
    /// SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::kpi(1, 1, child_complexity)")]
    async fn file_improvement_action(
        &self,
        ctx: &Context<'_>,
        input: FileImprovementActionInput,
        idempotency_key: Option<String>,
    ) -> Result<FileImprovementActionPayload, AppError> {
        let actor = caller(ctx)?.subject.clone();
        let now = Utc::now();
        let idempotency_key = limits::optional_text("idempotencyKey", idempotency_key.as_deref(), EXTERNAL_REF_MAX)?;
        let given_window = input
            .baseline_window
            .map(PeriodInput::checked)
            .transpose()
            .map_err(|err| err.for_field("input.baselineWindow"))?;
        let request_hash = {
            let fingerprint = FilingFingerprint { input: &input, baseline_window: given_window };
            let json = serde_json::to_vec(&fingerprint).map_err(|err| AppError::internal(err.to_string()))?;
            format!("{:x}", Sha256::digest(json))
        };
        let (baseline_from, baseline_to) = given_window.unwrap_or((now - Duration::days(DEFAULT_BASELINE_DAYS), now));
        if baseline_to > now {
            return Err(AppError::bad_input("input.baselineWindow.to", "must not be in the future"));
        }
        if !input.target_value.is_finite() {
            return Err(AppError::bad_input("input.targetValue", "must be a finite number"));
        }
        // A retry is answered before anything is validated or measured again.
        if let Some(key) = idempotency_key.clone() {
            let (caller, hash) = (actor.clone(), request_hash.clone());
            let earlier = db(ctx)?.run(move |conn| store::improvement::by_key(conn, &caller, &key)).await?;
            if let Some(earlier) = earlier {
                return filed_payload(store::improvement::replay(earlier, &hash)?);
            }
        }
        let source_report_id =
            input.source_report_id.as_ref().map(|id| parse_id("input.sourceReportId", id)).transpose()?;
        let scope = input.scope.clone().unwrap_or_default().into_store().map_err(|err| err.for_field("input.scope"))?;
        let new = NewImprovementAction {
            title: limits::required_text("input.title", &input.title, NAME_MAX)?,
            description: limits::free_text("input.description", &input.description, DESCRIPTION_MAX)?,
            kind: input.kind,
            target_metric: input.target_metric,
            target_value: input.target_value,
            baseline_value: None,
            baseline_from,
            baseline_to,
            owner: limits::required_text("input.owner", &input.owner, NAME_MAX)?,
            due_date: input.due_date,
            source_report_id,
            idempotency_key,
            request_hash,
            created_by: actor,
            created_at: now,
            updated_at: now,
            scope: serde_json::to_value(&scope).map_err(|err| AppError::internal(err.to_string()))?,
        };

        if let Some(report_id) = source_report_id {
            let exists = db(ctx)?.run(move |conn| Ok(!store::reports::by_ids(conn, &[report_id])?.is_empty())).await?;
            if !exists {
                return Err(AppError::bad_input("input.sourceReportId", format!("there is no report {report_id}")));
            }
        }
        // Stored for years: read on the primary, never on a replica that may lag.
        let (baseline, _) = whole_period(ctx, (baseline_from, baseline_to), &scope, ReadFrom::Primary).await?;
        let new = NewImprovementAction { baseline_value: metric_value(&baseline, input.target_metric), ..new };
        let filed = db(ctx)?.run(move |conn| store::improvement::file(conn, new)).await?;
        Ok(match filed {
            Filed::Created(action) => {
                FileImprovementActionPayload { action: ImprovementActionNode(action), replayed: false }
            }
            Filed::Replayed(action) => {
                FileImprovementActionPayload { action: ImprovementActionNode(action), replayed: true }
            }
        })
    }

    /// Moves an action PROPOSED -> IN_PROGRESS -> COMPLETED (or ABANDONED from either) and edits
    /// its fields; each changed field is logged with the caller and the time. An ended action
    /// only takes outcomeNotes. A stale `expectedVersion` is a CONFLICT. SUPERVISOR and ADMIN
    /// only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)")]
    async fn update_improvement_action(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateImprovementActionInput,
        expected_version: Option<i32>,
    ) -> Result<ImprovementActionNode, AppError> {
        let id = parse_id("id", &id)?;
        let actor = caller(ctx)?.subject.clone();
        if input.target_value.is_some_and(|value| !value.is_finite()) {
            return Err(AppError::bad_input("input.targetValue", "must be a finite number"));
        }
        let changes = ActionChanges {
            status: input.status,
            ended_at: input.ended_at,
            title: input
                .title
                .as_deref()
                .map(|title| limits::required_text("input.title", title, NAME_MAX))
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(|text| limits::free_text("input.description", text, DESCRIPTION_MAX))
                .transpose()?,
            kind: input.kind,
            target_value: input.target_value,
            owner: input
                .owner
                .as_deref()
                .map(|owner| limits::required_text("input.owner", owner, NAME_MAX))
                .transpose()?,
            due_date: match input.due_date {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(date) => Some(Some(date)),
            },
            outcome_notes: input
                .outcome_notes
                .as_deref()
                .map(|notes| limits::free_text("input.outcomeNotes", notes, NOTE_MAX))
                .transpose()?,
        };
        let action = db(ctx)?
            .run(move |conn| store::improvement::update(conn, id, expected_version, changes, &actor, Utc::now()))
            .await?;
        Ok(ImprovementActionNode(action))
    }
}
