use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, ContentType, HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::OperationType;

use super::access::{Refused, StandingCheck, caller_and_technician, verified_claims};
use super::metrics::OperationLabel;
use super::{AppState, RequestId, refuse};
use crate::auth::TokenError;
use crate::domain::permissions;
use crate::error::{AppError, finish_response_errors, null_failed_fields, retry_seconds};
use crate::graphql::bounds::{self, LimitExceeded, OperationShape};
use crate::graphql::{CallerTechnician, WritesJson, prepare_request, unsplice, write_response};
use crate::rate_limit::Limited;

/// Response header with the number of SQL statements the operation ran (when enabled).
pub const STATEMENT_COUNT_HEADER: &str = "x-db-statements";

/// The root fields a request without a staff token may select: a customer rating through a
/// survey link, whose own token is its credential.
const PUBLIC_MUTATION_FIELDS: [&str; 2] = ["submitSatisfaction", "__typename"];

/// How a request was answered, for the metrics.
struct Answer {
    response: HttpResponse,
    /// The operation's name, when the request got as far as saying it.
    operation: Option<String>,
    invalid: bool,
    error_codes: Vec<String>,
}

impl Answer {
    /// A request refused before it was read as GraphQL.
    fn invalid(status: StatusCode, code: &str, message: &str, request_id: &str) -> Answer {
        let response = refuse(status, code, message, request_id);
        Answer { response, operation: None, invalid: true, error_codes: vec![code.to_owned()] }
    }

    /// A GraphQL request refused before it ran.
    fn refused(operation: Option<String>, status: StatusCode, code: &str, message: &str, request_id: &str) -> Answer {
        let response = refuse(status, code, message, request_id);
        Answer { response, operation, invalid: false, error_codes: vec![code.to_owned()] }
    }
}

/// POST /graphql: one operation per request, authenticated by a bearer token, held to the
/// configured bounds. Nothing executes unless the request is well-formed, within bounds and
/// authenticated.
pub async fn execute(
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = RequestId::of(&request);
    let answer = answer(&request, body, &state, &request_id).await;
    let label = match (&answer.operation, answer.invalid) {
        (_, true) => OperationLabel::Invalid,
        (Some(name), false) => OperationLabel::Named(name),
        (None, false) => OperationLabel::Anonymous,
    };
    state.metrics.record_graphql(label, started.elapsed(), answer.error_codes.iter().map(String::as_str));
    answer.response
}

async fn answer(
    request: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    state: &AppState,
    request_id: &str,
) -> Answer {
    let body = match body {
        Ok(body) => body,
        Err(err) => {
            let status = err.as_response_error().status_code();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {} bytes", state.max_body_bytes)
            } else {
                format!("the body could not be read: {err}")
            };
            return Answer::invalid(status, "BAD_USER_INPUT", &message, request_id);
        }
    };
    if !is_json(request) {
        return Answer::invalid(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the operation as application/json",
            request_id,
        );
    }
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return Answer::invalid(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "batched requests are not supported: send one operation per request",
            request_id,
        );
    }
    let mut operation: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(operation) => operation,
        Err(err) => {
            let message = format!("the body is not a GraphQL request: {err}");
            return Answer::invalid(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &message, request_id);
        }
    };

    // Parsed once here; the schema reuses the document. A document that does not parse is left
    // to the schema, which answers the syntax error.
    let operation_name = operation.operation_name.clone();
    let checked: Result<Option<OperationShape>, LimitExceeded> = match state.documents.parse(&mut operation) {
        Ok(document) => bounds::check(document, operation_name.as_deref(), &state.document_limits),
        Err(_) => Ok(None),
    };
    let shape = checked.as_ref().ok().and_then(Option::as_ref);
    // The metrics label: the name of the operation the document really holds, never a name the
    // client merely sent (a client could otherwise use up the label slots).
    let name = shape.and_then(|shape| shape.name.clone());

    let public = shape.is_some_and(|shape| shape.is_mutation_of_only(&PUBLIC_MUTATION_FIELDS));
    let claims = match verified_claims(request, state) {
        Ok(claims) => Some(claims),
        Err(TokenError::Missing) if public => None,
        Err(err) => return unauthenticated(&err, request_id),
    };
    if claims.is_none()
        && let Err(limited) = address_budget(request, state)
    {
        let error = AppError::RateLimited { what: "from this address", limited };
        let mut answer = Answer::refused(None, error.http_status(), error.code(), &error.to_string(), request_id);
        answer.response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_seconds(limited.retry_after)));
        return answer;
    }

    if !state.startup.is_migrated() {
        return Answer::refused(
            name,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the server is starting and the database is not ready yet",
            request_id,
        );
    }
    // A query or mutation that will run has its token checked with its first statements (a
    // mutation's check also refuses a deactivated technician's writes); anything else (a refusal
    // still to come) has it checked now, on a trip of its own.
    let (runs, writes) = match &checked {
        Ok(Some(shape)) if state.introspection || !shape.introspects() => match shape.kind {
            OperationType::Query => (true, false),
            OperationType::Mutation => (true, true),
            OperationType::Subscription => (false, false),
        },
        _ => (false, false),
    };
    let (caller, technician, standing_check) = match claims {
        Some(claims) if runs => {
            let (caller, check) = StandingCheck::of(claims, writes);
            let technician = CallerTechnician::WithFirstStatements(check.technician.clone());
            (Some(caller), technician, Some(Arc::new(check)))
        }
        Some(claims) => match caller_and_technician(claims, state).await {
            Ok((caller, technician)) => (Some(caller), CallerTechnician::Read(technician), None),
            Err(Refused::Token(err)) => return unauthenticated(&err, request_id),
            Err(Refused::Unchecked(err)) => return unchecked(err, request_id),
        },
        None => (None, CallerTechnician::Read(None), None),
    };

    // Like async-graphql's own depth and complexity errors: a GraphQL error in a 200 answer.
    let shape = match checked {
        Ok(shape) => shape,
        Err(exceeded) => {
            tracing::info!(limit = %exceeded, "request refused: over a query limit");
            return Answer::refused(name, StatusCode::OK, "BAD_USER_INPUT", &exceeded.0, request_id);
        }
    };
    if shape.as_ref().is_some_and(OperationShape::introspects) && !state.introspection {
        let message = "introspection is disabled on this server";
        return Answer::refused(name, StatusCode::OK, "FORBIDDEN", message, request_id);
    }
    // Every mutation writes. A caller acting for a deactivated technician writes nothing: a
    // mutation that runs has that held by its gated token check (`StandingCheck`) before any of
    // its statements; this holds it for a mutation whose check ran on a trip of its own (none
    // that runs today: a fallback, should a path to it appear).
    let writes = shape.as_ref().is_some_and(|shape| shape.kind == OperationType::Mutation);
    if writes
        && standing_check.is_none()
        && let Some(caller) = &caller
        && let Err(err) = permissions::may_write(caller)
    {
        tracing::info!(subject = %caller.subject, "write refused: the caller's technician is not active");
        return Answer::refused(name, StatusCode::OK, err.code(), &err.to_string(), request_id);
    }

    let anonymous = caller.is_none();
    let mut db = state.db.for_request();
    if let Some(check) = &standing_check {
        db = db.gated(check.clone(), &state.access_db);
    }
    let mut operation = prepare_request(operation, caller, technician, &db).await;
    if anonymous {
        operation = operation.disable_introspection();
    }
    // This answer writes the response itself (below), so its records may come as JSON text.
    operation = operation.data(WritesJson);
    // Dropping the operation at the deadline stops its resolvers; a statement already sent
    // runs on until it ends or hits the statement timeout. Nothing is answered before the token
    // check has passed: a query that ran no statement has it run now, within the same deadline.
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let executed = tokio::time::timeout_at(deadline, async {
        let response = state.schema.execute(operation).await;
        (response, db.gate_passed().await)
    });
    let Ok((mut response, standing)) = executed.await else {
        tracing::warn!(timeout = ?state.request_timeout, "request timed out");
        let message = format!(
            "the request took longer than {}; narrow it down or retry later",
            humantime::format_duration(state.request_timeout)
        );
        return Answer::refused(name, StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", &message, request_id);
    };
    match standing {
        Ok(()) => {}
        Err(err) if matches!(err.root(), AppError::Unauthenticated(_)) => {
            return unauthenticated(&TokenError::Revoked, request_id);
        }
        // Logged by the check, with the subject.
        Err(err) if matches!(err.root(), AppError::Forbidden(_)) => {
            return Answer::refused(name, StatusCode::OK, err.root().code(), &err.root().to_string(), request_id);
        }
        Err(err) => return unchecked(err, request_id),
    }
    // A response with errors (or extensions) is serialized whole, its failed fields nulled by
    // path through the records' values.
    let whole = !response.errors.is_empty() || !response.extensions.is_empty();
    if whole {
        unsplice(&mut response.data);
    }
    finish_response_errors(&mut response.errors, request_id);
    null_failed_fields(&mut response.data, &response.errors);
    let statements = db.statements_run();
    tracing::info!(statements, "graphql operation finished");
    let error_codes = response
        .errors
        .iter()
        .map(|error| {
            let code = error.extensions.as_ref().and_then(|ext| ext.get("code"));
            match code {
                Some(async_graphql::Value::String(code)) => code.clone(),
                _ => "INTERNAL".to_owned(),
            }
        })
        .collect();
    let mut http_response = HttpResponse::Ok();
    // A survey link used too often: say so in the status too, with when to retry.
    if let Some(wait) = rate_limited_wait(&response.errors) {
        http_response.status(StatusCode::TOO_MANY_REQUESTS);
        http_response.insert_header((RETRY_AFTER, HeaderValue::from(wait)));
    }
    if state.expose_statement_count {
        http_response.insert_header((STATEMENT_COUNT_HEADER, statements.to_string()));
    }
    let response = if whole {
        http_response.json(response)
    } else {
        http_response.content_type(ContentType::json()).body(write_response(&response.data))
    };
    Answer { response, operation: name, invalid: false, error_codes }
}

fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// 401 for a request without a usable token. It names no metrics label: anyone could send any
/// name.
fn unauthenticated(err: &TokenError, request_id: &str) -> Answer {
    tracing::info!(reason = %err, "request refused: not authenticated");
    let message = match err {
        TokenError::Missing => "a bearer token is required",
        _ => "the bearer token is invalid, expired or revoked",
    };
    Answer::refused(None, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message, request_id)
}

/// A request whose token could not be checked (the database failed): nothing runs, or what ran is
/// not answered, and it names no label.
fn unchecked(err: AppError, request_id: &str) -> Answer {
    err.log(request_id);
    let message = err.client_message(request_id);
    Answer::refused(None, err.http_status(), err.code(), &message, request_id)
}

/// Counts an anonymous (survey) request against its client address's budget.
fn address_budget(request: &HttpRequest, state: &AppState) -> Result<(), Limited> {
    match request.peer_addr() {
        Some(peer) => state.survey_limits.check_address(peer.ip()),
        None => Ok(()),
    }
}

/// The longest wait any RATE_LIMITED error of a response asks for, in seconds.
fn rate_limited_wait(errors: &[async_graphql::ServerError]) -> Option<u64> {
    errors
        .iter()
        .filter_map(|error| {
            let extensions = error.extensions.as_ref()?;
            match (extensions.get("code"), extensions.get("retryAfterSeconds")) {
                (Some(async_graphql::Value::String(code)), Some(async_graphql::Value::Number(wait)))
                    if code == "RATE_LIMITED" =>
                {
                    wait.as_u64()
                }
                _ => None,
            }
        })
        .max()
}
