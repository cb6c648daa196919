//! Tickets: logging, the lifecycle, concurrency, permissions, lists.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_codes, spawn_app};

const TRANSITION: &str = "mutation($id: ID!, $version: Int!, $to: TicketStatus!) {
    transitionTicket(id: $id, version: $version, to: $to) {
        status version reopenCount firstResponseAt firstResolvedAt resolvedAt closedAt
    } }";

const ALL_STATUSES: [&str; 4] = ["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"];

fn allowed(from: &str) -> &'static [&'static str] {
    match from {
        "OPEN" => &["IN_PROGRESS", "RESOLVED"],
        "IN_PROGRESS" => &["RESOLVED"],
        "RESOLVED" => &["IN_PROGRESS", "CLOSED"],
        _ => &[],
    }
}

async fn transition(app: &TestApp, token: &str, id: &str, version: i64, to: &str) -> Value {
    app.query_ok(token, TRANSITION, json!({ "id": id, "version": version, "to": to })).await["transitionTicket"].clone()
}

/// Tries every transition the lifecycle forbids from `status` and checks nothing changed.
async fn assert_forbidden_transitions_refused(app: &TestApp, token: &str, id: &str, version: i64, status: &str) {
    let events_before = app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id}"));
    for to in ALL_STATUSES.iter().filter(|to| !allowed(status).contains(to)) {
        let (code, error) = app.query_error(token, TRANSITION, json!({ "id": id, "version": version, "to": to })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{status} -> {to}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&format!("a {status} ticket cannot move to {to}")), "{message}");
        for next in allowed(status) {
            assert!(message.contains(next), "the message lists the allowed {next}: {message}");
        }
    }
    let unchanged = app.count(&format!(
        "SELECT count(*) FROM tickets WHERE id = {id} AND version = {version} AND status = '{status}'"
    ));
    assert_eq!(unchanged, 1, "the ticket did not change");
    let events_after = app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id}"));
    assert_eq!(events_after, events_before, "no event was written");
}

#[tokio::test]
async fn a_ticket_walks_its_lifecycle_and_the_timeline_records_every_step() {
    let app = spawn_app().await;
    let customer = app.create_customer("Walker").await;
    let tess = app.technician_token("tess", app.create_technician("Tess", "L1").await);
    let sam = app.supervisor();
    let ticket = app.create_ticket(&tess, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    assert_eq!(ticket["status"], "OPEN");
    assert!(ticket["number"].as_str().unwrap().starts_with("TS-"));

    assert_forbidden_transitions_refused(&app, &sam, &id, 1, "OPEN").await;
    let step = transition(&app, &sam, &id, 1, "IN_PROGRESS").await;
    assert!(step["firstResponseAt"].is_string());
    assert_forbidden_transitions_refused(&app, &sam, &id, 2, "IN_PROGRESS").await;
    let first = transition(&app, &sam, &id, 2, "RESOLVED").await;
    assert_forbidden_transitions_refused(&app, &sam, &id, 3, "RESOLVED").await;
    let reopened = transition(&app, &sam, &id, 3, "IN_PROGRESS").await;
    assert_eq!(reopened["reopenCount"], 1);
    assert_eq!(reopened["resolvedAt"], Value::Null, "a reopen clears resolvedAt");
    assert_eq!(reopened["firstResolvedAt"], first["firstResolvedAt"]);
    let second = transition(&app, &sam, &id, 4, "RESOLVED").await;
    let closed = transition(&app, &sam, &id, 5, "CLOSED").await;
    assert_forbidden_transitions_refused(&app, &sam, &id, 6, "CLOSED").await;

    assert_eq!(closed["status"], "CLOSED");
    assert_eq!(closed["reopenCount"], 1);
    assert_eq!(closed["firstResolvedAt"], first["resolvedAt"], "the first resolution");
    assert_eq!(closed["resolvedAt"], second["resolvedAt"], "the last resolution");
    assert_ne!(first["resolvedAt"], second["resolvedAt"]);
    assert_eq!(closed["firstResponseAt"], step["firstResponseAt"]);
    assert!(closed["closedAt"].is_string());

    let data = app
        .query_ok(
            &tess,
            "query($id: ID!) { ticket(id: $id) { timeline { kind actor fromValue toValue at } } }",
            json!({ "id": id }),
        )
        .await;
    let timeline: Vec<(String, String, Value, Value)> = data["ticket"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
                e["fromValue"].clone(),
                e["toValue"].clone(),
            )
        })
        .collect();
    let expected = [
        ("CREATED", "tess", Value::Null, json!("OPEN")),
        ("STATUS_CHANGED", "sam.supervisor", json!("OPEN"), json!("IN_PROGRESS")),
        ("STATUS_CHANGED", "sam.supervisor", json!("IN_PROGRESS"), json!("RESOLVED")),
        ("REOPENED", "sam.supervisor", json!("RESOLVED"), json!("IN_PROGRESS")),
        ("STATUS_CHANGED", "sam.supervisor", json!("IN_PROGRESS"), json!("RESOLVED")),
        ("STATUS_CHANGED", "sam.supervisor", json!("RESOLVED"), json!("CLOSED")),
    ];
    let expected: Vec<(String, String, Value, Value)> =
        expected.into_iter().map(|(k, a, f, t)| (k.to_owned(), a.to_owned(), f, t)).collect();
    assert_eq!(timeline, expected);
    let times: Vec<&str> =
        data["ticket"]["timeline"].as_array().unwrap().iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in time order");
}

#[tokio::test]
async fn concurrent_transitions_with_one_version_let_exactly_one_through() {
    let app = spawn_app().await;
    let customer = app.create_customer("Racer").await;
    let sam = app.supervisor();
    let ticket = app.create_ticket(&sam, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();

    let attempts = (0..32).map(|i| {
        let to = if i % 2 == 0 { "IN_PROGRESS" } else { "RESOLVED" };
        app.graphql(Some(&sam), TRANSITION, json!({ "id": id, "version": 1, "to": to }))
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut succeeded = 0;
    let mut conflicts = 0;
    for (status, body) in &results {
        assert_eq!(*status, 200);
        match error_codes(body).as_slice() {
            [] => succeeded += 1,
            [code] if code == "CONFLICT" => conflicts += 1,
            other => panic!("unexpected errors {other:?}: {body}"),
        }
    }
    assert_eq!((succeeded, conflicts), (1, 31));
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id} AND kind <> 'CREATED'")),
        1
    );
    assert_eq!(app.count(&format!("SELECT version FROM tickets WHERE id = {id}")), 2);
}

/// Another instance's clock may run ahead: a change is dated no earlier than the ticket's latest
/// event, and the lifecycle instants it sets carry the same instant, so the timeline stays in the
/// order the changes committed.
#[tokio::test]
async fn a_change_is_dated_no_earlier_than_the_tickets_latest_event() {
    let app = spawn_app().await;
    let customer = app.create_customer("Skewed").await;
    let sam = app.supervisor();
    let ticket = app.create_ticket(&sam, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let ahead = "2999-01-01 00:00:00+00";
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, note) VALUES ({id}, '{ahead}', 'elsewhere', 'NOTE_ADDED', 'clock ahead')"
        )),
        &mut app.database.connect(),
    )
    .unwrap();

    let resolved = transition(&app, &sam, &id, 1, "RESOLVED").await;
    assert_eq!(resolved["version"], 2);
    assert_eq!(resolved["resolvedAt"], "2999-01-01T00:00:00+00:00");
    assert_eq!(resolved["firstResponseAt"], resolved["resolvedAt"], "leaving OPEN sets the first response");
    let timeline = app
        .query_ok(
            &sam,
            "query($id: ID!) { ticket(id: $id) { resolvedAt updatedAt timeline { kind at } } }",
            json!({ "id": id }),
        )
        .await;
    let events = timeline["ticket"]["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["CREATED", "NOTE_ADDED", "STATUS_CHANGED"]);
    assert_eq!(events[2]["at"], timeline["ticket"]["resolvedAt"]);
    assert_eq!(timeline["ticket"]["updatedAt"], timeline["ticket"]["resolvedAt"]);
}

/// The write function refuses a change planned against a ticket that moved on without a new
/// version (an outbound interaction set its first response): the server then plans it again.
#[tokio::test]
async fn a_change_planned_against_a_stale_first_response_writes_nothing() {
    let app = spawn_app().await;
    let customer = app.create_customer("Stale").await;
    let sam = app.supervisor();
    let ticket = app.create_ticket(&sam, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let mut conn = app.database.connect();
    let answered = |conn: &mut diesel::PgConnection, read_first_response: &str| -> i64 {
        let sql = format!(
            "SELECT count(*) AS count FROM (SELECT ticket_apply_change({id}, 1, {read_first_response}, 'IN_PROGRESS', now(), \
             NULL, NULL, NULL, 0, NULL, 'NORMAL', now(), 'sam', 'STATUS_CHANGED', 'OPEN', 'IN_PROGRESS', NULL) AS at) a \
             WHERE a.at IS NOT NULL"
        );
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), conn).unwrap().count
    };
    // Read before an interaction recorded a first response: refused, nothing written.
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!("UPDATE tickets SET first_response_at = opened_at WHERE id = {id}")),
        &mut conn,
    )
    .unwrap();
    assert_eq!(answered(&mut conn, "NULL"), 0);
    assert_eq!(app.count(&format!("SELECT version FROM tickets WHERE id = {id}")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id}")), 1);
    // Read as it is now: applied, with its event.
    let first_response = format!("(SELECT first_response_at FROM tickets WHERE id = {id})");
    assert_eq!(answered(&mut conn, &first_response), 1);
    assert_eq!(app.count(&format!("SELECT version FROM tickets WHERE id = {id}")), 2);
    assert_eq!(app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id}")), 2);
}

#[tokio::test]
async fn technicians_change_only_their_own_tickets_and_take_unassigned_ones() {
    let app = spawn_app().await;
    let tess_id = app.create_technician("Tess", "L1").await;
    let tom_id = app.create_technician("Tom", "L1").await;
    let tess = app.technician_token("tess", tess_id);
    let tom = app.technician_token("tom", tom_id);
    let customer = app.create_customer("Owner").await;

    let mine = app.create_ticket(&tess, customer, json!({ "assigneeId": tess_id.to_string() })).await;
    let id = mine["id"].as_str().unwrap();
    let (code, _) = app.query_error(&tom, TRANSITION, json!({ "id": id, "version": 1, "to": "IN_PROGRESS" })).await;
    assert_eq!(code, "FORBIDDEN");
    let note = "mutation($id: ID!) { addTicketNote(id: $id, version: 1, note: \"peeking\") { version } }";
    let (code, _) = app.query_error(&tom, note, json!({ "id": id })).await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM ticket_events WHERE ticket_id = {id}")),
        2,
        "CREATED and ASSIGNED only"
    );
    transition(&app, &tess, id, 1, "IN_PROGRESS").await;

    // Assigning someone else at creation is a supervisor's call.
    let (code, _) = app
        .query_error(
            &tom,
            "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
            json!({ "input": { "customerId": customer.to_string(), "subject": "x", "category": "c", "channel": "WEB", "assigneeId": tess_id.to_string() } }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    let assign = "mutation($id: ID!, $version: Int!, $to: ID) { assignTicket(id: $id, version: $version, assigneeId: $to) { version assignee { name } } }";
    let open = app.create_ticket(&app.supervisor(), customer, json!({})).await;
    let open_id = open["id"].as_str().unwrap();
    let (code, _) =
        app.query_error(&tom, TRANSITION, json!({ "id": open_id, "version": 1, "to": "IN_PROGRESS" })).await;
    assert_eq!(code, "FORBIDDEN", "an unassigned ticket is taken before it is worked");
    let (code, _) =
        app.query_error(&tom, assign, json!({ "id": open_id, "version": 1, "to": tess_id.to_string() })).await;
    assert_eq!(code, "FORBIDDEN", "a technician cannot hand a ticket to someone else");
    let taken = app.query_ok(&tom, assign, json!({ "id": open_id, "version": 1, "to": tom_id.to_string() })).await;
    assert_eq!(taken["assignTicket"]["assignee"]["name"], "Tom");
    transition(&app, &tom, open_id, 2, "RESOLVED").await;
    let (code, _) =
        app.query_error(&tess, assign, json!({ "id": open_id, "version": 3, "to": tess_id.to_string() })).await;
    assert_eq!(code, "FORBIDDEN");

    // Supervisors change any ticket; a stale version is a conflict.
    let moved = app
        .query_ok(&app.supervisor(), assign, json!({ "id": open_id, "version": 3, "to": tess_id.to_string() }))
        .await;
    assert_eq!(moved["assignTicket"]["version"], 4);
    let (code, _) =
        app.query_error(&app.supervisor(), assign, json!({ "id": open_id, "version": 3, "to": null })).await;
    assert_eq!(code, "CONFLICT");
}

#[tokio::test]
async fn priority_changes_and_notes_write_their_events() {
    let app = spawn_app().await;
    let customer = app.create_customer("Noted").await;
    let sam = app.supervisor();
    let ticket = app.create_ticket(&sam, customer, json!({ "priority": "LOW" })).await;
    let id = ticket["id"].as_str().unwrap();
    app.query_ok(&sam, "mutation($id: ID!) { changeTicketPriority(id: $id, version: 1, priority: URGENT, note: \"VIP\") { priority } }", json!({ "id": id })).await;
    app.query_ok(
        &sam,
        "mutation($id: ID!) { addTicketNote(id: $id, version: 2, note: \"Called back\") { version } }",
        json!({ "id": id }),
    )
    .await;
    let (code, error) = app
        .query_error(
            &sam,
            "mutation($id: ID!) { addTicketNote(id: $id, version: 3, note: \"  \") { version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("note")));
    let data = app
        .query_ok(
            &sam,
            "query($id: ID!) { ticket(id: $id) { priority version timeline { kind fromValue toValue note } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["ticket"]["priority"], "URGENT");
    assert_eq!(data["ticket"]["version"], 3);
    let timeline = data["ticket"]["timeline"].as_array().unwrap();
    assert_eq!(
        timeline[1],
        json!({ "kind": "PRIORITY_CHANGED", "fromValue": "LOW", "toValue": "URGENT", "note": "VIP" })
    );
    assert_eq!(timeline[2], json!({ "kind": "NOTE_ADDED", "fromValue": null, "toValue": null, "note": "Called back" }));
}

#[tokio::test]
async fn bad_ticket_input_names_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let customer = app.create_customer("Careful").await.to_string();
    let tess = app.technician_token("tess", app.create_technician("Tess", "L1").await);
    let create = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }";
    let base = json!({ "customerId": customer, "subject": "Fine", "category": "network", "channel": "EMAIL" });
    let with = |key: &str, value: Value| {
        let mut input = base.clone();
        input[key] = value;
        json!({ "input": input })
    };
    let future = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let cases = [
        (with("subject", json!("   ")), "BAD_USER_INPUT", Some("subject")),
        (with("subject", json!("s".repeat(201))), "BAD_USER_INPUT", Some("subject")),
        (with("description", json!("d".repeat(20_001))), "BAD_USER_INPUT", Some("description")),
        (with("category", json!("")), "BAD_USER_INPUT", Some("category")),
        (with("customerId", json!("424242")), "NOT_FOUND", None),
        (with("customerId", json!("abc")), "BAD_USER_INPUT", Some("customerId")),
        (with("assigneeId", json!("2")), "FORBIDDEN", None),
        (with("openedAt", json!(future)), "BAD_USER_INPUT", Some("openedAt")),
        (with("openedAt", json!(past)), "FORBIDDEN", None),
        (with("newCustomer", json!({ "name": "Both" })), "BAD_USER_INPUT", Some("customerId")),
    ];
    for (variables, expected, field) in cases {
        let (code, error) = app.query_error(&tess, create, variables.clone()).await;
        assert_eq!(code, expected, "{variables}: {error}");
        if let Some(field) = field {
            assert_eq!(error["extensions"]["field"], field, "{error}");
        }
    }
    let (code, _) = app.query_error(&tess, "{ tickets(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT");
    let (code, _) = app.query_error(&tess, "{ tickets(after: \"garbage\") { totalCount } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(app.count("SELECT count(*) FROM tickets"), 0);
    assert_eq!(app.count("SELECT count(*) FROM ticket_events"), 0);
    assert_eq!(app.count("SELECT count(*) FROM customers"), 1);

    // A supervisor imports history with a past openedAt; a new customer comes with its ticket.
    let imported = app
        .query_ok(
            &app.supervisor(),
            "mutation($input: CreateTicketInput!) { createTicket(input: $input) { openedAt customer { name email } timeline { at } } }",
            json!({ "input": { "newCustomer": { "name": "New Co", "email": "it@newco.test" }, "subject": "Old", "category": "c", "channel": "WEB", "openedAt": past } }),
        )
        .await;
    let opened = chrono::DateTime::parse_from_rfc3339(imported["createTicket"]["openedAt"].as_str().unwrap()).unwrap();
    let sent = chrono::DateTime::parse_from_rfc3339(&past).unwrap();
    assert!((opened - sent).num_microseconds().unwrap().abs() < 1, "stored to the microsecond: {opened} vs {sent}");
    assert_eq!(imported["createTicket"]["customer"], json!({ "name": "New Co", "email": "it@newco.test" }));
}

#[tokio::test]
async fn ticket_numbers_are_sequential_and_found_by_number() {
    let app = spawn_app().await;
    let customer = app.create_customer("Counted").await;
    let sam = app.supervisor();
    let mut numbers = HashSet::new();
    for _ in 0..3 {
        numbers.insert(app.create_ticket(&sam, customer, json!({})).await["number"].as_str().unwrap().to_owned());
    }
    assert_eq!(numbers, HashSet::from(["TS-000001".to_owned(), "TS-000002".into(), "TS-000003".into()]));
    let found = app.query_ok(&sam, "{ ticketByNumber(number: \"TS-000002\") { number } missing: ticketByNumber(number: \"TS-999999\") { number } }", json!({})).await;
    assert_eq!(found, json!({ "ticketByNumber": { "number": "TS-000002" }, "missing": null }));
}

const LIST: &str = "query($filter: TicketFilter, $order: TicketOrder, $first: Int, $after: String) {
    tickets(filter: $filter, orderBy: $order, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { subject assignee { name } } }
    } }";

/// Every subject of a filtered, ordered list, read page by page.
async fn all_pages(app: &TestApp, token: &str, filter: Value, order: Value, page: i64) -> Vec<String> {
    let mut subjects = Vec::new();
    let mut after = Value::Null;
    loop {
        let data =
            app.query_ok(token, LIST, json!({ "filter": filter, "order": order, "first": page, "after": after })).await;
        let tickets = &data["tickets"];
        subjects.extend(
            tickets["edges"].as_array().unwrap().iter().map(|e| e["node"]["subject"].as_str().unwrap().to_owned()),
        );
        if tickets["pageInfo"]["hasNextPage"] == false {
            return subjects;
        }
        after = tickets["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn filters_ordering_and_pagination_return_exactly_the_expected_tickets() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let tess_id = app.create_technician("Tess", "L1").await.to_string();
    let tom_id = app.create_technician("Tom", "L2").await.to_string();
    let acme = app.create_customer("Acme").await;
    let globex = app.create_customer("Globex").await;
    // subject, customer, priority, channel, category, assignee, days ago opened, final status
    let rows = [
        ("t01 vpn down", acme, "URGENT", "PHONE", "network", Some(&tess_id), 10, "RESOLVED"),
        ("t02 printer jam", acme, "LOW", "EMAIL", "hardware", Some(&tom_id), 9, "OPEN"),
        ("t03 password reset", globex, "NORMAL", "CHAT", "access", None, 8, "OPEN"),
        ("t04 vpn slow", globex, "HIGH", "WEB", "network", Some(&tess_id), 7, "IN_PROGRESS"),
        ("t05 new laptop", acme, "NORMAL", "PHONE", "hardware", Some(&tess_id), 6, "CLOSED"),
        ("t06 email bounce", globex, "HIGH", "EMAIL", "email", Some(&tom_id), 5, "RESOLVED"),
        ("t07 wifi drops", acme, "URGENT", "CHAT", "network", None, 4, "OPEN"),
        ("t08 monitor flicker", globex, "LOW", "WEB", "hardware", Some(&tom_id), 3, "IN_PROGRESS"),
        ("t09 account locked", acme, "HIGH", "PHONE", "access", Some(&tess_id), 2, "OPEN"),
        ("t10 VPN certificate", acme, "NORMAL", "EMAIL", "network", None, 1, "RESOLVED"),
    ];
    for (subject, customer, priority, channel, category, assignee, days, status) in rows {
        let opened = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
        let ticket = app
            .create_ticket(&sam, customer, json!({ "subject": subject, "priority": priority, "channel": channel, "category": category, "assigneeId": assignee, "openedAt": opened }))
            .await;
        let id = ticket["id"].as_str().unwrap();
        let path: &[&str] = match status {
            "IN_PROGRESS" => &["IN_PROGRESS"],
            "RESOLVED" => &["RESOLVED"],
            "CLOSED" => &["RESOLVED", "CLOSED"],
            _ => &[],
        };
        for (step, to) in path.iter().enumerate() {
            transition(&app, &sam, id, step as i64 + 1, to).await;
        }
    }
    let asc = json!({ "field": "OPENED_AT", "direction": "ASC" });
    let subjects = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let check = |filter: Value, expected: &'static [&'static str]| {
        let app = &app;
        let sam = sam.clone();
        let asc = asc.clone();
        async move {
            let got = all_pages(app, &sam, filter.clone(), asc, 3).await;
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(got, expected, "filter {filter}");
        }
    };

    check(
        json!({}),
        &[
            "t01 vpn down",
            "t02 printer jam",
            "t03 password reset",
            "t04 vpn slow",
            "t05 new laptop",
            "t06 email bounce",
            "t07 wifi drops",
            "t08 monitor flicker",
            "t09 account locked",
            "t10 VPN certificate",
        ],
    )
    .await;
    check(
        json!({ "status": ["OPEN", "IN_PROGRESS"] }),
        &[
            "t02 printer jam",
            "t03 password reset",
            "t04 vpn slow",
            "t07 wifi drops",
            "t08 monitor flicker",
            "t09 account locked",
        ],
    )
    .await;
    check(json!({ "assigneeId": tess_id }), &["t01 vpn down", "t04 vpn slow", "t05 new laptop", "t09 account locked"])
        .await;
    check(json!({ "unassigned": true }), &["t03 password reset", "t07 wifi drops", "t10 VPN certificate"]).await;
    check(
        json!({ "customerId": globex.to_string() }),
        &["t03 password reset", "t04 vpn slow", "t06 email bounce", "t08 monitor flicker"],
    )
    .await;
    check(
        json!({ "category": "network", "priority": ["URGENT", "HIGH"] }),
        &["t01 vpn down", "t04 vpn slow", "t07 wifi drops"],
    )
    .await;
    check(
        json!({ "channel": ["EMAIL"], "status": ["RESOLVED", "CLOSED"] }),
        &["t06 email bounce", "t10 VPN certificate"],
    )
    .await;
    check(json!({ "search": "vpn" }), &["t01 vpn down", "t04 vpn slow", "t10 VPN certificate"]).await;
    let from = (chrono::Utc::now() - chrono::Duration::days(7) - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() - chrono::Duration::days(3) - chrono::Duration::hours(1)).to_rfc3339();
    check(
        json!({ "openedAt": { "from": from, "to": to } }),
        &["t04 vpn slow", "t05 new laptop", "t06 email bounce", "t07 wifi drops"],
    )
    .await;
    let resolved_from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    check(
        json!({ "resolvedAt": { "from": resolved_from } }),
        &["t01 vpn down", "t05 new laptop", "t06 email bounce", "t10 VPN certificate"],
    )
    .await;
    check(json!({ "assigneeId": tom_id, "customerId": acme.to_string() }), &["t02 printer jam"]).await;

    // Ordering by priority, both ways; ties broken by id in the same direction.
    let by_priority = all_pages(&app, &sam, json!({}), json!({ "field": "PRIORITY", "direction": "DESC" }), 4).await;
    assert_eq!(
        by_priority,
        subjects(&[
            "t07 wifi drops",
            "t01 vpn down",
            "t09 account locked",
            "t06 email bounce",
            "t04 vpn slow",
            "t10 VPN certificate",
            "t05 new laptop",
            "t03 password reset",
            "t08 monitor flicker",
            "t02 printer jam"
        ])
    );
    let by_priority_asc = all_pages(&app, &sam, json!({}), json!({ "field": "PRIORITY", "direction": "ASC" }), 4).await;
    let mut reversed = by_priority.clone();
    reversed.reverse();
    assert_eq!(by_priority_asc, reversed);
    let newest_first = all_pages(&app, &sam, json!({}), json!({ "field": "OPENED_AT" }), 4).await;
    assert_eq!(newest_first.first().map(String::as_str), Some("t10 VPN certificate"), "default direction is DESC");
    let by_update =
        all_pages(&app, &sam, json!({ "status": ["OPEN"] }), json!({ "field": "UPDATED_AT", "direction": "ASC" }), 2)
            .await;
    assert_eq!(by_update, subjects(&["t02 printer jam", "t03 password reset", "t07 wifi drops", "t09 account locked"]));

    // Tickets added between two pages: no duplicates, no gaps, the new ones come at the end.
    let first_page = app.query_ok(&sam, LIST, json!({ "order": asc, "first": 4 })).await;
    assert_eq!(first_page["tickets"]["totalCount"], 10);
    assert_eq!(first_page["tickets"]["pageInfo"]["hasPreviousPage"], false);
    let mut seen: Vec<String> = first_page["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["subject"].as_str().unwrap().to_owned())
        .collect();
    app.create_ticket(&sam, acme, json!({ "subject": "t11 added later" })).await;
    app.create_ticket(&sam, acme, json!({ "subject": "t12 added later" })).await;
    let mut after = first_page["tickets"]["pageInfo"]["endCursor"].clone();
    loop {
        let data = app.query_ok(&sam, LIST, json!({ "order": asc, "first": 4, "after": after })).await;
        assert_eq!(data["tickets"]["pageInfo"]["hasPreviousPage"], true);
        seen.extend(
            data["tickets"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["subject"].as_str().unwrap().to_owned()),
        );
        if data["tickets"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = data["tickets"]["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (1..=12).map(|n| format!("t{n:02}")).collect();
    let prefixes: Vec<String> = seen.iter().map(|s| s[..3].to_owned()).collect();
    assert_eq!(prefixes, expected);

    // A cursor is bound to its ordering.
    let (code, _) = app.query_error(&sam, LIST, json!({ "order": { "field": "PRIORITY" }, "after": after })).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn nested_customers_and_assignees_cost_a_constant_number_of_statements() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let mut technicians = Vec::new();
    for n in 0..5 {
        technicians.push(app.create_technician(&format!("Tech {n}"), "L1").await);
    }
    let mut customers = Vec::new();
    for n in 0..20 {
        customers.push(app.create_customer(&format!("Customer {n}")).await);
    }
    for n in 0..100 {
        let assignee = if n % 7 == 0 { Value::Null } else { json!(technicians[n % 5].to_string()) };
        app.create_ticket(&sam, customers[n % 20], json!({ "assigneeId": assignee })).await;
    }
    let query = "query($first: Int) { tickets(first: $first) { totalCount edges { node {
        number customer { name } assignee { name } timeline { kind } } } } }";
    let mut counts = Vec::new();
    for first in [5, 100] {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&sam)
            .json(&json!({ "query": query, "variables": { "first": first } }))
            .send()
            .await
            .unwrap();
        let statements: u64 = response.headers()["x-db-statements"].to_str().unwrap().parse().unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        let edges = body["data"]["tickets"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        assert!(edges.iter().all(|e| e["node"]["customer"]["name"].as_str().unwrap().starts_with("Customer ")));
        let assignees: Vec<&Value> = edges.iter().map(|e| &e["node"]["assignee"]).collect();
        assert!(assignees.iter().all(|a| a.is_null() || a["name"].as_str().unwrap().starts_with("Tech ")));
        if first == 100 {
            assert_eq!(assignees.iter().filter(|a| a.is_null()).count(), 15, "every seventh is unassigned");
        }
        counts.push(statements);
    }
    assert_eq!(counts[0], counts[1], "a page of 100 costs what a page of 5 does: {counts:?}");
    // The page's statement reads its customers and assignees; the count and the timelines are
    // one statement each.
    assert_eq!(counts[1], 3, "page with its people, count, timelines: {counts:?}");
}

/// The statements of a ticket page and a ticket view are planned once per connection and run
/// from that plan (store::plan_once): PostgreSQL counts a custom plan for every execution that it
/// planned afresh, and makes at most five before it weighs the generic one.
#[tokio::test]
async fn ticket_pages_and_views_are_planned_once_per_connection() {
    use deskpulse::domain::TicketStatus;
    use deskpulse::store::{access, customers, technicians, tickets};
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};

    let app = spawn_app().await;
    let sam = app.supervisor();
    let tech = app.create_technician("Tech", "L1").await;
    // Two customers first, so that the customer's id is not the technician's: a join on the
    // wrong key would read the wrong row.
    app.create_customer("Other").await;
    app.create_customer("Another").await;
    let customer = app.create_customer("Customer").await;
    assert_ne!(customer, tech);
    let mut numbers = Vec::new();
    let mut newest_first = Vec::new();
    for _ in 0..30 {
        let ticket = app.create_ticket(&sam, customer, json!({ "assigneeId": tech.to_string() })).await;
        numbers.push(ticket["number"].as_str().unwrap().to_owned());
        newest_first.push(ticket["id"].as_str().unwrap().parse::<i64>().unwrap());
    }
    newest_first.reverse();

    let mut conn = app.database.connect();
    let open =
        tickets::TicketFilter { statuses: vec![TicketStatus::Open, TicketStatus::InProgress], ..Default::default() };
    let mine = tickets::TicketFilter { assignee: tickets::AssigneeFilter::Technician(tech), ..open.clone() };
    let newest = tickets::TicketOrder { sort: tickets::TicketSort::OpenedAt, descending: true };
    let whole = |customer, assignee| tickets::Reading {
        tickets: tickets::TicketColumns::ALL,
        people: tickets::People { customer, assignee, details: true },
    };
    let (alone, both, customer_only, assignee_only) =
        (whole(false, false), whole(true, true), whole(true, false), whole(false, true));
    // A list showing subjects and names: the other text columns come as placeholders.
    let listed = tickets::Reading {
        tickets: tickets::TicketColumns { subject: true, ..tickets::TicketColumns::NONE },
        people: tickets::People { customer: true, assignee: true, details: false },
    };
    let ids = |rows: &[tickets::TicketWithPeople]| rows.iter().map(|(ticket, _, _)| ticket.id).collect::<Vec<_>>();
    let people_of_their_own = |rows: &[tickets::TicketWithPeople]| {
        rows.iter().all(|(ticket, customer, assignee)| {
            customer.as_ref().map(|c| c.id) == Some(ticket.customer_id)
                && assignee.as_ref().map(|a| a.id) == ticket.assignee_id
        })
    };
    for number in &numbers[..12] {
        // The page's own ORDER BY picks the rows its LIMIT keeps; the people join them after.
        let page = tickets::list(&mut conn, &open, newest, None, 11, both).unwrap();
        assert_eq!(ids(&page), newest_first[..11], "the rows asked for, newest first");
        assert!(people_of_their_own(&page));
        let (last, _, _) = page.last().unwrap();
        let after = (tickets::sort_key(last, newest.sort), last.id);
        let next = tickets::list(&mut conn, &open, newest, Some(&after), 11, both).unwrap();
        assert_eq!(ids(&next), newest_first[11..22]);
        assert!(people_of_their_own(&next));
        let next_listed = tickets::list(&mut conn, &open, newest, Some(&after), 11, listed).unwrap();
        assert_eq!(ids(&next_listed), ids(&next));
        assert!(people_of_their_own(&next_listed));
        for ((listed, customer, assignee), (whole, whole_customer, whole_assignee)) in next_listed.iter().zip(&next) {
            let shown = |ticket: &deskpulse::models::Ticket| {
                (ticket.subject.clone(), ticket.status, ticket.priority, ticket.opened_at, ticket.updated_at)
            };
            assert_eq!(shown(listed), shown(whole));
            // Read by its listing columns: nothing in the others' place.
            let left_out = (listed.description.as_str(), listed.external_ref.as_deref(), listed.version);
            assert_eq!(left_out, ("", None, 0));
            assert_eq!(customer.as_ref().unwrap().name, whole_customer.as_ref().unwrap().name);
            assert_eq!(assignee.as_ref().unwrap().name, whole_assignee.as_ref().unwrap().name);
            assert_eq!(assignee.as_ref().unwrap().team, "");
        }
        let next_alone = tickets::list(&mut conn, &open, newest, Some(&after), 11, alone).unwrap();
        assert_eq!(ids(&next_alone), ids(&next));
        assert!(next_alone.iter().all(|(_, customer, assignee)| customer.is_none() && assignee.is_none()));
        let mine_with_customers = tickets::list(&mut conn, &mine, newest, None, 26, customer_only).unwrap();
        assert_eq!(ids(&mine_with_customers), newest_first[..26]);
        assert!(mine_with_customers.iter().all(|(t, c, a)| c.as_ref().unwrap().id == t.customer_id && a.is_none()));
        let mine_with_assignees = tickets::list(&mut conn, &mine, newest, None, 26, assignee_only).unwrap();
        assert!(mine_with_assignees.iter().all(|(_, c, a)| c.is_none() && a.as_ref().unwrap().id == tech));
        assert_eq!(tickets::count(&mut conn, &mine).unwrap(), 30);
        let key = tickets::TicketKey::Number(number.clone());
        let (ticket, its_customer, its_assignee) = tickets::view(&mut conn, key, both).unwrap().unwrap();
        assert_eq!((its_customer.map(|c| c.id), its_assignee.map(|a| a.id)), (Some(customer), Some(tech)));
        assert_eq!(
            tickets::view(&mut conn, tickets::TicketKey::Id(ticket.id), alone).unwrap().unwrap().0.id,
            ticket.id
        );
        assert!(!tickets::events_of(&mut conn, &[ticket.id]).unwrap()[&ticket.id].is_empty());
        assert_eq!(tickets::events_of(&mut conn, &[ticket.id, page[0].0.id]).unwrap().len(), 2);
        assert_eq!(customers::by_ids(&mut conn, &[customer]).unwrap().len(), 1);
        assert_eq!(technicians::by_ids(&mut conn, &[tech]).unwrap().len(), 1);
        assert!(access::standing(&mut conn, "sam", None).unwrap().not_before.is_none());
        assert!(access::standing(&mut conn, "tech", Some(tech)).unwrap().technician.is_some());
    }

    #[derive(QueryableByName, Debug)]
    struct Prepared {
        #[diesel(sql_type = Text)]
        statement: String,
        #[diesel(sql_type = BigInt)]
        custom_plans: i64,
        #[diesel(sql_type = BigInt)]
        generic_plans: i64,
    }
    let prepared: Vec<Prepared> =
        diesel::sql_query("SELECT statement, custom_plans, generic_plans FROM pg_prepared_statements")
            .load(&mut conn)
            .unwrap();
    let statements: Vec<&Prepared> = prepared.iter().filter(|p| p.statement.starts_with("SELECT")).collect();
    assert!(statements.len() >= 10, "every statement above is prepared: {prepared:#?}");
    for statement in statements {
        assert!(
            statement.custom_plans <= 5 && statement.generic_plans >= 7,
            "planned afresh at its executions: {statement:#?}"
        );
    }
}

/// The fields of the object type `name` that take no required argument, each with the selection
/// it needs: every object-typed field must have one in `selections`.
async fn plain_selections(app: &TestApp, name: &str, selections: &[(&str, &str)]) -> Vec<(String, String)> {
    let query = "query($name: String!) { __type(name: $name) { fields {
        name args { type { kind } } type { kind ofType { kind ofType { kind ofType { kind } } } } } } }";
    let data = app.query_ok(&app.admin(), query, json!({ "name": name })).await;
    let mut fields = Vec::new();
    for field in data["__type"]["fields"].as_array().unwrap() {
        let field_name = field["name"].as_str().unwrap();
        if field["args"].as_array().unwrap().iter().any(|arg| arg["type"]["kind"] == "NON_NULL") {
            continue;
        }
        let mut kind = &field["type"];
        while kind["kind"] == "NON_NULL" || kind["kind"] == "LIST" {
            kind = &kind["ofType"];
        }
        let selection = match selections.iter().find(|(name, _)| *name == field_name) {
            Some((_, selection)) => selection.to_string(),
            None if kind["kind"] == "OBJECT" => panic!("{name}.{field_name}: give it a selection here"),
            None => String::new(),
        };
        fields.push((field_name.to_owned(), selection));
    }
    fields
}

/// A page reads only the text columns its selection shows (store::tickets::TicketColumns): each
/// field of a ticket and of its customer and assignee, asked for alone, through a fragment, on a
/// page and on a ticket view, is what it is when the ticket is read whole.
#[tokio::test]
async fn a_page_shows_each_field_as_the_whole_ticket_does() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let tech = app.create_technician("Grace Hopper", "L2").await;
    let customer = app
        .query_ok(
            &sam,
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": { "name": "Ada Ltd", "email": "ada@example.test", "phone": "+44 20 7946 0000",
                               "organization": "Ada" } }),
        )
        .await["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let input = json!({ "assigneeId": tech.to_string(), "description": "Toner smudges on every page" });
    let ticket = app.create_ticket(&sam, customer, input).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    transition(&app, &sam, &id, 1, "IN_PROGRESS").await;
    app.create_ticket(&sam, customer, json!({ "subject": "Another one" })).await;

    let people = [("customer", "Customer"), ("assignee", "Technician")];
    let person_selections = [("interactions", "{ totalCount }"), ("tickets", "{ totalCount }")];
    let mut ticket_fields = plain_selections(
        &app,
        "Ticket",
        &[
            ("customer", "{ id }"),
            ("assignee", "{ id }"),
            ("satisfaction", "{ rating }"),
            ("interactions", "{ totalCount }"),
            ("sla", "{ firstResponseDueAt firstResponseState }"),
            ("timeline", "{ kind at toValue }"),
        ],
    )
    .await;
    // Each person field alone, as `customer { email }`, and all of them for the whole read.
    let mut whole_people = Vec::new();
    for (field, type_name) in people {
        let fields = plain_selections(&app, type_name, &person_selections).await;
        let all: Vec<String> = fields.iter().map(|(name, selection)| format!("{name} {selection}")).collect();
        whole_people.push((field, format!("{{ {} }}", all.join(" "))));
        for (name, selection) in fields {
            ticket_fields.push((format!("{field}.{name}"), format!("{{ {name} {selection} }}")));
        }
    }
    let whole_selection: Vec<String> = ticket_fields
        .iter()
        .filter(|(name, _)| !name.contains('.'))
        .map(|(name, selection)| match whole_people.iter().find(|(person, _)| person == name) {
            Some((_, people)) => format!("{name} {people}"),
            None => format!("{name} {selection}"),
        })
        .collect();
    let whole = app
        .query_ok(
            &sam,
            &format!("query($id: ID!) {{ ticket(id: $id) {{ {} }} }}", whole_selection.join(" ")),
            json!({ "id": id }),
        )
        .await["ticket"]
        .clone();

    for (name, selection) in &ticket_fields {
        // `customer.email` is asked for as `customer { email }` and found at customer/email.
        let (field, pointer) = match name.split_once('.') {
            Some((person, inner)) => (person, format!("/{person}/{inner}")),
            // The person itself, asked for as `customer { id }`.
            None if people.iter().any(|(person, _)| person == name) => (name.as_str(), format!("/{name}/id")),
            None => (name.as_str(), format!("/{name}")),
        };
        let expected = whole.pointer(&pointer).unwrap_or_else(|| panic!("{name} in {whole}"));
        let shapes = [
            format!("{{ tickets(first: 5) {{ nodes {{ id {field} {selection} }} }} }}"),
            format!(
                "{{ tickets(first: 5) {{ edges {{ node {{ ...shown }} }} }} }} fragment shown on Ticket {{ id {field} {selection} }}"
            ),
            format!("{{ ticket(id: \"{id}\") {{ id ... on Ticket {{ {field} {selection} }} }} }}"),
        ];
        for query in shapes {
            let data = app.query_ok(&sam, &query, json!({})).await;
            let found = match data.pointer("/tickets/nodes").or(data.pointer("/tickets/edges")) {
                Some(rows) => rows
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| row.get("node").unwrap_or(row))
                    .find(|ticket| ticket["id"] == id.as_str())
                    .unwrap()
                    .clone(),
                None => data["ticket"].clone(),
            };
            assert_eq!(found.pointer(&pointer), Some(expected), "{name} from {query}");
        }
    }
}

/// A page is written as JSON text straight from its rows; a field of it that fails (here a
/// technician reading another technician's numbers) is null at its own path, with its error,
/// and the rest of the page is as a caller allowed everything reads it.
#[tokio::test]
async fn a_field_that_fails_inside_a_page_is_null_at_its_path_and_the_page_answers() {
    let app = spawn_app().await;
    let tess_id = app.create_technician("Tess", "L1").await;
    let tom_id = app.create_technician("Tom", "L1").await;
    let tess = app.technician_token("tess", tess_id);
    let customer = app.create_customer("Owner \"quoted\"\n").await;
    for assignee in [tess_id, tom_id] {
        app.create_ticket(&app.supervisor(), customer, json!({ "assigneeId": assignee.to_string() })).await;
    }
    let query = r#"{ tickets(first: 10, orderBy: {field: OPENED_AT, direction: ASC}) {
        totalCount nodes { number status openedAt customer { name }
        assignee { name performance(period: {from: "2020-01-01T00:00:00Z", to: "2020-01-31T00:00:00Z"}) { ticketsAssigned } id } } } }"#;

    let (status, body) = app.graphql(Some(&tess), query, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["tickets", "nodes", 1, "assignee", "performance"]));
    let nodes = &body["data"]["tickets"]["nodes"];
    assert_eq!(nodes[0]["assignee"]["performance"], json!({ "ticketsAssigned": 0 }), "her own numbers");
    assert_eq!(nodes[1]["assignee"]["performance"], Value::Null);
    assert_eq!(nodes[1]["assignee"]["id"], tom_id.to_string(), "the fields after the failed one answer");

    let mut everything = app.query_ok(&app.supervisor(), query, json!({})).await;
    everything["tickets"]["nodes"][1]["assignee"]["performance"] = Value::Null;
    assert_eq!(body["data"], everything);
}
