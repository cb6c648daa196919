//! The database: an r2d2 pool of diesel connections, the one helper every query goes through,
//! and the embedded migrations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, PooledConnection};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::watch;

use crate::config::DatabaseSettings;
use crate::error::{AppError, BoxError};
use crate::replicas::{Replica, Replicas, replica_may_retry};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Held while migrations run, so that instances starting together migrate one after another.
const MIGRATION_LOCK_KEY: i64 = 0x6465_736b_7075_6c73; // "deskpuls"

pub type PgPooled = PooledConnection<PgManager>;

/// An r2d2 pool of connections, with the threads its statements run on ([`Db::run`]): at most
/// one per connection, and one more. It derefs to the r2d2 pool.
#[derive(Clone)]
pub struct PgPool {
    connections: r2d2::Pool<PgManager>,
    threads: StatementThreads,
}

impl std::ops::Deref for PgPool {
    type Target = r2d2::Pool<PgManager>;

    fn deref(&self) -> &Self::Target {
        &self.connections
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads a pool's statements run on, started as they are needed up to `most`, and gone
/// with the pool's last handle. Not tokio's blocking pool: its hand-off, with one lock every
/// spawner and thread takes, was some 12 % of the server's samples under a page load, and a page
/// costs 17 % less server CPU on these threads (docs/benchmarks.md). A statement that finds every
/// thread busy waits in the channel, as it would have waited for a connection.
#[derive(Clone)]
struct StatementThreads(Arc<ThreadsInner>);

struct ThreadsInner {
    jobs: crossbeam_channel::Sender<Job>,
    waiting: crossbeam_channel::Receiver<Job>,
    most: usize,
    started: AtomicUsize,
    /// Threads waiting for a job; shared with them (they do not hold the sender).
    idle: Arc<AtomicUsize>,
}

impl StatementThreads {
    fn new(most: usize) -> StatementThreads {
        let (jobs, waiting) = crossbeam_channel::unbounded();
        let most = most.max(1);
        let inner = ThreadsInner { jobs, waiting, most, started: AtomicUsize::new(0), idle: Arc::default() };
        StatementThreads(Arc::new(inner))
    }

    /// Runs `job` on one of the threads, starting one when none is idle and fewer than the most
    /// run. A thread that cannot be started leaves the job to those that run; the first one
    /// failing is an error.
    fn spawn(&self, job: Job) -> Result<(), AppError> {
        let inner = &self.0;
        let more = |n: usize| (n < inner.most).then_some(n + 1);
        if inner.idle.load(Ordering::Acquire) == 0
            && inner.started.fetch_update(Ordering::AcqRel, Ordering::Acquire, more).is_ok()
        {
            // A thread holds the receiving end only: once the pool's last handle is gone, the
            // channel closes and the thread ends.
            let (waiting, idle) = (inner.waiting.clone(), inner.idle.clone());
            let thread = std::thread::Builder::new().name("deskpulse-db".into()).spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let job = waiting.recv();
                    idle.fetch_sub(1, Ordering::AcqRel);
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(err) = thread
                && inner.started.fetch_sub(1, Ordering::AcqRel) == 1
            {
                return Err(AppError::internal(format!("no thread for statements: {err}")));
            }
        }
        inner.jobs.send(job).map_err(|_| AppError::internal("the statement threads are gone"))
    }
}

/// How long a connection whose last work ended without an error is handed out again without a
/// round trip to prove it alive (HikariCP's "alive bypass window"). One idle for longer, or whose
/// last work failed, is pinged first (`SELECT 1`), so a connection that died with the database is
/// replaced before a request gets it; under load, no request pays the ping.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// A pooled connection, with until when it is handed out without a ping.
pub struct PgSession {
    conn: PgConnection,
    trusted_until: Option<Instant>,
}

impl PgSession {
    /// The connection itself.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// diesel's connection manager, pinging only the connections [`TRUSTED_FOR`] does not cover.
#[derive(Debug)]
pub struct PgManager(ConnectionManager<PgConnection>);

impl ManageConnection for PgManager {
    type Connection = PgSession;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgSession, Self::Error> {
        Ok(PgSession { conn: self.0.connect()?, trusted_until: None })
    }

    fn is_valid(&self, session: &mut PgSession) -> Result<(), Self::Error> {
        if session.trusted_until.is_some_and(|until| Instant::now() < until) {
            return Ok(());
        }
        self.0.is_valid(&mut session.conn)
    }

    fn has_broken(&self, session: &mut PgSession) -> bool {
        self.0.has_broken(&mut session.conn)
    }
}

/// Settings applied to every new pooled connection.
#[derive(Debug)]
struct SessionSetup {
    statement_timeout: Duration,
    /// What the connection is called in `pg_stat_activity`.
    application_name: &'static str,
}

impl CustomizeConnection<PgSession, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, session: &mut PgSession) -> Result<(), diesel::r2d2::Error> {
        session
            .conn
            .batch_execute(&format!(
                "SET statement_timeout = {}; SET TIME ZONE 'UTC'; SET application_name = '{}'",
                self.statement_timeout.as_millis(),
                self.application_name
            ))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The `application_name` of the primary's pooled connections.
pub const PRIMARY_APPLICATION_NAME: &str = "deskpulse";

/// The shared handle to the database. A request works with its own copy, whose statement counter
/// tells how many SQL statements the request ran. Reporting reads go through
/// [`Db::run_reporting`], which sends them to a usable read replica when there is one.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    statements: Arc<AtomicU64>,
    replicas: Arc<Replicas>,
    /// What every statement of this request waits for: the token check of a query ([`Gate`]).
    gate: Option<Arc<Gate>>,
    /// Whether `pool` is the primary's, where a gate's check may run with the request's work.
    on_primary: bool,
}

/// A pool of `size` connections to `url`, built without connecting: the database may come up
/// later.
pub fn build_pool(
    url: &str,
    size: u32,
    checkout_timeout: Duration,
    statement_timeout: Duration,
    application_name: &'static str,
) -> PgPool {
    let connections = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(checkout_timeout)
        .test_on_check_out(true)
        .connection_customizer(Box::new(SessionSetup { statement_timeout, application_name }))
        .error_handler(Box::new(r2d2::LoggingErrorHandler))
        .build_unchecked(PgManager(ConnectionManager::new(url)));
    // One thread more than connections: with every connection busy, one thread is free or waiting
    // out the checkout timeout, so a statement waits for a thread at most that long and is then
    // answered that the pool is exhausted.
    PgPool { connections, threads: StatementThreads::new(size as usize + 1) }
}

impl Db {
    /// Builds the pool without connecting: the database may come up later.
    pub fn new(settings: &DatabaseSettings) -> Db {
        Db::with_pool_size(settings, settings.pool_size)
    }

    /// Like [`Db::new`], with a pool of `pool_size` connections instead of the configured size.
    pub fn with_pool_size(settings: &DatabaseSettings, pool_size: u32) -> Db {
        let pool = build_pool(
            settings.url.expose(),
            pool_size,
            settings.pool_timeout,
            settings.statement_timeout,
            PRIMARY_APPLICATION_NAME,
        );
        Db { pool, statements: Arc::default(), replicas: Arc::default(), gate: None, on_primary: true }
    }

    /// This handle, sending its reporting reads to `replicas`.
    pub fn with_replicas(self, replicas: Arc<Replicas>) -> Db {
        Db { replicas, ..self }
    }

    /// The read replicas reporting reads may use (none configured: an empty set).
    pub fn replicas(&self) -> &Arc<Replicas> {
        &self.replicas
    }

    /// A handle on the same pool with a fresh statement counter, for one request.
    pub fn for_request(&self) -> Db {
        Db { statements: Arc::default(), gate: None, ..self.clone() }
    }

    /// This request's handle, whose statements all wait for `precondition` to pass on the primary.
    /// The first of them to run takes the check with it: one trip to a statement thread and one
    /// connection for both, the check's statements first. When something needs the outcome before
    /// any statement has taken it (a query that runs no statement, a read on a replica), or the
    /// trip that took it ended before it ran (no free connection), it runs on a trip of its own
    /// to `checks`' pool, one that slow work does not hold.
    pub fn gated(self, precondition: Arc<dyn Precondition>, checks: &Db) -> Db {
        let gate = Gate {
            precondition,
            check_pool: checks.pool.clone(),
            statements: self.statements.clone(),
            check_statements: AtomicU64::new(0),
            state: watch::Sender::new(GateState::Unchecked),
        };
        Db { gate: Some(Arc::new(gate)), ..self }
    }

    /// Waits until this handle's precondition has passed (running it on a trip of its own when
    /// nothing else has taken it); an error when it refused or could not run. Immediate for a handle
    /// without one.
    pub async fn gate_passed(&self) -> Result<(), AppError> {
        match &self.gate {
            Some(gate) => gate.passed().await,
            None => Ok(()),
        }
    }

    /// A handle for one long read-only reporting read that is not run through
    /// [`Db::run_reporting`] (a streamed export): a usable replica's pool and that replica when
    /// there is one, else this one (and, with replicas configured, the fallback is counted).
    pub fn for_reporting(&self) -> (Db, Option<Arc<Replica>>) {
        match self.replicas.pick() {
            Some(replica) => {
                replica.count_read();
                let db = Db { pool: replica.pool().clone(), on_primary: false, ..self.clone() };
                (db, Some(replica))
            }
            None => {
                self.replicas.count_fallback();
                (self.clone(), None)
            }
        }
    }

    /// Runs read-only reporting `work` on a usable replica, or on the primary when none is, and
    /// returns its answer with the instant its data is at least as fresh as: every change
    /// committed on the primary before it is in the answer. On the primary that is the moment the
    /// read began; on a replica, what [`Replicas::data_as_of`] can prove from its replay position,
    /// read just before `work` takes its snapshot. A replica that fails, or turns out to lag
    /// beyond the maximum by then, hands the work to the primary: it only reads, so running it
    /// again there is safe.
    pub async fn run_reporting<T, F>(&self, work: F) -> Result<(T, DateTime<Utc>), AppError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Clone + Send + 'static,
        T: Send + 'static,
    {
        if let Some(replica) = self.replicas.pick() {
            // A replica may lag behind a revocation: the check is the primary's.
            self.gate_passed().await?;
            let (replicas, on_replica) = (self.replicas.clone(), work.clone());
            let attempt = run_on(replica.pool().clone(), self.statements.clone(), move |conn| {
                match replicas.data_as_of(conn)? {
                    Some(as_of) => Ok(Some((on_replica(conn)?, as_of))),
                    None => Ok(None),
                }
            })
            .await;
            match attempt {
                Ok(Some(answer)) => {
                    replica.count_read();
                    return Ok(answer);
                }
                Ok(None) => replica.mark_lagging(),
                Err(err) if replica_may_retry(&err) => replica.read_failed(&err),
                Err(err) => return Err(err),
            }
        }
        self.replicas.count_fallback();
        let as_of = Utc::now();
        Ok((self.run(work).await?, as_of))
    }

    /// SQL statements run through this handle (and its clones) so far, its gate's check aside.
    pub fn statements_run(&self) -> u64 {
        let check = self.gate.as_ref().map_or(0, |gate| gate.check_statements.load(Ordering::Relaxed));
        self.statements.load(Ordering::Relaxed) - check
    }

    /// Runs `work` with a pooled connection on one of the pool's statement threads, never on an
    /// async worker, and inside the caller's tracing span, once the handle's gate (if any) has
    /// passed: the first statement on the primary runs the gate's check itself, just before
    /// `work`. Every database access goes through here.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(gate) = &self.gate else { return run_on(self.pool.clone(), self.statements.clone(), work).await };
        if self.on_primary && gate.take(false) {
            let taken = TakenCheck(Some(gate.clone()));
            return run_on(self.pool.clone(), self.statements.clone(), move |conn| {
                taken.run(conn)?;
                work(conn)
            })
            .await;
        }
        gate.passed().await?;
        run_on(self.pool.clone(), self.statements.clone(), work).await
    }

    /// Checks that the database answers and that no migration is pending; waits at most `timeout`
    /// for a connection.
    pub async fn readiness(&self, timeout: Duration) -> Result<(), String> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut session = pool.get_timeout(timeout).map_err(|err| format!("database unreachable: {err}"))?;
            let conn = &mut session.conn;
            diesel::sql_query("SELECT 1").execute(conn).map_err(|err| format!("database unreachable: {err}"))?;
            let pending =
                conn.pending_migrations(MIGRATIONS).map_err(|err| format!("cannot read migrations: {err}"))?;
            if pending.is_empty() { Ok(()) } else { Err(format!("{} migrations pending", pending.len())) }
        })
        .await
        .map_err(|err| format!("readiness check failed: {err}"))?
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// What a request's statements wait for, checked on the primary: the token check of a query or a
/// mutation.
pub trait Precondition: Send + Sync + 'static {
    /// `Ok(true)`: passed; `Ok(false)`: refused (the request is answered 401); an error: it could
    /// not be checked, or it refuses with that error (a mutation of a deactivated technician's
    /// token), which every statement of the request fails with.
    fn check(&self, conn: &mut PgConnection) -> Result<bool, AppError>;
}

#[derive(Clone, Debug)]
enum GateState {
    /// Nobody has tried it: the first statement on the primary takes it with it.
    Unchecked,
    /// A trip that took it ended before it ran (no free connection, a panic): the next who needs
    /// it runs it on the check pool, not behind another wait for the main pool.
    Returned,
    Checking,
    Passed,
    Refused,
    /// It ran and failed (the database failed, or it refused with an error of its own): every
    /// statement fails with that error.
    Failed(Arc<AppError>),
}

/// A request's [`Precondition`], checked once: by the first statement that runs on the primary,
/// on its connection just before it; or, when something needs the outcome before any has, on a
/// trip of its own to the check pool. Statements that find it being checked wait for the outcome.
struct Gate {
    precondition: Arc<dyn Precondition>,
    /// Where the check runs on a trip of its own.
    check_pool: PgPool,
    statements: Arc<AtomicU64>,
    /// Of `statements`, those the check ran.
    check_statements: AtomicU64,
    state: watch::Sender<GateState>,
}

impl Gate {
    /// Claims the check for the caller, who then holds it as a [`TakenCheck`]: when nobody has
    /// tried it, or also when a trip gave it back (`returned_too`).
    fn take(&self, returned_too: bool) -> bool {
        self.state.send_if_modified(|state| {
            let free = matches!(state, GateState::Unchecked) || (returned_too && matches!(state, GateState::Returned));
            if free {
                *state = GateState::Checking;
            }
            free
        })
    }

    /// After a trip to the check pool failed: a check it gave back (no connection there either)
    /// fails for good, so the request's other statements do not wait for the pool again.
    fn fail_returned(&self, err: AppError) -> AppError {
        let err = match err {
            AppError::Shared(shared) => shared,
            err => Arc::new(err),
        };
        self.state.send_if_modified(|state| {
            let returned = matches!(state, GateState::Returned);
            if returned {
                *state = GateState::Failed(err.clone());
            }
            returned
        });
        AppError::Shared(err)
    }

    async fn passed(self: &Arc<Self>) -> Result<(), AppError> {
        let mut state = self.state.subscribe();
        loop {
            if self.take(true) {
                let taken = TakenCheck(Some(self.clone()));
                let outcome =
                    run_on(self.check_pool.clone(), self.statements.clone(), move |conn| taken.run(conn)).await;
                return outcome.map_err(|err| self.fail_returned(err));
            }
            match &*state.borrow_and_update() {
                GateState::Passed => return Ok(()),
                GateState::Refused => return Err(gate_refused()),
                GateState::Failed(err) => return Err(AppError::Shared(err.clone())),
                // Given back after `take` looked: claim it.
                GateState::Unchecked | GateState::Returned => continue,
                GateState::Checking => {}
            }
            // The sender lives in `self`: the channel cannot close while this waits.
            let _ = state.changed().await;
        }
    }
}

/// A check claimed with [`Gate::take`]: settled with its outcome, or given back when dropped
/// without one (its trip to the database failed before it ran, or the check panicked).
struct TakenCheck(Option<Arc<Gate>>);

impl TakenCheck {
    /// Runs the check and settles it. Its statements are not the request's own: they are counted
    /// apart, which is exact because every other statement of the request waits for this one.
    fn run(mut self, conn: &mut PgConnection) -> Result<(), AppError> {
        let Some(gate) = self.0.clone() else { return Err(AppError::internal("a gate's check ran twice")) };
        let before = gate.statements.load(Ordering::Relaxed);
        let outcome = gate.precondition.check(conn);
        let ran = gate.statements.load(Ordering::Relaxed).saturating_sub(before);
        gate.check_statements.fetch_add(ran, Ordering::Relaxed);
        let (state, answer) = match outcome {
            Ok(true) => (GateState::Passed, Ok(())),
            Ok(false) => (GateState::Refused, Err(gate_refused())),
            Err(err) => {
                let err = Arc::new(err);
                (GateState::Failed(err.clone()), Err(AppError::Shared(err)))
            }
        };
        gate.state.send_replace(state);
        // Settled: nothing for `drop` to give back.
        self.0 = None;
        answer
    }
}

impl Drop for TakenCheck {
    fn drop(&mut self) {
        if let Some(gate) = self.0.take() {
            gate.state.send_replace(GateState::Returned);
        }
    }
}

/// What a statement behind a refused precondition fails with (the request is answered 401).
fn gate_refused() -> AppError {
    AppError::Unauthenticated("the bearer token is invalid, expired or revoked".into())
}

/// [`Db::run`] on `pool`, counting statements in `statements`.
async fn run_on<T, F>(pool: PgPool, statements: Arc<AtomicU64>, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    let queued = Instant::now();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let threads = pool.threads.clone();
    // The work may use the runtime it was sent from (`Handle::current`), as on tokio's own
    // blocking threads.
    let runtime = tokio::runtime::Handle::current();
    let job = move || {
        let _runtime = runtime.enter();
        let _entered = span.enter();
        // As a panic in a blocking task would: an internal error, the thread goes on.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(&pool, queued, statements, work)));
        let _ = answer.send(ran.unwrap_or_else(|_| Err(AppError::internal("a statement's work panicked"))));
    };
    threads.spawn(Box::new(job))?;
    answered.await.map_err(AppError::internal)?
}

/// [`run_on`]'s work, on a statement thread, with a connection of `pool`: the time it waited for a
/// thread counts against the pool's checkout timeout.
fn run_job<T, F>(pool: &PgPool, queued: Instant, statements: Arc<AtomicU64>, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, AppError>,
{
    let exhausted = || AppError::PoolExhausted(pool.connection_timeout());
    let left = pool.connection_timeout().saturating_sub(queued.elapsed());
    if left.is_zero() {
        return Err(exhausted());
    }
    let mut session = pool.get_timeout(left).map_err(|err| {
        // A full pool with nothing idle: busy, not unreachable.
        let state = pool.state();
        if state.connections >= pool.max_size() && state.idle_connections == 0 {
            exhausted()
        } else {
            AppError::from(err)
        }
    })?;
    let conn = &mut session.conn;
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            statements.fetch_add(1, Ordering::Relaxed);
        }
    });
    let result = work(conn);
    // Back in the pool, the connection's own checks count for nobody.
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    session.trusted_until = result.is_ok().then(|| Instant::now() + TRUSTED_FOR);
    result
}

/// Runs the pending migrations under a PostgreSQL advisory lock and returns the names of those it
/// applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, BoxError> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(conn)?;
    let applied =
        conn.run_pending_migrations(MIGRATIONS).map(|versions| versions.iter().map(ToString::to_string).collect());
    let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn);
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

/// Opens one connection outside the pool (for `migrate` and the start-up migration).
pub fn connect(url: &str) -> Result<PgConnection, BoxError> {
    Ok(PgConnection::establish(url)?)
}

/// The names of the applied migrations, oldest first.
pub fn applied_migrations(conn: &mut PgConnection) -> Result<Vec<String>, BoxError> {
    let mut versions: Vec<String> = conn.applied_migrations()?.iter().map(ToString::to_string).collect();
    versions.sort();
    Ok(versions)
}
