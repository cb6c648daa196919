//! Authentication on every GraphQL request and the role guard on supervisor-only fields.

use std::time::Duration;

use deskpulse::auth::{Claims, Role};
use deskpulse::config::JwtSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, error_codes, spawn_app, spawn_app_with};

const ME: &str = "{ me { subject role technicianId } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(exp: i64) -> Claims {
    Claims {
        sub: "tess".into(),
        role: Role::Technician,
        exp,
        iat: now() - 10,
        nbf: None,
        technician_id: None,
        iss: None,
        aud: None,
        purpose: None,
    }
}

fn sign(algorithm: Algorithm, claims: &Claims, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn assert_unauthenticated(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_codes(body), ["UNAUTHENTICATED"], "{body}");
    assert!(body.get("data").is_none(), "nothing executed: {body}");
}

#[tokio::test]
async fn a_request_without_a_token_is_refused() {
    let app = spawn_app().await;
    let (status, body) = app.graphql(None, ME, json!({})).await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn expired_tampered_and_wrong_algorithm_tokens_are_refused() {
    let app = spawn_app().await;
    let secret = TEST_SECRET.as_bytes();

    let valid = sign(Algorithm::HS256, &claims(now() + 600), secret);
    let (status, body) = app.graphql(Some(&valid), ME, json!({})).await;
    assert_eq!(status, 200, "the control token works: {body}");

    let expired = sign(Algorithm::HS256, &claims(now() - 3600), secret);
    let (status, body) = app.graphql(Some(&expired), ME, json!({})).await;
    assert_unauthenticated(status, &body);

    // Same header and signature, payload changed to claim ADMIN.
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut forged = claims(now() + 600);
    forged.role = Role::Admin;
    use base64_url_encode as b64;
    parts[1] = b64(&serde_json::to_vec(&forged).unwrap());
    let tampered = parts.join(".");
    let (status, body) = app.graphql(Some(&tampered), ME, json!({})).await;
    assert_unauthenticated(status, &body);

    let wrong_algorithm = sign(Algorithm::HS512, &claims(now() + 600), secret);
    let (status, body) = app.graphql(Some(&wrong_algorithm), ME, json!({})).await;
    assert_unauthenticated(status, &body);

    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(&serde_json::to_vec(&claims(now() + 600)).unwrap())
    );
    let (status, body) = app.graphql(Some(&unsigned), ME, json!({})).await;
    assert_unauthenticated(status, &body);

    let other_secret = sign(Algorithm::HS256, &claims(now() + 600), b"another-secret-that-is-long-enough-0123456789");
    let (status, body) = app.graphql(Some(&other_secret), ME, json!({})).await;
    assert_unauthenticated(status, &body);

    let (status, body) = app.graphql(Some("not-a-jwt"), ME, json!({})).await;
    assert_unauthenticated(status, &body);
}

/// Signs arbitrary claims, also ones `Claims` cannot represent.
fn sign_json(algorithm: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).unwrap()
}

/// Valid staff claims as JSON, for tests that break one rule at a time.
fn json_claims() -> Value {
    json!({ "sub": "tess", "role": "TECHNICIAN", "iat": now() - 10, "exp": now() + 600 })
}

async fn assert_accepted(app: &TestApp, token: &str) {
    let (status, body) = app.graphql(Some(token), ME, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["subject"], "tess", "{body}");
}

async fn assert_refused(app: &TestApp, case: &str, token: &str) {
    let (status, body) = app.graphql(Some(token), ME, json!({})).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}: {body}");
    assert!(body.get("data").is_none(), "{case}: nothing executed: {body}");
}

#[tokio::test]
async fn claims_that_break_the_token_rules_are_refused() {
    let app = spawn_app().await;
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    // The valid claims with `claim` set to `value`, or removed when `value` is None.
    let with = |claim: &str, value: Option<Value>| {
        let mut claims = json_claims();
        let object = claims.as_object_mut().unwrap();
        match value {
            Some(value) => object.insert(claim.to_owned(), value),
            None => object.remove(claim),
        };
        sign_json(Algorithm::HS256, &claims, &key)
    };

    // Controls: the claims as they are, and a `nbf` already passed, are accepted.
    assert_accepted(&app, &with("sub", Some(json!("tess")))).await;
    assert_accepted(&app, &with("nbf", Some(json!(now() - 5)))).await;

    let cases = [
        ("not yet valid (nbf ten minutes ahead)", "nbf", Some(json!(now() + 600))),
        ("no exp", "exp", None),
        ("exp as a string", "exp", Some(json!((now() + 600).to_string()))),
        ("an unknown role", "role", Some(json!("SUPERUSER"))),
        ("no role", "role", None),
        ("no sub", "sub", None),
        ("no iat", "iat", None),
    ];
    for (case, claim, value) in cases {
        assert_refused(&app, case, &with(claim, value)).await;
    }
}

#[tokio::test]
async fn issuer_and_audience_must_match_when_configured() {
    let app = spawn_app_with(|settings| {
        settings.jwt.issuer = Some("https://id.example.test".into());
        settings.jwt.audience = Some("deskpulse-api".into());
    })
    .await;
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let with = |iss: Option<&str>, aud: Option<&str>| {
        let mut claims = json_claims();
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            claims["aud"] = json!(aud);
        }
        sign_json(Algorithm::HS256, &claims, &key)
    };

    assert_accepted(&app, &with(Some("https://id.example.test"), Some("deskpulse-api"))).await;
    assert_accepted(&app, &app.token(Role::Technician, "tess")).await;
    assert_refused(&app, "wrong iss", &with(Some("https://evil.example.test"), Some("deskpulse-api"))).await;
    assert_refused(&app, "no iss", &with(None, Some("deskpulse-api"))).await;
    assert_refused(&app, "wrong aud", &with(Some("https://id.example.test"), Some("another-api"))).await;
    assert_refused(&app, "no aud", &with(Some("https://id.example.test"), None)).await;
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[tokio::test]
async fn an_rs256_server_refuses_hs256_tokens_keyed_with_its_public_key() {
    let app = spawn_app_with(|settings| {
        settings.jwt = JwtSettings {
            public_key: Some(fixture("jwt-rs256-public.pem")),
            private_key: Some(fixture("jwt-rs256-private.pem")),
            ..JwtSettings::default()
        };
    })
    .await;
    let private = EncodingKey::from_rsa_pem(&std::fs::read(fixture("jwt-rs256-private.pem")).unwrap()).unwrap();
    let public_pem = std::fs::read(fixture("jwt-rs256-public.pem")).unwrap();

    // Control: RS256 with the right key.
    assert_accepted(&app, &sign_json(Algorithm::RS256, &json_claims(), &private)).await;

    // The classic confusion: HMAC keyed with the (public) RSA key, hoping the server verifies
    // HS256 with whatever key it holds.
    let confused = sign_json(Algorithm::HS256, &json_claims(), &EncodingKey::from_secret(&public_pem));
    assert_refused(&app, "HS256 keyed with the public key", &confused).await;
    let pem_text = String::from_utf8(public_pem.clone()).unwrap();
    let trimmed = sign_json(Algorithm::HS256, &json_claims(), &EncodingKey::from_secret(pem_text.trim().as_bytes()));
    assert_refused(&app, "HS256 keyed with the trimmed public key", &trimmed).await;

    let hs256 = sign_json(Algorithm::HS256, &json_claims(), &EncodingKey::from_secret(TEST_SECRET.as_bytes()));
    assert_refused(&app, "HS256 with a shared secret", &hs256).await;
    let rs512 = sign_json(Algorithm::RS512, &json_claims(), &private);
    assert_refused(&app, "RS512 with the right key", &rs512).await;

    // A valid RS256 token whose payload was swapped: the signature no longer matches.
    let valid = sign_json(Algorithm::RS256, &json_claims(), &private);
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut forged = json_claims();
    forged["role"] = json!("ADMIN");
    parts[1] = base64_url_encode(&serde_json::to_vec(&forged).unwrap());
    assert_refused(&app, "a bad RS256 signature", &parts.join(".")).await;
}

fn base64_url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn me_answers_for_every_role() {
    let app = spawn_app().await;
    for role in [Role::Technician, Role::Supervisor, Role::Admin] {
        let token = app.keys.issue("someone", role, Some(7), Duration::from_secs(60)).unwrap();
        let data = app.query_ok(&token, ME, json!({})).await;
        assert_eq!(data["me"]["subject"], "someone");
        assert_eq!(data["me"]["role"], role.as_str());
        assert_eq!(data["me"]["technicianId"], "7");
    }
}

#[tokio::test]
async fn a_technician_gets_forbidden_on_a_supervisor_field_while_the_rest_answers() {
    let app = spawn_app().await;
    let query = "{ me { subject role } systemStatus { version appliedMigrations } }";

    let technician = app.token(Role::Technician, "tess");
    let (status, body) = app.graphql(Some(&technician), query, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"]["role"], "TECHNICIAN");
    assert_eq!(body["data"]["systemStatus"], Value::Null);
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(body["errors"][0]["path"], json!(["systemStatus"]));

    let data = app.query_ok(&app.supervisor(), query, json!({})).await;
    assert_eq!(data["me"]["role"], "SUPERVISOR");
    assert_eq!(data["systemStatus"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(data["systemStatus"]["appliedMigrations"].as_array().unwrap().len() >= 5);
}

#[tokio::test]
async fn batches_and_malformed_requests_are_refused_with_a_clear_error() {
    let app = spawn_app().await;
    let token = app.supervisor();
    let url = format!("{}/graphql", app.address);

    let batch = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!([{ "query": ME }, { "query": ME }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status().as_u16(), 400);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("batched requests are not supported"));

    let malformed = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);

    let wrong_type = app.client.post(&url).bearer_auth(&token).body(ME).send().await.unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);

    let (status, body) = app.graphql(Some(&token), "{ me { nosuchfield } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn subjects_issue_times_and_critical_headers_no_issuer_sends_are_refused() {
    let app = spawn_app().await;
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let with = |claim: &str, value: Value| {
        let mut claims = json_claims();
        claims[claim] = value;
        sign_json(Algorithm::HS256, &claims, &key)
    };
    // Controls: a 200-character subject, and an `iat` a few seconds ahead (clock skew).
    let longest = "s".repeat(200);
    let (status, body) = app.graphql(Some(&with("sub", json!(longest))), ME, json!({})).await;
    assert_eq!((status, body["data"]["me"]["subject"].as_str()), (200, Some(longest.as_str())), "{body}");
    assert_accepted(&app, &with("iat", json!(now() + 10))).await;

    let cases = [
        ("an empty sub", with("sub", json!(""))),
        ("a blank sub", with("sub", json!("   "))),
        ("a 201-character sub", with("sub", json!("s".repeat(201)))),
        ("a 5 KB sub", with("sub", json!("s".repeat(5_000)))),
        ("a 50 KB sub", with("sub", json!("s".repeat(50_000)))),
        ("a sub with a control character", with("sub", json!("tess\n2026-01-01 forged log line"))),
        ("an iat an hour ahead", with("iat", json!(now() + 3600))),
        ("an iat as a string", with("iat", json!(now().to_string()))),
    ];
    for (case, token) in cases {
        assert_refused(&app, case, &token).await;
    }

    // RFC 7515 §4.1.11: a `crit` header naming extensions the server does not understand.
    for crit in [vec!["x-unknown-extension"], vec!["exp"], vec![]] {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(crit.iter().map(|name| name.to_string()).collect());
        let token = jsonwebtoken::encode(&header, &json_claims(), &key).unwrap();
        assert_refused(&app, &format!("crit {crit:?}"), &token).await;
    }
}

const REVOKE: &str = "mutation($subject: String!, $notBefore: DateTime) {
    revokeTokens(subject: $subject, notBefore: $notBefore) { subject notBefore revokedBy revokedAt } }";

#[tokio::test]
async fn an_admin_revokes_a_subjects_tokens_before_they_expire() {
    let app = spawn_app().await;
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let issued = |subject: &str, role: &str, iat: i64| {
        let claims = json!({ "sub": subject, "role": role, "iat": iat, "exp": now() + 3600 });
        sign_json(Algorithm::HS256, &claims, &key)
    };
    let tess = issued("tess", "TECHNICIAN", now() - 60);
    let sam = issued("sam", "SUPERVISOR", now() - 60);
    let other = issued("olga", "TECHNICIAN", now() - 60);
    assert_accepted(&app, &tess).await;

    // Only an ADMIN revokes.
    for token in [&sam, &tess] {
        let (code, _) = app.query_error(token, REVOKE, json!({ "subject": "olga" })).await;
        assert_eq!(code, "FORBIDDEN");
    }

    let revoked = app.query_ok(&app.admin(), REVOKE, json!({ "subject": "tess" })).await;
    assert_eq!(revoked["revokeTokens"]["subject"], "tess");
    assert_eq!(revoked["revokeTokens"]["revokedBy"], "ada.admin");
    app.query_ok(&app.admin(), REVOKE, json!({ "subject": "sam" })).await;

    // Tokens issued before the instant are refused at once, on GraphQL and on the exports.
    assert_refused(&app, "a revoked token", &tess).await;
    let export = app
        .client
        .get(format!("{}/export/tickets.csv?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z", app.address))
        .bearer_auth(&sam)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 401);
    // Another subject's tokens, and tokens issued after the instant, are not touched.
    let (status, body) = app.graphql(Some(&other), ME, json!({})).await;
    assert_eq!((status, body["data"]["me"]["subject"].as_str()), (200, Some("olga")), "{body}");
    assert_accepted(&app, &issued("tess", "TECHNICIAN", now() + 2)).await;

    // The instant can be moved back (to an hour ago: the revoked token works again), never
    // into the future.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    app.query_ok(&app.admin(), REVOKE, json!({ "subject": "tess", "notBefore": hour_ago })).await;
    assert_accepted(&app, &tess).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (code, error) =
        app.query_error(&app.admin(), REVOKE, json!({ "subject": "tess", "notBefore": tomorrow })).await;
    assert_eq!((code.as_str(), &error["extensions"]["field"]), ("BAD_USER_INPUT", &json!("notBefore")), "{error}");
    let (code, _) = app.query_error(&app.admin(), REVOKE, json!({ "subject": "" })).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

/// `{ me { technician { … } } }` with `token`: the answer and the SQL statements it cost beyond the
/// token check.
async fn my_technician(app: &TestApp, token: &str) -> (u16, Value, u64) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { subject technician { id name active } } }" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let statements = response.headers().get("x-db-statements").map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    (status, response.json().await.unwrap(), statements)
}

#[tokio::test]
async fn the_token_check_reads_the_callers_technician_and_still_refuses_revoked_tokens() {
    let app = spawn_app().await;
    let tess_id = app.create_technician("Tess", "L1").await;
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let issued = |subject: &str, technician_id: i64| {
        let claims = json!({ "sub": subject, "role": "TECHNICIAN", "technician_id": technician_id,
            "iat": now() - 60, "exp": now() + 3600 });
        sign_json(Algorithm::HS256, &claims, &key)
    };
    let tess = issued("tess", tess_id);
    // The technician comes with the token check: `me.technician` costs no statement of its own.
    let (status, body, statements) = my_technician(&app, &tess).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["technician"], json!({ "id": tess_id.to_string(), "name": "Tess", "active": true }));
    assert_eq!(statements, 0, "{body}");

    // A token naming a technician that does not exist reads, without a technician.
    let ghost = issued("ghost", tess_id + 1000);
    let (status, body, _) = my_technician(&app, &ghost).await;
    assert_eq!((status, &body["data"]["me"]["technician"]), (200, &Value::Null), "{body}");

    // Revocation holds on both paths: the technician's (revocation joined in) and the other.
    for subject in ["tess", "ghost"] {
        app.query_ok(&app.admin(), REVOKE, json!({ "subject": subject })).await;
    }
    for token in [&tess, &ghost] {
        let (status, body, _) = my_technician(&app, token).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    }
    // Another technician's token is not touched.
    let (status, body, _) = my_technician(&app, &issued("other", tess_id)).await;
    assert_eq!((status, &body["data"]["me"]["subject"]), (200, &json!("other")), "{body}");
}

/// A query's token check runs with its first statements: whatever a query reads first (a page
/// with nested records, one ticket, KPIs read through `run_reporting`, a DataLoader, nothing at
/// all), a revoked token gets 401 and no data, and a standing one its answer.
#[tokio::test]
async fn a_revoked_token_gets_no_data_whatever_the_query_reads_first() {
    let app = spawn_app().await;
    let customer = app.create_customer("Acme").await;
    let ticket = app.create_ticket(&app.supervisor(), customer, json!({})).await;
    let number = ticket["number"].as_str().unwrap().to_owned();
    let queries = [
        ("a page with nested records", "{ tickets(first: 5) { edges { node { number customer { name } } } } }".to_owned()),
        ("one ticket with its timeline", format!("{{ ticketByNumber(number: \"{number}\") {{ number timeline {{ kind }} }} }}")),
        ("a DataLoader", format!("{{ customer(id: \"{customer}\") {{ name }} }}")),
        ("KPIs, a reporting read", "{ kpis(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { current { ticketsOpened } } }".to_owned()),
        ("two root fields", "{ me { subject } tickets(first: 1) { totalCount } }".to_owned()),
        ("no statement at all", "{ me { subject } }".to_owned()),
    ];
    let rita = app.token(Role::Supervisor, "rita");
    for (case, query) in &queries {
        let (status, body) = app.graphql(Some(&rita), query, json!({})).await;
        assert_eq!(status, 200, "{case}: {body}");
        assert!(body.get("errors").is_none(), "{case}: {body}");
    }

    app.query_ok(&app.admin(), REVOKE, json!({ "subject": "rita" })).await;
    for (case, query) in &queries {
        let (status, body) = app.graphql(Some(&rita), query, json!({})).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}: {body}");
        assert!(body.get("data").is_none(), "{case}: no data: {body}");
    }
}

/// A mutation's token check runs with its first statement too: whatever a mutation does first (a
/// ticket write, a nested read, a refusal of its input before any statement), a revoked token
/// gets 401 and nothing is written, and a standing one its answer.
#[tokio::test]
async fn a_revoked_token_writes_nothing_whatever_the_mutation_does_first() {
    let app = spawn_app().await;
    let customer = app.create_customer("Acme").await;
    let rita = app.token(Role::Supervisor, "rita");
    let ticket = app.create_ticket(&rita, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let mutations = [
        ("a ticket write", "mutation($id: ID!) { addTicketNote(id: $id, version: 1, note: \"n\") { version } }"),
        (
            "a write with nested reads",
            "mutation($id: ID!) { addTicketNote(id: $id, version: 2, note: \"n\") { customer { name } timeline { kind } } }",
        ),
        (
            "two root fields",
            "mutation($id: ID!) { a: addTicketNote(id: $id, version: 3, note: \"n\") { version } b: createCustomer(input: { name: \"B\" }) { id } }",
        ),
    ];
    for (case, mutation) in &mutations {
        let (status, body) = app.graphql(Some(&rita), mutation, json!({ "id": id })).await;
        assert_eq!(status, 200, "{case}: {body}");
        assert!(body.get("errors").is_none(), "{case}: {body}");
    }
    let refused_input = "mutation { createCustomer(input: { name: \"\" }) { id } }";
    let (_, body) = app.graphql(Some(&rita), refused_input, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");

    app.query_ok(&app.admin(), REVOKE, json!({ "subject": "rita" })).await;
    let before = crate::helpers::table_counts(&app.database);
    for (case, mutation) in mutations.iter().chain([&("a refusal before any statement", refused_input)]) {
        let (status, body) = app.graphql(Some(&rita), mutation, json!({ "id": id })).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}: {body}");
        assert!(body.get("data").is_none(), "{case}: no data: {body}");
    }
    assert_eq!(crate::helpers::table_counts(&app.database), before, "nothing was written");
}

#[tokio::test]
async fn a_forbidden_field_is_null_in_data_beside_its_error() {
    let app = spawn_app().await;
    let technician = app.token(Role::Technician, "tess");
    let (status, body) = app.graphql(Some(&technician), "{ me { subject } systemStatus { version } }", json!({})).await;
    assert_eq!(status, 200);
    let data = body["data"].as_object().expect("data is an object");
    assert_eq!(data.get("me"), Some(&json!({ "subject": "tess" })), "{body}");
    assert_eq!(data.get("systemStatus"), Some(&Value::Null), "the field is present and null: {body}");
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}
