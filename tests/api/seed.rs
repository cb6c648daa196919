//! `deskpulse seed`: the demo data set, once.

use std::process::Command;

use serde_json::json;

use crate::helpers::{TestApp, TestDatabase, client, jwt_settings, serve_settings, start_server, wait_for_status};

fn seed(database: &TestDatabase, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .arg("seed")
        .args(extra)
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(&database.url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_demo_set_loads_once_and_the_api_carries_on_after_it() {
    let database = TestDatabase::empty();
    let output = seed(&database, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let settings = serve_settings(&database.url);
    let address = start_server(&settings).await;
    let http = client();
    wait_for_status(&http, &format!("{address}/readyz"), 200, std::time::Duration::from_secs(30)).await;
    let app = TestApp {
        address,
        metrics_address: None,
        client: http,
        keys: deskpulse::auth::TokenKeys::from_settings(&jwt_settings()).unwrap(),
        database,
    };
    assert_eq!(app.count("SELECT count(*) FROM technicians"), 6);
    assert_eq!(app.count("SELECT count(*) FROM customers"), 40);
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 400);
    assert_eq!(app.count("SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'CREATED')"), 0);
    assert!(app.count("SELECT count(*) FROM interactions") > 400);
    assert!(app.count("SELECT count(*) FROM satisfaction_ratings") > 50);

    let again = seed(&app.database, &["--if-empty"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing seeded"));
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 400);

    // The sequences moved past the seeded rows: the next ticket gets the next number.
    let customer = app.count("SELECT min(id) FROM customers");
    let ticket = app.create_ticket(&app.supervisor(), customer, json!({})).await;
    assert_eq!(ticket["number"], "TS-000401");

    // The seeded history answers KPI questions.
    let period = json!({ "from": chrono::Utc::now() - chrono::Duration::days(365), "to": chrono::Utc::now() });
    let data = app
        .query_ok(
            &app.supervisor(),
            "query($period: PeriodInput!) { technicianPerformance(period: $period) { ticketsResolved } }",
            json!({ "period": period }),
        )
        .await;
    let resolved: i64 = data["technicianPerformance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["ticketsResolved"].as_i64().unwrap())
        .sum();
    assert_eq!(
        resolved,
        app.count("SELECT count(*) FROM tickets WHERE resolved_at IS NOT NULL AND assignee_id IS NOT NULL")
    );
}
