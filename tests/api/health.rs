//! Health and readiness, also while the database is away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{
    TestDatabase, client, database_url, error_codes, serve_settings, spawn_app, start_server, wait_for_status,
};

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_the_database_is_up() {
    let app = spawn_app().await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    let id = response.headers().get("x-request-id").expect("an X-Request-Id header");
    assert_eq!(id.to_str().unwrap().len(), 36, "a UUID");
}

#[tokio::test]
async fn graphiql_is_served_when_enabled_and_absent_when_disabled() {
    let app = spawn_app().await;
    let page = app.get("/graphiql").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));

    let database = TestDatabase::migrated();
    let mut settings = serve_settings(&database.url);
    settings.server.graphiql = false;
    let address = start_server(&settings).await;
    wait_for_status(&client(), &format!("{address}/healthz"), 200, Duration::from_secs(10)).await;
    let page = client().get(format!("{address}/graphiql")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 404);
}

/// A TCP proxy in front of the test PostgreSQL that can be cut, as if the database went away:
/// while down it drops every open connection and refuses new ones.
struct SwitchableProxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl SwitchableProxy {
    async fn start(upstream: String, up: bool) -> SwitchableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(up));
        let (cut, _) = watch::channel(0u64);
        let accept_up = up.clone();
        let accept_cut = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client_side, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let upstream = upstream.clone();
                let mut cut = accept_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server_side) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client_side, &mut server_side) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        SwitchableProxy { port, up, cut }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|generation| *generation += 1);
        }
    }
}

/// host:port of a postgres://user:pass@host:port/db URL.
fn host_and_port(url: &str) -> String {
    let rest = &url[url.find("://").unwrap() + 3..];
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let authority = rest.split(['/', '?']).next().unwrap();
    if authority.contains(':') { authority.to_owned() } else { format!("{authority}:5432") }
}

fn via_proxy(url: &str, port: u16) -> String {
    url.replacen(&host_and_port(url), &format!("127.0.0.1:{port}"), 1)
}

#[tokio::test]
async fn readiness_follows_the_database_and_the_server_survives_its_absence() {
    let database = TestDatabase::migrated();
    let proxy = SwitchableProxy::start(host_and_port(&database_url()), false).await;
    let mut settings = serve_settings(&via_proxy(&database.url, proxy.port));
    settings.database.pool_timeout = Duration::from_secs(2);
    let address = start_server(&settings).await;
    let http = client();
    let keys = deskpulse::auth::TokenKeys::from_settings(&settings.jwt).unwrap();
    let supervisor = keys.issue("sam", deskpulse::auth::Role::Supervisor, None, Duration::from_secs(600)).unwrap();
    let graphql = |query: &'static str| {
        let http = http.clone();
        let url = format!("{address}/graphql");
        let supervisor = supervisor.clone();
        async move {
            let response =
                http.post(url).bearer_auth(supervisor).json(&json!({ "query": query })).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    // Down at start-up: the process serves health, readiness says 503, GraphQL says not ready.
    wait_for_status(&http, &format!("{address}/healthz"), 200, Duration::from_secs(10)).await;
    wait_for_status(&http, &format!("{address}/readyz"), 503, Duration::from_secs(10)).await;
    let (status, body) = graphql("{ me { subject } }").await;
    assert_eq!(status, 503);
    assert_eq!(error_codes(&body), ["SERVICE_UNAVAILABLE"]);

    // The database arrives: migrations run on retry and the server becomes ready.
    proxy.set_up(true);
    wait_for_status(&http, &format!("{address}/readyz"), 200, Duration::from_secs(20)).await;
    let (status, body) = graphql("{ systemStatus { appliedMigrations } }").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["systemStatus"]["appliedMigrations"].as_array().is_some_and(|m| !m.is_empty()));

    // The database goes away while serving: 503, errors without internals, no exit. Even a field
    // that needs no database does not answer: whether the token was revoked cannot be checked.
    proxy.set_up(false);
    wait_for_status(&http, &format!("{address}/readyz"), 503, Duration::from_secs(15)).await;
    let (status, body) = graphql("{ me { subject } systemStatus { version } }").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("data").is_none(), "nothing ran: {body}");
    assert_eq!(error_codes(&body), ["SERVICE_UNAVAILABLE"]);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("127.0.0.1") && !message.contains("connection"), "no internals: {message}");
    wait_for_status(&http, &format!("{address}/healthz"), 200, Duration::from_secs(5)).await;

    // And back.
    proxy.set_up(true);
    wait_for_status(&http, &format!("{address}/readyz"), 200, Duration::from_secs(20)).await;
    let (status, body) = graphql("{ systemStatus { version } }").await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
}
