//! Live ticket views: `ticketChanged(filter)` and `ticketUpdated(id)`. Each change comes from
//! this instance's feed (src/live), already read from the database; a subscription passes on
//! what the caller may watch (`permissions::may_watch_ticket`) and its filter selects (the
//! `tickets` filter, checked in memory by `live::matches`).

use std::sync::Arc;

use async_graphql::futures_util::stream::{BoxStream, Stream, StreamExt};
use async_graphql::{Context, Data, ErrorExtensions, Executor, ID, Object, Request, Response, Subscription};
use tokio::sync::broadcast::error::RecvError;

use super::interactions::InteractionNode;
use super::tickets::{TicketEventNode, TicketFilterInput, TicketNode};
use super::{AppSchema, caller, db, loaders::Loaders, parse_id};
use crate::auth::Caller;
use crate::db::Db;
use crate::domain::permissions;
use crate::error::{AppError, finish_response_errors, null_failed_fields};
use crate::live::{self, CLOSE_FELL_BEHIND, ConnectionControl, Feed, FeedItem, TicketChange};
use crate::models::Ticket;
use crate::store;

/// One committed change to a ticket.
pub struct TicketChangeNode(Arc<TicketChange>);

#[Object(name = "TicketChange")]
impl TicketChangeNode {
    /// The ticket as read after the change (a later change may already show in it).
    async fn ticket(&self) -> TicketNode {
        TicketNode::new(self.0.ticket.clone())
    }
    /// The ticket's version after the change.
    async fn version(&self) -> i32 {
        self.0.ticket.version
    }
    /// The timeline event the change wrote: creation, transition, assignment, priority, note or
    /// rating. Null when the change was an interaction logged on the ticket.
    async fn event(&self) -> Option<TicketEventNode> {
        self.0.event.clone().map(TicketEventNode)
    }
    /// The interaction logged on the ticket, when that was the change.
    async fn interaction(&self) -> Option<InteractionNode> {
        self.0.interaction.clone().map(InteractionNode)
    }
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every change to the tickets `filter` selects (the `tickets` filter) that the caller may
    /// watch, from the moment of subscribing. When changes may have been missed (the server lost
    /// its database connection for a while) an error with code CHANGES_MISSED says so: refetch.
    async fn ticket_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
    ) -> Result<impl Stream<Item = async_graphql::Result<TicketChangeNode>> + use<>, AppError> {
        let caller = caller(ctx)?.clone();
        let filter = filter.unwrap_or_default().into_store()?;
        watch(ctx, move |ticket| {
            permissions::may_watch_ticket(&caller, ticket.assignee_id) && live::matches(&filter, ticket)
        })
        .await
    }

    /// Every change to one ticket that the caller may watch. NOT_FOUND for an unknown id.
    async fn ticket_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = async_graphql::Result<TicketChangeNode>> + use<>, AppError> {
        let caller = caller(ctx)?.clone();
        let id = parse_id("id", &id)?;
        // Subscribed before the look-up, so that no change between the two is lost.
        let changes =
            watch(ctx, move |ticket| ticket.id == id && permissions::may_watch_ticket(&caller, ticket.assignee_id))
                .await?;
        db(ctx)?.run(move |conn| store::tickets::find(conn, id)).await?;
        Ok(changes)
    }
}

/// The feed's changes that `wanted` keeps. A subscriber that falls further behind than its buffer
/// gets an error and its connection is closed (code 4008): it would otherwise miss changes
/// without knowing.
async fn watch<F>(
    ctx: &Context<'_>,
    wanted: F,
) -> Result<impl Stream<Item = async_graphql::Result<TicketChangeNode>> + use<F>, AppError>
where
    F: Fn(&Ticket) -> bool + Send + Sync + 'static,
{
    let feed = ctx.data_opt::<Feed>().ok_or_else(|| AppError::internal("the connection has no feed attached"))?;
    let control = ctx
        .data_opt::<ConnectionControl>()
        .ok_or_else(|| AppError::internal("the connection has no control attached"))?
        .clone();
    let state = (feed.subscribe().await?, control, wanted, false);
    Ok(async_graphql::futures_util::stream::unfold(state, |(mut changes, control, wanted, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let item = match changes.recv().await {
                Ok(FeedItem::Change(change)) if wanted(&change.ticket) => Ok(TicketChangeNode(change)),
                Ok(FeedItem::Change(_)) => continue,
                Ok(FeedItem::Interrupted { from, to }) => Err(async_graphql::Error::new(
                    "the server's change feed was interrupted: changes in this span may be missing; refetch",
                )
                .extend_with(|_, ext| {
                    ext.set("code", "CHANGES_MISSED");
                    ext.set("from", from.to_rfc3339());
                    ext.set("to", to.to_rfc3339());
                })),
                Err(RecvError::Lagged(missed)) => {
                    let reason = format!("the client fell behind by {missed} changes; reconnect and refetch");
                    control.close(CLOSE_FELL_BEHIND, reason.clone());
                    let error = async_graphql::Error::new(reason).extend_with(|_, ext| ext.set("code", "FELL_BEHIND"));
                    return Some((Err(error), (changes, control, wanted, true)));
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((item, (changes, control, wanted, false)));
        }
    }))
}

/// Runs operations sent over a WebSocket: each subscription gets its own database handle and
/// DataLoaders that do not cache (a subscription lives for hours: a cache would serve stale
/// names and grow), and its answers get the same error finishing as HTTP answers.
#[derive(Clone)]
pub struct LiveExecutor {
    pub schema: AppSchema,
    pub db: Db,
    /// The upgrade request's id, for the log lines of errors.
    pub request_id: String,
}

impl Executor for LiveExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.schema.execute(self.prepare(request)).await
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let request_id = self.request_id.clone();
        self.schema
            .execute_stream_with_session_data(self.prepare(request), session_data.unwrap_or_default())
            .map(move |mut response| {
                finish_response_errors(&mut response.errors, &request_id);
                null_failed_fields(&mut response.data, &response.errors);
                response
            })
            .boxed()
    }
}

impl LiveExecutor {
    fn prepare(&self, request: Request) -> Request {
        let db = self.db.for_request();
        request.data(Loaders::uncached(&db)).data(db)
    }
}

/// What one connection's operations read: the caller its `connection_init` authenticated, the
/// instance's feed and the connection's control.
pub fn connection_data(caller: Caller, feed: Feed, control: ConnectionControl) -> Data {
    let mut data = Data::default();
    data.insert(caller);
    data.insert(feed);
    data.insert(control);
    data
}
