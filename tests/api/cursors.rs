//! Cursors are base64 JSON a client can forge: whatever one holds, every paginated list answers
//! data or BAD_USER_INPUT naming `after`, never INTERNAL.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// A cursor text the way async-graphql's `OpaqueCursor` decodes it (base64url, no padding).
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The right shapes of every list's key with hostile values, other lists' shapes and junk, plus
/// reproducible random bytes.
fn crafted_cursors() -> Vec<String> {
    let texts = [
        r#""a\u0000""#,
        r#""Ann""#,
        r#""2026-01-01T00:00:00Z""#,
        r#""-262143-01-01T00:00:00Z""#,
        r#""-4713-11-23T00:00:00Z""#,
        r#""+262142-12-31T23:59:59Z""#,
        r#""OpenedAt:desc""#,
        r#""Priority:asc""#,
    ];
    let numbers = ["1", "0", "-1", "9223372036854775807", "-9223372036854775808", "7"];
    let mut json: Vec<String> = Vec::new();
    for text in texts {
        for number in numbers {
            json.push(format!("[{text},{number}]"));
        }
        json.push(text.to_owned());
        json.push(format!(r#"{{"sort":"OpenedAt:desc","at":{text},"rank":null,"id":1}}"#));
        json.push(format!(r#"{{"sort":{text},"at":null,"rank":2,"id":1}}"#));
    }
    json.extend(numbers.iter().map(|n| (*n).to_owned()));
    json.extend(
        ["-1", "[1]", "null", "{}", "[]", r#"{"sort":"Priority:desc","at":null,"rank":99,"id":1}"#].map(String::from),
    );
    let mut cursors: Vec<String> = json.iter().map(|text| base64url(text.as_bytes())).collect();
    let mut state: u64 = 0x6375_7273;
    for _ in 0..40 {
        let bytes: Vec<u8> = (0..24)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        cursors.push(base64url(&bytes));
    }
    cursors.push("not a cursor".into());
    cursors
}

#[tokio::test]
async fn a_cursor_holding_a_nul_character_is_bad_input_naming_after() {
    let app = spawn_app().await;
    app.create_customer("Ann").await;
    let cursor = base64url(br#"["a\u0000",1]"#);
    let (code, error) = app
        .query_error(
            &app.admin(),
            "query($after: String) { customers(after: $after) { totalCount } }",
            json!({ "after": cursor }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["field"], "after");
}

#[tokio::test]
async fn every_paginated_list_answers_crafted_cursors_with_data_or_bad_input_naming_after() {
    let app = spawn_app().await;
    let admin = app.admin();
    let customer = app.create_customer("Ann").await;
    let ticket = app.create_ticket(&admin, customer, json!({})).await;
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    let lists = [
        "customers(after: $after) { totalCount }",
        "tickets(after: $after) { totalCount }",
        "tickets(after: $after, orderBy: { field: PRIORITY, direction: ASC }) { totalCount }",
        "interactions(after: $after) { totalCount }",
        "reports(after: $after) { totalCount }",
        "improvementActions(after: $after) { totalCount }",
        "retentionRuns(after: $after) { totalCount }",
        "customer(id: $customer) { tickets(after: $after) { totalCount } interactions(after: $after) { totalCount } }",
        "ticket(id: $ticket) { interactions(after: $after) { totalCount } }",
    ];
    let mut failures = Vec::new();
    let cursors = crafted_cursors();
    for list in lists {
        let (by_customer, by_ticket) = (list.contains("$customer"), list.contains("$ticket"));
        let declared = match (by_customer, by_ticket) {
            (true, _) => "$after: String, $customer: ID!",
            (_, true) => "$after: String, $ticket: ID!",
            _ => "$after: String",
        };
        let query = format!("query({declared}) {{ {list} }}");
        for cursor in &cursors {
            let mut variables = json!({ "after": cursor });
            if by_customer {
                variables["customer"] = json!(customer.to_string());
            }
            if by_ticket {
                variables["ticket"] = json!(ticket_id);
            }
            let (status, body) = app.graphql(Some(&admin), &query, variables).await;
            let errors = body["errors"].as_array().cloned().unwrap_or_default();
            let refused_well =
                |e: &Value| e["extensions"]["code"] == "BAD_USER_INPUT" && e["extensions"]["field"] == "after";
            if status != 200 || !errors.iter().all(refused_well) {
                failures.push(format!("{list} after {cursor:?}: {status} {body}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers:\n{}",
        failures.len(),
        lists.len() * cursors.len(),
        failures.join("\n")
    );
}
