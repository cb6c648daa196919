//! GET /export/...: the ticket CSV (its columns, its guards, and flat memory while it streams
//! 100,000 rows from a real `deskpulse serve` process) and stored reports as CSV.

use std::process::{Child, Command};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::{
    TEST_SECRET, TableLock, TestApp, client, error_codes, spawn_app, spawn_app_with, wait_for_lock_waiters,
    wait_for_status,
};
use crate::reports::import;

async fn export(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Generates the report of the week of 2026-11-16 and returns its id.
async fn week_report(app: &TestApp, token: &str) -> String {
    app.query_ok(token, "mutation { generateReport(kind: WEEK, periodStart: \"2026-11-16\") { id } }", json!({})).await
        ["generateReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_ticket_csv_holds_one_row_per_ticket_of_the_period() {
    let app = spawn_app().await;
    app.create_technician("Ann", "A").await;
    import(
        &app,
        json!([
            { "externalRef": "E1", "customer": { "name": "Acme" }, "subject": "VPN", "category": "net", "channel": "EMAIL",
              "priority": "HIGH", "assigneeEmail": "ann@example.test", "openedAt": "2026-10-02T08:00:00Z",
              "firstResponseAt": "2026-10-02T08:30:00Z", "resolvedAt": ["2026-10-02T10:00:00Z"],
              "closedAt": "2026-10-03T08:00:00Z", "rating": { "rating": 4, "submittedAt": "2026-10-02T11:00:00Z" } },
            { "externalRef": "E2", "customer": { "name": "Acme" }, "subject": "Formula", "category": "=HYPERLINK(\"x\")",
              "channel": "WEB", "openedAt": "2026-10-05T08:00:00Z" },
            { "externalRef": "E3", "customer": { "name": "Acme" }, "subject": "Outside", "category": "net",
              "channel": "WEB", "openedAt": "2026-11-01T00:00:00Z" },
        ]),
    )
    .await;

    // Names that a spreadsheet would run as formulas.
    let mut conn = app.database.connect();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE technicians SET name = '=cmd|calc', team = '@SUM(A1)'"),
        &mut conn,
    )
    .unwrap();
    let path = "/export/tickets.csv?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z";
    let response = export(&app, path, Some(&app.supervisor())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), deskpulse::export::TICKET_COLUMNS.to_vec());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "the ticket opened at the period's end is not in it: {body}");
    let first: Vec<&str> = rows[0].iter().collect();
    assert_eq!(
        first[1..],
        [
            "2026-10-02T08:00:00+00:00",
            "2026-10-02T08:30:00+00:00",
            "2026-10-02T10:00:00+00:00",
            "2026-10-02T10:00:00+00:00",
            "2026-10-03T08:00:00+00:00",
            "CLOSED",
            &app.count("SELECT id FROM technicians").to_string(),
            "'=cmd|calc",
            "'@SUM(A1)",
            &app.count("SELECT customer_id FROM tickets WHERE external_ref = 'E1'").to_string(),
            "net",
            "HIGH",
            "EMAIL",
            "1800",
            "7200",
            "0",
            "4",
        ]
    );
    assert_eq!(&rows[1][11], "'=HYPERLINK(\"x\")", "a formula is written as text");
    assert_eq!(&rows[1][14], "", "no first response yet");

    assert_eq!(export(&app, path, None).await.status(), 401);
    assert_eq!(export(&app, path, Some(&app.technician_token("tina", 1))).await.status(), 403);
    let backwards = "/export/tickets.csv?from=2026-11-01T00:00:00Z&to=2026-10-01T00:00:00Z";
    assert_eq!(export(&app, backwards, Some(&app.supervisor())).await.status(), 400);
    assert_eq!(export(&app, "/export/tickets.csv?from=yesterday", Some(&app.supervisor())).await.status(), 400);
}

#[tokio::test]
async fn a_stored_report_exports_as_long_format_csv() {
    let app = spawn_app().await;
    import(
        &app,
        json!([{ "externalRef": "R1", "customer": { "name": "Acme" }, "subject": "VPN", "category": "net",
                 "channel": "EMAIL", "openedAt": "2026-11-17T08:00:00Z" }]),
    )
    .await;
    let id = week_report(&app, &app.supervisor()).await;
    let response = export(&app, &format!("/export/reports/{id}.csv"), Some(&app.supervisor())).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), deskpulse::export::REPORT_COLUMNS.to_vec());
    let rows: Vec<Vec<String>> = reader.records().map(|row| row.unwrap().iter().map(str::to_owned).collect()).collect();
    let row = |section: &str, key: &str, metric: &str| {
        rows.iter()
            .find(|row| row[0] == section && row[1] == key && row[4] == metric)
            .unwrap_or_else(|| panic!("no {section}/{key}/{metric} row in {body}"))
            .clone()
    };
    assert_eq!(row("summary", "", "TICKETS_OPENED")[5..], ["1", "0", "1", ""]);
    assert_eq!(row("summary", "", "CSAT_AVERAGE")[5..], ["", "", "", ""], "no data is empty, never 0");
    assert_eq!(row("category", "net", "TICKETS_OPENED")[5..], ["1", "0", "1", ""]);
    assert_eq!(row("customer", &app.count("SELECT id FROM customers").to_string(), "TICKETS_OPENED")[5], "1");
    assert_eq!(row("technician", "unassigned", "TICKETS_OPENED")[5], "1");

    assert_eq!(export(&app, "/export/reports/999999.csv", Some(&app.supervisor())).await.status(), 404);
    assert_eq!(export(&app, "/export/reports/abc.json", Some(&app.supervisor())).await.status(), 404);
    assert_eq!(export(&app, &format!("/export/reports/{id}.json"), None).await.status(), 401);
    let technician = app.technician_token("tina", 1);
    for format in ["csv", "json"] {
        assert_eq!(export(&app, &format!("/export/reports/{id}.{format}"), Some(&technician)).await.status(), 403);
    }
}

const OCTOBER: &str = "/export/tickets.csv?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z";

/// The status and the error codes of a refused export.
async fn refusal(response: reqwest::Response) -> (u16, Vec<String>, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    (status, error_codes(&body), message)
}

#[tokio::test]
async fn an_export_past_the_statement_timeout_answers_504_timeout() {
    let app = spawn_app_with(|settings| settings.database.statement_timeout = Duration::from_secs(1)).await;
    let lock = TableLock::take(&app.database, "tickets");
    let response = export(&app, OCTOBER, Some(&app.supervisor())).await;
    lock.release();
    let (status, codes, message) = refusal(response).await;
    assert_eq!((status, codes), (504, vec!["TIMEOUT".to_owned()]), "{message}");
    assert!(message.contains("longer than the database allows"), "{message}");
}

#[tokio::test]
async fn an_export_without_a_free_connection_answers_503_like_graphql() {
    let app = spawn_app_with(|settings| {
        settings.database.pool_size = 1;
        settings.database.pool_timeout = Duration::from_secs(1);
    })
    .await;
    let sam = app.supervisor();
    let report = week_report(&app, &sam).await;
    // A slow GraphQL query holds the only pooled connection, waiting for a lock.
    let lock = TableLock::take(&app.database, "tickets");
    let slow = {
        let (client, address, token) = (app.client.clone(), app.address.clone(), sam.clone());
        tokio::spawn(async move {
            client
                .post(format!("{address}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": "{ tickets { totalCount } }" }))
                .send()
                .await
                .map(|response| response.status().as_u16())
        })
    };
    wait_for_lock_waiters(&app.database, 1).await;
    for path in [OCTOBER.to_owned(), format!("/export/reports/{report}.json"), format!("/export/reports/{report}.csv")]
    {
        let (status, codes, message) = refusal(export(&app, &path, Some(&sam)).await).await;
        assert_eq!((status, codes), (503, vec!["SERVICE_UNAVAILABLE".to_owned()]), "{path}: {message}");
        assert!(message.contains("busy"), "the same message as GraphQL's: {message}");
    }
    lock.release();
    assert_eq!(slow.await.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn exports_are_never_cached() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let report = week_report(&app, &sam).await;
    for path in [OCTOBER.to_owned(), format!("/export/reports/{report}.json"), format!("/export/reports/{report}.csv")]
    {
        let response = export(&app, &path, Some(&sam)).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let refused = export(&app, OCTOBER, None).await;
    assert_eq!(refused.headers()["cache-control"], "no-store", "refusals neither");
}

/// A `deskpulse serve` child process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kibibytes of a `/proc/PID/status` line such as `VmRSS` or `VmHWM`.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const STREAMED_TICKETS: i64 = 100_000;

#[tokio::test]
async fn the_ticket_export_streams_100_000_rows_in_flat_memory() {
    let app = spawn_app().await;
    let technician = app.create_technician("Ann", "A").await;
    let customer = app.create_customer("Acme").await;
    let insert = format!(
        "INSERT INTO tickets (customer_id, subject, description, category, priority, channel, status, assignee_id, \
                              opened_at, first_response_at, first_resolved_at, resolved_at, closed_at) \
         SELECT {customer}, 'Ticket ' || g, 'a description the export leaves out', \
                (ARRAY['network', 'hardware', 'accounts'])[1 + g % 3], 'NORMAL', 'EMAIL', 'CLOSED', {technician}, \
                opened, opened + interval '10 minutes', opened + interval '2 hours', opened + interval '2 hours', \
                opened + interval '1 day' \
         FROM generate_series(1, {STREAMED_TICKETS}) AS g, \
              LATERAL (SELECT timestamptz '2026-01-01' + g * interval '1 minute' AS opened) AS t"
    );
    diesel::RunQueryDsl::execute(diesel::sql_query(insert), &mut app.database.connect()).unwrap();

    // The server under measurement runs in its own process, so its memory is its own.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_deskpulse"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "2"])
            .env("DATABASE_URL", &app.database.url)
            .env("DESKPULSE_JWT_SECRET", TEST_SECRET)
            .env("DESKPULSE_REPORT_SCHEDULE", "false")
            .env("DESKPULSE_METRICS_BIND", "127.0.0.1:0")
            .env("DESKPULSE_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let pid = server.0.id();
    let address = format!("http://127.0.0.1:{port}");
    let http = client();
    wait_for_status(&http, &format!("{address}/readyz"), 200, Duration::from_secs(30)).await;

    let url = |to: &str| format!("{address}/export/tickets.csv?from=2026-01-01T00:00:00Z&to={to}");
    // A small export first, so that the pool, the threads and the buffers exist before measuring.
    let warm_up = http.get(url("2026-01-02T00:00:00Z")).bearer_auth(app.supervisor()).send().await.unwrap();
    assert_eq!(warm_up.text().await.unwrap().lines().count(), 1 + 1_439);
    let (before, high_water_before) = (memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM"));

    let response = http.get(url("2027-01-01T00:00:00Z")).bearer_auth(app.supervisor()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut lines, mut peak_during) = (0usize, 0usize, before);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        // A reader slower than the database, so the server has to hold back rather than buffer.
        tokio::time::sleep(Duration::from_millis(2)).await;
        bytes += chunk.len();
        lines += chunk.iter().filter(|byte| **byte == b'\n').count();
        peak_during = peak_during.max(memory_kib(pid, "VmRSS"));
    }
    let high_water = memory_kib(pid, "VmHWM");
    eprintln!(
        "ticket export: {} rows, {bytes} bytes; server RSS {before} KiB before, {peak_during} KiB at most while \
         streaming; process peak (VmHWM) {high_water} KiB",
        lines - 1
    );
    assert_eq!(lines as i64, 1 + STREAMED_TICKETS);
    // Holding the export in memory would take at least its size; streaming keeps the growth to
    // a few batches.
    for (what, growth_kib) in
        [("RSS", peak_during.saturating_sub(before)), ("VmHWM", high_water.saturating_sub(high_water_before))]
    {
        assert!(
            (growth_kib as usize) * 1024 < bytes / 4,
            "the server's {what} grew by {growth_kib} KiB while sending {bytes} bytes"
        );
    }
}
