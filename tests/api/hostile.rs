//! A catalogue of hostile input: each request gets a 4xx or a GraphQL error with a code (never a
//! 5xx, never INTERNAL), and none changes the database. One test per group of cases, so a failing
//! group does not hide the others.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, table_counts};

enum Send {
    /// A GraphQL operation as JSON, with the admin's token.
    Operation(String, Value),
    /// A body sent as it is, with the admin's token.
    Raw { content_type: Option<&'static str>, body: Vec<u8> },
    /// `{ me { subject } }` with this Authorization header instead of a valid token.
    Authorization(String),
    /// GET /graphql with the query in the URL.
    Get,
}

fn operation(query: impl Into<String>, variables: Value) -> Send {
    Send::Operation(query.into(), variables)
}

fn raw(content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Send {
    Send::Raw { content_type, body: body.into() }
}

/// What a case must get: an HTTP status and, when the answer is GraphQL, the error code.
struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    code: Option<&'static str>,
}

fn case(name: &'static str, send: Send, status: u16, code: Option<&'static str>) -> Case {
    Case { name, send, status, code }
}

async fn send(app: &TestApp, token: &str, send: &Send) -> (u16, String) {
    let url = format!("{}/graphql", app.address);
    let request = match send {
        Send::Operation(query, variables) => {
            app.client.post(&url).bearer_auth(token).json(&json!({ "query": query, "variables": variables }))
        }
        Send::Raw { content_type, body } => {
            let request = app.client.post(&url).bearer_auth(token).body(body.clone());
            match content_type {
                Some(content_type) => request.header("content-type", *content_type),
                None => request,
            }
        }
        Send::Authorization(header) => {
            app.client.post(&url).header("authorization", header).json(&json!({ "query": "{ me { subject } }" }))
        }
        Send::Get => app.client.get(format!("{url}?query=%7B%20me%20%7B%20subject%20%7D%20%7D")).bearer_auth(token),
    };
    let response = request.send().await.expect("an HTTP answer");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

fn repeated(part: &str, times: usize) -> String {
    vec![part; times].join(" ")
}

/// `levels` times `tickets { nodes { customer { ... } } }` under a customer list.
fn nested(levels: usize) -> String {
    let open = repeated("tickets(first: 1) { nodes { customer {", levels);
    format!("{{ customers(first: 1) {{ nodes {{ {open} id {} }} }} }}", repeated("} } }", levels))
}

const CREATE_TICKET: &str = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }";
const TRANSITION: &str =
    "mutation($id: ID!, $to: TicketStatus!) { transitionTicket(id: $id, version: 1, to: $to) { id } }";
const NOTE: &str = "mutation($id: ID!, $note: String!) { addTicketNote(id: $id, version: 1, note: $note) { id } }";
const CREATE_CUSTOMER: &str = "mutation($name: String!) { createCustomer(input: { name: $name }) { id } }";
const KPIS: &str =
    "query($from: DateTime!, $to: DateTime!) { kpis(period: { from: $from, to: $to }) { current { ticketsOpened } } }";

/// `createTicket`'s variables for `customer` with `field` set to `value`.
fn ticket_input(customer: i64, field: &str, value: Value) -> Value {
    let mut input =
        json!({ "customerId": customer.to_string(), "subject": "Printer", "category": "hw", "channel": "PHONE" });
    input[field] = value;
    json!({ "input": input })
}

fn many_creates() -> Vec<String> {
    (0..40).map(|i| format!("c{i}: createCustomer(input: {{ name: \"Bomb {i}\" }}) {{ id }}")).collect()
}

fn fragment_bomb() -> String {
    let mut bomb = String::from("mutation { ...F0 }\n");
    for level in 0..32 {
        bomb.push_str(&format!("fragment F{level} on Mutation {{ ...F{next} ...F{next} }}\n", next = level + 1));
    }
    bomb.push_str("fragment F32 on Mutation { createCustomer(input: { name: \"Bomb\" }) { id } }\n");
    bomb
}

fn import_batch() -> Vec<Value> {
    (0..1_001)
        .map(|i| {
            json!({
                "externalRef": format!("legacy-{i}"), "subject": "Old", "category": "hw", "channel": "EMAIL",
                "openedAt": "2025-01-01T00:00:00Z", "customer": { "name": "Legacy" }
            })
        })
        .collect()
}

/// What the cases of one group share: an admin, a customer and one ticket of theirs.
struct Fixture {
    app: TestApp,
    admin: String,
    customer: i64,
    ticket_id: String,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let admin = app.admin();
    let customer = app.create_customer("Ada Customer").await;
    let ticket = app.create_ticket(&admin, customer, json!({})).await;
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    Fixture { app, admin, customer, ticket_id }
}

/// Sends every case, then fails listing each that got another answer or changed the database;
/// the server still serves afterwards.
async fn assert_refused_cleanly(fixture: &Fixture, cases: Vec<Case>) {
    let (app, admin) = (&fixture.app, &fixture.admin);
    let before = table_counts(&app.database);
    let mut failures = Vec::new();
    for case in &cases {
        let (status, body) = send(app, admin, &case.send).await;
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let errors = json["errors"].as_array().cloned().unwrap_or_default();
        let codes: Vec<&str> = errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("(none)")).collect();
        let expected_codes = match case.code {
            Some(code) => !codes.is_empty() && codes.iter().all(|c| *c == code),
            None => true,
        };
        let changed = table_counts(&app.database) != before;
        if status != case.status || !expected_codes || changed {
            let body: String = body.chars().take(300).collect();
            failures.push(format!("{}: status {status}, codes {codes:?}, changed {changed}: {body}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));

    // And the server still serves.
    let data = app.query_ok(admin, "{ tickets { totalCount } }", json!({})).await;
    assert_eq!(data["tickets"]["totalCount"], 1);
}

#[tokio::test]
async fn costly_query_shapes_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case("a query nested 60 fields deep", operation(nested(20), json!({})), 200, bad),
        case(
            "5,000 nested selection sets",
            operation(format!("{{ me {} }}", "{ technician ".repeat(5_000)), json!({})),
            200,
            bad,
        ),
        case(
            "10,000 aliases",
            operation(
                format!(
                    "{{ me {{ {} }} }}",
                    (0..10_000).map(|i| format!("a{i}: subject")).collect::<Vec<_>>().join(" ")
                ),
                json!({}),
            ),
            200,
            bad,
        ),
        case(
            "40 aliased creations in one mutation",
            operation(format!("mutation {{ {} }}", many_creates().join(" ")), json!({})),
            200,
            bad,
        ),
        case("a fragment bomb of creations", operation(fragment_bomb(), json!({})), 200, bad),
        case(
            "500 directives",
            operation(format!("{{ me {{ {} }} }}", repeated("subject @include(if: true)", 500)), json!({})),
            200,
            bad,
        ),
        case(
            "nested pages of 100",
            operation(
                "{ tickets(first: 100) { nodes { interactions(first: 100) { nodes { summary } } } } }",
                json!({}),
            ),
            200,
            bad,
        ),
        case("two anonymous operations", operation("{ me { subject } } { me { role } }", json!({})), 200, bad),
        case(
            "an unknown operation name",
            Send::Raw {
                content_type: Some("application/json"),
                body: br#"{"query":"query A { me { subject } }","operationName":"B"}"#.to_vec(),
            },
            200,
            bad,
        ),
        case("a syntax error", operation("{ me { subject ", json!({})), 200, bad),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn page_sizes_and_a_forged_cursor_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case("first: i32::MAX", operation("{ tickets(first: 2147483647) { totalCount } }", json!({})), 200, bad),
        case("first: -1", operation("{ customers(first: -1) { totalCount } }", json!({})), 200, bad),
        case("first beyond 32 bits", operation("{ tickets(first: 99999999999) { totalCount } }", json!({})), 200, bad),
        case(
            "first as a string variable",
            operation("query($f: Int) { tickets(first: $f) { totalCount } }", json!({ "f": "ten" })),
            200,
            bad,
        ),
        case(
            "a forged cursor",
            operation("{ tickets(after: \"bm90LWEtY3Vyc29y\") { totalCount } }", json!({})),
            200,
            bad,
        ),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn overlong_and_odd_strings_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case(
            "a 10,000-character subject",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "subject", json!(long(10_000)))),
            200,
            bad,
        ),
        case(
            "a 600,000-character customer name",
            operation(CREATE_CUSTOMER, json!({ "name": long(600_000) })),
            200,
            bad,
        ),
        case(
            "a 25,000-character note",
            operation(NOTE, json!({ "id": fixture.ticket_id, "note": long(25_000) })),
            200,
            bad,
        ),
        case("a NUL in a name", operation(CREATE_CUSTOMER, json!({ "name": "Ada\u{0}Lovelace" })), 200, bad),
        case(
            "a 10,000-character search",
            operation(
                "query($s: String) { tickets(filter: { search: $s }) { totalCount } }",
                json!({ "s": long(10_000) }),
            ),
            200,
            bad,
        ),
        case(
            "an empty subject",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "subject", json!("   "))),
            200,
            bad,
        ),
        case(
            "1,001 tickets in an import batch",
            operation(
                "mutation($b: [ImportTicketInput!]!) { importTickets(batch: $b) { created } }",
                json!({ "b": import_batch() }),
            ),
            200,
            bad,
        ),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn unknown_enumeration_values_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case(
            "an unknown channel",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "channel", json!("FAX"))),
            200,
            bad,
        ),
        case(
            "an unknown status in a filter",
            operation("{ tickets(filter: { status: [DELETED] }) { totalCount } }", json!({})),
            200,
            bad,
        ),
        case(
            "an enum in lower case",
            operation(TRANSITION, json!({ "id": fixture.ticket_id, "to": "closed" })),
            200,
            bad,
        ),
        case("a status as a number", operation(TRANSITION, json!({ "id": fixture.ticket_id, "to": 3 })), 200, bad),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn impossible_dates_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case(
            "a date that is not one",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "openedAt", json!("yesterday"))),
            200,
            bad,
        ),
        case(
            "February 30th",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "openedAt", json!("2026-02-30T10:00:00Z"))),
            200,
            bad,
        ),
        case(
            "a date without a zone",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "openedAt", json!("2026-02-03T10:00:00"))),
            200,
            bad,
        ),
        case(
            "the year 275760",
            operation(KPIS, json!({ "from": "2026-01-01T00:00:00Z", "to": "+275760-09-13T00:00:00Z" })),
            200,
            bad,
        ),
        case(
            "a period that ends before it starts",
            operation(KPIS, json!({ "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" })),
            200,
            bad,
        ),
        case(
            "a future openedAt",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "openedAt", json!("2999-01-01T00:00:00Z"))),
            200,
            bad,
        ),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn bad_and_unknown_ids_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case("a word as an id", operation("{ ticket(id: \"abc\") { id } }", json!({})), 200, bad),
        case("a negative id", operation(TRANSITION, json!({ "id": "-1", "to": "IN_PROGRESS" })), 200, bad),
        case(
            "an id beyond 64 bits",
            operation(TRANSITION, json!({ "id": "99999999999999999999999", "to": "IN_PROGRESS" })),
            200,
            bad,
        ),
        case(
            "an unknown customer",
            operation(CREATE_TICKET, ticket_input(fixture.customer, "customerId", json!("987654321"))),
            200,
            Some("NOT_FOUND"),
        ),
        case(
            "an unknown ticket",
            operation(TRANSITION, json!({ "id": "987654321", "to": "IN_PROGRESS" })),
            200,
            Some("NOT_FOUND"),
        ),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn bodies_that_are_not_graphql_over_json_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let bad = Some("BAD_USER_INPUT");
    let cases = vec![
        case("a truncated JSON body", raw(Some("application/json"), "{\"query\": "), 400, bad),
        case("a query that is a number", raw(Some("application/json"), "{\"query\": 5}"), 400, bad),
        case(
            "variables that are a string",
            raw(Some("application/json"), "{\"query\": \"{ me { subject } }\", \"variables\": \"x\"}"),
            400,
            bad,
        ),
        case("an empty body", raw(Some("application/json"), ""), 400, bad),
        case("JSON null", raw(Some("application/json"), "null"), 400, bad),
        case(
            "bytes that are not UTF-8",
            raw(Some("application/json"), b"{\"query\": \"\xff\xfe\"}".to_vec()),
            400,
            bad,
        ),
        case("a lone surrogate", raw(Some("application/json"), "{\"query\": \"\\ud800\"}"), 400, bad),
        case(
            "JSON nested 10,000 deep",
            raw(
                Some("application/json"),
                format!(
                    "{{\"query\": \"{{ me {{ subject }} }}\", \"variables\": {}{}}}",
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                ),
            ),
            400,
            bad,
        ),
        case("a batch", raw(Some("application/json"), "[{\"query\": \"{ me { subject } }\"}]"), 400, bad),
        case(
            "a body over the size limit",
            raw(Some("application/json"), format!("{{\"query\": \"{}\"}}", " ".repeat(1_100_000))),
            413,
            bad,
        ),
        case("text/plain", raw(Some("text/plain"), "{ me { subject } }"), 415, bad),
        case("application/graphql", raw(Some("application/graphql"), "{ me { subject } }"), 415, bad),
        case("a form", raw(Some("application/x-www-form-urlencoded"), "query=%7B%20me%20%7D"), 415, bad),
        case("multipart", raw(Some("multipart/form-data; boundary=x"), "--x\r\n\r\n{}\r\n--x--"), 415, bad),
        case("no content type", raw(None, "{\"query\": \"{ me { subject } }\"}"), 415, bad),
        // GET /graphql is the WebSocket endpoint of subscriptions; a plain GET is told so.
        case("GET with the query in the URL", Send::Get, 400, bad),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

#[tokio::test]
async fn bad_credentials_get_a_clear_refusal_and_change_nothing() {
    let fixture = fixture().await;
    let cases = vec![
        case(
            "a Basic authorization",
            Send::Authorization("Basic YWRtaW46YWRtaW4=".into()),
            401,
            Some("UNAUTHENTICATED"),
        ),
        case(
            "a 10,000-character bearer token",
            Send::Authorization(format!("Bearer {}", long(10_000))),
            401,
            Some("UNAUTHENTICATED"),
        ),
        case(
            "a bearer token of three empty parts",
            Send::Authorization("Bearer ..".into()),
            401,
            Some("UNAUTHENTICATED"),
        ),
    ];
    assert_refused_cleanly(&fixture, cases).await;
}

fn long(n: usize) -> String {
    "x".repeat(n)
}
