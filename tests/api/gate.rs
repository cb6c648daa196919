//! `Db::gated`: a request's statements wait for its precondition (a query's token check), which
//! runs once, on the connection of the first of them, before it; a refused or failed check lets
//! nothing run. Against a real PostgreSQL, through the pool the server uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use deskpulse::config::{DatabaseSettings, Secret};
use deskpulse::db::{Db, Precondition};
use deskpulse::error::AppError;
use diesel::{PgConnection, RunQueryDsl};

use crate::helpers::TestDatabase;

#[derive(Clone, Copy)]
enum Outcome {
    Pass,
    Refuse,
    Fail,
    Panic,
}

/// A check that reads its backend's pid, counts its runs and answers as scripted: run `n` the
/// `n`th outcome, the last one ever after.
struct Scripted {
    runs: AtomicUsize,
    outcomes: Vec<Outcome>,
    /// The backend the check last ran on, to compare with the work's.
    backend: std::sync::Mutex<Option<i32>>,
}

impl Scripted {
    fn new(outcomes: &[Outcome]) -> Arc<Scripted> {
        Arc::new(Scripted { runs: AtomicUsize::new(0), outcomes: outcomes.to_vec(), backend: Default::default() })
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn backend(&self) -> Option<i32> {
        *self.backend.lock().unwrap()
    }
}

impl Precondition for Scripted {
    fn check(&self, conn: &mut PgConnection) -> Result<bool, AppError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        *self.backend.lock().unwrap() = Some(backend_pid(conn)?);
        match self.outcomes[run.min(self.outcomes.len() - 1)] {
            Outcome::Pass => Ok(true),
            Outcome::Refuse => Ok(false),
            Outcome::Fail => Err(AppError::internal("the check's database failed")),
            Outcome::Panic => panic!("the check panicked"),
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

fn backend_pid(conn: &mut PgConnection) -> Result<i32, AppError> {
    Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(conn)?.pid)
}

/// A request's handle on a pool of its own, its check's own trips on another.
fn gated(database: &TestDatabase, check: Arc<Scripted>) -> Db {
    db(database, 4).for_request().gated(check, &db(database, 2))
}

fn db(database: &TestDatabase, pool_size: u32) -> Db {
    Db::new(&DatabaseSettings {
        url: database.url.parse::<Secret>().unwrap(),
        pool_size,
        pool_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_secs(30),
    })
}

/// A unit of work that notes that it ran.
fn noting(ran: &Arc<AtomicBool>) -> impl FnOnce(&mut PgConnection) -> Result<(), AppError> + Send + 'static {
    let ran = ran.clone();
    move |_| {
        ran.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_first_statement_takes_the_check_on_its_connection_and_the_others_wait_for_it() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(&[Outcome::Pass]);
    let request = gated(&database, check.clone());

    let work_backend = request.run(backend_pid).await.unwrap();
    assert_eq!(check.runs(), 1);
    assert_eq!(check.backend(), Some(work_backend), "the check ran on the work's connection");
    // The request's own statement is counted, the check's is not.
    assert_eq!(request.statements_run(), 1);

    // Statements running together: one check between them, and all of them run after it.
    let check = Scripted::new(&[Outcome::Pass]);
    let request = gated(&database, check.clone());
    let statements = (0..8).map(|_| {
        let (request, check) = (request.clone(), check.clone());
        tokio::spawn(async move {
            request
                .run(move |conn| {
                    let checked = check.runs.load(Ordering::SeqCst);
                    backend_pid(conn)?;
                    Ok(checked)
                })
                .await
        })
    });
    for statement in futures_util::future::join_all(statements).await {
        assert_eq!(statement.unwrap().unwrap(), 1, "every statement ran after the one check");
    }
    assert_eq!(check.runs(), 1);
    assert_eq!(request.statements_run(), 8);
    request.gate_passed().await.unwrap();
    assert_eq!(check.runs(), 1, "an answered check is not run again");
}

#[tokio::test]
async fn a_refused_check_lets_no_statement_run() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(&[Outcome::Refuse]);
    let request = gated(&database, check.clone());
    let ran = Arc::new(AtomicBool::new(false));
    for _ in 0..3 {
        let refused = request.run(noting(&ran)).await;
        assert_eq!(refused.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    }
    let refused = request.run_reporting(|_| Ok(())).await;
    assert_eq!(refused.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    assert_eq!(request.gate_passed().await.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    assert!(!ran.load(Ordering::SeqCst), "no work ran behind the refused check");
    assert_eq!(check.runs(), 1);
    assert_eq!(request.statements_run(), 0);
}

#[tokio::test]
async fn a_check_that_fails_fails_every_statement_without_running_again() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(&[Outcome::Fail, Outcome::Pass]);
    let request = gated(&database, check.clone());
    let ran = Arc::new(AtomicBool::new(false));
    assert_eq!(request.run(noting(&ran)).await.map_err(|err| err.code()), Err("INTERNAL"));
    assert_eq!(request.run(noting(&ran)).await.map_err(|err| err.code()), Err("INTERNAL"));
    assert_eq!(request.gate_passed().await.map_err(|err| err.code()), Err("INTERNAL"));
    assert!(!ran.load(Ordering::SeqCst), "no work ran behind the failed check");
    assert_eq!(check.runs(), 1);
}

#[tokio::test]
async fn a_check_whose_trip_found_no_free_connection_runs_on_the_check_pool() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(&[Outcome::Pass]);
    let (main, checks) = (db(&database, 1), db(&database, 2));
    let request = main.for_request().gated(check.clone(), &checks);
    let held = main.pool().get().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let busy = request.run(noting(&ran)).await;
    assert_eq!(busy.map_err(|err| err.code()), Err("SERVICE_UNAVAILABLE"));
    assert_eq!(check.runs(), 0, "the check did not run without a connection");

    // Given back: the next who needs it runs it on the check pool, whose connection is free.
    request.gate_passed().await.unwrap();
    assert_eq!(check.runs(), 1);
    drop(held);
    let work_backend = request.run(backend_pid).await.unwrap();
    assert_eq!(check.runs(), 1);
    assert_ne!(check.backend(), Some(work_backend), "it ran on the check pool's connection");
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_check_that_panicked_is_given_back_not_left_pending() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(&[Outcome::Panic, Outcome::Pass]);
    let request = gated(&database, check.clone());
    let ran = Arc::new(AtomicBool::new(false));
    assert_eq!(request.run(noting(&ran)).await.map_err(|err| err.code()), Err("INTERNAL"));
    assert!(!ran.load(Ordering::SeqCst));
    let answered = tokio::time::timeout(Duration::from_secs(10), request.gate_passed()).await;
    answered.expect("not left waiting for a check that will never settle").unwrap();
    assert_eq!(check.runs(), 2);
    request.run(noting(&ran)).await.unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_handle_without_a_gate_runs_at_once() {
    let database = TestDatabase::migrated();
    let request = db(&database, 1).for_request();
    request.gate_passed().await.unwrap();
    request.run(backend_pid).await.unwrap();
    assert_eq!(request.statements_run(), 1);
}
