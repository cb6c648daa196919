//! The customer interaction log: every call, email and chat.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Duration, Utc};

use super::pagination::{ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::staff::{CustomerNode, TechnicianNode};
use super::tickets::{TicketNode, TimeRange};
use super::{caller, cost, db, loaders::Loaders, parse_id};
use crate::auth::Role;
use crate::domain::limits::{self, DURATION_MAX_SECONDS, SUMMARY_MAX};
use crate::domain::permissions;
use crate::domain::{Direction, InteractionChannel};
use crate::error::AppError;
use crate::models::{Interaction, NewInteraction};
use crate::store;
use crate::store::interactions::InteractionFilter;

/// How far a client's clock may run ahead: an `occurredAt` within this of now is accepted.
const CLOCK_SKEW_SECONDS: i64 = 60;

/// One call, email or chat with a customer. Never edited: a correction is a new entry.
pub struct InteractionNode(pub Interaction);

#[Object(name = "Interaction")]
impl InteractionNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<CustomerNode>, AppError> {
        Ok(ctx.data_unchecked::<Loaders>().customers.load_one(self.0.customer_id).await?.map(CustomerNode))
    }
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<TicketNode>, AppError> {
        match self.0.ticket_id {
            Some(id) => Ok(ctx.data_unchecked::<Loaders>().tickets.load_one(id).await?.map(TicketNode::new)),
            None => Ok(None),
        }
    }
    /// The technician who had the interaction.
    async fn technician(&self, ctx: &Context<'_>) -> Result<Option<TechnicianNode>, AppError> {
        match self.0.technician_id {
            Some(id) => Ok(ctx.data_unchecked::<Loaders>().technicians.load_one(id).await?.map(TechnicianNode)),
            None => Ok(None),
        }
    }
    async fn channel(&self) -> InteractionChannel {
        self.0.channel
    }
    async fn direction(&self) -> Direction {
        self.0.direction
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The entry this one corrects.
    async fn corrects(&self, ctx: &Context<'_>) -> Result<Option<InteractionNode>, AppError> {
        match self.0.corrects_id {
            Some(id) => Ok(ctx.data_unchecked::<Loaders>().interactions.load_one(id).await?.map(InteractionNode)),
            None => Ok(None),
        }
    }
    /// The subject of the token that logged it.
    async fn logged_by(&self) -> &str {
        &self.0.logged_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Filters for a customer's or a ticket's interactions.
#[derive(InputObject, Default)]
pub struct InteractionFilterInput {
    pub channel: Option<Vec<InteractionChannel>>,
    pub direction: Option<Direction>,
    pub occurred_at: Option<TimeRange>,
}

impl InteractionFilterInput {
    pub fn into_store(self) -> InteractionFilter {
        let period = self.occurred_at.unwrap_or_default();
        InteractionFilter {
            channels: self.channel.unwrap_or_default(),
            direction: self.direction,
            from: period.from,
            to: period.to,
            ..InteractionFilter::default()
        }
    }
}

/// Filters for interactions across all customers.
#[derive(InputObject, Default)]
pub struct AllInteractionsFilterInput {
    pub customer_id: Option<ID>,
    pub ticket_id: Option<ID>,
    pub technician_id: Option<ID>,
    pub channel: Option<Vec<InteractionChannel>>,
    pub direction: Option<Direction>,
    pub occurred_at: Option<TimeRange>,
}

pub type InteractionConnection = Connection<ListCursor<(DateTime<Utc>, i64)>, InteractionNode, TotalCount>;

/// One page of interactions, newest first.
pub async fn interaction_page(
    ctx: &Context<'_>,
    filter: InteractionFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<InteractionConnection, AppError> {
    // One rule for every list of interactions, wherever it hangs in the schema.
    permissions::may_read_interactions(caller(ctx)?)?;
    let limit = limits::page_size("first", first, 20)?;
    let after = decode_cursor::<(DateTime<Utc>, i64)>("after", after.as_deref())?;
    let has_previous = after.is_some();
    let page_filter = filter.clone();
    let mut rows = db(ctx)?.run(move |conn| store::interactions::list(conn, &page_filter, after, limit + 1)).await?;
    let has_next = trim_page(&mut rows, limit);
    let total = TotalCount::new(move |conn| store::interactions::count(conn, &filter));
    let mut connection = Connection::with_additional_fields(has_previous, has_next, total);
    connection.edges.extend(rows.into_iter().map(|row| {
        let cursor = cursor_at((row.occurred_at, row.id));
        Edge::new(cursor, InteractionNode(row))
    }));
    Ok(connection)
}

#[derive(Default)]
pub struct InteractionQuery;

#[Object]
impl InteractionQuery {
    /// Interactions across all customers, newest first. Any staff role (as a customer's and a
    /// ticket's interactions).
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<AllInteractionsFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<InteractionConnection>, AppError> {
        let filter = filter.unwrap_or_default();
        let period = filter.occurred_at.unwrap_or_default();
        let store_filter = InteractionFilter {
            customer_id: filter.customer_id.map(|id| parse_id("filter.customerId", &id)).transpose()?,
            ticket_id: filter.ticket_id.map(|id| parse_id("filter.ticketId", &id)).transpose()?,
            technician_id: filter.technician_id.map(|id| parse_id("filter.technicianId", &id)).transpose()?,
            channels: filter.channel.unwrap_or_default(),
            direction: filter.direction,
            from: period.from,
            to: period.to,
        };
        Ok(Some(interaction_page(ctx, store_filter, first, after).await?))
    }
}

#[derive(InputObject)]
pub struct LogInteractionInput {
    pub customer_id: ID,
    /// A ticket of the same customer.
    pub ticket_id: Option<ID>,
    /// Default: the caller's technician. Only supervisors log for someone else.
    pub technician_id: Option<ID>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    /// Default now; a past instant is fine, a future one is refused.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Required for calls; never negative; at most a week.
    pub duration_seconds: Option<i32>,
    pub summary: String,
    /// The entry this one corrects (of the same customer).
    pub corrects_id: Option<ID>,
}

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Logs a call, email or chat. An OUTBOUND interaction on a ticket counts as a response: the
    /// ticket's firstResponseAt moves to it when it is earlier.
    async fn log_interaction(
        &self,
        ctx: &Context<'_>,
        input: LogInteractionInput,
    ) -> Result<InteractionNode, AppError> {
        let caller = caller(ctx)?;
        let now = Utc::now();
        let technician_id = match input.technician_id {
            Some(id) => {
                let id = parse_id("technicianId", &id)?;
                if !caller.has_role(Role::Supervisor) && caller.technician_id != Some(id) {
                    return Err(AppError::Forbidden(
                        "technicianId: only supervisors log for another technician".into(),
                    ));
                }
                Some(id)
            }
            None => caller.technician_id,
        };
        let occurred_at = match input.occurred_at {
            None => now,
            Some(at) if at > now + Duration::seconds(CLOCK_SKEW_SECONDS) => {
                return Err(AppError::bad_input("occurredAt", "must not be in the future"));
            }
            Some(at) => at.min(now),
        };
        match input.duration_seconds {
            Some(seconds) if !(0..=DURATION_MAX_SECONDS).contains(&seconds) => {
                return Err(AppError::bad_input(
                    "durationSeconds",
                    format!("must be between 0 and {DURATION_MAX_SECONDS}, got {seconds}"),
                ));
            }
            None if input.channel == InteractionChannel::Call => {
                return Err(AppError::bad_input("durationSeconds", "is required for a CALL"));
            }
            _ => {}
        }
        let new = NewInteraction {
            customer_id: parse_id("customerId", &input.customer_id)?,
            ticket_id: input.ticket_id.map(|id| parse_id("ticketId", &id)).transpose()?,
            technician_id,
            channel: input.channel,
            direction: input.direction,
            occurred_at,
            duration_seconds: input.duration_seconds,
            summary: limits::required_text("summary", &input.summary, SUMMARY_MAX)?,
            corrects_id: input.corrects_id.map(|id| parse_id("correctsId", &id)).transpose()?,
            logged_by: caller.subject.clone(),
        };
        let logged = db(ctx)?.run(move |conn| store::interactions::log(conn, new)).await?;
        Ok(InteractionNode(logged))
    }
}
