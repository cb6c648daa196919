//! Tickets and their events. A change is decided against the ticket as read and written by one
//! statement that locks the row, checks that the ticket is still at that version and writes the
//! event with it (`ticket_apply_change`, migration 000017).

use std::collections::HashMap;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use diesel::expression::TypedExpressionType;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, SmallInt, SqlType, Text, Timestamptz};

use super::contains_pattern;
use super::plan_once::{FixedSql, LiteralLimit, RowLimit, RowsAfter, key_in, one_of};
use crate::auth::Caller;
use crate::domain::lifecycle::{self, LifecycleState};
use crate::domain::permissions;
use crate::domain::sla::{self, SlaState};
use crate::domain::{EventKind, Priority, TicketChannel, TicketStatus};
use crate::error::AppError;
use crate::models::{Customer, NewCustomer, NewTicket, Technician, Ticket, TicketEvent};
use crate::schema::{technicians, ticket_events, ticket_slas, tickets};

/// The customer of a new ticket: an existing one, or one created with the ticket.
pub enum CustomerRef {
    Existing(i64),
    New(NewCustomer),
}

diesel::define_sql_function! {
    /// Migrations 000017 and 000024: opens a ticket with its events; (id, number, created_at,
    /// updated_at, refused). With `uncovered_only`, refuses ('covered') a ticket a policy covers.
    #[allow(clippy::too_many_arguments)]
    fn ticket_open(
        customer_id: BigInt,
        subject: Text,
        description: Text,
        category: Text,
        priority: Text,
        channel: Text,
        assignee_id: Nullable<BigInt>,
        opened_at: Timestamptz,
        actor: Text,
        uncovered_only: Bool,
    ) -> Record<(Nullable<BigInt>, Nullable<Text>, Nullable<Timestamptz>, Nullable<Timestamptz>, Nullable<Text>)>;
}

diesel::define_sql_function! {
    /// Migration 000017: applies one change if the ticket is as read; the instant it is dated,
    /// or NULL.
    #[allow(clippy::too_many_arguments)]
    fn ticket_apply_change(
        id: BigInt,
        read_version: Integer,
        read_first_response_at: Nullable<Timestamptz>,
        status: Text,
        first_response_at: Nullable<Timestamptz>,
        first_resolved_at: Nullable<Timestamptz>,
        resolved_at: Nullable<Timestamptz>,
        closed_at: Nullable<Timestamptz>,
        reopen_count: Integer,
        assignee_id: Nullable<BigInt>,
        priority: Text,
        at: Timestamptz,
        actor: Text,
        kind: Text,
        from_value: Nullable<Text>,
        to_value: Nullable<Text>,
        note: Nullable<Text>,
    ) -> Nullable<Timestamptz>;
}

/// What `ticket_open` answers.
type Opened = (Option<i64>, Option<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);

/// Creates a ticket (and its customer, when new) with its CREATED event, and an ASSIGNED event
/// when it starts assigned. Both events are dated `opened_at`. A ticket for an existing customer
/// is first offered to `ticket_open` on its own: when no SLA policy covers it, that one statement
/// (planned once per connection) checks, writes the ticket and its events. Otherwise the customer,
/// the ticket, its SLA and its SLA_APPLIED event are written in one transaction.
pub fn create(
    conn: &mut PgConnection,
    customer: CustomerRef,
    mut ticket: NewTicket,
    actor: &str,
) -> Result<Ticket, AppError> {
    if let CustomerRef::Existing(id) = customer {
        ticket.customer_id = id;
        match open(conn, ticket, actor, Coverage::UncoveredOnly)? {
            Opening::Opened(created) => return Ok(created),
            Opening::Covered(covered) => ticket = covered,
        }
    }
    conn.transaction(|conn| {
        if let CustomerRef::New(new) = customer {
            ticket.customer_id = super::customers::create(conn, &new)?.id;
        }
        let created = match open(conn, ticket, actor, Coverage::Any)? {
            Opening::Opened(created) => created,
            Opening::Covered(_) => {
                return Err(AppError::internal("ticket_open refused a covered ticket it was to open"));
            }
        };
        if let Some(applied) = super::sla::apply_on_open(conn, &created, &[], actor)? {
            diesel::insert_into(ticket_events::table).values(&applied).execute(conn)?;
        }
        Ok(created)
    })
}

/// Which tickets `ticket_open` may open.
#[derive(Clone, Copy, PartialEq)]
enum Coverage {
    /// Only a ticket no SLA policy covers; a covered one is handed back, to be opened with its
    /// SLA in a transaction.
    UncoveredOnly,
    /// Any ticket (inside that transaction).
    Any,
}

/// What `ticket_open` did: opened the ticket, or handed it back because a policy covers it.
enum Opening {
    Opened(Ticket),
    Covered(NewTicket),
}

/// `ticket_open` for a ticket whose customer is set.
fn open(conn: &mut PgConnection, ticket: NewTicket, actor: &str, coverage: Coverage) -> Result<Opening, AppError> {
    let (id, number, created_at, updated_at, refused): Opened = diesel::select(ticket_open(
        ticket.customer_id,
        &ticket.subject,
        &ticket.description,
        &ticket.category,
        ticket.priority,
        ticket.channel,
        ticket.assignee_id,
        ticket.opened_at,
        actor,
        coverage == Coverage::UncoveredOnly,
    ))
    .get_result(conn)?;
    match (refused.as_deref(), ticket.assignee_id) {
        (Some("covered"), _) => Ok(Opening::Covered(ticket)),
        (Some("customer"), _) => {
            Err(AppError::NotFound(format!("customerId: customer {} does not exist", ticket.customer_id)))
        }
        (Some(refusal), Some(assignee)) => Err(unassignable("assigneeId", assignee, refusal == "deactivated")),
        (Some(refusal), None) => {
            Err(AppError::internal(format!("ticket_open refused {refusal:?} without an assignee")))
        }
        (None, _) => match (id, number, created_at, updated_at) {
            (Some(id), Some(number), Some(created_at), Some(updated_at)) => Ok(Opening::Opened(Ticket {
                id,
                number,
                customer_id: ticket.customer_id,
                subject: ticket.subject,
                description: ticket.description,
                category: ticket.category,
                priority: ticket.priority,
                channel: ticket.channel,
                status: TicketStatus::Open,
                assignee_id: ticket.assignee_id,
                opened_at: ticket.opened_at,
                first_response_at: None,
                first_resolved_at: None,
                resolved_at: None,
                closed_at: None,
                reopen_count: 0,
                version: 1,
                external_ref: None,
                created_at,
                updated_at,
            })),
            _ => Err(AppError::internal("ticket_open answered without the ticket")),
        },
    }
}

/// Only active technicians take tickets.
fn ensure_assignable(conn: &mut PgConnection, field: &str, technician_id: i64) -> Result<(), AppError> {
    let active: Option<bool> =
        technicians::table.find(technician_id).select(technicians::active).get_result(conn).optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(unassignable(field, technician_id, true)),
        None => Err(unassignable(field, technician_id, false)),
    }
}

/// Why a technician cannot take a ticket: deactivated, or not there at all.
fn unassignable(field: &str, technician_id: i64, deactivated: bool) -> AppError {
    if deactivated {
        AppError::bad_input(field, format!("technician {technician_id} is deactivated"))
    } else {
        AppError::NotFound(format!("{field}: technician {technician_id} does not exist"))
    }
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Ticket, AppError> {
    tickets::table
        .find(id)
        .select(Ticket::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} does not exist")))
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Ticket>, AppError> {
    let rows = tickets::table.filter(key_in(tickets::id, ids)).select(Ticket::as_select()).load::<Ticket>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// The events of each ticket, in order.
pub fn events_of(conn: &mut PgConnection, ticket_ids: &[i64]) -> Result<HashMap<i64, Vec<TicketEvent>>, AppError> {
    let rows = ticket_events::table
        .filter(key_in(ticket_events::ticket_id, ticket_ids))
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

/// How often a change is planned again when the ticket moved on without a new version (an
/// outbound interaction set its first response) before it gives up with a conflict.
const CHANGE_ATTEMPTS: usize = 5;

/// Applies `change` to ticket `id` if it is still at `expected_version` and the caller may make
/// it; writes the event in the same statement and returns the ticket after the change.
///
/// Two statements, each its own transaction: the ticket is read, the change is decided here, and
/// `ticket_apply_change` locks the row, checks that it is still as read, dates the change no
/// earlier than the ticket's latest event (so that its events are dated in the order they
/// committed, also against ratings, which take the same lock without a version) and writes it.
pub fn change(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    expected_version: i32,
    change: Change,
    note: Option<String>,
) -> Result<Ticket, AppError> {
    let note = note.as_deref();
    for _ in 0..CHANGE_ATTEMPTS {
        let (ticket, carries_sla): (Ticket, bool) = tickets::table
            .find(id)
            .select((Ticket::as_select(), diesel::dsl::exists(ticket_slas::table.find(id))))
            .get_result(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("ticket {id} does not exist")))?;
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
        let now = Utc::now();
        let planned = plan(conn, &ticket, &change, now, note)?;
        // The ticket's SLA moves with a priority change, and with a status change that stops or
        // resumes its resolution clock: then in the change's transaction. (An SLA row appears only
        // with a version, so one read above is enough to know.)
        let moves_sla = match change {
            Change::Priority { .. } => true,
            Change::Transition { to } => carries_sla && sla::resolution_runs(ticket.status) != sla::resolution_runs(to),
            Change::Assign { .. } | Change::Note => false,
        };
        let applied = if moves_sla {
            conn.transaction(|conn| {
                let before = ticket.status;
                let Some(updated) = apply(conn, caller, ticket, planned, now, note)? else { return Ok(None) };
                let at = updated.updated_at;
                match change {
                    Change::Priority { .. } => {
                        if let Some(applied) = super::sla::reapply(conn, &updated, at, &caller.subject)? {
                            diesel::insert_into(ticket_events::table).values(&applied).execute(conn)?;
                        }
                    }
                    _ => super::sla::after_transition(conn, before, &updated, at)?,
                }
                Ok::<_, AppError>(Some(updated))
            })?
        } else {
            apply(conn, caller, ticket, planned, now, note)?
        };
        if let Some(updated) = applied {
            return Ok(updated);
        }
    }
    Err(AppError::Conflict(format!(
        "version: ticket {id} kept changing while this change was made; reload it and retry"
    )))
}

/// `ticket_apply_change` for `planned`: the ticket after the change, or None when it moved on
/// since it was read.
fn apply(
    conn: &mut PgConnection,
    caller: &Caller,
    ticket: Ticket,
    planned: Planned,
    now: DateTime<Utc>,
    note: Option<&str>,
) -> Result<Option<Ticket>, AppError> {
    let dated: Option<DateTime<Utc>> = diesel::select(ticket_apply_change(
        ticket.id,
        ticket.version,
        ticket.first_response_at,
        planned.state.status,
        planned.state.first_response_at,
        planned.state.first_resolved_at,
        planned.state.resolved_at,
        planned.state.closed_at,
        planned.state.reopen_count,
        planned.assignee_id,
        planned.priority,
        now,
        caller.subject.as_str(),
        planned.kind,
        planned.from.as_deref(),
        planned.to.as_deref(),
        note,
    ))
    .get_result(conn)?;
    Ok(dated.map(|at| planned.applied(ticket, now, at)))
}

/// One change decided against the ticket as read: its new state and its event.
struct Planned {
    state: LifecycleState,
    assignee_id: Option<i64>,
    priority: Priority,
    kind: EventKind,
    from: Option<String>,
    to: Option<String>,
}

impl Planned {
    /// The ticket after the change, dated `at` (`ticket_apply_change` moves the instants this
    /// change set to `planned_at` to `at`).
    fn applied(self, mut ticket: Ticket, planned_at: DateTime<Utc>, at: DateTime<Utc>) -> Ticket {
        let dated = |instant: Option<DateTime<Utc>>| instant.map(|i| if i == planned_at { at } else { i });
        ticket.status = self.state.status;
        ticket.first_response_at = dated(self.state.first_response_at);
        ticket.first_resolved_at = dated(self.state.first_resolved_at);
        ticket.resolved_at = dated(self.state.resolved_at);
        ticket.closed_at = dated(self.state.closed_at);
        ticket.reopen_count = self.state.reopen_count;
        ticket.assignee_id = self.assignee_id;
        ticket.priority = self.priority;
        ticket.version += 1;
        ticket.updated_at = at;
        ticket
    }
}

/// Decides what `change` does to `ticket` at `now`, or why it may not.
fn plan(
    conn: &mut PgConnection,
    ticket: &Ticket,
    change: &Change,
    now: DateTime<Utc>,
    note: Option<&str>,
) -> Result<Planned, AppError> {
    let unchanged = |kind: EventKind, from: Option<String>, to: Option<String>| Planned {
        state: ticket.lifecycle(),
        assignee_id: ticket.assignee_id,
        priority: ticket.priority,
        kind,
        from,
        to,
    };
    Ok(match *change {
        Change::Transition { to } => {
            let (next, kind) = lifecycle::transition(&ticket.lifecycle(), to, now)
                .map_err(|invalid| AppError::bad_input("to", invalid.to_string()))?;
            Planned {
                state: next,
                ..unchanged(kind, Some(ticket.status.as_str().to_owned()), Some(to.as_str().to_owned()))
            }
        }
        Change::Assign { assignee_id } => {
            if let Some(assignee) = assignee_id {
                ensure_assignable(conn, "assigneeId", assignee)?;
            }
            let from = ticket.assignee_id.map(|id| id.to_string());
            Planned { assignee_id, ..unchanged(EventKind::Assigned, from, assignee_id.map(|id| id.to_string())) }
        }
        Change::Priority { priority } => {
            let (from, to) = (ticket.priority.as_str().to_owned(), priority.as_str().to_owned());
            Planned { priority, ..unchanged(EventKind::PriorityChanged, Some(from), Some(to)) }
        }
        Change::Note => {
            if note.is_none() {
                return Err(AppError::bad_input("note", "must not be empty"));
            }
            unchanged(EventKind::NoteAdded, None, None)
        }
    })
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

/// The people a page or a view shows beside its tickets, read by the tickets' own statement:
/// one statement rather than one per kind (docs/benchmarks.md, "Pages read with their people").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct People {
    pub customer: bool,
    pub assignee: bool,
    /// Whether their other columns are read too; without, only their ids and names are, and
    /// the records hold nothing (NULL, empty text, the epoch) in the others' place.
    pub details: bool,
}

/// The columns of its tickets a page or a view reads. Each one left out comes as a placeholder
/// of its type (empty text, NULL) or is not read at all, and the record holds nothing in its
/// place: the GraphQL layer leaves out only what the query's selection does not show
/// (graphql::tickets, `TicketNode::columns_of`). See docs/benchmarks.md, "Pages read the
/// columns they show".
/// A page that needs none of `description`, `details` and `lifecycle` reads its tickets' listing
/// columns only (id, number, customer, subject, priority, channel, status, assignee, opened and
/// updated instants).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TicketColumns {
    pub subject: bool,
    pub description: bool,
    /// The category and the external reference.
    pub details: bool,
    /// The lifecycle's instants and counters: first response, first and latest resolution,
    /// closure, reopen count, version, creation.
    pub lifecycle: bool,
}

impl TicketColumns {
    pub const ALL: TicketColumns = TicketColumns { subject: true, description: true, details: true, lifecycle: true };
    pub const NONE: TicketColumns =
        TicketColumns { subject: false, description: false, details: false, lifecycle: false };

    pub fn union(self, other: TicketColumns) -> TicketColumns {
        TicketColumns {
            subject: self.subject || other.subject,
            description: self.description || other.description,
            details: self.details || other.details,
            lifecycle: self.lifecycle || other.lifecycle,
        }
    }

    /// Whether the listing columns are all that is read.
    fn listing_only(self) -> bool {
        !(self.description || self.details || self.lifecycle)
    }

    /// Whether every column `other` reads is read here too.
    pub fn covers(self, other: TicketColumns) -> bool {
        self.union(other) == self
    }
}

/// What a page or a view reads: of its tickets, and of the people beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub tickets: TicketColumns,
    pub people: People,
}

/// A ticket with the customer and assignee its statement read ([`People`]); `None` for those
/// not asked for, and for the assignee of an unassigned ticket.
pub type TicketWithPeople = (Ticket, Option<Customer>, Option<Technician>);

/// One page of tickets in `order`, starting after `after`; `limit` rows, with `people`.
pub fn list(
    conn: &mut PgConnection,
    filter: &TicketFilter,
    order: TicketOrder,
    after: Option<&(SortKey, i64)>,
    limit: i64,
    reading: Reading,
) -> Result<Vec<TicketWithPeople>, AppError> {
    let mut query = filtered(filter);
    if let Some((key, id)) = after {
        let id = *id;
        query = match (order.sort, key) {
            (TicketSort::OpenedAt, SortKey::Time(at)) => {
                query.filter(RowsAfter::<Timestamptz, _>::new("tickets.opened_at", *at, id, order.descending))
            }
            (TicketSort::UpdatedAt, SortKey::Time(at)) => {
                query.filter(RowsAfter::<Timestamptz, _>::new("tickets.updated_at", *at, id, order.descending))
            }
            (TicketSort::Priority, SortKey::Rank(rank)) => {
                query.filter(RowsAfter::<SmallInt, _>::new("tickets.priority_rank", *rank, id, order.descending))
            }
            (TicketSort::SlaDue, SortKey::Due(due)) => query.filter(super::sla::after_due(*due, id, order.descending)),
            _ => return Err(AppError::bad_input("after", "the cursor belongs to another ordering")),
        };
    }
    let order_by = order_sql(order);
    let page = LiteralLimit::new(query.order(FixedSql::new(order_by.clone())), RowLimit::page(limit));
    load_with(conn, page, reading, Some(order_by))
}

/// One ticket by its id or its human number, read as `reading` says.
pub fn view(conn: &mut PgConnection, key: TicketKey, reading: Reading) -> Result<Option<TicketWithPeople>, AppError> {
    let query = match key {
        TicketKey::Id(id) => tickets::table.into_boxed().filter(tickets::id.eq(id)),
        TicketKey::Number(number) => tickets::table.into_boxed().filter(tickets::number.eq(number)),
    };
    Ok(load_with(conn, LiteralLimit::new(query, RowLimit::one()), reading, None)?.pop())
}

/// How a ticket view names its ticket.
pub enum TicketKey {
    Id(i64),
    Number(String),
}

/// A page's `ORDER BY`, in the terms of `tickets` (the table, or a page of it named so).
fn order_sql(order: TicketOrder) -> String {
    let direction = if order.descending { "DESC" } else { "ASC" };
    let key = match order.sort {
        TicketSort::OpenedAt => format!("tickets.opened_at {direction}"),
        TicketSort::UpdatedAt => format!("tickets.updated_at {direction}"),
        TicketSort::Priority => format!("tickets.priority_rank {direction}"),
        // Tickets without a running clock last, ascending; descending is its exact reverse.
        TicketSort::SlaDue => {
            format!(
                "{} {direction} NULLS {}",
                super::sla::NEXT_DUE_SQL,
                if order.descending { "FIRST" } else { "LAST" }
            )
        }
    };
    format!("{key}, tickets.id {direction}")
}

type TicketPage = LiteralLimit<tickets::BoxedQuery<'static, Pg>>;

/// The rows of `page` (the first it wants), read as `reading` says, from one statement
/// ([`WithPeople`]).
fn load_with(
    conn: &mut PgConnection,
    page: TicketPage,
    reading: Reading,
    order_by: Option<String>,
) -> Result<Vec<TicketWithPeople>, AppError> {
    let wanted = page.wanted();
    let People { customer, assignee, details } = reading.people;
    let mut columns = ticket_columns_sql(reading.tickets);
    if customer {
        columns = format!("{columns}, {}", customer_columns_sql(details));
    }
    if assignee {
        columns = format!("{columns}, {}", technician_columns_sql(details));
    }
    let statement = WithPeople::<()> { page, people: reading.people, order_by, columns, row: PhantomData };
    type Named = Nullable<(BigInt, Text)>;
    // The same arms for either layout of the tickets' columns: `$row` their SQL types, `$ticket`
    // what makes a Ticket of one.
    macro_rules! load_rows {
        ($row:ty, $ticket:expr) => {
            match (customer, assignee, details) {
                (false, false, _) => statement.load_as::<$row, _>(conn, |ticket| ($ticket(ticket), None, None))?,
                (true, false, true) => statement
                    .load_as::<($row, Nullable<RowOf<Customer>>), _>(conn, |(ticket, customer)| {
                        ($ticket(ticket), customer, None)
                    })?,
                (true, false, false) => statement.load_as::<($row, Named), _>(conn, |(ticket, customer)| {
                    ($ticket(ticket), customer.map(named_customer), None)
                })?,
                (false, true, true) => statement
                    .load_as::<($row, Nullable<RowOf<Technician>>), _>(conn, |(ticket, assignee)| {
                        ($ticket(ticket), None, assignee)
                    })?,
                (false, true, false) => statement.load_as::<($row, Named), _>(conn, |(ticket, assignee)| {
                    ($ticket(ticket), None, assignee.map(named_technician))
                })?,
                (true, true, true) => statement
                    .load_as::<($row, Nullable<RowOf<Customer>>, Nullable<RowOf<Technician>>), _>(
                        conn,
                        |(ticket, customer, assignee)| ($ticket(ticket), customer, assignee),
                    )?,
                (true, true, false) => {
                    statement.load_as::<($row, Named, Named), _>(conn, |(ticket, customer, assignee)| {
                        ($ticket(ticket), customer.map(named_customer), assignee.map(named_technician))
                    })?
                }
            }
        };
    }
    let mut rows = if reading.tickets.listing_only() {
        load_rows!(ListingRow, listed_ticket)
    } else {
        load_rows!(RowOf<Ticket>, std::convert::identity::<Ticket>)
    };
    rows.truncate(wanted);
    Ok(rows)
}

/// A column, or in its place `placeholder` (a constant of its type) when it is not `read`.
fn column_or(read: bool, column: &'static str, placeholder: &'static str) -> &'static str {
    if read { column } else { placeholder }
}

/// The SQL types of a ticket's listing columns ([`TicketColumns::listing_only`]).
type ListingRow = (BigInt, Text, BigInt, Text, Text, Text, Text, Nullable<BigInt>, Timestamptz, Timestamptz);

/// A ticket read by its listing columns, in [`ListingRow`]'s order.
type Listing =
    (i64, String, i64, String, Priority, TicketChannel, TicketStatus, Option<i64>, DateTime<Utc>, DateTime<Utc>);

/// A ticket read by its listing columns: the record holds nothing (empty text, NULL, 0, the
/// epoch) in the others' place.
fn listed_ticket(listing: Listing) -> Ticket {
    let (id, number, customer_id, subject, priority, channel, status, assignee_id, opened_at, updated_at) = listing;
    Ticket {
        id,
        number,
        customer_id,
        subject,
        description: String::new(),
        category: String::new(),
        priority,
        channel,
        status,
        assignee_id,
        opened_at,
        first_response_at: None,
        first_resolved_at: None,
        resolved_at: None,
        closed_at: None,
        reopen_count: 0,
        version: 0,
        external_ref: None,
        created_at: NOT_READ_AT,
        updated_at,
    }
}

/// The columns of a [`Ticket`], in its fields' order (as diesel loads a row: by position), or
/// its listing columns in [`ListingRow`]'s.
fn ticket_columns_sql(read: TicketColumns) -> String {
    if read.listing_only() {
        let subject = column_or(read.subject, "tickets.subject", "''::text");
        return format!(
            "tickets.id, tickets.number, tickets.customer_id, {subject}, tickets.priority, tickets.channel, \
             tickets.status, tickets.assignee_id, tickets.opened_at, tickets.updated_at"
        );
    }
    [
        "tickets.id",
        "tickets.number",
        "tickets.customer_id",
        column_or(read.subject, "tickets.subject", "''::text"),
        column_or(read.description, "tickets.description", "''::text"),
        column_or(read.details, "tickets.category", "''::text"),
        "tickets.priority",
        "tickets.channel",
        "tickets.status",
        "tickets.assignee_id",
        "tickets.opened_at",
        "tickets.first_response_at",
        "tickets.first_resolved_at",
        "tickets.resolved_at",
        "tickets.closed_at",
        "tickets.reopen_count",
        "tickets.version",
        column_or(read.details, "tickets.external_ref", "NULL::text"),
        "tickets.created_at",
        "tickets.updated_at",
    ]
    .join(", ")
}

/// The columns of a [`Customer`] in its fields' order, or its id and name only. A ticket whose
/// customer the join did not find still reads as no customer: its NULL id comes first.
fn customer_columns_sql(details: bool) -> String {
    let whole = ["customers.id", "customers.name", "customers.email", "customers.phone", "customers.organization"];
    let instants = ["customers.created_at", "customers.updated_at"];
    if details { [&whole[..], &instants].concat().join(", ") } else { whole[..2].join(", ") }
}

/// The columns of a [`Technician`] in its fields' order, or its id and name only; an
/// unassigned ticket's NULL id comes first.
fn technician_columns_sql(details: bool) -> String {
    let whole = ["technicians.id", "technicians.name", "technicians.email", "technicians.team", "technicians.active"];
    let instants = ["technicians.created_at", "technicians.updated_at"];
    if details { [&whole[..], &instants].concat().join(", ") } else { whole[..2].join(", ") }
}

/// What nothing shows of a record read in part ([`People::details`], [`TicketColumns`]).
const NOT_READ_AT: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// A customer read by id and name only.
fn named_customer((id, name): (i64, String)) -> Customer {
    Customer {
        id,
        name,
        email: None,
        phone: None,
        organization: None,
        created_at: NOT_READ_AT,
        updated_at: NOT_READ_AT,
    }
}

/// A technician read by id and name only.
fn named_technician((id, name): (i64, String)) -> Technician {
    Technician {
        id,
        name,
        email: String::new(),
        team: String::new(),
        active: false,
        created_at: NOT_READ_AT,
        updated_at: NOT_READ_AT,
    }
}

/// The SQL types of a row of `T` (the tuple of its columns' types).
type RowOf<T> = diesel::dsl::SqlTypeOf<<T as Selectable<Pg>>::SelectExpression>;

/// A page of tickets with its people joined once the page is cut, returning `columns` (SQL
/// text, loaded as rows of type `Row`: the page's tickets, its customers, its technicians):
/// `SELECT … FROM (page) AS tickets LEFT JOIN customers … LEFT JOIN technicians … ORDER BY …`.
/// Joined below the page's `LIMIT`, the tables would make PostgreSQL's custom plans for a
/// cursor's bound values look cheaper than the generic plan, and it would plan the statement
/// afresh at every execution (store::plan_once); joined above it, the plan is the page's own
/// plus one look-up per row, planned once.
struct WithPeople<Row> {
    page: TicketPage,
    people: People,
    order_by: Option<String>,
    columns: String,
    row: PhantomData<Row>,
}

impl WithPeople<()> {
    /// The statement's rows, of SQL types `Row`, loaded as `T` and made records by `record`.
    fn load_as<Row, T>(
        self,
        conn: &mut PgConnection,
        record: impl Fn(T) -> TicketWithPeople,
    ) -> QueryResult<Vec<TicketWithPeople>>
    where
        WithPeople<Row>: for<'query> diesel::query_dsl::LoadQuery<'query, PgConnection, T>,
    {
        let WithPeople { page, people, order_by, columns, row: _ } = self;
        let rows: Vec<T> = WithPeople::<Row> { page, people, order_by, columns, row: PhantomData }.load(conn)?;
        Ok(rows.into_iter().map(record).collect())
    }
}

impl<Row: SqlType + TypedExpressionType> Query for WithPeople<Row> {
    type SqlType = Row;
}

impl<Row> QueryId for WithPeople<Row> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Row> RunQueryDsl<PgConnection> for WithPeople<Row> {}

impl<Row> QueryFragment<Pg> for WithPeople<Row> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(&self.columns);
        // The page returns every column of tickets: the outer `ORDER BY` may name any of them.
        out.push_sql(" FROM (");
        self.page.walk_ast(out.reborrow())?;
        out.push_sql(") AS tickets");
        if self.people.customer {
            out.push_sql(" LEFT OUTER JOIN customers ON customers.id = tickets.customer_id");
        }
        if self.people.assignee {
            out.push_sql(" LEFT OUTER JOIN technicians ON technicians.id = tickets.assignee_id");
        }
        if let Some(order_by) = &self.order_by {
            out.push_sql(" ORDER BY ");
            out.push_sql(order_by);
        }
        Ok(())
    }
}

pub fn count(conn: &mut PgConnection, filter: &TicketFilter) -> Result<i64, AppError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

fn filtered(filter: &TicketFilter) -> tickets::BoxedQuery<'static, Pg> {
    let mut query = tickets::table.into_boxed();
    if !filter.statuses.is_empty() {
        query = query.filter(one_of("tickets.status", &filter.statuses, TicketStatus::as_str));
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
        query = query.filter(one_of("tickets.priority", &filter.priorities, Priority::as_str));
    }
    if !filter.channels.is_empty() {
        query = query.filter(one_of("tickets.channel", &filter.channels, TicketChannel::as_str));
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

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;
    use crate::schema::customers;

    /// The select list diesel writes for `T`, as `table.column, …`.
    fn select_list_of(sql: String) -> String {
        let list = sql.strip_prefix("SELECT ").unwrap().split(" FROM ").next().unwrap();
        list.replace('"', "")
    }

    /// A row is loaded by position: the lists written by hand name each record's columns in
    /// the order of its fields, as diesel's own select for it does.
    #[test]
    fn the_column_lists_follow_their_records_fields() {
        let ticket = debug_query::<Pg, _>(&tickets::table.select(Ticket::as_select())).to_string();
        assert_eq!(ticket_columns_sql(TicketColumns::ALL), select_list_of(ticket));
        let customer = debug_query::<Pg, _>(&customers::table.select(Customer::as_select())).to_string();
        assert_eq!(customer_columns_sql(true), select_list_of(customer));
        assert_eq!(customer_columns_sql(false), "customers.id, customers.name");
        let technician = debug_query::<Pg, _>(&technicians::table.select(Technician::as_select())).to_string();
        assert_eq!(technician_columns_sql(true), select_list_of(technician));
        assert_eq!(technician_columns_sql(false), "technicians.id, technicians.name");
    }

    /// Each column left out is replaced in its own place, by a constant.
    #[test]
    fn a_column_left_out_keeps_its_place() {
        let whole: Vec<String> = ticket_columns_sql(TicketColumns::ALL).split(", ").map(str::to_owned).collect();
        let listed = ticket_columns_sql(TicketColumns { subject: true, lifecycle: true, ..TicketColumns::NONE });
        let listed: Vec<&str> = listed.split(", ").collect();
        assert_eq!(listed.len(), whole.len());
        for (listed, whole) in listed.iter().zip(&whole) {
            let left_out = ["tickets.description", "tickets.category", "tickets.external_ref"];
            if left_out.contains(&whole.as_str()) {
                assert!(!listed.contains("tickets."), "{whole} is read as {listed}");
            } else {
                assert_eq!(listed, whole);
            }
        }
    }
}
