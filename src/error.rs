//! The one application error type, and how it reaches a GraphQL client.
//!
//! Resolvers return `AppError` through `?`; async-graphql keeps it as the error's source, and
//! [`finish_response_errors`] turns every error of a response into its client form: a stable
//! `extensions.code`, and for internal errors an opaque message with the request id while the
//! cause goes to the log.

use actix_web::http::StatusCode;
use async_graphql::{ErrorExtensionValues, PathSegment, ServerError, Value};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// Input that cannot be accepted; `field` names the offending input field.
    #[error("{field}: {message}")]
    BadUserInput { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// A stale version, a reused key with another payload, a concurrent change.
    #[error("{0}")]
    Conflict(String),
    /// A database statement ran longer than the statement timeout.
    #[error("{0}")]
    Timeout(String),
    /// The database cannot be reached or has no free connection; retrying later may succeed.
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] BoxError),
    /// Every pooled connection stayed in use for the whole pool timeout.
    #[error("the server is busy: no database connection became free within {}; try again shortly", humantime::format_duration(*.0))]
    PoolExhausted(std::time::Duration),
    /// Over a rate limit; `what` says what was counted ("from this address").
    #[error("too many requests {what} (at most {}); retry in {} s", .limited.limit, retry_seconds(.limited.retry_after))]
    RateLimited { what: &'static str, limited: crate::rate_limit::Limited },
    #[error("internal error")]
    Internal(#[source] BoxError),
    /// An error shared by several resolvers (a DataLoader's batch failed once for all of them).
    #[error("{0}")]
    Shared(std::sync::Arc<AppError>),
}

impl From<std::sync::Arc<AppError>> for AppError {
    fn from(shared: std::sync::Arc<AppError>) -> Self {
        AppError::Shared(shared)
    }
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput { field: field.into(), message: message.into() }
    }

    pub fn internal(err: impl Into<BoxError>) -> Self {
        AppError::Internal(err.into())
    }

    /// An input error of a shared check, renamed to where the input sits in this request:
    /// `period.to` checked for `input.baselineWindow` becomes `input.baselineWindow.to`.
    pub fn for_field(self, prefix: &str) -> Self {
        match self {
            AppError::BadUserInput { field, message } => {
                let rest = field.split_once('.').map(|(_, rest)| format!(".{rest}")).unwrap_or_default();
                AppError::BadUserInput { field: format!("{prefix}{rest}"), message }
            }
            other => other,
        }
    }

    /// The error itself, looking through [`AppError::Shared`].
    pub fn root(&self) -> &AppError {
        match self {
            AppError::Shared(inner) => inner.root(),
            other => other,
        }
    }

    /// The stable `extensions.code` clients branch on.
    pub fn code(&self) -> &'static str {
        match self.root() {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Timeout(_) => "TIMEOUT",
            AppError::Unavailable(_) | AppError::PoolExhausted(_) => "SERVICE_UNAVAILABLE",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Internal(_) | AppError::Shared(_) => "INTERNAL",
        }
    }

    /// The HTTP status of an answer that is this error alone: an export, or a request refused
    /// before its GraphQL operation ran. The same code always gets the same status.
    pub fn http_status(&self) -> StatusCode {
        status_of_code(self.code())
    }

    /// What the client is told: the message, except for internal errors, whose cause only the
    /// log gets (under `request_id`).
    pub fn client_message(&self, request_id: &str) -> String {
        match self.root() {
            AppError::Internal(_) => format!("internal error (request id {request_id})"),
            other => other.to_string(),
        }
    }

    /// Logs what the client is not told: the cause of an internal error, and the server-side
    /// trouble behind an unavailable database or a timeout.
    pub fn log(&self, request_id: &str) {
        match self.root() {
            AppError::Internal(cause) => tracing::error!(request_id, error = %cause, debug = ?cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(request_id, error = %cause, "database unavailable"),
            AppError::Timeout(_) => tracing::warn!(request_id, "a statement ran into the statement timeout"),
            AppError::PoolExhausted(waited) => tracing::warn!(request_id, ?waited, "no pooled connection became free"),
            _ => {}
        }
    }
}

/// Whole seconds to wait, at least 1 (what `Retry-After` says).
pub fn retry_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The HTTP status that goes with an `extensions.code`.
pub fn status_of_code(code: &str) -> StatusCode {
    match code {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "CONFLICT" => StatusCode::CONFLICT,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "TIMEOUT" => StatusCode::GATEWAY_TIMEOUT,
        "SERVICE_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<DieselError> for AppError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => AppError::NotFound("no such record".into()),
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                AppError::Conflict("a concurrent change got there first; retry".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => AppError::Unavailable(err.into()),
            // diesel does not pass on the SQLSTATE (57014); PostgreSQL's message is the only sign.
            // With a server set to another language the error stays INTERNAL.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().contains("statement timeout") =>
            {
                AppError::Timeout("the operation ran longer than the database allows; narrow it down".into())
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::Unavailable(err.into())
    }
}

/// Gives every error of a response its code, hides internals and cuts messages that quote long
/// input short. Errors that did not come from [`AppError`] are async-graphql's own (parse,
/// validation, input coercion): the client's input.
pub fn finish_response_errors(errors: &mut [ServerError], request_id: &str) {
    for error in errors {
        // async-graphql's own messages quote the input whole ("... does not contain the value").
        if let Some(short) = crate::domain::limits::shortened_message(&error.message) {
            error.message = short;
        }
        let (code, field, retry_after, hidden) = match error.source::<AppError>().map(AppError::root) {
            Some(app_error) => {
                app_error.log(request_id);
                let field = match app_error {
                    AppError::BadUserInput { field, .. } => Some(field.clone()),
                    _ => None,
                };
                let retry_after = match app_error {
                    AppError::RateLimited { limited, .. } => Some(retry_seconds(limited.retry_after)),
                    _ => None,
                };
                let hidden = matches!(app_error, AppError::Internal(_)).then(|| app_error.client_message(request_id));
                (app_error.code(), field, retry_after, hidden)
            }
            None if error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some()) => continue,
            None => ("BAD_USER_INPUT", None, None, None),
        };
        if let Some(message) = hidden {
            error.message = message;
        }
        let ext = extensions(error);
        ext.set("code", code);
        ext.set("requestId", request_id);
        if let Some(field) = field {
            ext.set("field", field);
        }
        if let Some(seconds) = retry_after {
            ext.set("retryAfterSeconds", seconds);
        }
    }
}

/// Puts `null` where a field error left a hole in `data`. async-graphql leaves a failed nullable
/// field (or the nearest nullable field above a failed non-null one) out of its object, while the
/// GraphQL spec (§6.4.4) and clients such as Apollo expect it present and null. Walking an
/// error's path from the root, the first key missing from an object that is there is that field.
pub fn null_failed_fields(data: &mut Value, errors: &[ServerError]) {
    for error in errors {
        let mut at = &mut *data;
        for segment in &error.path {
            at = match (at, segment) {
                (Value::Object(object), PathSegment::Field(field)) => {
                    let key = async_graphql::Name::new(field);
                    if !object.contains_key(&key) {
                        object.insert(key, Value::Null);
                        break;
                    }
                    match object.get_mut(field.as_str()) {
                        Some(next) => next,
                        None => break,
                    }
                }
                (Value::List(items), PathSegment::Index(index)) => match items.get_mut(*index) {
                    Some(next) => next,
                    None => break,
                },
                _ => break,
            };
        }
    }
}

fn extensions(error: &mut ServerError) -> &mut ErrorExtensionValues {
    error.extensions.get_or_insert_with(ErrorExtensionValues::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_at(path: &[PathSegment]) -> ServerError {
        let mut error = ServerError::new("refused", None);
        error.path = path.to_vec();
        error
    }

    fn field(name: &str) -> PathSegment {
        PathSegment::Field(name.to_owned())
    }

    #[test]
    fn a_failed_field_is_null_where_async_graphql_left_it_out() {
        let mut data = Value::from_json(serde_json::json!({
            "me": { "subject": "tess" },
            "tickets": { "nodes": [{ "number": "TS-1" }, { "number": "TS-2" }] },
        }))
        .unwrap();
        let errors = [
            // A nullable root field.
            error_at(&[field("systemStatus")]),
            // A non-null field inside a nullable one that async-graphql left out: the nullable one.
            error_at(&[field("me"), field("technician"), field("name")]),
            // Inside a list.
            error_at(&[field("tickets"), field("nodes"), PathSegment::Index(1), field("assignee")]),
            // Under a parent that is null itself: nothing to fill.
            error_at(&[field("gone"), field("deeper")]),
        ];
        null_failed_fields(&mut data, &errors);
        assert_eq!(
            data.into_json().unwrap(),
            serde_json::json!({
                "me": { "subject": "tess", "technician": null },
                "tickets": { "nodes": [{ "number": "TS-1" }, { "number": "TS-2", "assignee": null }] },
                "systemStatus": null,
                "gone": null,
            })
        );
        // An answer without data stays without.
        let mut nothing = Value::Null;
        null_failed_fields(&mut nothing, &errors);
        assert_eq!(nothing, Value::Null);
    }
}
