//! Query bounds: depth, complexity (lists cost their page size), fields, aliases, root fields and
//! directives; field suggestions off; introspection for staff only; request and statement
//! timeouts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TableLock, TestApp, error_codes, spawn_app, spawn_app_with, wait_for_lock_waiters};

/// Expects the one error a refused query answers, with `code`, and a message containing `phrase`.
async fn assert_refused(app: &TestApp, query: &str, code: &str, phrase: &str) {
    let (status, body) = app.graphql(Some(&app.supervisor()), query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), [code], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(phrase), "{phrase:?} not in {message:?}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
}

async fn assert_answers(app: &TestApp, query: &str) -> Value {
    app.query_ok(&app.supervisor(), query, json!({})).await
}

fn repeated(part: &str, times: usize) -> String {
    vec![part; times].join(" ")
}

#[tokio::test]
async fn depth_and_complexity_are_bounded_and_a_list_costs_its_page_size() {
    let app = spawn_app().await;

    // 5 levels of `tickets { nodes { customer ... } }` nest 15 fields deep; 6 levels nest 18.
    let nested = |levels: usize| {
        let open = repeated("tickets(first: 1) { nodes { customer {", levels);
        format!("{{ customers(first: 1) {{ nodes {{ {open} id {} }} }} }}", repeated("} } }", levels))
    };
    assert_answers(&app, &nested(4)).await;
    assert_refused(&app, &nested(6), "BAD_USER_INPUT", "nested too deep").await;

    // The same selection costs 100 times more when the inner page is 100 times larger.
    let pages = |inner: u32| {
        format!("{{ tickets(first: 100) {{ nodes {{ interactions(first: {inner}) {{ nodes {{ id summary }} }} }} }} }}")
    };
    assert_answers(&app, &pages(1)).await;
    assert_refused(&app, &pages(100), "BAD_USER_INPUT", "too complex").await;
    // A page size out of range is priced as the largest page and refused by the field itself.
    let (code, error) =
        app.query_error(&app.supervisor(), "{ tickets(first: 1000000000) { totalCount } }", json!({})).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("first")));

    // KPI fields weigh what their aggregations cost: one per technician of a list is too much.
    let period = r#"period: { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z" }"#;
    assert_refused(
        &app,
        &format!("{{ technicians {{ performance({period}) {{ ticketsResolved }} }} }}"),
        "BAD_USER_INPUT",
        "too complex",
    )
    .await;
    assert_answers(&app, &format!("{{ technicianPerformance({period}) {{ ticketsResolved }} }}")).await;
}

#[tokio::test]
async fn fields_aliases_root_fields_and_directives_are_bounded() {
    let app = spawn_app().await;
    let aliases = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: subject")).collect();
        format!("{{ me {{ {} }} }}", fields.join(" "))
    };
    assert_answers(&app, &aliases(30)).await;
    assert_refused(&app, &aliases(31), "BAD_USER_INPUT", "more than 30 aliased fields").await;

    // Repeating a root field (same response key, merged into one answer) still counts each time.
    let roots = |n: usize| format!("{{ {} }}", repeated("me { subject }", n));
    assert_answers(&app, &roots(20)).await;
    assert_refused(&app, &roots(21), "BAD_USER_INPUT", "more than 20 root fields").await;

    let directives = |n: usize| format!("{{ me {{ {} }} }}", repeated("subject @include(if: true)", n));
    assert_answers(&app, &directives(30)).await;
    assert_refused(&app, &directives(31), "BAD_USER_INPUT", "more than 30 directives").await;

    let fields = |n: usize| format!("{{ me {{ {} }} }}", repeated("subject", n));
    assert_answers(&app, &fields(999)).await;
    assert_refused(&app, &fields(1000), "BAD_USER_INPUT", "more than 1000 fields").await;

    // Fragments are counted as expanded: 2^30 fields from a 1 kB document, refused at once
    // (async-graphql alone would walk every expansion).
    let mut bomb = String::from("query { ...F0 }\n");
    for level in 0..30 {
        bomb.push_str(&format!("fragment F{level} on Query {{ ...F{next} ...F{next} }}\n", next = level + 1));
    }
    bomb.push_str("fragment F30 on Query { __typename }\n");
    let token = app.supervisor();
    let answered = tokio::time::timeout(Duration::from_secs(10), app.graphql(Some(&token), &bomb, json!({})));
    let (status, body) = answered.await.expect("the fragment bomb is answered, not walked");
    assert_eq!((status, error_codes(&body)), (200, vec!["BAD_USER_INPUT".to_owned()]), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("fields"), "{body}");

    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { me { subject } ...A }";
    assert_refused(&app, cycle, "BAD_USER_INPUT", "spreads itself").await;
}

#[tokio::test]
async fn the_limits_follow_their_settings() {
    let app = spawn_app_with(|settings| {
        settings.limits.max_aliases = 1;
        settings.limits.max_root_fields = 2;
        settings.limits.max_depth = 2;
    })
    .await;
    assert_answers(&app, "{ me { a: subject } systemStatus { version } }").await;
    assert_refused(&app, "{ me { a: subject b: role } }", "BAD_USER_INPUT", "more than 1 aliased").await;
    assert_refused(&app, "{ me { subject } me { role } me { role } }", "BAD_USER_INPUT", "more than 2 root").await;
    assert_refused(&app, "{ me { technician { name } } }", "BAD_USER_INPUT", "nested too deep").await;
}

#[tokio::test]
async fn a_misspelt_field_gets_no_suggestion() {
    let app = spawn_app().await;
    let (status, body) =
        app.graphql(Some(&app.supervisor()), "{ me { subjec } tickts { totalCount } }", json!({})).await;
    assert_eq!(status, 200);
    assert!(error_codes(&body).iter().all(|code| code == "BAD_USER_INPUT"), "{body}");
    let text = body.to_string();
    assert!(text.contains("subjec"), "the error names the unknown field: {text}");
    assert!(!text.to_lowercase().contains("did you mean"), "no suggestion gives the schema away: {text}");
}

const INTROSPECT: &str = "{ __schema { queryType { name } } }";

#[tokio::test]
async fn staff_may_introspect_anonymous_callers_never() {
    let app = spawn_app().await;
    let technician = app.technician_token("tess", 1);
    let data = app.query_ok(&technician, INTROSPECT, json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    let data = app.query_ok(&technician, r#"{ __type(name: "Ticket") { name } }"#, json!({})).await;
    assert_eq!(data["__type"]["name"], "Ticket");

    // Without a token only the survey mutation runs, and introspection is no part of it.
    for query in [INTROSPECT, "mutation { __schema { queryType { name } } }"] {
        let (status, body) = app.graphql(None, query, json!({})).await;
        assert_eq!((status, error_codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{body}");
    }
    let (status, body) = app.graphql(None, "mutation { __typename }", json!({})).await;
    assert_eq!(status, 200, "the public operation's shape still runs: {body}");
    assert_eq!(body["data"]["__typename"], "Mutation");
}

#[tokio::test]
async fn introspection_can_be_turned_off_for_everyone() {
    let app = spawn_app_with(|settings| settings.limits.introspection = false).await;
    assert_refused(&app, INTROSPECT, "FORBIDDEN", "introspection is disabled").await;
    assert_refused(&app, "{ ...I } fragment I on Query { __type(name: \"Ticket\") { name } }", "FORBIDDEN", "disabled")
        .await;
    let data = assert_answers(&app, "{ __typename me { __typename subject } }").await;
    assert_eq!(data["me"]["__typename"], "Viewer");
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_answered_timeout_and_the_server_carries_on() {
    let app = spawn_app_with(|settings| settings.limits.request_timeout = Duration::from_secs(1)).await;
    let query = "{ tickets { totalCount } }";

    let lock = TableLock::take(&app.database, "tickets");
    let (status, body) = app.graphql(Some(&app.supervisor()), query, json!({})).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(error_codes(&body), ["TIMEOUT"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("longer than 1s"), "{body}");
    lock.release();

    let data = assert_answers(&app, query).await;
    assert_eq!(data["tickets"]["totalCount"], 0);
}

#[tokio::test]
async fn a_statement_past_the_statement_timeout_is_cancelled_and_answered_timeout() {
    let app = spawn_app_with(|settings| settings.database.statement_timeout = Duration::from_millis(500)).await;
    let lock = TableLock::take(&app.database, "tickets");
    let (status, body) =
        app.graphql(Some(&app.supervisor()), "{ me { subject } tickets { totalCount } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["subject"], "sam.supervisor", "the rest of the query answers: {body}");
    assert_eq!(error_codes(&body), ["TIMEOUT"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("statement_timeout") && !message.contains("canceling"), "no internals: {message}");
    // The database cancelled the statement: nothing waits for the lock any more.
    wait_for_lock_waiters(&app.database, 0).await;
    lock.release();
}

#[tokio::test]
async fn periods_outside_the_supported_years_are_refused_naming_the_bounds() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let kpis = "query($period: PeriodInput!) { kpis(period: $period) { current { ticketsOpened } } }";
    let periods = [
        ("-4000-01-01T00:00:00Z", "-3999-01-01T00:00:00Z"),
        ("9999-01-01T00:00:00Z", "9999-06-01T00:00:00Z"),
        ("1969-12-01T00:00:00Z", "1970-02-01T00:00:00Z"),
        ("2099-12-01T00:00:00Z", "2100-01-02T00:00:00Z"),
    ];
    for (from, to) in periods {
        let (status, body) = app.graphql(Some(&sam), kpis, json!({ "period": { "from": from, "to": to } })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{from}..{to}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("1970-01-01") && message.contains("2100-01-01"), "the bounds: {message}");
    }
    // The bounds themselves are fine.
    app.query_ok(&sam, kpis, json!({ "period": { "from": "1970-01-01T00:00:00Z", "to": "1970-02-01T00:00:00Z" } }))
        .await;
    app.query_ok(&sam, kpis, json!({ "period": { "from": "2099-12-01T00:00:00Z", "to": "2100-01-01T00:00:00Z" } }))
        .await;

    let report = "mutation($start: NaiveDate!) { generateReport(kind: MONTH, periodStart: $start) { id } }";
    for start in ["0001-01-01", "1969-12-01", "2100-01-01", "9999-12-01"] {
        let (code, error) = app.query_error(&sam, report, json!({ "start": start })).await;
        assert_eq!(
            (code.as_str(), &error["extensions"]["field"]),
            ("BAD_USER_INPUT", &json!("periodStart")),
            "{start}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM performance_reports"), 0);

    let export = app
        .client
        .get(format!("{}/export/tickets.csv?from=9999-01-01T00:00:00Z&to=9999-02-01T00:00:00Z", app.address))
        .bearer_auth(&sam)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 400);
    let body: Value = export.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("2100-01-01"), "{body}");
}

#[tokio::test]
async fn errors_quote_at_most_the_start_of_a_long_input() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let long = format!("X{}", "y".repeat(4_999));
    let cases = [
        ("query($id: ID!) { ticket(id: $id) { id } }", json!({ "id": long })),
        (
            "query($period: PeriodInput!, $zone: String!) { kpis(period: $period, timeZone: $zone) { current { ticketsOpened } } }",
            json!({ "period": { "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z" }, "zone": long }),
        ),
        (
            "query($status: [TicketStatus!]) { tickets(filter: { status: $status }) { totalCount } }",
            json!({ "status": [long] }),
        ),
        (&format!("{{ {long} }}"), json!({})),
    ];
    for (query, variables) in cases {
        let (status, body) = app.graphql(Some(&sam), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.chars().count() <= 300, "{} characters: {}…", message.len(), &message[..200]);
        assert!(message.contains("Xyyy"), "the start of the input is quoted: {message}");
    }
}
