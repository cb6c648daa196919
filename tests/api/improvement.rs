//! Improvement actions: idempotent filing, a measured baseline, the lifecycle with its change
//! log, and the outcome measured after completion.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, TestApp, serve_settings, spawn_app, start_servers, table_counts, wait_for_scheduler_passes,
    wait_for_status, wait_until,
};
use crate::reports::import;

const FILE: &str = "mutation($input: FileImprovementActionInput!, $key: String) { \
    fileImprovementAction(input: $input, idempotencyKey: $key) { replayed action { id title version status \
    baselineValue baselineFrom baselineTo targetValue targetMetric owner createdBy } } }";

const UPDATE: &str = "mutation($id: ID!, $input: UpdateImprovementActionInput!, $version: Int) { \
    updateImprovementAction(id: $id, input: $input, expectedVersion: $version) { id status version endedAt \
    outcomeNotes changes { actor field fromValue toValue } } }";

fn action_input(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Pair new technicians with a senior for their first week.",
        "kind": "TRAINING",
        "targetMetric": "FIRST_RESPONSE_SECONDS_MEDIAN",
        "targetValue": 3600.0,
        "owner": "sam.supervisor",
        "dueDate": "2026-12-31",
        "baselineWindow": { "from": "2026-10-01T00:00:00Z", "to": "2026-10-08T00:00:00Z" },
    })
}

/// Tickets whose first responses took 2 h, 2 h, 4 h and 4 h in the baseline week
/// (median 3 h = 10,800 s), then 30 min and 1 h in the week after completion (median 2,700 s).
async fn response_times(app: &TestApp) {
    let ticket = |reference: &str, opened: &str, response: &str| {
        json!({ "externalRef": reference, "customer": { "name": "Acme" }, "subject": reference, "category": "net",
                "channel": "EMAIL", "openedAt": opened, "firstResponseAt": response })
    };
    import(
        app,
        json!([
            ticket("B1", "2026-10-01T08:00:00Z", "2026-10-01T10:00:00Z"),
            ticket("B2", "2026-10-02T08:00:00Z", "2026-10-02T10:00:00Z"),
            ticket("B3", "2026-10-03T08:00:00Z", "2026-10-03T12:00:00Z"),
            ticket("B4", "2026-10-04T08:00:00Z", "2026-10-04T12:00:00Z"),
            ticket("A1", "2026-10-09T08:00:00Z", "2026-10-09T08:30:00Z"),
            ticket("A2", "2026-10-10T08:00:00Z", "2026-10-10T09:00:00Z"),
        ]),
    )
    .await;
}

async fn file(app: &TestApp, input: &Value, key: Option<&str>) -> Value {
    app.query_ok(&app.supervisor(), FILE, json!({ "input": input, "key": key })).await["fileImprovementAction"].clone()
}

#[tokio::test]
async fn filing_twice_with_one_key_gives_one_action() {
    let app = spawn_app().await;
    let first = file(&app, &action_input("Buddy system"), Some("import-2026-11-27-001")).await;
    assert_eq!(first["replayed"], false);
    let again = file(&app, &action_input("Buddy system"), Some("import-2026-11-27-001")).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["action"], first["action"]);
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions"), 1);

    // The same key with another payload is refused, and changes nothing.
    let (code, error) = app
        .query_error(
            &app.supervisor(),
            FILE,
            json!({ "input": action_input("Another title"), "key": "import-2026-11-27-001" }),
        )
        .await;
    assert_eq!(code, "CONFLICT", "{error}");
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions"), 1);

    // Keys belong to their caller: another script's key of the same name files its own action.
    let other = app.token(deskpulse::auth::Role::Supervisor, "other.script");
    let theirs = app
        .query_ok(&other, FILE, json!({ "input": action_input("Buddy system"), "key": "import-2026-11-27-001" }))
        .await["fileImprovementAction"]
        .clone();
    assert_eq!(theirs["replayed"], false);
    assert_ne!(theirs["action"]["id"], first["action"]["id"]);

    // With the default baseline window (the 28 days before filing), a retry still matches.
    let mut defaulted = action_input("Default window");
    defaulted.as_object_mut().unwrap().remove("baselineWindow");
    let filed = file(&app, &defaulted, Some("default-window")).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let retried = file(&app, &defaulted, Some("default-window")).await;
    assert_eq!((filed["replayed"].clone(), retried["replayed"].clone()), (json!(false), json!(true)));
    assert_eq!(retried["action"], filed["action"]);
    let window = |action: &Value| {
        let at = |field: &str| action[field].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        at("baselineTo") - at("baselineFrom")
    };
    assert_eq!(window(&filed["action"]), chrono::Duration::days(28));

    // Retries racing each other still make one action.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (client, address, token) = (app.client.clone(), app.address.clone(), app.supervisor());
            tokio::spawn(async move {
                let body: Value = client
                    .post(format!("{address}/graphql"))
                    .bearer_auth(token)
                    .json(&json!({ "query": FILE, "variables": { "input": action_input("Raced"), "key": "race-1" } }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body["data"]["fileImprovementAction"]["action"]["id"].clone()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for racer in racers {
        ids.push(racer.await.unwrap());
    }
    assert!(ids.iter().all(|id| id == &ids[0] && !id.is_null()), "{ids:?}");
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions WHERE idempotency_key = 'race-1'"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM improvement_action_changes c JOIN improvement_actions a ON a.id = c.action_id WHERE a.idempotency_key = 'race-1'"),
        1,
        "one filing logged"
    );
}

#[tokio::test]
async fn a_completed_action_reports_the_metric_after_completion_against_its_baseline() {
    let app = spawn_app().await;
    response_times(&app).await;
    let filed = file(&app, &action_input("Buddy system"), None).await["action"].clone();
    assert_eq!(filed["baselineValue"], 10_800.0);
    assert_eq!(filed["status"], "PROPOSED");
    assert_eq!(filed["createdBy"], "sam.supervisor");
    let id = filed["id"].clone();

    let started = app
        .query_ok(&app.supervisor(), UPDATE, json!({ "id": id, "input": { "status": "IN_PROGRESS" }, "version": 1 }))
        .await["updateImprovementAction"]
        .clone();
    assert_eq!(started["version"], 2);
    let done = app
        .query_ok(
            &app.token(deskpulse::auth::Role::Admin, "ada.admin"),
            UPDATE,
            json!({ "id": id, "input": { "status": "COMPLETED", "endedAt": "2026-10-08T00:00:00Z" }, "version": 2 }),
        )
        .await["updateImprovementAction"]
        .clone();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(
        done["changes"],
        json!([
            { "actor": "sam.supervisor", "field": "status", "fromValue": null, "toValue": "PROPOSED" },
            { "actor": "sam.supervisor", "field": "status", "fromValue": "PROPOSED", "toValue": "IN_PROGRESS" },
            { "actor": "ada.admin", "field": "status", "fromValue": "IN_PROGRESS", "toValue": "COMPLETED" },
            { "actor": "ada.admin", "field": "endedAt", "fromValue": null, "toValue": "2026-10-08T00:00:00+00:00" },
        ])
    );

    // A retried completion is not an error and changes nothing.
    let retried = app
        .query_ok(
            &app.supervisor(),
            UPDATE,
            json!({ "id": id, "input": { "status": "COMPLETED", "endedAt": "2026-10-08T00:00:00Z" } }),
        )
        .await["updateImprovementAction"]
        .clone();
    assert_eq!(retried["version"], done["version"]);

    let read_outcome = || async {
        app.query_ok(
            &app.supervisor(),
            "query($id: ID!) { improvementAction(id: $id) { outcome { baselineValue baselineFrom baselineTo from to complete value measuredAt targetValue absoluteChange relativeChange targetMet } } }",
            json!({ "id": id }),
        )
        .await["improvementAction"]
        .clone()
    };
    let expected = json!({
        "baselineValue": 10_800.0, "baselineFrom": "2026-10-01T00:00:00+00:00", "baselineTo": "2026-10-08T00:00:00+00:00",
        "from": "2026-10-08T00:00:00+00:00", "to": "2026-10-15T00:00:00+00:00", "complete": true,
        "value": 2_700.0, "measuredAt": null, "targetValue": 3_600.0, "absoluteChange": -8_100.0, "relativeChange": -0.75,
        "targetMet": true,
    });
    // Its window has passed, but a read only measures: it writes nothing (the scheduler keeps it).
    let before = (fingerprint(&app, "improvement_actions"), table_counts(&app.database));
    assert_eq!(read_outcome().await["outcome"], expected);
    assert_eq!(read_outcome().await["outcome"], expected);
    let list = "{ improvementActions(first: 5) { nodes { outcome { value measuredAt } } } }";
    let listed = app.query_ok(&app.supervisor(), list, json!({})).await;
    assert_eq!(listed["improvementActions"]["nodes"], json!([{ "outcome": { "value": 2_700.0, "measuredAt": null } }]));
    assert_eq!((fingerprint(&app, "improvement_actions"), table_counts(&app.database)), before, "a read wrote");
}

/// A fingerprint of every row of `table`.
fn fingerprint(app: &TestApp, table: &str) -> i64 {
    app.count(&format!(
        "SELECT ('x' || substr(md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')), 1, 15))::bit(60)::bigint FROM {table} t"
    ))
}

/// Files the response-time action `title` and completes it at `ended_at` (now when None).
async fn completed_action(app: &TestApp, title: &str, ended_at: Option<&str>) -> String {
    let id = file(app, &action_input(title), None).await["action"]["id"].as_str().unwrap().to_owned();
    app.query_ok(&app.supervisor(), UPDATE, json!({ "id": id, "input": { "status": "IN_PROGRESS" } })).await;
    let done = json!({ "id": id, "input": { "status": "COMPLETED", "endedAt": ended_at } });
    app.query_ok(&app.supervisor(), UPDATE, done).await;
    id
}

#[tokio::test]
async fn two_schedulers_keep_each_due_outcome_exactly_once_and_reads_then_read_it_back() {
    let app = spawn_app().await;
    response_times(&app).await;
    let mut due = Vec::new();
    for n in 0..8 {
        due.push(completed_action(&app, &format!("Buddy system {n}"), Some("2026-10-08T00:00:00Z")).await);
    }
    // Completed now: its week after completion has not ended.
    let running = completed_action(&app, "Still measuring", None).await;
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions WHERE outcome_measured_at IS NOT NULL"), 0);

    let mut settings = serve_settings(&app.database.url);
    settings.reports.enabled = true;
    settings.reports.check_interval = Duration::from_millis(50);
    let servers = [start_servers(&settings).await, start_servers(&settings).await];
    for (server, _) in &servers {
        wait_for_status(&app.client, &format!("{server}/readyz"), 200, PATIENCE).await;
    }
    let kept = "SELECT count(*) FROM improvement_actions WHERE outcome_measured_at IS NOT NULL";
    let (test_app, due_count) = (&app, due.len() as i64);
    wait_until("the schedulers keep the due outcomes", || async move { test_app.count(kept) == due_count }).await;
    // Both schedulers have looked again since: still one measurement per action.
    for (_, metrics) in &servers {
        wait_for_scheduler_passes(&app.client, metrics.as_deref().expect("metrics are on"), 2).await;
    }
    assert_eq!(app.count(kept), due.len() as i64, "only the due outcomes are kept");
    assert_eq!(
        app.count("SELECT count(*) FROM improvement_action_changes WHERE field = 'outcomeValue'"),
        due.len() as i64,
        "each kept once"
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT action_id) FROM improvement_action_changes WHERE field = 'outcomeValue' AND actor = 'deskpulse' AND to_value = '2700'"),
        due.len() as i64
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM improvement_actions WHERE id = {running} AND outcome_measured_at IS NULL"
        )),
        1
    );

    // Kept: read back unchanged after retention removes the tickets it was measured on.
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM tickets"), &mut app.database.connect()).unwrap();
    let data = app
        .query_ok(
            &app.supervisor(),
            "query($id: ID!) { improvementAction(id: $id) { outcome { complete value measuredAt targetMet } } }",
            json!({ "id": due[0] }),
        )
        .await;
    let outcome = &data["improvementAction"]["outcome"];
    assert_eq!(
        (outcome["complete"].clone(), outcome["value"].clone(), outcome["targetMet"].clone()),
        (json!(true), json!(2_700.0), json!(true))
    );
    assert!(outcome["measuredAt"].is_string(), "{outcome}");
}

#[tokio::test]
async fn an_outcome_whose_window_is_still_running_has_no_verdict() {
    let app = spawn_app().await;
    response_times(&app).await;
    let id = file(&app, &action_input("Buddy system"), None).await["action"]["id"].clone();
    app.query_ok(&app.supervisor(), UPDATE, json!({ "id": id, "input": { "status": "IN_PROGRESS" } })).await;
    app.query_ok(&app.supervisor(), UPDATE, json!({ "id": id, "input": { "status": "COMPLETED" } })).await;
    let data = app
        .query_ok(
            &app.supervisor(),
            "query($id: ID!) { improvementAction(id: $id) { endedAt outcome { complete value targetMet baselineValue } } }",
            json!({ "id": id }),
        )
        .await;
    let outcome = &data["improvementAction"]["outcome"];
    assert_eq!(outcome["complete"], false);
    assert_eq!(outcome["targetMet"], Value::Null);
    assert_eq!(outcome["value"], Value::Null, "no tickets since completion");
    assert_eq!(outcome["baselineValue"], 10_800.0);
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions WHERE outcome_measured_at IS NOT NULL"), 0);
}

#[tokio::test]
async fn the_lifecycle_is_enforced_and_stale_edits_refused() {
    let app = spawn_app().await;
    let id = file(&app, &action_input("Runbook for VPN"), None).await["action"]["id"].clone();
    let change = |input: Value, version: Option<i64>| json!({ "id": id, "input": input, "version": version });

    let (code, _) = app.query_error(&app.supervisor(), UPDATE, change(json!({ "status": "COMPLETED" }), None)).await;
    assert_eq!(code, "CONFLICT", "PROPOSED cannot jump to COMPLETED");
    let (code, _) = app.query_error(&app.supervisor(), UPDATE, change(json!({ "title": "x" }), Some(7))).await;
    assert_eq!(code, "CONFLICT", "a stale version is refused");
    let (code, _) = app.query_error(&app.supervisor(), UPDATE, change(json!({ "title": "  " }), None)).await;
    assert_eq!(code, "BAD_USER_INPUT");

    app.query_ok(&app.supervisor(), UPDATE, change(json!({ "status": "ABANDONED", "dueDate": null }), Some(1))).await;
    let (code, _) = app.query_error(&app.supervisor(), UPDATE, change(json!({ "status": "IN_PROGRESS" }), None)).await;
    assert_eq!(code, "CONFLICT", "ABANDONED is final");
    let (code, _) = app.query_error(&app.supervisor(), UPDATE, change(json!({ "targetValue": 1.0 }), None)).await;
    assert_eq!(code, "CONFLICT", "an ended action keeps its fields");
    let noted = app
        .query_ok(&app.supervisor(), UPDATE, change(json!({ "outcomeNotes": "Superseded by a new VPN." }), None))
        .await["updateImprovementAction"]
        .clone();
    assert_eq!(noted["outcomeNotes"], "Superseded by a new VPN.");
    let fields: Vec<&str> = noted["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["status", "status", "endedAt", "dueDate", "outcomeNotes"]);

    // An abandoned action has no outcome.
    let data = app
        .query_ok(
            &app.supervisor(),
            "query($id: ID!) { improvementAction(id: $id) { outcome { value } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["improvementAction"]["outcome"], Value::Null);
}

#[tokio::test]
async fn lists_filter_by_status_metric_and_owner_and_technicians_are_refused() {
    let app = spawn_app().await;
    let mut csat = action_input("CSAT follow-up calls");
    csat["targetMetric"] = json!("CSAT_AVERAGE");
    csat["targetValue"] = json!(4.5);
    csat["owner"] = json!("lee.lead");
    file(&app, &csat, None).await;
    let second = file(&app, &action_input("Buddy system"), None).await["action"]["id"].clone();
    app.query_ok(&app.supervisor(), UPDATE, json!({ "id": second, "input": { "status": "IN_PROGRESS" } })).await;

    let titles = |filter: Value| {
        let app = &app;
        async move {
            let data = app
                .query_ok(
                    &app.supervisor(),
                    "query($f: ImprovementActionFilterInput) { improvementActions(filter: $f) { totalCount edges { node { title } } } }",
                    json!({ "f": filter }),
                )
                .await;
            data["improvementActions"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(titles(json!({})).await, ["Buddy system", "CSAT follow-up calls"]);
    assert_eq!(titles(json!({ "status": ["IN_PROGRESS"] })).await, ["Buddy system"]);
    assert_eq!(titles(json!({ "targetMetric": ["CSAT_AVERAGE"] })).await, ["CSAT follow-up calls"]);
    assert_eq!(titles(json!({ "owner": "lee.lead" })).await, ["CSAT follow-up calls"]);
    assert!(titles(json!({ "owner": "nobody" })).await.is_empty());

    let mut backwards = action_input("Backwards window");
    backwards["baselineWindow"] = json!({ "from": "2026-10-08T00:00:00Z", "to": "2026-10-01T00:00:00Z" });
    let (code, error) = app.query_error(&app.supervisor(), FILE, json!({ "input": backwards })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("input.baselineWindow.to")));

    let technician = app.technician_token("tina", 1);
    let (code, _) = app.query_error(&technician, "{ improvementActions { totalCount } }", json!({})).await;
    assert_eq!(code, "FORBIDDEN");
    let (code, _) = app.query_error(&technician, FILE, json!({ "input": action_input("x") })).await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions"), 2);
}

#[tokio::test]
async fn a_scoped_action_measures_only_its_part_of_the_team() {
    let app = spawn_app().await;
    let ann = app.create_technician("Ann", "A").await;
    app.create_technician("Ben", "B").await;
    // Ann answers in 1 h and 3 h (median 7,200 s), Ben in 5 h: everyone's median is 10,800 s.
    let ticket = |reference: &str, who: &str, opened: &str, response: &str| {
        json!({ "externalRef": reference, "customer": { "name": "Acme" }, "subject": reference, "category": "net",
                "channel": "EMAIL", "assigneeEmail": format!("{who}@example.test"), "openedAt": opened,
                "firstResponseAt": response })
    };
    import(
        &app,
        json!([
            ticket("S1", "ann", "2026-10-01T08:00:00Z", "2026-10-01T09:00:00Z"),
            ticket("S2", "ann", "2026-10-02T08:00:00Z", "2026-10-02T11:00:00Z"),
            ticket("S3", "ben", "2026-10-03T08:00:00Z", "2026-10-03T13:00:00Z"),
        ]),
    )
    .await;
    let query = "mutation($input: FileImprovementActionInput!) { fileImprovementAction(input: $input) { action { baselineValue scope { technicianIds teams categories priorities channels } } } }";

    let everyone = app.query_ok(&app.supervisor(), query, json!({ "input": action_input("Everyone") })).await;
    assert_eq!(everyone["fileImprovementAction"]["action"]["baselineValue"], 10_800.0);
    assert_eq!(
        everyone["fileImprovementAction"]["action"]["scope"],
        json!({ "technicianIds": [], "teams": [], "categories": [], "priorities": [], "channels": [] })
    );

    let mut coaching = action_input("Coach Ann");
    coaching["scope"] = json!({ "technicianIds": [ann.to_string()], "channels": ["EMAIL"] });
    let scoped = app.query_ok(&app.supervisor(), query, json!({ "input": coaching })).await;
    let action = &scoped["fileImprovementAction"]["action"];
    assert_eq!(action["baselineValue"], 7_200.0);
    assert_eq!(
        action["scope"],
        json!({ "technicianIds": [ann.to_string()], "teams": [], "categories": [], "priorities": [], "channels": ["EMAIL"] })
    );

    let mut bad = action_input("Nobody");
    bad["scope"] = json!({ "technicianIds": ["x"] });
    let (code, error) = app.query_error(&app.supervisor(), FILE, json!({ "input": bad })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("input.scope.technicianIds")));
}
