//! History import over GraphQL and from CSV.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const IMPORT: &str = "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) {
    created alreadyImported tickets { externalRef outcome ticket { number status reopenCount firstResponseAt firstResolvedAt resolvedAt closedAt satisfaction { rating } timeline { kind } } } } }";

fn batch(assignee_email: &str) -> Value {
    json!([
        {
            "externalRef": "OLD-1", "customer": { "name": "Imported Co", "email": "it@imported.test" },
            "subject": "Reopened and closed", "category": "network", "priority": "HIGH", "channel": "EMAIL",
            "assigneeEmail": assignee_email,
            "openedAt": "2026-01-05T09:00:00Z", "firstResponseAt": "2026-01-05T09:30:00Z",
            "resolvedAt": ["2026-01-05T12:00:00Z", "2026-01-07T10:00:00Z"], "reopenedAt": ["2026-01-06T08:00:00Z"],
            "closedAt": "2026-01-08T10:00:00Z",
            "rating": { "rating": 4, "comment": "fine in the end", "submittedAt": "2026-01-07T11:00:00Z" }
        },
        {
            "externalRef": "OLD-2", "customer": { "name": "Imported Co again", "email": "IT@imported.test" },
            "subject": "Solved on first contact", "category": "access", "channel": "PHONE",
            "openedAt": "2026-02-01T10:00:00Z", "resolvedAt": ["2026-02-01T10:05:00Z"]
        },
        {
            "externalRef": "OLD-3", "customer": { "name": "Someone" },
            "subject": "Still open", "category": "hardware", "channel": "WEB", "openedAt": "2026-03-01T10:00:00Z"
        }
    ])
}

/// A fingerprint of every row the import touches.
fn snapshot(app: &TestApp) -> Vec<i64> {
    ["tickets", "ticket_events", "satisfaction_ratings", "customers"]
        .iter()
        .map(|table| app.count(&format!("SELECT ('x' || substr(md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')), 1, 15))::bit(60)::bigint FROM {table} t")))
        .collect()
}

#[tokio::test]
async fn importing_a_batch_writes_the_history_and_resending_it_changes_nothing() {
    let app = spawn_app().await;
    app.create_technician("Ivy Importer", "L1").await;
    let sam = app.supervisor();
    let first = app.query_ok(&sam, IMPORT, json!({ "batch": batch("ivy.importer@example.test") })).await;
    let result = &first["importTickets"];
    assert_eq!((result["created"].clone(), result["alreadyImported"].clone()), (json!(3), json!(0)));

    let closed = &result["tickets"][0]["ticket"];
    assert_eq!(closed["status"], "CLOSED");
    assert_eq!(closed["reopenCount"], 1);
    assert_eq!(closed["firstResponseAt"], "2026-01-05T09:30:00+00:00");
    assert_eq!(closed["firstResolvedAt"], "2026-01-05T12:00:00+00:00");
    assert_eq!(closed["resolvedAt"], "2026-01-07T10:00:00+00:00");
    assert_eq!(closed["satisfaction"]["rating"], 4);
    let kinds: Vec<&str> = closed["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "CREATED",
            "ASSIGNED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "REOPENED",
            "STATUS_CHANGED",
            "RATED",
            "STATUS_CHANGED"
        ]
    );
    let first_contact = &result["tickets"][1]["ticket"];
    assert_eq!(first_contact["status"], "RESOLVED");
    assert_eq!(first_contact["firstResponseAt"], "2026-02-01T10:05:00+00:00", "leaving OPEN is the first response");
    assert_eq!(result["tickets"][2]["ticket"]["status"], "OPEN");
    assert_eq!(app.count("SELECT count(*) FROM customers"), 2, "customers are matched by e-mail");

    let before = snapshot(&app);
    let again = app.query_ok(&sam, IMPORT, json!({ "batch": batch("ivy.importer@example.test") })).await;
    assert_eq!(
        (again["importTickets"]["created"].clone(), again["importTickets"]["alreadyImported"].clone()),
        (json!(0), json!(3))
    );
    assert!(again["importTickets"]["tickets"].as_array().unwrap().iter().all(|t| t["outcome"] == "ALREADY_IMPORTED"));
    assert_eq!(snapshot(&app), before, "the second import changed nothing");
}

#[tokio::test]
async fn a_batch_with_one_bad_row_writes_nothing_and_names_the_row_and_field() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let mut bad = batch("nobody@example.test");
    bad[0]["assigneeEmail"] = Value::Null;
    bad[1]["resolvedAt"] = json!(["2026-01-31T10:00:00Z"]);
    let (code, error) = app.query_error(&sam, IMPORT, json!({ "batch": bad })).await;
    assert_eq!(code, "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["field"], "batch[1].resolvedAt");

    let mut unknown_assignee = batch("nobody@example.test");
    unknown_assignee[2]["subject"] = json!("fine");
    let (code, error) = app.query_error(&sam, IMPORT, json!({ "batch": unknown_assignee })).await;
    assert_eq!(code, "NOT_FOUND");
    assert!(error["message"].as_str().unwrap().starts_with("batch[0].assigneeEmail"), "{error}");

    let mut bad_rating = batch("nobody@example.test");
    bad_rating[0]["assigneeEmail"] = Value::Null;
    bad_rating[0]["rating"]["rating"] = json!(9);
    let (code, error) = app.query_error(&sam, IMPORT, json!({ "batch": bad_rating })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("batch[0].rating.rating")));

    let (code, _) =
        app.query_error(&app.technician_token("tess", 1), IMPORT, json!({ "batch": batch("x@example.test") })).await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(app.count("SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM customers) + (SELECT count(*) FROM ticket_events)"), 0);
}

#[tokio::test]
async fn the_cli_imports_a_csv_through_the_same_path_and_only_once() {
    let app = spawn_app().await;
    app.create_technician("Cal Csv", "L2").await;
    let dir = std::env::temp_dir().join(format!("deskpulse-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("history.csv");
    std::fs::write(
        &file,
        "external_ref,customer_id,customer_name,customer_email,customer_phone,customer_organization,subject,description,category,priority,channel,assignee_id,assignee_email,opened_at,first_response_at,resolved_at,reopened_at,closed_at,rating,rating_comment,rated_at\n\
         CSV-1,,Dana,dana@csv.test,,Initech,Mail stuck,\"long, with comma\",email,URGENT,EMAIL,,cal.csv@example.test,2026-04-01T08:00:00Z,2026-04-01T08:10:00Z,2026-04-01T09:00:00Z;2026-04-03T09:00:00Z,2026-04-02T09:00:00Z,2026-04-04T09:00:00Z,5,great,2026-04-03T10:00:00Z\n\
         CSV-2,,Dana,dana@csv.test,,,Second,,email,,CHAT,,,2026-04-05T08:00:00Z,,,,,,,\n",
    )
    .unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_deskpulse"))
            .arg("import")
            .arg(&file)
            .env("DATABASE_URL", &app.database.url)
            .output()
            .unwrap()
    };
    let output = run();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 2 tickets"));
    assert_eq!(app.count("SELECT count(*) FROM tickets WHERE external_ref LIKE 'CSV-%'"), 2);
    assert_eq!(app.count("SELECT reopen_count FROM tickets WHERE external_ref = 'CSV-1'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM customers"), 1);
    assert_eq!(app.count("SELECT count(*) FROM ticket_events WHERE kind = 'RATED'"), 1);

    let output = run();
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 0 tickets; 2 were imported before"));
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 2);

    std::fs::write(&file, "external_ref,subject\nX,y\n").unwrap();
    let output = run();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("lacks the columns"));
    std::fs::remove_dir_all(&dir).ok();
}
