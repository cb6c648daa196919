//! GET /metrics: Prometheus text with requests and latencies by operation, errors by code, HTTP
//! responses by route and status, and the pool's connections.

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The samples of a Prometheus text answer, by series (`name{labels}`).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a number: {line}")))
        })
        .collect()
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.get_metrics("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    samples(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_operations_latencies_errors_responses_and_pool_connections() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    for _ in 0..3 {
        app.query_ok(&sam, "query Dashboard { me { subject } systemStatus { version } }", json!({})).await;
    }
    app.query_ok(&sam, "{ me { subject } }", json!({})).await;
    let technician = app.technician_token("tess", 1);
    app.graphql(Some(&technician), "query Peek { systemStatus { version } }", json!({})).await;
    app.graphql(None, "query Sneak { me { subject } }", json!({})).await;
    let refused = app.client.post(format!("{}/graphql", app.address)).body("{ me { subject } }").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 415);

    let metrics = scrape(&app).await;
    let value = |series: &str| metrics.get(series).copied().unwrap_or_else(|| panic!("no {series} in {metrics:#?}"));
    assert_eq!(value("deskpulse_graphql_requests_total{operation=\"Dashboard\"}"), 3.0);
    assert_eq!(value("deskpulse_graphql_request_duration_seconds_count{operation=\"Dashboard\"}"), 3.0);
    assert_eq!(value("deskpulse_graphql_request_duration_seconds_bucket{operation=\"Dashboard\",le=\"+Inf\"}"), 3.0);
    assert!(value("deskpulse_graphql_request_duration_seconds_sum{operation=\"Dashboard\"}") > 0.0);
    let within_a_minute = value("deskpulse_graphql_request_duration_seconds_bucket{operation=\"Dashboard\",le=\"60\"}");
    assert_eq!(within_a_minute, 3.0, "buckets are cumulative");
    // The unauthenticated `Sneak` is counted without its name: anyone could send any name.
    assert_eq!(value("deskpulse_graphql_requests_total{operation=\"(anonymous)\"}"), 2.0);
    assert_eq!(value("deskpulse_graphql_requests_total{operation=\"Peek\"}"), 1.0);
    assert!(!metrics.contains_key("deskpulse_graphql_requests_total{operation=\"Sneak\"}"));
    assert_eq!(value("deskpulse_graphql_requests_total{operation=\"(invalid)\"}"), 1.0);
    assert_eq!(value("deskpulse_graphql_errors_total{code=\"FORBIDDEN\"}"), 1.0);
    assert_eq!(value("deskpulse_graphql_errors_total{code=\"UNAUTHENTICATED\"}"), 1.0);
    assert_eq!(value("deskpulse_graphql_errors_total{code=\"BAD_USER_INPUT\"}"), 1.0);
    assert!(value("deskpulse_http_responses_total{route=\"/graphql\",status=\"200\"}") >= 5.0);
    assert_eq!(value("deskpulse_http_responses_total{route=\"/graphql\",status=\"401\"}"), 1.0);
    assert_eq!(value("deskpulse_http_responses_total{route=\"/graphql\",status=\"415\"}"), 1.0);
    assert!(value("deskpulse_http_responses_total{route=\"/readyz\",status=\"200\"}") >= 1.0);
    assert_eq!(value("deskpulse_db_pool_max_connections"), 8.0);
    assert_eq!(value("deskpulse_db_pool_connections{state=\"in_use\"}"), 0.0, "every request has ended");
    assert!(value("deskpulse_db_pool_connections{state=\"idle\"}") >= 1.0);

    // Unknown paths count under one label, not one per path.
    app.get("/no/such/path/123").await;
    app.get("/no/such/path/456").await;
    let metrics = scrape(&app).await;
    assert_eq!(metrics.get("deskpulse_http_responses_total{route=\"(unmatched)\",status=\"404\"}"), Some(&2.0));
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_not_on_the_public_one() {
    let app = spawn_app().await;
    assert_ne!(app.metrics_address.as_deref(), Some(app.address.as_str()));
    assert_eq!(app.get("/metrics").await.status().as_u16(), 404, "the public listener has no /metrics");
    let metrics = scrape(&app).await;
    assert_eq!(metrics.get("deskpulse_db_pool_max_connections"), Some(&8.0));
    // The metrics listener serves nothing else.
    for path in ["/healthz", "/graphiql", "/export/tickets.csv"] {
        assert_eq!(app.get_metrics(path).await.status().as_u16(), 404, "{path}");
    }
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|settings| settings.server.metrics = false).await;
    assert_eq!(app.get("/metrics").await.status().as_u16(), 404);
    assert_eq!(app.metrics_address, None, "no metrics listener is opened");
}
