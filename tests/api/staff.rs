//! Technicians and customers.

use serde_json::{Value, json};

use crate::helpers::{error_codes, spawn_app};

const CREATE_TECHNICIAN: &str =
    "mutation($input: CreateTechnicianInput!) { createTechnician(input: $input) { id name email team active } }";

#[tokio::test]
async fn admins_manage_technicians_and_a_linked_token_sees_its_technician() {
    let app = spawn_app().await;
    let admin = app.admin();

    let created = app
        .query_ok(
            &admin,
            CREATE_TECHNICIAN,
            json!({ "input": { "name": " Tess Tech ", "email": "tess@example.test", "team": "L1" } }),
        )
        .await;
    let tess = &created["createTechnician"];
    assert_eq!(tess["name"], "Tess Tech", "names are trimmed");
    assert_eq!(tess["active"], true);
    let id = tess["id"].as_str().unwrap().to_owned();

    let updated = app
        .query_ok(
            &admin,
            "mutation($id: ID!) { updateTechnician(id: $id, input: { team: \"L2\" }) { name team } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(updated["updateTechnician"], json!({ "name": "Tess Tech", "team": "L2" }));

    let me = app
        .query_ok(&app.technician_token("tess", id.parse().unwrap()), "{ me { technician { name team } } }", json!({}))
        .await;
    assert_eq!(me["me"]["technician"], json!({ "name": "Tess Tech", "team": "L2" }));

    app.query_ok(&admin, "mutation($id: ID!) { deactivateTechnician(id: $id) { active } }", json!({ "id": id })).await;
    let listed = app
        .query_ok(
            &app.supervisor(),
            "{ technicians { id } all: technicians(includeInactive: true) { id active } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["technicians"], json!([]));
    assert_eq!(listed["all"], json!([{ "id": id, "active": false }]));
}

#[tokio::test]
async fn only_admins_manage_technicians() {
    let app = spawn_app().await;
    let input = json!({ "input": { "name": "Nope", "email": "nope@example.test" } });
    for token in [app.supervisor(), app.technician_token("tess", 1)] {
        let (code, error) = app.query_error(&token, CREATE_TECHNICIAN, input.clone()).await;
        assert_eq!(code, "FORBIDDEN", "{error}");
    }
    assert_eq!(app.count("SELECT count(*) FROM technicians"), 0);
}

#[tokio::test]
async fn technician_emails_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    let admin = app.admin();
    app.query_ok(&admin, CREATE_TECHNICIAN, json!({ "input": { "name": "A", "email": "same@example.test" } })).await;
    let (code, error) = app
        .query_error(&admin, CREATE_TECHNICIAN, json!({ "input": { "name": "B", "email": "SAME@example.test" } }))
        .await;
    assert_eq!(code, "CONFLICT");
    assert!(error["message"].as_str().unwrap().starts_with("email:"), "{error}");
}

#[tokio::test]
async fn bad_technician_and_customer_input_names_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let cases = [
        (CREATE_TECHNICIAN, json!({ "name": "  ", "email": "a@example.test" }), "name"),
        (CREATE_TECHNICIAN, json!({ "name": "A", "email": "not-an-address" }), "email"),
        (CREATE_TECHNICIAN, json!({ "name": "x".repeat(201), "email": "a@example.test" }), "name"),
        ("mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }", json!({ "name": "" }), "name"),
        (
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "name": "C", "phone": "9".repeat(51) }),
            "phone",
        ),
    ];
    for (mutation, input, field) in cases {
        let (code, error) = app.query_error(&app.admin(), mutation, json!({ "input": input })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], field, "{error}");
    }
    assert_eq!(app.count("SELECT (SELECT count(*) FROM technicians) + (SELECT count(*) FROM customers)"), 0);

    let (code, _) = app
        .query_error(
            &app.admin(),
            "mutation { updateTechnician(id: \"999\", input: { name: \"X\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn customers_are_created_updated_and_searched_page_by_page() {
    let app = spawn_app().await;
    let tess = app.create_technician("Tess", "L1").await;
    let token = app.technician_token("tess", tess);
    let create = "mutation($input: CustomerInput!) { createCustomer(input: $input) { id name email } }";
    let people = [
        json!({ "name": "Alice Archer", "email": "alice@acme.test", "organization": "Acme" }),
        json!({ "name": "Bob Baker", "phone": "+44 20 7946 0001", "organization": "ACME Labs" }),
        json!({ "name": "Carol Cooper", "email": "carol@globex.test" }),
        json!({ "name": "Dan Drake", "organization": "Initech" }),
        json!({ "name": "Eve Acmeson" }),
    ];
    let mut ids = Vec::new();
    for person in &people {
        let data = app.query_ok(&token, create, json!({ "input": person })).await;
        ids.push(data["createCustomer"]["id"].as_str().unwrap().to_owned());
    }

    let updated = app
        .query_ok(
            &token,
            "mutation($id: ID!) { updateCustomer(id: $id, input: { email: null, phone: \"555-0100\" }) { email phone name } }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(updated["updateCustomer"], json!({ "email": null, "phone": "555-0100", "name": "Alice Archer" }));

    let search = "query($search: String, $after: String) {
        customers(search: $search, first: 2, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { name } }
        } }";
    let mut names = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.query_ok(&token, search, json!({ "search": "acme", "after": after })).await;
        let page = &data["customers"];
        assert_eq!(page["totalCount"], 3);
        names.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap().to_owned()));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(names, ["Alice Archer", "Bob Baker", "Eve Acmeson"], "name, email, phone or organization");

    let by_phone = app.query_ok(&token, search, json!({ "search": "7946" })).await;
    assert_eq!(by_phone["customers"]["edges"][0]["node"]["name"], "Bob Baker");
    let literal = app.query_ok(&token, search, json!({ "search": "%" })).await;
    assert_eq!(literal["customers"]["totalCount"], 0, "% is matched literally");
}

#[tokio::test]
async fn a_deactivated_technicians_token_still_reads_but_writes_nothing() {
    let app = spawn_app().await;
    let tess_id = app.create_technician("Tess", "L1").await;
    let tess = app.technician_token("tess", tess_id);
    let customer = app.create_customer("Client").await;
    let ticket = app.create_ticket(&tess, customer, json!({ "assigneeId": tess_id.to_string() })).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let version = ticket["version"].as_i64().unwrap();
    app.query_ok(
        &app.admin(),
        "mutation($id: ID!) { deactivateTechnician(id: $id) { active } }",
        json!({ "id": id_of(tess_id) }),
    )
    .await;
    let before = crate::helpers::table_counts(&app.database);

    let writes = [
        (
            "mutation($id: ID!, $version: Int!) { addTicketNote(id: $id, version: $version, note: \"still here\") { id } }",
            json!({ "id": id, "version": version }),
        ),
        (
            "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }",
            json!({ "input": { "customerId": customer.to_string(), "ticketId": id, "channel": "EMAIL", "direction": "OUTBOUND", "summary": "after leaving" } }),
        ),
        (
            "mutation($id: ID!, $version: Int!) { transitionTicket(id: $id, version: $version, to: IN_PROGRESS) { id } }",
            json!({ "id": id, "version": version }),
        ),
        ("mutation { createCustomer(input: { name: \"New\" }) { id } }", json!({})),
        (
            "mutation($customer: ID!) { createTicket(input: { customerId: $customer, subject: \"x\", category: \"c\", channel: WEB }) { id } }",
            json!({ "customer": customer.to_string() }),
        ),
    ];
    for (mutation, variables) in writes {
        let (status, body) = app.graphql(Some(&tess), mutation, variables).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{mutation}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("deactivated"), "{message}");
    }
    assert_eq!(crate::helpers::table_counts(&app.database), before, "nothing was written");

    // Reading goes on (an ADMIN revokes the subject's tokens to end that too).
    let data = app.query_ok(&tess, "query($id: ID!) { ticket(id: $id) { version } }", json!({ "id": id })).await;
    assert_eq!(data["ticket"]["version"], version);

    // Reactivated, the same token writes again.
    app.query_ok(
        &app.admin(),
        "mutation($id: ID!) { reactivateTechnician(id: $id) { active } }",
        json!({ "id": id_of(tess_id) }),
    )
    .await;
    let note =
        "mutation($id: ID!, $version: Int!) { addTicketNote(id: $id, version: $version, note: \"back\") { id } }";
    app.query_ok(&tess, note, json!({ "id": id, "version": version })).await;
}

fn id_of(id: i64) -> String {
    id.to_string()
}
