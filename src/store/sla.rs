//! SLA calendars, policies, and the targets each ticket carries (docs/sla.md).
//!
//! The ticket write path calls three functions here: [`apply_on_open`] when a ticket is logged,
//! [`after_transition`] when its status changes, [`reapply`] when its priority changes. Each
//! costs nothing for a ticket no policy covers beyond the one look-up, and returns the timeline
//! event to insert with the change's own events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text, Timestamptz};

use super::plan_once::key_in;
use crate::domain::sla::{self, AppliedPolicy, Calendar, Holiday, OpeningInterval, Segment, SlaState};
use crate::domain::{EventKind, Priority, TicketStatus};
use crate::error::AppError;
use crate::models::{BusinessCalendar, NewTicketEvent, SlaPolicy, SlaPolicyFields, Ticket, TicketSlaRow};
use crate::schema::{business_calendars, sla_policies, ticket_events, ticket_slas, tickets};

/// The actor of the breach events the scheduler records.
pub const BREACH_ACTOR: &str = "scheduler";
/// Breaches recorded per statement: a large import of old history is caught up in batches.
const BREACH_BATCH: i64 = 500;

fn internal(what: &str, err: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("{what}: {err}"))
}

/// A stored calendar as the domain reads it.
pub fn calendar_of(row: &BusinessCalendar) -> Result<Calendar, AppError> {
    let week: [Vec<OpeningInterval>; 7] =
        serde_json::from_value(row.weekly_hours.clone()).map_err(|err| internal("calendar weekly hours", err))?;
    let holidays: Vec<Holiday> =
        serde_json::from_value(row.holidays.clone()).map_err(|err| internal("calendar holidays", err))?;
    let time_zone = row.time_zone.parse().map_err(|err| internal("calendar time zone", err))?;
    Ok(Calendar { time_zone, week, holidays })
}

#[derive(QueryableByName)]
struct CalendarCopy {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    calendar: serde_json::Value,
}

/// Every calendar copy tickets' clocks count in (migration 000022 keeps one row per distinct
/// calendar ever applied), for the SLA KPIs' business time.
pub fn calendar_copies(conn: &mut PgConnection) -> Result<Vec<(i64, Calendar)>, AppError> {
    let rows: Vec<CalendarCopy> = diesel::sql_query("SELECT id, calendar FROM sla_calendar_copies").load(conn)?;
    rows.into_iter()
        .map(|row| {
            let calendar = serde_json::from_value(row.calendar).map_err(|err| internal("calendar copy", err))?;
            Ok((row.id, calendar))
        })
        .collect()
}

/// What a new or edited calendar stores.
pub struct CalendarFields {
    pub name: String,
    pub calendar: Calendar,
}

fn calendar_columns(
    fields: &CalendarFields,
) -> Result<(String, String, serde_json::Value, serde_json::Value), AppError> {
    let week = serde_json::to_value(&fields.calendar.week).map_err(|err| internal("weekly hours", err))?;
    let holidays = serde_json::to_value(&fields.calendar.holidays).map_err(|err| internal("holidays", err))?;
    Ok((fields.name.clone(), fields.calendar.time_zone.name().to_owned(), week, holidays))
}

pub fn calendars(conn: &mut PgConnection) -> Result<Vec<BusinessCalendar>, AppError> {
    Ok(business_calendars::table.order(business_calendars::id).select(BusinessCalendar::as_select()).load(conn)?)
}

pub fn calendars_by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, BusinessCalendar>, AppError> {
    let rows = business_calendars::table
        .filter(business_calendars::id.eq_any(ids))
        .select(BusinessCalendar::as_select())
        .load::<BusinessCalendar>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

pub fn default_calendar(conn: &mut PgConnection) -> Result<BusinessCalendar, AppError> {
    business_calendars::table
        .filter(business_calendars::is_default)
        .select(BusinessCalendar::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::internal("no default business calendar"))
}

pub fn create_calendar(conn: &mut PgConnection, fields: &CalendarFields) -> Result<BusinessCalendar, AppError> {
    let (name, zone, week, holidays) = calendar_columns(fields)?;
    diesel::insert_into(business_calendars::table)
        .values((
            business_calendars::name.eq(name),
            business_calendars::time_zone.eq(zone),
            business_calendars::weekly_hours.eq(week),
            business_calendars::holidays.eq(holidays),
        ))
        .returning(BusinessCalendar::as_returning())
        .get_result(conn)
        .map_err(|err| super::conflict_on_unique(err, "name", "another calendar has this name"))
}

/// Calendar `id`, its row locked for the rest of the transaction.
fn locked_calendar(conn: &mut PgConnection, id: i64) -> Result<BusinessCalendar, AppError> {
    business_calendars::table
        .find(id)
        .for_update()
        .select(BusinessCalendar::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("calendar {id} does not exist")))
}

/// Replaces a calendar's definition if it is still at `expected_version`. Tickets keep the copy
/// they were given; policies count in the new one from now on.
pub fn update_calendar(
    conn: &mut PgConnection,
    id: i64,
    expected_version: i32,
    fields: &CalendarFields,
) -> Result<BusinessCalendar, AppError> {
    let (name, zone, week, holidays) = calendar_columns(fields)?;
    conn.transaction(|conn| {
        let current: BusinessCalendar = locked_calendar(conn, id)?;
        if current.version != expected_version {
            return Err(AppError::Conflict(format!(
                "version: calendar {id} is at version {}, not {expected_version}; reload it and retry",
                current.version
            )));
        }
        diesel::update(business_calendars::table.find(id))
            .set((
                business_calendars::name.eq(name),
                business_calendars::time_zone.eq(zone),
                business_calendars::weekly_hours.eq(week),
                business_calendars::holidays.eq(holidays),
                business_calendars::version.eq(current.version + 1),
                business_calendars::updated_at.eq(Utc::now()),
            ))
            .returning(BusinessCalendar::as_returning())
            .get_result(conn)
            .map_err(|err| super::conflict_on_unique(err, "name", "another calendar has this name"))
    })
}

/// Deletes a calendar no policy counts in; the default one stays.
pub fn delete_calendar(conn: &mut PgConnection, id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let row: BusinessCalendar = locked_calendar(conn, id)?;
        if row.is_default {
            return Err(AppError::Conflict("id: the default calendar cannot be deleted".into()));
        }
        let used: i64 = sla_policies::table.filter(sla_policies::calendar_id.eq(id)).count().get_result(conn)?;
        if used > 0 {
            return Err(AppError::Conflict(format!("id: {used} SLA policies count in calendar {id}")));
        }
        diesel::delete(business_calendars::table.find(id)).execute(conn)?;
        Ok(())
    })
}

pub fn policies(conn: &mut PgConnection) -> Result<Vec<SlaPolicy>, AppError> {
    Ok(sla_policies::table
        .order((sla_policies::priority, sla_policies::category.asc().nulls_first(), sla_policies::id))
        .select(SlaPolicy::as_select())
        .load(conn)?)
}

fn ensure_calendar(conn: &mut PgConnection, id: i64) -> Result<(), AppError> {
    let exists: bool = diesel::select(diesel::dsl::exists(business_calendars::table.find(id))).get_result(conn)?;
    if exists { Ok(()) } else { Err(AppError::NotFound(format!("calendarId: calendar {id} does not exist"))) }
}

const SCOPE_TAKEN: &str = "another policy covers this priority and category";

pub fn create_policy(conn: &mut PgConnection, fields: &SlaPolicyFields) -> Result<SlaPolicy, AppError> {
    conn.transaction(|conn| {
        ensure_calendar(conn, fields.calendar_id)?;
        diesel::insert_into(sla_policies::table)
            .values(fields)
            .returning(SlaPolicy::as_returning())
            .get_result(conn)
            .map_err(|err| super::conflict_on_unique(err, "priority", SCOPE_TAKEN))
    })
}

/// Edits a policy if it is still at `expected_version`; tickets keep what they were given.
pub fn update_policy(
    conn: &mut PgConnection,
    id: i64,
    expected_version: i32,
    fields: &SlaPolicyFields,
) -> Result<SlaPolicy, AppError> {
    conn.transaction(|conn| {
        let version: i32 = sla_policies::table
            .find(id)
            .for_update()
            .select(sla_policies::version)
            .get_result(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("SLA policy {id} does not exist")))?;
        if version != expected_version {
            return Err(AppError::Conflict(format!(
                "version: SLA policy {id} is at version {version}, not {expected_version}; reload it and retry"
            )));
        }
        ensure_calendar(conn, fields.calendar_id)?;
        diesel::update(sla_policies::table.find(id))
            .set((fields, sla_policies::version.eq(version + 1), sla_policies::updated_at.eq(Utc::now())))
            .returning(SlaPolicy::as_returning())
            .get_result(conn)
            .map_err(|err| super::conflict_on_unique(err, "priority", SCOPE_TAKEN))
    })
}

/// Deletes a policy; the tickets that carry it keep their copy.
pub fn delete_policy(conn: &mut PgConnection, id: i64) -> Result<(), AppError> {
    let deleted = diesel::delete(sla_policies::table.find(id)).execute(conn)?;
    if deleted == 0 {
        return Err(AppError::NotFound(format!("SLA policy {id} does not exist")));
    }
    Ok(())
}

/// The policy for a priority and category: the one naming the category, else the priority's
/// policy without category; with its calendar, as a ticket would carry it.
fn policy_for(
    conn: &mut PgConnection,
    priority: Priority,
    category: &str,
) -> Result<Option<(i64, AppliedPolicy)>, AppError> {
    let found: Option<(SlaPolicy, BusinessCalendar)> = sla_policies::table
        .inner_join(business_calendars::table)
        .filter(sla_policies::priority.eq(priority))
        .filter(sla_policies::category.eq(category).or(sla_policies::category.is_null()))
        .order(sla_policies::category.asc().nulls_last())
        .select((SlaPolicy::as_select(), BusinessCalendar::as_select()))
        .first(conn)
        .optional()?;
    let Some((policy, calendar)) = found else { return Ok(None) };
    let applied = AppliedPolicy {
        name: policy.name,
        priority: policy.priority,
        category: policy.category,
        first_response_minutes: policy.first_response_minutes,
        resolution_minutes: policy.resolution_minutes,
        at_risk_percent: policy.at_risk_percent,
        calendar_id: calendar.id,
        calendar: calendar_of(&calendar)?,
        calendar_name: calendar.name,
    };
    Ok(Some((policy.id, applied)))
}

/// A ticket's SLA as the domain reads it.
#[derive(Debug, Clone)]
pub struct TicketSla {
    pub ticket_id: i64,
    pub policy_id: Option<i64>,
    pub policy: AppliedPolicy,
    pub applied_at: DateTime<Utc>,
    pub segments: Vec<Segment>,
    pub instants: sla::ClockInstants,
}

impl TicketSla {
    fn from_row(row: TicketSlaRow) -> Result<TicketSla, AppError> {
        Ok(TicketSla {
            ticket_id: row.ticket_id,
            policy_id: row.policy_id,
            policy: serde_json::from_value(row.policy).map_err(|err| internal("ticket SLA policy", err))?,
            applied_at: row.applied_at,
            segments: serde_json::from_value(row.segments).map_err(|err| internal("ticket SLA segments", err))?,
            instants: sla::ClockInstants {
                first_response_due_at: row.first_response_due_at,
                first_response_risk_at: row.first_response_risk_at,
                resolution_due_at: row.resolution_due_at,
                resolution_risk_at: row.resolution_risk_at,
                resolution_breach_at: row.resolution_breach_at,
            },
        })
    }

    /// The nearest instant a running clock is due: what the SLA_DUE ordering sorts by.
    pub fn next_due(&self, ticket: &Ticket) -> Option<DateTime<Utc>> {
        let first_response = self.instants.first_response_due_at.filter(|_| ticket.first_response_at.is_none());
        let resolution = self.instants.resolution_due_at.filter(|_| sla::resolution_runs(ticket.status));
        match (first_response, resolution) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn row_of(
    ticket_id: i64,
    policy_id: i64,
    policy: &AppliedPolicy,
    applied_at: DateTime<Utc>,
    opened_at: DateTime<Utc>,
    segments: &[Segment],
) -> Result<TicketSlaRow, AppError> {
    let instants = sla::clock_instants(policy, opened_at, segments);
    Ok(TicketSlaRow {
        ticket_id,
        policy_id: Some(policy_id),
        policy: serde_json::to_value(policy).map_err(|err| internal("ticket SLA policy", err))?,
        applied_at,
        segments: serde_json::to_value(segments).map_err(|err| internal("ticket SLA segments", err))?,
        first_response_due_at: instants.first_response_due_at,
        first_response_risk_at: instants.first_response_risk_at,
        resolution_due_at: instants.resolution_due_at,
        resolution_risk_at: instants.resolution_risk_at,
        resolution_breach_at: instants.resolution_breach_at,
        first_response_breach_recorded: false,
        resolution_breach_recorded: false,
    })
}

fn applied_event(
    ticket_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> NewTicketEvent {
    NewTicketEvent {
        ticket_id,
        at,
        actor: actor.to_owned(),
        kind: EventKind::SlaApplied,
        from_value: from.map(str::to_owned),
        to_value: to.map(str::to_owned),
        note: None,
    }
}

/// Gives a new ticket its policy, if one covers it; its resolution clock has run since
/// `opened_at` through `changes` (status changes, for imported history). Returns the
/// SLA_APPLIED event, dated `opened_at`, for the caller to insert with the ticket's own events.
pub fn apply_on_open(
    conn: &mut PgConnection,
    ticket: &Ticket,
    changes: &[(DateTime<Utc>, TicketStatus)],
    actor: &str,
) -> Result<Option<NewTicketEvent>, AppError> {
    let Some((policy_id, policy)) = policy_for(conn, ticket.priority, &ticket.category)? else { return Ok(None) };
    let segments = sla::segments_from_history(ticket.opened_at, changes.iter().copied());
    let row = row_of(ticket.id, policy_id, &policy, ticket.opened_at, ticket.opened_at, &segments)?;
    diesel::insert_into(ticket_slas::table).values(&row).execute(conn)?;
    Ok(Some(applied_event(ticket.id, ticket.opened_at, actor, None, Some(&policy.name))))
}

/// Stops or resumes the resolution clock of `after` (already updated) when its status change
/// does; nothing when the ticket carries no SLA or the clock keeps running or stopped.
pub fn after_transition(
    conn: &mut PgConnection,
    before: TicketStatus,
    after: &Ticket,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    if sla::resolution_runs(before) == sla::resolution_runs(after.status) {
        return Ok(());
    }
    let Some(row) = ticket_slas::table.find(after.id).select(TicketSlaRow::as_select()).get_result(conn).optional()?
    else {
        return Ok(());
    };
    let mut current = TicketSla::from_row(row)?;
    if !sla::apply_status(&mut current.segments, at, after.status) {
        return Ok(());
    }
    let instants = sla::clock_instants(&current.policy, after.opened_at, &current.segments);
    let segments = serde_json::to_value(&current.segments).map_err(|err| internal("ticket SLA segments", err))?;
    diesel::update(ticket_slas::table.find(after.id))
        .set((
            ticket_slas::segments.eq(segments),
            ticket_slas::resolution_due_at.eq(instants.resolution_due_at),
            ticket_slas::resolution_risk_at.eq(instants.resolution_risk_at),
            ticket_slas::resolution_breach_at.eq(instants.resolution_breach_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies the policy that covers `after` (its priority or category just changed) from `at`:
/// the clocks keep counting from opening, in the new policy's calendar against its targets.
/// Returns the SLA_APPLIED event when the policy changes (or is removed).
pub fn reapply(
    conn: &mut PgConnection,
    after: &Ticket,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<Option<NewTicketEvent>, AppError> {
    let current = ticket_slas::table.find(after.id).select(TicketSlaRow::as_select()).get_result(conn).optional()?;
    let current = current.map(TicketSla::from_row).transpose()?;
    let next = policy_for(conn, after.priority, &after.category)?;
    let from = current.as_ref().map(|sla| sla.policy.name.clone());
    let Some((policy_id, policy)) = next else {
        if current.is_none() {
            return Ok(None);
        }
        diesel::delete(ticket_slas::table.find(after.id)).execute(conn)?;
        return Ok(Some(applied_event(after.id, at, actor, from.as_deref(), None)));
    };
    let segments = match current {
        Some(sla) => sla.segments,
        None => segments_from_timeline(conn, after)?,
    };
    let row = row_of(after.id, policy_id, &policy, at, after.opened_at, &segments)?;
    diesel::insert_into(ticket_slas::table)
        .values(&row)
        .on_conflict(ticket_slas::ticket_id)
        .do_update()
        .set(&row)
        .execute(conn)?;
    Ok(Some(applied_event(after.id, at, actor, from.as_deref(), Some(&policy.name))))
}

/// The resolution clock's segments from a ticket's status events.
fn segments_from_timeline(conn: &mut PgConnection, ticket: &Ticket) -> Result<Vec<Segment>, AppError> {
    let changes: Vec<(DateTime<Utc>, Option<String>)> = ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket.id))
        .filter(ticket_events::kind.eq_any([EventKind::StatusChanged, EventKind::Reopened]))
        .order((ticket_events::at, ticket_events::id))
        .select((ticket_events::at, ticket_events::to_value))
        .load(conn)?;
    let changes = changes.into_iter().filter_map(|(at, to)| Some((at, to?.parse::<TicketStatus>().ok()?)));
    Ok(sla::segments_from_history(ticket.opened_at, changes))
}

pub fn by_ticket_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, TicketSla>, AppError> {
    let rows = ticket_slas::table
        .filter(key_in(ticket_slas::ticket_id, ids))
        .select(TicketSlaRow::as_select())
        .load::<TicketSlaRow>(conn)?;
    rows.into_iter().map(|row| Ok((row.ticket_id, TicketSla::from_row(row)?))).collect()
}

/// The SLA_DUE ordering's key in SQL: the same as [`TicketSla::next_due`].
pub const NEXT_DUE_SQL: &str = "(SELECT LEAST(\
     CASE WHEN tickets.first_response_at IS NULL THEN s.first_response_due_at END, \
     CASE WHEN tickets.status IN ('OPEN', 'IN_PROGRESS') THEN s.resolution_due_at END) \
     FROM ticket_slas s WHERE s.ticket_id = tickets.id)";

/// The rows after `(due, id)` in the SLA_DUE ordering: ascending with no due last, descending
/// (its exact reverse) with no due first.
pub fn after_due(
    due: Option<DateTime<Utc>>,
    id: i64,
    descending: bool,
) -> Box<dyn BoxableExpression<tickets::table, Pg, SqlType = Bool>> {
    let next = NEXT_DUE_SQL;
    match (due, descending) {
        (Some(due), false) => Box::new(
            sql::<Bool>(&format!("({next} > "))
                .bind::<Timestamptz, _>(due)
                .sql(&format!(" OR ({next} = "))
                .bind::<Timestamptz, _>(due)
                .sql(" AND tickets.id > ")
                .bind::<diesel::sql_types::BigInt, _>(id)
                .sql(&format!(") OR {next} IS NULL)")),
        ),
        (None, false) => Box::new(
            sql::<Bool>(&format!("({next} IS NULL AND tickets.id > "))
                .bind::<diesel::sql_types::BigInt, _>(id)
                .sql(")"),
        ),
        (Some(due), true) => Box::new(
            sql::<Bool>(&format!("({next} < "))
                .bind::<Timestamptz, _>(due)
                .sql(&format!(" OR ({next} = "))
                .bind::<Timestamptz, _>(due)
                .sql(" AND tickets.id < ")
                .bind::<diesel::sql_types::BigInt, _>(id)
                .sql("))"),
        ),
        (None, true) => Box::new(
            sql::<Bool>(&format!("({next} IS NOT NULL OR tickets.id < "))
                .bind::<diesel::sql_types::BigInt, _>(id)
                .sql(")"),
        ),
    }
}

/// Tickets whose SLA state at `now` is one of `states` (the same rules as domain::sla, in the
/// migration's SQL functions).
pub fn state_filter(
    states: &[SlaState],
    now: DateTime<Utc>,
) -> Box<dyn BoxableExpression<tickets::table, Pg, SqlType = Bool>> {
    let names: Vec<String> = states.iter().map(|state| state.as_str().to_owned()).collect();
    Box::new(
        sql::<Bool>(
            "EXISTS (SELECT 1 FROM ticket_slas s WHERE s.ticket_id = tickets.id AND sla_overall_state(\
             sla_first_response_state(s.first_response_due_at, s.first_response_risk_at, tickets.first_response_at, ",
        )
        .bind::<Timestamptz, _>(now)
        .sql("), sla_resolution_state(s.resolution_breach_at, s.resolution_risk_at, tickets.status, ")
        .bind::<Timestamptz, _>(now)
        .sql(")) = ANY(")
        .bind::<Array<Text>, _>(names)
        .sql("))"),
    )
}

/// One clock of one ticket whose breach was just recorded.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct RecordedBreach {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub ticket_id: i64,
    #[diesel(sql_type = Text)]
    pub clock: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
}

/// Records, once per clock and ticket, every breach that has happened by `now` as an
/// SLA_BREACHED event dated at the breach. Each statement marks the clocks it takes and
/// inserts their events together; rows another instance holds are skipped, and a row it
/// committed no longer matches, so two schedulers never record one breach twice.
pub fn record_breaches(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<RecordedBreach>, AppError> {
    let first_response = "WITH due AS (\
            SELECT s.ticket_id FROM ticket_slas s JOIN tickets t ON t.id = s.ticket_id \
            WHERE NOT s.first_response_breach_recorded \
              AND s.first_response_due_at < COALESCE(t.first_response_at, $1) \
            ORDER BY s.first_response_due_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED), \
        marked AS (\
            UPDATE ticket_slas s SET first_response_breach_recorded = true FROM due \
            WHERE s.ticket_id = due.ticket_id \
            RETURNING s.ticket_id, s.first_response_due_at AS at, s.policy->>'name' AS policy) \
        INSERT INTO ticket_events (ticket_id, at, actor, kind, to_value, note) \
        SELECT ticket_id, at, $3, 'SLA_BREACHED', 'FIRST_RESPONSE', policy FROM marked \
        RETURNING ticket_id, to_value AS clock, at";
    let resolution = "WITH due AS (\
            SELECT s.ticket_id FROM ticket_slas s \
            WHERE NOT s.resolution_breach_recorded AND s.resolution_breach_at < $1 \
            ORDER BY s.resolution_breach_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED), \
        marked AS (\
            UPDATE ticket_slas s SET resolution_breach_recorded = true FROM due \
            WHERE s.ticket_id = due.ticket_id \
            RETURNING s.ticket_id, s.resolution_breach_at AS at, s.policy->>'name' AS policy) \
        INSERT INTO ticket_events (ticket_id, at, actor, kind, to_value, note) \
        SELECT ticket_id, at, $3, 'SLA_BREACHED', 'RESOLUTION', policy FROM marked \
        RETURNING ticket_id, to_value AS clock, at";
    let mut recorded = Vec::new();
    for statement in [first_response, resolution] {
        loop {
            let batch: Vec<RecordedBreach> = diesel::sql_query(statement)
                .bind::<Timestamptz, _>(now)
                .bind::<diesel::sql_types::BigInt, _>(BREACH_BATCH)
                .bind::<Text, _>(BREACH_ACTOR)
                .load(conn)?;
            let done = (batch.len() as i64) < BREACH_BATCH;
            recorded.extend(batch);
            if done {
                break;
            }
        }
    }
    Ok(recorded)
}
