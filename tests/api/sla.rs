//! SLA policies on business-hours calendars (docs/sla.md): targets counted in business time
//! across weekends, holidays and daylight-saving changes, the clocks through reopens and
//! priority changes, the slaState filter and its ordering, and breaches recorded once by racing
//! schedulers. Every expected instant is worked out by hand in the comment beside it.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, counter, error_codes, serve_settings, spawn_app, start_servers, wait_for_counter, wait_until,
};

const SLA_FIELDS: &str = "sla { policy { id name firstResponseMinutes resolutionMinutes calendarName timeZone }
    appliedAt firstResponseDueAt resolutionDueAt firstResponseBusinessSeconds resolutionBusinessSeconds
    firstResponseState resolutionState state }";

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("an instant, not {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

/// Monday to Friday 09:00-17:00 in `zone`, with `holidays`.
async fn office_calendar(app: &TestApp, name: &str, zone: &str, holidays: Value) -> String {
    let day = |day: &str| json!({ "day": day, "intervals": [{ "start": "09:00", "end": "17:00" }] });
    let input = json!({
        "name": name,
        "timeZone": zone,
        "weeklyHours": [day("MONDAY"), day("TUESDAY"), day("WEDNESDAY"), day("THURSDAY"), day("FRIDAY")],
        "holidays": holidays,
    });
    let data = app
        .query_ok(
            &app.admin(),
            "mutation($input: BusinessCalendarInput!) { createBusinessCalendar(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    data["createBusinessCalendar"]["id"].as_str().unwrap().to_owned()
}

async fn create_policy(app: &TestApp, input: Value) -> Value {
    let data = app
        .query_ok(
            &app.admin(),
            "mutation($input: SlaPolicyInput!) { createSlaPolicy(input: $input) { id name version } }",
            json!({ "input": input }),
        )
        .await;
    data["createSlaPolicy"].clone()
}

async fn ticket(app: &TestApp, id: &str) -> Value {
    let query = format!(
        "query($id: ID!) {{ ticket(id: $id) {{ id status version {SLA_FIELDS}
            timeline {{ at kind fromValue toValue note actor }} }} }}"
    );
    app.query_ok(&app.supervisor(), &query, json!({ "id": id })).await["ticket"].clone()
}

async fn open_ticket(app: &TestApp, customer: i64, priority: &str, opened_at: &str) -> String {
    let created =
        app.create_ticket(&app.supervisor(), customer, json!({ "priority": priority, "openedAt": opened_at })).await;
    created["id"].as_str().unwrap().to_owned()
}

fn events<'a>(ticket: &'a Value, kind: &str) -> Vec<&'a Value> {
    ticket["timeline"].as_array().unwrap().iter().filter(|event| event["kind"] == kind).collect()
}

#[tokio::test]
async fn a_friday_evening_ticket_answered_on_monday_counts_only_monday_morning() {
    let app = spawn_app().await;
    let calendar = office_calendar(&app, "Paris office", "Europe/Paris", json!([])).await;
    let policy = create_policy(
        &app,
        json!({ "name": "High", "priority": "HIGH", "firstResponseMinutes": 240, "resolutionMinutes": 960,
                "calendarId": calendar }),
    )
    .await;
    let customer = app.create_customer("Camille").await;
    let technician = app.create_technician("Theo Tech", "L1").await;
    // Friday 2026-11-27 18:30 in Paris (17:30 UTC), after closing.
    let id = open_ticket(&app, customer, "HIGH", "2026-11-27T17:30:00Z").await;

    let opened = ticket(&app, &id).await;
    let sla = &opened["sla"];
    assert_eq!(sla["policy"]["id"], policy["id"]);
    assert_eq!(
        (sla["policy"]["calendarName"].clone(), sla["policy"]["timeZone"].clone()),
        (json!("Paris office"), json!("Europe/Paris"))
    );
    // 4 business hours from Friday evening: Monday 09:00-13:00 Paris = 12:00 UTC.
    assert_eq!(instant(&sla["firstResponseDueAt"]), instant(&json!("2026-11-30T12:00:00Z")));
    // 16 business hours: all of Monday and Tuesday, due Tuesday 17:00 Paris = 16:00 UTC.
    assert_eq!(instant(&sla["resolutionDueAt"]), instant(&json!("2026-12-01T16:00:00Z")));
    let applied = events(&opened, "SLA_APPLIED");
    assert_eq!(applied.len(), 1, "{opened}");
    assert_eq!(
        (applied[0]["toValue"].clone(), instant(&applied[0]["at"])),
        (json!("High"), instant(&json!("2026-11-27T17:30:00Z")))
    );

    // Answered by e-mail on Monday at 10:15 Paris (09:15 UTC): 75 business minutes.
    app.query_ok(
        &app.supervisor(),
        "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }",
        json!({ "input": { "customerId": customer.to_string(), "ticketId": id, "technicianId": technician.to_string(),
                            "channel": "EMAIL", "direction": "OUTBOUND", "occurredAt": "2026-11-30T09:15:00Z",
                            "summary": "Replaced the toner" } }),
    )
    .await;
    let answered = ticket(&app, &id).await;
    assert_eq!(answered["sla"]["firstResponseBusinessSeconds"], 75 * 60);
    assert_eq!(answered["sla"]["firstResponseState"], "MET");
    // The resolution clock still runs and passed its due instant on Tuesday.
    assert_eq!(answered["sla"]["resolutionState"], "BREACHED");
    assert_eq!(answered["sla"]["state"], "BREACHED");
}

#[tokio::test]
async fn new_york_targets_are_exact_across_both_changes_and_a_holiday() {
    let app = spawn_app().await;
    // Monday 2026-03-09, the day after the March change, is a holiday; so is every 3 November.
    let holidays = json!([{ "date": "2026-03-09", "name": "Office closed" }, { "date": "2020-11-03", "yearly": true }]);
    let calendar = office_calendar(&app, "New York office", "America/New_York", holidays).await;
    create_policy(
        &app,
        json!({ "name": "Urgent NY", "priority": "URGENT", "firstResponseMinutes": 120, "resolutionMinutes": 600,
                "calendarId": calendar }),
    )
    .await;
    let customer = app.create_customer("Nia").await;

    // Friday 2026-03-06 16:00 EST (21:00 UTC). First response, 2 h: 1 h on Friday, Monday is
    // the holiday, then Tuesday 09:00 EDT (13:00 UTC, no longer 14:00) + 1 h = 14:00 UTC.
    // Resolution, 10 h: 1 h Friday, 8 h Tuesday, Wednesday 09:00 EDT + 1 h = 14:00 UTC.
    let march = open_ticket(&app, customer, "URGENT", "2026-03-06T21:00:00Z").await;
    let march = ticket(&app, &march).await;
    assert_eq!(instant(&march["sla"]["firstResponseDueAt"]), instant(&json!("2026-03-10T14:00:00Z")));
    assert_eq!(instant(&march["sla"]["resolutionDueAt"]), instant(&json!("2026-03-11T14:00:00Z")));

    // Friday 2026-10-30 16:00 EDT (20:00 UTC). First response: 1 h Friday, then Monday
    // 2026-11-02 09:00 EST (14:00 UTC, no longer 13:00) + 1 h = 15:00 UTC. Resolution: 1 h
    // Friday, 8 h Monday, Tuesday 3 November is the yearly holiday, Wednesday 09:00 EST + 1 h.
    let november = open_ticket(&app, customer, "URGENT", "2026-10-30T20:00:00Z").await;
    let november = ticket(&app, &november).await;
    assert_eq!(instant(&november["sla"]["firstResponseDueAt"]), instant(&json!("2026-11-02T15:00:00Z")));
    assert_eq!(instant(&november["sla"]["resolutionDueAt"]), instant(&json!("2026-11-04T15:00:00Z")));
    for breached in [&march, &november] {
        assert_eq!(breached["sla"]["state"], "BREACHED", "{breached}");
    }
}

const IMPORT: &str = "mutation($batch: [ImportTicketInput!]!) { importTickets(batch: $batch) {
    tickets { ticket { id status } } } }";

async fn import(app: &TestApp, rows: Value) -> Vec<String> {
    let data = app.query_ok(&app.supervisor(), IMPORT, json!({ "batch": rows })).await;
    data["importTickets"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["ticket"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_reopen_resumes_the_resolution_clock_where_it_stopped() {
    let app = spawn_app().await;
    let calendar = office_calendar(&app, "UTC office", "UTC", json!([])).await;
    create_policy(
        &app,
        json!({ "name": "Normal office", "priority": "NORMAL", "firstResponseMinutes": 60, "resolutionMinutes": 480,
                "calendarId": calendar }),
    )
    .await;
    create_policy(
        &app,
        json!({ "name": "Low 24/7", "priority": "LOW", "firstResponseMinutes": 60, "resolutionMinutes": 14_400 }),
    )
    .await;
    let customer = app.create_customer("Rosa").await.to_string();
    let row = |reference: &str, priority: &str, opened: &str, resolved: Value, reopened: Value| {
        json!({ "externalRef": reference, "customerId": customer, "subject": "VPN drops", "category": "network",
                "priority": priority, "channel": "EMAIL", "openedAt": opened, "firstResponseAt": opened,
                "resolvedAt": resolved, "reopenedAt": reopened })
    };
    let ids = import(
        &app,
        json!([
            // Monday 2026-11-23 09:00-12:00 ran (3 h), resolved until Wednesday 15:00, reopened:
            // 5 h left, 2 h on Wednesday and 3 h on Thursday: due Thursday 12:00.
            row(
                "reopened",
                "NORMAL",
                "2026-11-23T09:00:00Z",
                json!(["2026-11-23T12:00:00Z"]),
                json!(["2026-11-25T15:00:00Z"])
            ),
            // The same, resolved again on Wednesday at 16:00: 3 h + 1 h, within the 8 h.
            row(
                "resolved twice",
                "NORMAL",
                "2026-11-23T09:00:00Z",
                json!(["2026-11-23T12:00:00Z", "2026-11-25T16:00:00Z"]),
                json!(["2026-11-25T15:00:00Z"])
            ),
            // On the 24/7 calendar: 3 h ran, then resolved.
            row("live reopen", "LOW", "2026-11-30T00:00:00Z", json!(["2026-11-30T03:00:00Z"]), json!([])),
        ]),
    )
    .await;

    let reopened = ticket(&app, &ids[0]).await;
    assert_eq!(reopened["status"], "IN_PROGRESS");
    assert_eq!(instant(&reopened["sla"]["resolutionDueAt"]), instant(&json!("2026-11-26T12:00:00Z")));
    assert_eq!(reopened["sla"]["resolutionState"], "BREACHED");

    let resolved_twice = ticket(&app, &ids[1]).await;
    assert_eq!(resolved_twice["sla"]["resolutionBusinessSeconds"], 4 * 3600);
    assert_eq!(resolved_twice["sla"]["resolutionDueAt"], Value::Null, "stopped short of its target");
    assert_eq!(resolved_twice["sla"]["resolutionState"], "MET");
    // Answered when opened: both clocks stopped in time.
    assert_eq!(resolved_twice["sla"]["state"], "MET");

    let stopped = ticket(&app, &ids[2]).await;
    assert_eq!(stopped["sla"]["resolutionBusinessSeconds"], 3 * 3600);
    assert_eq!(stopped["sla"]["resolutionDueAt"], Value::Null);
    // Reopened now: the 237 h left run from the reopen on the 24/7 calendar.
    let data = app
        .query_ok(
            &app.supervisor(),
            "mutation($id: ID!, $version: Int!) { transitionTicket(id: $id, version: $version, to: IN_PROGRESS) { id } }",
            json!({ "id": ids[2], "version": stopped["version"] }),
        )
        .await;
    assert_eq!(data["transitionTicket"]["id"], json!(ids[2]));
    let resumed = ticket(&app, &ids[2]).await;
    let reopen = events(&resumed, "REOPENED");
    let reopened_at = instant(&reopen[0]["at"]);
    assert_eq!(instant(&resumed["sla"]["resolutionDueAt"]), reopened_at + Duration::hours(240 - 3));
    assert_eq!(resumed["sla"]["resolutionState"], "ON_TRACK");
    let ran = resumed["sla"]["resolutionBusinessSeconds"].as_i64().unwrap();
    assert!((3 * 3600..3 * 3600 + 600).contains(&ran), "3 h before, seconds since the reopen: {ran}");

    // Resolved again: the clock stops, nothing is due.
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!, $version: Int!) { transitionTicket(id: $id, version: $version, to: RESOLVED) { id } }",
        json!({ "id": ids[2], "version": resumed["version"] }),
    )
    .await;
    let again = ticket(&app, &ids[2]).await;
    let resolutions = events(&again, "STATUS_CHANGED");
    let resolved_at = instant(&resolutions.last().unwrap()["at"]);
    let expected = Duration::hours(3) + (resolved_at - reopened_at);
    assert_eq!(again["sla"]["resolutionBusinessSeconds"], expected.num_seconds());
    assert_eq!(again["sla"]["resolutionDueAt"], Value::Null);
    assert_eq!(again["sla"]["resolutionState"], "MET");
    app.assert_kpi_facts_verify_clean();
}

#[tokio::test]
async fn a_priority_change_applies_the_new_policy_and_policy_edits_leave_tickets_alone() {
    let app = spawn_app().await;
    let calendar = office_calendar(&app, "New York office", "America/New_York", json!([])).await;
    create_policy(
        &app,
        json!({ "name": "Normal 24/7", "priority": "NORMAL", "firstResponseMinutes": 600, "resolutionMinutes": 6000 }),
    )
    .await;
    let urgent = create_policy(
        &app,
        json!({ "name": "Urgent NY", "priority": "URGENT", "firstResponseMinutes": 120, "resolutionMinutes": 600,
                "calendarId": calendar }),
    )
    .await;
    let customer = app.create_customer("Omar").await;
    // Friday 2026-03-06 16:00 EST (21:00 UTC), on the 24/7 calendar: due 10 h later.
    let id = open_ticket(&app, customer, "NORMAL", "2026-03-06T21:00:00Z").await;
    let normal = ticket(&app, &id).await;
    assert_eq!(instant(&normal["sla"]["firstResponseDueAt"]), instant(&json!("2026-03-07T07:00:00Z")));

    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!, $version: Int!) { changeTicketPriority(id: $id, version: $version, priority: URGENT) { id } }",
        json!({ "id": id, "version": normal["version"] }),
    )
    .await;
    let changed = ticket(&app, &id).await;
    // Counted again from the opening in the New York office: 1 h on Friday, Monday 09:00 EDT
    // (13:00 UTC) + 1 h.
    assert_eq!(changed["sla"]["policy"]["id"], urgent["id"]);
    assert_eq!(instant(&changed["sla"]["firstResponseDueAt"]), instant(&json!("2026-03-09T14:00:00Z")));
    // 10 h: 1 h Friday, 8 h Monday, Tuesday 09:00 EDT + 1 h.
    assert_eq!(instant(&changed["sla"]["resolutionDueAt"]), instant(&json!("2026-03-10T14:00:00Z")));
    let applied = events(&changed, "SLA_APPLIED");
    assert_eq!(applied.len(), 2, "{changed}");
    assert_eq!(
        (applied[1]["fromValue"].clone(), applied[1]["toValue"].clone()),
        (json!("Normal 24/7"), json!("Urgent NY"))
    );
    let priority_event = events(&changed, "PRIORITY_CHANGED");
    assert_eq!(priority_event[0]["at"], applied[1]["at"], "one change, one instant");
    assert_eq!(instant(&changed["sla"]["appliedAt"]), instant(&applied[1]["at"]));

    // Editing the policy changes what new tickets get, not what this one carries.
    app.query_ok(
        &app.admin(),
        "mutation($id: ID!, $input: SlaPolicyInput!) { updateSlaPolicy(id: $id, version: 1, input: $input) { version } }",
        json!({ "id": urgent["id"], "input": { "name": "Urgent NY v2", "priority": "URGENT", "firstResponseMinutes": 30,
                                                "resolutionMinutes": 60, "calendarId": calendar } }),
    )
    .await;
    let kept = ticket(&app, &id).await;
    for field in ["policy", "appliedAt", "firstResponseDueAt", "resolutionDueAt"] {
        assert_eq!(kept["sla"][field], changed["sla"][field], "{field}");
    }
    assert_eq!(kept["sla"]["policy"]["firstResponseMinutes"], 120);

    // No policy covers LOW: the ticket leaves its SLA behind, and says so.
    app.query_ok(
        &app.supervisor(),
        "mutation($id: ID!, $version: Int!) { changeTicketPriority(id: $id, version: $version, priority: LOW) { id } }",
        json!({ "id": id, "version": kept["version"] }),
    )
    .await;
    let uncovered = ticket(&app, &id).await;
    assert_eq!(uncovered["sla"], Value::Null);
    let applied = events(&uncovered, "SLA_APPLIED");
    assert_eq!((applied[2]["fromValue"].clone(), applied[2]["toValue"].clone()), (json!("Urgent NY"), Value::Null));
    // Applied, replaced and removed: the ticket's KPI facts followed each time.
    app.assert_kpi_facts_verify_clean();
}

#[tokio::test]
async fn the_sla_state_filter_lists_what_breaks_next_first_and_agrees_with_each_ticket() {
    let app = spawn_app().await;
    create_policy(
        &app,
        json!({ "name": "High 24/7", "priority": "HIGH", "firstResponseMinutes": 100, "resolutionMinutes": 1000 }),
    )
    .await;
    // Network tickets of HIGH priority have their own, tighter policy.
    create_policy(
        &app,
        json!({ "name": "High network", "priority": "HIGH", "category": "network", "firstResponseMinutes": 50,
                "resolutionMinutes": 500, "atRiskPercent": 50 }),
    )
    .await;
    let customer = app.create_customer("Lena").await;
    let sam = app.supervisor();
    let mut ids = HashMap::new();
    // On track: due in 100 min. At risk: 90 of 100 minutes gone (risk from 80). Breached: 120
    // minutes gone. Network, 30 of 50 minutes gone: at risk from 25.
    for (name, minutes, category) in [
        ("on track", 0, "hardware"),
        ("at risk", 90, "hardware"),
        ("breached", 120, "hardware"),
        ("network", 30, "network"),
    ] {
        let opened = if minutes == 0 { Utc::now().to_rfc3339() } else { ago(minutes) };
        let created = app
            .create_ticket(&sam, customer, json!({ "priority": "HIGH", "category": category, "openedAt": opened }))
            .await;
        ids.insert(name, created["id"].as_str().unwrap().to_owned());
    }
    // No policy covers NORMAL: never listed by SLA state.
    app.create_ticket(&sam, customer, json!({ "priority": "NORMAL" })).await;

    let list = format!(
        "query($states: [SlaState!], $after: String, $first: Int) {{
            tickets(filter: {{ slaState: $states }}, first: $first, after: $after) {{
                totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ id {SLA_FIELDS} }} }} }}"
    );
    let names = |page: &Value| -> Vec<String> {
        let by_id: HashMap<&String, &str> = ids.iter().map(|(name, id)| (id, *name)).collect();
        page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| by_id[&node["id"].as_str().unwrap().to_owned()].to_owned())
            .collect()
    };
    let running =
        app.query_ok(&sam, &list, json!({ "states": ["ON_TRACK", "AT_RISK", "BREACHED"] })).await["tickets"].clone();
    // Nearest due first: breached (due 20 min ago), at risk (in 10), network (in 20), on track (in 100).
    assert_eq!(names(&running), ["breached", "at risk", "network", "on track"]);
    assert_eq!(running["totalCount"], 4);
    for (state, expected) in
        [("ON_TRACK", vec!["on track"]), ("AT_RISK", vec!["at risk", "network"]), ("BREACHED", vec!["breached"])]
    {
        let page = app.query_ok(&sam, &list, json!({ "states": [state] })).await["tickets"].clone();
        assert_eq!(names(&page), expected, "{state}");
        for node in page["nodes"].as_array().unwrap() {
            assert_eq!(node["sla"]["state"], state, "the filter and the ticket agree: {node}");
        }
    }
    let network = running["nodes"].as_array().unwrap().iter().find(|node| node["id"] == json!(ids["network"])).unwrap();
    assert_eq!(network["sla"]["policy"]["name"], "High network");
    assert_eq!(app.query_ok(&sam, &list, json!({ "states": ["MET"] })).await["tickets"]["totalCount"], 0);

    // Page by page, the same order.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .query_ok(&sam, &list, json!({ "states": ["ON_TRACK", "AT_RISK", "BREACHED"], "first": 1, "after": after }))
            .await["tickets"]
            .clone();
        seen.extend(names(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["breached", "at risk", "network", "on track"]);

    // SLA_DUE also orders a whole list: tickets without a running clock last, and back again.
    let ordered = "query($direction: SortDirection!, $after: String) {
        tickets(orderBy: { field: SLA_DUE, direction: $direction }, first: 2, after: $after) {
            pageInfo { hasNextPage endCursor } nodes { id sla { state } customer { name } } } }";
    let mut ascending = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.query_ok(&sam, ordered, json!({ "direction": "ASC", "after": after })).await["tickets"].clone();
        ascending.extend(page["nodes"].as_array().unwrap().iter().map(|node| node["id"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(ascending.len(), 5);
    let mut descending = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.query_ok(&sam, ordered, json!({ "direction": "DESC", "after": after })).await["tickets"].clone();
        descending.extend(page["nodes"].as_array().unwrap().iter().map(|node| node["id"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    descending.reverse();
    assert_eq!(ascending, descending);
    assert_eq!(ascending[0], json!(ids["breached"]));
    assert!(!ids.values().any(|id| json!(id) == ascending[4]), "the uncovered ticket comes last");
}

#[tokio::test]
async fn only_admins_manage_calendars_and_policies_and_bad_ones_are_refused() {
    let app = spawn_app().await;
    let input = json!({ "name": "Night desk", "timeZone": "Europe/Berlin",
                        "weeklyHours": [{ "day": "MONDAY", "intervals": [{ "start": "22:00", "end": "24:00" }] }] });
    let create = "mutation($input: BusinessCalendarInput!) { createBusinessCalendar(input: $input) {
        id name timeZone isDefault weeklyHours { day intervals { start end } } } }";
    let (code, _) = app.query_error(&app.supervisor(), create, json!({ "input": input })).await;
    assert_eq!(code, "FORBIDDEN");
    let created = app.query_ok(&app.admin(), create, json!({ "input": input })).await["createBusinessCalendar"].clone();
    assert_eq!(
        created["weeklyHours"],
        json!([{ "day": "MONDAY", "intervals": [{ "start": "22:00", "end": "24:00" }] }])
    );

    for (bad, field) in [
        (json!({ "timeZone": "Mars/Olympus" }), "input.timeZone"),
        (json!({ "weeklyHours": [] }), "input.weeklyHours"),
        (
            json!({ "weeklyHours": [{ "day": "MONDAY", "intervals": [{ "start": "09:00", "end": "25:00" }] }] }),
            "input.weeklyHours[0].intervals[0].end",
        ),
        (
            json!({ "weeklyHours": [{ "day": "MONDAY", "intervals": [{ "start": "09:00", "end": "12:00" }, { "start": "11:00", "end": "13:00" }] }] }),
            "input.weeklyHours (Monday)",
        ),
    ] {
        let mut input = input.clone();
        input["name"] = json!(format!("bad {field}"));
        for (key, value) in bad.as_object().unwrap() {
            input[key] = value.clone();
        }
        let (code, error) = app.query_error(&app.admin(), create, json!({ "input": input })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{error}");
        assert!(error["message"].as_str().unwrap().starts_with(field), "{field}: {error}");
    }

    let policy =
        json!({ "name": "Urgent", "priority": "URGENT", "firstResponseMinutes": 15, "resolutionMinutes": 240 });
    let create_policy_query =
        "mutation($input: SlaPolicyInput!) { createSlaPolicy(input: $input) { id calendar { isDefault } } }";
    let (code, _) = app.query_error(&app.supervisor(), create_policy_query, json!({ "input": policy })).await;
    assert_eq!(code, "FORBIDDEN");
    let made = app.query_ok(&app.admin(), create_policy_query, json!({ "input": policy })).await;
    assert_eq!(made["createSlaPolicy"]["calendar"]["isDefault"], true, "the 24/7 calendar by default");
    let (code, _) = app.query_error(&app.admin(), create_policy_query, json!({ "input": policy })).await;
    assert_eq!(code, "CONFLICT", "one policy per priority and category");
    let (code, _) = app
        .query_error(
            &app.admin(),
            create_policy_query,
            json!({ "input": { "name": "x", "priority": "LOW",
            "firstResponseMinutes": 0, "resolutionMinutes": 10 } }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    // The default calendar and a calendar in use stay.
    let calendars = app
        .query_ok(&app.supervisor(), "{ businessCalendars { id name isDefault } slaPolicies { name } }", json!({}))
        .await;
    assert_eq!(calendars["businessCalendars"][0]["name"], "24/7");
    let default_id = calendars["businessCalendars"][0]["id"].clone();
    let delete = "mutation($id: ID!) { deleteBusinessCalendar(id: $id) }";
    let (code, _) = app.query_error(&app.admin(), delete, json!({ "id": default_id })).await;
    assert_eq!(code, "CONFLICT");
    assert_eq!(
        app.query_ok(&app.admin(), delete, json!({ "id": created["id"] })).await["deleteBusinessCalendar"],
        true
    );
    let (status, body) = app
        .graphql(Some(&app.token(deskpulse::auth::Role::Technician, "tess")), delete, json!({ "id": default_id }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}

#[tokio::test]
async fn two_racing_schedulers_record_each_breach_once_at_its_instant() {
    let app = spawn_app().await;
    create_policy(
        &app,
        json!({ "name": "Normal 24/7", "priority": "NORMAL", "firstResponseMinutes": 30, "resolutionMinutes": 60 }),
    )
    .await;
    let customer = app.create_customer("Ravi").await;
    let sam = app.supervisor();
    let mut tickets = Vec::new();
    // Opened 2 h ago: the first response was due after 30 min, the resolution after 60.
    for _ in 0..12 {
        let opened = Utc::now() - Duration::hours(2);
        let created =
            app.create_ticket(&sam, customer, json!({ "priority": "NORMAL", "openedAt": opened.to_rfc3339() })).await;
        tickets.push((created["id"].as_str().unwrap().to_owned(), opened));
    }
    // Still on track: nothing to record.
    let fresh = app.create_ticket(&sam, customer, json!({ "priority": "NORMAL" })).await;

    let mut settings = serve_settings(&app.database.url);
    settings.sla_watch.enabled = true;
    settings.sla_watch.check_interval = StdDuration::from_millis(20);
    let servers = [start_servers(&settings).await, start_servers(&settings).await];
    let expected = 2 * tickets.len() as i64;
    wait_until("every breach is recorded", || async {
        app.count("SELECT count(*) FROM ticket_events WHERE kind = 'SLA_BREACHED'") >= expected
    })
    .await;
    // Many more passes of both after that: none records anything again.
    for (_, metrics) in &servers {
        let metrics = metrics.as_deref().unwrap();
        let passes = counter(&app.client, metrics, "deskpulse_sla_watch_passes_total").await;
        wait_for_counter(&app.client, metrics, "deskpulse_sla_watch_passes_total", passes + 10).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM ticket_events WHERE kind = 'SLA_BREACHED'"), expected);
    let mut recorded_by_servers = 0;
    for (_, metrics) in &servers {
        recorded_by_servers +=
            counter(&app.client, metrics.as_deref().unwrap(), "deskpulse_sla_breaches_recorded_total").await;
    }
    assert_eq!(recorded_by_servers as i64, expected, "each breach counted by the one instance that recorded it");

    for (id, opened) in &tickets {
        let found = ticket(&app, id).await;
        let breaches = events(&found, "SLA_BREACHED");
        let mut clocks: Vec<(String, DateTime<Utc>)> = breaches
            .iter()
            .map(|event| (event["toValue"].as_str().unwrap().to_owned(), instant(&event["at"])))
            .collect();
        clocks.sort();
        // Dated at the breach (microseconds as stored), not when it was seen.
        let micros = |at: DateTime<Utc>| DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap();
        assert_eq!(
            clocks,
            [
                ("FIRST_RESPONSE".to_owned(), micros(*opened + Duration::minutes(30))),
                ("RESOLUTION".to_owned(), micros(*opened + Duration::minutes(60))),
            ],
            "{found}"
        );
        assert!(breaches.iter().all(|event| event["actor"] == "scheduler" && event["note"] == "Normal 24/7"));
    }
    let fresh = ticket(&app, fresh["id"].as_str().unwrap()).await;
    assert!(events(&fresh, "SLA_BREACHED").is_empty(), "{fresh}");
}

/// Posts `query` and returns the body's data and the statements the request ran.
async fn counted(app: &TestApp, query: &str, variables: Value) -> (Value, u64) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(app.supervisor())
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let statements: u64 = response.headers()["x-db-statements"].to_str().unwrap().parse().unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    (body["data"].clone(), statements)
}

#[tokio::test]
async fn the_write_path_pays_for_sla_only_where_a_clock_changes_and_lists_stay_constant() {
    let app = spawn_app().await;
    create_policy(
        &app,
        json!({ "name": "High 24/7", "priority": "HIGH", "firstResponseMinutes": 60, "resolutionMinutes": 600 }),
    )
    .await;
    let customer = app.create_customer("Mia").await.to_string();
    let create = "mutation($priority: Priority!, $customer: ID!) { createTicket(input: { customerId: $customer,
        subject: \"Laptop\", category: \"hardware\", channel: PHONE, priority: $priority }) { id version } }";
    let transition = "mutation($id: ID!, $version: Int!, $to: TicketStatus!) {
        transitionTicket(id: $id, version: $version, to: $to) { id version } }";
    let assign =
        "mutation($id: ID!, $version: Int!) { addTicketNote(id: $id, version: $version, note: \"n\") { id version } }";

    // The same steps for a ticket without policy (NORMAL) and one with (HIGH).
    let mut costs: HashMap<&str, Vec<u64>> = HashMap::new();
    for priority in ["NORMAL", "HIGH"] {
        let (created, cost) = counted(&app, create, json!({ "priority": priority, "customer": customer })).await;
        costs.entry("create").or_default().push(cost);
        let id = created["createTicket"]["id"].clone();
        let mut version = created["createTicket"]["version"].clone();
        for (step, query, to) in [
            ("note", assign, None),
            ("open -> in progress", transition, Some("IN_PROGRESS")),
            ("resolve", transition, Some("RESOLVED")),
            ("reopen", transition, Some("IN_PROGRESS")),
        ] {
            let (data, cost) = counted(&app, query, json!({ "id": id, "version": version, "to": to })).await;
            let result = data.as_object().unwrap().values().next().unwrap();
            version = result["version"].clone();
            costs.entry(step).or_default().push(cost);
        }
    }
    // Opening: a ticket no policy covers is opened in one statement (`ticket_open`, which looks
    // the policy up itself); one a policy covers is refused by it and opened in a transaction
    // with its SLA.
    assert_eq!(costs["create"][0], 1, "{costs:?}");
    assert!(costs["create"][1] > costs["create"][0], "{costs:?}");
    // Notes and changes that neither stop nor resume the resolution clock cost nothing more.
    assert_eq!(costs["note"][1], costs["note"][0], "{costs:?}");
    assert_eq!(costs["open -> in progress"][1], costs["open -> in progress"][0], "{costs:?}");
    // Stopping and resuming: the ticket's read says whether it carries an SLA; one without is
    // changed in one statement (`ticket_apply_change`), one with in a transaction with its SLA.
    for step in ["note", "resolve", "reopen"] {
        assert_eq!(costs[step][0], 2, "{step}: {costs:?}");
    }
    assert!(costs["resolve"][1] > costs["resolve"][0], "{costs:?}");
    assert!(costs["reopen"][1] > costs["reopen"][0], "{costs:?}");

    for _ in 0..30 {
        app.create_ticket(&app.supervisor(), customer.parse().unwrap(), json!({ "priority": "HIGH" })).await;
    }
    let list = "query($first: Int) { tickets(first: $first, filter: { slaState: [ON_TRACK] }) {
        nodes { id sla { state firstResponseDueAt policy { name } } } } }";
    let (small, few) = counted(&app, list, json!({ "first": 2 })).await;
    let (large, many) = counted(&app, list, json!({ "first": 30 })).await;
    assert_eq!(small["tickets"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(large["tickets"]["nodes"].as_array().unwrap().len(), 30);
    assert_eq!(few, many, "a page of 30 costs what a page of 2 does");
}

const SLA_KPIS: &str = "slaFirstResponse { stopped met attainment breaches businessSecondsMean }
    slaResolution { stopped met attainment breaches businessSecondsMean }";

#[tokio::test]
async fn sla_kpis_count_attainment_breaches_and_business_time_in_every_kpi_view() {
    let app = spawn_app().await;
    let calendar = office_calendar(&app, "UTC office", "UTC", json!([])).await;
    create_policy(
        &app,
        json!({ "name": "Normal office", "priority": "NORMAL", "firstResponseMinutes": 60, "resolutionMinutes": 480,
                "calendarId": calendar }),
    )
    .await;
    let tess = app.create_technician("Tess Tech", "L1").await.to_string();
    let customer = app.create_customer("Rosa").await.to_string();
    let row = |reference: &str, priority: &str, assignee: Option<&str>, times: Value| {
        let mut row = json!({ "externalRef": reference, "customerId": customer, "subject": "VPN drops",
                              "category": "network", "priority": priority, "channel": "EMAIL", "assigneeId": assignee });
        row.as_object_mut().unwrap().extend(times.as_object().unwrap().clone());
        row
    };
    // The office is open Monday to Friday 09:00-17:00 UTC; the week of Monday 2026-11-23.
    import(
        &app,
        json!([
            // Answered after 30 business minutes, resolved after 3 business hours: both met.
            row("A", "NORMAL", Some(&tess), json!({ "openedAt": "2026-11-23T09:00:00Z",
                "firstResponseAt": "2026-11-23T09:30:00Z", "resolvedAt": ["2026-11-23T12:00:00Z"] })),
            // Opened Monday 16:00: the response was due at 17:00 and came Tuesday 10:00 (1 h + 1 h
            // = 120 business minutes). Resolved by mistake at 10:30 and reopened at once, resolved
            // Wednesday 16:00 after 1 + 8 + 7 = 16 business hours: past its 8 hours on Tuesday
            // at 16:00.
            row("B", "NORMAL", Some(&tess), json!({ "openedAt": "2026-11-23T16:00:00Z",
                "firstResponseAt": "2026-11-24T10:00:00Z", "resolvedAt": ["2026-11-24T10:30:00Z", "2026-11-25T16:00:00Z"],
                "reopenedAt": ["2026-11-24T10:30:00Z"] })),
            // Answered when opened; 3 h ran, then resolved until Wednesday 15:00, reopened and still
            // open: its 5 h left ran out on Thursday at 12:00.
            row("D", "NORMAL", None, json!({ "openedAt": "2026-11-23T09:00:00Z", "firstResponseAt": "2026-11-23T09:00:00Z",
                "resolvedAt": ["2026-11-23T12:00:00Z"], "reopenedAt": ["2026-11-25T15:00:00Z"] })),
            // No policy covers HIGH: no SLA, in no SLA figure.
            row("C", "HIGH", Some(&tess), json!({ "openedAt": "2026-11-24T09:00:00Z",
                "firstResponseAt": "2026-11-24T11:00:00Z", "resolvedAt": ["2026-11-24T17:00:00Z"] })),
        ]),
    )
    .await;
    let week = json!({ "from": "2026-11-23T00:00:00Z", "to": "2026-11-30T00:00:00Z" });

    let summary = app
        .query_ok(
            &app.supervisor(),
            &format!(
                "query($period: PeriodInput!) {{ kpis(period: $period) {{ current {{ {SLA_KPIS}
                metrics(metrics: [SLA_FIRST_RESPONSE_ATTAINMENT, SLA_RESOLUTION_BREACHES]) {{ metric value }} }} }} }}"
            ),
            json!({ "period": week }),
        )
        .await;
    let current = &summary["kpis"]["current"];
    // First responses in the week: A, B, D; A and D in time; B's due instant passed unanswered.
    // Business time: (30 + 120 + 0) / 3 minutes.
    assert_eq!(
        current["slaFirstResponse"],
        json!({ "stopped": 3, "met": 2, "attainment": 2.0 / 3.0, "breaches": 1, "businessSecondsMean": 3000.0 })
    );
    // Resolved in the week (and resolved now): A and B; B and D ran past their target in it.
    // Business time: (3 + 16) / 2 hours.
    assert_eq!(
        current["slaResolution"],
        json!({ "stopped": 2, "met": 1, "attainment": 0.5, "breaches": 2, "businessSecondsMean": 34200.0 })
    );
    assert_eq!(
        current["metrics"],
        json!([{ "metric": "SLA_FIRST_RESPONSE_ATTAINMENT", "value": 2.0 / 3.0 },
               { "metric": "SLA_RESOLUTION_BREACHES", "value": 2.0 }])
    );

    // By day: each stop and each breach in the day it happened.
    let series = app
        .query_ok(
            &app.supervisor(),
            &format!(
                "query($period: PeriodInput!) {{ kpiSeries(period: $period, timeZone: \"UTC\", bucket: DAY) {{
                starts values {{ {SLA_KPIS} }} }} }}"
            ),
            json!({ "period": week }),
        )
        .await;
    let days: Vec<(i64, i64, i64, i64, i64, i64)> = series["kpiSeries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| {
            let (first, resolution) = (&point["values"]["slaFirstResponse"], &point["values"]["slaResolution"]);
            let n = |value: &Value| value.as_i64().unwrap();
            (
                n(&first["stopped"]),
                n(&first["met"]),
                n(&first["breaches"]),
                n(&resolution["stopped"]),
                n(&resolution["met"]),
                n(&resolution["breaches"]),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            (2, 2, 1, 1, 1, 0), // Monday: A and D answered, B due at 17:00 unanswered; A resolved
            (1, 0, 0, 0, 0, 1), // Tuesday: B answered late; B's resolution clock ran out at 16:00
            (0, 0, 0, 1, 0, 0), // Wednesday: B resolved, late
            (0, 0, 0, 0, 0, 1), // Thursday: D's clock ran out at 12:00
            (0, 0, 0, 0, 0, 0),
            (0, 0, 0, 0, 0, 0),
            (0, 0, 0, 0, 0, 0),
        ]
    );

    // The leaderboard: Tess has A and B (C carries no SLA).
    let board = app
        .query_ok(
            &app.supervisor(),
            &format!(
                "query($period: PeriodInput!) {{ technicianPerformance(period: $period, includeUnassigned: true) {{
                technician {{ name }} {SLA_KPIS} }} }}"
            ),
            json!({ "period": week }),
        )
        .await;
    let tess_row = board["technicianPerformance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["technician"]["name"] == "Tess Tech")
        .cloned()
        .unwrap();
    assert_eq!(
        tess_row["slaFirstResponse"],
        json!({ "stopped": 2, "met": 1, "attainment": 0.5, "breaches": 1, "businessSecondsMean": 4500.0 })
    );
    assert_eq!(
        tess_row["slaResolution"],
        json!({ "stopped": 2, "met": 1, "attainment": 0.5, "breaches": 1, "businessSecondsMean": 34200.0 })
    );

    // A stored report keeps them, and its CSV lists them.
    let report = app
        .query_ok(
            &app.supervisor(),
            &format!(
                "mutation {{ generateReport(kind: WEEK, periodStart: \"2026-11-23\") {{ id
                current {{ {SLA_KPIS} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(report["generateReport"]["current"]["slaResolution"], current["slaResolution"]);
    let id = report["generateReport"]["id"].as_str().unwrap();
    let csv = app
        .client
        .get(format!("{}/export/reports/{id}.csv", app.address))
        .bearer_auth(app.supervisor())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attainment = csv
        .lines()
        .find(|line| line.starts_with("summary,,,,SLA_RESOLUTION_ATTAINMENT,"))
        .unwrap_or_else(|| panic!("no SLA row in {csv}"));
    assert!(attainment.starts_with("summary,,,,SLA_RESOLUTION_ATTAINMENT,0.5,"), "{attainment}");

    // The facts the engine read are the ones the records give.
    app.assert_kpi_facts_verify_clean();
}
