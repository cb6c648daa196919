//! The customer interaction log and its effect on first responses.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const LOG: &str = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id occurredAt } }";
const FIRST_RESPONSE: &str = "query($id: ID!) { ticket(id: $id) { firstResponseAt } }";

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("an instant")).unwrap().with_timezone(&Utc)
}

async fn first_response(app: &TestApp, token: &str, id: &str) -> Value {
    app.query_ok(token, FIRST_RESPONSE, json!({ "id": id })).await["ticket"]["firstResponseAt"].clone()
}

async fn log(app: &TestApp, token: &str, input: Value) -> Value {
    app.query_ok(token, LOG, json!({ "input": input })).await["logInteraction"].clone()
}

#[tokio::test]
async fn first_response_is_the_earliest_of_outbound_contact_and_leaving_open_in_either_order() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let customer = app.create_customer("Responsive").await.to_string();
    let transition = "mutation($id: ID!, $version: Int!) { transitionTicket(id: $id, version: $version, to: IN_PROGRESS) { firstResponseAt } }";

    // Outbound contact first, then the transition: the contact is the first response.
    let a = app.create_ticket(&sam, customer.parse().unwrap(), json!({ "openedAt": ago(120) })).await;
    let a_id = a["id"].as_str().unwrap();
    let inbound = log(&app, &sam, json!({ "customerId": customer, "ticketId": a_id, "channel": "EMAIL", "direction": "INBOUND", "occurredAt": ago(100), "summary": "Customer wrote in" })).await;
    assert_eq!(first_response(&app, &sam, a_id).await, Value::Null, "inbound contact is not a response");
    let reply = log(&app, &sam, json!({ "customerId": customer, "ticketId": a_id, "channel": "CALL", "direction": "OUTBOUND", "occurredAt": ago(60), "durationSeconds": 300, "summary": "Called back" })).await;
    assert_eq!(instant(&first_response(&app, &sam, a_id).await), instant(&reply["occurredAt"]));
    let moved = app.query_ok(&sam, transition, json!({ "id": a_id, "version": 1 })).await;
    assert_eq!(
        instant(&moved["transitionTicket"]["firstResponseAt"]),
        instant(&reply["occurredAt"]),
        "the earlier one stays"
    );
    assert!(instant(&inbound["occurredAt"]) < instant(&reply["occurredAt"]));

    // The transition first, then an outbound contact logged with an earlier time: it wins.
    let b = app.create_ticket(&sam, customer.parse().unwrap(), json!({ "openedAt": ago(120) })).await;
    let b_id = b["id"].as_str().unwrap();
    let moved = app.query_ok(&sam, transition, json!({ "id": b_id, "version": 1 })).await;
    let left_open = instant(&moved["transitionTicket"]["firstResponseAt"]);
    log(&app, &sam, json!({ "customerId": customer, "ticketId": b_id, "channel": "EMAIL", "direction": "OUTBOUND", "summary": "Later mail" })).await;
    assert_eq!(instant(&first_response(&app, &sam, b_id).await), left_open, "a later contact changes nothing");
    let earlier = log(&app, &sam, json!({ "customerId": customer, "ticketId": b_id, "channel": "CHAT", "direction": "OUTBOUND", "occurredAt": ago(90), "summary": "Chatted" })).await;
    assert_eq!(instant(&first_response(&app, &sam, b_id).await), instant(&earlier["occurredAt"]));

    // A contact from before the ticket was opened is not a response to it.
    let c = app.create_ticket(&sam, customer.parse().unwrap(), json!({ "openedAt": ago(30) })).await;
    let c_id = c["id"].as_str().unwrap();
    log(&app, &sam, json!({ "customerId": customer, "ticketId": c_id, "channel": "EMAIL", "direction": "OUTBOUND", "occurredAt": ago(45), "summary": "Old mail" })).await;
    assert_eq!(first_response(&app, &sam, c_id).await, Value::Null);
}

#[tokio::test]
async fn bad_interactions_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let alice = app.create_customer("Alice").await.to_string();
    let bob = app.create_customer("Bob").await;
    let bobs_ticket = app.create_ticket(&sam, bob, json!({})).await;
    let base = json!({ "customerId": alice, "channel": "CALL", "direction": "INBOUND", "durationSeconds": 60, "summary": "Hello" });
    let with = |key: &str, value: Value| {
        let mut input = base.clone();
        input[key] = value;
        json!({ "input": input })
    };
    let cases = [
        (with("durationSeconds", Value::Null), "BAD_USER_INPUT", "durationSeconds"),
        (with("durationSeconds", json!(-5)), "BAD_USER_INPUT", "durationSeconds"),
        (with("ticketId", bobs_ticket["id"].clone()), "BAD_USER_INPUT", "ticketId"),
        (with("occurredAt", json!((Utc::now() + Duration::hours(1)).to_rfc3339())), "BAD_USER_INPUT", "occurredAt"),
        (with("summary", json!(" ")), "BAD_USER_INPUT", "summary"),
        (with("customerId", json!("999")), "NOT_FOUND", ""),
    ];
    for (variables, code, field) in cases {
        let (got, error) = app.query_error(&sam, LOG, variables.clone()).await;
        assert_eq!(got, code, "{variables}: {error}");
        if !field.is_empty() {
            assert_eq!(error["extensions"]["field"], field, "{error}");
        }
    }
    let tess = app.technician_token("tess", 1);
    let (code, _) = app.query_error(&tess, LOG, with("technicianId", json!("2"))).await;
    assert_eq!(code, "FORBIDDEN", "a technician logs only as themselves");
    assert_eq!(app.count("SELECT count(*) FROM interactions"), 0);
}

#[tokio::test]
async fn a_customer_view_shows_tickets_and_the_whole_interaction_history_filtered_newest_first() {
    let app = spawn_app().await;
    let tess_id = app.create_technician("Tess", "L1").await;
    let tess = app.technician_token("tess", tess_id);
    let customer = app.create_customer("Historian").await;
    let other = app.create_customer("Other").await.to_string();
    let ticket = app.create_ticket(&tess, customer, json!({ "assigneeId": tess_id.to_string() })).await;
    let ticket_id = ticket["id"].as_str().unwrap();
    let entries = [
        ("CALL", "INBOUND", 50, Some(ticket_id), "first call"),
        ("EMAIL", "OUTBOUND", 40, Some(ticket_id), "reply"),
        ("CHAT", "INBOUND", 30, None, "general question"),
        ("EMAIL", "INBOUND", 20, None, "thanks"),
    ];
    let mut ids = Vec::new();
    for (channel, direction, minutes, ticket, summary) in entries {
        let logged = log(&app, &tess, json!({ "customerId": customer.to_string(), "ticketId": ticket, "channel": channel, "direction": direction, "occurredAt": ago(minutes), "durationSeconds": if channel == "CALL" { json!(120) } else { Value::Null }, "summary": summary })).await;
        ids.push(logged["id"].as_str().unwrap().to_owned());
    }
    log(
        &app,
        &tess,
        json!({ "customerId": other, "channel": "EMAIL", "direction": "INBOUND", "summary": "not theirs" }),
    )
    .await;
    let correction = log(&app, &tess, json!({ "customerId": customer.to_string(), "channel": "EMAIL", "direction": "INBOUND", "occurredAt": ago(20), "summary": "thanks (it was a web form)", "correctsId": ids[3] })).await;

    let view = "query($id: ID!, $filter: InteractionFilterInput) { customer(id: $id) {
        tickets { totalCount nodes { number } }
        interactions(filter: $filter, first: 2) { totalCount edges { node { summary technician { name } corrects { summary } } } pageInfo { hasNextPage } }
    } }";
    let data = app.query_ok(&tess, view, json!({ "id": customer.to_string() })).await;
    let customer_view = &data["customer"];
    assert_eq!(customer_view["tickets"]["totalCount"], 1);
    assert_eq!(customer_view["interactions"]["totalCount"], 5);
    let summaries: Vec<&str> = customer_view["interactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        ["thanks (it was a web form)", "thanks"],
        "newest first, the later-logged correction of an equal time first"
    );
    assert_eq!(customer_view["interactions"]["edges"][0]["node"]["corrects"]["summary"], "thanks");
    assert_eq!(customer_view["interactions"]["edges"][0]["node"]["technician"]["name"], "Tess");
    assert_eq!(customer_view["interactions"]["pageInfo"]["hasNextPage"], true);

    let inbound_mail = app
        .query_ok(
            &tess,
            view,
            json!({ "id": customer.to_string(), "filter": { "channel": ["EMAIL"], "direction": "INBOUND" } }),
        )
        .await;
    assert_eq!(inbound_mail["customer"]["interactions"]["totalCount"], 2);
    let window = app
        .query_ok(
            &tess,
            view,
            json!({ "id": customer.to_string(), "filter": { "occurredAt": { "from": ago(45), "to": ago(25) } } }),
        )
        .await;
    assert_eq!(window["customer"]["interactions"]["totalCount"], 2);

    let on_ticket = app
        .query_ok(
            &tess,
            "query($id: ID!) { ticket(id: $id) { interactions { nodes { summary } } } }",
            json!({ "id": ticket_id }),
        )
        .await;
    assert_eq!(
        on_ticket["ticket"]["interactions"]["nodes"],
        json!([{ "summary": "reply" }, { "summary": "first call" }])
    );

    // Across customers too, for every staff role.
    let all = "{ interactions(filter: { direction: INBOUND }) { totalCount } }";
    for token in [&tess, &app.supervisor()] {
        let data = app.query_ok(token, all, json!({})).await;
        assert_eq!(data["interactions"]["totalCount"], 5);
    }

    // The log is append-only, also for SQL that bypasses the API.
    let edited = diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE interactions SET summary = 'rewritten' WHERE id = {}",
            correction["id"].as_str().unwrap()
        )),
        &mut app.database.connect(),
    );
    assert!(edited.is_err(), "the database refuses to edit an interaction");
}

/// One rule (domain::permissions::may_read_interactions) on every path: a technician reads the
/// same entries as a supervisor through the root list, a customer and a ticket, also entries of
/// tickets that are not theirs.
#[tokio::test]
async fn technicians_and_supervisors_read_the_same_interactions_on_every_path() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let tess_id = app.create_technician("Tess", "L1").await;
    let tom_id = app.create_technician("Tom", "L1").await;
    let customer = app.create_customer("Shared").await;
    let ticket = app.create_ticket(&sam, customer, json!({ "assigneeId": tom_id.to_string() })).await;
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    for (technician, summary, on_ticket) in [(tom_id, "Tom called", true), (tess_id, "Tess wrote", false)] {
        log(
            &app,
            &sam,
            json!({ "customerId": customer.to_string(), "ticketId": on_ticket.then_some(&ticket_id),
            "technicianId": technician.to_string(), "channel": "EMAIL", "direction": "OUTBOUND", "summary": summary }),
        )
        .await;
    }
    let paths = "query($customer: ID!, $ticket: ID!, $tom: ID!) {
        all: interactions(filter: { technicianId: $tom }) { totalCount nodes { summary } }
        customer(id: $customer) { interactions { totalCount nodes { summary } } }
        ticket(id: $ticket) { interactions { totalCount nodes { summary } } }
    }";
    let variables = json!({ "customer": customer.to_string(), "ticket": ticket_id, "tom": tom_id.to_string() });
    let supervisor_view = app.query_ok(&sam, paths, variables.clone()).await;
    assert_eq!(supervisor_view["all"]["nodes"], json!([{ "summary": "Tom called" }]));
    assert_eq!(supervisor_view["customer"]["interactions"]["totalCount"], 2);
    assert_eq!(supervisor_view["ticket"]["interactions"]["nodes"], json!([{ "summary": "Tom called" }]));

    let readers = [
        ("Tess, whose ticket it is not", app.technician_token("tess", tess_id)),
        ("Tom, its assignee", app.technician_token("tom", tom_id)),
        ("a technician token without technician_id", app.token(deskpulse::auth::Role::Technician, "kiosk")),
        ("an admin", app.admin()),
    ];
    for (who, token) in readers {
        let (status, body) = app.graphql(Some(&token), paths, variables.clone()).await;
        assert_eq!(status, 200, "{who}: {body}");
        assert!(body.get("errors").is_none(), "{who}: {body}");
        assert_eq!(body["data"], supervisor_view, "{who} reads what a supervisor reads");
    }
}
