//! This instance's presence in `live_presence` (migration 000021): writers announce their
//! changes only while some instance with subscribers keeps a fresh heartbeat there, because a
//! notifying commit takes PostgreSQL's cluster-wide notify lock across its WAL flush.
//!
//! A first subscriber waits until the presence is visible to every writer: after the row
//! commits, it waits for the transactions that were already running (their trigger may have
//! looked before the row existed) to end, at most [`OLDER_WRITERS_WAIT`]. Heartbeats keep the row
//! fresh while anybody here subscribes; the row goes when nobody does.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::{Mutex, broadcast};
use tokio::time::Instant;

use super::{Feed, FeedItem};
use crate::db::Db;
use crate::error::AppError;
use crate::store::changes;

/// How often a presence in use is renewed.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How long writers count a heartbeat (`interval '90 seconds'` in migration 000021), less a
/// margin for the time between our clock and the statement's.
const COUNTED_FOR: Duration = Duration::from_secs(80);

/// How often the presence task looks at the subscriber count.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Longest wait for the transactions running when a presence is made to end. A writer that
/// started before it and commits later than this (a long import) may go unannounced.
const OLDER_WRITERS_WAIT: Duration = Duration::from_secs(5);

/// This instance's row in `live_presence`.
pub struct Presence {
    db: Db,
    instance_id: String,
    /// When the row was last renewed, as far as writers count it; `None` while there is none.
    renewed_at: Mutex<Option<Instant>>,
}

impl Presence {
    pub fn new(db: Db) -> Presence {
        Presence { db, instance_id: uuid::Uuid::new_v4().to_string(), renewed_at: Mutex::new(None) }
    }

    /// A new subscriber's receiver, made once every writer announces its changes. Made under
    /// the same lock as [`Presence::tend`]'s look at the subscriber count, so that the row is
    /// never withdrawn between this renewal and the receiver.
    pub async fn join(&self, feed: &Feed) -> Result<broadcast::Receiver<FeedItem>, AppError> {
        let mut renewed_at = self.renewed_at.lock().await;
        if !renewed_at.is_some_and(|at| at.elapsed() < HEARTBEAT) {
            self.renew(&mut renewed_at).await?;
        }
        Ok(feed.sender.subscribe())
    }

    /// Renews the row; when writers had stopped counting it (or there was none), also waits for
    /// the writers that may have looked before it. Returns since when writers had not counted
    /// it, if they had not.
    async fn renew(&self, renewed_at: &mut Option<Instant>) -> Result<Option<Instant>, AppError> {
        let started = Instant::now();
        let lapsed_since = match *renewed_at {
            Some(at) if at.elapsed() < COUNTED_FOR => None,
            Some(at) => Some(at + COUNTED_FOR),
            None => Some(started),
        };
        let instance_id = self.instance_id.clone();
        self.db.run(move |conn| changes::renew_presence(conn, &instance_id)).await?;
        if lapsed_since.is_some() {
            self.wait_for_older_writers().await?;
        }
        *renewed_at = Some(started);
        Ok(lapsed_since)
    }

    async fn wait_for_older_writers(&self) -> Result<(), AppError> {
        let deadline = Instant::now() + OLDER_WRITERS_WAIT;
        let (_, horizon) = self.db.run(changes::snapshot_bounds).await?;
        loop {
            let (oldest_running, _) = self.db.run(changes::snapshot_bounds).await?;
            if oldest_running >= horizon {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    waited = ?OLDER_WRITERS_WAIT,
                    "a transaction older than this instance's live presence is still running; \
                     its changes may go unannounced"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// One look at the subscribers: renew the row when it is due and somebody subscribes, remove
    /// it when nobody does. A renewal after writers stopped counting the row (the database was
    /// out of reach for a while) tells subscribers that changes may have gone unannounced.
    async fn tend(&self, feed: &Feed) -> Result<(), AppError> {
        let mut renewed_at = self.renewed_at.lock().await;
        if feed.subscribers() == 0 {
            if renewed_at.is_some() {
                let instance_id = self.instance_id.clone();
                self.db.run(move |conn| changes::withdraw_presence(conn, &instance_id)).await?;
                *renewed_at = None;
            }
            return Ok(());
        }
        if renewed_at.is_some_and(|at| at.elapsed() < HEARTBEAT) {
            return Ok(());
        }
        if let Some(lapsed) = self.renew(&mut renewed_at).await? {
            let unannounced_for = TimeDelta::from_std(lapsed.elapsed()).unwrap_or_default();
            let to = Utc::now();
            feed.publish(FeedItem::Interrupted { from: to - unannounced_for, to });
        }
        Ok(())
    }
}

/// Keeps this instance's presence in step with its subscribers for as long as the process runs.
pub async fn run_presence(feed: Feed) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if let Err(err) = feed.presence().tend(&feed).await {
            tracing::warn!(error = %err, "could not renew this instance's live presence; retrying");
        }
    }
}
