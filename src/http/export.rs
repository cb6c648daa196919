//! GET /export/...: CSV and JSON for BI tools that cannot speak GraphQL, with the same bearer
//! tokens (SUPERVISOR and ADMIN). The ticket export streams: rows are read in batches inside one
//! snapshot and written to the client as they come, so memory stays flat however many there are.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tracing::Instrument;

use super::access::{Refused, caller_of, verified_claims};
use super::{AppState, RequestId, refuse};
use crate::auth::{Role, TokenError};
use crate::db::Db;
use crate::domain::limits::{self, PERIOD_MAX_DAYS};
use crate::error::AppError;
use crate::export::{REPORT_COLUMNS, TICKET_COLUMNS, report_json, report_records, ticket_record};
use crate::models::PerformanceReport;
use crate::replicas::replica_may_retry;
use crate::store;

/// Tickets read per statement, and so the rows per chunk sent to the client.
const BATCH_ROWS: i64 = 1_000;
/// Chunks buffered between the database thread and a slow client: the memory bound.
const CHUNKS_IN_FLIGHT: usize = 4;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/export/tickets.csv", web::get().to(tickets_csv))
        .route("/export/reports/{id}.csv", web::get().to(report_csv))
        .route("/export/reports/{id}.json", web::get().to(report_json_file));
}

/// Why an export is refused; answered as a GraphQL-shaped error, with the status that goes with
/// its code, the same mapping as GraphQL's (`AppError::http_status`).
enum Refusal {
    /// Refused here, before any work.
    Here { status: StatusCode, code: &'static str, message: String },
    /// The work failed.
    Failed(AppError),
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::Here { status, code, message: message.into() }
    }

    fn bad_input(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
    }

    fn respond(self, request: &HttpRequest) -> HttpResponse {
        let request_id = RequestId::of(request);
        let mut response = match self {
            Refusal::Here { status, code, message } => refuse(status, code, &message, &request_id),
            Refusal::Failed(err) => {
                err.log(&request_id);
                refuse(err.http_status(), err.code(), &err.client_message(&request_id), &request_id)
            }
        };
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
        response
    }
}

impl From<AppError> for Refusal {
    fn from(err: AppError) -> Refusal {
        Refusal::Failed(err)
    }
}

/// Exports carry customer data: no browser or proxy keeps a copy.
const NO_STORE: &str = "no-store";

/// Refuses requests made before the database is migrated, callers without a valid, unrevoked
/// token, and callers below SUPERVISOR.
async fn admit(request: &HttpRequest, state: &AppState) -> Result<(), Refusal> {
    let claims = verified_claims(request, state).map_err(unauthenticated)?;
    if !state.startup.is_migrated() {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the server is starting and the database is not ready yet",
        ));
    }
    let caller = match caller_of(claims, state).await {
        Ok(caller) => caller,
        Err(Refused::Token(err)) => return Err(unauthenticated(err)),
        Err(Refused::Unchecked(err)) => return Err(Refusal::Failed(err)),
    };
    if !caller.has_role(Role::Supervisor) {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "FORBIDDEN", "exports need the SUPERVISOR role"));
    }
    Ok(())
}

fn unauthenticated(err: TokenError) -> Refusal {
    tracing::info!(reason = %err, "export refused: not authenticated");
    let message = match err {
        TokenError::Missing => "a bearer token is required",
        _ => "the bearer token is invalid, expired or revoked",
    };
    Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
}

#[derive(Deserialize)]
pub struct PeriodQuery {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn export_period(request: &HttpRequest) -> Result<PeriodQuery, Refusal> {
    let period = web::Query::<PeriodQuery>::from_query(request.query_string())
        .map_err(|err| Refusal::bad_input(format!("give from and to as RFC 3339 instants: {err}")))?
        .into_inner();
    if period.to <= period.from || (period.to - period.from).num_days() > PERIOD_MAX_DAYS {
        return Err(Refusal::bad_input(format!("to must be after from, at most {PERIOD_MAX_DAYS} days later")));
    }
    limits::period_in_range("period", period.from, period.to)?;
    Ok(period)
}

/// GET /export/tickets.csv?from=...&to=...: one row per ticket opened in `[from, to)`.
///
/// The status line waits for the first batch, so a database that is down or busy is a 503, not a
/// 200 with an empty body. A read replica that fails before the first batch hands the export to
/// the primary; after that, a failure can only cut the stream short.
async fn tickets_csv(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let period = match admit(&request, &state).await.and_then(|()| export_period(&request)) {
        Ok(period) => period,
        Err(refusal) => return refusal.respond(&request),
    };
    let Ok(slot) = state.export_slots.clone().try_acquire_owned() else {
        let message = "as many exports as allowed are running; retry when one has finished";
        return Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message).respond(&request);
    };
    let slot = Arc::new(slot);
    let (from, to, stall) = (period.from, period.to, state.export_stall_timeout);
    let primary = state.db.for_request();

    // Read-only and long: a usable read replica's, when there is one.
    let (db, replica) = primary.for_reporting();
    let mut export = start_ticket_export(db, (from, to), stall, slot.clone());
    let mut first_batch = export.first_batch().await;
    if let (Err(err), Some(replica)) = (&first_batch, replica)
        && replica_may_retry(err)
    {
        replica.read_failed(err);
        primary.replicas().count_fallback();
        export = start_ticket_export(primary, (from, to), stall, slot);
        first_batch = export.first_batch().await;
    }
    if let Err(err) = first_batch {
        return Refusal::from(err).respond(&request);
    }
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((CACHE_CONTROL, NO_STORE))
        .insert_header((
            CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"tickets-{}-{}.csv\"",
                from.format("%Y%m%dT%H%M%SZ"),
                to.format("%Y%m%dT%H%M%SZ")
            ),
        ))
        .streaming(export.body)
}

/// A ticket export under way on a blocking thread: its body, and whether it got going.
struct TicketExport<B> {
    body: B,
    started: oneshot::Receiver<Result<(), AppError>>,
}

impl<B> TicketExport<B> {
    /// Waits for the first batch to be queued, or for the error that stopped it before.
    async fn first_batch(&mut self) -> Result<(), AppError> {
        match (&mut self.started).await {
            Ok(outcome) => outcome,
            Err(_) => Err(AppError::internal("the export ended before its first batch")),
        }
    }
}

/// Starts reading the period's tickets through `db`; the export slot is held until it ends.
fn start_ticket_export(
    db: Db,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    stall: Duration,
    slot: Arc<OwnedSemaphorePermit>,
) -> TicketExport<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + use<>> {
    let (chunks, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    let (started, first_batch) = oneshot::channel();
    let started = Arc::new(Started(Mutex::new(Some(started))));
    // Set once every row is queued; a stream that ends without it ends in an error, so the
    // client sees an incomplete transfer rather than a short file that looks whole.
    let finished = Arc::new(AtomicBool::new(false));
    let body = export_body(receiver, finished.clone());
    let task = async move {
        let _slot = slot;
        let writer_started = started.clone();
        // Held until `finished` is set, so the body cannot see the channel close before it.
        let keep_open = chunks.clone();
        let written = db.run(move |conn| write_tickets(conn, (from, to), &chunks, &writer_started, stall)).await;
        match written {
            Ok(true) => finished.store(true, Ordering::Release),
            Ok(false) => {}
            Err(err) => {
                if let Some(err) = started.report(Err(err)) {
                    tracing::error!(error = %err, "ticket export stopped part-way");
                }
            }
        }
        drop(keep_open);
    };
    tokio::spawn(task.instrument(tracing::Span::current()));
    TicketExport { body, started: first_batch }
}

type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// The response body: the queued chunks, then an error unless the writer finished.
fn export_body(
    receiver: Chunks,
    finished: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(Some(receiver), move |receiver| {
        let finished = finished.clone();
        async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Some(chunk) => Some((chunk, Some(receiver))),
                None if finished.load(Ordering::Acquire) => None,
                None => Some((Err(std::io::Error::other("the export stopped before its end")), None)),
            }
        }
    })
}

/// Tells the waiting handler, once, whether the export got going.
struct Started(Mutex<Option<oneshot::Sender<Result<(), AppError>>>>);

impl Started {
    /// Sends `outcome` if nothing was sent yet; otherwise hands it back.
    fn report(&self, outcome: Result<(), AppError>) -> Option<AppError> {
        let sender = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match (sender, outcome) {
            (Some(sender), outcome) => {
                let _ = sender.send(outcome);
                None
            }
            (None, Err(err)) => Some(err),
            (None, Ok(())) => None,
        }
    }
}

/// Reads the period's tickets batch by batch in one snapshot and queues each batch as CSV; true
/// when every row was queued. Runs on a blocking thread; a client that goes away, or stops
/// reading for `stall`, ends it early.
fn write_tickets(
    conn: &mut diesel::PgConnection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    chunks: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    started: &Started,
    stall: Duration,
) -> Result<bool, AppError> {
    let runtime = tokio::runtime::Handle::current();
    let mut every_row_queued = false;
    let read = conn.build_transaction().read_only().repeatable_read().run(|conn| {
        // A backstop for the open snapshot, should this thread ever stop without ending it.
        let idle = format!("SET LOCAL idle_in_transaction_session_timeout = {}", (stall * 2).as_millis());
        diesel::RunQueryDsl::execute(diesel::sql_query(idle), conn)?;
        let mut after = None;
        let mut chunk = csv_chunk(&[TICKET_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()]);
        loop {
            let rows = store::exports::ticket_batch(conn, from, to, after, BATCH_ROWS)?;
            after = rows.last().map(|row| (row.opened_at, row.id));
            chunk.extend(csv_chunk(&rows.iter().map(ticket_record).collect::<Vec<_>>()));
            let sent =
                runtime.block_on(tokio::time::timeout(stall, chunks.send(Ok(Bytes::from(std::mem::take(&mut chunk))))));
            started.report(Ok(()));
            match sent {
                Ok(Ok(())) => {}
                // The client went away: stop reading.
                Ok(Err(_)) => return Ok(false),
                Err(_) => {
                    tracing::warn!(?stall, "ticket export abandoned: the client stopped reading");
                    return Ok(false);
                }
            }
            if (rows.len() as i64) < BATCH_ROWS {
                every_row_queued = true;
                return Ok(true);
            }
        }
    });
    match read {
        // Every row came from the one snapshot: a read-only transaction whose COMMIT fails (the
        // server went away just then) has lost nothing, so the file is whole.
        Err(err) if every_row_queued => {
            tracing::warn!(error = %err, "ticket export: the snapshot did not close cleanly after its last row");
            Ok(true)
        }
        read => read,
    }
}

/// CSV bytes of `records` (a header is just the first record).
fn csv_chunk<R: AsRef<[String]>>(records: &[R]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        // Writing into memory cannot fail.
        writer.write_record(record.as_ref()).expect("write a CSV record into memory");
    }
    writer.into_inner().expect("flush CSV into memory")
}

fn report_id(request: &HttpRequest) -> Result<i64, Refusal> {
    request
        .match_info()
        .get("id")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such report"))
}

async fn load_report(request: &HttpRequest, state: &AppState) -> Result<PerformanceReport, Refusal> {
    admit(request, state).await?;
    let id = report_id(request)?;
    Ok(state.db.run(move |conn| store::reports::find(conn, id)).await?)
}

/// GET /export/reports/{id}.json: the stored report, as generated.
async fn report_json_file(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match load_report(&request, &state).await {
        Ok(report) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, NO_STORE))
            .insert_header((CONTENT_DISPOSITION, format!("attachment; filename=\"report-{}.json\"", report.id)))
            .json(report_json(&report)),
        Err(refusal) => refusal.respond(&request),
    }
}

/// GET /export/reports/{id}.csv: the stored report, one metric per row.
async fn report_csv(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let report = match load_report(&request, &state).await {
        Ok(report) => report,
        Err(refusal) => return refusal.respond(&request),
    };
    match report_records(&report) {
        Ok(records) => {
            let mut body = csv_chunk(&[REPORT_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()]);
            body.extend(csv_chunk(&records));
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
                .insert_header((CACHE_CONTROL, NO_STORE))
                .insert_header((CONTENT_DISPOSITION, format!("attachment; filename=\"report-{}.csv\"", report.id)))
                .body(body)
        }
        Err(err) => Refusal::from(err).respond(&request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(err: AppError) -> u16 {
        let request = actix_web::test::TestRequest::default().to_http_request();
        Refusal::from(err).respond(&request).status().as_u16()
    }

    #[test]
    fn a_failed_export_answers_the_status_of_its_graphql_code() {
        assert_eq!(status_of(AppError::Conflict("a concurrent change got there first; retry".into())), 409);
        assert_eq!(status_of(AppError::Timeout("too slow".into())), 504);
        assert_eq!(status_of(AppError::PoolExhausted(Duration::from_secs(5))), 503);
        assert_eq!(status_of(AppError::Unavailable("down".into())), 503);
        assert_eq!(status_of(AppError::NotFound("no such report".into())), 404);
        assert_eq!(status_of(AppError::bad_input("period", "too long")), 400);
        assert_eq!(status_of(AppError::internal("boom")), 500);
    }
}
