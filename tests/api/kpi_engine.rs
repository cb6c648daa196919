//! The KPI engine's own rules: buckets in zones whose clocks change at midnight, the leaderboard
//! listing everyone, the bound on a series' points, and the fact rows it reads (fresh after
//! every change, checked and rebuilt by `deskpulse kpi verify` and `rebuild`), and the sealed
//! blocks of those rows.

use std::process::Command;

use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const IMPORT: &str =
    "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) { tickets { ticket { id } } } }";
const SERIES: &str = "query($p: PeriodInput!, $tz: String!, $b: KpiBucket!) { kpiSeries(period: $p, timeZone: $tz, bucket: $b) { starts ends values { ticketsOpened ticketsResolved backlog } } }";
const SUMMARY: &str = "query($p: PeriodInput!, $tz: String!) { kpis(period: $p, timeZone: $tz) { current { ticketsOpened ticketsResolved backlog } } }";

/// Imports one ticket per instant, each resolved an hour later (the odd ones stay open).
async fn tickets_at(app: &TestApp, instants: &[String]) {
    let batch: Vec<Value> = instants
        .iter()
        .enumerate()
        .map(|(index, opened)| {
            let opened_at: chrono::DateTime<chrono::Utc> = opened.parse().unwrap();
            let mut row = json!({
                "externalRef": format!("Z{index}"), "customer": { "name": "Zoned" }, "subject": "zoned",
                "category": "net", "channel": "EMAIL", "openedAt": opened,
            });
            if index % 2 == 0 {
                row["resolvedAt"] = json!([(opened_at + chrono::Duration::hours(1)).to_rfc3339()]);
            }
            row
        })
        .collect();
    app.query_ok(&app.supervisor(), IMPORT, json!({ "batch": batch })).await;
}

fn instant(text: &Value) -> chrono::DateTime<chrono::Utc> {
    text.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn series_buckets_add_up_in_zones_whose_midnight_repeats_or_is_skipped() {
    let app = spawn_app().await;
    // Around each zone's 2026 changes: Havana goes back 01:00 -> 00:00 on 11-01 (midnight twice),
    // Santiago springs forward 24:00 -> 01:00 on 09-06 (midnight skipped) and falls back on
    // 04-05, Kathmandu is +05:45, Lord Howe changes by 30 minutes (04-05, 10-04).
    let zones = [
        ("America/Havana", "2026-10-25T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-01T04:00:00Z"),
        ("America/Santiago", "2026-08-30T00:00:00Z", "2026-09-13T00:00:00Z", "2026-09-06T04:00:00Z"),
        ("America/Santiago", "2026-03-29T00:00:00Z", "2026-04-12T00:00:00Z", "2026-04-05T03:00:00Z"),
        ("Asia/Kathmandu", "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-03T18:15:00Z"),
        ("Australia/Lord_Howe", "2026-09-27T00:00:00Z", "2026-10-11T00:00:00Z", "2026-10-03T13:30:00Z"),
    ];
    let mut instants = Vec::new();
    for (_, from, to, change) in zones {
        let (from, to, change): (
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        ) = (from.parse().unwrap(), to.parse().unwrap(), change.parse().unwrap());
        // Every 20 minutes over the two hours either side of the change, and a few more days.
        for minutes in (-120..=120).step_by(20) {
            instants.push((change + chrono::Duration::minutes(minutes)).to_rfc3339());
        }
        let mut at = from + chrono::Duration::hours(5);
        while at < to {
            instants.push(at.to_rfc3339());
            at += chrono::Duration::hours(17);
        }
    }
    tickets_at(&app, &instants).await;
    let opened: Vec<chrono::DateTime<chrono::Utc>> = instants.iter().map(|i| i.parse().unwrap()).collect();

    for (zone, from, to, _) in zones {
        // A month's series too: the period starts and ends at local month starts.
        for (bucket, period) in
            [("DAY", json!({ "from": from, "to": to })), ("MONTH", json!({ "from": from, "to": to }))]
        {
            let summary = app.query_ok(&app.supervisor(), SUMMARY, json!({ "p": period, "tz": zone })).await;
            let summary = &summary["kpis"]["current"];
            let series = app.query_ok(&app.supervisor(), SERIES, json!({ "p": period, "tz": zone, "b": bucket })).await;
            let points = series["kpiSeries"].as_array().unwrap();
            let mut previous_end = instant(&period["from"]);
            for point in points {
                let (starts, ends) = (instant(&point["starts"]), instant(&point["ends"]));
                assert_eq!(starts, previous_end, "{zone} {bucket}: buckets follow each other");
                assert!(starts < ends, "{zone} {bucket}: an empty bucket {point}");
                let inside = opened.iter().filter(|at| **at >= starts && **at < ends).count() as i64;
                assert_eq!(point["values"]["ticketsOpened"], inside, "{zone} {bucket}: {point}");
                previous_end = ends;
            }
            assert_eq!(previous_end, instant(&period["to"]), "{zone} {bucket}: the last bucket ends with the period");
            for field in ["ticketsOpened", "ticketsResolved"] {
                let total: i64 = points.iter().map(|p| p["values"][field].as_i64().unwrap()).sum();
                assert_eq!(summary[field], total, "{zone} {bucket}: {field} of the buckets add up to the summary");
            }
            assert_eq!(summary["backlog"], points.last().unwrap()["values"]["backlog"], "{zone} {bucket}: backlog");
        }
    }

    // Local October in Havana is one month bucket, ending at the first midnight of November.
    let period = json!({ "from": "2026-10-01T04:00:00Z", "to": "2026-11-01T04:00:00Z" });
    let series =
        app.query_ok(&app.supervisor(), SERIES, json!({ "p": period, "tz": "America/Havana", "b": "MONTH" })).await;
    assert_eq!(series["kpiSeries"].as_array().unwrap().len(), 1, "{series}");
    let period = json!({ "from": "2026-10-31T04:00:00Z", "to": "2026-11-03T05:00:00Z" });
    let series =
        app.query_ok(&app.supervisor(), SERIES, json!({ "p": period, "tz": "America/Havana", "b": "DAY" })).await;
    let starts: Vec<&str> =
        series["kpiSeries"].as_array().unwrap().iter().map(|p| p["starts"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2026-10-31T04:00:00+00:00", "2026-11-01T04:00:00+00:00", "2026-11-02T05:00:00+00:00"]);
}

#[tokio::test]
async fn the_leaderboard_lists_every_technician_and_optionally_the_unassigned_tickets() {
    let app = spawn_app().await;
    let busy = app.create_technician("Busy", "A").await;
    let idle = app.create_technician("Idle", "A").await;
    let gone = app.create_technician("Gone", "B").await;
    app.query_ok(
        &app.admin(),
        "mutation($id: ID!) { deactivateTechnician(id: $id) { id } }",
        json!({ "id": gone.to_string() }),
    )
    .await;
    let batch = json!([
        { "externalRef": "L1", "customer": { "name": "C" }, "subject": "s", "category": "net", "channel": "EMAIL",
          "openedAt": "2026-03-02T10:00:00Z", "assigneeEmail": "busy@example.test", "resolvedAt": ["2026-03-02T12:00:00Z"] },
        { "externalRef": "L2", "customer": { "name": "C" }, "subject": "s", "category": "net", "channel": "EMAIL",
          "openedAt": "2026-03-03T10:00:00Z" },
    ]);
    app.query_ok(&app.supervisor(), IMPORT, json!({ "batch": batch })).await;
    let board = "query($active: Boolean!, $unassigned: Boolean!) { technicianPerformance(period: { from: \"2026-03-01T00:00:00Z\", to: \"2026-04-01T00:00:00Z\" }, activeOnly: $active, includeUnassigned: $unassigned) { technician { id } ticketsAssigned ticketsResolved resolutionSeconds { median } } }";
    let rows = |data: Value| -> Vec<(Option<i64>, i64, Value)> {
        data["technicianPerformance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let id = row["technician"]["id"].as_str().map(|id| id.parse().unwrap());
                (id, row["ticketsAssigned"].as_i64().unwrap(), row["resolutionSeconds"]["median"].clone())
            })
            .collect()
    };
    let all = rows(app.query_ok(&app.supervisor(), board, json!({ "active": false, "unassigned": false })).await);
    assert_eq!(
        all,
        [(Some(busy), 1, json!(7200.0)), (Some(idle), 0, Value::Null), (Some(gone), 0, Value::Null)],
        "every technician, best first, zeros and nulls without data"
    );
    let active = rows(app.query_ok(&app.supervisor(), board, json!({ "active": true, "unassigned": true })).await);
    assert_eq!(active, [(Some(busy), 1, json!(7200.0)), (Some(idle), 0, Value::Null), (None, 1, Value::Null)]);
}

#[tokio::test]
async fn a_series_of_more_points_than_the_bound_is_refused_before_it_runs() {
    let app = spawn_app().await;
    for index in 0..25 {
        app.create_technician(&format!("Tech {index}"), "A").await;
    }
    let query =
        "query($p: PeriodInput!, $g: KpiGroupBy!) { kpiSeries(period: $p, bucket: DAY, groupBy: $g) { starts } }";
    let period = json!({ "from": "2024-01-01T00:00:00Z", "to": "2026-09-20T00:00:00Z" });
    let (code, error) = app.query_error(&app.supervisor(), query, json!({ "p": period, "g": "TECHNICIAN" })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "groupBy", "{error}");
    assert!(error["message"].as_str().unwrap().contains("25000"), "{error}");
    // Fewer groups over the same buckets are answered.
    let data = app.query_ok(&app.supervisor(), query, json!({ "p": period, "g": "PRIORITY" })).await;
    assert!(data["kpiSeries"].is_array(), "{data}");
}

fn deskpulse_kpi(app: &TestApp, command: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .args(["kpi", command, "--database-url", &app.database.url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test]
async fn kpi_verify_finds_no_drift_after_changes_and_names_a_corrupted_row() {
    let app = spawn_app().await;
    let technician = app.create_technician("Vera", "A").await;
    let customer = app.create_customer("Initech").await;
    let token = app.supervisor();
    let assign =
        "mutation($id: ID!, $v: Int!, $t: ID) { assignTicket(id: $id, version: $v, assigneeId: $t) { version } }";
    // Live changes of every kind the facts hold.
    let created = app.create_ticket(&token, customer, json!({ "subject": "printer", "category": "hardware" })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let transition = "mutation($id: ID!, $to: TicketStatus!, $v: Int!) { transitionTicket(id: $id, to: $to, version: $v) { version } }";
    let assigned =
        app.query_ok(&token, assign, json!({ "id": id, "v": created["version"], "t": technician.to_string() })).await;
    let mut version = assigned["assignTicket"]["version"].as_i64().unwrap();
    for to in ["IN_PROGRESS", "RESOLVED", "IN_PROGRESS", "RESOLVED"] {
        let data = app.query_ok(&token, transition, json!({ "id": id, "to": to, "v": version })).await;
        version = data["transitionTicket"]["version"].as_i64().unwrap();
    }
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!) { recordSatisfaction(ticketId: $id, rating: 3) { rating } }",
        json!({ "id": id }),
    )
    .await;
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!) { recordSatisfaction(ticketId: $id, rating: 5) { rating } }",
        json!({ "id": id }),
    )
    .await;
    let log = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }";
    app.query_ok(&token, log, json!({ "input": { "customerId": customer.to_string(), "ticketId": id, "channel": "CALL", "direction": "OUTBOUND", "durationSeconds": 60, "summary": "called" } }))
        .await;
    app.query_ok(&token, log, json!({ "input": { "customerId": customer.to_string(), "channel": "EMAIL", "direction": "INBOUND", "summary": "no ticket" } }))
        .await;
    // A closed ticket past its retention period, purged.
    let old = json!([{ "externalRef": "OLD", "customer": { "name": "Old" }, "subject": "s", "category": "net", "channel": "EMAIL",
        "openedAt": "2022-01-03T10:00:00Z", "resolvedAt": ["2022-01-03T12:00:00Z"], "closedAt": "2022-01-04T12:00:00Z" }]);
    app.query_ok(&app.supervisor(), IMPORT, json!({ "batch": old })).await;
    app.query_ok(&app.admin(), "mutation { runRetention(dryRun: false) { status } }", json!({})).await;
    let opened_2022 = app
        .query_ok(
            &app.supervisor(),
            SUMMARY,
            json!({ "p": { "from": "2022-01-01T00:00:00Z", "to": "2022-02-01T00:00:00Z" }, "tz": "UTC" }),
        )
        .await;
    assert_eq!(opened_2022["kpis"]["current"]["ticketsOpened"], 0, "the purge is in the next answer");

    let output = deskpulse_kpi(&app, "verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("no drift"), "{stdout}");

    // Corrupt one ticket's fact row: verify names it and fails; rebuild puts it right.
    let mut conn = app.database.connect();
    diesel::sql_query(format!("UPDATE kpi_ticket_facts SET facts = facts || '\\x00'::bytea WHERE ticket_id = {id}"))
        .execute(&mut conn)
        .unwrap();
    let output = deskpulse_kpi(&app, "verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("[{id}]")), "{stdout}");
    let output = deskpulse_kpi(&app, "rebuild");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(deskpulse_kpi(&app, "verify").status.success());
}

#[tokio::test]
async fn every_event_kind_the_fact_sql_names_exists() {
    let app = spawn_app().await;
    let mut conn = app.database.connect();
    #[derive(diesel::QueryableByName)]
    struct Definition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let definitions: Vec<Definition> = diesel::sql_query(
        "SELECT pg_get_viewdef('kpi_ticket_fact_source'::regclass) AS text
         UNION ALL SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname LIKE 'kpi\\_%'",
    )
    .load(&mut conn)
    .unwrap();
    let kinds: Vec<&str> = deskpulse::domain::EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let statuses: Vec<&str> = deskpulse::domain::TicketStatus::ALL.iter().map(|status| status.as_str()).collect();
    let mut named = 0;
    for definition in &definitions {
        // A domain column is printed cast to its base type: `(e.kind)::text = 'REOPENED'::text`.
        let text = definition.text.replace("::text", "").replace(')', "");
        for (marker, known) in [("kind = '", &kinds), ("to_value = '", &statuses), ("status IN ('", &statuses)] {
            for piece in text.split(marker).skip(1) {
                let literal = piece.split('\'').next().unwrap();
                assert!(known.contains(&literal), "the fact SQL names {literal:?}, which is not one of {known:?}");
                named += 1;
            }
        }
    }
    assert!(named >= 4, "the fact SQL names its event kinds and statuses ({named} found)");
}

/// Days waiting for the sealer, and blocks.
fn block_counts(app: &TestApp) -> (i64, i64) {
    let (blocks, due) = deskpulse::store::kpi_blocks::counts(&mut app.database.connect()).unwrap();
    (due, blocks)
}

#[tokio::test]
async fn sealed_blocks_answer_like_the_rows_and_a_change_to_a_sealed_day_is_in_the_next_answer() {
    // The test seals by hand: the server's sealer waits an hour.
    let app = spawn_app_with(|settings| settings.kpi_blocks.seal_interval = std::time::Duration::from_secs(3600)).await;
    let october: Vec<String> =
        (0..40).map(|n| format!("2026-10-{:02}T{:02}:30:00Z", 1 + n % 28, (n * 7) % 24)).collect();
    tickets_at(&app, &october).await;
    let filtered = "query($p: PeriodInput!, $f: KpiFilterInput) { kpis(period: $p, filter: $f) { current { ticketsOpened ticketsResolved backlog resolutionSeconds { median p90 } } } }";
    let period = json!({ "from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z" });
    let high = json!({ "p": period, "f": { "priorities": ["HIGH"] } });
    let everything = json!({ "p": period });
    let answer = |variables: Value| {
        let app = &app;
        async move { app.query_ok(&app.supervisor(), filtered, variables).await["kpis"]["current"].clone() }
    };
    let from_rows = answer(everything.clone()).await;
    assert_eq!(from_rows["ticketsOpened"], 40);
    assert_eq!(answer(high.clone()).await["ticketsOpened"], 0);

    let (due, blocks) = block_counts(&app);
    assert!(due >= 28 && blocks == 0, "every imported day waits for the sealer: {due} due, {blocks} blocks");
    let sealed = deskpulse::store::kpi_blocks::seal_all(&mut app.database.connect()).unwrap();
    assert_eq!(sealed as i64, due);
    assert_eq!(block_counts(&app), (0, 28));
    assert_eq!(answer(everything.clone()).await, from_rows, "the blocks answer what the rows did");

    // A change to a ticket of a sealed day voids that day's block in its own transaction.
    let tickets = app
        .query_ok(
            &app.supervisor(),
            "{ tickets(first: 1, orderBy: { field: OPENED_AT, direction: ASC }) { nodes { id version } } }",
            json!({}),
        )
        .await;
    let ticket = &tickets["tickets"]["nodes"][0];
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!, $v: Int!) { changeTicketPriority(id: $id, version: $v, priority: HIGH) { id } }",
        json!({ "id": ticket["id"], "v": ticket["version"] }),
    )
    .await;
    assert_eq!(block_counts(&app).0, 1, "the changed day waits for the sealer");
    assert_eq!(answer(high.clone()).await["ticketsOpened"], 1, "the change is in the very next answer");
    assert_eq!(answer(everything.clone()).await, from_rows);

    assert_eq!(deskpulse::store::kpi_blocks::seal_all(&mut app.database.connect()).unwrap(), 1);
    assert_eq!(answer(high).await["ticketsOpened"], 1, "and in the answers from the resealed block");
    assert_eq!(answer(everything.clone()).await, from_rows);
    let output = deskpulse_kpi(&app, "verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("28 sealed blocks"), "{stdout}");

    // A block written by hand (its day's two tickets twice) is answered as written, not from the
    // version the server keeps in memory; it is drift to verify, and rebuild reseals it.
    diesel::sql_query("UPDATE kpi_fact_blocks SET facts = facts || facts WHERE day = '2026-10-05'")
        .execute(&mut app.database.connect())
        .unwrap();
    assert_eq!(answer(everything.clone()).await["ticketsOpened"], 42, "the block's new version is read");
    let output = deskpulse_kpi(&app, "verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("[2026-10-05]"), "{stdout}");
    let output = deskpulse_kpi(&app, "rebuild");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = deskpulse_kpi(&app, "verify");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(answer(everything).await, from_rows);
}

#[tokio::test]
async fn the_sealer_keeps_one_dirty_row_of_the_current_day_however_many_writes_left_one() {
    let app = spawn_app_with(|settings| settings.kpi_blocks.seal_interval = std::time::Duration::from_secs(3600)).await;
    let mut conn = app.database.connect();
    // A busy day: every fact-row write leaves a row for its day; the day is never sealed while
    // it lasts. 200,000 rows took the tidying minutes when it looked each row's day up anew.
    diesel::sql_query("INSERT INTO kpi_dirty_days (day) SELECT kpi_block_day(now()) FROM generate_series(1, 200000)")
        .execute(&mut conn)
        .unwrap();
    let pass = deskpulse::store::kpi_blocks::seal_due(&mut conn, 10).unwrap();
    assert!(!pass.skipped);
    assert_eq!(app.count("SELECT count(*) FROM kpi_dirty_days WHERE day = kpi_block_day(now())"), 1);
}
