//! Tickets: logging requests, listing them, and moving them through their lifecycle.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};

use async_graphql::{Context, Enum, ID, InputObject, Lookahead, Object, Value};
use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};

use super::direct::{self, Direct, DirectObject, Held, Plain, PlainFields};
use super::interactions::{InteractionConnection, InteractionFilterInput, interaction_page};
use super::pagination::{CursorKey, ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::satisfaction::RatingNode;
use super::staff::{CustomerInput, CustomerNode, TechnicianNode, shows_details};
use super::{caller, cost, db, loaders::Loaders, parse_id};
use crate::auth::Role;
use crate::domain::limits::{self, CATEGORY_MAX, DESCRIPTION_MAX, NOTE_MAX, SEARCH_MAX, SUBJECT_MAX};
use crate::domain::permissions;
use crate::domain::sla::SlaState;
use crate::domain::{EventKind, Priority, TicketChannel, TicketStatus};
use crate::error::AppError;
use crate::models::{NewTicket, Ticket, TicketEvent};
use crate::store;
use crate::store::sla::TicketSla;
use crate::store::tickets::{
    AssigneeFilter, Change, CustomerRef, People, Reading, SortKey, TicketColumns, TicketFilter, TicketKey, TicketOrder,
    TicketSort, TicketWithPeople,
};

/// How far a client's clock may run ahead or behind: an `openedAt` within this of now is "now".
const CLOCK_SKEW_SECONDS: i64 = 60;

/// A support request.
/// The nested records its page or view read with it, when there were any: its resolvers take
/// them from there (by reference) rather than through the request's loaders. The columns
/// read: a page reads those its selection shows ([`TicketNode::columns_of`]).
pub struct TicketNode(pub Ticket, Option<Arc<Nested>>, TicketColumns);

impl TicketNode {
    /// A ticket read whole.
    pub fn new(ticket: Ticket) -> TicketNode {
        TicketNode(ticket, None, TicketColumns::ALL)
    }

    /// The columns of its ticket the field `name` shows: neither its plain value nor its
    /// resolver reads another. A field not named here (`sla`, and any field added later) is
    /// taken to read them all.
    pub fn columns_of(name: &str) -> TicketColumns {
        match name {
            "subject" => TicketColumns { subject: true, ..TicketColumns::NONE },
            "description" => TicketColumns { description: true, ..TicketColumns::NONE },
            "category" => TicketColumns { details: true, ..TicketColumns::NONE },
            "firstResponseAt" | "firstResolvedAt" | "resolvedAt" | "closedAt" | "reopenCount" | "version"
            | "createdAt" => TicketColumns { lifecycle: true, ..TicketColumns::NONE },
            "id"
            | "number"
            | "customer"
            | "priority"
            | "channel"
            | "status"
            | "allowedNextStatuses"
            | "assignee"
            | "openedAt"
            | "updatedAt"
            | "satisfaction"
            | "interactions"
            | "timeline"
            | "__typename" => TicketColumns::NONE,
            _ => TicketColumns::ALL,
        }
    }

    /// The records read with this ticket, if they hold the kind `selected` names.
    fn read_with(&self, selected: impl Fn(NestedSelection) -> bool) -> Option<&Nested> {
        self.1.as_deref().filter(|nested| selected(nested.selection))
    }

    /// The customer read with this ticket (`None` when its page did not read customers).
    fn customer_read(&self) -> Option<Option<&Direct<CustomerNode>>> {
        self.read_with(|selected| selected.customer).map(|nested| nested.customers.get(&self.0.customer_id))
    }

    /// The assignee read with this ticket (`None` when its page did not read assignees).
    fn assignee_read(&self) -> Option<Option<&Direct<TechnicianNode>>> {
        let nested = self.read_with(|selected| selected.assignee)?;
        Some(self.0.assignee_id.and_then(|id| nested.technicians.get(&id)))
    }

    /// The events read with this ticket (`None` when its page did not read timelines).
    fn timeline_read(&self) -> Option<&Vec<Direct<TicketEventNode>>> {
        static NO_EVENTS: Vec<Direct<TicketEventNode>> = Vec::new();
        let nested = self.read_with(|selected| selected.timeline)?;
        Some(nested.timelines.get(&self.0.id).unwrap_or(&NO_EVENTS))
    }
}

#[Object(name = "Ticket", serial)]
impl TicketNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    /// The human ticket number, e.g. TS-000123.
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Cow<'_, Direct<CustomerNode>>>, AppError> {
        if let Some(customer) = self.customer_read() {
            return Ok(customer.map(Cow::Borrowed));
        }
        let customer = ctx.data_unchecked::<Loaders>().customers.load_one(self.0.customer_id).await?;
        Ok(customer.map(|customer| Cow::Owned(Direct(CustomerNode(customer)))))
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn priority(&self) -> Priority {
        self.0.priority
    }
    async fn channel(&self) -> TicketChannel {
        self.0.channel
    }
    async fn status(&self) -> TicketStatus {
        self.0.status
    }
    /// The statuses this ticket may move to next.
    async fn allowed_next_statuses(&self) -> Vec<TicketStatus> {
        self.0.status.allowed_next().to_vec()
    }
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<Cow<'_, Direct<TechnicianNode>>>, AppError> {
        if let Some(technician) = self.assignee_read() {
            return Ok(technician.map(Cow::Borrowed));
        }
        let Some(id) = self.0.assignee_id else { return Ok(None) };
        let technician = ctx.data_unchecked::<Loaders>().technicians.load_one(id).await?;
        Ok(technician.map(|technician| Cow::Owned(Direct(TechnicianNode(technician)))))
    }
    /// When the request came in (in the past for imported history).
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }
    /// The earliest of the first outbound interaction and the first move out of OPEN.
    async fn first_response_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_at
    }
    /// The first resolution; set once and never changed, also by reopens.
    async fn first_resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_resolved_at
    }
    /// The latest resolution; cleared by a reopen.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    async fn reopen_count(&self) -> i32 {
        self.0.reopen_count
    }
    /// Changes name the version they were made against; a stale one gets CONFLICT.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The current satisfaction rating (earlier ones are in the timeline).
    async fn satisfaction(&self, ctx: &Context<'_>) -> Result<Option<RatingNode>, AppError> {
        Ok(ctx.data_unchecked::<Loaders>().ratings.load_one(self.0.id).await?.map(RatingNode))
    }
    /// Calls, emails and chats about this ticket, newest first.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<InteractionFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<InteractionConnection, AppError> {
        let mut filter = filter.unwrap_or_default().into_store();
        filter.ticket_id = Some(self.0.id);
        interaction_page(ctx, filter, first, after).await
    }
    /// The ticket's SLA targets and clocks; null when no policy covers it.
    async fn sla(&self, ctx: &Context<'_>) -> Result<Option<super::sla::TicketSlaNode>, AppError> {
        super::sla::ticket_sla(ctx, &self.0).await
    }
    /// Every event of the ticket, oldest first.
    #[graphql(complexity = "cost::unpaged(child_complexity)")]
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Cow<'_, Vec<Direct<TicketEventNode>>>, AppError> {
        if let Some(events) = self.timeline_read() {
            return Ok(Cow::Borrowed(events));
        }
        let events = ctx.data_unchecked::<Loaders>().timelines.load_one(self.0.id).await?;
        Ok(Cow::Owned(events.unwrap_or_default().into_iter().map(|event| Direct(TicketEventNode(event))).collect()))
    }
}

impl PlainFields for TicketNode {
    /// The people and the timeline read with the page, as their resolvers find them there.
    fn held_field(&self, name: &str) -> Option<Held<'_>> {
        match name {
            "customer" => Some(Held::One(self.customer_read()?.map(Direct::as_object))),
            "assignee" => Some(Held::One(self.assignee_read()?.map(Direct::as_object))),
            "timeline" => Some(Held::Many(self.timeline_read()?.iter().map(Direct::as_object).collect())),
            _ => None,
        }
    }

    fn plain_field(&self, name: &str) -> Option<Plain<'_>> {
        debug_assert!(self.2.covers(TicketNode::columns_of(name)), "{name} shows a column its page did not read");
        let ticket = &self.0;
        Some(match name {
            "id" => direct::id(ticket.id),
            "number" => direct::text(&ticket.number),
            "subject" => direct::text(&ticket.subject),
            "description" => direct::text(&ticket.description),
            "category" => direct::text(&ticket.category),
            "priority" => direct::enumerated(ticket.priority),
            "channel" => direct::enumerated(ticket.channel),
            "status" => direct::enumerated(ticket.status),
            "allowedNextStatuses" => direct::plain(&ticket.status.allowed_next().to_vec()),
            "openedAt" => direct::instant(ticket.opened_at),
            "firstResponseAt" => direct::optional_instant(ticket.first_response_at),
            "firstResolvedAt" => direct::optional_instant(ticket.first_resolved_at),
            "resolvedAt" => direct::optional_instant(ticket.resolved_at),
            "closedAt" => direct::optional_instant(ticket.closed_at),
            "reopenCount" => direct::plain(&ticket.reopen_count),
            "version" => direct::plain(&ticket.version),
            "createdAt" => direct::instant(ticket.created_at),
            "updatedAt" => direct::instant(ticket.updated_at),
            _ => return None,
        })
    }
}

/// One entry of a ticket's audit trail.
#[derive(Clone)]
pub struct TicketEventNode(pub TicketEvent);

#[Object(name = "TicketEvent", serial)]
impl TicketEventNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The subject of the token that made the change.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn kind(&self) -> EventKind {
        self.0.kind
    }
    /// The value before: a status, a priority, or an assignee's technician id.
    async fn from_value(&self) -> Option<&str> {
        self.0.from_value.as_deref()
    }
    /// The value after.
    async fn to_value(&self) -> Option<&str> {
        self.0.to_value.as_deref()
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

impl PlainFields for TicketEventNode {
    fn plain_field(&self, name: &str) -> Option<Plain<'_>> {
        let event = &self.0;
        Some(match name {
            "id" => direct::id(event.id),
            "at" => direct::instant(event.at),
            "actor" => direct::text(&event.actor),
            "kind" => direct::enumerated(event.kind),
            "fromValue" => direct::optional_text(event.from_value.as_deref()),
            "toValue" => direct::optional_text(event.to_value.as_deref()),
            "note" => direct::optional_text(event.note.as_deref()),
            _ => return None,
        })
    }
}

/// An instant range `[from, to)`; either end may be open.
#[derive(InputObject, Default, Clone, Copy)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Every filter is optional; they combine with AND, a list matches any of its values.
#[derive(InputObject, Default)]
#[graphql(name = "TicketFilter")]
pub struct TicketFilterInput {
    pub status: Option<Vec<TicketStatus>>,
    /// Tickets assigned to this technician.
    pub assignee_id: Option<ID>,
    /// `true`: only unassigned tickets.
    pub unassigned: Option<bool>,
    pub customer_id: Option<ID>,
    /// Exact category.
    pub category: Option<String>,
    pub priority: Option<Vec<Priority>>,
    pub channel: Option<Vec<TicketChannel>>,
    pub opened_at: Option<TimeRange>,
    pub resolved_at: Option<TimeRange>,
    /// Text contained in the subject or the description (any case).
    pub search: Option<String>,
    /// Tickets whose `sla.state` is one of these now (tickets without SLA never match). Without
    /// `orderBy`, such a list is ordered by `SLA_DUE` ascending: what breaks next first.
    pub sla_state: Option<Vec<SlaState>>,
}

impl TicketFilterInput {
    pub fn into_store(self) -> Result<TicketFilter, AppError> {
        let assignee = match (self.assignee_id, self.unassigned) {
            (Some(_), Some(true)) => {
                return Err(AppError::bad_input("filter.unassigned", "cannot be combined with filter.assigneeId"));
            }
            (Some(id), _) => AssigneeFilter::Technician(parse_id("filter.assigneeId", &id)?),
            (None, Some(true)) => AssigneeFilter::Unassigned,
            (None, _) => AssigneeFilter::Any,
        };
        let opened = self.opened_at.unwrap_or_default();
        let resolved = self.resolved_at.unwrap_or_default();
        Ok(TicketFilter {
            statuses: self.status.unwrap_or_default(),
            assignee,
            customer_id: self.customer_id.map(|id| parse_id("filter.customerId", &id)).transpose()?,
            category: limits::optional_text("filter.category", self.category.as_deref(), CATEGORY_MAX)?,
            priorities: self.priority.unwrap_or_default(),
            channels: self.channel.unwrap_or_default(),
            opened_from: opened.from,
            opened_to: opened.to,
            resolved_from: resolved.from,
            resolved_to: resolved.to,
            search: limits::optional_text("filter.search", self.search.as_deref(), SEARCH_MAX)?,
            sla_states: self.sla_state.unwrap_or_default(),
            sla_at: None,
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketOrderField {
    #[default]
    OpenedAt,
    UpdatedAt,
    Priority,
    /// The nearest due instant of the ticket's running SLA clocks (first response until
    /// answered, resolution while OPEN or IN_PROGRESS); tickets without one come last when
    /// ascending, first when descending.
    SlaDue,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// Default: newest opened first. Ties are broken by id in the same direction.
#[derive(InputObject, Clone, Copy, Default)]
#[graphql(name = "TicketOrder")]
pub struct TicketOrderInput {
    #[graphql(default)]
    pub field: TicketOrderField,
    #[graphql(default)]
    pub direction: SortDirection,
}

impl From<TicketOrderInput> for TicketOrder {
    fn from(input: TicketOrderInput) -> TicketOrder {
        TicketOrder {
            sort: match input.field {
                TicketOrderField::OpenedAt => TicketSort::OpenedAt,
                TicketOrderField::UpdatedAt => TicketSort::UpdatedAt,
                TicketOrderField::Priority => TicketSort::Priority,
                TicketOrderField::SlaDue => TicketSort::SlaDue,
            },
            descending: input.direction == SortDirection::Desc,
        }
    }
}

/// A position in a ticket list: the ordering it belongs to, the sort key and id of the last row.
#[derive(Serialize, Deserialize)]
#[cfg_attr(test, derive(Clone, PartialEq, Debug))]
pub struct TicketCursor {
    sort: String,
    at: Option<DateTime<Utc>>,
    rank: Option<i16>,
    id: i64,
}

impl CursorKey for TicketCursor {
    fn is_possible(&self) -> bool {
        let rank_possible =
            self.rank.is_none_or(|rank| Priority::ALL.iter().any(|p| store::tickets::priority_rank(*p) == rank));
        self.sort.is_possible() && self.at.is_possible() && rank_possible && self.id.is_possible()
    }
}

fn ordering_name(order: TicketOrder) -> String {
    format!("{:?}:{}", order.sort, if order.descending { "desc" } else { "asc" })
}

type TicketPage = Connection<ListCursor<TicketCursor>, Direct<TicketNode>, TotalCount>;
type TicketEdge = Edge<ListCursor<TicketCursor>, Direct<TicketNode>, EmptyFields>;

/// A list of tickets, its edges and nodes written directly ([`Direct`]).
pub type TicketConnection = Direct<TicketPage>;

impl PlainFields for TicketPage {
    fn plain_field(&self, _name: &str) -> Option<Plain<'_>> {
        None
    }

    fn held_field(&self, name: &str) -> Option<Held<'_>> {
        Some(match name {
            "edges" => Held::Many(self.edges.iter().map(|edge| edge as &dyn DirectObject).collect()),
            "nodes" => Held::Many(self.edges.iter().map(|edge| edge.node.as_object()).collect()),
            _ => return None,
        })
    }
}

impl PlainFields for TicketEdge {
    fn plain_field(&self, name: &str) -> Option<Plain<'_>> {
        (name == "cursor").then(|| Plain::Value(Value::String(self.cursor.encode_cursor())))
    }

    fn held_field(&self, name: &str) -> Option<Held<'_>> {
        (name == "node").then_some(Held::One(Some(self.node.as_object())))
    }
}

/// One page of tickets: keyset pagination, so pages stay stable while tickets are added.
pub async fn ticket_page(
    ctx: &Context<'_>,
    filter: TicketFilter,
    order_by: Option<TicketOrderInput>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<TicketConnection, AppError> {
    let limit = limits::page_size("first", first, 20)?;
    let order: TicketOrder = order_by.unwrap_or_default().into();
    let after = match decode_cursor::<TicketCursor>("after", after.as_deref())? {
        None => None,
        Some(cursor) => {
            let key = match (cursor.at, cursor.rank) {
                (at, None) if order.sort == TicketSort::SlaDue => SortKey::Due(at),
                (Some(at), None) => SortKey::Time(at),
                (None, Some(rank)) => SortKey::Rank(rank),
                _ => return Err(AppError::bad_input("after", "not a cursor of this list")),
            };
            if cursor.sort != ordering_name(order) {
                return Err(AppError::bad_input("after", "the cursor belongs to another ordering"));
            }
            Some((key, cursor.id))
        }
    };
    let has_previous = after.is_some();
    let lookahead = ctx.look_ahead();
    let mut selection = NestedSelection::of([lookahead.field("edges").field("node"), lookahead.field("nodes")]);
    if order.sort == TicketSort::SlaDue {
        selection = selection.for_sla_order();
    }
    let count_total = lookahead.field("totalCount").exists();
    let page_filter = filter.clone();
    let (rows, has_next, nested, known_total) = db(ctx)?
        .run(move |conn| {
            let mut rows =
                store::tickets::list(conn, &page_filter, order, after.as_ref(), limit + 1, selection.reading())?;
            let has_next = trim_page(&mut rows, limit);
            let (rows, nested) = Nested::load(conn, rows, selection)?;
            let total = if count_total { Some(store::tickets::count(conn, &page_filter)?) } else { None };
            Ok((rows, has_next, nested, total))
        })
        .await?;
    let nested = nested.share(ctx.data_unchecked::<Loaders>()).await;
    let dues = match order.sort {
        TicketSort::SlaDue => super::sla::next_dues(ctx, &rows).await?,
        _ => Default::default(),
    };
    let total = match known_total {
        Some(count) => TotalCount::Known(count),
        None => TotalCount::new(move |conn| store::tickets::count(conn, &filter)),
    };
    let mut connection = Connection::with_additional_fields(has_previous, has_next, total);
    let sort = ordering_name(order);
    connection.edges.extend(rows.into_iter().map(|row| {
        let (at, rank) = match store::tickets::sort_key(&row, order.sort) {
            SortKey::Time(at) => (Some(at), None),
            SortKey::Rank(rank) => (None, Some(rank)),
            SortKey::Due(_) => (dues.get(&row.id).copied(), None),
        };
        let cursor = cursor_at(TicketCursor { sort: sort.clone(), at, rank, id: row.id });
        Edge::new(cursor, Direct(TicketNode(row, nested.clone(), selection.columns)))
    }));
    Ok(Direct(connection))
}

/// Which records and columns a query selects under its tickets.
#[derive(Clone, Copy, Default)]
struct NestedSelection {
    customer: bool,
    assignee: bool,
    timeline: bool,
    sla: bool,
    /// The tickets' columns the selected fields show.
    columns: TicketColumns,
    /// Whether a selected customer or assignee shows more than its id and name.
    people_details: bool,
}

impl NestedSelection {
    /// What the tickets' own statement reads.
    fn reading(self) -> Reading {
        Reading {
            tickets: self.columns,
            people: People { customer: self.customer, assignee: self.assignee, details: self.people_details },
        }
    }

    /// What the given look-aheads of ticket fields (a single ticket, or a page's `edges.node`
    /// and `nodes`) select between them, through fragments too.
    fn of<'a>(tickets: impl IntoIterator<Item = Lookahead<'a>>) -> NestedSelection {
        let mut selection = NestedSelection::default();
        for ticket in tickets.into_iter().flat_map(|ticket| ticket.selection_fields()) {
            for field in ticket.selection_set() {
                let name = field.name();
                selection.columns = selection.columns.union(TicketNode::columns_of(name));
                let selected = match name {
                    "customer" => &mut selection.customer,
                    "assignee" => &mut selection.assignee,
                    "timeline" => &mut selection.timeline,
                    "sla" => &mut selection.sla,
                    _ => continue,
                };
                *selected = true;
                if matches!(name, "customer" | "assignee") {
                    selection.people_details |= field.selection_set().any(|field| shows_details(field.name()));
                }
            }
        }
        selection
    }

    /// The SLA_DUE cursor is the next due instant, computed from the whole ticket and its SLA.
    fn for_sla_order(self) -> NestedSelection {
        NestedSelection { sla: true, columns: TicketColumns::ALL, ..self }
    }
}

/// The records a query selects under some tickets, read on the tickets' own connection: a page
/// or a ticket view costs one trip to a statement thread, its customers and assignees come with
/// its tickets' statement, and the other kinds cost one statement each, whatever its size. Every
/// row of the page shares them ([`Nested::share`]); a kind not selected is empty.
#[derive(Default)]
pub struct Nested {
    selection: NestedSelection,
    // Looked up for every row a page writes: foldhash, not SipHash (the keys are our own ids).
    customers: foldhash::HashMap<i64, Direct<CustomerNode>>,
    technicians: foldhash::HashMap<i64, Direct<TechnicianNode>>,
    timelines: foldhash::HashMap<i64, Vec<Direct<TicketEventNode>>>,
    /// Handed to the loaders, where the SLA resolvers (and the SLA_DUE cursors) look.
    slas: HashMap<i64, TicketSla>,
}

impl Nested {
    /// Takes the people out of `rows` (read as `selection.people()` asked) and reads the rest.
    fn load(
        conn: &mut PgConnection,
        rows: Vec<TicketWithPeople>,
        selection: NestedSelection,
    ) -> Result<(Vec<Ticket>, Nested), AppError> {
        // Sized for a page's rows at once: growing them row by row rehashed them several times.
        let people = |read: bool| if read { rows.len() } else { 0 };
        let mut nested = Nested {
            selection,
            customers: HashMap::with_capacity_and_hasher(people(selection.customer), Default::default()),
            technicians: HashMap::with_capacity_and_hasher(people(selection.assignee), Default::default()),
            ..Nested::default()
        };
        let mut tickets = Vec::with_capacity(rows.len());
        for (ticket, customer, assignee) in rows {
            if let Some(customer) = customer {
                nested.customers.entry(customer.id).or_insert_with(|| Direct(CustomerNode(customer)));
            }
            if let Some(technician) = assignee {
                nested.technicians.entry(technician.id).or_insert_with(|| Direct(TechnicianNode(technician)));
            }
            tickets.push(ticket);
        }
        if tickets.is_empty() {
            return Ok((tickets, nested));
        }
        let ticket_ids: Vec<i64> = tickets.iter().map(|ticket| ticket.id).collect();
        if selection.timeline {
            let timelines = store::tickets::events_of(conn, &ticket_ids)?;
            nested.timelines = timelines
                .into_iter()
                .map(|(id, events)| (id, events.into_iter().map(|event| Direct(TicketEventNode(event))).collect()))
                .collect();
        }
        if selection.sla {
            nested.slas = store::sla::by_ticket_ids(conn, &ticket_ids)?;
        }
        Ok((tickets, nested))
    }

    /// Hands the SLAs to the loaders and the rest to the rows (none when nothing was selected).
    async fn share(mut self, loaders: &Loaders) -> Option<Arc<Nested>> {
        loaders.slas.feed_many(std::mem::take(&mut self.slas)).await;
        let selection = self.selection;
        (selection.customer || selection.assignee || selection.timeline).then(|| Arc::new(self))
    }
}

/// One ticket, read with what the query selects under it on one connection.
async fn ticket_view(ctx: &Context<'_>, key: TicketKey) -> Result<Option<Direct<TicketNode>>, AppError> {
    let selection = NestedSelection::of([ctx.look_ahead()]);
    let (ticket, nested) = db(ctx)?
        .run(move |conn| {
            let row = store::tickets::view(conn, key, selection.reading())?;
            let (mut tickets, nested) = Nested::load(conn, row.into_iter().collect(), selection)?;
            Ok((tickets.pop(), nested))
        })
        .await?;
    let nested = nested.share(ctx.data_unchecked::<Loaders>()).await;
    Ok(ticket.map(|ticket| Direct(TicketNode(ticket, nested, selection.columns))))
}

#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Direct<TicketNode>>, AppError> {
        let id = parse_id("id", &id)?;
        ticket_view(ctx, TicketKey::Id(id)).await
    }

    /// A ticket by its human number, e.g. TS-000123.
    async fn ticket_by_number(
        &self,
        ctx: &Context<'_>,
        number: String,
    ) -> Result<Option<Direct<TicketNode>>, AppError> {
        let number = limits::required_text("number", &number, 32)?;
        ticket_view(ctx, TicketKey::Number(number)).await
    }

    /// Tickets matching `filter`, in `orderBy` order (default: newest opened first).
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
        order_by: Option<TicketOrderInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TicketConnection, AppError> {
        let filter = filter.unwrap_or_default().into_store()?;
        let order_by = order_by.or_else(|| super::sla::default_order(&filter));
        ticket_page(ctx, filter, order_by, first, after).await
    }
}

/// A new support request. Give the customer as `customerId` or as `newCustomer`, not both.
#[derive(InputObject)]
pub struct CreateTicketInput {
    pub customer_id: Option<ID>,
    /// A customer to create with the ticket, in the same transaction.
    pub new_customer: Option<CustomerInput>,
    pub subject: String,
    #[graphql(default)]
    pub description: String,
    pub category: String,
    #[graphql(default_with = "Priority::Normal")]
    pub priority: Priority,
    pub channel: TicketChannel,
    pub assignee_id: Option<ID>,
    /// When the request came in; default now. A past instant (imports) needs SUPERVISOR or
    /// ADMIN; a future one is refused.
    pub opened_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Logs a support request. It starts OPEN, with a CREATED event (and an ASSIGNED one when
    /// it comes with an assignee).
    async fn create_ticket(&self, ctx: &Context<'_>, input: CreateTicketInput) -> Result<TicketNode, AppError> {
        let caller = caller(ctx)?;
        let now = Utc::now();
        let customer = match (input.customer_id, input.new_customer) {
            (Some(id), None) => CustomerRef::Existing(parse_id("customerId", &id)?),
            (None, Some(new)) => CustomerRef::New(new.into_new("newCustomer.")?),
            _ => return Err(AppError::bad_input("customerId", "give either customerId or newCustomer")),
        };
        let opened_at = match input.opened_at {
            None => now,
            Some(at) if at > now + Duration::seconds(CLOCK_SKEW_SECONDS) => {
                return Err(AppError::bad_input("openedAt", "must not be in the future"));
            }
            Some(at) if at >= now - Duration::seconds(CLOCK_SKEW_SECONDS) => at.min(now),
            Some(_) if !caller.has_role(Role::Supervisor) => {
                return Err(AppError::Forbidden(
                    "openedAt: a past openedAt (imports) needs SUPERVISOR or ADMIN".into(),
                ));
            }
            Some(at) => at,
        };
        let assignee_id = input.assignee_id.map(|id| parse_id("assigneeId", &id)).transpose()?;
        if assignee_id.is_some() {
            permissions::may_assign(caller, None, assignee_id)?;
        }
        let ticket = NewTicket {
            customer_id: 0,
            subject: limits::required_text("subject", &input.subject, SUBJECT_MAX)?,
            description: limits::free_text("description", &input.description, DESCRIPTION_MAX)?,
            category: limits::required_text("category", &input.category, CATEGORY_MAX)?,
            priority: input.priority,
            channel: input.channel,
            assignee_id,
            opened_at,
        };
        let actor = caller.subject.clone();
        let created = db(ctx)?.run(move |conn| store::tickets::create(conn, customer, ticket, &actor)).await?;
        Ok(TicketNode::new(created))
    }

    /// Moves a ticket along its lifecycle. Refused (BAD_USER_INPUT, naming the current status and
    /// the allowed next ones) when the lifecycle does not allow it.
    async fn transition_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        to: TicketStatus,
        note: Option<String>,
    ) -> Result<TicketNode, AppError> {
        change_ticket(ctx, id, version, Change::Transition { to }, note).await
    }

    /// Assigns a ticket (`assigneeId: null` unassigns it). A technician may take an unassigned
    /// ticket or hand back their own; supervisors assign anyone.
    async fn assign_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        assignee_id: Option<ID>,
        note: Option<String>,
    ) -> Result<TicketNode, AppError> {
        let assignee_id = assignee_id.map(|id| parse_id("assigneeId", &id)).transpose()?;
        change_ticket(ctx, id, version, Change::Assign { assignee_id }, note).await
    }

    async fn change_ticket_priority(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        priority: Priority,
        note: Option<String>,
    ) -> Result<TicketNode, AppError> {
        change_ticket(ctx, id, version, Change::Priority { priority }, note).await
    }

    async fn add_ticket_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        note: String,
    ) -> Result<TicketNode, AppError> {
        let note = limits::required_text("note", &note, NOTE_MAX)?;
        change_ticket(ctx, id, version, Change::Note, Some(note)).await
    }
}

async fn change_ticket(
    ctx: &Context<'_>,
    id: ID,
    version: i32,
    change: Change,
    note: Option<String>,
) -> Result<TicketNode, AppError> {
    let caller = caller(ctx)?.clone();
    let id = parse_id("id", &id)?;
    let note = limits::optional_text("note", note.as_deref(), NOTE_MAX)?;
    let updated = db(ctx)?.run(move |conn| store::tickets::change(conn, &caller, id, version, change, note)).await?;
    Ok(TicketNode::new(updated))
}

#[cfg(test)]
mod tests {
    use super::super::pagination::tests::{check, fuzz_cursors, storable_instant, storable_text};
    use super::*;

    #[test]
    fn crafted_ticket_cursors_decode_to_storable_keys_or_bad_input() {
        let mut keys = 0;
        for cursor in fuzz_cursors(0x7469_636b_6574, 20_000) {
            keys += usize::from(check::<TicketCursor>(&cursor, |key| {
                storable_text(&key.sort)
                    && key.at.as_ref().is_none_or(storable_instant)
                    && key.rank.is_none_or(|rank| (0..=3).contains(&rank))
                    && key.id >= 1
            }));
        }
        assert!(keys > 100, "{keys} ticket keys decoded");
    }
}
