//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, finishes the requests in
//! flight (a retention run among them stops at its next batch) and exits 0.

use std::time::Duration;

use deskpulse::auth::{Role, TokenKeys};
use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, TableLock, TestDatabase, client, jwt_settings, wait_for_lock_waiters, wait_for_status, wait_until,
};
use crate::processes::ServerProcess;

#[tokio::test]
async fn sigterm_finishes_the_requests_in_flight_refuses_new_ones_and_exits_zero() {
    let database = TestDatabase::migrated();
    let mut server = ServerProcess::start(&database.url, &[]);
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let keys = TokenKeys::from_settings(&jwt_settings()).unwrap();
    let token = keys.issue("sam", Role::Supervisor, None, Duration::from_secs(600)).unwrap();

    // A request that is still running when the signal comes: its statement waits for a lock.
    let lock = TableLock::take(&database, "tickets");
    let in_flight = {
        let (http, url) = (http.clone(), format!("{}/graphql", server.address));
        tokio::spawn(async move {
            let response =
                http.post(url).bearer_auth(token).json(&json!({ "query": "{ tickets { totalCount } }" })).send().await;
            let response = response.expect("the request in flight is answered");
            (response.status().as_u16(), response.json::<Value>().await.expect("a JSON answer"))
        })
    };
    wait_for_lock_waiters(&database, 1).await;

    server.signal(libc::SIGTERM);
    // New connections are refused while the request in flight still runs.
    let port = server.port;
    wait_until("it stops accepting connections after SIGTERM", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;
    assert!(client().get(format!("{}/healthz", server.address)).send().await.is_err(), "a new request gets no answer");
    assert!(server.is_running(), "it waits for the request in flight");

    lock.release();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["tickets"]["totalCount"], 0, "{body}");

    let exit = server.wait_for_exit(PATIENCE).await;
    assert!(exit.is_some_and(|status| status.code() == Some(0)), "exit {exit:?}; log:\n{}", server.log());
}

#[tokio::test]
async fn sigterm_stops_a_retention_run_at_its_next_batch_and_exits_zero() {
    let database = TestDatabase::migrated();
    // Forty tickets closed three years ago; each batch of one takes a quarter of a second.
    let setup = "INSERT INTO customers (name) VALUES ('Acme');
        INSERT INTO tickets (customer_id, subject, category, priority, channel, status, opened_at,
                             first_resolved_at, resolved_at, closed_at)
        SELECT (SELECT id FROM customers), 'old', 'net', 'NORMAL', 'EMAIL', 'CLOSED', t, t, t, t
        FROM generate_series(1, 40) AS g, LATERAL (SELECT now() - interval '3 years' + g * interval '1 minute' AS t) AS s;
        CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(0.25); RETURN OLD; END $$;
        CREATE TRIGGER slow_delete BEFORE DELETE ON tickets FOR EACH ROW EXECUTE FUNCTION slow_delete();";
    diesel::connection::SimpleConnection::batch_execute(&mut database.connect(), setup).unwrap();
    let mut server = ServerProcess::start(&database.url, &[("DESKPULSE_RETENTION_BATCH_SIZE", "1")]);
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let keys = TokenKeys::from_settings(&jwt_settings()).unwrap();
    let token = keys.issue("ada", Role::Admin, None, Duration::from_secs(600)).unwrap();

    let run = {
        let (http, url) = (http.clone(), format!("{}/graphql", server.address));
        let query = "mutation { runRetention(dryRun: false) { status error counts { tickets } } }";
        tokio::spawn(async move {
            let response = http.post(url).bearer_auth(token).json(&json!({ "query": query })).send().await;
            response.expect("the run is answered").json::<Value>().await.expect("a JSON answer")
        })
    };
    let count = |sql: &str| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::RunQueryDsl::get_result::<Row>(
            diesel::sql_query(format!("SELECT ({sql})::bigint AS n")),
            &mut database.connect(),
        )
        .unwrap()
        .n
    };
    let removed_so_far = || count("SELECT coalesce(max(tickets_removed), 0) FROM retention_runs");
    let progress = &removed_so_far;
    wait_until("the run gets going", || async move { progress() >= 2 }).await;

    let removed_before_the_signal = removed_so_far();
    server.signal(libc::SIGTERM);
    let body = run.await.unwrap();
    let answer = &body["data"]["runRetention"];
    assert_eq!(answer["status"], "FAILED", "{body}");
    assert!(answer["error"].as_str().unwrap_or_default().contains("shutting down"), "{body}");
    let removed = answer["counts"]["tickets"].as_i64().unwrap();
    assert!((2..40).contains(&removed), "{body}");
    assert_eq!(count("SELECT count(*) FROM tickets"), 40 - removed, "the counts are what was removed");

    // At its next batch: the one in flight when the signal came (and one that may have committed
    // between the count and the signal) finish, no more start.
    assert!(
        removed <= removed_before_the_signal + 2,
        "{removed} removed, {removed_before_the_signal} before the signal"
    );

    let exit = server.wait_for_exit(PATIENCE).await;
    assert!(exit.is_some_and(|status| status.code() == Some(0)), "exit {exit:?}; log:\n{}", server.log());
}
