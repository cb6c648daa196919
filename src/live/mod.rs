//! Live ticket views: one LISTEN connection per instance hears every committed ticket change
//! (migration 000016 announces them from the writer's own transaction, ids only), reads the
//! changed rows once, and fans them out to this instance's subscribers through a bounded
//! broadcast buffer. Each subscriber then decides, with the caller's permissions and filter,
//! whether the change is theirs (src/graphql/subscriptions.rs); the WebSocket side is
//! src/http/subscriptions.rs. Writers announce changes only while some instance has subscribers
//! (src/live/presence.rs).

mod listener;
mod presence;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use crate::config::parse_duration;
use crate::db::Db;
use crate::error::AppError;
use crate::models::{Interaction, Ticket, TicketEvent};
use crate::store::tickets::{AssigneeFilter, TicketFilter};

pub use listener::run_listener;
use presence::Presence;
pub use presence::run_presence;

/// The PostgreSQL channel migration 000016 notifies.
pub const CHANNEL: &str = "deskpulse_ticket_changes";

/// One committed change, as this instance read it after the notification.
#[derive(Debug)]
pub struct TicketChange {
    /// The ticket as read after the change (its version is at least the change's).
    pub ticket: Ticket,
    /// The timeline event the change wrote (creation, transition, assignment, priority, note,
    /// rating); `None` for an interaction logged on the ticket.
    pub event: Option<TicketEvent>,
    /// The interaction logged on the ticket, when that was the change.
    pub interaction: Option<Interaction>,
}

/// What the feed carries to subscribers.
#[derive(Debug, Clone)]
pub enum FeedItem {
    Change(Arc<TicketChange>),
    /// Changes committed in this span may not have reached this instance (the listener's
    /// connection dropped, or rows could not be read): subscribers should refetch.
    Interrupted {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// Whether the instance's LISTEN connection hears changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// Connecting, at start-up or after the connection was lost.
    Connecting,
    Yes,
    /// The database URL cannot be used for LISTEN: live changes are off for good.
    Off,
}

/// Longest wait of a new subscriber for the LISTEN connection (its connect timeout).
const LISTENING_WAIT: Duration = Duration::from_secs(10);

/// This instance's fan-out of ticket changes.
#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<FeedItem>,
    presence: Arc<Presence>,
    listening: watch::Sender<Listening>,
}

impl Feed {
    /// A feed whose subscribers may each fall at most `buffer` items behind.
    pub fn new(buffer: usize, db: Db) -> Feed {
        let (sender, _) = broadcast::channel(buffer.max(1));
        let (listening, _) = watch::channel(Listening::Connecting);
        Feed { sender, presence: Arc::new(Presence::new(db)), listening }
    }

    /// A new subscriber's receiver: every change committed from now on reaches it. Made only
    /// while the LISTEN connection hears changes: one made before it first listens would miss
    /// the changes committed until then, and nothing would tell it (a connection lost later is
    /// told to subscribers as [`FeedItem::Interrupted`]).
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<FeedItem>, AppError> {
        self.listening().await?;
        self.presence.join(self).await
    }

    /// Waits, at most [`LISTENING_WAIT`], until the LISTEN connection hears changes.
    async fn listening(&self) -> Result<(), AppError> {
        let mut listening = self.listening.subscribe();
        let heard = tokio::time::timeout(LISTENING_WAIT, listening.wait_for(|state| *state != Listening::Connecting));
        match heard.await.ok().and_then(Result::ok).map(|state| *state) {
            Some(Listening::Yes) => Ok(()),
            Some(Listening::Off) => Err(AppError::Unavailable("live ticket changes are off on this instance".into())),
            _ => Err(AppError::Unavailable("the change feed is not listening yet".into())),
        }
    }

    /// Set by the listener as its connection comes and goes.
    fn set_listening(&self, state: Listening) {
        self.listening.send_replace(state);
    }

    fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Subscriptions open on this instance right now.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    fn publish(&self, item: FeedItem) {
        // No subscriber: nothing to tell.
        let _ = self.sender.send(item);
    }
}

/// Settings of GraphQL subscriptions over WebSocket (`GET /graphql`, `graphql-transport-ws`).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    /// Most WebSocket connections this instance holds at once; further ones are answered 503.
    #[arg(long = "ws-max-connections", env = "DESKPULSE_WS_MAX_CONNECTIONS", value_name = "N", default_value_t = 1000)]
    pub max_connections: u32,

    /// Most subscriptions active at once on one connection.
    #[arg(
        long = "ws-max-subscriptions",
        env = "DESKPULSE_WS_MAX_SUBSCRIPTIONS",
        value_name = "N",
        default_value_t = 20
    )]
    pub max_subscriptions: u32,

    /// Changes a subscriber may fall behind before its connection is closed (code 4008).
    #[arg(long = "ws-subscriber-buffer", env = "DESKPULSE_WS_SUBSCRIBER_BUFFER", value_name = "N",
          default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub subscriber_buffer: u32,

    /// How often the server pings each connection (WebSocket ping frames); a connection that
    /// answers no ping for two intervals is closed.
    #[arg(long = "ws-keepalive", env = "DESKPULSE_WS_KEEPALIVE", value_name = "DURATION",
          default_value = "15s", value_parser = parse_duration)]
    pub keepalive: Duration,

    /// How long a message to a client may wait for the client to read before the connection is
    /// dropped as stalled.
    #[arg(long = "ws-send-timeout", env = "DESKPULSE_WS_SEND_TIMEOUT", value_name = "DURATION",
          default_value = "10s", value_parser = parse_duration)]
    pub send_timeout: Duration,

    /// How long a new connection has to send `connection_init`.
    #[arg(long = "ws-init-timeout", env = "DESKPULSE_WS_INIT_TIMEOUT", value_name = "DURATION",
          default_value = "10s", value_parser = parse_duration)]
    pub init_timeout: Duration,
}

impl Default for LiveSettings {
    fn default() -> LiveSettings {
        LiveSettings {
            max_connections: 1000,
            max_subscriptions: 20,
            subscriber_buffer: 256,
            keepalive: Duration::from_secs(15),
            send_timeout: Duration::from_secs(10),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// What the WebSocket endpoint shares across connections.
pub struct Live {
    pub settings: LiveSettings,
    pub feed: Feed,
    /// One permit per open connection.
    pub connections: Arc<tokio::sync::Semaphore>,
}

impl Live {
    pub fn new(settings: &LiveSettings, db: Db) -> Live {
        Live {
            settings: settings.clone(),
            feed: Feed::new(settings.subscriber_buffer as usize, db),
            connections: Arc::new(tokio::sync::Semaphore::new(settings.max_connections as usize)),
        }
    }

    /// WebSocket connections open right now.
    pub fn open_connections(&self) -> usize {
        (self.settings.max_connections as usize).saturating_sub(self.connections.available_permits())
    }
}

/// Whether `ticket` is in the list `filter` selects: the same conditions the `tickets` query
/// puts in SQL (src/store/tickets.rs), checked on one row in memory.
pub fn matches(filter: &TicketFilter, ticket: &Ticket) -> bool {
    let within = |at: Option<DateTime<Utc>>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
        (from.is_none() && to.is_none())
            || at.is_some_and(|at| from.is_none_or(|from| at >= from) && to.is_none_or(|to| at < to))
    };
    (filter.statuses.is_empty() || filter.statuses.contains(&ticket.status))
        && match filter.assignee {
            AssigneeFilter::Any => true,
            AssigneeFilter::Unassigned => ticket.assignee_id.is_none(),
            AssigneeFilter::Technician(id) => ticket.assignee_id == Some(id),
        }
        && filter.customer_id.is_none_or(|customer| ticket.customer_id == customer)
        && filter.category.as_ref().is_none_or(|category| &ticket.category == category)
        && (filter.priorities.is_empty() || filter.priorities.contains(&ticket.priority))
        && (filter.channels.is_empty() || filter.channels.contains(&ticket.channel))
        && within(Some(ticket.opened_at), filter.opened_from, filter.opened_to)
        && within(ticket.resolved_at, filter.resolved_from, filter.resolved_to)
        && filter.search.as_ref().is_none_or(|search| {
            // Like the list's `(subject || ' ' || description) ILIKE '%search%'`.
            format!("{} {}", ticket.subject, ticket.description).to_lowercase().contains(&search.to_lowercase())
        })
}

/// Why the server closes a connection, with a `graphql-transport-ws` close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

/// Close code for a subscriber that fell further behind than its buffer.
pub const CLOSE_FELL_BEHIND: u16 = 4008;

/// Lets a subscription close the connection it runs on (attached to each connection's data).
#[derive(Clone)]
pub struct ConnectionControl(tokio::sync::mpsc::Sender<CloseReason>);

impl ConnectionControl {
    pub fn new() -> (ConnectionControl, tokio::sync::mpsc::Receiver<CloseReason>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        (ConnectionControl(sender), receiver)
    }

    pub fn close(&self, code: u16, reason: impl Into<String>) {
        // One reason is enough: a second one while the first is pending is dropped.
        let _ = self.0.try_send(CloseReason { code, reason: reason.into() });
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::DatabaseSettings;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        database: DatabaseSettings,
    }

    /// A feed over a pool that never connects: these tests stop before any statement.
    fn feed() -> Feed {
        let args = Args::parse_from(["test", "--database-url", "postgres://nobody@127.0.0.1:9/none"]);
        Feed::new(4, Db::new(&args.database))
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscriber_waits_for_the_listener_and_is_refused_without_one() {
        let started = tokio::time::Instant::now();
        let connecting = feed();
        let listener = connecting.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            listener.set_listening(Listening::Yes);
        });
        assert!(connecting.listening().await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(3), "heard as soon as the listener listens");

        let never = feed();
        let started = tokio::time::Instant::now();
        assert!(matches!(never.listening().await, Err(AppError::Unavailable(_))));
        assert_eq!(started.elapsed(), LISTENING_WAIT);

        let off = feed();
        off.set_listening(Listening::Off);
        let started = tokio::time::Instant::now();
        assert!(matches!(off.listening().await, Err(AppError::Unavailable(_))));
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once when live changes are off");
    }
}
