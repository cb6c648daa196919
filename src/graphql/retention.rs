//! Retention: ADMINs start runs, read past runs and the configured periods.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::pagination::{ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::{caller, cost, db};
use crate::auth::{Role, RoleGuard};
use crate::domain::limits;
use crate::error::AppError;
use crate::models::RetentionRun;
use crate::retention::{self, Cutoffs, RetentionRunStatus, RetentionSchedule, RetentionSettings};
use crate::store;

/// One retention run, dry or not.
pub struct RetentionRunNode(pub RetentionRun);

#[Object(name = "RetentionRun")]
impl RetentionRunNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    /// Null while RUNNING.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// A dry run counted what a run would remove and removed nothing.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    /// The token subject that started it, `cli` (deskpulse retention run) or `scheduler` (the daily
    /// run).
    async fn triggered_by(&self) -> &str {
        &self.0.triggered_by
    }
    async fn status(&self) -> RetentionRunStatus {
        self.0.status
    }
    /// The instants before which records counted as expired.
    async fn cutoffs(&self) -> RetentionCutoffs {
        RetentionCutoffs::from(Cutoffs {
            tickets_closed_before: self.0.tickets_closed_before,
            interactions_before: self.0.interactions_before,
            reports_generated_before: self.0.reports_generated_before,
            actions_ended_before: self.0.actions_ended_before,
        })
    }
    /// What the run removed; for a dry run, what a run would have removed then. A FAILED run's
    /// counts are what its completed batches removed.
    async fn counts(&self) -> RetentionCounts {
        RetentionCounts {
            tickets: self.0.tickets_removed,
            ticket_events: self.0.ticket_events_removed,
            ratings: self.0.ratings_removed,
            interactions: self.0.interactions_removed,
            reports: self.0.reports_removed,
            improvement_actions: self.0.improvement_actions_removed,
        }
    }
    /// Why a FAILED run stopped.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// Records older than these instants are past their retention period.
#[derive(SimpleObject)]
pub struct RetentionCutoffs {
    /// CLOSED tickets closed before this go, with their events, ratings and interactions.
    pub tickets_closed_before: DateTime<Utc>,
    /// Interactions that occurred before this go.
    pub interactions_before: DateTime<Utc>,
    /// Performance reports generated before this go.
    pub reports_generated_before: DateTime<Utc>,
    /// Improvement actions completed or abandoned before this go, with their change logs.
    pub improvement_actions_ended_before: DateTime<Utc>,
}

impl From<Cutoffs> for RetentionCutoffs {
    fn from(cutoffs: Cutoffs) -> Self {
        RetentionCutoffs {
            tickets_closed_before: cutoffs.tickets_closed_before,
            interactions_before: cutoffs.interactions_before,
            reports_generated_before: cutoffs.reports_generated_before,
            improvement_actions_ended_before: cutoffs.actions_ended_before,
        }
    }
}

/// Records per kind. Interactions include those removed with their ticket.
#[derive(SimpleObject)]
pub struct RetentionCounts {
    pub tickets: i64,
    pub ticket_events: i64,
    pub ratings: i64,
    pub interactions: i64,
    pub reports: i64,
    pub improvement_actions: i64,
}

/// The server's retention configuration.
#[derive(SimpleObject)]
pub struct RetentionPolicy {
    /// How long CLOSED tickets are kept after closedAt (with their events, ratings, interactions).
    pub tickets_period_seconds: i64,
    /// How long interactions are kept after occurredAt.
    pub interactions_period_seconds: i64,
    /// How long performance reports are kept after generatedAt.
    pub reports_period_seconds: i64,
    /// How long improvement actions are kept after they were completed or abandoned.
    pub improvement_actions_period_seconds: i64,
    /// Most records removed per transaction.
    pub batch_size: i32,
    /// The local time of the daily run (HH:MM:SS), null when there is none.
    pub daily_at: Option<String>,
    /// The time zone of dailyAt.
    pub time_zone: String,
    /// The cut-offs a run started now would use.
    pub cutoffs_now: RetentionCutoffs,
}

pub type RetentionRunConnection = Connection<ListCursor<(DateTime<Utc>, i64)>, RetentionRunNode, TotalCount>;

fn retention_settings<'a>(ctx: &Context<'a>) -> Result<&'a RetentionSettings, AppError> {
    ctx.data_opt::<RetentionSettings>().ok_or_else(|| AppError::internal("the schema has no retention settings"))
}

fn seconds(period: std::time::Duration) -> i64 {
    i64::try_from(period.as_secs()).unwrap_or(i64::MAX)
}

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// Retention runs, newest first. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)", complexity = "cost::page(first, child_complexity)")]
    async fn retention_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<RetentionRunConnection>, AppError> {
        let limit = limits::page_size("first", first, 20)?;
        let after = decode_cursor::<(DateTime<Utc>, i64)>("after", after.as_deref())?;
        let has_previous = after.is_some();
        let mut rows = db(ctx)?.run(move |conn| store::retention::list_runs(conn, after, limit + 1)).await?;
        let has_next = trim_page(&mut rows, limit);
        let mut connection =
            Connection::with_additional_fields(has_previous, has_next, TotalCount::new(store::retention::count_runs));
        connection.edges.extend(rows.into_iter().map(|row| {
            let cursor = cursor_at((row.started_at, row.id));
            Edge::new(cursor, RetentionRunNode(row))
        }));
        Ok(Some(connection))
    }

    /// The retention periods and schedule this server runs with. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn retention_policy(&self, ctx: &Context<'_>) -> Result<Option<RetentionPolicy>, AppError> {
        let settings = retention_settings(ctx)?;
        let schedule = ctx.data_opt::<RetentionSchedule>().cloned().unwrap_or_default();
        Ok(Some(RetentionPolicy {
            tickets_period_seconds: seconds(settings.tickets),
            interactions_period_seconds: seconds(settings.interactions),
            reports_period_seconds: seconds(settings.reports),
            improvement_actions_period_seconds: seconds(settings.improvement_actions),
            batch_size: i32::try_from(settings.batch_size).unwrap_or(i32::MAX),
            daily_at: schedule.daily_at.map(|at| at.format("%H:%M:%S").to_string()),
            time_zone: schedule.time_zone.name().to_owned(),
            cutoffs_now: Cutoffs::at(Utc::now(), settings)?.into(),
        }))
    }
}

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Removes every record past its retention period now (docs/retention.md), or with
    /// `dryRun: true` only counts them, and answers the run's record once it has finished. A run
    /// that fails part-way answers status FAILED with its error; what its completed batches
    /// removed stays removed. CONFLICT while another run is in progress. A TIMEOUT answer means
    /// the run outlasted the request; it goes on (follow it in `retentionRuns`). ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn run_retention(&self, ctx: &Context<'_>, dry_run: bool) -> Result<Option<RetentionRunNode>, AppError> {
        let subject = caller(ctx)?.subject.clone();
        let settings = retention_settings(ctx)?.clone();
        let run = db(ctx)?.run(move |conn| retention::run(conn, &settings, &subject, dry_run, Utc::now())).await?;
        Ok(Some(RetentionRunNode(run)))
    }
}
