//! Tickets and their events. Every change locks the ticket's row, checks the caller's version,
//! and writes its event in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::contains_pattern;
use crate::auth::Caller;
use crate::domain::lifecycle::{self, LifecycleState};
use crate::domain::permissions;
use crate::domain::sla::SlaState;
use crate::domain::{EventKind, Priority, TicketChannel, TicketStatus};
use crate::error::AppError;
use crate::models::{NewCustomer, NewTicket, NewTicketEvent, Ticket, TicketEvent};
use crate::schema::{customers, technicians, ticket_events, tickets};

/// The customer of a new ticket: an existing one, or one created with the ticket.
pub enum CustomerRef {
    Existing(i64),
    New(NewCustomer),
}

/// Creates a ticket (and its customer, when new) with its CREATED event, and an ASSIGNED event
/// when it starts assigned. Both events are dated `opened_at`.
pub fn create(
    conn: &mut PgConnection,
    customer: CustomerRef,
    mut ticket: NewTicket,
    actor: &str,
) -> Result<Ticket, AppError> {
    conn.transaction(|conn| {
        ticket.customer_id = match customer {
            CustomerRef::Existing(id) => {
                let exists: bool = diesel::select(diesel::dsl::exists(customers::table.find(id))).get_result(conn)?;
                if !exists {
                    return Err(AppError::NotFound(format!("customerId: customer {id} does not exist")));
                }
                id
            }
            CustomerRef::New(new) => super::customers::create(conn, &new)?.id,
        };
        if let Some(assignee) = ticket.assignee_id {
            ensure_assignable(conn, "assigneeId", assignee)?;
        }
        let created: Ticket =
            diesel::insert_into(tickets::table).values(&ticket).returning(Ticket::as_returning()).get_result(conn)?;
        let mut events = vec![event(&created, created.opened_at, actor, EventKind::Created, None, Some("OPEN"), None)];
        if let Some(assignee) = created.assignee_id {
            let to = assignee.to_string();
            events.push(event(&created, created.opened_at, actor, EventKind::Assigned, None, Some(&to), None));
        }
        events.extend(super::sla::apply_on_open(conn, &created, &[], actor)?);
        diesel::insert_into(ticket_events::table).values(&events).execute(conn)?;
        Ok(created)
    })
}

fn event(
    ticket: &Ticket,
    at: DateTime<Utc>,
    actor: &str,
    kind: EventKind,
    from: Option<&str>,
    to: Option<&str>,
    note: Option<&str>,
) -> NewTicketEvent {
    NewTicketEvent {
        ticket_id: ticket.id,
        at,
        actor: actor.to_owned(),
        kind,
        from_value: from.map(str::to_owned),
        to_value: to.map(str::to_owned),
        note: note.map(str::to_owned),
    }
}

/// Only active technicians take tickets.
fn ensure_assignable(conn: &mut PgConnection, field: &str, technician_id: i64) -> Result<(), AppError> {
    let active: Option<bool> =
        technicians::table.find(technician_id).select(technicians::active).first(conn).optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::bad_input(field, format!("technician {technician_id} is deactivated"))),
        None => Err(AppError::NotFound(format!("{field}: technician {technician_id} does not exist"))),
    }
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Ticket, AppError> {
    tickets::table
        .find(id)
        .select(Ticket::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} does not exist")))
}

pub fn find_by_number(conn: &mut PgConnection, number: &str) -> Result<Option<Ticket>, AppError> {
    Ok(tickets::table.filter(tickets::number.eq(number)).select(Ticket::as_select()).first(conn).optional()?)
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Ticket>, AppError> {
    let rows = tickets::table.filter(tickets::id.eq_any(ids)).select(Ticket::as_select()).load::<Ticket>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// The events of each ticket, in order.
pub fn events_of(conn: &mut PgConnection, ticket_ids: &[i64]) -> Result<HashMap<i64, Vec<TicketEvent>>, AppError> {
    let rows = ticket_events::table
        .filter(ticket_events::ticket_id.eq_any(ticket_ids))
        .order((ticket_events::ticket_id, ticket_events::at, ticket_events::id))
        .select(TicketEvent::as_select())
        .load::<TicketEvent>(conn)?;
    let mut by_ticket: HashMap<i64, Vec<TicketEvent>> = HashMap::new();
    for row in rows {
        by_ticket.entry(row.ticket_id).or_default().push(row);
    }
    Ok(by_ticket)
}

/// What one change does, decided after the ticket is locked and the version checked.
pub enum Change {
    Transition { to: TicketStatus },
    Assign { assignee_id: Option<i64> },
    Priority { priority: Priority },
    Note,
}

/// Applies `change` to ticket `id` if it is still at `expected_version` and the caller may make
/// it; writes the event in the same transaction and returns the ticket after the change.
///
/// The change is dated once the ticket's row is locked, so a ticket's events are dated in the
/// order they happened (also against ratings, which take the same lock without a version).
pub fn change(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    expected_version: i32,
    change: Change,
    note: Option<String>,
) -> Result<Ticket, AppError> {
    conn.transaction(|conn| {
        let ticket: Ticket = tickets::table
            .find(id)
            .for_update()
            .select(Ticket::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("ticket {id} does not exist")))?;
        let now = Utc::now();
        if ticket.version != expected_version {
            return Err(AppError::Conflict(format!(
                "version: ticket {} is at version {}, not {expected_version}; reload it and retry",
                ticket.number, ticket.version
            )));
        }
        match &change {
            Change::Assign { assignee_id } => permissions::may_assign(caller, ticket.assignee_id, *assignee_id)?,
            _ => permissions::may_change_ticket(caller, ticket.assignee_id)?,
        }
        let actor = caller.subject.as_str();
        let note = note.as_deref();
        let bumped = (tickets::version.eq(ticket.version + 1), tickets::updated_at.eq(now));
        let target = diesel::update(tickets::table.find(id));
        let mut sla_event = None;
        let (updated, new_event): (Ticket, NewTicketEvent) = match change {
            Change::Transition { to } => {
                let (next, kind) = lifecycle::transition(&ticket.lifecycle(), to, now)
                    .map_err(|invalid| AppError::bad_input("to", invalid.to_string()))?;
                let updated = target
                    .set((lifecycle_columns(&next), bumped))
                    .returning(Ticket::as_returning())
                    .get_result(conn)?;
                super::sla::after_transition(conn, ticket.status, &updated, now)?;
                let from = ticket.status.as_str();
                (updated, event(&ticket, now, actor, kind, Some(from), Some(to.as_str()), note))
            }
            Change::Assign { assignee_id } => {
                if let Some(assignee) = assignee_id {
                    ensure_assignable(conn, "assigneeId", assignee)?;
                }
                let updated = target
                    .set((tickets::assignee_id.eq(assignee_id), bumped))
                    .returning(Ticket::as_returning())
                    .get_result(conn)?;
                let from = ticket.assignee_id.map(|id| id.to_string());
                let to = assignee_id.map(|id| id.to_string());
                (updated, event(&ticket, now, actor, EventKind::Assigned, from.as_deref(), to.as_deref(), note))
            }
            Change::Priority { priority } => {
                let updated = target
                    .set((tickets::priority.eq(priority), bumped))
                    .returning(Ticket::as_returning())
                    .get_result(conn)?;
                sla_event = super::sla::reapply(conn, &updated, now, actor)?;
                let (from, to) = (ticket.priority.as_str(), priority.as_str());
                (updated, event(&ticket, now, actor, EventKind::PriorityChanged, Some(from), Some(to), note))
            }
            Change::Note => {
                if note.is_none() {
                    return Err(AppError::bad_input("note", "must not be empty"));
                }
                let updated = target.set(bumped).returning(Ticket::as_returning()).get_result(conn)?;
                (updated, event(&ticket, now, actor, EventKind::NoteAdded, None, None, note))
            }
        };
        match sla_event {
            None => diesel::insert_into(ticket_events::table).values(&new_event).execute(conn)?,
            Some(sla_event) => {
                diesel::insert_into(ticket_events::table).values(&[new_event, sla_event]).execute(conn)?
            }
        };
        Ok(updated)
    })
}

#[allow(clippy::type_complexity)]
fn lifecycle_columns(
    state: &LifecycleState,
) -> (
    diesel::dsl::Eq<tickets::status, TicketStatus>,
    diesel::dsl::Eq<tickets::first_response_at, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<tickets::first_resolved_at, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<tickets::resolved_at, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<tickets::closed_at, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<tickets::reopen_count, i32>,
) {
    (
        tickets::status.eq(state.status),
        tickets::first_response_at.eq(state.first_response_at),
        tickets::first_resolved_at.eq(state.first_resolved_at),
        tickets::resolved_at.eq(state.resolved_at),
        tickets::closed_at.eq(state.closed_at),
        tickets::reopen_count.eq(state.reopen_count),
    )
}

/// Which assignee a list asks for.
#[derive(Debug, Clone, Copy, Default)]
pub enum AssigneeFilter {
    #[default]
    Any,
    Unassigned,
    Technician(i64),
}

/// A ticket list's filters; empty lists and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub assignee: AssigneeFilter,
    pub customer_id: Option<i64>,
    pub category: Option<String>,
    pub priorities: Vec<Priority>,
    pub channels: Vec<TicketChannel>,
    pub opened_from: Option<DateTime<Utc>>,
    pub opened_to: Option<DateTime<Utc>>,
    pub resolved_from: Option<DateTime<Utc>>,
    pub resolved_to: Option<DateTime<Utc>>,
    pub search: Option<String>,
    /// SLA states at `sla_at` (default: when the list runs).
    pub sla_states: Vec<SlaState>,
    pub sla_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSort {
    OpenedAt,
    UpdatedAt,
    Priority,
    /// The nearest due instant of a running SLA clock; tickets without one last.
    SlaDue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketOrder {
    pub sort: TicketSort,
    pub descending: bool,
}

/// The sort key of the last ticket of a page: the next page starts after (key, id).
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Time(DateTime<Utc>),
    Rank(i16),
    Due(Option<DateTime<Utc>>),
}

pub fn sort_key(ticket: &Ticket, sort: TicketSort) -> SortKey {
    match sort {
        TicketSort::OpenedAt => SortKey::Time(ticket.opened_at),
        TicketSort::UpdatedAt => SortKey::Time(ticket.updated_at),
        TicketSort::Priority => SortKey::Rank(priority_rank(ticket.priority)),
        // Kept with the ticket's SLA, not on the ticket: the caller reads it from there.
        TicketSort::SlaDue => SortKey::Due(None),
    }
}

/// The same ranks as the generated column tickets.priority_rank.
pub fn priority_rank(priority: Priority) -> i16 {
    match priority {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// One page of tickets in `order`, starting after `after`; `limit` rows.
pub fn list(
    conn: &mut PgConnection,
    filter: &TicketFilter,
    order: TicketOrder,
    after: Option<&(SortKey, i64)>,
    limit: i64,
) -> Result<Vec<Ticket>, AppError> {
    let mut query = filtered(filter).select(Ticket::as_select());
    if let Some((key, id)) = after {
        let id = *id;
        query = match (order.sort, key, order.descending) {
            (TicketSort::OpenedAt, SortKey::Time(at), false) => {
                query.filter(tickets::opened_at.gt(*at).or(tickets::opened_at.eq(*at).and(tickets::id.gt(id))))
            }
            (TicketSort::OpenedAt, SortKey::Time(at), true) => {
                query.filter(tickets::opened_at.lt(*at).or(tickets::opened_at.eq(*at).and(tickets::id.lt(id))))
            }
            (TicketSort::UpdatedAt, SortKey::Time(at), false) => {
                query.filter(tickets::updated_at.gt(*at).or(tickets::updated_at.eq(*at).and(tickets::id.gt(id))))
            }
            (TicketSort::UpdatedAt, SortKey::Time(at), true) => {
                query.filter(tickets::updated_at.lt(*at).or(tickets::updated_at.eq(*at).and(tickets::id.lt(id))))
            }
            (TicketSort::Priority, SortKey::Rank(rank), false) => query
                .filter(tickets::priority_rank.gt(*rank).or(tickets::priority_rank.eq(*rank).and(tickets::id.gt(id)))),
            (TicketSort::Priority, SortKey::Rank(rank), true) => query
                .filter(tickets::priority_rank.lt(*rank).or(tickets::priority_rank.eq(*rank).and(tickets::id.lt(id)))),
            (TicketSort::SlaDue, SortKey::Due(due), descending) => {
                query.filter(super::sla::after_due(*due, id, descending))
            }
            _ => return Err(AppError::bad_input("after", "the cursor belongs to another ordering")),
        };
    }
    query = match (order.sort, order.descending) {
        (TicketSort::OpenedAt, false) => query.order((tickets::opened_at.asc(), tickets::id.asc())),
        (TicketSort::OpenedAt, true) => query.order((tickets::opened_at.desc(), tickets::id.desc())),
        (TicketSort::UpdatedAt, false) => query.order((tickets::updated_at.asc(), tickets::id.asc())),
        (TicketSort::UpdatedAt, true) => query.order((tickets::updated_at.desc(), tickets::id.desc())),
        (TicketSort::Priority, false) => query.order((tickets::priority_rank.asc(), tickets::id.asc())),
        (TicketSort::Priority, true) => query.order((tickets::priority_rank.desc(), tickets::id.desc())),
        (TicketSort::SlaDue, false) => query.order((super::sla::next_due().asc().nulls_last(), tickets::id.asc())),
        (TicketSort::SlaDue, true) => query.order((super::sla::next_due().desc().nulls_first(), tickets::id.desc())),
    };
    Ok(query.limit(limit).load(conn)?)
}

pub fn count(conn: &mut PgConnection, filter: &TicketFilter) -> Result<i64, AppError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

fn filtered(filter: &TicketFilter) -> tickets::BoxedQuery<'static, Pg> {
    let mut query = tickets::table.into_boxed();
    if !filter.statuses.is_empty() {
        query = query.filter(tickets::status.eq_any(filter.statuses.clone()));
    }
    query = match filter.assignee {
        AssigneeFilter::Any => query,
        AssigneeFilter::Unassigned => query.filter(tickets::assignee_id.is_null()),
        AssigneeFilter::Technician(id) => query.filter(tickets::assignee_id.eq(id)),
    };
    if let Some(customer) = filter.customer_id {
        query = query.filter(tickets::customer_id.eq(customer));
    }
    if let Some(category) = &filter.category {
        query = query.filter(tickets::category.eq(category.clone()));
    }
    if !filter.priorities.is_empty() {
        query = query.filter(tickets::priority.eq_any(filter.priorities.clone()));
    }
    if !filter.channels.is_empty() {
        query = query.filter(tickets::channel.eq_any(filter.channels.clone()));
    }
    if let Some(from) = filter.opened_from {
        query = query.filter(tickets::opened_at.ge(from));
    }
    if let Some(to) = filter.opened_to {
        query = query.filter(tickets::opened_at.lt(to));
    }
    if let Some(from) = filter.resolved_from {
        query = query.filter(tickets::resolved_at.ge(from));
    }
    if let Some(to) = filter.resolved_to {
        query = query.filter(tickets::resolved_at.lt(to));
    }
    if let Some(search) = &filter.search {
        // The same expression as the trigram index tickets_text_search_idx.
        query = query.filter(
            diesel::dsl::sql::<Bool>("(tickets.subject || ' ' || tickets.description) ILIKE ")
                .bind::<Text, _>(contains_pattern(search)),
        );
    }
    if !filter.sla_states.is_empty() {
        query = query.filter(super::sla::state_filter(&filter.sla_states, filter.sla_at.unwrap_or_else(Utc::now)));
    }
    query
}
