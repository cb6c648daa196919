//! The instance's one LISTEN connection (tokio-postgres: diesel cannot wait for a notification)
//! and the loop that turns notifications into [`FeedItem`]s. A dropped connection is
//! reconnected with backoff; once it is back, subscribers are told that changes committed in
//! between may be missing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{CHANNEL, Feed, FeedItem, Listening, TicketChange};
use crate::config::Secret;
use crate::db::Db;
use crate::store::changes::{self, Notice};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Notifications read together in one round of statements.
const BATCH: usize = 256;

/// Notifications queued between the connection and the reader before the connection waits.
const QUEUE: usize = 4096;

/// Why a LISTEN connection ended.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the connection closed")]
    Closed,
    #[error("the database URL is not usable for LISTEN: {0}")]
    Url(String),
}

/// Listens for ticket changes for as long as the process runs.
pub async fn run_listener(database_url: Secret, db: Db, feed: Feed) {
    let mut backoff = FIRST_BACKOFF;
    // When the last connection was lost, if it was: told to subscribers once a new one listens.
    let mut lost_at = None;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = listen(&database_url, &db, &feed, &mut lost_at).await;
        feed.set_listening(Listening::Connecting);
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        let now = Utc::now();
        lost_at.get_or_insert(now);
        match outcome {
            Err(Lost::Url(reason)) => {
                feed.set_listening(Listening::Off);
                tracing::error!(%reason, "live ticket changes are off");
                return;
            }
            Err(err) => tracing::warn!(error = %err, retry_in = ?backoff, "ticket change listener lost; reconnecting"),
            Ok(()) => tracing::warn!(retry_in = ?backoff, "ticket change listener stopped; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One LISTEN connection, from connect to loss.
async fn listen(
    database_url: &Secret,
    db: &Db,
    feed: &Feed,
    lost_at: &mut Option<chrono::DateTime<Utc>>,
) -> Result<(), Lost> {
    let mut config =
        tokio_postgres::Config::from_str(database_url.expose()).map_err(|err| Lost::Url(err.to_string()))?;
    // A peer that vanishes without closing the socket is noticed within a minute or so.
    config.keepalives(true).keepalives_idle(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notices, mut received) = mpsc::channel::<Result<Notice, Lost>>(QUEUE);
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        loop {
            let item = match messages.next().await {
                Some(Ok(AsyncMessage::Notification(notification))) => match Notice::parse(notification.payload()) {
                    Some(notice) => Ok(notice),
                    None => {
                        tracing::warn!(payload = notification.payload(), "ignored a malformed ticket change notice");
                        continue;
                    }
                },
                Some(Ok(_)) => continue,
                Some(Err(err)) => Err(Lost::Postgres(err)),
                None => Err(Lost::Closed),
            };
            let last = item.is_err();
            if notices.send(item).await.is_err() || last {
                return;
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(err) = listening {
        driver.abort();
        return Err(err.into());
    }
    tracing::info!("listening for ticket changes");
    if let Some(from) = lost_at.take() {
        feed.publish(FeedItem::Interrupted { from, to: Utc::now() });
    }
    // After the notice: a subscription made from here on missed nothing.
    feed.set_listening(Listening::Yes);
    let outcome = loop {
        let first = match received.recv().await {
            Some(Ok(notice)) => notice,
            Some(Err(err)) => break Err(err),
            None => break Err(Lost::Closed),
        };
        let mut batch = vec![first];
        let mut ended = None;
        while batch.len() < BATCH {
            match received.try_recv() {
                Ok(Ok(notice)) => batch.push(notice),
                Ok(Err(err)) => {
                    ended = Some(err);
                    break;
                }
                Err(_) => break,
            }
        }
        publish(db, feed, batch).await;
        if let Some(err) = ended {
            break Err(err);
        }
    };
    driver.abort();
    drop(client);
    outcome
}

/// Reads the changed rows once for every subscriber of this instance, and hands them out in the
/// order they were committed. With nobody subscribed nothing is read.
async fn publish(db: &Db, feed: &Feed, batch: Vec<Notice>) {
    if feed.subscribers() == 0 {
        return;
    }
    let started = Utc::now();
    match db.run(move |conn| changes::read(conn, &batch)).await {
        Ok(read) => {
            for change in read {
                feed.publish(FeedItem::Change(Arc::new(TicketChange {
                    ticket: change.ticket,
                    event: change.event,
                    interaction: change.interaction,
                })));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not read changed tickets; subscribers are told to refetch");
            feed.publish(FeedItem::Interrupted { from: started, to: Utc::now() });
        }
    }
}
