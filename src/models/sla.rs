//! Rows of the SLA tables: calendars, policies and what each ticket carries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::Priority;
use crate::schema::{business_calendars, sla_policies, ticket_slas};

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = business_calendars, check_for_backend(diesel::pg::Pg))]
pub struct BusinessCalendar {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub weekly_hours: serde_json::Value,
    pub holidays: serde_json::Value,
    pub is_default: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = sla_policies, check_for_backend(diesel::pg::Pg))]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    pub priority: Priority,
    pub category: Option<String>,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub at_risk_percent: i16,
    pub calendar_id: i64,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset, Debug, Clone)]
#[diesel(table_name = sla_policies)]
pub struct SlaPolicyFields {
    pub name: String,
    pub priority: Priority,
    pub category: Option<String>,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub at_risk_percent: i16,
    pub calendar_id: i64,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Identifiable, Debug, Clone)]
#[diesel(table_name = ticket_slas, primary_key(ticket_id), check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_null = true)]
pub struct TicketSlaRow {
    pub ticket_id: i64,
    pub policy_id: Option<i64>,
    pub policy: serde_json::Value,
    pub applied_at: DateTime<Utc>,
    pub segments: serde_json::Value,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_risk_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub resolution_risk_at: Option<DateTime<Utc>>,
    pub resolution_breach_at: Option<DateTime<Utc>>,
    pub first_response_breach_recorded: bool,
    pub resolution_breach_recorded: bool,
}
