use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};

use super::{AppState, RequestId, refuse};
use crate::auth::{Caller, TokenError};
use crate::error::finish_response_errors;
use crate::graphql::prepare_request;

/// Response header with the number of SQL statements the operation ran (when enabled).
pub const STATEMENT_COUNT_HEADER: &str = "x-db-statements";

/// POST /graphql: one operation per request, authenticated by a bearer token. Nothing executes
/// unless the request is well-formed and the token valid.
pub async fn execute(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let request_id = RequestId::of(&request);

    if !is_json(&request) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the operation as application/json",
            &request_id,
        );
    }
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "batched requests are not supported: send one operation per request",
            &request_id,
        );
    }
    let operation: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(operation) => operation,
        Err(err) => {
            let message = format!("the body is not a GraphQL request: {err}");
            return refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &message, &request_id);
        }
    };

    let caller = match authenticate(&request, &state) {
        Ok(caller) => Some(caller),
        // The one operation open to everyone: a customer rating through a survey link.
        Err(TokenError::Missing) if is_public_operation(&operation) => None,
        Err(err) => {
            tracing::info!(reason = %err, "request refused: not authenticated");
            let message = match err {
                TokenError::Missing => "a bearer token is required",
                _ => "the bearer token is invalid or expired",
            };
            return refuse(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message, &request_id);
        }
    };

    if !state.startup.is_migrated() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the server is starting and the database is not ready yet",
            &request_id,
        );
    }

    let db = state.db.for_request();
    let operation = prepare_request(operation, caller, &db);
    let mut response = state.schema.execute(operation).await;
    finish_response_errors(&mut response.errors, &request_id);
    let statements = db.statements_run();
    tracing::info!(statements, "graphql operation finished");
    let mut http_response = HttpResponse::Ok();
    if state.expose_statement_count {
        http_response.insert_header((STATEMENT_COUNT_HEADER, statements.to_string()));
    }
    http_response.json(response)
}

/// True for a mutation whose only root fields are `submitSatisfaction` (its survey token is its
/// credential) and `__typename`.
fn is_public_operation(operation: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&operation.query) else { return false };
    let selected = match (&document.operations, &operation.operation_name) {
        (DocumentOperations::Single(single), _) => Some(single),
        (DocumentOperations::Multiple(many), Some(name)) => many.get(name.as_str()),
        (DocumentOperations::Multiple(_), None) => None,
    };
    let Some(selected) = selected else { return false };
    selected.node.ty == OperationType::Mutation
        && selected.node.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => matches!(field.node.name.node.as_str(), "submitSatisfaction" | "__typename"),
            _ => false,
        })
}

fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) fn authenticate(request: &HttpRequest, state: &AppState) -> Result<Caller, TokenError> {
    let header = request.headers().get(AUTHORIZATION).ok_or(TokenError::Missing)?;
    let value = header.to_str().map_err(|_| TokenError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    Ok(state.keys.verify(token.trim())?.into())
}

/// GET /graphiql: the in-browser IDE (the token goes in its headers pane).
pub async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(GraphiQLSource::build().endpoint("/graphql").title("deskpulse GraphiQL").finish())
}
