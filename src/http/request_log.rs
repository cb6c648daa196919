use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use tracing::Instrument;

use super::AppState;

/// The id of one HTTP request: in its log lines, its `X-Request-Id` response header and the
/// errors it answers.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn of(request: &HttpRequest) -> String {
        request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default()
    }
}

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives each request an id and a tracing span, logs one line when it ends with its status and
/// duration, and counts it in the metrics under its route (the pattern, never the raw path).
pub async fn log_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.path(),
    );
    let started = Instant::now();
    let outcome = next.call(request).instrument(span.clone()).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match outcome {
        Ok(mut response) => {
            let status = response.status().as_u16();
            if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
                let route = response.request().match_pattern();
                state.metrics.record_http(route.as_deref().unwrap_or("(unmatched)"), status);
            }
            tracing::info!(status, duration_ms, "request finished");
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(response)
        }
        Err(err) => {
            let status = err.as_response_error().status_code().as_u16();
            tracing::info!(status, duration_ms, error = %err, "request finished");
            Err(err)
        }
    }
}
