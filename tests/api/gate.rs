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

/// A check that runs `SELECT 1`, counts its runs and answers what it is told: pass, refuse, or
/// fail its first `failures` runs.
struct Scripted {
    runs: AtomicUsize,
    passes: bool,
    failures: usize,
    /// The backend the check ran on, to compare with the work's.
    backend: std::sync::Mutex<Option<i32>>,
}

impl Scripted {
    fn new(passes: bool, failures: usize) -> Arc<Scripted> {
        Arc::new(Scripted { runs: AtomicUsize::new(0), passes, failures, backend: Default::default() })
    }
}

impl Precondition for Scripted {
    fn check(&self, conn: &mut PgConnection) -> Result<bool, AppError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        *self.backend.lock().unwrap() = Some(backend_pid(conn)?);
        if run < self.failures {
            return Err(AppError::internal("the check's database failed"));
        }
        Ok(self.passes)
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

/// A request's handle on a pool of its own, its checks' own trips on another.
fn gated(database: &TestDatabase, check: Arc<Scripted>) -> Db {
    db(database).for_request().gated(check, &db(database))
}

fn db(database: &TestDatabase) -> Db {
    Db::new(&DatabaseSettings {
        url: database.url.parse::<Secret>().unwrap(),
        pool_size: 4,
        pool_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(30),
    })
}

#[tokio::test]
async fn the_first_statement_takes_the_check_on_its_connection_and_the_others_wait_for_it() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(true, 0);
    let request = gated(&database, check.clone());

    let work_backend = request.run(backend_pid).await.unwrap();
    assert_eq!(check.runs.load(Ordering::SeqCst), 1);
    assert_eq!(*check.backend.lock().unwrap(), Some(work_backend), "the check ran on the work's connection");
    // The request's own statement is counted, the check's is not.
    assert_eq!(request.statements_run(), 1);

    // Statements running together: one check between them, and all of them run after it.
    let check = Scripted::new(true, 0);
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
    assert_eq!(check.runs.load(Ordering::SeqCst), 1);
    assert_eq!(request.statements_run(), 8);
    request.gate_passed().await.unwrap();
    assert_eq!(check.runs.load(Ordering::SeqCst), 1, "an answered check is not run again");
}

#[tokio::test]
async fn a_refused_check_lets_no_statement_run() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(false, 0);
    let request = gated(&database, check.clone());
    let ran = Arc::new(AtomicBool::new(false));
    for _ in 0..3 {
        let ran = ran.clone();
        let refused = request
            .run(move |_| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(refused.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    }
    let refused = request.run_reporting(|_| Ok(())).await;
    assert_eq!(refused.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    assert_eq!(request.gate_passed().await.map_err(|err| err.code()), Err("UNAUTHENTICATED"));
    assert!(!ran.load(Ordering::SeqCst), "no work ran behind the refused check");
    assert_eq!(check.runs.load(Ordering::SeqCst), 1);
    assert_eq!(request.statements_run(), 0);
}

#[tokio::test]
async fn a_check_that_could_not_run_is_run_again_by_the_next_who_needs_it() {
    let database = TestDatabase::migrated();
    let check = Scripted::new(true, 1);
    let request = gated(&database, check.clone());
    let ran = Arc::new(AtomicBool::new(false));
    let first = {
        let ran = ran.clone();
        request
            .run(move |_| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
    };
    assert_eq!(first.map_err(|err| err.code()), Err("INTERNAL"));
    assert!(!ran.load(Ordering::SeqCst), "the work behind a failed check did not run");

    // Nothing else took it: asking for the outcome runs it on a trip of its own.
    request.gate_passed().await.unwrap();
    assert_eq!(check.runs.load(Ordering::SeqCst), 2);
    request.run(backend_pid).await.unwrap();
    assert_eq!(check.runs.load(Ordering::SeqCst), 2);
    assert_eq!(request.statements_run(), 1);
}

#[tokio::test]
async fn a_handle_without_a_gate_runs_at_once() {
    let database = TestDatabase::migrated();
    let request = db(&database).for_request();
    request.gate_passed().await.unwrap();
    request.run(backend_pid).await.unwrap();
    assert_eq!(request.statements_run(), 1);
}
