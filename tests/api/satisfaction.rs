//! Satisfaction ratings by staff and by customers through survey links.

use deskpulse::auth::SurveyClaims;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_codes, spawn_app, spawn_app_with};

const RECORD: &str = "mutation($id: ID!, $rating: Int!, $comment: String) {
    recordSatisfaction(ticketId: $id, rating: $rating, comment: $comment) { rating comment source } }";
const SUBMIT: &str = "mutation($number: String!, $token: String!, $rating: Int!) {
    submitSatisfaction(ticketNumber: $number, token: $token, rating: $rating, comment: \"quick fix\") { ticketNumber rating } }";

/// A RESOLVED ticket: its id and number.
async fn resolved_ticket(app: &TestApp) -> (String, String) {
    let sam = app.supervisor();
    let customer = app.create_customer("Rater").await;
    let ticket = app.create_ticket(&sam, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    app.query_ok(
        &sam,
        "mutation($id: ID!) { transitionTicket(id: $id, version: 1, to: RESOLVED) { status } }",
        json!({ "id": id }),
    )
    .await;
    (id, ticket["number"].as_str().unwrap().to_owned())
}

/// Posts without any Authorization header.
async fn anonymous(app: &TestApp, query: &str, variables: Value) -> (u16, Value) {
    app.graphql(None, query, variables).await
}

#[tokio::test]
async fn staff_record_a_rating_and_a_second_one_replaces_the_first() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let customer = app.create_customer("Early").await;
    let open = app.create_ticket(&sam, customer, json!({})).await;
    let (code, error) = app.query_error(&sam, RECORD, json!({ "id": open["id"], "rating": 5 })).await;
    assert_eq!(
        (code.as_str(), &error["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("ticketId")),
        "an OPEN ticket is not rated"
    );

    let (id, _) = resolved_ticket(&app).await;
    let (code, _) = app.query_error(&sam, RECORD, json!({ "id": id, "rating": 6 })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    app.query_ok(&sam, RECORD, json!({ "id": id, "rating": 2, "comment": "slow" })).await;
    let second = app.query_ok(&sam, RECORD, json!({ "id": id, "rating": 4 })).await;
    assert_eq!(second["recordSatisfaction"], json!({ "rating": 4, "comment": null, "source": "STAFF" }));

    let data = app
        .query_ok(
            &sam,
            "query($id: ID!) { ticket(id: $id) { satisfaction { rating } timeline { kind fromValue toValue note } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["ticket"]["satisfaction"]["rating"], 4);
    let rated: Vec<&Value> =
        data["ticket"]["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "RATED").collect();
    assert_eq!(rated.len(), 2, "both ratings are in the timeline");
    assert_eq!(*rated[0], json!({ "kind": "RATED", "fromValue": null, "toValue": "2", "note": "slow" }));
    assert_eq!(*rated[1], json!({ "kind": "RATED", "fromValue": "2", "toValue": "4", "note": null }));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM satisfaction_ratings WHERE ticket_id = {id} AND superseded_at IS NULL"
        )),
        1
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM satisfaction_ratings WHERE ticket_id = {id}")), 2);
}

#[tokio::test]
async fn a_survey_token_rates_its_own_ticket_only_and_nothing_else() {
    let app = spawn_app().await;
    let sam = app.supervisor();
    let (id, number) = resolved_ticket(&app).await;
    let (_, other_number) = resolved_ticket(&app).await;
    let link = app
        .query_ok(
            &sam,
            "mutation($id: ID!) { satisfactionSurveyLink(ticketId: $id) { token ticketNumber expiresAt } }",
            json!({ "id": id }),
        )
        .await;
    let token = link["satisfactionSurveyLink"]["token"].as_str().unwrap().to_owned();
    assert_eq!(link["satisfactionSurveyLink"]["ticketNumber"], number.as_str());

    // The customer rates without any staff token.
    let (status, body) = anonymous(&app, SUBMIT, json!({ "number": number, "token": token, "rating": 5 })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["submitSatisfaction"], json!({ "ticketNumber": number, "rating": 5 }), "{body}");
    let rating = app
        .query_ok(
            &sam,
            "query($id: ID!) { ticket(id: $id) { satisfaction { rating source submittedBy } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(rating["ticket"]["satisfaction"], json!({ "rating": 5, "source": "SURVEY", "submittedBy": "survey" }));

    // Not for another ticket.
    let (_, body) = anonymous(&app, SUBMIT, json!({ "number": other_number, "token": token, "rating": 1 })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);

    // Not after expiry.
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .keys
        .sign(&SurveyClaims {
            purpose: "satisfaction_survey".into(),
            ticket_id: id.parse().unwrap(),
            exp: now - 3600,
            iat: now - 7200,
            iss: None,
            aud: None,
        })
        .unwrap();
    let (_, body) = anonymous(&app, SUBMIT, json!({ "number": number, "token": expired, "rating": 1 })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Not as a bearer token for anything.
    let (status, body) = app.graphql(Some(&token), "{ me { subject } }", json!({})).await;
    assert_eq!((status, error_codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]));
    let (status, _) = app.graphql(Some(&token), SUBMIT, json!({ "number": number, "token": token, "rating": 1 })).await;
    assert_eq!(status, 401, "a survey token in the Authorization header is refused outright");

    // A staff token is no survey token.
    let (_, body) = anonymous(&app, SUBMIT, json!({ "number": number, "token": sam, "rating": 1 })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Without a staff token nothing but submitSatisfaction runs.
    let sneaky = "mutation($number: String!, $token: String!) { submitSatisfaction(ticketNumber: $number, token: $token, rating: 1) { rating } createCustomer(input: { name: \"x\" }) { id } }";
    let (status, _) = anonymous(&app, sneaky, json!({ "number": number, "token": token })).await;
    assert_eq!(status, 401);
    let (status, _) = anonymous(&app, "query { ticket(id: \"1\") { subject } }", json!({})).await;
    assert_eq!(status, 401);

    assert_eq!(
        app.count(&format!("SELECT rating FROM satisfaction_ratings WHERE ticket_id = {id} AND superseded_at IS NULL")),
        5
    );
}

const LINK: &str = "mutation($id: ID!) { satisfactionSurveyLink(ticketId: $id) { token } }";

/// A RESOLVED ticket assigned to `assignee`: its id and number.
async fn resolved_ticket_of(app: &TestApp, assignee: i64) -> (String, String) {
    let sam = app.supervisor();
    let customer = app.create_customer("Assigned rater").await;
    let ticket = app.create_ticket(&sam, customer, json!({ "assigneeId": assignee.to_string() })).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    app.query_ok(
        &sam,
        "mutation($id: ID!, $version: Int!) { transitionTicket(id: $id, version: $version, to: RESOLVED) { status } }",
        json!({ "id": id, "version": ticket["version"] }),
    )
    .await;
    (id, ticket["number"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_survey_link_needs_the_same_permission_as_recording_a_rating() {
    let app = spawn_app().await;
    let ann = app.create_technician("Ann", "L1").await;
    let ben = app.create_technician("Ben", "L1").await;
    let (id, _) = resolved_ticket_of(&app, ann).await;

    // Ben may neither rate Ann's ticket nor mint a link that would let him rate it anonymously.
    let ben_token = app.technician_token("ben", ben);
    let (code, _) = app.query_error(&ben_token, RECORD, json!({ "id": id, "rating": 1 })).await;
    assert_eq!(code, "FORBIDDEN");
    let (code, error) = app.query_error(&ben_token, LINK, json!({ "id": id })).await;
    assert_eq!(code, "FORBIDDEN", "{error}");
    // A technician token linked to no technician changes no ticket, so mints no link either.
    let (code, _) =
        app.query_error(&app.token(deskpulse::auth::Role::Technician, "nobody"), LINK, json!({ "id": id })).await;
    assert_eq!(code, "FORBIDDEN");

    // Ann (the assignee) and a supervisor may.
    app.query_ok(&app.technician_token("ann", ann), LINK, json!({ "id": id })).await;
    app.query_ok(&app.supervisor(), LINK, json!({ "id": id })).await;
}

/// Submits `rating` through a survey link without any staff token.
async fn submit(app: &TestApp, number: &str, token: &str, rating: i32) -> (u16, Value) {
    anonymous(app, SUBMIT, json!({ "number": number, "token": token, "rating": rating })).await
}

#[tokio::test]
async fn one_survey_link_is_used_a_few_times_at_most() {
    let app = spawn_app().await;
    let (id, number) = resolved_ticket(&app).await;
    let link = app.query_ok(&app.supervisor(), LINK, json!({ "id": id })).await;
    let token = link["satisfactionSurveyLink"]["token"].as_str().unwrap().to_owned();

    // The default allows 5 submissions per link per hour: a customer changing their mind.
    for rating in 1..=5 {
        let (status, body) = submit(&app, &number, &token, rating).await;
        assert_eq!((status, error_codes(&body)), (200, vec![]), "submission {rating}: {body}");
    }
    let (status, body) = submit(&app, &number, &token, 1).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("5 per 1h"), "the limit is in the message: {message}");
    assert_eq!(
        app.count(&format!("SELECT rating FROM satisfaction_ratings WHERE ticket_id = {id} AND superseded_at IS NULL")),
        5,
        "the refused submission changed nothing"
    );
}

/// A staff token's check comes before the link's budget: submissions with a revoked token are
/// refused 401 and leave the customer every use of their link.
#[tokio::test]
async fn a_revoked_staff_token_spends_none_of_a_survey_links_uses() {
    let app = spawn_app().await;
    let (id, number) = resolved_ticket(&app).await;
    let link = app.query_ok(&app.supervisor(), LINK, json!({ "id": id })).await;
    let token = link["satisfactionSurveyLink"]["token"].as_str().unwrap().to_owned();
    let rita = app.token(deskpulse::auth::Role::Supervisor, "rita");
    app.query_ok(&app.admin(), "mutation { revokeTokens(subject: \"rita\") { subject } }", json!({})).await;
    for _ in 0..6 {
        let variables = json!({ "number": number, "token": token, "rating": 1 });
        let (status, body) = app.graphql(Some(&rita), SUBMIT, variables).await;
        assert_eq!((status, error_codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{body}");
    }
    for rating in 1..=5 {
        let (status, body) = submit(&app, &number, &token, rating).await;
        assert_eq!((status, error_codes(&body)), (200, vec![]), "submission {rating}: {body}");
    }
}

#[tokio::test]
async fn anonymous_survey_submissions_are_limited_per_address_and_staff_are_not() {
    let app = spawn_app().await;
    // Guessing tokens from one address: the default allows 30 a minute.
    let mut statuses = Vec::new();
    for attempt in 0..40 {
        let (status, body) = submit(&app, "TS-000001", &format!("guess-{attempt}"), 5).await;
        let codes = error_codes(&body);
        assert!(codes == ["UNAUTHENTICATED"] || codes == ["RATE_LIMITED"], "{body}");
        statuses.push(status);
    }
    assert!(statuses[..30].iter().all(|status| *status == 200), "{statuses:?}");
    assert!(statuses[30..].iter().all(|status| *status == 429), "{statuses:?}");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": SUBMIT, "variables": { "number": "TS-000001", "token": "again", "rating": 5 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // Staff requests are not counted against it.
    app.query_ok(&app.supervisor(), "{ me { subject } }", json!({})).await;
}
#[tokio::test]
async fn the_survey_limits_follow_their_settings() {
    let app = spawn_app_with(|settings| {
        settings.server.survey_rate_per_address = "2/1m".parse().unwrap();
    })
    .await;
    for _ in 0..2 {
        let (status, _) = submit(&app, "TS-000001", "guess", 5).await;
        assert_eq!(status, 200);
    }
    let (status, body) = submit(&app, "TS-000001", "guess", 5).await;
    assert_eq!((status, error_codes(&body)), (429, vec!["RATE_LIMITED".to_owned()]), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("2 per 1m"), "{body}");
}
