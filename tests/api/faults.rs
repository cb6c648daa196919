//! Faults: PostgreSQL restarted under load, and a pool exhausted by slow queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deskpulse::auth::{Role, TokenKeys};
use diesel::{Connection, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, TableLock, client, error_codes, jwt_settings, spawn_app_with, wait_for_lock_waiters,
    wait_for_lock_waiters_at, wait_for_status, wait_until,
};
use crate::processes::{PrivatePostgres, ServerProcess};

/// Posts one operation; `Err` when no HTTP answer came back at all.
async fn post(
    http: &reqwest::Client,
    address: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<(u16, Value), String> {
    let response = http
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|err| format!("no answer: {err}"))?;
    let status = response.status().as_u16();
    let body = response.json().await.map_err(|err| format!("not JSON: {err}"))?;
    Ok((status, body))
}

const LIST: &str = "{ tickets(first: 5) { totalCount nodes { number customer { name } } } }";
const CREATE: &str = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { number } }";

/// The server's own message for a pool that had no free connection in time, which names one.
const POOL_BUSY: &str = "no database connection became free";

/// Words that would tell a client about the server's insides.
const INTERNALS: [&str; 9] =
    ["postgres", "connection", "127.0.0.1", "terminat", "fatal", "server closed", "socket", "diesel", "r2d2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_answers_clean_errors_and_the_server_recovers() {
    let postgres = tokio::task::spawn_blocking(PrivatePostgres::start).await.unwrap();
    {
        let mut admin = diesel::PgConnection::establish(&postgres.url("postgres")).unwrap();
        diesel::sql_query("CREATE DATABASE deskpulse").execute(&mut admin).unwrap();
    }
    let mut server = ServerProcess::start(&postgres.url("deskpulse"), &[("DESKPULSE_DB_POOL_TIMEOUT", "1s")]);
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let keys = TokenKeys::from_settings(&jwt_settings()).unwrap();
    let token = keys.issue("sam", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();
    let (_, body) = post(
        &http,
        &server.address,
        &token,
        "mutation { createCustomer(input: { name: \"Load\" }) { id } }",
        json!({}),
    )
    .await
    .unwrap();
    let customer = body["data"]["createCustomer"]["id"].clone();

    // Eight clients read and write without pause while the database goes away and comes back;
    // they count the answers with and without errors as they come.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for worker in 0..8 {
        let (http, address, token, stop, customer) =
            (http.clone(), server.address.clone(), token.clone(), stop.clone(), customer.clone());
        let (answered, refused) = (answered.clone(), refused.clone());
        load.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                let answer = if (worker + round) % 2 == 0 {
                    post(&http, &address, &token, LIST, json!({})).await
                } else {
                    let input =
                        json!({ "customerId": customer, "subject": "Load", "category": "load", "channel": "WEB" });
                    post(&http, &address, &token, CREATE, json!({ "input": input })).await
                };
                match &answer {
                    Ok((200, body)) if body.get("errors").is_none() => answered.fetch_add(1, Ordering::SeqCst),
                    _ => refused.fetch_add(1, Ordering::SeqCst),
                };
                answers.push(answer);
                round += 1;
            }
            answers
        }));
    }
    let count = |counter: &Arc<AtomicUsize>| counter.load(Ordering::SeqCst);
    let (answered_ref, refused_ref) = (&answered, &refused);
    wait_until("the load is answered", || async move { count(answered_ref) >= 16 }).await;
    // Make sure requests are in flight when it stops: hold them up behind a lock on tickets.
    let lock = TableLock::take_at(&postgres.url("deskpulse"), "tickets");
    wait_for_lock_waiters_at(&postgres.url("deskpulse"), 4).await;
    tokio::task::block_in_place(|| postgres.stop_server("fast"));
    drop(lock);
    // Requests arriving while it is away are refused (the ones in flight and some after them).
    let refused_before = count(&refused);
    wait_until("requests are refused while the database is away", || async move {
        count(refused_ref) >= refused_before + 8
    })
    .await;
    tokio::task::block_in_place(|| postgres.start_server());

    // Serving normally again once the database is back, and the load with it.
    let (http_ref, address, token_ref) = (&http, server.address.as_str(), token.as_str());
    wait_until("the server serves again after the database came back", || async move {
        matches!(post(http_ref, address, token_ref, LIST, json!({})).await, Ok((200, body)) if body.get("errors").is_none())
    })
    .await;
    let answered_before = count(&answered);
    wait_until("the load is answered again", || async move { count(answered_ref) >= answered_before + 16 }).await;
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for worker in load {
        answers.extend(worker.await.unwrap());
    }
    for _ in 0..20 {
        let (status, body) = post(&http, &server.address, &token, LIST, json!({})).await.unwrap();
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
    }

    let (mut ok, mut failed) = (0, 0);
    for answer in &answers {
        let (status, body) = answer.as_ref().unwrap_or_else(|err| panic!("every request gets an HTTP answer: {err}"));
        let codes = error_codes(body);
        // 503: the token could not be checked against revocations, so nothing ran.
        assert!(*status == 200 || (*status == 503 && codes == ["SERVICE_UNAVAILABLE"]), "{status} {body}");
        if codes.is_empty() {
            ok += 1;
            continue;
        }
        failed += 1;
        assert!(codes.iter().all(|code| code == "SERVICE_UNAVAILABLE"), "{body}");
        for error in body["errors"].as_array().unwrap() {
            let message = error["message"].as_str().unwrap().to_lowercase();
            // A request that waited out the pool while the database was away gets the server's
            // own words for it (`AppError::PoolExhausted`), not the driver's.
            let own_words = message.replace(POOL_BUSY, "");
            assert!(INTERNALS.iter().all(|word| !own_words.contains(word)), "internals leaked: {message}");
        }
    }
    assert!(ok > 0 && failed > 0, "the load saw the database up and down: {ok} answered, {failed} failed");
    assert!(server.is_running(), "the server is still up");
    assert!(!server.log().contains("panicked"), "no panic: {}", server.log());

    // No half-written ticket: each has its CREATED event.
    let mut conn = diesel::PgConnection::establish(&postgres.url("deskpulse")).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let orphans = diesel::sql_query(
        "SELECT count(*) AS n FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'CREATED')",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(orphans, 0);
    drop(conn);

    server.signal(libc::SIGTERM);
    let status = server.wait_for_exit(PATIENCE).await;
    assert!(
        status.is_some_and(|status| status.success()),
        "exits 0 on SIGTERM: {status:?}; the log ends:\n{}",
        server.log_tail(20)
    );
}

#[tokio::test]
async fn an_exhausted_pool_answers_a_clear_error_after_the_pool_timeout_instead_of_hanging() {
    let app = spawn_app_with(|settings| {
        settings.database.pool_size = 2;
        settings.database.pool_timeout = Duration::from_secs(1);
        settings.database.statement_timeout = Duration::from_secs(60);
    })
    .await;
    let token = app.supervisor();
    let lock = TableLock::take(&app.database, "tickets");

    // Two slow queries hold both pooled connections, waiting for the lock.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (http, address, token) = (app.client.clone(), app.address.clone(), token.clone());
            tokio::spawn(async move { post(&http, &address, &token, "{ tickets { totalCount } }", json!({})).await })
        })
        .collect();
    wait_for_lock_waiters(&app.database, 2).await;

    let metrics = app.get_metrics("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("deskpulse_db_pool_connections{state=\"in_use\"} 2"), "{metrics}");

    let asked = Instant::now();
    let answer = tokio::time::timeout(
        PATIENCE,
        app.graphql(Some(&token), "{ me { subject } systemStatus { version } }", json!({})),
    );
    let (status, body) = answer.await.expect("answered, not left hanging");
    assert!(asked.elapsed() >= Duration::from_secs(1), "it waited the pool timeout first");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["subject"], "sam.supervisor", "fields without the database answer: {body}");
    assert_eq!(error_codes(&body), ["SERVICE_UNAVAILABLE"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("busy") && message.contains("1s"), "a clear message: {message}");

    lock.release();
    for request in slow {
        let (status, body) = request.await.unwrap().unwrap();
        assert_eq!((status, &body["data"]["tickets"]["totalCount"]), (200, &json!(0)), "{body}");
    }
    let data = app.query_ok(&token, "{ systemStatus { version } }", json!({})).await;
    assert_eq!(data["systemStatus"]["version"], env!("CARGO_PKG_VERSION"));
}
