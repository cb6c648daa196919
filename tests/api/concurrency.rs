//! 64 clients at once creating, transitioning and rating the same tickets: no event is lost, no
//! ticket reaches a state the lifecycle forbids, no ticket number repeats.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::RunQueryDsl;
use serde_json::json;

use crate::helpers::{TestApp, error_codes, spawn_app_with};

const CLIENTS: usize = 64;
const STEPS: usize = 10;
const SHARED_TICKETS: usize = 12;

const CREATE: &str = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id number } }";
const READ: &str = "query($id: ID!) { ticket(id: $id) { status version allowedNextStatuses } }";
const TRANSITION: &str = "mutation($id: ID!, $version: Int!, $to: TicketStatus!) { transitionTicket(id: $id, version: $version, to: $to) { version } }";
const RATE: &str =
    "mutation($id: ID!, $rating: Int!) { recordSatisfaction(ticketId: $id, rating: $rating) { rating } }";

/// The lifecycle of PRODUCT.md, written out again as the test's own oracle.
fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("OPEN", "IN_PROGRESS")
            | ("OPEN", "RESOLVED")
            | ("IN_PROGRESS", "RESOLVED")
            | ("RESOLVED", "CLOSED")
            | ("RESOLVED", "IN_PROGRESS")
    )
}

/// What the clients were told succeeded.
#[derive(Default)]
struct Successes {
    created: Vec<(i64, String)>,
    /// Per ticket, each transition (from, to) that was answered with success.
    transitions: HashMap<i64, Vec<(String, String)>>,
    ratings: HashMap<i64, usize>,
    conflicts: usize,
    refused_ratings: usize,
}

/// A small deterministic generator, so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

async fn client(
    app: Arc<TestApp>,
    number: usize,
    customer: i64,
    tickets: Arc<Mutex<Vec<i64>>>,
    successes: Arc<Mutex<Successes>>,
) {
    let token = app.token(deskpulse::auth::Role::Supervisor, &format!("client-{number:02}"));
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ ((number as u64 + 1) * 0x1000_0001));
    for _ in 0..STEPS {
        let action = dice.roll(100);
        if action < 20 {
            let input =
                json!({ "customerId": customer.to_string(), "subject": "Load", "category": "load", "channel": "WEB" });
            let (status, body) = app.graphql(Some(&token), CREATE, json!({ "input": input })).await;
            assert_eq!((status, body.get("errors")), (200, None), "create: {body}");
            let created = &body["data"]["createTicket"];
            let id: i64 = created["id"].as_str().unwrap().parse().unwrap();
            tickets.lock().unwrap().push(id);
            successes.lock().unwrap().created.push((id, created["number"].as_str().unwrap().to_owned()));
            continue;
        }
        let id = {
            let tickets = tickets.lock().unwrap();
            tickets[dice.roll(tickets.len())]
        };
        if action < 85 {
            let read = app.query_ok(&token, READ, json!({ "id": id.to_string() })).await;
            let ticket = &read["ticket"];
            let next: Vec<&str> =
                ticket["allowedNextStatuses"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            if next.is_empty() {
                continue;
            }
            let from = ticket["status"].as_str().unwrap().to_owned();
            let to = next[dice.roll(next.len())].to_owned();
            let variables = json!({ "id": id.to_string(), "version": ticket["version"], "to": to });
            let (status, body) = app.graphql(Some(&token), TRANSITION, variables).await;
            assert_eq!(status, 200, "{body}");
            let mut successes = successes.lock().unwrap();
            match error_codes(&body).as_slice() {
                [] => successes.transitions.entry(id).or_default().push((from, to)),
                // Someone changed the ticket since it was read: the one outcome a version allows.
                [code] if code == "CONFLICT" => successes.conflicts += 1,
                _ => panic!("transition {from} -> {to}: {body}"),
            }
        } else {
            let rating = 1 + dice.roll(5);
            let (status, body) =
                app.graphql(Some(&token), RATE, json!({ "id": id.to_string(), "rating": rating })).await;
            assert_eq!(status, 200, "{body}");
            let mut successes = successes.lock().unwrap();
            match error_codes(&body).as_slice() {
                [] => *successes.ratings.entry(id).or_default() += 1,
                // Not RESOLVED or CLOSED (any more) when its turn came.
                [code] if code == "BAD_USER_INPUT" => successes.refused_ratings += 1,
                _ => panic!("rating: {body}"),
            }
        }
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct EventRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    ticket_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    from_value: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    to_value: Option<String>,
}

#[derive(diesel::QueryableByName, Debug)]
struct TicketRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    number: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    version: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    reopen_count: i32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_lose_no_event_break_no_lifecycle_and_repeat_no_number() {
    let app = Arc::new(
        spawn_app_with(|settings| {
            settings.server.workers = Some(4);
            settings.database.pool_size = 16;
            // Correctness under contention is the point here, not capacity.
            settings.database.pool_timeout = Duration::from_secs(60);
        })
        .await,
    );
    let customer = app.create_customer("Busy Customer").await;
    let mut shared = Vec::new();
    for _ in 0..SHARED_TICKETS {
        let ticket = app.create_ticket(&app.supervisor(), customer, json!({})).await;
        shared.push(ticket["id"].as_str().unwrap().parse::<i64>().unwrap());
    }
    let tickets = Arc::new(Mutex::new(shared.clone()));
    let successes = Arc::new(Mutex::new(Successes::default()));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| tokio::spawn(client(app.clone(), number, customer, tickets.clone(), successes.clone())))
        .collect();
    for client in clients {
        client.await.expect("a client finished without a surprise");
    }
    let successes = std::mem::take(&mut *successes.lock().unwrap());
    let transitions: usize = successes.transitions.values().map(Vec::len).sum();
    assert!(
        transitions > 100 && successes.conflicts > 0,
        "the clients contended: {transitions} transitions, {} conflicts",
        successes.conflicts
    );

    let mut conn = app.database.connect();
    let rows: Vec<TicketRow> =
        diesel::sql_query("SELECT id, number, status, version, reopen_count FROM tickets ORDER BY id")
            .load(&mut conn)
            .unwrap();
    let events: Vec<EventRow> = diesel::sql_query(
        // The order the API's timeline shows.
        "SELECT ticket_id, kind, from_value, to_value FROM ticket_events ORDER BY ticket_id, at, id",
    )
    .load(&mut conn)
    .unwrap();

    // Every ticket the clients were told about exists, once, with its own number.
    assert_eq!(rows.len(), SHARED_TICKETS + successes.created.len());
    let numbers: HashSet<&str> = rows.iter().map(|row| row.number.as_str()).collect();
    assert_eq!(numbers.len(), rows.len(), "ticket numbers are unique");
    let told: HashSet<&str> = successes.created.iter().map(|(_, number)| number.as_str()).collect();
    assert_eq!(told.len(), successes.created.len(), "no client was handed another's number");
    for (id, number) in &successes.created {
        assert!(rows.iter().any(|row| row.id == *id && row.number == *number), "ticket {id} is {number}");
    }

    let mut by_ticket: BTreeMap<i64, Vec<&EventRow>> = BTreeMap::new();
    for event in &events {
        by_ticket.entry(event.ticket_id).or_default().push(event);
    }
    for row in &rows {
        let timeline = by_ticket.get(&row.id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(timeline.first().map(|e| e.kind.as_str()), Some("CREATED"), "ticket {} starts CREATED", row.id);

        // Replayed in timeline order, the events walk the lifecycle to the ticket's status.
        let mut status = "OPEN".to_owned();
        let mut recorded_transitions = Vec::new();
        let mut ratings = 0;
        for event in &timeline[1..] {
            match event.kind.as_str() {
                "STATUS_CHANGED" | "REOPENED" => {
                    let from = event.from_value.clone().unwrap_or_default();
                    let to = event.to_value.clone().unwrap_or_default();
                    assert_eq!(from, status, "ticket {}: an event starts where the last ended: {timeline:?}", row.id);
                    assert!(allowed(&from, &to), "ticket {}: {from} -> {to} is not in the lifecycle", row.id);
                    assert_eq!(event.kind == "REOPENED", (from.as_str(), to.as_str()) == ("RESOLVED", "IN_PROGRESS"));
                    recorded_transitions.push((from, to.clone()));
                    status = to;
                }
                "RATED" => {
                    assert!(
                        status == "RESOLVED" || status == "CLOSED",
                        "ticket {}: rated while {status}: {timeline:?}",
                        row.id
                    );
                    ratings += 1;
                }
                other => panic!("ticket {}: an unexpected {other} event", row.id),
            }
        }
        assert_eq!(status, row.status, "ticket {}: the events replay to its status", row.id);
        assert_eq!(row.version as usize, 1 + recorded_transitions.len(), "ticket {}: one version per change", row.id);
        let reopens = recorded_transitions.iter().filter(|(from, to)| from == "RESOLVED" && to == "IN_PROGRESS");
        assert_eq!(row.reopen_count as usize, reopens.count(), "ticket {}", row.id);

        // Exactly the changes the clients were told succeeded, no more, no fewer.
        let mut told = successes.transitions.get(&row.id).cloned().unwrap_or_default();
        told.sort();
        recorded_transitions.sort();
        assert_eq!(recorded_transitions, told, "ticket {}: the events are the successful transitions", row.id);
        assert_eq!(ratings, successes.ratings.get(&row.id).copied().unwrap_or(0), "ticket {}: ratings", row.id);
    }
}
