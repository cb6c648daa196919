//! Per-request DataLoaders: every nested object (assignee, customer, timeline) is fetched in one
//! batched statement per kind, however many parents a page holds. Built for each request, never
//! shared across requests, so no cache crosses users.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::db::Db;
use crate::error::AppError;
use crate::models::{
    Customer, ImprovementActionChange, Interaction, PerformanceReport, SatisfactionRating, Technician, Ticket,
    TicketEvent,
};
use crate::store;

/// Each loader caches for the request's lifetime, so what one resolver loaded (or a ticket page
/// fed in, such as its SLAs) costs nothing when another asks for it. A ticket page's customers,
/// assignees and timelines bypass them: its rows share what the page read with them.
pub struct Loaders {
    pub technicians: DataLoader<TechnicianLoader, HashMapCache>,
    pub customers: DataLoader<CustomerLoader, HashMapCache>,
    pub tickets: DataLoader<TicketLoader, HashMapCache>,
    pub timelines: DataLoader<TimelineLoader, HashMapCache>,
    pub interactions: DataLoader<InteractionLoader, HashMapCache>,
    pub ratings: DataLoader<CurrentRatingLoader, HashMapCache>,
    pub reports: DataLoader<ReportLoader, HashMapCache>,
    pub action_changes: DataLoader<ActionChangesLoader, HashMapCache>,
    pub slas: DataLoader<TicketSlaLoader, HashMapCache>,
}

impl Loaders {
    pub fn new(db: &Db) -> Loaders {
        Loaders {
            technicians: DataLoader::with_cache(TechnicianLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            customers: DataLoader::with_cache(CustomerLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            tickets: DataLoader::with_cache(TicketLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            timelines: DataLoader::with_cache(TimelineLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            interactions: DataLoader::with_cache(InteractionLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            ratings: DataLoader::with_cache(CurrentRatingLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            reports: DataLoader::with_cache(ReportLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            action_changes: DataLoader::with_cache(
                ActionChangesLoader(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            slas: DataLoader::with_cache(TicketSlaLoader(db.clone()), tokio::spawn, HashMapCache::default()),
        }
    }
}

impl Loaders {
    /// Loaders that batch but do not cache, for work that outlives a request (a subscription).
    pub fn uncached(db: &Db) -> Loaders {
        let loaders = Loaders::new(db);
        loaders.technicians.enable_all_cache(false);
        loaders.customers.enable_all_cache(false);
        loaders.tickets.enable_all_cache(false);
        loaders.timelines.enable_all_cache(false);
        loaders.interactions.enable_all_cache(false);
        loaders.ratings.enable_all_cache(false);
        loaders.reports.enable_all_cache(false);
        loaders.action_changes.enable_all_cache(false);
        loaders
    }
}

pub struct TechnicianLoader(Db);

impl Loader<i64> for TechnicianLoader {
    type Value = Technician;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Technician>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::technicians::by_ids(conn, &keys)).await.map_err(Arc::new)
    }
}

pub struct CustomerLoader(Db);

impl Loader<i64> for CustomerLoader {
    type Value = Customer;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Customer>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::customers::by_ids(conn, &keys)).await.map_err(Arc::new)
    }
}

/// A ticket's events in order, keyed by ticket id.
pub struct TimelineLoader(Db);

impl Loader<i64> for TimelineLoader {
    type Value = Vec<TicketEvent>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<TicketEvent>>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::tickets::events_of(conn, &keys)).await.map_err(Arc::new)
    }
}

pub struct TicketLoader(Db);

impl Loader<i64> for TicketLoader {
    type Value = Ticket;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Ticket>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::tickets::by_ids(conn, &keys)).await.map_err(Arc::new)
    }
}

pub struct InteractionLoader(Db);

impl Loader<i64> for InteractionLoader {
    type Value = Interaction;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Interaction>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::interactions::by_ids(conn, &keys)).await.map_err(Arc::new)
    }
}

/// A ticket's current satisfaction rating, keyed by ticket id.
pub struct CurrentRatingLoader(Db);

impl Loader<i64> for CurrentRatingLoader {
    type Value = SatisfactionRating;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, SatisfactionRating>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::ratings::current_of(conn, &keys)).await.map_err(Arc::new)
    }
}

pub struct ReportLoader(Db);

impl Loader<i64> for ReportLoader {
    type Value = PerformanceReport;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, PerformanceReport>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::reports::by_ids(conn, &keys)).await.map_err(Arc::new)
    }
}

/// An improvement action's change log, oldest first, keyed by action id.
pub struct ActionChangesLoader(Db);

impl Loader<i64> for ActionChangesLoader {
    type Value = Vec<ImprovementActionChange>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<ImprovementActionChange>>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::improvement::changes_of(conn, &keys)).await.map_err(Arc::new)
    }
}

/// What a ticket carries from its SLA policy, keyed by ticket id.
pub struct TicketSlaLoader(Db);

impl Loader<i64> for TicketSlaLoader {
    type Value = store::sla::TicketSla;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, store::sla::TicketSla>, Self::Error> {
        let keys = keys.to_vec();
        self.0.run(move |conn| store::sla::by_ticket_ids(conn, &keys)).await.map_err(Arc::new)
    }
}
