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

/// A CSV file holding `contents`, in a folder of its own.
fn csv_file(contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("deskpulse-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("history.csv");
    std::fs::write(&file, contents).unwrap();
    file
}

/// `deskpulse import FILE` against the test's database.
fn import_with_the_cli(app: &TestApp, file: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .arg("import")
        .arg(file)
        .env("DATABASE_URL", &app.database.url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_imports_a_csv_through_the_same_path_and_only_once() {
    let app = spawn_app().await;
    app.create_technician("Cal Csv", "L2").await;
    let file = csv_file(
        "external_ref,customer_id,customer_name,customer_email,customer_phone,customer_organization,subject,description,category,priority,channel,assignee_id,assignee_email,opened_at,first_response_at,resolved_at,reopened_at,closed_at,rating,rating_comment,rated_at\n\
         CSV-1,,Dana,dana@csv.test,,Initech,Mail stuck,\"long, with comma\",email,URGENT,EMAIL,,cal.csv@example.test,2026-04-01T08:00:00Z,2026-04-01T08:10:00Z,2026-04-01T09:00:00Z;2026-04-03T09:00:00Z,2026-04-02T09:00:00Z,2026-04-04T09:00:00Z,5,great,2026-04-03T10:00:00Z\n\
         CSV-2,,Dana,dana@csv.test,,,Second,,email,,CHAT,,,2026-04-05T08:00:00Z,,,,,,,\n",
    );
    let run = || import_with_the_cli(&app, &file);
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
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

const HISTORY: &str = "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) { tickets { ticket {
    id status satisfaction { rating comment submittedAt } timeline { at kind actor fromValue toValue note } } } } }";

#[tokio::test]
async fn an_import_names_each_events_actor_and_carries_every_rating_in_order() {
    let app = spawn_app().await;
    let ivy = app.create_technician("Ivy Importer", "L1").await;
    app.create_technician("Cal Csv", "L2").await;
    let ivy_ref = json!({ "id": ivy.to_string() });
    let cal_ref = json!({ "email": "CAL.CSV@example.test" });
    let ticket = json!({
        "externalRef": "HIST-1", "customer": { "name": "History Co" }, "subject": "Every hand on it",
        "category": "network", "channel": "EMAIL", "assigneeEmail": "ivy.importer@example.test",
        "openedAt": "2026-01-05T09:00:00Z", "openedBy": cal_ref,
        "firstResponseAt": "2026-01-05T09:30:00Z", "firstResponseBy": ivy_ref,
        "resolvedAt": ["2026-01-05T12:00:00Z", "2026-01-07T10:00:00Z"], "resolvedBy": [ivy_ref, cal_ref],
        "reopenedAt": ["2026-01-06T08:00:00Z"], "reopenedBy": [cal_ref],
        "closedAt": "2026-01-08T10:00:00Z", "closedBy": ivy_ref,
        // Out of order: the latest (5) is current, each earlier one superseded by the next.
        "ratings": [
            { "rating": 5, "comment": "fixed for good", "submittedAt": "2026-01-07T11:00:00Z" },
            { "rating": 2, "submittedAt": "2026-01-05T13:00:00Z", "recordedBy": cal_ref },
            { "rating": 3, "comment": "better", "submittedAt": "2026-01-06T07:00:00Z", "recordedBy": ivy_ref },
        ],
    });
    let data = app.query_ok(&app.supervisor(), HISTORY, json!({ "batch": [ticket] })).await;
    let imported = &data["importTickets"]["tickets"][0]["ticket"];
    assert_eq!(imported["status"], "CLOSED");
    assert_eq!(
        imported["satisfaction"],
        json!({ "rating": 5, "comment": "fixed for good", "submittedAt": "2026-01-07T11:00:00+00:00" })
    );
    let (ivy_email, cal_email, sam) = ("ivy.importer@example.test", "cal.csv@example.test", "sam.supervisor");
    let timeline: Vec<(String, String, String, Value, Value)> = imported["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap().to_owned();
            (text("at")[..16].to_owned(), text("kind"), text("actor"), e["fromValue"].clone(), e["toValue"].clone())
        })
        .collect();
    let row = |at: &str, kind: &str, actor: &str, from: Value, to: Value| {
        (at.to_owned(), kind.to_owned(), actor.to_owned(), from, to)
    };
    assert_eq!(
        timeline,
        [
            row("2026-01-05T09:00", "CREATED", cal_email, Value::Null, json!("OPEN")),
            row("2026-01-05T09:00", "ASSIGNED", cal_email, Value::Null, json!(ivy.to_string())),
            row("2026-01-05T09:30", "STATUS_CHANGED", ivy_email, json!("OPEN"), json!("IN_PROGRESS")),
            row("2026-01-05T12:00", "STATUS_CHANGED", ivy_email, json!("IN_PROGRESS"), json!("RESOLVED")),
            row("2026-01-05T13:00", "RATED", cal_email, Value::Null, json!("2")),
            row("2026-01-06T07:00", "RATED", ivy_email, json!("2"), json!("3")),
            row("2026-01-06T08:00", "REOPENED", cal_email, json!("RESOLVED"), json!("IN_PROGRESS")),
            row("2026-01-07T10:00", "STATUS_CHANGED", cal_email, json!("IN_PROGRESS"), json!("RESOLVED")),
            row("2026-01-07T11:00", "RATED", sam, json!("3"), json!("5")),
            row("2026-01-08T10:00", "STATUS_CHANGED", ivy_email, json!("RESOLVED"), json!("CLOSED")),
        ]
    );
    let ratings = "SELECT string_agg(rating || ' ' || submitted_by || ' ' || coalesce(to_char(superseded_at AT TIME ZONE 'UTC', 'MM-DD\"T\"HH24:MI'), 'current'), ', ' ORDER BY submitted_at) AS text FROM satisfaction_ratings";
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let stored = diesel::RunQueryDsl::get_result::<Text>(diesel::sql_query(ratings), &mut app.database.connect());
    assert_eq!(
        stored.unwrap().text,
        format!("2 {cal_email} 01-06T07:00, 3 {ivy_email} 01-07T11:00, 5 {sam} current"),
        "as if given in order"
    );

    // Only the current rating counts, in the period it was submitted; the facts agree.
    let csat = "query($from: DateTime!, $to: DateTime!) { kpis(period: { from: $from, to: $to }) { current { csatCount csatAverage } } }";
    let january = app
        .query_ok(&app.supervisor(), csat, json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z" }))
        .await;
    assert_eq!(january["kpis"]["current"], json!({ "csatCount": 1, "csatAverage": 5.0 }));
    let before_the_last = app
        .query_ok(&app.supervisor(), csat, json!({ "from": "2026-01-05T00:00:00Z", "to": "2026-01-07T00:00:00Z" }))
        .await;
    assert_eq!(before_the_last["kpis"]["current"]["csatCount"], 0, "the superseded ratings do not count");
    app.assert_kpi_facts_verify_clean();
}

#[tokio::test]
async fn an_import_that_names_an_unknown_or_miscounted_actor_writes_nothing() {
    let app = spawn_app().await;
    let ivy = app.create_technician("Ivy Importer", "L1").await;
    let base = || {
        json!({
            "externalRef": "HIST-2", "customer": { "name": "History Co" }, "subject": "Actors", "category": "network",
            "channel": "EMAIL", "openedAt": "2026-01-05T09:00:00Z",
            "resolvedAt": ["2026-01-05T12:00:00Z", "2026-01-07T10:00:00Z"], "reopenedAt": ["2026-01-06T08:00:00Z"],
        })
    };
    let mut unknown = base();
    unknown["resolvedBy"] = json!([{ "id": ivy.to_string() }, { "email": "nobody@example.test" }]);
    let (code, error) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [unknown] })).await;
    assert_eq!(code, "NOT_FOUND", "{error}");
    assert!(error["message"].as_str().unwrap().starts_with("batch[0].resolvedBy[1]"), "{error}");

    let mut miscounted = base();
    miscounted["resolvedBy"] = json!([{ "id": ivy.to_string() }]);
    let (code, error) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [miscounted] })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("batch[0].resolvedBy")));

    let mut both = base();
    both["openedBy"] = json!({ "id": ivy.to_string(), "email": "ivy.importer@example.test" });
    let (code, error) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [both] })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("batch[0].openedBy")));

    let mut closer_of_an_open_ticket = base();
    closer_of_an_open_ticket["closedBy"] = json!({ "id": ivy.to_string() });
    let (code, error) =
        app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [closer_of_an_open_ticket] })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("batch[0].closedBy")));

    let mut same_instant = base();
    same_instant["ratings"] = json!([
        { "rating": 4, "submittedAt": "2026-01-07T11:00:00Z" }, { "rating": 5, "submittedAt": "2026-01-07T11:00:00Z" }
    ]);
    let (code, error) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [same_instant] })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("batch[0].ratings")));

    let mut rating_and_ratings = base();
    rating_and_ratings["rating"] = json!({ "rating": 4, "submittedAt": "2026-01-07T11:00:00Z" });
    rating_and_ratings["ratings"] = json!([{ "rating": 5, "submittedAt": "2026-01-07T12:00:00Z" }]);
    let (code, _) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [rating_and_ratings] })).await;
    assert_eq!(code, "BAD_USER_INPUT");

    let mut early = base();
    early["ratings"] = json!([{ "rating": 4, "submittedAt": "2026-01-05T11:00:00Z" }, { "rating": 5, "submittedAt": "2026-01-07T12:00:00Z" }]);
    let (code, error) = app.query_error(&app.supervisor(), HISTORY, json!({ "batch": [early] })).await;
    assert_eq!(
        (code.as_str(), &error["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("batch[0].ratings")),
        "before the first resolution"
    );

    // SUPERVISOR or ADMIN only.
    let mut fine = base();
    fine["resolvedBy"] = json!([{ "id": ivy.to_string() }, { "id": ivy.to_string() }]);
    let (code, _) =
        app.query_error(&app.technician_token("ivy", ivy), HISTORY, json!({ "batch": [fine.clone()] })).await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(app.count("SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM ticket_events) + (SELECT count(*) FROM satisfaction_ratings)"), 0);
    app.query_ok(&app.admin(), HISTORY, json!({ "batch": [fine] })).await;
    assert_eq!(app.count("SELECT count(*) FROM ticket_events WHERE actor = 'ivy.importer@example.test'"), 2);
    app.assert_kpi_facts_verify_clean();
}

#[tokio::test]
async fn the_csv_names_actors_and_carries_every_rating() {
    let app = spawn_app().await;
    let ivy = app.create_technician("Ivy Importer", "L1").await;
    app.create_technician("Cal Csv", "L2").await;
    let file = csv_file(format!(
        "external_ref,customer_id,customer_name,customer_email,customer_phone,customer_organization,subject,description,category,priority,channel,assignee_id,assignee_email,opened_at,first_response_at,resolved_at,reopened_at,closed_at,rating,rating_comment,rated_at,opened_by,first_response_by,resolved_by,reopened_by,closed_by,rated_by\n\
             CSV-1,,Dana,dana@csv.test,,,Mail stuck,,email,,EMAIL,,cal.csv@example.test,2026-04-01T08:00:00Z,2026-04-01T08:10:00Z,2026-04-01T09:00:00Z;2026-04-03T09:00:00Z,2026-04-02T09:00:00Z,2026-04-04T09:00:00Z,\
             2;5,\"slow\\; very;great\",2026-04-01T10:00:00Z;2026-04-03T10:00:00Z,cal.csv@example.test,{ivy},{ivy};cal.csv@example.test,{ivy},cal.csv@example.test,{ivy};cal.csv@example.test\n"
    ));
    let output = import_with_the_cli(&app, &file);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let text = |sql: &str| {
        diesel::RunQueryDsl::get_result::<Text>(diesel::sql_query(sql), &mut app.database.connect()).unwrap().text
    };
    assert_eq!(
        text("SELECT string_agg(kind || ' ' || actor, ', ' ORDER BY at, id) AS text FROM ticket_events"),
        "CREATED cal.csv@example.test, ASSIGNED cal.csv@example.test, STATUS_CHANGED ivy.importer@example.test, \
         STATUS_CHANGED ivy.importer@example.test, RATED ivy.importer@example.test, REOPENED ivy.importer@example.test, \
         STATUS_CHANGED cal.csv@example.test, RATED cal.csv@example.test, STATUS_CHANGED cal.csv@example.test"
    );
    assert_eq!(
        text(
            "SELECT string_agg(rating || ' ' || coalesce(comment, '-') || ' ' || (superseded_at IS NULL), ', ' ORDER BY submitted_at) AS text FROM satisfaction_ratings"
        ),
        "2 slow; very false, 5 great true"
    );
    app.assert_kpi_facts_verify_clean();
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}
