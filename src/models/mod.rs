//! Row structs: what a table row is in Rust. They are never the wire type; the GraphQL layer
//! wraps them in its own objects.

mod retention;
mod sla;

pub use retention::{NewRetentionRun, RetentionRun};
pub use sla::{BusinessCalendar, SlaPolicy, SlaPolicyFields, TicketSlaRow};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::improvement::{ActionKind, ActionStatus};
use crate::domain::kpi::KpiMetric;
use crate::domain::lifecycle::LifecycleState;
use crate::domain::report::{ReportKind, ReportTrigger};
use crate::domain::{Direction, EventKind, InteractionChannel, Priority, RatingSource, TicketChannel, TicketStatus};
use crate::schema::{
    customers, improvement_action_changes, improvement_actions, interactions, performance_reports,
    satisfaction_ratings, technicians, ticket_events, tickets, token_revocations,
};

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = technicians, check_for_backend(diesel::pg::Pg))]
pub struct Technician {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub team: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subject's revocation instant: its tokens issued before `not_before` are refused.
#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = token_revocations, check_for_backend(diesel::pg::Pg))]
pub struct TokenRevocation {
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub revoked_by: String,
    pub revoked_at: DateTime<Utc>,
}

#[derive(Insertable, Debug)]
#[diesel(table_name = technicians)]
pub struct NewTechnician {
    pub name: String,
    pub email: String,
    pub team: String,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = customers)]
pub struct NewCustomer {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub subject: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub channel: TicketChannel,
    pub status: TicketStatus,
    pub assignee_id: Option<i64>,
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_resolved_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    pub version: i32,
    pub external_ref: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Ticket {
    pub fn lifecycle(&self) -> LifecycleState {
        LifecycleState {
            status: self.status,
            first_response_at: self.first_response_at,
            first_resolved_at: self.first_resolved_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            reopen_count: self.reopen_count,
        }
    }
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = tickets)]
pub struct NewTicket {
    pub customer_id: i64,
    pub subject: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub channel: TicketChannel,
    pub assignee_id: Option<i64>,
    pub opened_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = ticket_events, check_for_backend(diesel::pg::Pg))]
pub struct TicketEvent {
    pub id: i64,
    pub ticket_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: EventKind,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub note: Option<String>,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = ticket_events)]
pub struct NewTicketEvent {
    pub ticket_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: EventKind,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub note: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = interactions, check_for_backend(diesel::pg::Pg))]
pub struct Interaction {
    pub id: i64,
    pub customer_id: i64,
    pub ticket_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub occurred_at: DateTime<Utc>,
    pub duration_seconds: Option<i32>,
    pub summary: String,
    pub corrects_id: Option<i64>,
    pub logged_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = interactions)]
pub struct NewInteraction {
    pub customer_id: i64,
    pub ticket_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub occurred_at: DateTime<Utc>,
    pub duration_seconds: Option<i32>,
    pub summary: String,
    pub corrects_id: Option<i64>,
    pub logged_by: String,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = satisfaction_ratings, check_for_backend(diesel::pg::Pg))]
pub struct SatisfactionRating {
    pub id: i64,
    pub ticket_id: i64,
    pub rating: i16,
    pub comment: Option<String>,
    pub source: RatingSource,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = satisfaction_ratings)]
pub struct NewSatisfactionRating {
    pub ticket_id: i64,
    pub rating: i16,
    pub comment: Option<String>,
    pub source: RatingSource,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    /// None for the current rating; an imported earlier rating is superseded already.
    pub superseded_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = performance_reports, check_for_backend(diesel::pg::Pg))]
pub struct PerformanceReport {
    pub id: i64,
    pub kind: ReportKind,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub time_zone: String,
    pub version: i32,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub trigger: ReportTrigger,
    /// A [`crate::domain::report::ReportSnapshot`] as JSON.
    pub snapshot: serde_json::Value,
}

#[derive(Insertable, Debug)]
#[diesel(table_name = performance_reports)]
pub struct NewPerformanceReport {
    pub kind: ReportKind,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub time_zone: String,
    pub version: i32,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub trigger: ReportTrigger,
    pub snapshot: serde_json::Value,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = improvement_actions, check_for_backend(diesel::pg::Pg))]
pub struct ImprovementAction {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub kind: ActionKind,
    pub target_metric: KpiMetric,
    pub target_value: f64,
    pub baseline_value: Option<f64>,
    pub baseline_from: DateTime<Utc>,
    pub baseline_to: DateTime<Utc>,
    pub owner: String,
    pub due_date: Option<chrono::NaiveDate>,
    pub status: ActionStatus,
    pub outcome_notes: Option<String>,
    pub source_report_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// The metric after completion, once its window has passed (see `outcome_measured_at`).
    pub outcome_value: Option<f64>,
    pub outcome_measured_at: Option<DateTime<Utc>>,
    /// A [`crate::store::kpis::KpiFilter`] as JSON: the part of the team the action targets.
    pub scope: serde_json::Value,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = improvement_actions)]
pub struct NewImprovementAction {
    pub title: String,
    pub description: String,
    pub kind: ActionKind,
    pub target_metric: KpiMetric,
    pub target_value: f64,
    pub baseline_value: Option<f64>,
    pub baseline_from: DateTime<Utc>,
    pub baseline_to: DateTime<Utc>,
    pub owner: String,
    pub due_date: Option<chrono::NaiveDate>,
    pub source_report_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scope: serde_json::Value,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = improvement_action_changes, check_for_backend(diesel::pg::Pg))]
pub struct ImprovementActionChange {
    pub id: i64,
    pub action_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub field: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = improvement_action_changes)]
pub struct NewImprovementActionChange {
    pub action_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub field: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
}
