//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, finishes the requests in
//! flight and exits 0.

use std::time::{Duration, Instant};

use deskpulse::auth::{Role, TokenKeys};
use serde_json::{Value, json};

use crate::helpers::{TableLock, TestDatabase, client, jwt_settings, wait_for_lock_waiters, wait_for_status};
use crate::processes::ServerProcess;

#[tokio::test]
async fn sigterm_finishes_the_requests_in_flight_refuses_new_ones_and_exits_zero() {
    let database = TestDatabase::migrated();
    let mut server = ServerProcess::start(&database.url, &[]);
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, Duration::from_secs(30)).await;
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

    server.signal("TERM");
    // New connections are refused while the request in flight still runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(client().get(format!("{}/healthz", server.address)).send().await.is_err(), "a new request gets no answer");
    assert!(server.is_running(), "it waits for the request in flight");

    lock.release();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["tickets"]["totalCount"], 0, "{body}");

    let exit = server.wait_for_exit(Duration::from_secs(30)).await;
    assert!(exit.is_some_and(|status| status.code() == Some(0)), "exit {exit:?}; log:\n{}", server.log());
}
