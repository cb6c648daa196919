//! Retention runs: one row per run, dry or not.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::retention::RetentionRunStatus;
use crate::schema::retention_runs;

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = retention_runs, check_for_backend(diesel::pg::Pg))]
pub struct RetentionRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub triggered_by: String,
    pub status: RetentionRunStatus,
    pub tickets_closed_before: DateTime<Utc>,
    pub interactions_before: DateTime<Utc>,
    pub reports_generated_before: DateTime<Utc>,
    pub actions_ended_before: DateTime<Utc>,
    pub tickets_removed: i64,
    pub ticket_events_removed: i64,
    pub ratings_removed: i64,
    pub interactions_removed: i64,
    pub reports_removed: i64,
    pub improvement_actions_removed: i64,
    pub error: Option<String>,
}

/// A run as it starts: status RUNNING, every count 0.
#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = retention_runs)]
pub struct NewRetentionRun {
    pub started_at: DateTime<Utc>,
    pub dry_run: bool,
    pub triggered_by: String,
    pub tickets_closed_before: DateTime<Utc>,
    pub interactions_before: DateTime<Utc>,
    pub reports_generated_before: DateTime<Utc>,
    pub actions_ended_before: DateTime<Utc>,
}
