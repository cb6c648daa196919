//! Retention: a dataset with records on both sides of every cut-off; dry runs, real runs, batches,
//! the one-run-at-a-time lock, the command line and the daily schedule.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use deskpulse::auth::TokenKeys;
use deskpulse::retention::{RetentionSchedule, RetentionSettings};
use deskpulse::startup::ServeSettings;
use deskpulse::store::retention::RUN_LOCK_KEY;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, TestApp, TestDatabase, client, serve_settings, spawn_app, start_server, start_servers, wait_for_counter,
    wait_until,
};

const RUN: &str = "mutation($dry: Boolean!) { runRetention(dryRun: $dry) {
    id dryRun status triggeredBy error startedAt finishedAt
    cutoffs { ticketsClosedBefore interactionsBefore reportsGeneratedBefore improvementActionsEndedBefore }
    counts { tickets ticketEvents ratings interactions reports improvementActions } } }";

const IMPORT: &str = "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) {
    tickets { externalRef ticket { id status } } } }";

const LOG: &str = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }";

/// The default periods: 731 days for tickets and interactions, 1,827 for reports and actions.
const TICKET_DAYS: i64 = 731;
const REPORT_DAYS: i64 = 1827;

fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(days)
}

/// An hour older than `days` days: past a cut-off of `days` days.
fn just_before(days: i64) -> DateTime<Utc> {
    days_ago(days) - chrono::Duration::hours(1)
}

/// An hour younger than `days` days: still inside a period of `days` days.
fn just_after(days: i64) -> DateTime<Utc> {
    days_ago(days) + chrono::Duration::hours(1)
}

fn at(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339()
}

fn sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement)
        .execute(&mut app.database.connect())
        .unwrap_or_else(|err| panic!("{statement}: {err}"));
}

/// A ticket closed at `closed`, opened and resolved before.
fn closed_ticket(reference: &str, customer: i64, closed: DateTime<Utc>) -> Value {
    json!({
        "externalRef": reference, "customerId": customer.to_string(), "subject": reference, "category": "retention",
        "channel": "EMAIL", "openedAt": at(closed - chrono::Duration::days(5)),
        "resolvedAt": [at(closed - chrono::Duration::days(1))], "closedAt": at(closed),
    })
}

/// Imports `tickets` and returns their ids by external reference.
async fn import(app: &TestApp, tickets: Vec<Value>) -> std::collections::HashMap<String, i64> {
    let data = app.query_ok(&app.supervisor(), IMPORT, json!({ "batch": tickets })).await;
    data["importTickets"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["externalRef"].as_str().unwrap().to_owned(), t["ticket"]["id"].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Logs an INBOUND e-mail (which changes no ticket) and returns its id.
async fn log_interaction(
    app: &TestApp,
    customer: i64,
    ticket: Option<i64>,
    occurred: DateTime<Utc>,
    summary: &str,
    corrects: Option<&str>,
) -> String {
    let input = json!({
        "customerId": customer.to_string(), "ticketId": ticket.map(|id| id.to_string()), "channel": "EMAIL",
        "direction": "INBOUND", "occurredAt": at(occurred), "summary": summary, "correctsId": corrects,
    });
    app.query_ok(&app.supervisor(), LOG, json!({ "input": input })).await["logInteraction"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn insert_report(app: &TestApp, name: &str, generated: DateTime<Utc>) {
    sql(
        app,
        &format!(
            "INSERT INTO performance_reports (kind, period_start, period_end, time_zone, version, generated_at,
                 generated_by, trigger, snapshot)
             VALUES ('WEEK', '{start}', '{end}', 'UTC', 1, '{generated}', '{name}', 'ON_DEMAND', '{{}}')",
            start = at(generated - chrono::Duration::days(8)),
            end = at(generated - chrono::Duration::days(1)),
            generated = at(generated),
        ),
    );
}

/// An improvement action with two logged changes; `ended` sets it COMPLETED, else IN_PROGRESS.
fn insert_action(app: &TestApp, title: &str, created: DateTime<Utc>, ended: Option<DateTime<Utc>>, report: &str) {
    let (status, ended) = match ended {
        Some(ended) => ("COMPLETED", format!("'{}'", at(ended))),
        None => ("IN_PROGRESS", "NULL".to_owned()),
    };
    sql(
        app,
        &format!(
            "WITH action AS (
                 INSERT INTO improvement_actions (title, kind, target_metric, target_value, baseline_from, baseline_to,
                     owner, status, ended_at, request_hash, created_by, created_at, updated_at, source_report_id)
                 VALUES ('{title}', 'TRAINING', 'REOPEN_RATE', 0.05, '{from}', '{created}', 'sam', '{status}', {ended},
                     'hash-{title}', 'sam', '{created}', '{created}',
                     (SELECT id FROM performance_reports WHERE generated_by = '{report}'))
                 RETURNING id)
             INSERT INTO improvement_action_changes (action_id, at, actor, field, from_value, to_value)
             SELECT id, '{created}', 'sam', field, NULL, 'x' FROM action, (VALUES ('status'), ('owner')) AS f (field)",
            from = at(created - chrono::Duration::days(28)),
            created = at(created),
        ),
    );
}

fn texts(app: &TestApp, query: &str) -> BTreeSet<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    diesel::sql_query(query)
        .load::<Row>(&mut app.database.connect())
        .unwrap_or_else(|err| panic!("{query}: {err}"))
        .into_iter()
        .map(|row| row.text)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// A fingerprint of every table retention may touch.
fn fingerprint(app: &TestApp) -> Vec<i64> {
    [
        "tickets",
        "ticket_events",
        "satisfaction_ratings",
        "interactions",
        "performance_reports",
        "improvement_actions",
        "improvement_action_changes",
        "customers",
    ]
    .iter()
    .map(|table| {
        app.count(&format!(
            "SELECT ('x' || substr(md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')), 1, 15))::bit(60)::bigint FROM {table} t"
        ))
    })
    .collect()
}

fn counts(run: &Value) -> [i64; 6] {
    let c = &run["counts"];
    ["tickets", "ticketEvents", "ratings", "interactions", "reports", "improvementActions"]
        .map(|kind| c[kind].as_i64().unwrap_or_else(|| panic!("no count {kind} in {run}")))
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Tickets, interactions, reports and actions on both sides of each cut-off, with the records that
/// hang off them. The comments say what a run must do with each.
async fn boundary_dataset(app: &TestApp) {
    let customer = app.create_customer("Rita Retained").await;
    let mut expired = closed_ticket("closed-expired", customer, just_before(TICKET_DAYS));
    expired["rating"] =
        json!({ "rating": 2, "submittedAt": at(just_before(TICKET_DAYS) - chrono::Duration::hours(12)) });
    let open = |reference: &str| {
        json!({ "externalRef": reference, "customerId": customer.to_string(), "subject": reference,
                "category": "retention", "channel": "WEB", "openedAt": at(days_ago(3000)) })
    };
    let mut in_progress = open("in-progress-old");
    in_progress["firstResponseAt"] = json!(at(days_ago(2999)));
    let mut resolved = open("resolved-old");
    resolved["resolvedAt"] = json!([at(days_ago(2990))]);
    let ids = import(
        app,
        vec![
            // Removed: closed an hour past the cut-off, and long before.
            expired,
            closed_ticket("closed-long-ago", customer, days_ago(1500)),
            // Kept: closed an hour inside the period; closed last month.
            closed_ticket("closed-within", customer, just_after(TICKET_DAYS)),
            closed_ticket("closed-recently", customer, days_ago(30)),
            // Kept whatever their age: not closed.
            open("open-old"),
            in_progress,
            resolved,
        ],
    )
    .await;

    // Ratings: the expired ticket's imported rating is superseded twice (three rows, all removed);
    // a kept ticket's rating stays.
    let rate = "mutation($id: ID!, $rating: Int!) { recordSatisfaction(ticketId: $id, rating: $rating) { rating } }";
    for (reference, rating) in [("closed-expired", 5), ("closed-expired", 4), ("closed-within", 3)] {
        app.query_ok(&app.supervisor(), rate, json!({ "id": ids[reference].to_string(), "rating": rating })).await;
    }

    // Interactions. Removed: both of an expired ticket, even the young one; an old one of a kept
    // open ticket (interactions go by their own age); an old one without ticket; an old one that a
    // young correction names.
    let expired = Some(ids["closed-expired"]);
    log_interaction(app, customer, expired, days_ago(800), "expired ticket, old", None).await;
    log_interaction(app, customer, expired, days_ago(10), "expired ticket, young", None).await;
    log_interaction(app, customer, Some(ids["open-old"]), just_before(TICKET_DAYS), "open ticket, old", None).await;
    log_interaction(app, customer, None, just_before(TICKET_DAYS), "no ticket, expired", None).await;
    let corrected = log_interaction(app, customer, None, days_ago(900), "corrected, old", None).await;
    // Kept: inside the period; a young correction of a removed entry (its link is cleared); a
    // recent one of a kept closed ticket.
    log_interaction(app, customer, None, just_after(TICKET_DAYS), "no ticket, within", None).await;
    log_interaction(app, customer, None, days_ago(5), "correction, young", Some(&corrected)).await;
    log_interaction(app, customer, Some(ids["closed-within"]), days_ago(100), "kept ticket, recent", None).await;

    // Reports and improvement actions (inserted directly: their API is not part of this change).
    insert_report(app, "report-expired", just_before(REPORT_DAYS));
    insert_report(app, "report-within", just_after(REPORT_DAYS));
    // Removed: completed an hour past the cut-off, with its change log.
    insert_action(app, "action-ended-expired", days_ago(2500), Some(just_before(REPORT_DAYS)), "none");
    // Kept: ended an hour inside the period; in progress for 3000 days, citing the removed report.
    insert_action(app, "action-ended-within", days_ago(2500), Some(just_after(REPORT_DAYS)), "none");
    insert_action(app, "action-open-old", days_ago(3000), None, "report-expired");
}

#[tokio::test]
async fn a_dry_run_counts_exactly_the_expired_records_and_a_run_removes_exactly_them() {
    let app = spawn_app().await;
    boundary_dataset(&app).await;
    let removed_tickets = "SELECT id FROM tickets WHERE external_ref IN ('closed-expired', 'closed-long-ago')";
    let events_of_removed =
        app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id IN ({removed_tickets})"));
    assert!(events_of_removed >= 6, "at least CREATED, RESOLVED and CLOSED for each");
    // tickets, ticket events, ratings, interactions, reports, improvement actions
    let expected = [2, events_of_removed, 3, 5, 1, 1];

    let before = fingerprint(&app);
    let ada = app.admin();
    let dry = app.query_ok(&ada, RUN, json!({ "dry": true })).await["runRetention"].clone();
    assert_eq!((dry["dryRun"].clone(), dry["status"].clone()), (json!(true), json!("COMPLETED")), "{dry}");
    assert_eq!(counts(&dry), expected, "{dry}");
    assert_eq!(dry["triggeredBy"], "ada.admin");
    let cutoff = instant(&dry["cutoffs"]["ticketsClosedBefore"]);
    let started = instant(&dry["startedAt"]);
    assert_eq!(started - cutoff, chrono::Duration::days(TICKET_DAYS), "the cut-off is the period back from the start");
    assert_eq!(instant(&dry["cutoffs"]["interactionsBefore"]), cutoff);
    assert_eq!(started - instant(&dry["cutoffs"]["reportsGeneratedBefore"]), chrono::Duration::days(REPORT_DAYS));
    assert_eq!(
        started - instant(&dry["cutoffs"]["improvementActionsEndedBefore"]),
        chrono::Duration::days(REPORT_DAYS)
    );
    assert_eq!(fingerprint(&app), before, "a dry run removes nothing");

    let run = app.query_ok(&ada, RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!((run["dryRun"].clone(), run["status"].clone()), (json!(false), json!("COMPLETED")), "{run}");
    assert_eq!(counts(&run), expected, "a run removes what the dry run counted");
    assert!(instant(&run["finishedAt"]) >= instant(&run["startedAt"]));

    assert_eq!(
        texts(&app, "SELECT external_ref AS text FROM tickets"),
        set(&["closed-within", "closed-recently", "open-old", "in-progress-old", "resolved-old"])
    );
    assert_eq!(app.count("SELECT count(*) FROM ticket_events WHERE ticket_id NOT IN (SELECT id FROM tickets)"), 0);
    assert_eq!(app.count("SELECT count(*) FROM satisfaction_ratings"), 1, "the kept ticket's rating stays");
    assert_eq!(
        texts(&app, "SELECT summary AS text FROM interactions"),
        set(&["no ticket, within", "correction, young", "kept ticket, recent"])
    );
    assert_eq!(app.count("SELECT count(*) FROM interactions WHERE corrects_id IS NOT NULL"), 0, "the link is cleared");
    assert_eq!(texts(&app, "SELECT generated_by AS text FROM performance_reports"), set(&["report-within"]));
    assert_eq!(
        texts(&app, "SELECT title AS text FROM improvement_actions"),
        set(&["action-ended-within", "action-open-old"])
    );
    assert_eq!(app.count("SELECT count(*) FROM improvement_actions WHERE source_report_id IS NOT NULL"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM improvement_action_changes"),
        4,
        "the removed action's log went with it"
    );
    assert_eq!(app.count("SELECT count(*) FROM customers"), 1, "customers are not retention's to remove");

    let again = app.query_ok(&ada, RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(counts(&again), [0; 6], "nothing is left to remove");

    let listed = app
        .query_ok(
            &ada,
            "{ retentionRuns(first: 2) { totalCount pageInfo { hasNextPage endCursor }
               nodes { id dryRun counts { tickets ticketEvents ratings interactions reports improvementActions } } } }",
            json!({}),
        )
        .await;
    let page = &listed["retentionRuns"];
    assert_eq!((page["totalCount"].clone(), page["pageInfo"]["hasNextPage"].clone()), (json!(3), json!(true)));
    let ids: Vec<&Value> = page["nodes"].as_array().unwrap().iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, [&again["id"], &run["id"]], "newest first");
    assert_eq!(counts(&page["nodes"][1]), expected, "the record holds the counts");
    let rest = app
        .query_ok(
            &ada,
            "query($after: String) { retentionRuns(first: 2, after: $after) { pageInfo { hasNextPage } nodes { id dryRun } } }",
            json!({ "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(rest["retentionRuns"]["nodes"], json!([{ "id": dry["id"], "dryRun": true }]));
    assert_eq!(rest["retentionRuns"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn only_admins_run_retention_or_read_its_runs_and_policy() {
    let app = spawn_app().await;
    for token in [app.supervisor(), app.technician_token("tess", 1)] {
        let (code, error) = app.query_error(&token, RUN, json!({ "dry": true })).await;
        assert_eq!(code, "FORBIDDEN", "{error}");
        let (code, _) = app.query_error(&token, "{ retentionRuns { totalCount } }", json!({})).await;
        assert_eq!(code, "FORBIDDEN");
        let (code, _) = app.query_error(&token, "{ retentionPolicy { batchSize } }", json!({})).await;
        assert_eq!(code, "FORBIDDEN");
    }
    assert_eq!(app.count("SELECT count(*) FROM retention_runs"), 0);

    let policy = app
        .query_ok(
            &app.admin(),
            "{ retentionPolicy { ticketsPeriodSeconds interactionsPeriodSeconds reportsPeriodSeconds
               improvementActionsPeriodSeconds batchSize dailyAt timeZone cutoffsNow { ticketsClosedBefore } } }",
            json!({}),
        )
        .await;
    let policy = &policy["retentionPolicy"];
    assert_eq!(policy["ticketsPeriodSeconds"], 731 * 86_400);
    assert_eq!(policy["interactionsPeriodSeconds"], 731 * 86_400);
    assert_eq!(policy["reportsPeriodSeconds"], 1827 * 86_400);
    assert_eq!(policy["improvementActionsPeriodSeconds"], 1827 * 86_400);
    assert_eq!((policy["batchSize"].clone(), policy["dailyAt"].clone()), (json!(1000), Value::Null));
    let cutoff = instant(&policy["cutoffsNow"]["ticketsClosedBefore"]);
    assert!((cutoff - days_ago(TICKET_DAYS)).num_seconds().abs() < 60, "{cutoff}");
}

/// A server with its own settings over a fresh database.
async fn spawn_configured(configure: impl FnOnce(&mut ServeSettings)) -> TestApp {
    let database = TestDatabase::migrated();
    let mut settings = serve_settings(&database.url);
    configure(&mut settings);
    let address = start_server(&settings).await;
    let app = TestApp {
        address,
        metrics_address: None,
        client: client(),
        keys: TokenKeys::from_settings(&settings.jwt).unwrap(),
        database,
    };
    app.wait_until_ready(PATIENCE).await;
    app
}

#[tokio::test]
async fn each_batch_commits_on_its_own_so_a_failed_run_has_removed_and_counted_whole_batches() {
    let app = spawn_configured(|settings| settings.retention.batch_size = 2).await;
    let customer = app.create_customer("Bea Batch").await;
    // Five expired tickets, oldest first; the third refuses to go (a trigger stands in for any
    // error half-way through a run).
    let tickets = (1..=5).map(|n| closed_ticket(&format!("batch-{n}"), customer, days_ago(1000 - n))).collect();
    import(&app, tickets).await;
    sql(
        &app,
        "CREATE FUNCTION refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'ticket % may not go', OLD.external_ref; END $$",
    );
    sql(
        &app,
        "CREATE TRIGGER refuse_batch_3 BEFORE DELETE ON tickets FOR EACH ROW
         WHEN (OLD.external_ref = 'batch-3') EXECUTE FUNCTION refuse_removal()",
    );
    let first_two_events =
        app.count("SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id WHERE external_ref IN ('batch-1', 'batch-2')");

    let run = app.query_ok(&app.admin(), RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(run["error"].as_str().unwrap().contains("ticket batch-3 may not go"), "{run}");
    assert!(run["finishedAt"].is_string());
    assert_eq!(counts(&run), [2, first_two_events, 0, 0, 0, 0], "the first batch of two, and nothing of the second");
    assert_eq!(
        texts(&app, "SELECT external_ref AS text FROM tickets"),
        set(&["batch-3", "batch-4", "batch-5"]),
        "the failed batch rolled back whole"
    );

    sql(&app, "DROP TRIGGER refuse_batch_3 ON tickets");
    let rerun = app.query_ok(&app.admin(), RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(rerun["status"], "COMPLETED");
    assert_eq!(counts(&rerun)[0], 3, "two batches: two tickets, then one");
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 0);
    assert_eq!(app.count("SELECT count(*) FROM ticket_events"), 0);
}

#[tokio::test]
async fn a_second_run_is_refused_while_one_is_in_progress() {
    let app = spawn_app().await;
    // A run that died with its process left this row behind.
    sql(
        &app,
        "INSERT INTO retention_runs (started_at, dry_run, triggered_by, tickets_closed_before, interactions_before,
             reports_generated_before, actions_ended_before)
         VALUES (now() - interval '1 day', false, 'crashed', now(), now(), now(), now())",
    );
    // Hold the first run half-way: it has taken the run lock, then waits for this table lock.
    let mut blocker = app.database.connect();
    diesel::sql_query("BEGIN").execute(&mut blocker).unwrap();
    diesel::sql_query("LOCK TABLE retention_runs IN SHARE ROW EXCLUSIVE MODE").execute(&mut blocker).unwrap();
    let first = {
        let (app_address, token) = (app.address.clone(), app.admin());
        tokio::spawn(async move {
            let body = json!({ "query": RUN, "variables": { "dry": false } });
            let response = client().post(format!("{app_address}/graphql")).bearer_auth(token).json(&body).send().await;
            response.unwrap().json::<Value>().await.unwrap()
        })
    };
    let test_app = &app;
    wait_until("the first run takes the lock", || async move { run_lock_held(test_app) }).await;

    let (code, error) = app.query_error(&app.admin(), RUN, json!({ "dry": true })).await;
    assert_eq!(code, "CONFLICT", "{error}");
    assert!(error["message"].as_str().unwrap().contains("in progress"), "{error}");
    let output = Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .args(["retention", "run", "--dry-run"])
        .env("DATABASE_URL", &app.database.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("in progress"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    diesel::sql_query("COMMIT").execute(&mut blocker).unwrap();
    let body = first.await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["runRetention"]["status"], "COMPLETED");
    assert_eq!(app.count("SELECT count(*) FROM retention_runs"), 2, "the refused runs left no record");
    assert_eq!(
        texts(
            &app,
            "SELECT status || ' ' || coalesce(error, '') AS text FROM retention_runs WHERE triggered_by = 'crashed'"
        ),
        set(&["FAILED interrupted: the run stopped before it finished (its counts are what it removed)"]),
        "the run that held no lock is marked as interrupted"
    );
    assert!(!run_lock_held(&app), "the lock is released");
}

/// Whether a session holds the run lock in the test's database (`pg_locks` shows a bigint key as
/// its high and low 32 bits).
fn run_lock_held(app: &TestApp) -> bool {
    app.count(&format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = {} AND objid = {}
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        RUN_LOCK_KEY >> 32,
        RUN_LOCK_KEY & 0xffff_ffff
    )) > 0
}

fn deskpulse_retention(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deskpulse"));
    for variable in ["DESKPULSE_RETAIN_TICKETS", "DESKPULSE_RETENTION_BATCH_SIZE"] {
        command.env_remove(variable);
    }
    command.args(["retention", "run"]).args(args).env("DATABASE_URL", &app.database.url).output().unwrap()
}

/// The number in the `record` row of the CLI's table.
fn printed_count(stdout: &str, record: &str) -> i64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("{record}  ")))
        .unwrap_or_else(|| panic!("no {record} row in:\n{stdout}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_cli_counts_with_dry_run_then_removes_and_refuses_bad_settings() {
    let app = spawn_app().await;
    let customer = app.create_customer("Cleo Cli").await;
    let tickets = vec![
        closed_ticket("cli-1", customer, days_ago(800)),
        closed_ticket("cli-2", customer, days_ago(900)),
        closed_ticket("cli-kept", customer, days_ago(20)),
    ];
    import(&app, tickets).await;
    let events = app.count(
        "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id WHERE external_ref <> 'cli-kept'",
    );

    let output = deskpulse_retention(&app, &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("dry run: nothing was removed") && stdout.contains("would remove"), "{stdout}");
    assert_eq!(printed_count(&stdout, "tickets"), 2);
    assert_eq!(printed_count(&stdout, "ticket events"), events);
    assert_eq!(printed_count(&stdout, "interactions"), 0);
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 3);

    let output = deskpulse_retention(&app, &["--retention-batch-size", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("removed"), "{stdout}");
    assert_eq!(printed_count(&stdout, "tickets"), 2);
    assert_eq!(texts(&app, "SELECT external_ref AS text FROM tickets"), set(&["cli-kept"]));
    assert_eq!(texts(&app, "SELECT triggered_by AS text FROM retention_runs"), set(&["cli"]));

    // A shorter period reaches the last ticket too.
    let output = deskpulse_retention(&app, &["--retain-tickets", "10days"]);
    assert!(output.status.success());
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 0);

    for bad in [["--retain-tickets", "0s"], ["--retention-batch-size", "0"], ["--retain-reports", "soon"]] {
        let output = deskpulse_retention(&app, &bad);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(bad[0]) && stderr.contains(bad[1]), "{stderr}");
    }
}

#[tokio::test]
async fn the_daily_run_happens_once_a_day_however_many_servers_share_the_database() {
    let database = TestDatabase::migrated();
    let mut settings = serve_settings(&database.url);
    // Far enough ahead that a slow machine still starts both servers before it.
    let due = (Utc::now() + chrono::Duration::seconds(10)).time().with_nanosecond(0).unwrap();
    settings.retention_schedule = RetentionSchedule { daily_at: Some(due), time_zone: "UTC".parse().unwrap() };
    settings.retention = RetentionSettings { tickets: Duration::from_secs(86_400), ..RetentionSettings::default() };
    let (first, first_metrics) = start_servers(&settings).await;
    let (_, second_metrics) = start_servers(&settings).await;
    let app = TestApp {
        address: first,
        metrics_address: None,
        client: client(),
        keys: TokenKeys::from_settings(&settings.jwt).unwrap(),
        database,
    };
    app.wait_until_ready(PATIENCE).await;

    // Both servers have made their attempt: one ran, the other found the run or the lock taken.
    for metrics in [first_metrics, second_metrics] {
        let metrics = metrics.expect("metrics are on");
        wait_for_counter(&app.client, &metrics, "deskpulse_retention_daily_attempts_total", 1).await;
    }
    assert_eq!(
        texts(&app, "SELECT triggered_by || ' ' || dry_run || ' ' || status AS text FROM retention_runs"),
        set(&["scheduler false COMPLETED"])
    );
    assert_eq!(app.count("SELECT count(*) FROM retention_runs"), 1);
    let data =
        app.query_ok(&app.admin(), "{ retentionPolicy { dailyAt timeZone ticketsPeriodSeconds } }", json!({})).await;
    assert_eq!(data["retentionPolicy"]["dailyAt"], due.format("%H:%M:%S").to_string());
    assert_eq!(data["retentionPolicy"]["timeZone"], "UTC");
    assert_eq!(data["retentionPolicy"]["ticketsPeriodSeconds"], 86_400);
}

#[test]
fn a_scheduled_run_is_skipped_when_one_already_started_that_day() {
    let database = TestDatabase::migrated();
    let mut conn = database.connect();
    let settings = RetentionSettings::default();
    let schedule = RetentionSchedule { daily_at: None, time_zone: "Pacific/Auckland".parse().unwrap() };
    let now = Utc::now();
    let today = now.with_timezone(&schedule.time_zone).date_naive();
    // Runs by hand, dry or not, do not count as the day's scheduled run.
    deskpulse::retention::run(&mut conn, &settings, "ada.admin", false, now).unwrap();
    deskpulse::retention::run(&mut conn, &settings, deskpulse::retention::SCHEDULE_TRIGGER, true, now).unwrap();
    let first = deskpulse::retention::run_scheduled(&mut conn, &settings, &schedule, today, now).unwrap();
    assert!(first.is_some_and(|run| run.triggered_by == "scheduler" && !run.dry_run));
    let again = deskpulse::retention::run_scheduled(&mut conn, &settings, &schedule, today, now).unwrap();
    assert!(again.is_none(), "the day's run has happened");
    let tomorrow = today.succ_opt().unwrap();
    let next_day = now + chrono::Duration::days(1);
    assert!(
        deskpulse::retention::run_scheduled(&mut conn, &settings, &schedule, tomorrow, next_day).unwrap().is_some()
    );
}

/// A run that panics half-way (a bug, say) must not leave the run lock held in its pooled
/// session, where every later run would answer CONFLICT until the connection died: the lock is
/// released as the panic unwinds, inside a batch's transaction or between batches.
#[tokio::test]
async fn a_run_after_a_panicked_or_failed_run_is_not_refused() {
    use deskpulse::config::DatabaseSettings;
    use deskpulse::db::Db;
    use deskpulse::error::AppError;
    use diesel::Connection;

    let app = spawn_app().await;
    // A pool like the server's, of one connection: a lock left in its session would stay there.
    let db = Db::new(&DatabaseSettings {
        url: app.database.url.parse().unwrap(),
        pool_size: 1,
        pool_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(30),
    });
    for inside_a_transaction in [false, true] {
        let panicked = db
            .run(move |conn| {
                deskpulse::retention::holding_run_lock(conn, |conn| -> Result<(), AppError> {
                    if inside_a_transaction {
                        conn.transaction::<(), AppError, _>(|conn| {
                            diesel::sql_query("SELECT 1").execute(conn)?;
                            panic!("a bug half-way through a batch")
                        })?;
                    }
                    panic!("a bug half-way through a run")
                })
            })
            .await;
        assert!(matches!(panicked, Err(AppError::Internal(_))), "{panicked:?}");
        assert!(
            !run_lock_held(&app),
            "the panic left the run lock held (inside a transaction: {inside_a_transaction})"
        );

        // The server's next run goes ahead, and so does one on the same pool.
        let run = app.query_ok(&app.admin(), RUN, json!({ "dry": true })).await["runRetention"].clone();
        assert_eq!(run["status"], "COMPLETED", "{run}");
        let settings = RetentionSettings::default();
        let again = db.run(move |conn| deskpulse::retention::run(conn, &settings, "ada.admin", true, Utc::now())).await;
        assert!(again.is_ok_and(|run| run.status == deskpulse::retention::RetentionRunStatus::Completed));
    }

    // A run that fails with an error (a batch the database refuses) is recorded and lets the next one run.
    let customer = app.create_customer("Fay Failing").await;
    import(&app, vec![closed_ticket("fails", customer, days_ago(1000))]).await;
    sql(
        &app,
        "CREATE FUNCTION refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$",
    );
    sql(&app, "CREATE TRIGGER refuse BEFORE DELETE ON tickets FOR EACH ROW EXECUTE FUNCTION refuse_removal()");
    let failed = app.query_ok(&app.admin(), RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(!run_lock_held(&app));
    sql(&app, "DROP TRIGGER refuse ON tickets");
    let rerun = app.query_ok(&app.admin(), RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!((rerun["status"].clone(), rerun["counts"]["tickets"].clone()), (json!("COMPLETED"), json!(1)));
}
