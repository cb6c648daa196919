//! Sealed KPI blocks kept in this process's memory, decoded, so that a block is sent by the
//! database and decoded once rather than on every KPI answer.
//!
//! Exactness does not depend on the cache. Every write of a block's row gives it a new
//! generation number from a sequence (migration 2026-12-02-000013), and a reader lists, in the
//! snapshot of its answer, the fresh blocks with their generations
//! ([`super::kpi_blocks::fresh_block_versions`]). A cached block is used only when its day and
//! generation are on that list, and is then the decoding of the very value the database would
//! send.
//! Whatever is not cached, or is stale, is read as before.
//!
//! The cache is process-wide and keyed by the database (its cluster's system identifier and its
//! oid), so the servers and tools of one process never mix databases. It holds at most
//! [`set_capacity`] bytes and forgets the blocks used longest ago first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::error::AppError;
use crate::kpi::facts::DecodedFacts;

/// The default capacity, in MB. Decoded, two years of the 1M-ticket demo set take about 300 MB.
pub const DEFAULT_CAPACITY_MB: usize = 1024;

static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_CAPACITY_MB << 20);

/// Caps the bytes of blocks kept (0: keep none). Set once at start-up by `serve`.
pub fn set_capacity(bytes: usize) {
    CAPACITY.store(bytes, Ordering::Relaxed);
    lock().shrink_to(bytes);
}

/// Which database a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, QueryableByName)]
pub struct DatabaseId {
    #[diesel(sql_type = BigInt)]
    cluster: i64,
    #[diesel(sql_type = BigInt)]
    oid: i64,
}

/// The database `conn` is connected to.
pub fn database_id(conn: &mut PgConnection) -> Result<DatabaseId, AppError> {
    Ok(diesel::sql_query(
        "SELECT (SELECT system_identifier FROM pg_control_system()) AS cluster, \
                (SELECT oid::bigint FROM pg_database WHERE datname = current_database()) AS oid",
    )
    .get_result(conn)?)
}

/// The block of `day` in `database` with exactly this generation, if it is kept.
pub fn get(database: DatabaseId, day: NaiveDate, generation: i64) -> Option<Arc<DecodedFacts>> {
    let mut cache = lock();
    cache.clock += 1;
    let clock = cache.clock;
    let entry = cache.entries.get_mut(&(database, day)).filter(|entry| entry.generation == generation)?;
    entry.last_used = clock;
    Some(entry.facts.clone())
}

/// Keeps a block as read in a snapshot, replacing any other generation of its day.
pub fn insert(database: DatabaseId, day: NaiveDate, generation: i64, facts: Arc<DecodedFacts>) {
    let capacity = CAPACITY.load(Ordering::Relaxed);
    let bytes = facts.heap_bytes();
    if bytes > capacity {
        return;
    }
    let mut cache = lock();
    cache.clock += 1;
    let entry = Entry { generation, facts, bytes, last_used: cache.clock };
    cache.bytes += bytes;
    if let Some(replaced) = cache.entries.insert((database, day), entry) {
        cache.bytes -= replaced.bytes;
    }
    cache.shrink_to(capacity);
}

/// The bytes of blocks kept now.
pub fn bytes_kept() -> usize {
    lock().bytes
}

struct Entry {
    generation: i64,
    facts: Arc<DecodedFacts>,
    /// What `facts` takes in memory.
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(DatabaseId, NaiveDate), Entry>,
    bytes: usize,
    /// Counts uses, to order entries by their last one.
    clock: u64,
}

impl Cache {
    /// Forgets the least recently used blocks until at most `capacity` bytes are kept (down to
    /// nine tenths of it, so that the next insertions do not each pay for a sort).
    fn shrink_to(&mut self, capacity: usize) {
        if self.bytes <= capacity {
            return;
        }
        let target = capacity / 10 * 9;
        let mut by_age: Vec<((DatabaseId, NaiveDate), u64)> =
            self.entries.iter().map(|(key, entry)| (*key, entry.last_used)).collect();
        by_age.sort_unstable_by_key(|(_, last_used)| *last_used);
        for (key, _) in by_age {
            if self.bytes <= target {
                break;
            }
            if let Some(entry) = self.entries.remove(&key) {
                self.bytes -= entry.bytes;
            }
        }
    }
}

fn lock() -> MutexGuard<'static, Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    // A panic while the lock was held cannot leave an entry half written: use the map as it is.
    CACHE.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).unwrap_or_default()
    }

    #[test]
    fn a_block_is_found_only_with_its_generation_and_the_oldest_goes_first() {
        let mut cache = Cache::default();
        let database = DatabaseId { cluster: 1, oid: 2 };
        for n in 1..=4 {
            cache.clock += 1;
            let entry = Entry { generation: 7, facts: Arc::default(), bytes: 100, last_used: cache.clock };
            cache.bytes += 100;
            cache.entries.insert((database, day(n)), entry);
        }
        cache.shrink_to(250);
        let kept: Vec<u32> = (1..=4).filter(|n| cache.entries.contains_key(&(database, day(*n)))).collect();
        assert_eq!(kept, [3, 4], "down to nine tenths of the capacity, newest kept");
        assert_eq!(cache.bytes, 200);
    }

    #[test]
    fn another_generation_or_database_is_a_miss() {
        let database = DatabaseId { cluster: 41, oid: 1 };
        let facts = DecodedFacts { names: vec![b"net".to_vec().into()], ..DecodedFacts::default() };
        insert(database, day(9), 3, Arc::new(facts.clone()));
        assert_eq!(get(database, day(9), 3).as_deref(), Some(&facts));
        assert!(get(database, day(9), 4).is_none());
        assert!(get(DatabaseId { cluster: 41, oid: 2 }, day(9), 3).is_none());
        insert(database, day(9), 4, Arc::default());
        assert!(get(database, day(9), 3).is_none(), "a new generation replaces the old");
    }
}
