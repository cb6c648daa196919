//! KPI definitions against a dataset whose answers are worked out by hand below (never by
//! running the same SQL). The period is March 2026, UTC unless a test says otherwise.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Ann (team A), Ben (team B), eight tickets and five interactions; returns (ann, ben) ids.
///
/// | ticket | who | category | opened | history |
/// |---|---|---|---|---|
/// | T1 | Ann | net | 03-02 10:00 | response 10:30, resolved 12:00, closed 03-03; rated 5 on 03-02, re-rated 4 now |
/// | T2 | Ann | net | 03-05 08:00 | response 09:00, resolved 03-06 08:00, reopened 03-07 08:00, resolved 03-08 08:00; rated 2 on 03-08 |
/// | T3 | Ben | hw  | 03-10 00:00 | still open, no response |
/// | T4 | Ben | hw  | 02-25 00:00 | response 01:00, resolved 03-01 00:00 (the period's first instant) |
/// | T5 | —   | net | 03-31 23:00 | resolved 04-01 00:00 (the period's end), so first response then |
/// | T6 | Ann | net | 02-20 00:00 | resolved 02-21, reopened 03-15 10:00, in progress since |
/// | T7 | Ben | hw  | 03-20 00:00 | resolved 04-02 00:00 (its first response too) |
/// | T8 | Ann | net | 01-10 00:00 | open; an outbound mail on 02-28 |
async fn dataset(app: &TestApp) -> (i64, i64) {
    let ann = app.create_technician("Ann", "A").await;
    let ben = app.create_technician("Ben", "B").await;
    let acme = json!({ "name": "Acme", "email": "it@acme.test" });
    let globex = json!({ "name": "Globex", "email": "it@globex.test" });
    let ticket = |reference: &str, customer: &Value, who: Option<&str>, category: &str, opened: &str, rest: Value| {
        let mut row = json!({
            "externalRef": reference, "customer": customer, "subject": reference, "category": category,
            "channel": "EMAIL", "openedAt": opened, "assigneeEmail": who.map(|w| format!("{w}@example.test")),
        });
        for (key, value) in rest.as_object().unwrap() {
            row[key] = value.clone();
        }
        row
    };
    let batch = json!([
        ticket(
            "T1",
            &acme,
            Some("ann"),
            "net",
            "2026-03-02T10:00:00Z",
            json!({ "priority": "HIGH", "firstResponseAt": "2026-03-02T10:30:00Z", "resolvedAt": ["2026-03-02T12:00:00Z"], "closedAt": "2026-03-03T09:00:00Z", "rating": { "rating": 5, "submittedAt": "2026-03-02T13:00:00Z" } })
        ),
        ticket(
            "T2",
            &acme,
            Some("ann"),
            "net",
            "2026-03-05T08:00:00Z",
            json!({ "firstResponseAt": "2026-03-05T09:00:00Z", "resolvedAt": ["2026-03-06T08:00:00Z", "2026-03-08T08:00:00Z"], "reopenedAt": ["2026-03-07T08:00:00Z"], "rating": { "rating": 2, "submittedAt": "2026-03-08T09:00:00Z" } })
        ),
        ticket("T3", &acme, Some("ben"), "hw", "2026-03-10T00:00:00Z", json!({ "priority": "LOW" })),
        ticket(
            "T4",
            &globex,
            Some("ben"),
            "hw",
            "2026-02-25T00:00:00Z",
            json!({ "priority": "URGENT", "firstResponseAt": "2026-02-25T01:00:00Z", "resolvedAt": ["2026-03-01T00:00:00Z"] })
        ),
        ticket("T5", &globex, None, "net", "2026-03-31T23:00:00Z", json!({ "resolvedAt": ["2026-04-01T00:00:00Z"] })),
        ticket(
            "T6",
            &globex,
            Some("ann"),
            "net",
            "2026-02-20T00:00:00Z",
            json!({ "resolvedAt": ["2026-02-21T00:00:00Z"], "reopenedAt": ["2026-03-15T10:00:00Z"] })
        ),
        ticket(
            "T7",
            &globex,
            Some("ben"),
            "hw",
            "2026-03-20T00:00:00Z",
            json!({ "resolvedAt": ["2026-04-02T00:00:00Z"] })
        ),
        ticket("T8", &globex, Some("ann"), "net", "2026-01-10T00:00:00Z", json!({})),
    ]);
    let imported = app
        .query_ok(&app.supervisor(), "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) { tickets { externalRef ticket { id customer { id } } } } }", json!({ "batch": batch }))
        .await;
    let ids: std::collections::HashMap<String, (String, String)> = imported["importTickets"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["externalRef"].as_str().unwrap().to_owned(),
                (
                    t["ticket"]["id"].as_str().unwrap().to_owned(),
                    t["ticket"]["customer"]["id"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();

    // T1 is rated again now: only its current rating counts, in the period it was submitted.
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!) { recordSatisfaction(ticketId: $id, rating: 4) { rating } }",
        json!({ "id": ids["T1"].0 }),
    )
    .await;

    let log = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }";
    let entry = |ticket: Option<&str>,
                 who: i64,
                 channel: &str,
                 direction: &str,
                 at: &str,
                 seconds: Option<i32>,
                 corrects: Option<String>| {
        let (ticket_id, customer_id) = match ticket {
            Some(t) => (Some(ids[t].0.clone()), ids[t].1.clone()),
            None => (None, ids["T1"].1.clone()),
        };
        json!({ "input": { "customerId": customer_id, "ticketId": ticket_id, "technicianId": who.to_string(), "channel": channel, "direction": direction, "occurredAt": at, "durationSeconds": seconds, "summary": "contact", "correctsId": corrects } })
    };
    let sam = app.supervisor();
    app.query_ok(&sam, log, entry(Some("T2"), ann, "CALL", "OUTBOUND", "2026-03-05T09:30:00Z", Some(300), None)).await;
    app.query_ok(&sam, log, entry(None, ben, "EMAIL", "INBOUND", "2026-03-12T10:00:00Z", None, None)).await;
    let wrong = app
        .query_ok(&sam, log, entry(Some("T3"), ben, "CALL", "INBOUND", "2026-03-10T00:05:00Z", Some(120), None))
        .await;
    let wrong_id = wrong["logInteraction"]["id"].as_str().unwrap().to_owned();
    app.query_ok(
        &sam,
        log,
        entry(Some("T3"), ben, "CALL", "INBOUND", "2026-03-10T00:05:00Z", Some(180), Some(wrong_id)),
    )
    .await;
    app.query_ok(&sam, log, entry(Some("T8"), ann, "EMAIL", "OUTBOUND", "2026-02-28T12:00:00Z", None, None)).await;
    (ann, ben)
}

const MARCH: &str = r#"{ "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z" }"#;

const VALUES: &str = "ticketsOpened ticketsResolved ticketsClosed backlog awaitingFirstResponse
    firstResponseSeconds { mean median p90 } resolutionSeconds { mean median p90 }
    firstResolutionSeconds { mean median p90 } resolutionRate reopenRate
    csatAverage csatCount csatSatisfiedShare
    interactions { count durationSeconds byChannelAndDirection { channel direction count durationSeconds } }";

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-6)
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    assert!(close(actual, expected), "{what}: expected {expected}, got {actual}");
}

#[tokio::test]
async fn every_kpi_of_a_period_matches_the_hand_computed_answer() {
    let app = spawn_app().await;
    dataset(&app).await;
    let query = format!(
        "query($period: PeriodInput!) {{ kpis(period: $period) {{ previousFrom current {{ {VALUES} }} previous {{ ticketsOpened }} changes {{ metric current previous absolute relative }} }} }}"
    );
    let data = app
        .query_ok(&app.supervisor(), &query, json!({ "period": serde_json::from_str::<Value>(MARCH).unwrap() }))
        .await;
    let k = &data["kpis"]["current"];

    assert_eq!(k["ticketsOpened"], 5, "T1 T2 T3 T5 T7");
    assert_eq!(k["ticketsResolved"], 3, "T1 T2 T4 (T4 at the period's first instant; T5 at its end is outside)");
    assert_eq!(k["ticketsClosed"], 1);
    assert_eq!(k["backlog"], 4, "T3 T6 T7 T8; T5 resolved at exactly the end is not");
    assert_eq!(k["awaitingFirstResponse"], 1, "T3");
    // First responses of T1 T2 T5 T7: 1800, 3600, 3600, 1123200.
    assert_close(&k["firstResponseSeconds"]["mean"], 283_050.0, "first response mean");
    assert_close(&k["firstResponseSeconds"]["median"], 3_600.0, "first response median");
    assert_close(&k["firstResponseSeconds"]["p90"], 787_320.0, "first response p90");
    // Resolutions of T1 T2 T4: 7200, 259200, 345600.
    assert_close(&k["resolutionSeconds"]["mean"], 204_000.0, "resolution mean");
    assert_close(&k["resolutionSeconds"]["median"], 259_200.0, "resolution median");
    assert_close(&k["resolutionSeconds"]["p90"], 328_320.0, "resolution p90");
    // First resolutions of T1 T2 T4: 7200, 86400, 345600.
    assert_close(&k["firstResolutionSeconds"]["mean"], 146_400.0, "first resolution mean");
    assert_close(&k["firstResolutionSeconds"]["median"], 86_400.0, "first resolution median");
    assert_close(&k["firstResolutionSeconds"]["p90"], 293_760.0, "first resolution p90");
    assert_close(&k["resolutionRate"], 0.8, "4 of 5 opened are resolved or closed now");
    assert_close(&k["reopenRate"], 1.0 / 3.0, "T2 of T1 T2 T4");
    // T1's current rating was submitted now, not in March: only T2's 2 counts.
    assert_close(&k["csatAverage"], 2.0, "csat");
    assert_eq!(k["csatCount"], 1);
    assert_close(&k["csatSatisfiedShare"], 0.0, "satisfied share");
    // The corrected call is replaced by its correction; February's mail is outside.
    assert_eq!(k["interactions"]["count"], 3);
    assert_eq!(k["interactions"]["durationSeconds"], 480);
    assert_eq!(
        k["interactions"]["byChannelAndDirection"],
        json!([
            { "channel": "CALL", "direction": "INBOUND", "count": 1, "durationSeconds": 180 },
            { "channel": "CALL", "direction": "OUTBOUND", "count": 1, "durationSeconds": 300 },
            { "channel": "EMAIL", "direction": "INBOUND", "count": 1, "durationSeconds": 0 },
        ])
    );

    // The previous 31 days, [01-29, 03-01): T4 and T6 opened.
    assert_eq!(data["kpis"]["previousFrom"], "2026-01-29T00:00:00+00:00");
    assert_eq!(data["kpis"]["previous"]["ticketsOpened"], 2);
    let opened = data["kpis"]["changes"].as_array().unwrap().iter().find(|c| c["metric"] == "TICKETS_OPENED").unwrap();
    assert_eq!(
        *opened,
        json!({ "metric": "TICKETS_OPENED", "current": 5.0, "previous": 2.0, "absolute": 3.0, "relative": 1.5 })
    );
}

#[tokio::test]
async fn filters_and_groups_split_the_same_numbers() {
    let app = spawn_app().await;
    let (ann, _) = dataset(&app).await;
    let sam = app.supervisor();
    let period: Value = serde_json::from_str(MARCH).unwrap();
    let summary = "query($period: PeriodInput!, $filter: KpiFilterInput) { kpis(period: $period, filter: $filter) { current { ticketsOpened backlog interactions { count } } } }";
    let team_a = app.query_ok(&sam, summary, json!({ "period": period, "filter": { "teams": ["A"] } })).await;
    assert_eq!(team_a["kpis"]["current"]["ticketsOpened"], 2, "T1 T2");
    assert_eq!(team_a["kpis"]["current"]["backlog"], 2, "T6 T8");
    assert_eq!(team_a["kpis"]["current"]["interactions"]["count"], 1, "Ann's call");
    let hardware = app.query_ok(&sam, summary, json!({ "period": period, "filter": { "categories": ["hw"] } })).await;
    assert_eq!(hardware["kpis"]["current"]["ticketsOpened"], 2, "T3 T7");
    assert_eq!(
        hardware["kpis"]["current"]["interactions"]["count"], 1,
        "the corrected call on T3; the mail had no ticket"
    );

    let by_technician = app.query_ok(&sam, "query($period: PeriodInput!) { kpiSeries(period: $period, bucket: MONTH, groupBy: TECHNICIAN) { group technician { name } values { ticketsOpened backlog } } }", json!({ "period": period })).await;
    let mut rows: Vec<(Value, Value, Value)> = by_technician["kpiSeries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["technician"]["name"].clone(), p["values"]["ticketsOpened"].clone(), p["values"]["backlog"].clone())
        })
        .collect();
    rows.sort_by_key(|r| r.0.to_string());
    assert_eq!(
        rows,
        vec![(json!("Ann"), json!(2), json!(2)), (json!("Ben"), json!(2), json!(2)), (Value::Null, json!(1), json!(0))]
    );

    let performance = "query($id: ID!, $period: PeriodInput!) { technician(id: $id) { performance(period: $period) {
        ticketsAssigned ticketsResolved resolutionRate reopenRate csatAverage csatCount firstResponseSeconds { mean median } } } }";
    let own = app
        .query_ok(&app.technician_token("ann", ann), performance, json!({ "id": ann.to_string(), "period": period }))
        .await;
    let p = &own["technician"]["performance"];
    assert_eq!((p["ticketsAssigned"].clone(), p["ticketsResolved"].clone()), (json!(2), json!(2)));
    assert_close(&p["resolutionRate"], 1.0, "Ann's resolution rate");
    assert_close(&p["reopenRate"], 0.5, "Ann's reopen rate");
    assert_close(&p["csatAverage"], 2.0, "Ann's csat");
    assert_close(&p["firstResponseSeconds"]["median"], 2_700.0, "Ann's first response median");

    let board = app.query_ok(&sam, "query($period: PeriodInput!) { technicianPerformance(period: $period, orderBy: TICKETS_RESOLVED) { technician { name } ticketsResolved } }", json!({ "period": period })).await;
    assert_eq!(
        board["technicianPerformance"],
        json!([{ "technician": { "name": "Ann" }, "ticketsResolved": 2 }, { "technician": { "name": "Ben" }, "ticketsResolved": 1 }])
    );

    let recurring = app.query_ok(&sam, "query($period: PeriodInput!) { topCategories(period: $period) { category tickets previousTickets change relativeChange } topCustomers(period: $period) { customer { name } tickets } }", json!({ "period": period })).await;
    assert_eq!(
        recurring["topCategories"],
        json!([
            { "category": "net", "tickets": 3, "previousTickets": 1, "change": 2, "relativeChange": 2.0 },
            { "category": "hw", "tickets": 2, "previousTickets": 1, "change": 1, "relativeChange": 1.0 },
        ])
    );
    assert_eq!(
        recurring["topCustomers"],
        json!([{ "customer": { "name": "Acme" }, "tickets": 3 }, { "customer": { "name": "Globex" }, "tickets": 2 }])
    );
}

#[tokio::test]
async fn daily_buckets_follow_local_days_across_a_daylight_saving_change() {
    let app = spawn_app().await;
    dataset(&app).await;
    // New York, 1 to 15 March 2026 local; clocks go forward on Sunday 8 March.
    let period = json!({ "from": "2026-03-01T05:00:00Z", "to": "2026-03-15T04:00:00Z" });
    let data = app.query_ok(&app.supervisor(), "query($period: PeriodInput!) { kpiSeries(period: $period, timeZone: \"America/New_York\", bucket: DAY) { starts ends values { ticketsOpened backlog firstResponseSeconds { mean } } } }", json!({ "period": period })).await;
    let points = data["kpiSeries"].as_array().unwrap();
    assert_eq!(points.len(), 14, "every day is there, empty ones too");
    let day = |n: usize| &points[n - 1];
    assert_eq!(
        (day(8)["starts"].clone(), day(8)["ends"].clone()),
        (json!("2026-03-08T05:00:00+00:00"), json!("2026-03-09T04:00:00+00:00")),
        "a 23-hour day"
    );
    assert_eq!(day(9)["starts"], "2026-03-09T04:00:00+00:00");
    let opened: Vec<i64> = points.iter().map(|p| p["values"]["ticketsOpened"].as_i64().unwrap()).collect();
    // T1 on the 2nd, T2 on the 5th, T3 (00:00 UTC on the 10th) on the 9th in New York.
    assert_eq!(opened, [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    let backlog: Vec<i64> = points.iter().map(|p| p["values"]["backlog"].as_i64().unwrap()).collect();
    // T8 throughout; T2 from the 5th until resolved on the 6th, again from its reopen on the 7th
    // until the 8th; T3 from the 9th (T1 opened and resolved on the 2nd).
    assert_eq!(backlog, [1, 1, 1, 1, 2, 1, 2, 1, 2, 2, 2, 2, 2, 2]);
    assert_eq!(day(1)["values"]["firstResponseSeconds"]["mean"], Value::Null, "an empty bucket's average is null");
    assert_close(&day(2)["values"]["firstResponseSeconds"]["mean"], 1_800.0, "T1");
}

#[tokio::test]
async fn monthly_buckets_in_another_time_zone_and_empty_periods() {
    let app = spawn_app().await;
    dataset(&app).await;
    let sam = app.supervisor();
    // Tokyo, March and April 2026 local: T5 (23:00 UTC on 31 March) opens on 1 April there.
    let period = json!({ "from": "2026-02-28T15:00:00Z", "to": "2026-04-30T15:00:00Z" });
    let data = app.query_ok(&sam, "query($period: PeriodInput!) { kpiSeries(period: $period, timeZone: \"Asia/Tokyo\", bucket: MONTH) { starts values { ticketsOpened ticketsResolved } } }", json!({ "period": period })).await;
    assert_eq!(
        data["kpiSeries"],
        json!([
            { "starts": "2026-02-28T15:00:00+00:00", "values": { "ticketsOpened": 4, "ticketsResolved": 3 } },
            { "starts": "2026-03-31T15:00:00+00:00", "values": { "ticketsOpened": 1, "ticketsResolved": 2 } },
        ])
    );

    let empty = format!(
        "{{ kpis(period: {{ from: \"2020-01-01T00:00:00Z\", to: \"2020-02-01T00:00:00Z\" }}) {{ current {{ {VALUES} }} }} }}"
    );
    let data = app.query_ok(&sam, &empty, json!({})).await;
    let k = &data["kpis"]["current"];
    assert_eq!(
        (k["ticketsOpened"].clone(), k["backlog"].clone(), k["csatCount"].clone()),
        (json!(0), json!(0), json!(0))
    );
    for null in [
        &k["firstResponseSeconds"]["mean"],
        &k["resolutionSeconds"]["median"],
        &k["resolutionRate"],
        &k["reopenRate"],
        &k["csatAverage"],
        &k["csatSatisfiedShare"],
    ] {
        assert_eq!(*null, Value::Null, "a KPI without data is null, never 0: {k}");
    }
    let (code, _) = app.query_error(&sam, "{ kpis(period: { from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\" }, timeZone: \"Mars/Olympus\") { from } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn technicians_read_only_their_own_performance_and_no_kpis() {
    let app = spawn_app().await;
    let (ann, ben) = dataset(&app).await;
    let ann_token = app.technician_token("ann", ann);
    let period: Value = serde_json::from_str(MARCH).unwrap();
    for query in [
        "query($period: PeriodInput!) { kpis(period: $period) { from } }",
        "query($period: PeriodInput!) { kpiSeries(period: $period, bucket: WEEK) { starts } }",
        "query($period: PeriodInput!) { technicianPerformance(period: $period) { ticketsResolved } }",
    ] {
        let (code, _) = app.query_error(&ann_token, query, json!({ "period": period })).await;
        assert_eq!(code, "FORBIDDEN", "{query}");
    }
    let performance = "query($id: ID!, $period: PeriodInput!) { technician(id: $id) { name performance(period: $period) { ticketsResolved } } }";
    let (status, body) =
        app.graphql(Some(&ann_token), performance, json!({ "id": ben.to_string(), "period": period })).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["technician"]["name"], "Ben", "the rest of the query answers");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let own = app.query_ok(&ann_token, performance, json!({ "id": ann.to_string(), "period": period })).await;
    assert_eq!(own["technician"]["performance"]["ticketsResolved"], 2);
}
