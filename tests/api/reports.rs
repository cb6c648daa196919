//! Stored performance reports: equal to `kpis` when generated, unchanged afterwards, versioned,
//! generated once per period by racing schedulers, and made the same way by the CLI.

use std::process::Command;
use std::time::Duration;

use deskpulse::domain::report::{ReportKind, ReportPeriod};
use diesel::Connection;
use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, TestApp, serve_settings, spawn_app, start_servers, wait_for_scheduler_passes, wait_for_status, wait_until,
};

/// Every KPI field, so that two answers can be compared whole.
pub const KPI_VALUES: &str = "ticketsOpened ticketsResolved ticketsClosed backlog \
    firstResponseSeconds { mean median p90 } awaitingFirstResponse \
    resolutionSeconds { mean median p90 } firstResolutionSeconds { mean median p90 } \
    resolutionRate reopenRate csatAverage csatCount csatSatisfiedShare \
    interactions { count durationSeconds byChannelAndDirection { channel direction count durationSeconds } }";

/// Imports `batch` (ImportTicketInput objects) as a supervisor.
pub async fn import(app: &TestApp, batch: Value) {
    app.query_ok(
        &app.supervisor(),
        "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) { tickets { externalRef } } }",
        json!({ "batch": batch }),
    )
    .await;
}

/// Ann and Ben, four tickets around the week of Monday 2026-11-16 (UTC):
///
/// | ticket | who | category | customer | opened | history |
/// |---|---|---|---|---|---|
/// | T1 | Ann | net | Acme | 11-16 09:00 | response 10:00, resolved 12:00, closed 11-17; rated 5 |
/// | T2 | Ben | hw | Acme | 11-18 08:00 | open |
/// | T3 | Ann | net | Globex | 11-10 08:00 (the week before) | resolved 11-17 08:00 |
/// | T4 | Ben | net | Globex | 11-20 08:00 | response 08:30, resolved 11-21 08:00; rated 2 |
async fn week_dataset(app: &TestApp) {
    app.create_technician("Ann", "A").await;
    app.create_technician("Ben", "B").await;
    let acme = json!({ "name": "Acme", "email": "it@acme.test" });
    let globex = json!({ "name": "Globex", "email": "it@globex.test" });
    import(
        app,
        json!([
            { "externalRef": "T1", "customer": acme, "subject": "VPN", "category": "net", "channel": "EMAIL",
              "assigneeEmail": "ann@example.test", "openedAt": "2026-11-16T09:00:00Z",
              "firstResponseAt": "2026-11-16T10:00:00Z", "resolvedAt": ["2026-11-16T12:00:00Z"],
              "closedAt": "2026-11-17T09:00:00Z", "rating": { "rating": 5, "submittedAt": "2026-11-16T13:00:00Z" } },
            { "externalRef": "T2", "customer": acme, "subject": "Disk", "category": "hw", "channel": "PHONE",
              "assigneeEmail": "ben@example.test", "openedAt": "2026-11-18T08:00:00Z" },
            { "externalRef": "T3", "customer": globex, "subject": "Wifi", "category": "net", "channel": "WEB",
              "assigneeEmail": "ann@example.test", "openedAt": "2026-11-10T08:00:00Z",
              "resolvedAt": ["2026-11-17T08:00:00Z"] },
            { "externalRef": "T4", "customer": globex, "subject": "DNS", "category": "net", "channel": "CHAT",
              "assigneeEmail": "ben@example.test", "openedAt": "2026-11-20T08:00:00Z",
              "firstResponseAt": "2026-11-20T08:30:00Z", "resolvedAt": ["2026-11-21T08:00:00Z"],
              "rating": { "rating": 2, "submittedAt": "2026-11-21T09:00:00Z" } },
        ]),
    )
    .await;
}

fn report_query() -> String {
    format!(
        "id kind periodStart periodEnd timeZone version generatedBy trigger \
         current {{ {KPI_VALUES} }} previousStart previousEnd previous {{ {KPI_VALUES} }} \
         changes {{ metric current previous absolute relative }} \
         technicians {{ technicianId name team values {{ ticketsOpened ticketsResolved csatAverage }} }} \
         topCategories {{ category tickets previousTickets change relativeChange }} \
         topCustomers {{ name organization tickets }} csvUrl jsonUrl"
    )
}

async fn generate_week(app: &TestApp, start: &str, time_zone: &str) -> Value {
    let query = format!(
        "mutation($start: NaiveDate!, $tz: String!) {{ generateReport(kind: WEEK, periodStart: $start, timeZone: $tz) {{ {} }} }}",
        report_query()
    );
    app.query_ok(&app.supervisor(), &query, json!({ "start": start, "tz": time_zone })).await["generateReport"].clone()
}

async fn read_report(app: &TestApp, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ report(id: $id) {{ {} }} }}", report_query());
    app.query_ok(&app.supervisor(), &query, json!({ "id": id })).await["report"].clone()
}

#[tokio::test]
async fn a_report_equals_kpis_and_never_changes_afterwards() {
    let app = spawn_app().await;
    week_dataset(&app).await;

    let report = generate_week(&app, "2026-11-16", "UTC").await;
    assert_eq!(report["periodStart"], "2026-11-16T00:00:00+00:00");
    assert_eq!(report["periodEnd"], "2026-11-23T00:00:00+00:00");
    assert_eq!((report["version"].as_i64(), &report["trigger"]), (Some(1), &json!("ON_DEMAND")));
    assert_eq!(report["generatedBy"], "sam.supervisor");

    // The same numbers as `kpis` for the same period and the week before.
    let kpis = app
        .query_ok(
            &app.supervisor(),
            &format!(
                "query($p: PeriodInput!) {{ kpis(period: $p) {{ current {{ {KPI_VALUES} }} previous {{ {KPI_VALUES} }} changes {{ metric current previous absolute relative }} }} }}"
            ),
            json!({ "p": { "from": "2026-11-16T00:00:00Z", "to": "2026-11-23T00:00:00Z" } }),
        )
        .await["kpis"]
        .clone();
    assert_eq!(report["current"], kpis["current"]);
    assert_eq!(report["previous"], kpis["previous"]);
    assert_eq!(report["changes"], kpis["changes"]);
    // ... which are the hand-counted ones.
    assert_eq!(report["current"]["ticketsOpened"], 3);
    assert_eq!(report["current"]["ticketsResolved"], 3);
    assert_eq!(report["current"]["ticketsClosed"], 1);
    assert_eq!(report["current"]["csatAverage"], 3.5);
    assert_eq!(report["previous"]["ticketsOpened"], 1);

    assert_eq!(
        report["technicians"],
        json!([
            { "technicianId": report["technicians"][0]["technicianId"], "name": "Ann", "team": "A",
              "values": { "ticketsOpened": 1, "ticketsResolved": 2, "csatAverage": 5.0 } },
            { "technicianId": report["technicians"][1]["technicianId"], "name": "Ben", "team": "B",
              "values": { "ticketsOpened": 2, "ticketsResolved": 1, "csatAverage": 2.0 } },
        ])
    );
    assert_eq!(
        report["topCategories"],
        json!([
            { "category": "net", "tickets": 2, "previousTickets": 1, "change": 1, "relativeChange": 1.0 },
            { "category": "hw", "tickets": 1, "previousTickets": 0, "change": 1, "relativeChange": null },
        ])
    );
    assert_eq!(
        report["topCustomers"],
        json!([
            { "name": "Acme", "organization": null, "tickets": 2 },
            { "name": "Globex", "organization": null, "tickets": 1 },
        ])
    );

    // The tickets under it change, then are purged: the stored report stays as it was.
    let mut conn = app.database.connect();
    diesel::RunQueryDsl::execute(diesel::sql_query("UPDATE technicians SET name = 'Renamed'"), &mut conn).unwrap();
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM tickets"), &mut conn).unwrap();
    assert_eq!(read_report(&app, &report["id"]).await, report);
    let rewrite = diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE performance_reports SET snapshot = '{}'::jsonb"),
        &mut conn,
    );
    assert!(rewrite.is_err(), "the database itself refuses to change a stored report");

    // Generating the period again stores version 2 beside version 1.
    let again = generate_week(&app, "2026-11-16", "UTC").await;
    assert_eq!(again["version"], 2);
    assert_eq!(again["current"]["ticketsOpened"], 0);
    assert_eq!(read_report(&app, &report["id"]).await, report);
    let list = app
        .query_ok(
            &app.supervisor(),
            "{ reports(filter: { kind: WEEK }) { totalCount edges { node { id version } } } }",
            json!({}),
        )
        .await;
    assert_eq!(list["reports"]["totalCount"], 2);
    assert_eq!(list["reports"]["edges"][0]["node"]["version"], 2, "the latest version first");
}

#[tokio::test]
async fn reports_are_cut_in_their_time_zone_and_checked() {
    let app = spawn_app().await;
    let query = "mutation($kind: ReportKind!, $start: NaiveDate!, $tz: String!) { generateReport(kind: $kind, periodStart: $start, timeZone: $tz) { periodStart periodEnd previousStart complete } }";
    let paris = app
        .query_ok(&app.supervisor(), query, json!({ "kind": "MONTH", "start": "2026-11-01", "tz": "Europe/Paris" }))
        .await;
    assert_eq!(
        paris["generateReport"],
        json!({ "periodStart": "2026-10-31T23:00:00+00:00", "periodEnd": "2026-11-30T23:00:00+00:00",
                "previousStart": "2026-09-30T22:00:00+00:00", "complete": chrono::Utc::now() >= "2026-11-30T23:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap() })
    );

    for (kind, start, tz) in
        [("WEEK", "2026-11-17", "UTC"), ("MONTH", "2026-11-02", "UTC"), ("WEEK", "2026-11-16", "Mars/Olympus")]
    {
        let (code, error) =
            app.query_error(&app.supervisor(), query, json!({ "kind": kind, "start": start, "tz": tz })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{kind} {start} {tz}: {error}");
    }

    let technician = app.technician_token("tina", 1);
    for query in
        ["{ reports { totalCount } }", "mutation { generateReport(kind: WEEK, periodStart: \"2026-11-16\") { id } }"]
    {
        let (code, _) = app.query_error(&technician, query, json!({})).await;
        assert_eq!(code, "FORBIDDEN", "{query}");
    }
    assert_eq!(app.count("SELECT count(*) FROM performance_reports"), 1);
}

#[tokio::test]
async fn racing_generators_store_one_scheduled_report_per_period() {
    let app = spawn_app().await;
    week_dataset(&app).await;
    let period =
        ReportPeriod::starting(ReportKind::Week, "2026-11-16".parse().unwrap(), chrono_tz::Europe::Berlin).unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let url = app.database.url.clone();
            std::thread::spawn(move || {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                deskpulse::store::reports::generate_scheduled(&mut conn, &period, "racer").unwrap()
            })
        })
        .collect();
    let stored = racers.into_iter().filter_map(|racer| racer.join().unwrap()).count();
    assert_eq!(stored, 1);
    assert_eq!(app.count("SELECT count(*) FROM performance_reports WHERE trigger = 'SCHEDULED'"), 1);
}

#[tokio::test]
async fn two_servers_with_schedulers_store_last_week_and_last_month_once() {
    let app = spawn_app().await;
    let started = chrono::Utc::now();
    let mut settings = serve_settings(&app.database.url);
    settings.reports.enabled = true;
    settings.reports.time_zone = chrono_tz::America::New_York;
    settings.reports.check_interval = Duration::from_millis(50);
    settings.reports.delay = Duration::from_secs(3600);
    let first = start_servers(&settings).await;
    let second = start_servers(&settings).await;
    for (address, _) in [&first, &second] {
        wait_for_status(&app.client, &format!("{address}/readyz"), 200, PATIENCE).await;
    }

    let scheduled = "SELECT count(*) FROM performance_reports WHERE trigger = 'SCHEDULED'";
    let test_app = &app;
    wait_until("the schedulers store last week's and last month's reports", || async move {
        test_app.count(scheduled) >= 2
    })
    .await;
    // Both schedulers have looked again (and again) since: still one report per period.
    for (_, metrics) in [&first, &second] {
        wait_for_scheduler_passes(&app.client, metrics.as_deref().expect("metrics are on"), 3).await;
    }
    assert_eq!(app.count(scheduled), 2);

    // The period due when the test started (or, should a week or month have turned meanwhile,
    // the next one).
    let finished = chrono::Utc::now();
    for kind in [ReportKind::Week, ReportKind::Month] {
        let due = |at| {
            let due_by = deskpulse::schedule::due_by(at, settings.reports.delay);
            ReportPeriod::last_completed(kind, due_by, chrono_tz::America::New_York).start.to_rfc3339()
        };
        let sql = format!(
            "SELECT count(*) FROM performance_reports WHERE kind = '{kind}' AND period_start IN ('{}', '{}') \
             AND time_zone = 'America/New_York' AND generated_by = 'scheduler' AND version = 1",
            due(started),
            due(finished)
        );
        assert_eq!(app.count(&sql), 1, "{kind}");
    }
}

fn deskpulse(app: &TestApp, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .args(args)
        .env("DATABASE_URL", &app.database.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_generates_the_same_report_and_prints_it() {
    let app = spawn_app().await;
    week_dataset(&app).await;
    let printed = deskpulse(&app, &["report", "generate", "--kind", "week", "--start", "2026-11-16"]);
    assert!(printed.contains("version 1"), "{printed}");
    let printed = deskpulse(&app, &["report", "generate", "--kind", "week", "--start", "2026-11-16"]);
    assert!(printed.contains("version 2"), "{printed}");

    let id = app.count("SELECT max(id) FROM performance_reports");
    let from_cli: Value = serde_json::from_str(&deskpulse(&app, &["report", "show", &id.to_string()])).unwrap();
    assert_eq!(from_cli["generatedBy"], "cli");
    assert_eq!(from_cli["trigger"], "ON_DEMAND");
    assert_eq!(from_cli["snapshot"]["current"]["ticketsOpened"], 3);

    // The CLI's report holds what the API's holds.
    let api = generate_week(&app, "2026-11-16", "UTC").await;
    assert_eq!(api["version"], 3);
    assert_eq!(from_cli["snapshot"]["current"]["csatAverage"], api["current"]["csatAverage"]);
    assert_eq!(from_cli["snapshot"]["topCategories"][0]["category"], "net");

    // The JSON export serves the same document.
    let exported: Value = app
        .client
        .get(format!("{}/export/reports/{id}.json", app.address))
        .bearer_auth(app.supervisor())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(exported, from_cli);
}
