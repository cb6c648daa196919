//! GraphQL subscriptions over WebSocket: `GET /graphql` upgraded with the `graphql-transport-ws`
//! protocol. async-graphql runs the protocol (`async_graphql::http::WebSocket`); this loop sits
//! between it and the socket and adds what a long-lived connection needs here:
//!
//! - `connection_init` carries the bearer token (`{"Authorization": "Bearer …"}`), checked like
//!   an HTTP request's (signature and claims, then revocation and the technician's standing).
//!   The connection closes (4401) when the token expires; a later `connection_init` with a fresh
//!   token of the same subject moves the expiry on.
//! - Each `subscribe` is held to the HTTP request's query bounds; only subscriptions run here
//!   (queries and mutations go to `POST /graphql`); a connection runs at most
//!   `DESKPULSE_WS_MAX_SUBSCRIPTIONS` at once, and the instance holds at most
//!   `DESKPULSE_WS_MAX_CONNECTIONS` connections.
//! - Keep-alive: a WebSocket ping every `DESKPULSE_WS_KEEPALIVE`; no pong for two intervals
//!   closes the connection. A client that leaves a message unread for `DESKPULSE_WS_SEND_TIMEOUT`
//!   is dropped; one whose subscription falls more than `DESKPULSE_WS_SUBSCRIBER_BUFFER` changes
//!   behind is closed with 4008. Neither can make the server's memory grow.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, Session};
use async_graphql::Data;
use async_graphql::futures_util::StreamExt;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::access::{Refused, caller_of};
use super::{AppState, RequestId, refuse};
use crate::auth::{Caller, TokenError};
use crate::graphql::bounds::{self, OperationShape};
use crate::graphql::{LiveExecutor, connection_data};
use crate::live::{CloseReason, ConnectionControl};

/// The one protocol served.
const PROTOCOL: &str = "graphql-transport-ws";

/// GET /graphql: upgrades to a `graphql-transport-ws` WebSocket.
pub async fn connect(request: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let request_id = RequestId::of(&request);
    let offered = request
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|protocols| protocols.split(',').any(|protocol| protocol.trim() == PROTOCOL));
    if !offered {
        let message = "GET /graphql is the WebSocket endpoint (protocol graphql-transport-ws); send queries with POST";
        return refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message, &request_id);
    }
    if !state.startup.is_migrated() {
        let message = "the server is starting and the database is not ready yet";
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message, &request_id);
    }
    let Ok(slot) = state.live.connections.clone().try_acquire_owned() else {
        tracing::warn!("WebSocket refused: the connection cap is reached");
        let message = "this server holds as many live connections as it may; retry later";
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message, &request_id);
    };
    let (mut response, session, messages) = match actix_ws::handle(&request, body) {
        Ok(upgrade) => upgrade,
        Err(err) => return err.error_response(),
    };
    response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    let max_message = usize::try_from(state.max_body_bytes).unwrap_or(usize::MAX);
    let messages = messages.max_frame_size(max_message).aggregate_continuations().max_continuation_size(max_message);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let reason = serve(session, messages, &state, request_id).await;
        tracing::info!(code = reason.code, reason = %reason.reason, "WebSocket closed");
        drop(slot);
    });
    response
}

/// One frame from the client, as far as this loop reads it.
#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

/// One frame to the client, as far as this loop reads it.
#[derive(Deserialize)]
struct ServerFrame {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// The authenticated side of a connection.
struct Authenticated {
    caller: Caller,
    expires: Instant,
}

fn close(code: u16, reason: impl Into<String>) -> CloseReason {
    CloseReason { code, reason: reason.into() }
}

/// Runs one connection until it closes; answers why.
async fn serve(
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
    state: &AppState,
    request_id: String,
) -> CloseReason {
    let settings = &state.live.settings;
    let (control, mut closing) = ConnectionControl::new();
    // What `connection_init` authenticated, handed to async-graphql's init callback.
    let prepared: Arc<Mutex<Option<Data>>> = Arc::default();
    let handed = prepared.clone();
    let (to_protocol, from_client) = tokio::sync::mpsc::channel::<String>(16);
    let executor = LiveExecutor { schema: state.schema.clone(), db: state.db.clone(), request_id: request_id.clone() };
    let mut protocol = WebSocket::new(executor, tokio_stream_of(from_client), WebSocketProtocols::GraphQLWS)
        .on_connection_init(move |_| async move {
            handed.lock().ok().and_then(|mut data| data.take()).ok_or_else(|| async_graphql::Error::new("Forbidden"))
        });

    let mut authenticated: Option<Authenticated> = None;
    let mut active: HashSet<String> = HashSet::new();
    let init_deadline = Instant::now() + settings.init_timeout;
    let mut keepalive = tokio::time::interval_at(Instant::now() + settings.keepalive, settings.keepalive);
    let mut unanswered_pings = 0u32;

    let reason = loop {
        let expires = authenticated.as_ref().map_or(init_deadline, |auth| auth.expires);
        tokio::select! {
            incoming = messages.next() => {
                let text = match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => text,
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if send(&mut session, settings.send_timeout, Outgoing::Pong(&bytes)).await.is_err() {
                            break close(1011, "the client does not read");
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {
                        unanswered_pings = 0;
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => break close(4400, "send text frames"),
                    Some(Ok(AggregatedMessage::Close(_))) | None => return close(1000, "closed by the client"),
                    Some(Err(err)) => break close(4400, format!("not a WebSocket message: {err}")),
                };
                unanswered_pings = 0;
                match client_frame(&text, state, &mut authenticated, &mut active, &prepared, &control).await {
                    Step::Forward => {
                        if to_protocol.send(text.to_string()).await.is_err() {
                            break close(1011, "the protocol handler stopped");
                        }
                    }
                    Step::Reply(frame) => {
                        if send(&mut session, settings.send_timeout, Outgoing::Text(frame)).await.is_err() {
                            break close(1011, "the client does not read");
                        }
                    }
                    Step::Close(reason) => break reason,
                }
            }
            outgoing = protocol.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if let Ok(frame) = serde_json::from_str::<ServerFrame>(&text)
                        && (frame.kind == "complete" || frame.kind == "error")
                        && let Some(id) = frame.id
                    {
                        active.remove(&id);
                    }
                    if send(&mut session, settings.send_timeout, Outgoing::Text(text)).await.is_err() {
                        tracing::info!("WebSocket dropped: the client left a message unread for the send timeout");
                        return close(1011, "the client does not read");
                    }
                }
                Some(WsMessage::Close(code, reason)) => break close(code, reason),
                None => break close(1000, "done"),
            },
            Some(reason) = closing.recv() => break reason,
            _ = keepalive.tick() => {
                if unanswered_pings >= 2 {
                    break close(1011, "no answer to keep-alive pings");
                }
                unanswered_pings += 1;
                if send(&mut session, settings.send_timeout, Outgoing::Ping).await.is_err() {
                    return close(1011, "the client does not read");
                }
            }
            _ = sleep_until(expires) => {
                break match authenticated {
                    Some(_) => close(4401, "Unauthorized: the token expired; connect again with a fresh one"),
                    None => close(4408, "Connection initialisation timeout"),
                };
            }
        }
    };
    let closing = session.close(Some(actix_ws::CloseReason {
        code: CloseCode::from(reason.code),
        description: Some(reason.reason.clone()),
    }));
    let _ = tokio::time::timeout(settings.send_timeout, closing).await;
    reason
}

/// What the loop does with one client frame.
enum Step {
    /// Pass it to async-graphql.
    Forward,
    /// Answer it here.
    Reply(String),
    Close(CloseReason),
}

async fn client_frame(
    text: &str,
    state: &AppState,
    authenticated: &mut Option<Authenticated>,
    active: &mut HashSet<String>,
    prepared: &Mutex<Option<Data>>,
    control: &ConnectionControl,
) -> Step {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return Step::Close(close(4400, "Invalid message received"));
    };
    match frame.kind.as_str() {
        "connection_init" => {
            let (caller, expires) = match authenticate(frame.payload.as_ref(), state).await {
                Ok(authenticated) => authenticated,
                Err(reason) => return Step::Close(reason),
            };
            match authenticated {
                None => {
                    let data = connection_data(caller.clone(), state.live.feed.clone(), control.clone());
                    if let Ok(mut slot) = prepared.lock() {
                        *slot = Some(data);
                    }
                    *authenticated = Some(Authenticated { caller, expires });
                    Step::Forward
                }
                // A fresh token for the same identity: the connection lives on until it expires.
                Some(current) if current.caller == caller => {
                    current.expires = current.expires.max(expires);
                    Step::Reply(json!({ "type": "connection_ack" }).to_string())
                }
                Some(_) => Step::Close(close(4403, "Forbidden: a new token must be for the same caller")),
            }
        }
        "subscribe" => {
            if authenticated.is_none() {
                return Step::Close(close(4401, "Unauthorized"));
            }
            let Some(id) = frame.id else { return Step::Close(close(4400, "Invalid message received")) };
            if active.contains(&id) {
                return Step::Close(close(4409, format!("Subscriber for {id} already exists")));
            }
            if let Err(message) = check_operation(frame.payload, state) {
                return Step::Reply(error_frame(&id, "BAD_USER_INPUT", &message));
            }
            if active.len() >= state.live.settings.max_subscriptions as usize {
                let message = format!(
                    "a connection runs at most {} subscriptions at once; complete one first",
                    state.live.settings.max_subscriptions
                );
                return Step::Reply(error_frame(&id, "BAD_USER_INPUT", &message));
            }
            active.insert(id);
            Step::Forward
        }
        "complete" => {
            if let Some(id) = &frame.id {
                active.remove(id);
            }
            Step::Forward
        }
        _ => Step::Forward,
    }
}

/// The caller and expiry a `connection_init` payload's token stands for, checked as an HTTP
/// request's bearer token is (src/http/access.rs).
async fn authenticate(payload: Option<&Value>, state: &AppState) -> Result<(Caller, Instant), CloseReason> {
    let token = payload
        .and_then(|payload| {
            ["Authorization", "authorization"].iter().find_map(|key| payload.get(*key).and_then(Value::as_str))
        })
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| close(4403, "Forbidden: connection_init needs {\"Authorization\": \"Bearer <token>\"}"))?;
    let claims = state.keys.verify(token).map_err(|err| refused_token(&err))?;
    let expires_at = claims.exp;
    let caller = match caller_of(claims, state).await {
        Ok(caller) => caller,
        Err(Refused::Token(err)) => return Err(refused_token(&err)),
        Err(Refused::Unchecked(err)) => {
            err.log("websocket");
            return Err(close(1011, "the token could not be checked; retry later"));
        }
    };
    let left = expires_at.saturating_sub(chrono::Utc::now().timestamp()).max(0);
    Ok((caller, Instant::now() + Duration::from_secs(left.unsigned_abs())))
}

fn refused_token(err: &TokenError) -> CloseReason {
    tracing::info!(reason = %err, "WebSocket refused: not authenticated");
    close(4403, "Forbidden: the bearer token is invalid, expired or revoked")
}

/// The HTTP request's bounds, for one `subscribe` payload; only subscriptions run here.
fn check_operation(payload: Option<Value>, state: &AppState) -> Result<(), String> {
    let mut request: async_graphql::Request = payload
        .and_then(|payload| serde_json::from_value(payload).ok())
        .ok_or_else(|| "the payload is not a GraphQL request".to_owned())?;
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().map_err(|err| err.to_string())?;
    let shape: Option<OperationShape> =
        bounds::check(document, operation_name.as_deref(), &state.document_limits).map_err(|exceeded| exceeded.0)?;
    match shape {
        Some(shape) if shape.kind != OperationType::Subscription => {
            Err("only subscriptions run over the WebSocket; send queries and mutations with POST /graphql".into())
        }
        Some(shape) if shape.introspects() => Err("introspection is not served over the WebSocket".into()),
        _ => Ok(()),
    }
}

fn error_frame(id: &str, code: &str, message: &str) -> String {
    json!({ "id": id, "type": "error", "payload": [{ "message": message, "extensions": { "code": code } }] })
        .to_string()
}

enum Outgoing<'a> {
    Text(String),
    Ping,
    Pong(&'a [u8]),
}

/// Sends one frame, waiting at most `timeout` for room: a client that does not read is not
/// waited on for ever, and nothing queues beyond the session's small buffer.
async fn send(session: &mut Session, timeout: Duration, frame: Outgoing<'_>) -> Result<(), ()> {
    let sent = match frame {
        Outgoing::Text(text) => tokio::time::timeout(timeout, session.text(text)).await,
        Outgoing::Ping => tokio::time::timeout(timeout, session.ping(b"")).await,
        Outgoing::Pong(bytes) => tokio::time::timeout(timeout, session.pong(bytes)).await,
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// A receiver as the stream async-graphql reads client frames from.
fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<String>,
) -> impl async_graphql::futures_util::Stream<Item = String> + Unpin {
    Box::pin(async_graphql::futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx)))
}
